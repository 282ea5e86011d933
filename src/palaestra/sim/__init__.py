"""Large populations with an LLM deciding: the donor game with strategy inheritance, opinion spread
on a social graph, and recommender-system users (``palaestra sim NAME``).

Agents' state is held as numpy arrays and agents are grouped into archetypes: in ``archetype`` mode
one model call decides for every agent of an archetype in the same situation in a round (AgentTorch's
per-situation cache), so a million agents take tens of calls a round; in ``individual`` mode every
agent gets its own call with its exact state (small populations), which measures what archetypes lose.
Needs the ``sim`` extra (numpy); ``--ray`` the ``ray`` extra. See docs/simulation.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.records import RunStore
from palaestra.sim.base import Decision, Simulation
from palaestra.sim.decide import MODES, Mode
from palaestra.sim.engine import SimResult, simulate
from palaestra.sim.record import KIND, record
from palaestra.sim.shards import Executor, LocalExecutor, RayExecutor

SIMS: dict[str, str] = {
    "donor": "palaestra.sim.donor:DonorGame",
    "opinion": "palaestra.sim.opinion:OpinionSpread",
    "recommender": "palaestra.sim.recommender:RecommenderUsers",
}
"""Every built-in simulation, by name (imported on first use)."""

MAX_INDIVIDUAL = 100_000
"""Individual mode asks the model once per agent and round: larger populations are refused."""


def sim_class(name: str) -> type[Simulation]:
    from palaestra.registry import load_reference

    if name not in SIMS:
        raise UsageError(f"no simulation {name!r}; there are: {', '.join(SIMS)}")
    cls: type[Simulation] = load_reference(SIMS[name])
    return cls


def make_sim(name: str, params: Mapping[str, str] | None = None) -> Simulation:
    """The simulation ``name`` with ``--param`` values (text, cast to each parameter's type)."""
    return sim_class(name).with_params(params or {})


@dataclass(slots=True)
class SimRun:
    """What one ``palaestra sim`` does: which simulation, how big, which modes, where the shards run."""

    sim: str
    agents: int
    rounds: int
    modes: Sequence[Mode] = ("archetype",)
    seed: int = 0
    params: dict[str, str] = field(default_factory=dict)
    shards: int = 1
    ray: bool = False
    concurrency: int = 64

    def check(self) -> None:
        if self.agents < 1 or self.rounds < 1:
            raise UsageError(
                f"a simulation needs at least 1 agent and 1 round, got {self.agents} and {self.rounds}"
            )
        if self.shards < 1:
            raise UsageError(f"--shards must be at least 1, got {self.shards}")
        for mode in self.modes:
            if mode not in MODES:
                raise UsageError(f"--mode must be archetype, individual or compare, got {mode!r}")
        if "individual" in self.modes and self.agents > MAX_INDIVIDUAL:
            raise UsageError(
                f"individual mode asks the model once per agent and round: {self.agents:,} agents is over "
                f"its limit of {MAX_INDIVIDUAL:,}; use --mode archetype"
            )

    def config(self, model: str) -> dict[str, Any]:
        """The run's stored configuration (``kind: sim``)."""
        return {
            "sim": self.sim,
            "envs": [f"sim:{self.sim}"],
            "agent": "+".join(self.modes),
            "model": model,
            "agents": self.agents,
            "rounds": self.rounds,
            "modes": list(self.modes),
            "seed": self.seed,
            "params": dict(self.params),
            "shards": self.shards,
            "executor": "ray" if self.ray else "local",
        }

    def executor(self) -> Executor:
        return RayExecutor(self.shards) if self.ray else LocalExecutor(self.shards)


async def run_sim(
    spec: SimRun,
    model: Model,
    store: RunStore | None = None,
    *,
    run_id: str | None = None,
    generate: GenerateConfig | None = None,
) -> tuple[str | None, Simulation, list[SimResult]]:
    """Run every mode of ``spec`` (same seed, same population) and record them in ``store`` as one run."""
    spec.check()
    sim = make_sim(spec.sim, spec.params)
    executor = spec.executor()
    try:
        results = [
            await simulate(
                sim,
                model,
                agents=spec.agents,
                rounds=spec.rounds,
                mode=mode,
                seed=spec.seed,
                config=generate,
                executor=executor,
                concurrency=spec.concurrency,
            )
            for mode in spec.modes
        ]
    finally:
        executor.close()
    if store is None:
        return None, sim, results
    from palaestra.runner.run import new_run_id

    run_id = run_id or new_run_id()
    record(store, run_id, spec.config(model.name), sim, results, model.name)
    return run_id, sim, results


__all__ = [
    "KIND",
    "MODES",
    "SIMS",
    "Decision",
    "LocalExecutor",
    "RayExecutor",
    "SimResult",
    "SimRun",
    "Simulation",
    "make_sim",
    "run_sim",
    "simulate",
]
