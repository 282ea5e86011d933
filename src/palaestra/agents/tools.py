"""``tools``: native function calling. The model sees the env's tools as OpenAI tools."""

from __future__ import annotations

from typing import Any

from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Task


class ChatAgent:
    """Keeps the whole conversation and asks the model for the next message.

    ``max_history`` (messages) keeps the system prompt and the goal and drops the oldest turns
    beyond it, never separating a tool result from the call it answers.
    """

    def __init__(
        self, model: Model, config: GenerateConfig | None = None, max_history: int | None = None
    ) -> None:
        self.model = model
        self.config = config or GenerateConfig()
        self.max_history = max_history
        self.history: list[Message] = []

    async def reset(self, task: Task) -> None:
        self.history = []

    def context(self) -> list[Message]:
        h = self.history
        if self.max_history is None or len(h) <= self.max_history:
            return h
        head, tail = h[:2], h[-(self.max_history - 2) :]
        while tail and tail[0].role == "tool":
            tail = tail[1:]
        return head + tail

    async def act(self, observation: Observation) -> Message:
        self.history.extend(observation.messages)
        out = await self.model.generate(self.context(), observation.tools or None, self.config)
        msg = out.message
        self.history.append(msg)
        return msg


def tools_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    **options: Any,
) -> Agent:
    if model is None:
        raise UsageError("agent 'tools' needs a model: pass --model PROVIDER:NAME")
    return ChatAgent(model, config, **options)
