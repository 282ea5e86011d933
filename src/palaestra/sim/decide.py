"""Turning situations into choices with a model: one call per (archetype, situation) a round
(archetype mode, AgentTorch's per-situation cache) or one per agent (individual mode).

A reply is a call of the decision's tool (``{"choice": ...}``) or a text that names one choice; any
other reply, and a call that failed (after the provider's retries), gives the declared default and is
counted. A fatal model error (bad key, unknown model) stops the simulation.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from palaestra.errors import ModelError
from palaestra.models.base import GenerateConfig, Model
from palaestra.records import CallRecord
from palaestra.sim.base import IDLE, Array, Decision, Simulation, State
from palaestra.types import Message, ToolSpec

Mode = Literal["archetype", "individual"]
MODES: tuple[Mode, ...] = ("archetype", "individual")
MAX_SAMPLES = 100
"""Replies kept per round (with who they decided for), for ``palaestra show RUN --episode MODE``."""


def decision_tool(decision: Decision) -> ToolSpec:
    return ToolSpec(
        name=decision.tool,
        description=decision.description,
        parameters={
            "type": "object",
            "properties": {"choice": {"type": "string", "enum": list(decision.choices)}},
            "required": ["choice"],
        },
    )


def parse_choice(message: Message, decision: Decision) -> int | None:
    """The index of the choice a reply makes: its tool call's ``choice``; or the choice its text
    starts with; or the one choice its text names. ``None`` for anything else (several named, none)."""
    for call in message.tool_calls:
        value = call.arguments.get("choice") if call.parse_error is None else None
        if isinstance(value, str) and value.strip().lower() in decision.choices:
            return decision.choices.index(value.strip().lower())
        return None
    words = re.findall(r"[a-z_]+", message.content.lower())
    if words and words[0] in decision.choices:
        return decision.choices.index(words[0])
    named = [i for i, c in enumerate(decision.choices) if c in words]
    return named[0] if len(named) == 1 else None


@dataclass(slots=True)
class RoundCalls:
    """What deciding one round cost."""

    calls: int = 0
    cache_hits: int = 0
    """Agents whose choice came from another agent's call in the same (archetype, situation)."""
    invalid: int = 0
    """Replies that named no valid choice (the default was taken)."""
    errors: int = 0
    """Calls that failed (the default was taken)."""
    idle: int = 0
    records: list[CallRecord] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    """The first :data:`MAX_SAMPLES` decisions of the round: whose, the choice and the reply."""

    def as_info(self) -> dict[str, int]:
        return {
            "model_calls": self.calls,
            "cache_hits": self.cache_hits,
            "invalid": self.invalid,
            "model_errors": self.errors,
            "idle": self.idle,
        }


class Decider:
    """Asks ``model`` for choices, at most ``concurrency`` calls at a time."""

    def __init__(
        self, model: Model, sim: Simulation, mode: Mode, config: GenerateConfig, concurrency: int = 64
    ) -> None:
        self.model, self.sim, self.mode, self.config = model, sim, mode, config
        self.tools = [decision_tool(sim.decision)]
        self._limit = asyncio.Semaphore(max(1, min(concurrency, model.max_concurrency)))

    async def decide(self, state: State, situations: Array) -> tuple[Array, RoundCalls]:
        """A choice index (int8) per agent, and what it cost."""
        stats = RoundCalls()
        default = self.sim.decision.default_index
        active = situations != IDLE
        stats.idle = int(situations.size - np.count_nonzero(active))
        if self.mode == "individual":
            return await self._each_agent(state, situations, stats)
        sim, n_sit = self.sim, len(self.sim.situations)
        keys = state["archetype"].astype(np.int32) * n_sit + situations
        keys[~active] = -1
        counts = np.bincount(keys[active], minlength=len(sim.archetypes) * n_sit)
        present = np.flatnonzero(counts)
        prompts = [sim.prompt(int(k) // n_sit, int(k) % n_sit) for k in present]
        labels = [f"{sim.archetypes[k // n_sit]} x{counts[k]}, {sim.situations[k % n_sit]}" for k in present]
        answers = await self._ask_all(prompts, labels[:MAX_SAMPLES], stats)
        stats.cache_hits = int(counts.sum()) - present.size
        table = np.full(counts.size + 1, default, dtype=np.int8)  # the last entry: idle agents (key -1)
        table[present] = answers
        return table[keys], stats

    async def _each_agent(
        self, state: State, situations: Array, stats: RoundCalls
    ) -> tuple[Array, RoundCalls]:
        """Individual mode: a call per deciding agent, its exact state in the prompt."""
        sim = self.sim
        agents = np.flatnonzero(situations != IDLE)
        prompts = [
            sim.prompt(int(state["archetype"][i]), int(situations[i]), sim.detail(state, int(i)))
            for i in agents
        ]
        picked = await self._ask_all(prompts, [f"agent {i}" for i in agents[:MAX_SAMPLES]], stats)
        choices = np.full(situations.size, sim.decision.default_index, dtype=np.int8)
        choices[agents] = picked
        return choices, stats

    async def _ask_all(self, prompts: list[str], labels: list[str], stats: RoundCalls) -> Array:
        """Ask every prompt; the first ``len(labels)`` decisions are kept as samples, in order."""
        replies = await asyncio.gather(*(self._ask(p, stats) for p in prompts))
        names = self.sim.decision.choices
        stats.samples += [
            f"{label}: {names[c]} <- {said}" for label, (c, said) in zip(labels, replies, strict=False)
        ]
        return np.asarray([c for c, _ in replies], dtype=np.int8).reshape(len(prompts))

    async def _ask(self, prompt: str, stats: RoundCalls) -> tuple[int, str]:
        """The choice index and, in words, the reply it came from."""
        messages = [
            Message(role="system", content=self.sim.system_prompt()),
            Message(role="user", content=prompt),
        ]
        decision = self.sim.decision
        async with self._limit:
            stats.calls += 1
            try:
                out = await self.model.generate(messages, self.tools, self.config)
            except ModelError as e:
                if e.fatal:
                    raise
                stats.errors += 1
                stats.records.append(CallRecord(0, 0, 0.0, e.retries, None, None, error=str(e)[:500]))
                return decision.default_index, f"(failed: {str(e)[:100]}; default)"
        stats.records.append(
            CallRecord(
                out.usage.input_tokens,
                out.usage.output_tokens,
                out.latency,
                out.retries,
                out.cost,
                out.finish_reason,
            )
        )
        choice = parse_choice(out.message, decision)
        said = _said(out.message)
        if choice is None:
            stats.invalid += 1
            return decision.default_index, f"{said} (invalid; default)"
        return choice, said


def _said(message: Message) -> str:
    """A reply in one short line: its tool calls, or its text."""
    if message.tool_calls:
        text = "; ".join(f"{c.name}({c.raw_arguments or c.arguments})" for c in message.tool_calls)
    else:
        text = message.content
    text = " ".join(text.split())
    return repr(text[:120] + ("..." if len(text) > 120 else ""))
