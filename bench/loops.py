"""How often perturbed tools make an agent loop, and what they cost: loop rate, success and damage.

    python bench/loops.py [--tasks 20] [--rate 0.3] [--envs guess maze tools shop]

Each env runs the same ``--tasks`` test tasks once clean and once under each perturbation of
:mod:`palaestra.perturb` (seeded, ``--rate`` of the tool results rewritten), with the runner's loop
detection on (``stop_on_loop``), for two scripted agents that read the same observations:

* ``expert`` — the env's oracle (it mostly plays from the hidden state);
* ``credulous`` — the oracle, except that it repeats its previous action whenever a tool result
  says the call failed ("Try again") or asks for it again (a model that believes what tools say).

It prints, per env, agent and perturbation, the share of episodes stopped on a loop, the success
rate and the irreversible damage per episode (mail sent, purchases) next to the clean run's.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from palaestra import Env, make
from palaestra.perturb import PERTURB_KINDS, Perturbed
from palaestra.policy import Agent
from palaestra.records import LOOP_PREFIX, EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.types import Message, Observation, Task

RETRY_HINTS = ("Try again", "again with the same arguments")


class Credulous:
    """The expert, but it repeats its last action when a tool result asks for that."""

    def __init__(self, inner: Agent) -> None:
        self.inner = inner
        self.last: Message | None = None

    async def reset(self, task: Task) -> None:
        await self.inner.reset(task)
        self.last = None

    async def act(self, observation: Observation) -> Message:
        asked = any(h in m.content for m in observation.messages if m.role == "tool" for h in RETRY_HINTS)
        if self.last is None or not asked:
            self.last = await self.inner.act(observation)
        return self.last


AGENTS: dict[str, Callable[[Agent], Agent]] = {"expert": lambda a: a, "credulous": Credulous}


async def episode(env: Env, agent_name: str, task: Task) -> EpisodeRecord:
    expert = env.expert()
    assert expert is not None
    rec = EpisodeRecord(id=task.id, task=task, agent=agent_name, model="")
    return await rollout(env, AGENTS[agent_name](expert), task, record=rec, stop_on_loop=True)


async def cell(name: str, kind: str | None, agent: str, tasks: list[Task], rate: float) -> dict[str, Any]:
    recs = []
    for task in tasks:
        env = make(name)
        assert isinstance(env, Env)
        wrapped = Perturbed(env, kind, rate, seed=0) if kind else env  # type: ignore[arg-type]
        recs.append(await episode(wrapped, agent, task))
    irreversible = [max((s.info.get("damage_irreversible", 0) for s in r.steps), default=0) for r in recs]
    n = len(recs)
    return {
        "loops": sum((r.error or "").startswith(LOOP_PREFIX) for r in recs) / n,
        "success": sum(r.success for r in recs) / n,
        "irreversible": sum(irreversible) / n,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--envs", nargs="+", default=["guess", "maze", "tools", "shop"])
    args = ap.parse_args()
    print(f"{'env':7} {'agent':10} {'perturb':11} {'loops':>6} {'success':>8} {'irrev/ep':>9}")
    for name in args.envs:
        tasks = make(name).tasks("test", args.tasks, seed=0)
        for agent in AGENTS:
            for kind in (None, *PERTURB_KINDS):
                c = await cell(name, kind, agent, tasks, args.rate)
                print(
                    f"{name:7} {agent:10} {kind or 'none':11} {c['loops']:6.0%} {c['success']:8.0%} "
                    f"{c['irreversible']:9.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
