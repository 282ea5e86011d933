"""The CLI's runs end to end against the fake OpenAI-compatible server: no credential reaches the
store, bad input leaves no run behind, a dead model fails the command (early, when it is fatal),
hints paste as printed, files are not overwritten silently, bad numbers are refused in one line."""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from clitools import PALAESTRA, episodes_so_far, stderr_lines
from palaestra import Store
from palaestra.testing.fake_server import FakeOpenAIServer
from palaestra.viewer.app import create_app

KEY = "sk-test-Zq7vX2-never-stored"


def cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*PALAESTRA, *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def paste(line: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a hint exactly as the CLI printed it (``palaestra ...``, shell-quoted)."""
    args = shlex.split(line)
    assert args[0] == "palaestra", line
    return cli(*args[1:], **kw)


def told(stderr: str) -> list[str]:
    """What stderr says besides the progress bar's last state (``run ID ... 0/5``)."""
    return [line for line in stderr_lines(stderr) if not line.startswith("run ")]


class Switch:
    """The fake server's replies: echo, or an HTTP error for every call (``status``), or for the first
    ``fail_first`` calls only."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.fail_first = 0
        self.calls = 0

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.status is not None and (not self.fail_first or self.calls <= self.fail_first):
            raise _http_error(self.status)
        return {"content": "thinking"}


def _http_error(status: int) -> web.HTTPException:
    return {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound}[status]()


@pytest.fixture
def server() -> Iterator[tuple[FakeOpenAIServer, Switch]]:
    switch = Switch()
    srv = FakeOpenAIServer(switch, max_seconds=300).start_in_thread()
    try:
        yield srv, switch
    finally:
        srv.stop()


def _model(srv: FakeOpenAIServer) -> str:
    return f"openai:fake@{srv.base_url}"


def run_on(
    srv: FakeOpenAIServer, db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``palaestra run guess`` with the fake server's model."""
    return cli("run", "guess", "--model", _model(srv), *args, "--store", str(db), env=env)


def _runs(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    with Store(db, create=False) as st:
        return st.runs()


# ---- 1. credentials never enter the store ---------------------------------------------------------


async def test_the_api_key_is_nowhere_in_the_store_nor_served(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch]
) -> None:
    srv, _ = server
    db = tmp_path / "s.db"
    Store(db).close()
    keep_wal = sqlite3.connect(db)  # a second connection: the writers' -wal file stays to be read
    keep_wal.execute("SELECT count(*) FROM runs").fetchone()
    m = _model(srv)
    commands = [
        ["run", "guess", "--model", m, "-n", "1", "--max-steps", "2"],
        ["eval", "quick", "--env", "guess", "--model", m, "-n", "1", "--max-steps", "2"],
        ["match", "matrix-pd", "--seat", f"0=tools:{m}", "--max-rounds", "2"],
        ["tournament", "matrix-pd", "--players", f"tools:{m}", "bot:tit-for-tat", "--max-rounds", "2"],
    ]
    for args in commands:
        r = cli(*args, "--api-key", KEY, "--store", str(db))
        assert r.returncode == 0, (args, r.stderr)
    wal = db.with_name(db.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    for f in (db, wal):
        assert KEY.encode() not in f.read_bytes(), f
    listed = cli("runs", "--json", "--store", str(db))
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 4
    assert KEY not in listed.stdout
    ids = [r["id"] for r in json.loads(listed.stdout)]
    async with TestClient(TestServer(create_app(db))) as c:
        runs = await c.get("/api/runs")
        assert runs.status == 200 and KEY not in await runs.text()
        for rid in ids:
            one = await c.get(f"/api/runs/{rid}")
            assert one.status == 200 and KEY not in await one.text()
    keep_wal.close()


async def test_a_key_an_older_version_stored_is_not_shown(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store(db) as st:
        st.create_run("old-run", {"envs": ["guess"], "model_options": {"api_key": KEY, "base_url": "u"}})
    for args in (["runs", "--json"], ["show", "old-run", "--json"]):
        r = cli(*args, "--store", str(db))
        assert r.returncode == 0 and KEY not in r.stdout and '"base_url": "u"' in r.stdout, r.stderr
    async with TestClient(TestServer(create_app(db))) as c:
        one = await c.get("/api/runs/old-run")
        assert one.status == 200 and KEY not in await one.text()
    wal = db.with_name(db.name + "-wal")

    def stored() -> bytes:
        return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    assert KEY.encode() in stored()
    gone = cli("rm", "old-run", "--yes", "--store", str(db))  # and rm takes it out of the file's bytes
    assert gone.returncode == 0, gone.stderr
    assert KEY.encode() not in stored()


# ---- 2. bad input leaves no run; rm ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "guess", "--model", "nope:x"], "unknown model provider 'nope'"),
        (["run", "guess", "--model", "openai"], "needs a model name"),
        (["run", "guess", "--model", "local:/no/such/model"], "no local model at"),
        (["run", "guess", "--difficulty", "7"], "guess has no difficulty 7"),
        (["run", "nope"], "unknown environment 'nope'"),
        (["run", "guess", "--agent", "nope"], "unknown agent 'nope'"),
        (["run", "auction"], "multi-agent game"),
        (["eval", "quick", "--env", "guess", "--model", "nope:x"], "unknown model provider"),
        (["match", "matrix-pd", "--seat", "0=tools:nope:x"], "unknown model provider 'nope'"),
        (["match", "matrix-pd", "--difficulty", "7"], "no difficulty 7"),
        (["tournament", "matrix-pd", "--players", "tools:openai", "random"], "needs a model name"),
    ],
)
def test_bad_input_leaves_no_run_behind(tmp_path: Path, args: list[str], message: str) -> None:
    refused(tmp_path, args, message)


def refused(tmp_path: Path, args: list[str], message: str) -> None:
    """``args`` exit 2 with one line saying ``message``, and the store has no run."""
    db = tmp_path / "s.db"
    r = cli(*args, "--store", str(db))
    assert r.returncode == 2, r.stderr
    lines = stderr_lines(r.stderr)
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert _runs(db) == []


def _count(db: Path, table: str, run_id: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table} WHERE run_id=?", (run_id,)).fetchone()[0])
    finally:
        con.close()


def test_rm_deletes_runs_with_everything_of_theirs_after_confirmation(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    for _ in range(2):
        assert cli("run", "guess", "--agent", "random", "-n", "2", "--store", str(db)).returncode == 0
    with Store(db) as st:
        st.create_run("empty-run", {"envs": ["guess"]})
    keep, gone = [r["id"] for r in _runs(db) if r["id"] != "empty-run"]
    assert _count(db, "steps", gone) > 0

    no = cli("rm", gone, "--store", str(db), input="n\n")
    assert no.returncode == 1 and f"delete 1 run ({gone}) with 2 episodes" in no.stderr
    assert len(_runs(db)) == 3

    yes = cli("rm", gone, "--store", str(db), input="y\n")
    assert yes.returncode == 0, yes.stderr
    assert f"deleted 1 run ({gone})" in yes.stdout
    assert {r["id"] for r in _runs(db)} == {keep, "empty-run"}
    for table in ("episodes", "steps", "model_calls"):
        assert _count(db, table, gone) == 0

    pruned = cli("rm", "--empty", "--yes", "--store", str(db))
    assert pruned.returncode == 0 and "deleted 1 run (empty-run)" in pruned.stdout
    assert [r["id"] for r in _runs(db)] == [keep]
    assert _count(db, "episodes", keep) == 2

    unknown = cli("rm", "no-such-run", "--yes", "--store", str(db))
    assert unknown.returncode == 2 and "no run 'no-such-run'" in unknown.stderr
    assert [r["id"] for r in _runs(db)] == [keep]


# ---- 3. a dead model fails the command; a fatal one stops the run early -----------------------------


def test_a_fatal_model_error_stops_the_run_and_the_pasted_hint_finishes_it(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch]
) -> None:
    srv, switch = server
    db = tmp_path / "my store.db"
    switch.status = 401
    r = run_on(srv, db, "-n", "5", "--concurrency", "1", "--max-steps", "2")
    assert r.returncode == 1, r.stderr
    lines = told(r.stderr)
    assert len(lines) == 1 and "stopped" in lines[0] and "HTTP 401" in lines[0], r.stderr
    assert switch.calls == 1  # not one failing call per episode
    (run,) = _runs(db)
    assert run["episodes"] == 0 and run["status"] == "failed"

    switch.status = None  # the key is fixed
    hint = lines[0].split("finish with: ", 1)[1]
    assert hint == shlex.join(["palaestra", "run", "--resume", run["id"], "--store", str(db)])
    done = paste(hint)
    assert done.returncode == 0, done.stderr
    (run,) = _runs(db)
    assert run["episodes"] == 5 and run["status"] == "finished" and run["errors"] == 0


class KeyedServer(FakeOpenAIServer):
    """Answers only requests that carry ``Bearer KEY``; 401 otherwise, as a hosted API does."""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            raise web.HTTPUnauthorized()
        return await super()._chat(request)


def test_resume_takes_the_key_again_from_the_flag_or_the_environment(tmp_path: Path) -> None:
    srv = KeyedServer(max_seconds=300).start_in_thread()
    try:
        db = tmp_path / "s.db"
        wrong = run_on(srv, db, "-n", "4", "--concurrency", "1", "--max-steps", "1", "--api-key", "sk-old")
        assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr, wrong.stderr
        assert "(and --api-key again)" in wrong.stderr and "sk-old" not in wrong.stderr
        (run,) = _runs(db)
        half = cli("run", "--resume", run["id"], "--api-key", KEY, "--store", str(db))
        assert half.returncode == 0, half.stderr
        assert _runs(db)[0]["episodes"] == 4
        assert KEY.encode() not in db.read_bytes()

        db2 = tmp_path / "s2.db"
        assert (
            run_on(srv, db2, "-n", "2", "--max-steps", "1", env={"OPENAI_API_KEY": "sk-old"}).returncode == 1
        )
        (run,) = _runs(db2)
        done = cli("run", "--resume", run["id"], "--store", str(db2), env={"OPENAI_API_KEY": KEY})
        assert done.returncode == 0, done.stderr
        assert _runs(db2)[0]["episodes"] == 2
    finally:
        srv.stop()


def test_a_fatal_model_error_stops_a_match_run(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch]
) -> None:
    srv, switch = server
    db = tmp_path / "s.db"
    switch.status = 404
    seat = f"0=tools:{_model(srv)}"
    r = cli("match", "matrix-pd", "--seat", seat, "-n", "4", "--concurrency", "1", "--store", str(db))
    assert r.returncode == 1, r.stderr
    lines = told(r.stderr)
    assert len(lines) == 1 and "HTTP 404" in lines[0] and "palaestra match --resume" in lines[0], r.stderr
    assert switch.calls == 1
    (run,) = _runs(db)
    assert run["episodes"] == 0


def test_every_episode_failing_on_the_model_fails_the_command(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch]
) -> None:
    srv, switch = server
    switch.status = 400  # not retried, not fatal: each episode ends on its ModelError
    db = tmp_path / "s.db"
    r = cli(
        "run", "guess", "--model", _model(srv), "-n", "3", "--max-steps", "2", "--json", "--store", str(db)
    )
    assert r.returncode == 1, r.stderr
    lines = told(r.stderr)
    assert len(lines) == 1 and "all 3 episodes" in lines[0] and "model errors" in lines[0], r.stderr
    assert switch.calls == 3


def test_every_model_seat_failing_on_the_model_fails_a_match_run(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch]
) -> None:
    srv, switch = server
    switch.status = 400
    db = tmp_path / "s.db"
    seat = f"0=tools:{_model(srv)}"
    r = cli("match", "matrix-pd", "--seat", seat, "-n", "2", "--json", "--store", str(db))
    assert r.returncode == 1, r.stderr
    lines = told(r.stderr)
    assert len(lines) == 1 and "every model seat" in lines[0] and "HTTP 400" in lines[0], r.stderr
    switch.status = None
    ok = cli(
        "match", "matrix-pd", "--seat", seat, "-n", "2", "--max-rounds", "2", "--json", "--store", str(db)
    )
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("flag", "code"),
    [([], 0), (["--fail-on-error"], 1), (["--fail-on-error", "0.5"], 0), (["--fail-on-error=0.4"], 1)],
)
def test_fail_on_error_rate(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch], flag: list[str], code: int
) -> None:
    srv, switch = server
    switch.status, switch.fail_first = 400, 1  # the first episode errors, the second does not
    db = tmp_path / "s.db"
    r = run_on(srv, db, "-n", "2", "--concurrency", "1", "--max-steps", "1", *flag)
    assert r.returncode == code, r.stderr
    (run,) = _runs(db)
    assert run["episodes"] == 2 and run["errors"] == 1
    if code:
        lines = told(r.stderr)
        assert len(lines) == 1 and "more than --fail-on-error" in lines[0], r.stderr


@pytest.mark.parametrize(
    ("flag", "code"),
    [([], 0), (["--fail-on-error"], 1), (["--fail-on-error", "0.5"], 0), (["--fail-on-error=0.4"], 1)],
)
def test_fail_on_error_rate_of_a_match_run(
    tmp_path: Path, server: tuple[FakeOpenAIServer, Switch], flag: list[str], code: int
) -> None:
    srv, switch = server
    switch.status, switch.fail_first = 400, 1  # the first match's model seat fails on the server
    db = tmp_path / "s.db"
    seat = f"0=tools:{_model(srv)}"
    r = cli("match", "matrix-pd", "--seat", seat, "-n", "2", "--concurrency", "1", "--store", str(db), *flag)
    assert r.returncode == code, r.stderr
    (run,) = _runs(db)
    assert run["episodes"] == 2 and run["errors"] == 1
    if code:
        assert "1 of 2 matches of run" in r.stderr and "more than --fail-on-error" in r.stderr, r.stderr


# ---- 4. hints paste as printed ---------------------------------------------------------------------


def test_the_show_hints_paste_as_printed(tmp_path: Path) -> None:
    db = tmp_path / "a dir" / "s.db"
    db.parent.mkdir()
    r = cli("run", "guess", "--agent", "random", "-n", "2", "--store", str(db))
    assert r.returncode == 0, r.stderr
    hint = r.stdout.split("see `", 1)[1].split("`", 1)[0]
    shown = paste(hint)
    assert shown.returncode == 0 and "guess/" in shown.stdout, shown.stderr
    e = cli("eval", "quick", "--env", "guess", "--agent", "random", "-n", "2", "--store", str(db))
    assert e.returncode == 0, e.stderr
    one = e.stdout.split("see one with `", 1)[1].split("`", 1)[0]
    episode = _runs(db)[0]["id"]
    with Store(db, create=False) as st:
        eid = st.episodes(episode)[0]["id"]
    shown = paste(one.replace(" ID", f" {shlex.quote(eid)}"))
    assert shown.returncode == 0 and "status=" in shown.stdout, shown.stderr


def test_the_report_hint_for_a_match_run_pastes_as_printed(tmp_path: Path) -> None:
    db = tmp_path / "a dir" / "s.db"
    db.parent.mkdir()
    assert cli("run", "guess", "--agent", "expert", "-n", "2", "--store", str(db)).returncode == 0
    assert cli("match", "matrix-pd", "--max-rounds", "2", "--store", str(db)).returncode == 0
    match_id, run_id = (r["id"] for r in _runs(db))
    out = tmp_path / "r.html"
    r = cli("report", run_id, match_id, "--out", str(out), "--store", str(db))
    assert r.returncode == 0, r.stderr
    shown = paste(r.stderr.split("see `", 1)[1].split("`", 1)[0])
    assert shown.returncode == 0 and "matrix-pd" in shown.stdout, shown.stderr


def test_the_ctrl_c_hint_pastes_as_printed(tmp_path: Path) -> None:
    import signal
    import time

    slow = [sys.executable, str(Path(__file__).with_name("slow_cli.py"))]  # registers env "slow"
    db = tmp_path / "a dir" / "c.db"
    db.parent.mkdir()
    proc = subprocess.Popen(
        [*slow, "run", "slow", "--agent", "expert", "-n", "40", "--concurrency", "2", "--store", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while episodes_so_far(db) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    hint = stderr.split("finish with: ", 1)[1].splitlines()[0]
    args = shlex.split(hint)
    assert args[0] == "palaestra" and "--store" in args, hint
    done = subprocess.run([*slow, *args[1:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (run,) = _runs(db)
    assert run["episodes"] == 40 and run["status"] == "finished"


def test_resuming_with_the_wrong_command_names_the_right_one(tmp_path: Path) -> None:
    db = tmp_path / "a dir" / "s.db"
    db.parent.mkdir()
    r = cli("match", "matrix-pd", "--max-rounds", "2", "--store", str(db))
    assert r.returncode == 0, r.stderr
    (run,) = _runs(db)
    wrong = cli("run", "--resume", run["id"], "--store", str(db))
    assert wrong.returncode == 2
    right = paste(stderr_lines(wrong.stderr)[0].split("resume it with: ", 1)[1])
    assert right.returncode == 0, right.stderr
    back = cli("match", "--resume", run["id"], "--store", str(db))  # and the other way round
    assert back.returncode == 0, back.stderr


# ---- 5. export and report do not overwrite silently ------------------------------------------------


@pytest.mark.parametrize("command", [["export", "--out"], ["report", "--out"]])
def test_export_and_report_refuse_an_existing_file(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "s.db"
    assert cli("run", "guess", "--agent", "expert", "-n", "2", "--store", str(db)).returncode == 0
    out = tmp_path / ("out.jsonl" if command[0] == "export" else "out.html")
    out.write_text("precious\n")
    r = cli(command[0], "last", command[1], str(out), "--store", str(db))
    assert r.returncode == 2, r.stderr
    lines = stderr_lines(r.stderr)
    assert len(lines) == 1 and "--overwrite" in lines[0], r.stderr
    assert out.read_text() == "precious\n"
    r = cli(command[0], "last", command[1], str(out), "--overwrite", "--store", str(db))
    assert r.returncode == 0, r.stderr
    assert out.read_text() != "precious\n"


# ---- 6. numbers out of bounds are refused in one line ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "guess", "--timeout", "-1"], "--timeout must be greater than 0, got -1"),
        (["run", "guess", "--temperature", "-1"], "--temperature must be at least 0, got -1"),
        (["run", "guess", "--max-steps", "0"], "--max-steps must be at least 1, got 0"),
        (["run", "guess", "--samples", "0"], "--samples must be at least 1, got 0"),
        (["run", "guess", "--max-tokens", "0"], "--max-tokens must be at least 1, got 0"),
        (["run", "guess", "--concurrency", "0"], "--concurrency must be at least 1, got 0"),
        (["eval", "quick", "--temperature", "-0.5"], "--temperature must be at least 0, got -0.5"),
        (["match", "matrix-pd", "--max-rounds", "0"], "--max-rounds must be at least 1, got 0"),
        (["match", "matrix-pd", "--move-timeout", "-1"], "--move-timeout must be greater than 0"),
        (["tournament", "matrix-pd", "-p", "random", "bot:tit-for-tat", "--rounds", "0"], "--rounds must be"),
        (["run", "guess", "--fail-on-error", "2"], "--fail-on-error takes a share"),
    ],
)
def test_out_of_bounds_numbers_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    refused(tmp_path, args, message)


def test_top_p_is_bounded_in_the_typed_config() -> None:
    from palaestra import RunConfig
    from palaestra.errors import UsageError

    with pytest.raises(UsageError, match="--top-p must be at most 1, got 2"):
        RunConfig(envs=["guess"], generate={"top_p": 2})
