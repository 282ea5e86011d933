"""What the default concurrency achieves against a one-slot server and a wide one, side by side.

    python bench/server_concurrency.py [--latency 0.05] [--steps 4] [--narrow 80] [--wide 1280]

Two fake OpenAI servers, each in its own process (so this process's CPU is the client's alone):
``one-slot`` serves one request at a time and queues the rest (a llama.cpp server with one slot,
llama-cpp-python), ``wide`` serves every request at once with the same service time (vLLM far from
its batch limit). Each gets a run of `tools` episodes of `guess` (echoed replies, so every episode
is exactly ``--steps`` calls) with the default model settings (``max_concurrency`` 64, adaptive
limit), and, for comparison, with the limit fixed at 64 (what Palaestra did before issue #17).

The per-attempt timeout is scaled like the issue's: 120 s against a one-slot server serving a call
in about 3 s is 40 service times, so here it is 40 x ``--latency``. Ideal: one-slot, every call
back to back (calls x latency); wide, 64 calls always in flight (calls x latency / 64). Prints the
episodes completed (not error or timeout), the wall time, % of ideal and the most requests the
server held at once (queued included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from palaestra import RunConfig, Store, run
from palaestra.models.base import GenerateConfig

CONCURRENCY = 64


def serve(latency: float, slots: int | None) -> None:
    """Serve until stdin closes; print the base URL, then the server's stats on request."""
    from palaestra.testing import FakeOpenAIServer

    async def main() -> None:
        srv = FakeOpenAIServer(latency=latency, slots=slots, max_seconds=900)
        await srv.start()
        print(srv.base_url, flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            print(json.dumps(srv.stats()), flush=True)
            srv.reset_counters()
        await srv.aclose()

    asyncio.run(main())


class Server:
    def __init__(self, latency: float, slots: int | None) -> None:
        code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import server_concurrency as b; b.serve({latency!r}, {slots!r})"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.url = self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def one_run(
    server: Server, episodes: int, steps: int, latency: float, options: dict[str, Any]
) -> dict[str, Any]:
    server.stats()  # reset its counters
    with tempfile.TemporaryDirectory() as tmp:
        st = Store(Path(tmp) / "bench.db")
        config = RunConfig(
            envs=["guess"],
            agent="tools",
            model=f"openai:fake@{server.url}",
            tasks=episodes,
            max_steps=steps,
            timeout=600,
            generate=GenerateConfig(timeout=40 * latency),
            model_options={"max_concurrency": CONCURRENCY, **options},
        )
        t0 = time.perf_counter()
        rid = asyncio.run(run(config, st))
        wall = time.perf_counter() - t0
        eps = st.episodes(rid, limit=episodes + 1)
        st.close()
    completed = sum(e["status"] in ("done", "truncated") for e in eps)
    return {"completed": completed, "episodes": episodes, "wall": wall, "server": server.stats()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=float, default=0.05, help="service time of one call, seconds")
    p.add_argument("--steps", type=int, default=4, help="calls per episode")
    p.add_argument("--narrow", type=int, default=80, help="episodes against the one-slot server")
    p.add_argument("--wide", type=int, default=1280, help="episodes against the wide server")
    a = p.parse_args()
    settings = {
        "default (adaptive)": {},
        "start 64, no queue signal": {"initial_concurrency": CONCURRENCY, "latency_factor": None},
    }
    print(
        f"service time {a.latency:g}s, per-attempt timeout {40 * a.latency:g}s, {a.steps} calls an episode, "
        f"max_concurrency {CONCURRENCY}"
    )
    print(
        f"{'server':9} {'settings':26} {'completed':>11} {'wall s':>8} {'ideal s':>8} {'% ideal':>8} {'peak held':>9}"
    )
    for name, slots, n in (("one-slot", 1, a.narrow), ("wide", None, a.wide)):
        server = Server(a.latency, slots)
        try:
            for label, options in settings.items():
                r = one_run(server, n, a.steps, a.latency, options)
                calls = r["completed"] * a.steps
                ideal = calls * a.latency / (1 if slots == 1 else CONCURRENCY)
                print(
                    f"{name:9} {label:26} {r['completed']:>5}/{n:<5} {r['wall']:>8.2f} {ideal:>8.2f} "
                    f"{100 * ideal / r['wall']:>7.0f}% {r['server']['max_in_flight']:>9}"
                )
        finally:
            server.close()


if __name__ == "__main__":
    main()
