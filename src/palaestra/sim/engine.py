"""The round loop: prepare, situations, decisions, acts, apply; metrics and costs per round."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from palaestra.models.base import GenerateConfig, Model
from palaestra.records import CallRecord
from palaestra.sim.base import Simulation, State
from palaestra.sim.decide import Decider, Mode
from palaestra.sim.shards import Executor, LocalExecutor


@dataclass(slots=True)
class RoundResult:
    round: int
    metrics: dict[str, float]
    """The simulation's metrics, then the decision's choice shares (``choice_<name>``)."""
    info: dict[str, int]
    """Model calls, cache hits, invalid replies, failed calls, idle agents."""
    seconds: float
    decide_seconds: float
    samples: list[str] = field(default_factory=list)
    """Some of the round's decisions: whose, the choice, the reply."""


@dataclass(slots=True)
class SimResult:
    sim: str
    mode: Mode
    agents: int
    seed: int
    rounds: list[RoundResult] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    state_bytes: int = 0
    """The population's arrays at the end (bytes): what the state itself takes per agent."""
    wall: float = 0.0

    @property
    def agent_rounds_per_s(self) -> float:
        return self.agents * len(self.rounds) / self.wall if self.wall > 0 else 0.0

    @property
    def calls_per_round(self) -> float:
        return sum(r.info["model_calls"] for r in self.rounds) / max(len(self.rounds), 1)

    def series(self, metric: str) -> list[float]:
        return [r.metrics[metric] for r in self.rounds]

    def totals(self) -> dict[str, Any]:
        keys = ("model_calls", "cache_hits", "invalid", "model_errors")
        return {
            "agents": self.agents,
            "rounds": len(self.rounds),
            "wall": round(self.wall, 3),
            "agent_rounds_per_s": round(self.agent_rounds_per_s, 1),
            "model_calls_per_round": round(self.calls_per_round, 2),
            "state_bytes_per_agent": round(self.state_bytes / max(self.agents, 1), 1),
            **{k: sum(r.info[k] for r in self.rounds) for k in keys},
        }


def state_bytes(state: State) -> int:
    return sum(int(a.nbytes) for a in state.values())


async def simulate(
    sim: Simulation,
    model: Model,
    *,
    agents: int,
    rounds: int,
    mode: Mode = "archetype",
    seed: int = 0,
    config: GenerateConfig | None = None,
    executor: Executor | None = None,
    concurrency: int = 64,
) -> SimResult:
    """Run ``sim`` for ``rounds`` rounds over ``agents`` agents, the model deciding.

    Everything random comes from one generator seeded with ``seed`` and is drawn by the driver in the
    same order whatever the mode or the executor, so a model that decides the same for the same
    situation gives the same run in both modes.
    """
    rng = np.random.default_rng(seed)
    executor = executor or LocalExecutor()
    decider = Decider(model, sim, mode, config or GenerateConfig(temperature=0.0, max_tokens=16), concurrency)
    result = SimResult(sim.name, mode, agents, seed)
    start = time.perf_counter()
    state = sim.init(agents, rng)
    for r in range(rounds):
        t0 = time.perf_counter()
        sim.prepare(state, rng, r)
        situations = executor.situations(sim, state)
        t1 = time.perf_counter()
        choices, calls = await decider.decide(state, situations)
        t2 = time.perf_counter()
        parts = executor.acts(sim, state, choices)
        metrics = sim.apply(state, parts, choices, rng, r)
        metrics.update(choice_shares(sim, choices, situations))
        seconds = time.perf_counter() - t0
        result.rounds.append(RoundResult(r, metrics, calls.as_info(), seconds, t2 - t1, calls.samples))
        result.calls.extend(calls.records)
    result.wall = time.perf_counter() - start
    result.state_bytes = state_bytes(state)
    return result


def choice_shares(
    sim: Simulation, choices: np.ndarray[Any, Any], situations: np.ndarray[Any, Any]
) -> dict[str, float]:
    """The share of deciding agents that took each choice."""
    decided = choices[situations >= 0]
    counts = np.bincount(decided, minlength=len(sim.decision.choices)) / max(decided.size, 1)
    return {f"choice_{c}": float(v) for c, v in zip(sim.decision.choices, counts, strict=True)}
