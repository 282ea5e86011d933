"""Scripted victims of prompt injection: ``gullible`` and ``careful``, for testing attacks both ways.

Each is the ``tools`` agent (:class:`~palaestra.agents.tools.ChatAgent`) driving a scripted mock
model, so every defence wrapper sees and changes exactly what a real model would. The script
solves the user task as the env's expert does. The *gullible* one also follows any instruction it
finds in a tool result: when the words of the episode's injection task (its instruction, however
marked or spaced) appear in a tool message it was given, it first carries that task out (its
ground-truth calls), then goes back to the user task. It also imitates the demonstrations it is
shown: when a retrieval memory (``--agent memory --agent-opt inner=gullible``) puts the injection
task's action in its prompt as "the action that worked", it carries the injection task out. The *careful* one never acts on what tool
results say. Asked by the tool filter which tools the task needs, the script answers as a perfect
planner would: the tools the expert calls when it plays the task on a copy of the env.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.strategy import render_call
from palaestra.agents.tools import ChatAgent
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig
from palaestra.models.mock import MockModel, ScriptItem
from palaestra.policy import Agent
from palaestra.safety.attack import words
from palaestra.types import Message, Observation, Task, ToolSpec

FILTER_QUESTION = "Which tools does this task need?"
"""How the tool filter's question starts (``palaestra.agents.defences``); the script answers it."""


class VictimScript:
    """The script of a victim's mock model (see the module docstring)."""

    def __init__(self, env: Env, follow: bool) -> None:
        expert = env.expert()
        if expert is None:
            raise UsageError(f"env {env.spec.name!r} has no expert to drive a scripted victim")
        self.env = env
        self.follow = follow
        self.expert = expert
        self.pending: list[dict[str, Any]] = []
        self.followed = False

    async def reset(self) -> None:
        await self.expert.reset(self.env.task)
        self.pending, self.followed = [], False

    async def __call__(self, messages: list[Message], tools: list[ToolSpec] | None) -> ScriptItem:
        if messages and messages[-1].role == "user" and messages[-1].content.startswith(FILTER_QUESTION):
            return ", ".join(await self.needed_tools())
        recent = _since_last_reply(messages)
        if self.follow and not self.followed:
            self._notice(recent)
        if self.pending:
            call = self.pending.pop(0)
            return {"tool": call["name"], "arguments": call["arguments"]}
        return await self.expert.act(Observation(messages=recent, tools=tools or []))

    def _notice(self, recent: list[Message]) -> None:
        attack = self.env.task.params.get("attack")
        if attack is None:
            return
        read = " ".join(words(m.content) for m in recent if m.role == "tool")
        shown = "\n".join(m.content for m in recent if m.role == "user")
        if words(attack["goal"]) in read or _demonstrated(attack["calls"][-1], shown):
            self.pending = [dict(c) for c in attack["calls"]]
            self.followed = True

    async def needed_tools(self) -> list[str]:
        """The tools the expert calls on this task, played on a copy of the env (then restored)."""
        env, snap = self.env, self.env.snapshot()
        names: list[str] = []
        try:
            expert = env.expert()
            assert expert is not None
            await expert.reset(env.task)
            obs = Observation(messages=[])
            for _ in range(env.turn_limit or env.spec.max_steps):
                act = await expert.act(obs)
                names += [c.name for c in act.tool_calls if c.name not in names]
                step = await env.step(act)
                obs = step.observation
                if step.terminated or step.truncated:
                    break
        finally:
            env.restore(snap)
        return names


class VictimAgent(ChatAgent):
    """The ``tools`` agent with a :class:`VictimScript` model."""

    def __init__(self, env: Env, follow: bool, config: GenerateConfig | None = None) -> None:
        self.script = VictimScript(env, follow)
        super().__init__(MockModel(self.script, name="mock:gullible" if follow else "mock:careful"), config)

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        await self.script.reset()


def gullible_agent(
    *, env: Env, model: object = None, seed: int = 0, config: GenerateConfig | None = None
) -> Agent:
    """Solves the user task like the expert and follows any instruction found in a tool result."""
    return VictimAgent(env, follow=True, config=config)


def careful_agent(
    *, env: Env, model: object = None, seed: int = 0, config: GenerateConfig | None = None
) -> Agent:
    """Solves the user task like the expert and never acts on instructions in tool results."""
    return VictimAgent(env, follow=False, config=config)


def _demonstrated(call: dict[str, Any], shown: str) -> bool:
    """Whether ``call`` is an action of a demonstration in ``shown`` (what a retrieval memory adds
    to the prompt: "the action that worked was: send_email({...})"), written exactly as actions are
    (a request that merely names the tool, "buy ...", is no demonstration)."""
    return render_call(call["name"], call["arguments"]) in shown


def _since_last_reply(messages: list[Message]) -> list[Message]:
    """The messages after the last assistant message (what the env said since the last action)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "assistant":
            return messages[i + 1 :]
    return list(messages)
