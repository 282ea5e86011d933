"""The store never leaves a user guessing: concurrent creation, a full disk, private files, and
every reading command on a store it may not write."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clitools import PALAESTRA, stderr_lines
from palaestra import RunConfig, Store, run
from palaestra.errors import StoreError
from palaestra.store.schema import SCHEMA_VERSION


def test_concurrent_creation_of_a_new_store_never_fails(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for i in range(40):
        path = tmp_path / f"s{i}.db"
        gate = threading.Barrier(4)

        def open_it(path: Path = path, gate: threading.Barrier = gate) -> None:
            gate.wait()
            try:
                Store(path).close()
            except BaseException as e:  # collected, asserted below
                errors.append(e)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert Store(tmp_path / "s0.db").con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_full_disk_is_reported_as_such_and_loses_nothing_committed(store_path: Path) -> None:
    st = Store(store_path)
    first = await run(RunConfig(envs=["counter"], agent="expert", tasks=3), st)
    pages = st.con.execute("PRAGMA page_count").fetchone()[0]
    st.con.execute(f"PRAGMA max_page_count={pages + 2}")  # a disk with room for a few episodes
    with pytest.raises(StoreError, match=r"^disk full while writing episode .* everything stored before"):
        await run(RunConfig(envs=["counter"], agent="expert", tasks=200, concurrency=1), st)
    st.close()
    st = Store(store_path)
    assert len(st.episodes(first)) == 3 and st.run(first)["status"] == "finished"
    (second,) = [r["id"] for r in st.runs() if r["id"] != first]
    kept = len(st.episodes(second))
    assert 0 < kept < 200
    for ep in st.episodes(second):  # each committed episode is whole
        assert len(st.episode(second, ep["id"])["steps"]) == ep["steps"]


def test_a_full_disk_through_the_cli_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    script = (
        "import sqlite3\n"
        "real = sqlite3.connect\n"
        "def small(*a, **k):\n"
        "    con = real(*a, **k)\n"
        "    con.execute('PRAGMA max_page_count=40')\n"
        "    return con\n"
        "sqlite3.connect = small  # every store connection, wherever it is opened\n"
        "from palaestra.cli import main\n"
        "main()\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "run",
            "guess",
            "--agent",
            "expert",
            "-n",
            "500",
            "--json",
            "--store",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0
    lines = stderr_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: disk full while writing"), r.stderr
    assert "Traceback" not in r.stderr and "cannot rollback" not in r.stderr


def test_new_stores_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        st = Store(tmp_path / "s.db")
        st.create_run("r", {})
        files = [tmp_path / n for n in ("s.db", "s.db-wal", "s.db-shm")]
        assert all(f.exists() for f in files)
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
        st.close()
    finally:
        os.umask(old)
    shared = tmp_path / "shared.db"
    shared.touch(mode=0o644)
    Store(shared).close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644  # an existing file keeps its mode


def _read_only_runner(directory: Path) -> list[str] | None:
    """A command prefix that runs a command with ``directory`` really read-only (writes refused even
    for root), or None where this machine offers no way to."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return []
    if shutil.which("unshare") is None:
        return None
    prefix = [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && exec "$@"',
        str(directory),
        "-",
    ]
    probe = directory / "probe"
    check = f'touch "{probe}" 2>/dev/null; if [ -e "{probe}" ]; then echo writable; else echo read-only; fi'
    r = subprocess.run([*prefix, "sh", "-c", check], capture_output=True, text=True, timeout=30)
    return prefix if r.stdout.strip() == "read-only" and not probe.exists() else None


def test_reading_commands_work_on_a_read_only_store_and_write_nothing(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    db = ro / "s.db"
    st = Store(db)
    import asyncio

    rid = asyncio.run(run(RunConfig(envs=["guess"], agent="random", tasks=2), st))
    episode = st.episodes(rid)[0]["id"]
    st.close()
    assert sorted(p.name for p in ro.iterdir()) == ["s.db"]  # WAL files gone: the hard case
    db.chmod(0o444)
    prefix = _read_only_runner(ro)
    if prefix is None:
        pytest.skip("no way to make a directory read-only for root here (no unshare/mount)")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    viewer = f"from palaestra.viewer.db import ViewerDB; print(ViewerDB({str(db)!r}).run({rid!r}).brief.id)"
    commands = [
        [*PALAESTRA, "runs", "--store", str(db)],
        [*PALAESTRA, "show", rid, "--store", str(db)],
        [*PALAESTRA, "show", rid, "--episode", episode, "--store", str(db)],
        [*PALAESTRA, "stats", rid, "--store", str(db)],
        [*PALAESTRA, "report", rid, "-o", str(out / "r.html"), "--store", str(db)],
        [*PALAESTRA, "export", rid, "--format", "raw", "--out", str(out / "e.jsonl"), "--store", str(db)],
        [sys.executable, "-c", viewer],
    ]
    try:
        for cmd in commands:
            r = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, (cmd, r.stderr)
            assert r.stdout.strip(), (cmd, r.stderr)
    finally:
        ro.chmod(0o755)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in ro.iterdir()) == ["s.db"]
    assert (out / "r.html").exists() and (out / "e.jsonl").exists()


def test_an_unstorable_match_is_stored_as_an_error(tmp_path: Path) -> None:
    from palaestra.records import MatchRecord, SeatRecord, StepRecord
    from palaestra.types import Message, Task

    st = Store(tmp_path / "s.db")
    st.create_run("r", {"kind": "match"})
    task = Task(env="matrix-pd", id="t1", split="test", seed=1)
    step = StepRecord(0, [Message(role="user", content="cut \ud83d")], Message(role="assistant"), 0.0, {})
    seats = {
        "a": SeatRecord(seat="a", player="bot:x", steps=[step]),
        "b": SeatRecord(seat="b", player="bot:y", final=[Message(role="user", content="\udc00")]),
    }
    st.write_match("r", MatchRecord(id="m1", task=task, seats=seats, result={"deep": _deep(5000)}))
    m = st.match("r", "m1")
    assert m["status"] == "error" and "match could not be stored" in m["error"] and m["steps"] == []
    assert [s["seat"] for s in m["seats"]] == ["a", "b"]


def _deep(n: int) -> list[object]:
    value: list[object] = []
    for _ in range(n):
        value = [value]
    return value
