import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from clitools import episodes_so_far as _count
from conftest import CRASH_STEP
from palaestra import RunConfig, Store, make, run

SLOW = [sys.executable, str(Path(__file__).with_name("slow_cli.py"))]


async def test_env_crash_is_an_error_episode_and_the_run_goes_on(store_path: Path) -> None:
    tasks = make("counter").tasks("test", 6)
    CRASH_STEP[tasks[2].id] = 1
    st = Store(store_path)
    rid = await run(RunConfig(envs=["counter"], agent="expert", tasks=6, concurrency=3), st)
    s = st.summary(rid)
    assert s["episodes"] == 6 and s["errors"] == 1 and s["success_rate"] == 5 / 6
    bad = [e for e in st.episodes(rid) if e["status"] == "error"]
    assert bad[0]["id"].endswith(tasks[2].id + "/0")
    assert "env crashed" in bad[0]["error"] and "Traceback" in bad[0]["error"]
    assert st.run(rid)["status"] == "finished"


async def test_step_limit_truncates_and_samples_multiply(store_path: Path) -> None:
    st = Store(store_path)
    rid = await run(RunConfig(envs=["guess"], agent="random", tasks=3, samples=2, max_steps=2), st)
    eps = st.episodes(rid)
    assert len(eps) == 6 and {e["sample"] for e in eps} == {0, 1}
    assert all(e["steps"] <= 2 for e in eps)
    assert {e["status"] for e in eps} <= {"truncated", "done"}


async def test_same_seed_same_run(store_path: Path) -> None:
    st = Store(store_path)
    cfg = RunConfig(envs=["guess", "maze"], agent="random", tasks=4, seed=7)
    a, b = await run(cfg, st), await run(cfg, st)
    ea = [(e["id"], e["reward"], e["steps"]) for e in st.episodes(a)]
    assert ea == [(e["id"], e["reward"], e["steps"]) for e in st.episodes(b)]
    steps = lambda r: [s["action"] for e in st.episodes(r) for s in st.episode(r, e["id"])["steps"]]  # noqa: E731
    assert steps(a) == steps(b)


async def test_wall_clock_timeout(store_path: Path) -> None:
    import slow_cli  # noqa: F401  (registers "slow")

    st = Store(store_path)
    rid = await run(RunConfig(envs=["slow"], agent="expert", tasks=2, timeout=0.08), st)
    eps = st.episodes(rid)
    assert {e["status"] for e in eps} == {"timeout"}
    assert "wall-clock limit" in eps[0]["error"]


def _start(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *SLOW,
            "run",
            "slow",
            "--agent",
            "expert",
            "-n",
            "40",
            "--concurrency",
            "4",
            "--store",
            str(db),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(db: Path, n: int, proc: subprocess.Popen[str], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while _count(db) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(0.02)


def test_kill_9_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    proc = _start(db)
    _wait_for(db, 8, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    kept = _count(db)
    assert 8 <= kept < 40
    rid = Store(db).latest_run_id()
    assert rid is not None
    done = subprocess.run(
        [*SLOW, "run", "--resume", rid, "--store", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["episodes"] == 40 and summary["success_rate"] == 1.0
    st = Store(db)
    ids = [e["id"] for e in st.episodes(rid)]
    assert len(ids) == len(set(ids)) == 40
    assert st.run(rid)["status"] == "finished"


def test_ctrl_c_stops_cleanly_and_keeps_finished_episodes(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    proc = _start(db)
    _wait_for(db, 4, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "interrupted" in stderr and "--resume" in stderr
    st = Store(db)
    rid = st.latest_run_id()
    assert rid is not None and st.run(rid)["status"] == "interrupted"
    assert 4 <= st.summary(rid)["episodes"] < 40


def test_resume_of_a_finished_run_runs_nothing(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    st = Store(db)
    rid = asyncio.run(run(RunConfig(envs=["guess"], agent="expert", tasks=3), st))
    asyncio.run(run(RunConfig(envs=["guess"], agent="expert", tasks=3), st, run_id=rid, resume=True))
    assert st.summary(rid)["episodes"] == 3
