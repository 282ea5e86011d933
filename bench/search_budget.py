"""Search vs budget: a noisy expert alone and under best-of-N, MCTS, beam and A*, success per budget.

    python bench/search_budget.py [--envs maze crafting household wordle planning] [--tasks 10]
        [--epsilon 0.6] [--max-steps 30] [--budgets 1 2 4 8] [--store search.db] [--plot search.svg]

The policy is ``noisy`` (the env's expert, replaced by a random valid action with probability ε).
Every run plays the same test tasks (seed 0) with the same step limit: the noisy policy alone, then
``bestofn`` with n = each budget, ``mcts`` with simulations = each budget, ``beam`` with width = each
budget (depth 2) and ``astar`` with expansions = each budget, all over the noisy policy with the env's
progress as value. It prints success per env and budget, and the env steps the
search spent per episode; it writes the report's success-vs-budget plot (SVG) and the runs stay in
the store for ``palaestra report``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from palaestra import RunConfig, Store, run
from palaestra.report.data import collect
from palaestra.report.plots import search_budget


def _spent(store: Store, run_id: str) -> float:
    """Env steps the search spent per episode (from the last step's trace)."""
    totals = []
    for row in store.episodes(run_id):
        steps = store.episode(run_id, row["id"])["steps"]
        trace = steps[-1].get("trace") if steps else None
        totals.append((trace or {}).get("episode_spent", {}).get("env_steps", 0))
    return sum(totals) / max(len(totals), 1)


async def main(args: argparse.Namespace) -> None:
    store = Store(args.store)
    base: dict[str, Any] = {
        "envs": args.envs,
        "tasks": args.tasks,
        "max_steps": args.max_steps,
        "seed": 0,
        "concurrency": 1,
    }
    noisy = {"inner": "noisy", "epsilon": args.epsilon}
    plan: list[tuple[str, int, str, dict[str, Any]]] = [("noisy", 0, "noisy", {"epsilon": args.epsilon})]
    for b in args.budgets:
        plan.append(("bestofn", b, "bestofn", {**noisy, "n": b}))
    for b in args.budgets:
        plan.append(("mcts", b, "mcts", {**noisy, "simulations": b}))
    for b in args.budgets:
        plan.append(("beam", b, "beam", {**noisy, "width": b, "depth": 2}))
    for b in args.budgets:
        plan.append(("astar", b, "astar", {**noisy, "expansions": b}))
    ids: list[str] = []
    print(
        f"noisy expert, epsilon={args.epsilon}, {args.tasks} test tasks per env, max {args.max_steps} steps"
    )
    head = (
        f"{'policy':<10}{'budget':>7}"
        + "".join(f"{e:>11}" for e in args.envs)
        + f"{'all':>8}{'search steps/ep':>17}{'s':>7}"
    )
    print(head)
    for label, budget, agent, options in plan:
        t0 = time.perf_counter()
        rid = await run(RunConfig(agent=agent, agent_options=options, **base), store)
        ids.append(rid)
        s = store.summary(rid)
        cells = "".join(f"{s['envs'][e]['success_rate']:>11.0%}" for e in args.envs)
        print(
            f"{label:<10}{budget or '-':>7}{cells}{s['success_rate']:>8.0%}"
            f"{_spent(store, rid):>17.1f}{time.perf_counter() - t0:>7.1f}",
            flush=True,
        )
    svg = search_budget(collect(store, ids, episodes_per_env=0))
    assert svg is not None
    Path(args.plot).write_text(svg, encoding="utf-8")
    print(f"plot: {args.plot}; runs in {args.store}: palaestra report {' '.join(ids)} --store {args.store}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", nargs="+", default=["maze", "crafting", "household", "wordle", "planning"])
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--epsilon", type=float, default=0.6)
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--budgets", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--store", default="search_budget.db")
    p.add_argument("--plot", default="search_budget.svg")
    asyncio.run(main(p.parse_args()))
