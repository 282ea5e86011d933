"""Each strategy family against the plain ``tools`` agent, on the same test tasks, with the paired
test of ``palaestra compare``.

    python bench/strategies.py [--tasks 40] [--max-steps 5] [--store strategies.db]

The model is scripted (no language model runs here): :class:`FeasibleGuesser` plays ``guess`` by
reading the range and every "N is too low/high" line in its context and guessing a number those
still allow, drawn at random (one seeded generator for the whole process, episodes one at a
time, so a run is reproducible). Asked without tools (a reflection, a plan, a summary, a world
state) it answers a fixed sentence, so reflections, plans and states carry no information: what
differs between the runs is the strategies' mechanics (reflexion's extra trials judged by the
env's success signal, a jury's vote among samples, a debate's second round, a team's extra
calls). ``escalate``'s slow model is a scripted bisector (the middle of the feasible range), asked
when three samples of the guesser disagree. Memory is the one strategy whose notes this model does
read: the retrieved steps of *other* tasks hold their own "too low/high" lines, which it takes
for this task's feedback (irrelevant retrieved steps mislead a reader that trusts its context).
The memory strategy is first filled by a train run (same model) in the same store. Every run and
its episodes stay in the store: rerun the comparison with ``palaestra compare PLAIN RUN --store
STORE``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
from pathlib import Path
from typing import Any

from palaestra import RunConfig, Store, register_provider, run
from palaestra.eval.compare import compare_runs
from palaestra.models.mock import MockModel
from palaestra.types import Message, ToolSpec

RANGE = re.compile(r"between (\d+) and (\d+)")
FEEDBACK = re.compile(r"(\d+) is too (low|high)")


class FeasibleGuesser:
    """Guesses uniformly among the numbers the feedback in its context still allows."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def __call__(self, messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        if tools is None:
            return "Use the feedback to narrow the range before guessing."
        lo, hi = _feasible("\n".join(m.content for m in messages))
        return {"tool": "guess", "arguments": {"number": self.rng.randint(lo, max(lo, hi))}}


def _feasible(text: str) -> tuple[int, int]:
    """The range the goal announced, narrowed by every higher/lower answer in ``text``."""
    found = RANGE.search(text)
    lo, hi = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    for n, side in FEEDBACK.findall(text):
        if side == "low":
            lo = max(lo, int(n) + 1)
        else:
            hi = min(hi, int(n) - 1)
    return lo, hi


AGENTS: list[tuple[str, str, dict[str, Any]]] = [  # (label, agent, options)
    ("tools", "tools", {}),
    ("reflexion", "reflexion", {"trials": 3}),
    ("memory", "memory", {"k": 2}),
    ("team", "team", {"summarise_every": 3}),
    ("jury", "jury", {"members": 3}),
    ("debate", "jury", {"members": 3, "rounds": 1}),
    ("escalate", "escalate", {"slow": "scripted:bisect", "k": 3}),
    ("state", "state", {}),
]


class Bisector(FeasibleGuesser):
    """The "slow, careful" model of ``escalate``: guesses the middle of what the feedback allows."""

    def __call__(self, messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        reply = super().__call__(messages, tools)
        if isinstance(reply, dict):
            lo, hi = _feasible("\n".join(m.content for m in messages))
            reply["arguments"]["number"] = (lo + hi) // 2
        return reply


async def main(tasks: int, max_steps: int, store_path: Path) -> None:
    register_provider("scripted", lambda spec, **_: MockModel(Bisector(1), name=f"scripted:{spec}"))
    store = Store(store_path)
    model = MockModel(FeasibleGuesser(0), name="scripted:feasible-guesser")

    def config(agent: str, split: str, options: dict[str, Any]) -> RunConfig:
        return RunConfig(
            envs=["guess"],
            agent=agent,
            model=model.name,
            split=split,
            tasks=tasks,
            difficulty=1,
            max_steps=max_steps,
            concurrency=1,
            agent_options=options,
        )

    await run(config("memory", "train", {"k": 2}), store, model=model)  # fill the memory
    runs = {
        label: await run(config(agent, "test", opts), store, model=model) for label, agent, opts in AGENTS
    }
    plain = runs["tools"]
    print(
        f"guess d1, {tasks} test tasks, {max_steps} steps per episode (per trial for reflexion), store {store_path}"
    )
    print(
        f"{'agent':<10} {'success':>8} {'calls/ep':>9} {'B-A':>6} {'p':>7}  verdict  (A = tools, run {plain})"
    )
    for agent, run_id in runs.items():
        s = store.summary(run_id)
        calls = sum(e["model_calls"] for e in store.episodes(run_id)) / max(1, s["episodes"])
        if run_id == plain:
            print(f"{agent:<10} {s['success_rate']:>8.2f} {calls:>9.1f}")
            continue
        c = compare_runs(store, plain, run_id)["overall"]["success_rate"]
        print(
            f"{agent:<10} {s['success_rate']:>8.2f} {calls:>9.1f} {c['diff']:>+6.2f} {c['p_value']:>7.3f}  "
            f"{c['verdict']}  (palaestra compare {plain} {run_id} --store {store_path})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--max-steps", type=int, default=5)
    parser.add_argument("--store", type=Path, default=Path("strategies.db"))
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.max_steps, args.store))
