"""Runner overhead, workers and memory, measured side by side in one run.

    python bench/runner_overhead.py [--episodes 640] [--steps 8] [--latency 0.05] [--jitter 0] [--concurrency 64] [--workers 1 2]
    python bench/runner_overhead.py cpu [--episodes 400] [--envs planning travel] [--workers 1 2]
    python bench/runner_overhead.py memory [--small 1000] [--large 100000]

overhead: N episodes of `guess` played by the `tools` agent against the fake OpenAI server (run in
its own process, so this process's CPU time is the client's alone: agent, HTTP client, env step,
store write). Prints achieved vs ideal throughput (ideal = calls x latency / concurrency) and the
client CPU per model call. With a fixed latency and episodes of equal length every episode moves
in step with the others, so their end-of-episode work (store write, next task, env setup) lands in
one burst that delays the whole wave: the worst case. ``--jitter`` varies the latency around the
same mean, as real servers do, which breaks that lockstep. Each ``--workers`` value is a run of its
own against the same server, one after the other: 1 plays in this process, N in N worker processes
(their CPU counts as the client's, their start and the fork server's included).

cpu: a CPU-bound workload (the expert on heavier envs, no model), with each ``--workers`` value in
turn; prints each one's throughput and its ratio to the first.

``--compare REF`` runs the same command for the sources of git revision REF and for this tree,
alternately, ``--rounds`` times, each in a fresh process, so both see the same machine load (the
fake server of each run is that tree's too).

memory: the resident set size of this process while a run of `large` episodes plays (sampled as it
goes), against the one after a run of `small` episodes in the same store, through the whole runner
(expert agent, store writes).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing.forkserver
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from palaestra import RunConfig, Store, run

_RANGE = re.compile(r"between (\d+) and (\d+)")


def responder(request: dict[str, Any]) -> dict[str, Any]:
    """Guess a random number in the announced range (it almost never hits at difficulty 3)."""
    text = next(m["content"] for m in request["messages"] if m["role"] == "user")
    lo, hi = map(int, _RANGE.search(text).groups())  # type: ignore[union-attr]
    return {"tool_calls": [{"name": "guess", "arguments": {"number": random.randint(lo, hi)}}]}


def serve(latency: float, jitter: float = 0.0) -> None:
    from palaestra.testing import FakeOpenAIServer

    rng = random.Random(0)

    def delay(_: dict[str, Any]) -> float:  # uniform in latency +- jitter: the mean stays `latency`
        return latency + rng.uniform(-jitter, jitter)

    async def main() -> None:
        srv = FakeOpenAIServer(responder, latency=delay if jitter else latency, max_seconds=300)
        await srv.start()
        print(srv.base_url, flush=True)
        await srv.wait_closed()

    asyncio.run(main())


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def overhead(args: argparse.Namespace) -> None:
    server = subprocess.Popen(
        [sys.executable, __file__, "serve", "--latency", str(args.latency), "--jitter", str(args.jitter)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        jitter = f" +- {args.jitter * 1000:.0f}" if args.jitter else ""
        print(
            f"{args.episodes} episodes of {args.steps} calls, latency {args.latency * 1000:.0f}{jitter} ms, "
            f"concurrency {args.concurrency}, {os.cpu_count()} cores"
        )
        for workers in args.workers:
            overhead_run(args, url, workers, server.pid)
    finally:
        server.terminate()
        server.wait(10)


def overhead_run(args: argparse.Namespace, url: str, workers: int, server_pid: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.db")
        config = RunConfig(
            envs=["guess"],
            agent="tools",
            model=f"openai:fake@{url}",
            tasks=args.episodes,
            difficulty=3,
            max_steps=args.steps,
            concurrency=args.concurrency,
            model_options={"max_concurrency": args.concurrency, "initial_concurrency": args.concurrency},
        )
        cpu0, t0, srv0 = client_cpu(), time.perf_counter(), proc_cpu(server_pid)
        rid = asyncio.run(run(config, store, workers=workers))
        cpu, wall = client_cpu() - cpu0, time.perf_counter() - t0
        srv = proc_cpu(server_pid) - srv0
        s = store.summary(rid)
    calls = s["model_calls"]
    ideal = calls * args.latency / args.concurrency
    where = "in this process" if workers == 1 else f"{workers} worker processes (their start included)"
    print(f"-- {where}: {s['episodes']} episodes, {calls} model calls, {s['errors']} errors")
    print(f"   wall {wall:.2f}s  ideal {ideal:.2f}s  -> {ideal / wall:.1%} of ideal throughput")
    print(
        f"   client CPU {cpu:.2f}s ({cpu / wall:.2f} of wall) -> {cpu / calls * 1000:.3f} ms per model call "
        "(agent + HTTP + env + store)"
    )
    print(
        f"   fake server CPU {srv:.2f}s -> {srv / calls * 1000:.3f} ms per call; client and server "
        f"together kept {(cpu + srv) / wall:.2f} of {os.cpu_count()} cores busy"
    )


def client_cpu() -> float:
    """CPU seconds of this process, of its children that ended, and of the fork server with the
    worker processes it forked and reaped (the workers are its children, not this process's)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime + forkserver_cpu()


def forkserver_cpu() -> float:
    """CPU seconds of the fork server (its own and its reaped children's), 0 before it starts."""
    pid = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def cpu(args: argparse.Namespace) -> None:
    """The expert on CPU-heavy envs: throughput with each number of workers, side by side."""
    print(f"{args.episodes} expert episodes of each of {', '.join(args.envs)}, {os.cpu_count()} cores")
    first = 0.0
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "cpu.db")
            config = RunConfig(envs=args.envs, agent="expert", split="train", tasks=args.episodes)
            t0 = time.perf_counter()
            rid = asyncio.run(run(config, store, workers=workers))
            wall = time.perf_counter() - t0
            n = store.summary(rid)["episodes"]
        rate = n / wall
        first = first or rate
        print(f"workers {workers}: {n} episodes in {wall:.2f}s -> {rate:.1f} episodes/s, {rate / first:.2f}x")


def memory(args: argparse.Namespace) -> None:
    samples: list[tuple[int, float]] = []

    def sample(rec: Any, stats: Any) -> None:
        if stats.done % max(1, args.large // 10) == 0:
            samples.append((stats.done, rss_mb()))

    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "mem.db")
        asyncio.run(run(RunConfig(envs=["guess"], agent="expert", split="train", tasks=200), store))
        base = rss_mb()  # after imports and a warm-up run
        asyncio.run(run(RunConfig(envs=["guess"], agent="expert", split="train", tasks=args.small), store))
        small = rss_mb()
        config = RunConfig(envs=["guess"], agent="expert", split="train", tasks=args.large)
        asyncio.run(run(config, store, on_episode=sample))
        large = rss_mb()
    print(f"RSS after warm-up {base:.1f} MiB; after {args.small} episodes {small:.1f} MiB")
    print("during the large run (episodes: MiB): " + ", ".join(f"{n}: {mb:.1f}" for n, mb in samples))
    print(
        f"after {args.large} episodes {large:.1f} MiB -> growth {large / small - 1:+.1%} over the small run"
    )


def compare(ref: str, rounds: int) -> None:
    """This command, without ``--compare``, for REF's ``src`` and this tree's, alternately."""
    argv = list(sys.argv[1:])
    i = argv.index("--compare")
    del argv[i : i + 2]
    argv = [a for j, a in enumerate(argv) if a != "--rounds" and (j == 0 or argv[j - 1] != "--rounds")]
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as d:
        archive = subprocess.run(["git", "archive", ref, "src"], cwd=root, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", d], input=archive.stdout, check=True)
        trees = {ref: Path(d) / "src", "this tree": root / "src"}
        for r in range(rounds):
            for label, src in trees.items():
                print(f"== {label} (round {r + 1} of {rounds})", flush=True)
                env = {**os.environ, "PYTHONPATH": str(src)}
                subprocess.run([sys.executable, __file__, *argv], env=env, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="overhead", choices=["overhead", "cpu", "memory", "serve"])
    ap.add_argument("--episodes", type=int, default=640)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument(
        "--jitter", type=float, default=0.0, help="latency varies uniformly by +- this much (mean unchanged)"
    )
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="one run each; 1: in this process")
    ap.add_argument("--envs", nargs="+", default=["planning", "travel"], help="cpu: the envs")
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--compare", metavar="REF", help="run REF's sources and this tree's alternately")
    ap.add_argument("--rounds", type=int, default=2, help="--compare: how many times each")
    args = ap.parse_args()
    if args.compare:
        compare(args.compare, args.rounds)
        return
    modes = {
        "overhead": overhead,
        "cpu": cpu,
        "memory": memory,
        "serve": lambda a: serve(a.latency, a.jitter),
    }
    modes[args.mode](args)


if __name__ == "__main__":  # worker processes import this file as their main module: not run there
    main()
