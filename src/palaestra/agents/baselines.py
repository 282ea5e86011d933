"""Baseline agents that need no model: ``expert`` (the env's oracle) and ``random``."""

from __future__ import annotations

import random
import re
from typing import Any

from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Task, ToolCall, ToolSpec

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*|\d+")


def expert_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: object = None,
    max_context_tokens: int | None = None,
) -> Agent:
    """The env's oracle. Model settings (``config``, ``max_context_tokens``) do not concern it."""
    policy = env.expert()
    if policy is None:
        raise UsageError(f"environment {env.spec.name!r} has no expert")
    return policy


class RandomAgent:
    """Uniformly random legal-looking actions.

    Where the environment lists its valid actions it picks one of them; otherwise it picks a tool
    and fills its arguments from the schema (enums, numbers in range, words seen in the episode).
    With ``free_text`` environments it sometimes answers with a word instead.
    """

    def __init__(self, env: Env, seed: int = 0) -> None:
        self.env = env
        self.seed = seed
        self.rng = random.Random(seed)
        self.words: list[str] = []
        self.n = 0

    async def reset(self, task: Task) -> None:
        self.rng = random.Random(f"{self.seed}/{task.id}")
        self.words = []
        self.n = 0

    async def act(self, observation: Observation) -> Message:
        self.n += 1
        for m in observation.messages:
            if m.role != "system":
                self.words.extend(_WORD.findall(m.content))
        del self.words[:-500]
        valid = self.env.valid_actions()
        if valid:
            call = self.rng.choice(valid).model_copy(update={"id": f"call_{self.n}"})
            return Message(role="assistant", tool_calls=[call])
        tools = observation.tools or self.env.tool_specs()
        if not tools or (self.env.spec.free_text and self.rng.random() < 0.5):
            return Message(role="assistant", content=self._word())
        spec = self.rng.choice(tools)
        args = {k: self._value(v) for k, v in _props(spec).items()}
        return Message(
            role="assistant", tool_calls=[ToolCall(id=f"call_{self.n}", name=spec.name, arguments=args)]
        )

    def reseed(self, seed: int) -> None:
        """Draw other random actions from here on (each branch a search samples gets its own)."""
        self.rng = random.Random(f"{self.seed}/{seed}/{self.rng.random()}")

    def _word(self) -> str:
        return self.rng.choice(self.words) if self.words else "hello"

    def _value(self, schema: dict[str, Any]) -> Any:
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._value(self.rng.choice([s for s in schema[key] if s.get("type") != "null"]))
        kind = schema.get("type")
        if kind == "integer" or kind == "number":
            nums = [int(w) for w in self.words if w.isdigit()]
            lo = int(schema.get("minimum", 0))
            hi = int(schema.get("maximum", max([lo + 10, *nums])))
            return self.rng.choice(nums) if nums and self.rng.random() < 0.5 else self.rng.randint(lo, hi)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "array":
            return [self._value(schema.get("items", {})) for _ in range(self.rng.randint(1, 3))]
        if kind == "object":
            return {}
        return self._word()


def _props(spec: ToolSpec) -> dict[str, Any]:
    props: dict[str, Any] = spec.parameters.get("properties", {})
    required = set(spec.parameters.get("required", []))
    return {k: v for k, v in props.items() if k in required}


def random_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: object = None,
    max_context_tokens: int | None = None,
) -> Agent:
    return RandomAgent(env, seed)
