"""A million agents for ten rounds, the fake OpenAI server deciding per archetype and situation.

    python bench/sim_scale.py                          # every sim, 1,000,000 agents x 10 rounds
    python bench/sim_scale.py --sims donor --agents 100000 --rounds 5
    python bench/sim_scale.py --ray --shards 2         # also on a local Ray, side by side

Prints per simulation: agent-rounds per second, model calls per round (over HTTP to the fake server,
which answers from the persona and situation lines), bytes per agent (the process's peak RSS while
the simulation ran minus its RSS before, over the number of agents) and the population's own arrays
per agent. With ``--ray`` the same simulation runs again with its per-round update split into Ray
tasks, and the ratio of the two rates is printed (same machine, same run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import sys
import time
from pathlib import Path

from palaestra.models.openai import OpenAIModel
from palaestra.sim import SIMS, LocalExecutor, RayExecutor, SimResult, make_sim, simulate
from palaestra.sim.responder import situation_responder
from palaestra.sim.shards import Executor
from palaestra.testing.fake_server import FakeOpenAIServer


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> None:
    """Start measuring the peak RSS from now (Linux: writing 5 to clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_bytes() -> int:
    kib = _status_kib("VmRSS")
    return 1024 * kib if kib is not None else 0


def peak_bytes() -> int:
    kib = _status_kib("VmHWM")
    if kib is None:  # no /proc: the lifetime peak (KiB on Linux, bytes on macOS)
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    return 1024 * kib


async def one(
    name: str, base_url: str, agents: int, rounds: int, executor: Executor
) -> tuple[SimResult, int]:
    model = OpenAIModel("fake", base_url=base_url, api_key="x")
    gc.collect()
    before = rss_bytes()
    reset_peak()
    try:
        result = await simulate(make_sim(name), model, agents=agents, rounds=rounds, executor=executor)
    finally:
        await model.close()
    return result, peak_bytes() - before


def report(label: str, result: SimResult, rss_delta: int) -> None:
    t = result.totals()
    print(
        f"{label:<22} {t['agents']:>9,} x {t['rounds']:>2} rounds  {t['wall']:7.2f} s  "
        f"{t['agent_rounds_per_s']:>12,.0f} agent-rounds/s  {t['model_calls_per_round']:6.1f} calls/round  "
        f"{rss_delta / result.agents:6.1f} B/agent RSS  ({t['state_bytes_per_agent']:.0f} B/agent state)  "
        f"invalid {t['invalid']}, failed {t['model_errors']}",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sims", nargs="+", default=list(SIMS), choices=list(SIMS))
    p.add_argument("--agents", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--shards", type=int, default=2, help="Ray tasks per round step (with --ray)")
    p.add_argument("--ray", action="store_true", help="also run each sim with its update on a local Ray")
    args = p.parse_args()
    srv = FakeOpenAIServer(responder=situation_responder, max_seconds=3600).start_in_thread()
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; fake server {srv.base_url}", flush=True)
    ray_executor = RayExecutor(args.shards, num_cpus=args.shards) if args.ray else None
    try:
        for name in args.sims:
            local, delta = asyncio.run(one(name, srv.base_url, args.agents, args.rounds, LocalExecutor()))
            report(f"{name} local", local, delta)
            if ray_executor is not None:
                started = time.perf_counter()
                on_ray, delta = asyncio.run(one(name, srv.base_url, args.agents, args.rounds, ray_executor))
                report(f"{name} ray x{args.shards}", on_ray, delta)
                same = [r.metrics for r in on_ray.rounds] == [r.metrics for r in local.rounds]
                print(
                    f"{'':<22} ray/local rate {on_ray.agent_rounds_per_s / local.agent_rounds_per_s:.2f}x, "
                    f"same metrics: {same} ({time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
    finally:
        if ray_executor is not None:
            ray_executor.close()
        srv.stop()
    print(f"fake server: {srv.requests} requests", flush=True)


if __name__ == "__main__":
    main()
