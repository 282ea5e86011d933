"""The cost of one sandboxed code block, this tree against another, measured side by side.

    python bench/sandbox_roundtrip.py [--baseline REF] [--rounds 6] [--blocks 10]

A block is what the CodeAct agent runs: a ``Session`` whose script calls one tool through the RPC
function, gets the answer and prints it. Each round starts one process per source tree (this
checkout's ``src`` and ``REF``'s, exported with ``git archive``; default ``HEAD``), alternating, and
each process runs ``--blocks`` blocks one after the other (after one warm-up block). Printed: the
median wall time of a block and the CPU time per block (the measuring process and every process
the sandbox started), for both trees, and their ratio. Run as root for the full isolation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = r"""
import asyncio, json, resource, sys, time
from palaestra.sandbox import SandboxResult, Session

CODE = "print(tool('echo', {'text': 'hi'}))"

async def block():
    s = Session(CODE, rpc_name="tool", timeout=5)
    await s.start()
    while True:
        event = await s.next_event()
        if isinstance(event, SandboxResult):
            assert event.ok and event.stdout == "hi\n", event
            return
        await s.reply(event.arguments["text"])

def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

async def main(n):
    await block()
    walls, c0 = [], cpu()
    for _ in range(n):
        t = time.perf_counter()
        await block()
        walls.append(time.perf_counter() - t)
    print(json.dumps({"walls": walls, "cpu": (cpu() - c0) / n}))

asyncio.run(main(int(sys.argv[1])))
"""


def export(ref: str, into: str) -> str:
    """``ref``'s ``src`` directory, unpacked under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"], check=True, capture_output=True
    ).stdout
    path = Path(into, "archive.tar")
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    return str(Path(into, "src"))


def measure(src: str, blocks: int) -> tuple[list[float], float]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(blocks)], env=env, check=True, capture_output=True, text=True
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data["walls"], data["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="HEAD", help="git ref to compare with (default HEAD)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--blocks", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": str(ROOT / "src"), args.baseline: export(args.baseline, tmp)}
        walls: dict[str, list[float]] = {k: [] for k in trees}
        cpus: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(args.rounds):
            for name, src in trees.items():
                w, c = measure(src, args.blocks)
                walls[name] += w
                cpus[name].append(c)
    print(f"{args.rounds} rounds x {args.blocks} blocks (one tool call each), load {os.getloadavg()[0]:.1f}")
    for name in trees:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:>12}: {wall * 1000:6.1f} ms wall (median), {cpu * 1000:6.1f} ms CPU per block")
    mine, base = list(trees)
    ratio_wall = statistics.median(walls[mine]) / statistics.median(walls[base])
    ratio_cpu = statistics.median(cpus[mine]) / statistics.median(cpus[base])
    print(f"ratio this tree / {base}: wall {ratio_wall:.2f}x, CPU {ratio_cpu:.2f}x")


if __name__ == "__main__":
    main()
