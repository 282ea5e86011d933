"""The viewer's HTTP API over a store of real runs: filters, pagination, episodes, comparison,
404s, and its security: only this store, only GET, no path traversal, never a write."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from clitools import stderr_lines
from palaestra import Message, RunConfig, Store, StoreError, Task, ToolCall, run
from palaestra.records import EpisodeRecord, StepRecord
from palaestra.viewer import create_app
from palaestra.viewer.app import STATIC_FILES

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
EVIL_RUN = "evil run &?#%"
EVIL_EPISODE = "guess/ev?il#%2F<b>x</b>/0"


@dataclass
class Built:
    path: Path
    expert: str
    random: str
    samples: str
    many: str
    evil: str = EVIL_RUN


def _evil_record() -> EpisodeRecord:
    task = Task(env="guess", id="<b>task</b>?#", split="test", difficulty=1, seed=0, params={"x": PAYLOAD})
    call = ToolCall(id="c1", name="<img src=x onerror=window.__xss=3>", arguments={"k": PAYLOAD})
    return EpisodeRecord(
        id=EVIL_EPISODE,
        task=task,
        agent="<i>agent</i>",
        model="<script>window.__xss=4</script>",
        status="done",
        reward=1.0,
        success=True,
        progress=1.0,
        steps=[
            StepRecord(
                index=0,
                observation=[
                    Message(role="system", content=PAYLOAD),
                    Message(role="user", content="<b>hi</b>"),
                ],
                action=Message(role="assistant", content="</pre>" + PAYLOAD, tool_calls=[call]),
                reward=1.0,
                info={"progress": 1.0, "success": True, "note": PAYLOAD},
            )
        ],
        final=[Message(role="tool", content=PAYLOAD, tool_call_id="c1", name="<u>x</u>")],
        error=None,
    )


LONG_EPISODE = "guess/long/0"
LONG_STEPS = 130


def _long_record() -> EpisodeRecord:
    """An episode longer than one page of steps."""
    task = Task(env="guess", id="long", split="test", difficulty=1, seed=0)
    steps = [
        StepRecord(
            index=i,
            observation=[Message(role="user", content=f"turn {i}")],
            action=Message(role="assistant", content=f"reply {i}"),
            reward=0.0,
            info={"progress": i / LONG_STEPS},
        )
        for i in range(LONG_STEPS)
    ]
    return EpisodeRecord(
        id=LONG_EPISODE, task=task, agent="<i>agent</i>", model="m", status="truncated", steps=steps
    )


def build_store(path: Path) -> Built:
    """Runs of the expert and random agents on guess and maze (plus a run with hostile text)."""
    st = Store(path)

    async def go() -> Built:
        expert = await run(RunConfig(envs=["guess", "maze"], agent="expert", tasks=4), st)
        rnd = await run(RunConfig(envs=["guess", "maze"], agent="random", tasks=4, max_steps=6), st)
        samples = await run(RunConfig(envs=["guess"], agent="random", tasks=2, samples=2, max_steps=4), st)
        many = await run(RunConfig(envs=["guess"], agent="expert", tasks=30, samples=2), st)
        return Built(path, expert, rnd, samples, many)

    built = asyncio.run(go())
    st.create_run(EVIL_RUN, {"envs": ["guess"], "agent": "<i>agent</i>", "model": PAYLOAD})
    st.write_episode(EVIL_RUN, _evil_record())
    st.write_episode(EVIL_RUN, _long_record())
    st.set_run_status(EVIL_RUN, "finished", st.summary(EVIL_RUN))
    st.close()
    return built


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_store(tmp_path_factory.mktemp("viewer") / "palaestra.db")


@pytest.fixture(scope="module")
def truth(store: Built) -> Store:
    """The Store's own readers, on a copy (the viewer's file must stay untouched)."""
    copy = store.path.with_name("truth.db")
    src = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    return Store(copy)


@pytest.fixture
async def client(store: Built) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(store.path))) as c:
        yield c


async def get(client: TestClient[Any, Any], path: str, **params: Any) -> tuple[int, Any]:
    r = await client.get(URL(path, encoded=True), params={k: str(v) for k, v in params.items()})
    body = await r.read()
    ctype = r.headers.get("Content-Type", "")
    return r.status, json.loads(body) if ctype.startswith("application/json") else body


def q(s: str) -> str:
    return quote(s, safe="")


# ---- runs and episodes ---------------------------------------------------------------------------
async def test_runs_list_and_filters(client: TestClient[Any, Any], store: Built) -> None:
    status, data = await get(client, "/api/runs")
    assert status == 200
    by_id = {r["id"]: r for r in data["items"]}
    assert set(by_id) == {store.expert, store.random, store.samples, store.many, EVIL_RUN}
    assert by_id[store.expert]["success_rate"] == 1.0 and by_id[store.expert]["episodes"] == 8
    assert by_id[store.expert]["envs"] == ["guess", "maze"] and by_id[store.random]["agent"] == "random"
    _, data = await get(client, "/api/runs", env="maze")
    assert {r["id"] for r in data["items"]} == {store.expert, store.random}
    _, data = await get(client, "/api/runs", model="random")  # matches the agent too
    assert {r["id"] for r in data["items"]} == {store.random, store.samples}
    _, data = await get(client, "/api/runs", status="running")
    assert data["items"] == []
    _, page1 = await get(client, "/api/runs", limit=2)
    _, page2 = await get(client, "/api/runs", limit=2, offset=2)
    assert page1["has_more"] and len(page1["items"]) == 2
    assert not {r["id"] for r in page1["items"]} & {r["id"] for r in page2["items"]}


async def test_run_summary(client: TestClient[Any, Any], store: Built) -> None:
    status, data = await get(client, f"/api/runs/{store.random}")
    assert status == 200 and data["id"] == store.random and data["config"]["max_steps"] == 6
    assert set(data["summary"]["envs"]) == {"guess", "maze"} and data["summary"]["episodes"] == 8


async def test_a_running_run_is_summarised_live(tmp_path: Path) -> None:
    st = Store(tmp_path / "live.db")
    st.create_run("live", {"envs": ["guess"], "agent": "random"})
    st.write_episode("live", _long_record())  # still "running": its stored summary is empty
    st.close()
    async with TestClient(TestServer(create_app(tmp_path / "live.db"))) as c:
        _, runs = await get(c, "/api/runs")
        assert runs["items"][0]["status"] == "running" and runs["items"][0]["episodes"] == 1
        _, info = await get(c, "/api/runs/live")
        assert info["summary"]["episodes"] == 1 and info["summary"]["envs"]["guess"]["success_rate"] == 0


@pytest.mark.parametrize(
    "flt",
    [
        {},
        {"env": "maze"},
        {"env": "guess", "success": "0"},
        {"success": "1"},
        {"status": "truncated"},
        {"status": "done", "env": "maze"},
        {"model": ""},
        {"model": "nope"},
    ],
)
async def test_episode_filters_match_the_store(
    client: TestClient[Any, Any], store: Built, truth: Store, flt: dict[str, str]
) -> None:
    rid = store.random
    expected = [
        e["id"]
        for e in truth.episodes(rid)
        if all(
            str(e[k] if k != "success" else int(e[k])) == v if k != "model" else e["model"] == v
            for k, v in flt.items()
        )
    ]
    status, data = await get(client, f"/api/runs/{rid}/episodes", **flt)
    assert status == 200
    assert [e["id"] for e in data["items"]] == sorted(expected)
    _, c = await get(client, f"/api/runs/{rid}/count", **flt)
    assert c["count"] == len(expected)
    for e in data["items"]:
        for k, v in flt.items():
            assert str(int(e[k]) if k == "success" else e[k]) == v


async def test_keyset_pages_cover_the_run_once(
    client: TestClient[Any, Any], store: Built, truth: Store
) -> None:
    rid = store.many
    everything = sorted(e["id"] for e in truth.episodes(rid))
    assert len(everything) == 60
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 7}
    pages = []
    while True:
        _, page = await get(client, f"/api/runs/{rid}/episodes", **params)
        pages.append(page)
        seen += [e["id"] for e in page["items"]]
        if page["next"] is None:
            break
        params = {"limit": 7, "after": page["next"]}
    assert seen == everything and len(pages) == 9 and pages[0]["prev"] is None
    # and backwards from the last page, with before=
    back: list[str] = []
    params = {"limit": 7, "before": pages[-1]["prev"]}
    while True:
        _, page = await get(client, f"/api/runs/{rid}/episodes", **params)
        back = [e["id"] for e in page["items"]] + back
        if page["prev"] is None:
            break
        params = {"limit": 7, "before": page["prev"]}
    assert back + [e["id"] for e in pages[-1]["items"]] == everything
    _, page = await get(client, f"/api/runs/{rid}/episodes", limit=5, offset=20)
    assert [e["id"] for e in page["items"]] == everything[20:25]


async def test_episode_turn_by_turn(client: TestClient[Any, Any], store: Built, truth: Store) -> None:
    rid = store.expert
    eid = next(e["id"] for e in truth.episodes(rid, env="maze"))
    assert "/" in eid
    status, ep = await get(client, f"/api/runs/{q(rid)}/episodes/{q(eid)}")
    assert status == 200 and ep["id"] == eid and ep["success"] == 1
    want = truth.episode(rid, eid)
    assert ep["steps_total"] == len(want["steps"]) == len(ep["steps"]) > 1
    assert [s["observation"] for s in ep["steps"]] == [s["observation"] for s in want["steps"]]
    assert [s["action"] for s in ep["steps"]] == [s["action"] for s in want["steps"]]
    first = ep["steps"][0]
    assert [m["role"] for m in first["observation"]] == ["system", "user"]
    assert first["action"]["tool_calls"][0]["name"] == "move" and first["tools"]
    assert "progress" in first["info"] and ep["final"] == want["final"]
    # steps come in pages too
    _, part = await get(client, f"/api/runs/{q(rid)}/episodes/{q(eid)}", steps_offset=2, steps_limit=3)
    assert [s["index"] for s in part["steps"]] == [2, 3, 4] and part["steps_total"] == ep["steps_total"]
    _, long = await get(client, f"/api/runs/{q(EVIL_RUN)}/episodes/{q(LONG_EPISODE)}")
    assert long["steps_total"] == LONG_STEPS and len(long["steps"]) == 100  # the default page
    _, rest = await get(client, f"/api/runs/{q(EVIL_RUN)}/episodes/{q(LONG_EPISODE)}", steps_offset=100)
    assert [s["index"] for s in rest["steps"]] == list(range(100, LONG_STEPS))


async def test_hostile_text_comes_back_verbatim_as_json(client: TestClient[Any, Any]) -> None:
    r = await client.get(URL(f"/api/runs/{q(EVIL_RUN)}/episodes/{q(EVIL_EPISODE)}", encoded=True))
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    ep = await r.json()
    assert ep["id"] == EVIL_EPISODE and ep["steps"][0]["observation"][0]["content"] == PAYLOAD
    _, page = await get(client, f"/api/runs/{q(EVIL_RUN)}/episodes")
    assert [e["id"] for e in page["items"]] == sorted([EVIL_EPISODE, LONG_EPISODE])


# ---- comparison ----------------------------------------------------------------------------------
async def test_compare_lists_shared_tasks_with_both_results(
    client: TestClient[Any, Any], store: Built, truth: Store
) -> None:
    a, b = store.expert, store.random
    ea = {(e["env"], e["task_id"]): e for e in truth.episodes(a)}
    eb = {(e["env"], e["task_id"]): e for e in truth.episodes(b)}
    shared = sorted(ea.keys() & eb.keys())
    assert shared
    status, data = await get(client, "/api/compare", a=a, b=b)
    assert status == 200 and data["runs"]["a"]["id"] == a and data["runs"]["b"]["id"] == b
    assert [(t["env"], t["task_id"]) for t in data["items"]] == shared
    for t in data["items"]:
        key = (t["env"], t["task_id"])
        assert t["a"]["success"] == ea[key]["success"] and t["b"]["success"] == eb[key]["success"]
        assert t["a"]["reward"] == ea[key]["reward"] and t["b"]["reward"] == eb[key]["reward"]
    _, differ = await get(client, "/api/compare", a=a, b=b, differ=1)
    assert [(t["env"], t["task_id"]) for t in differ["items"]] == [
        k for k in shared if (ea[k]["success"], ea[k]["reward"]) != (eb[k]["success"], eb[k]["reward"])
    ]
    # pages by keyset on (env, task)
    seen, params = [], {"a": a, "b": b, "limit": 3}
    while True:
        _, page = await get(client, "/api/compare", **params)
        seen += [(t["env"], t["task_id"]) for t in page["items"]]
        if not page["next"]:
            break
        params.update(after_env=page["next"]["env"], after_task=page["next"]["task"])
    assert seen == shared


async def test_compare_driven_from_the_smaller_run(client: TestClient[Any, Any], store: Built) -> None:
    # `samples` (2 tasks x 2 samples) is smaller than `many` (30 tasks x 2): the sides must not swap
    for a, b in ((store.many, store.samples), (store.samples, store.many)):
        _, data = await get(client, "/api/compare", a=a, b=b)
        assert len(data["items"]) == 2
        for t in data["items"]:
            assert t["a"]["success"] == (2 if a == store.many else t["a"]["success"])
            assert t["b"]["success"] == (2 if b == store.many else t["b"]["success"])
            assert t["a"]["n"] == t["b"]["n"] == 2


async def test_compare_one_task_side_by_side(client: TestClient[Any, Any], store: Built) -> None:
    _, data = await get(client, "/api/compare", a=store.many, b=store.samples)
    t = data["items"][0]
    status, pair = await get(
        client, f"/api/compare/{q(t['task_id'])}", a=store.many, b=store.samples, env=t["env"], sample=1
    )
    assert status == 200
    for side in ("a", "b"):
        assert len(pair[side]["episodes"]) == 2
        assert pair[side]["episode"]["sample"] == 1 and pair[side]["episode"]["task_id"] == t["task_id"]
        assert pair[side]["episode"]["steps"]
    assert pair["a"]["episode"]["success"] == 1


# ---- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/no-such-run",
        "/api/runs/no-such-run/episodes",
        "/api/runs/no-such-run/count",
        "/api/runs/no-such-run/episodes/guess%2Fx%2F0",
        "/api/compare?a=no-such-run&b=no-such-run",
        "/api/nope",
    ],
)
async def test_unknown_things_are_404(client: TestClient[Any, Any], path: str) -> None:
    r = await client.get(URL(path, encoded=True))
    assert r.status == 404 and "error" in await r.json()


async def test_unknown_episode_and_task_are_404(client: TestClient[Any, Any], store: Built) -> None:
    status, data = await get(client, f"/api/runs/{store.expert}/episodes/{q('guess/none/0')}")
    assert status == 404 and "no episode 'guess/none/0'" in data["error"]
    status, _ = await get(client, f"/api/compare/{q('none')}", a=store.expert, b=store.random)
    assert status == 404
    status, _ = await get(client, "/api/compare", a=store.expert, b="nope")
    assert status == 404


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "100000"},
        {"limit": "x"},
        {"offset": "-1"},
        {"success": "maybe"},
        {"after": "a", "before": "b"},
    ],
)
async def test_bad_parameters_are_400(
    client: TestClient[Any, Any], store: Built, params: dict[str, str]
) -> None:
    status, data = await get(client, f"/api/runs/{store.expert}/episodes", **params)
    assert status == 400 and data["error"]


# ---- security ------------------------------------------------------------------------------------
async def _raw(port: int, target: str, method: str = "GET", host: str = "127.0.0.1") -> tuple[int, bytes]:
    """One request exactly as written: no client-side normalisation of '..' or '//'."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


TRAVERSALS = [
    "/static/../../etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/%252e%252e%252fetc%252fpasswd",
    "/static/..%5c..%5capp.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "//etc/passwd",
    "/etc/passwd",
    "/../../../../etc/passwd",
    "/static/app.py",
    "/static/db.py",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/app.js%00.py",
    "/static/",
    "/static",
    "/api/runs/..%2f..",
    "/api/runs/..%2f..%2f..%2fetc%2fpasswd/episodes",
    "/api/runs/x/episodes/..%2f..%2f..%2fetc%2fpasswd",
    "/api/compare/..%2f..%2fetc%2fpasswd?a=x&b=y",
    "http://127.0.0.1/etc/passwd",
]


async def test_path_traversal_and_arbitrary_files_are_refused(store: Built) -> None:
    secret = (Path(__file__).parent.parent / "src/palaestra/viewer/app.py").read_bytes()[:200]
    async with TestServer(create_app(store.path)) as server:
        for target in [*TRAVERSALS, "/api/runs/" + quote(str(store.path), safe="")]:
            status, body = await _raw(server.port, target)
            assert status in (400, 404), (target, status)
            assert b"root:" not in body and secret not in body and b"SQLite format" not in body, target
        status, body = await _raw(server.port, "/static/app.js")
        assert status == 200 and b"route" in body


async def test_only_the_whitelisted_front_end_is_served(client: TestClient[Any, Any]) -> None:
    for name, ctype in STATIC_FILES.items():
        r = await client.get(f"/static/{name}")
        assert r.status == 200 and r.headers["Content-Type"].startswith(ctype), name
        text = await r.text()
        # offline: no CDN, no external font, no absolute URL to anywhere
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
        assert "innerHTML" not in text and "outerHTML" not in text and "insertAdjacentHTML" not in text
        assert "document.write" not in text and "eval(" not in text
    index = await (await client.get("/")).text()
    for ref in re.findall(r'(?:src|href)="(/[^"]*)"', index):
        assert ref.removeprefix("/static/") in STATIC_FILES, ref
    for name in STATIC_FILES:
        if name.endswith(".js"):
            js = await (await client.get(f"/static/{name}")).text()
            for imp in re.findall(r'from "\./([^"]+)"', js):
                assert imp in STATIC_FILES, (name, imp)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
async def test_only_get_is_answered(store: Built, method: str) -> None:
    async with TestServer(create_app(store.path)) as server:
        for target in ("/", "/api/runs", f"/api/runs/{store.expert}", "/static/app.js", "/nope"):
            status, _ = await _raw(server.port, target, method)
            assert status == 405, (method, target, status)


async def test_head_and_security_headers(client: TestClient[Any, Any]) -> None:
    r = await client.head("/")
    assert r.status == 200
    r = await client.get("/api/runs")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"


async def test_foreign_host_header_is_refused(store: Built) -> None:
    # a page on another site reaching 127.0.0.1 through DNS rebinding names its own host
    async with TestServer(create_app(store.path)) as server:
        assert (await _raw(server.port, "/api/runs", host="attacker.example"))[0] == 421
        assert (await _raw(server.port, "/api/runs", host="localhost"))[0] == 200


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_the_store_is_never_written(store: Built) -> None:
    before, mtime = _sha(store.path), store.path.stat().st_mtime_ns
    app = create_app(store.path)
    async with TestClient(TestServer(app)) as c:
        for path in (
            "/",
            "/api/runs",
            f"/api/runs/{store.expert}",
            f"/api/runs/{store.expert}/episodes?env=maze&success=1",
            f"/api/runs/{store.expert}/count?status=done",
            f"/api/runs/{q(EVIL_RUN)}/episodes/{q(EVIL_EPISODE)}",
            f"/api/compare?a={store.expert}&b={store.random}&differ=1",
        ):
            assert (await c.get(URL(path, encoded=True))).status == 200
        for method in ("POST", "PUT", "DELETE"):
            assert (await c.request(method, "/api/runs")).status == 405
        from palaestra.viewer.app import DB

        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            app[DB].read(lambda con: con.execute("DELETE FROM runs"))
    assert _sha(store.path) == before and store.path.stat().st_mtime_ns == mtime


def test_a_long_query_is_interrupted_not_left_running(store: Built) -> None:
    from palaestra.viewer.db import QueryTimeout, ViewerDB

    db = ViewerDB(store.path, query_timeout=0.05)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(QueryTimeout):
        db.read(lambda con: con.execute(endless).fetchone())
    assert db.read(lambda con: con.execute("SELECT count(*) FROM runs").fetchone()[0]) == 5  # still usable
    db.close()


# ---- refusing stores, and the command ------------------------------------------------------------
def test_unusable_stores_are_refused_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "text.db").write_text("hello")
    (tmp_path / "empty.db").touch()
    con = sqlite3.connect(tmp_path / "other.db")
    con.execute("CREATE TABLE t(x)")
    con.close()
    cases = {
        tmp_path / "missing.db": "does not exist",
        tmp_path: "is a directory",
        tmp_path / "text.db": "not a SQLite database",
        tmp_path / "empty.db": "is empty",
        tmp_path / "other.db": "another application",
    }
    for path, message in cases.items():
        with pytest.raises(StoreError, match=message) as e:
            create_app(path)
        assert "\n" not in str(e.value)
    assert not (tmp_path / "missing.db").exists()


PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]


def test_view_command_refuses_a_missing_store(tmp_path: Path) -> None:
    r = subprocess.run(
        [*PALAESTRA, "view", "--store", str(tmp_path / "nope.db"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = stderr_lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1 and "does not exist" in lines[0], r.stderr
    assert not (tmp_path / "nope.db").exists()


def test_view_command_serves_until_ctrl_c(store: Built) -> None:
    proc = subprocess.Popen(
        [*PALAESTRA, "view", "--store", str(store.path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/api/runs", timeout=10) as resp:
            assert store.expert in {r["id"] for r in json.load(resp)["items"]}
        busy = subprocess.run(
            [*PALAESTRA, "view", "--store", str(store.path), "--port", m.group(1)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert busy.returncode == 2 and "port is in use" in busy.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
