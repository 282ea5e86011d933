"""A simulation in the store: one run (``config.kind == "sim"``), one episode per mode, one step per
round whose ``info`` holds the round's metrics and costs; the model calls as the episode's calls.

So ``palaestra runs``, ``show``, ``rm`` and ``report`` read it with the store as it is (no new table).
The run's summary has the throughput and, when both modes ran, how far archetypes drift from
individual agents per round (:func:`divergence`).
"""

from __future__ import annotations

from typing import Any

from palaestra.records import EpisodeRecord, RunStore, StepRecord
from palaestra.sim.base import Simulation
from palaestra.sim.engine import RoundResult, SimResult
from palaestra.types import Message, Task, Usage

KIND = "sim"


def episode_record(sim: Simulation, result: SimResult, model: str) -> EpisodeRecord:
    """One mode's run of the simulation as an episode: a step per round (info: metrics and costs;
    reward: the headline metric), the model calls, the headline metric's last value as reward."""
    headline = sim.metrics[0]
    steps = [
        StepRecord(
            index=r.round,
            observation=[Message(role="user", content=_situations(r))],
            action=Message(role="assistant", content=_decisions(r)),
            reward=r.metrics[headline],
            info={
                **r.metrics,
                **r.info,
                "seconds": round(r.seconds, 4),
                "decide_seconds": round(r.decide_seconds, 4),
            },
        )
        for r in result.rounds
    ]
    calls = result.calls
    return EpisodeRecord(
        id=result.mode,
        task=Task(
            env=f"sim:{sim.name}",
            id=f"{sim.name}-{result.agents}x{len(result.rounds)}-seed{result.seed}",
            split="test",
            difficulty=0,
            seed=result.seed,
            params={"agents": result.agents, "rounds": len(result.rounds), **sim.params()},
        ),
        agent=result.mode,
        model=model,
        status="done",
        reward=steps[-1].reward if steps else 0.0,
        success=True,
        progress=1.0,
        invalid_actions=sum(r.info["invalid"] for r in result.rounds),
        usage=Usage(
            input_tokens=sum(c.input_tokens for c in calls), output_tokens=sum(c.output_tokens for c in calls)
        ),
        model_latency=sum(c.latency for c in calls),
        wall=result.wall,
        steps=steps,
        calls=calls,
    )


def _situations(r: RoundResult) -> str:
    i = r.info
    return (
        f"round {r.round}: {i['model_calls']} model calls decided "
        f"({i['cache_hits']} agents from the per-situation cache, {i['idle']} idle)"
    )


def _decisions(r: RoundResult) -> str:
    """The choice shares, then the sampled decisions one a line."""
    shares = ", ".join(f"{k[7:]} {v:.1%}" for k, v in r.metrics.items() if k.startswith("choice_"))
    return "\n".join([shares, *r.samples])


def divergence(archetype: SimResult, individual: SimResult) -> dict[str, list[float]]:
    """Per metric, ``|archetype - individual|`` in each round both ran: what grouping agents into
    archetypes (one decision per situation bucket) changes against one call per agent."""
    rounds = min(len(archetype.rounds), len(individual.rounds))
    return (
        {
            m: [abs(archetype.rounds[r].metrics[m] - individual.rounds[r].metrics[m]) for r in range(rounds)]
            for m in archetype.rounds[0].metrics
        }
        if rounds
        else {}
    )


def summary(sim: Simulation, results: list[SimResult]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sim": sim.name,
        "headline": sim.metrics[0],
        "modes": {r.mode: r.totals() for r in results},
    }
    by_mode = {r.mode: r for r in results}
    if "archetype" in by_mode and "individual" in by_mode:
        div = divergence(by_mode["archetype"], by_mode["individual"])
        out["divergence"] = div
        out["mean_divergence"] = {m: sum(v) / len(v) for m, v in div.items() if v}
    return out


def record(
    store: RunStore,
    run_id: str,
    config: dict[str, Any],
    sim: Simulation,
    results: list[SimResult],
    model: str,
) -> dict[str, Any]:
    """Write the run, its episodes and its summary; return the summary."""
    store.create_run(run_id, {"kind": KIND, **config})
    for result in results:
        store.write_episode(run_id, episode_record(sim, result, model))
    out = summary(sim, results)
    store.set_run_status(run_id, "finished", out)
    return out
