"""``memory``: step-level demonstrations retrieved from past successful episodes (TRAD, SCM).

Before each action the agent looks up, in the run's memory bank, the steps of earlier successful
episodes of the same env whose observation reads most like the current one (BM25 over words,
:class:`BM25`), and adds the best ``k`` to what the inner agent reads: "when you saw this, you did
that". After an episode that ended in success it writes its own steps (observation, action) to the
bank, so the next episodes of the run can use them.

Scoping: every entry carries the env, split and task it came from, and the bank hands back
train-split entries only (:class:`~palaestra.records.MemoryBank`). So an agent on test tasks reads
what was learnt on train tasks, and what it writes on test tasks is never read by anyone. Fill the
memory with a train run, then evaluate on test, in one store::

    palaestra run maze --agent memory --model M --split train -n 50
    palaestra run maze --agent memory --model M -n 50

Each step's trace holds the query and the memories retrieved (task, score, observation, action),
and under ``earlier`` those of the decisions before it in the same step, if a wrapper outside asked
more than once (the tool filter sending a refused call back).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from palaestra.agents.base import memory_bank
from palaestra.agents.strategy import Wrapper, build_inner, clip, observation_text, render_action, with_note
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.records import MemoryBank, MemoryEntry
from palaestra.types import Message, Observation, Task

KIND = "step"
KEY_CHARS = 1000
"""Characters of an observation kept as a memory's key (what it is found by)."""
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """Okapi BM25 over a fixed list of texts; ties go to the earlier text (the newer memory)."""

    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.docs = [Counter(words(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = (sum(self.lengths) / len(self.docs)) if self.docs else 0.0
        df = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.k1, self.b = k1, b

    def score(self, query: list[str], i: int) -> float:
        doc, length = self.docs[i], self.lengths[i]
        total = 0.0
        for w in set(query):
            tf = doc.get(w, 0)
            if tf:
                norm = tf + self.k1 * (1 - self.b + self.b * length / (self.avg or 1))
                total += self.idf[w] * tf * (self.k1 + 1) / norm
        return total

    def top(self, text: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best ``(index, score)`` for ``text``, best first; only scores above zero."""
        query = words(text)
        scored = [(i, self.score(query, i)) for i in range(len(self.docs))]
        ranked = sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))
        return ranked[:k]


class RetrievalMemory(Wrapper):
    def __init__(
        self, inner: Agent, env: Env, bank: MemoryBank | None, *, k: int, pool: int, write: bool
    ) -> None:
        super().__init__(inner)
        self.env, self.bank = env, bank
        self.k, self.pool, self.write = k, pool, write
        self.entries: list[MemoryEntry] = []
        self.index = BM25([])
        self.steps: list[tuple[str, Message]] = []

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.steps = []
        self.entries = self.bank.recall(self.env.spec.name, KIND, limit=self.pool) if self.bank else []
        self.index = BM25([e.key for e in self.entries])

    async def act(self, observation: Observation) -> Message:
        query = observation_text(observation)
        hits = self.index.top(query, self.k)
        earlier = _retrievals(self.trace)
        self.trace = {
            **({"earlier": earlier} if earlier else {}),
            "query": clip(query, 200),
            "retrieved": [
                {
                    "task": self.entries[i].task_id,
                    "split": self.entries[i].split,
                    "score": round(score, 3),
                    "observation": clip(self.entries[i].key, 200),
                    "action": clip(self.entries[i].value, 200),
                }
                for i, score in hits
            ],
        }
        note = _note([self.entries[i] for i, _ in hits])
        message = await self.act_inner(with_note(observation, note))
        self.steps.append((query, message))
        return message

    async def aclose(self) -> None:
        try:
            self._remember()
        finally:
            await super().aclose()

    def _remember(self) -> None:
        """After a successful episode: its steps, for later episodes to retrieve."""
        task = self.task
        if not (self.write and self.bank and task and self.steps and getattr(self.env, "success", False)):
            return
        self.bank.remember(
            [
                MemoryEntry(
                    env=self.env.spec.name,
                    split=task.split,
                    task_id=task.id,
                    kind=KIND,
                    key=query[:KEY_CHARS],
                    value=render_action(message),
                    meta={"step": i},
                )
                for i, (query, message) in enumerate(self.steps)
            ]
        )


def _retrievals(trace: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The retrievals of a trace not yet handed over: a wrapper outside (the tool filter sending a
    refused call back) may make this agent decide more than once in one step."""
    if trace is None:
        return []
    return [*trace.get("earlier", []), {"query": trace["query"], "retrieved": trace["retrieved"]}]


def _note(entries: list[MemoryEntry]) -> str:
    if not entries:
        return ""
    shown = "\n".join(
        f"- When the situation was:\n  {clip(e.key, 300)}\n  the action that worked was: {clip(e.value, 200)}"
        for e in entries
    )
    return f"Steps from earlier successful episodes in similar situations:\n{shown}"


def memory_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    k: int = 2,
    pool: int = 2000,
    write: bool = True,
    **options: Any,
) -> Agent:
    """``k``: memories shown per step; ``pool``: the newest memories of the env searched;
    ``write``: keep this agent's successful episodes as memories."""
    if not isinstance(k, int) or k < 1 or not isinstance(pool, int) or pool < 1:
        raise UsageError(f"memory: k and pool must be at least 1, got k={k!r}, pool={pool!r}")
    agent = build_inner(inner, env=env, model=model, seed=seed, config=config, options=options)
    return RetrievalMemory(agent, env, memory_bank(), k=k, pool=pool, write=write)
