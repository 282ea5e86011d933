"""Runs spread over worker processes and over a local Ray instance: one writer, exact resume, and
a worker killed mid-run costing only the episodes it had in flight."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from palaestra import RunConfig, Store, run
from palaestra.errors import UsageError
from palaestra.records import EpisodeRecord
from palaestra.runner.run import RunStats, RunStopped
from palaestra.runner.workers import MAX_LOSSES, Feed, Outcome
from palaestra.testing import FakeOpenAIServer


def _episodes(st: Store, rid: str) -> dict[str, tuple[Any, ...]]:
    """Each stored episode: what the agent did and got (not its timing)."""
    return {
        e["id"]: (e["status"], e["steps"], e["reward"], e["success"]) for e in st.episodes(rid, limit=10_000)
    }


def _expert(tasks: int) -> RunConfig:
    return RunConfig(envs=["guess", "maze"], agent="expert", split="train", tasks=tasks, concurrency=6)


async def test_two_worker_processes_store_what_one_process_does(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    here = await run(_expert(12), st)
    spread = await run(_expert(12), st, workers=2)
    assert len(_episodes(st, spread)) == 24
    assert _episodes(st, spread) == _episodes(st, here)  # the same episodes, played alike
    assert st.summary(spread)["episodes"] == 24 and st.run(spread)["status"] == "finished"


async def test_resume_with_workers_plays_exactly_the_missing_episodes(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    rid = await run(_expert(5), st)
    kept = {e["id"]: e["wall"] for e in st.episodes(rid)}
    gone = sorted(kept)[:4]
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("PRAGMA foreign_keys=ON")  # their steps go with them
    with con:
        con.executemany("DELETE FROM episodes WHERE run_id=? AND id=?", [(rid, i) for i in gone])
    con.close()
    await run(_expert(5), st, run_id=rid, resume=True, workers=2)
    after = {e["id"]: e["wall"] for e in st.episodes(rid)}
    assert sorted(after) == sorted(kept)  # every episode once
    assert all(after[i] == kept[i] for i in kept if i not in gone)  # the others were not played again


async def test_a_model_object_cannot_go_to_workers(tmp_path: Path) -> None:
    from palaestra.models.mock import MockModel

    with pytest.raises(UsageError, match="model object"):
        await run(_expert(1), Store(tmp_path / "s.db"), model=MockModel([{"content": "hi"}]), workers=2)
    assert Store(tmp_path / "s.db").runs() == []


async def test_a_fatal_model_error_in_a_worker_stops_the_run(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as srv:
        config = RunConfig(
            envs=["guess"],
            agent="tools",
            model=f"openai:fake@{srv.base_url}/nothing/v1",
            tasks=6,
            concurrency=2,
        )
        st = Store(tmp_path / "s.db")
        with pytest.raises(RunStopped, match="404"):
            await run(config, st, workers=2)
    (rid,) = [r["id"] for r in st.runs()]
    assert st.run(rid)["status"] == "failed" and st.summary(rid)["episodes"] == 0  # all left for --resume


def _kill_one_worker(done: list[int]) -> Any:
    def on_episode(rec: EpisodeRecord, stats: RunStats) -> None:
        if not done:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid or 0, signal.SIGKILL)
            done.append(victim.pid or 0)

    return on_episode


@pytest.mark.slow
async def test_a_worker_killed_mid_run_costs_only_its_episodes_in_flight(tmp_path: Path) -> None:
    steps, n = 3, 24
    async with FakeOpenAIServer(latency=0.05) as srv:
        config = RunConfig(
            envs=["guess"],
            agent="tools",
            model=f"openai:fake@{srv.base_url}",
            tasks=n,
            max_steps=steps,
            difficulty=3,
            concurrency=8,
        )
        st = Store(tmp_path / "s.db")
        killed: list[int] = []
        rid = await run(config, st, workers=2, on_episode=_kill_one_worker(killed))
        requests = srv.stats()["requests"]
    assert killed and not any(p.pid == killed[0] for p in multiprocessing.active_children())
    eps = _episodes(st, rid)
    assert len(eps) == n and st.run(rid)["status"] == "finished"  # every episode, once
    assert all(status == "truncated" for status, *_ in eps.values())  # none lost, none an error
    stored_calls = st.summary(rid)["model_calls"]
    assert stored_calls == n * steps
    # what the dead worker had in flight was played again, and nothing else: at most the episodes
    # the parent had handed it (half the concurrency) cost their calls twice
    assert requests - stored_calls <= (config.concurrency or 0) * steps


async def test_feed_plays_a_lost_job_again_then_gives_up_on_it() -> None:
    class J:
        def __init__(self, i: str) -> None:
            self.id = i

    feed = Feed(iter([J("a"), J("b")]))
    a = await feed.next()
    assert a is not None and a.id == "a"
    assert feed.lost(a)  # back in front
    again = await feed.next()
    assert again is a
    for _ in range(MAX_LOSSES - 2):
        assert feed.lost(a)
        await feed.next()
    assert not feed.lost(a)  # lost too often: the caller records it as an error
    b = await feed.next()
    assert b is not None and b.id == "b" and await feed.next() is None


@pytest.fixture
def local_ray() -> Any:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _ray_worker_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::RayWorker"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


@pytest.mark.slow
async def test_ray_actors_play_the_run_and_a_killed_one_costs_only_its_episodes(
    tmp_path: Path, local_ray: Any
) -> None:
    st = Store(tmp_path / "s.db")
    here = await run(_expert(8), st)
    killed: list[int] = []

    def on_episode(rec: EpisodeRecord, stats: RunStats) -> None:
        if not killed and (pids := _ray_worker_pids()):
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    spread = await run(_expert(8), st, ray="auto", workers=2, on_episode=on_episode)
    assert killed
    assert _episodes(st, spread) == _episodes(st, here)
    assert st.run(spread)["status"] == "finished"


def test_cli_run_with_workers(tmp_path: Path) -> None:
    import json
    import subprocess

    from clitools import PALAESTRA

    db = tmp_path / "s.db"
    args = ["run", "guess", "--agent", "expert", "-n", "8", "--split", "train", "--workers", "2", "--json"]
    args += ["--store", str(db)]
    r = subprocess.run([*PALAESTRA, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (
        json.loads(r.stdout)["episodes"] == 8
        and Store(db).summary(Store(db).runs()[0]["id"])["episodes"] == 8
    )


def test_ray_option_takes_an_address_or_stands_alone() -> None:
    from palaestra.cli._common import _flag_defaults

    assert _flag_defaults(["run", "--ray", "maze"]) == ["run", "--ray", "", "maze"]
    assert _flag_defaults(["run", "maze", "--ray"]) == ["run", "maze", "--ray", ""]
    assert _flag_defaults(["run", "--ray", "10.0.0.5:6379", "maze"]) == [
        "run",
        "--ray",
        "10.0.0.5:6379",
        "maze",
    ]
    assert _flag_defaults(["run", "--ray", "auto"]) == ["run", "--ray", "auto"]
    assert _flag_defaults(["run", "--fail-on-error", "maze"]) == ["run", "--fail-on-error", "0", "maze"]


def test_auto_workers_suit_the_run() -> None:
    from palaestra.runner.workers import EPISODES_PER_WORKER, auto_workers, default_workers

    assert auto_workers(10, None) == 1  # a small run is not worth starting processes
    assert auto_workers(EPISODES_PER_WORKER * 1000, "openai:x") == default_workers()
    assert auto_workers(EPISODES_PER_WORKER * 1000, "local:some/dir") == 1  # one model copy


async def test_a_tournament_on_two_workers_plays_what_one_process_does(tmp_path: Path) -> None:
    from palaestra.runner.tournament import TournamentConfig, run_matches

    def config() -> TournamentConfig:
        players = ["bot:tit-for-tat", "bot:always-defect", "random"]
        return TournamentConfig(game="matrix-pd", players=players, rounds=3, format="swiss", concurrency=4)

    def results(rid: str) -> list[tuple[Any, ...]]:
        return [(m["id"], m["status"], str(m["result"])) for m in st.matches(rid)]

    st = Store(tmp_path / "s.db")
    here = await run_matches(config(), st)
    spread = await run_matches(config(), st, workers=2)
    assert results(spread) == results(here) and len(results(here)) == 3  # Swiss: round by round
    assert st.run(spread)["summary"]["players"] == st.run(here)["summary"]["players"]


async def test_many_episodes_in_flight_do_not_jam_the_pipes(tmp_path: Path) -> None:
    """Jobs going out while records come back, more of either than a pipe holds, on both pipes."""
    import asyncio

    st = Store(tmp_path / "s.db")
    config = RunConfig(envs=["maze"], agent="expert", split="train", tasks=300, concurrency=300)
    rid = await asyncio.wait_for(run(config, st, workers=2), 120)  # a jam would hang here
    assert st.summary(rid)["episodes"] == 300


def test_a_run_generates_its_tasks_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat however many episodes: the first episode does not wait for (or hold) them all."""
    from conftest import Counter
    from palaestra.runner.run import episode_specs

    made: list[int] = []
    generate = Counter.generate
    monkeypatch.setattr(Counter, "generate", lambda self, rng, d: made.append(1) or generate(self, rng, d))
    specs = episode_specs(RunConfig(envs=["counter"], tasks=1_000_000))
    first = next(specs)
    assert first.id.startswith("counter/") and len(made) < 100


@pytest.mark.slow
async def test_cancelling_a_run_on_workers_stops_them_and_resume_finishes_it(tmp_path: Path) -> None:
    import asyncio

    async with FakeOpenAIServer(latency=0.05) as srv:
        config = RunConfig(
            envs=["guess"],
            agent="tools",
            model=f"openai:fake@{srv.base_url}",
            tasks=40,
            max_steps=3,
            concurrency=8,
        )
        st = Store(tmp_path / "s.db")
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_episode(rec: EpisodeRecord, stats: RunStats) -> None:
            if not first.done():
                first.set_result(None)

        task = asyncio.create_task(run(config, st, workers=2, on_episode=on_episode))
        await first
        task.cancel()  # what Ctrl-C does under asyncio.run
        with pytest.raises(asyncio.CancelledError):
            await task
        assert multiprocessing.active_children() == []  # the workers are gone
        (rid,) = [r["id"] for r in st.runs()]
        kept = {e["id"] for e in st.episodes(rid)}
        assert st.run(rid)["status"] == "interrupted" and 0 < len(kept) < 40
        await run(config, st, run_id=rid, resume=True, workers=2)
    assert len(st.episodes(rid, limit=100)) == 40 and st.run(rid)["status"] == "finished"


async def test_the_key_reaches_the_workers_and_never_the_store(tmp_path: Path) -> None:
    from aiohttp import web

    key = "sk-only-at-runtime"

    class Keyed(FakeOpenAIServer):
        async def _chat(self, request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {key}":
                raise web.HTTPUnauthorized()
            return await super()._chat(request)

    async with Keyed() as srv:
        config = RunConfig(
            envs=["guess"],
            agent="tools",
            model=f"openai:fake@{srv.base_url}",
            tasks=4,
            max_steps=1,
            model_options={"api_key": key},
        )
        st = Store(tmp_path / "s.db")
        rid = await run(config, st, workers=2)
    assert st.summary(rid)["episodes"] == 4 and st.summary(rid)["errors"] == 0  # no 401 in a worker
    st.close()
    assert key.encode() not in (tmp_path / "s.db").read_bytes()


_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class _ProbeJob:
    id: str


class _Probe:
    """Reports, from inside a worker, its parent and what it sees of this module and the environment."""

    async def play(self, job: _ProbeJob) -> Outcome[dict[str, Any]]:
        seen = {"ppid": os.getppid(), "flag": _STATE.get("flag"), "env": os.environ.get("PALAESTRA_PROBE")}
        return Outcome(seen)

    def failed(self, job: _ProbeJob, reason: str) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        return None


def _probe(_: Any) -> _Probe:
    return _Probe()


async def _probe_workers(n: int) -> list[dict[str, Any]]:
    from palaestra.runner.workers import ProcessPool, Recipe

    pool: ProcessPool[_ProbeJob, dict[str, Any]] = ProcessPool(Recipe(_probe, None), n)
    await pool.start()
    try:
        outs = [await pool.play(_ProbeJob(f"j{i}")) for i in range(n)]
    finally:
        await pool.aclose()
    return [o.record for o in outs if o.record is not None]


async def test_workers_fork_from_a_fork_server_and_inherit_nothing_of_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from palaestra.runner.workers import worker_context

    assert worker_context().get_start_method() == "forkserver"  # Linux: a fork, not a fresh interpreter
    await _probe_workers(1)  # the fork server runs from here on
    monkeypatch.setitem(_STATE, "flag", "set in the run's process")
    monkeypatch.setenv("PALAESTRA_PROBE", "set after the fork server started")
    records = await _probe_workers(2)
    assert len(records) == 2
    for rec in records:
        assert rec["flag"] is None  # a clean process, not a fork of this one
        assert rec["ppid"] != os.getpid()  # forked by the fork server
        assert rec["env"] == "set after the fork server started"  # the environment as it is now
