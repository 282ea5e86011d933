"""``tools``: native function calling. The model sees the env's tools as OpenAI tools."""

from __future__ import annotations

from typing import Any

from palaestra.agents.context import check_budget, fit_history
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Task


class ChatAgent:
    """Keeps the whole conversation and asks the model for the next message.

    ``max_history`` (messages) keeps the system prompt and the goal and drops the oldest turns
    beyond it, never separating a tool result from the call it answers; ``max_context_tokens`` does
    the same to fit a token budget (see :mod:`palaestra.agents.context`).
    """

    def __init__(
        self,
        model: Model,
        config: GenerateConfig | None = None,
        max_history: int | None = None,
        max_context_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.config = config or GenerateConfig()
        self.max_history = max_history
        self.max_context_tokens = check_budget(max_context_tokens)
        self.history: list[Message] = []

    async def reset(self, task: Task) -> None:
        self.history = []

    def context(self) -> list[Message]:
        h = self.history
        if self.max_history is not None and len(h) > self.max_history:
            head, tail = h[:2], h[-(self.max_history - 2) :]
            while tail and tail[0].role == "tool":
                tail = tail[1:]
            h = head + tail
        return fit_history(h, self.max_context_tokens)

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
