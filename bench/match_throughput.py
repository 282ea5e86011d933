"""Match throughput: bots-only matches per second for every game, and a 64-seat simultaneous-move
game played by LLM agents against the fake OpenAI server.

    python bench/match_throughput.py [bots] [--matches 200] [--concurrency 32]
    python bench/match_throughput.py llm [--seats 64] [--rounds 10] [--matches 4] [--latency 0.05] [--model fake|mock|null]

bots: for each registered multi-agent game, ``--matches`` matches with the game's bots in every seat
(seat 0 its first bot, seat 1 its second, the rest its third), first through the engine alone
(``play_match`` one after another, nothing stored), then through the whole runner (worker pool,
store writes). Prints matches/s and moves/s.

llm: a public-goods game for ``--seats`` seats that all move at once every round, every seat played
by the ``tools`` agent against the fake server (its own process) at ``--latency`` seconds a call
(``--model mock``: an in-process mock model with the same latency, no HTTP; ``--model null``: a
model that only waits, so what is left is the runner's, the agents' and the game's own cost).
``--concurrency`` matches run at once (default 1). Ideal time = rounds x latency for each wave of
concurrent matches (every round waits for exactly one round-trip); prints achieved vs ideal.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from palaestra import EnvSpec, Message, MultiAgentEnv, Store, ToolCall, ToolError, make, register, tool
from palaestra.env import env_factory, env_names
from palaestra.models.base import ModelOutput
from palaestra.runner.match import play_match
from palaestra.runner.tournament import MatchConfig, run_matches
from palaestra.types import Task


class PublicGoods(MultiAgentEnv):
    """Every seat puts 0..10 of its 10 coins in the pot at once; the pot x1.6 is shared equally."""

    spec = EnvSpec(
        name="bench-public-goods",
        description="Public goods: each round contribute 0-10 coins; the pot is multiplied by 1.6 and shared.",
        max_steps=200,
    )

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"seats": 64, "rounds": 10, "salt": rng.randrange(10**9)}

    def setup(self, task: Task) -> None:
        self.agents = [f"p{i:02d}" for i in range(task.params["seats"])]
        self.rounds = task.params["rounds"]
        self.round = 1
        self.put: dict[str, int] = {}
        self.tell(f"Round 1 of {self.rounds}: contribute 0-10 coins.")

    def acting(self) -> list[str]:
        return [s for s in self.alive() if s not in self.put]

    @tool
    def contribute(self, amount: int) -> str:
        """Put coins in the pot.

        Args:
            amount: 0 to 10.
        """
        if not 0 <= amount <= 10:
            raise ToolError("amount must be 0 to 10")
        self.put[self.seat] = amount
        return f"you put {amount}"

    def resolve(self) -> None:
        if self.acting():
            return
        share = 1.6 * sum(self.put.values()) / len(self.alive())
        for s in self.alive():
            self.reward(s, 10 - self.put.get(s, 0) + share)
        self.tell(f"Round {self.round}: the pot was {sum(self.put.values())}; each got {share:.1f}.")
        self.put = {}
        self.round += 1
        if self.round > self.rounds:
            self.finish()
        else:
            self.tell(f"Round {self.round} of {self.rounds}: contribute 0-10 coins.")


register(PublicGoods)


def responder(request: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"name": "contribute", "arguments": {"amount": random.randint(0, 10)}}]}


def serve(latency: float) -> None:
    from palaestra.testing import FakeOpenAIServer

    async def main() -> None:
        srv = FakeOpenAIServer(responder, latency=latency, max_seconds=600)
        await srv.start()
        print(srv.base_url, flush=True)
        await srv.wait_closed()

    asyncio.run(main())


def _games() -> list[str]:
    out = []
    for name in env_names():
        cls = env_factory(name)
        if isinstance(cls, type) and issubclass(cls, MultiAgentEnv) and not name.startswith("bench-"):
            out.append(name)
    return out


def _lineup(game: MultiAgentEnv) -> tuple[dict[str, str], str]:
    bots = [f"bot:{b}" for b in game.bots()] or ["random"]
    return {"0": bots[0], "1": bots[min(1, len(bots) - 1)]}, bots[min(2, len(bots) - 1)]


async def _engine(name: str, n: int) -> tuple[float, int, int]:
    game = make(name)
    assert isinstance(game, MultiAgentEnv)
    seats, default = _lineup(game)
    tasks = game.tasks("test", n, seed=1)
    moves = errors = 0
    t0 = time.perf_counter()
    for task in tasks:
        rec = await play_match(make(name), {int(k): v for k, v in seats.items()}, task, default=default)  # type: ignore[arg-type]
        moves += sum(len(s.steps) for s in rec.seats.values())
        errors += rec.status == "error"
    return time.perf_counter() - t0, moves, errors


def bots(args: argparse.Namespace) -> None:
    print(f"{'game':<22} {'engine m/s':>11} {'moves/s':>9} {'runner m/s':>11} {'moves/s':>9}  errors")
    for name in _games():
        game = make(name)
        assert isinstance(game, MultiAgentEnv)
        seats, default = _lineup(game)
        wall, moves, errors = asyncio.run(_engine(name, args.matches))
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "b.db")
            config = MatchConfig(
                game=name,
                seats=seats,
                default=default,
                tasks=args.matches,
                seed=1,
                concurrency=args.concurrency,
            )
            t0 = time.perf_counter()
            rid = asyncio.run(run_matches(config, store))
            rwall = time.perf_counter() - t0
            s = store.summary(rid)
            rmoves = sum(e["steps"] for e in s["envs"].values())
            store.close()
        print(
            f"{name:<22} {args.matches / wall:>11.1f} {moves / wall:>9.0f} "
            f"{s['episodes'] / rwall:>11.1f} {rmoves / rwall:>9.0f}  {errors}+{s['errors']}"
        )


class _NullModel:
    name = "null"
    max_concurrency = 1 << 16

    def __init__(self, latency: float) -> None:
        self.latency = latency
        call = ToolCall(id="c", name="contribute", arguments={"amount": 5})
        self.out = ModelOutput(message=Message(role="assistant", tool_calls=[call]))

    async def generate(self, messages: Any, tools: Any, config: Any) -> ModelOutput:
        await asyncio.sleep(self.latency)
        return self.out

    async def close(self) -> None:
        pass


def llm(args: argparse.Namespace) -> None:
    server = None
    models: dict[str, Any] = {}
    if args.model == "mock":  # in-process, no HTTP: the runner, the agents and the mock model
        from palaestra.models.mock import MockModel

        spec = "tools:mock:bench"
        models["mock:bench"] = MockModel(lambda m, t: responder({}), latency=args.latency)
    elif args.model == "null":  # a model that only waits: what the runner and the game cost
        spec = "tools:null:bench"
        models["null:bench"] = _NullModel(args.latency)
    else:
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", "--latency", str(args.latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        spec = f"tools:openai:fake@{server.stdout.readline().strip()}"
    try:
        PublicGoods.generate = lambda self, rng, d: {  # type: ignore[method-assign]
            "seats": args.seats,
            "rounds": args.rounds,
            "salt": rng.randrange(10**9),
        }
        limit = args.seats * args.concurrency
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "llm.db")
            config = MatchConfig(
                game="bench-public-goods",
                default=spec,
                tasks=args.matches,
                concurrency=args.concurrency,
                model_options={} if models else {"max_concurrency": limit, "initial_concurrency": limit},
            )
            cpu0, t0 = time.process_time(), time.perf_counter()
            rid = asyncio.run(run_matches(config, store, models=models))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            s = store.summary(rid)
            forfeits = store.run(rid)["summary"]["players"][0]["forfeits"]
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    calls = s["model_calls"]
    waves = -(-args.matches // args.concurrency)
    ideal = waves * args.rounds * args.latency
    print(
        f"{args.model}: {args.matches} matches x {args.seats} seats x {args.rounds} rounds, "
        f"{args.concurrency} at once; model calls {calls}; errors {s['errors']}; forfeits {forfeits}"
    )
    print(f"wall {wall:.2f}s  ideal {ideal:.2f}s  -> {ideal / wall:.1%} of ideal throughput")
    print(
        f"client CPU {cpu:.2f}s -> {cpu / max(calls, 1) * 1000:.3f} ms per model call (agent + model + game + store)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="bots", choices=["bots", "llm", "serve"])
    ap.add_argument("--matches", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--seats", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument(
        "--model",
        default="fake",
        choices=["fake", "mock", "null"],
        help="fake server (HTTP), in-process mock model, or a model that only waits",
    )
    args = ap.parse_args()
    if args.mode == "bots":
        args.matches = args.matches or 200
        args.concurrency = args.concurrency or 32
        bots(args)
    elif args.mode == "llm":
        args.matches = args.matches or 4
        args.concurrency = args.concurrency or 1
        llm(args)
    else:
        serve(args.latency)


if __name__ == "__main__":
    main()
