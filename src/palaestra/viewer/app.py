"""The viewer's web app: a read-only JSON API over one store, and a static single-page front end.

Security model: the app serves exactly one store, opened read-only, and a fixed set of front-end
files read from the package at start-up. No URL is ever joined to a file-system path, so there is
nothing to traverse. Only GET and HEAD are answered. Bound to a loopback address (the default), it
also refuses requests whose ``Host`` is not a loopback name, so a web page cannot reach it through
DNS rebinding.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from palaestra.errors import UsageError
from palaestra.store.browse import EpisodeFilter, RunView, StoreBrowser
from palaestra.store.open import QueryTimeout

T = TypeVar("T")

MAX_LIMIT = 500
"""The largest page the API answers."""
EPISODE_STATUSES = ("done", "truncated", "timeout", "error")

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
STATIC_FILES: dict[str, str] = {
    "index.html": "text/html",
    "app.css": "text/css",
    "app.js": "text/javascript",
    "dom.js": "text/javascript",
    "episode.js": "text/javascript",
    "trace.js": "text/javascript",
    "views.js": "text/javascript",
}
"""The whole front end. A request for any other name is a 404."""

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}

DB = web.AppKey("db", StoreBrowser)
ASSETS = web.AppKey("assets", dict[str, tuple[bytes, str]])


def _load_assets() -> dict[str, tuple[bytes, str]]:
    root = resources.files("palaestra.viewer").joinpath("static")
    assets = {}
    for name, ctype in STATIC_FILES.items():
        try:
            assets[name] = (root.joinpath(name).read_bytes(), ctype)
        except FileNotFoundError:
            raise UsageError(
                f"the viewer's front end ({name}) is missing from the installed palaestra package; reinstall it"
            ) from None
    return assets


# ---- errors and parameters ---------------------------------------------------------------------
def _error(cls: type[web.HTTPException], message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": message}), content_type="application/json")


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _error(web.HTTPBadRequest, f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _error(web.HTTPBadRequest, f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _str(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value if value else None


def _bool(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name, "").lower()
    if raw in ("", "any"):
        return None
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise _error(web.HTTPBadRequest, f"{name} must be 1 or 0, got {raw!r}")


def _filter(request: web.Request) -> EpisodeFilter:
    return EpisodeFilter(
        env=_str(request, "env"),
        status=_str(request, "status"),
        success=_bool(request, "success"),
        model=request.query.get("model"),  # "" is a real value: episodes played without a model
    )


def _json(data: Any) -> web.Response:
    return web.json_response(data, dumps=lambda o: json.dumps(o, separators=(",", ":")))


async def _read(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one read on a worker thread, so the event loop never waits on SQLite."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except QueryTimeout as e:
        raise _error(web.HTTPServiceUnavailable, str(e)) from None


async def _need_run(request: web.Request, run_id: str) -> RunView:
    run = await _read(request, request.app[DB].run, run_id)
    if run is None:
        raise _error(web.HTTPNotFound, f"no run {run_id!r} in this store")
    return run


# ---- handlers ----------------------------------------------------------------------------------
async def index(request: web.Request) -> web.Response:
    return _asset(request, "index.html")


async def static(request: web.Request) -> web.Response:
    return _asset(request, request.match_info["name"])


def _asset(request: web.Request, name: str) -> web.Response:
    found = request.app[ASSETS].get(name)  # a lookup in a fixed table, never a path on disk
    if found is None:
        raise _error(web.HTTPNotFound, "not found")
    body, ctype = found
    return web.Response(body=body, content_type=ctype, charset="utf-8", headers={"Cache-Control": "no-cache"})


async def api_info(request: web.Request) -> web.Response:
    return _json({"store": request.app[DB].path.name, "statuses": list(EPISODE_STATUSES)})


async def api_runs(request: web.Request) -> web.Response:
    db = request.app[DB]
    page = await _read(
        request,
        db.runs,
        env=_str(request, "env"),
        status=_str(request, "status"),
        model=_str(request, "model"),
        limit=_int(request, "limit", 100, 1, MAX_LIMIT),
        offset=_int(request, "offset", 0, 0, 10**9),
    )
    return _json(page.as_dict())


async def api_run(request: web.Request) -> web.Response:
    return _json((await _need_run(request, request.match_info["run_id"])).as_dict())


async def api_episodes(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    flt = _filter(request)
    limit = _int(request, "limit", 50, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0, 0, 10**9)
    after, before = _str(request, "after"), _str(request, "before")
    if after and before:
        raise _error(web.HTTPBadRequest, "pass after or before, not both")
    await _need_run(request, run_id)
    db = request.app[DB]
    page = await _read(
        request, db.episodes, run_id, flt, limit=limit, after=after, before=before, offset=offset
    )
    return _json(page.as_dict())


async def api_count(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    flt = _filter(request)
    await _need_run(request, run_id)
    return _json({"count": await _read(request, request.app[DB].count, run_id, flt)})


async def api_episode(request: web.Request) -> web.Response:
    run_id, episode_id = request.match_info["run_id"], request.match_info["episode_id"]
    ep = await _read(
        request,
        request.app[DB].episode,
        run_id,
        episode_id,
        steps_offset=_int(request, "steps_offset", 0, 0, 10**9),
        steps_limit=_int(request, "steps_limit", 100, 1, 1000),
    )
    if ep is None:
        await _need_run(request, run_id)
        raise _error(web.HTTPNotFound, f"no episode {episode_id!r} in run {run_id!r}")
    return _json(ep.as_dict())


def _pair(request: web.Request) -> tuple[str, str]:
    a, b = _str(request, "a"), _str(request, "b")
    if not a or not b:
        raise _error(web.HTTPBadRequest, "pass two runs: ?a=RUN&b=RUN")
    return a, b


async def api_compare(request: web.Request) -> web.Response:
    a, b = _pair(request)
    after_env, after_task = _str(request, "after_env"), _str(request, "after_task")
    after = (after_env, after_task) if after_env is not None and after_task is not None else None
    limit = _int(request, "limit", 50, 1, MAX_LIMIT)
    differ = bool(_bool(request, "differ"))
    runs = [await _need_run(request, a), await _need_run(request, b)]
    db = request.app[DB]
    page = await _read(
        request,
        db.shared_tasks,
        a,
        b,
        limit=limit,
        after=after,
        env=_str(request, "env"),
        differ=differ,
        drive_from_b=runs[1].brief.episodes < runs[0].brief.episodes,
    )
    return _json(page.as_dict() | {"runs": {"a": _brief(runs[0]), "b": _brief(runs[1])}})


def _brief(run: RunView) -> dict[str, Any]:
    b = run.brief
    return {
        "id": b.id,
        "status": b.status,
        "envs": b.envs,
        "agent": b.agent,
        "model": b.model,
        "episodes": b.episodes,
        "success_rate": b.success_rate,
    }


async def api_compare_task(request: web.Request) -> web.Response:
    a, b = _pair(request)
    task = request.match_info["task"]
    env = _str(request, "env")
    sample = _int(request, "sample", 0, 0, 10**6)
    steps_limit = _int(request, "steps_limit", 200, 1, 1000)
    db = request.app[DB]
    out: dict[str, Any] = {"task_id": task, "env": env, "sample": sample}
    for key, run_id in (("a", a), ("b", b)):
        run = await _need_run(request, run_id)
        episodes = await _read(request, db.task_episodes, run_id, task, env)
        chosen = next((e for e in episodes if e.sample == sample), episodes[0] if episodes else None)
        detail = (
            await _read(request, db.episode, run_id, chosen.id, steps_limit=steps_limit) if chosen else None
        )
        out[key] = {
            "run": _brief(run),
            "episodes": [e.as_dict() for e in episodes],
            "episode": detail.as_dict() if detail else None,
        }
    if not out["a"]["episodes"] and not out["b"]["episodes"]:
        raise _error(web.HTTPNotFound, f"neither run has task {task!r}")
    return _json(out)


# ---- middlewares -------------------------------------------------------------------------------
def _guard(
    allowed_hosts: frozenset[str] | None,
) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.method not in ("GET", "HEAD"):
                raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"], text="read-only viewer")
            if allowed_hosts is not None and (request.url.host or "").strip("[]") not in allowed_hosts:
                raise web.HTTPMisdirectedRequest(text="unexpected Host header")
            response = await handler(request)
        except web.HTTPException as e:  # answered as a plain response (returning one is deprecated)
            text, ctype = e.text or "", e.content_type
            if request.path.startswith("/api/") and ctype != "application/json":
                text, ctype = json.dumps({"error": e.reason}), "application/json"
            allow = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
            response = web.Response(status=e.status, text=text, content_type=ctype, headers=allow)
        response.headers.update(_HEADERS)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return guard


def create_app(
    store_path: str | Path,
    *,
    allowed_hosts: Iterable[str] | None = LOOPBACK,
    query_timeout: float = 10.0,
) -> web.Application:
    """The viewer app for one store (opened read-only; refused with a one-line error if unusable).

    ``allowed_hosts``: host names accepted in the ``Host`` header (``None`` accepts any).
    """
    db = StoreBrowser(store_path, query_timeout=query_timeout)
    app = web.Application(
        middlewares=[_guard(frozenset(allowed_hosts) if allowed_hosts is not None else None)]
    )
    app[DB] = db
    app[ASSETS] = _load_assets()
    r = app.router
    r.add_get("/", index)
    r.add_get("/static/{name}", static)
    r.add_get("/api/info", api_info)
    r.add_get("/api/runs", api_runs)
    r.add_get("/api/runs/{run_id}", api_run)
    r.add_get("/api/runs/{run_id}/episodes", api_episodes)
    r.add_get("/api/runs/{run_id}/count", api_count)
    r.add_get("/api/runs/{run_id}/episodes/{episode_id:.+}", api_episode)
    r.add_get("/api/compare", api_compare)
    r.add_get("/api/compare/{task:.+}", api_compare_task)

    async def close(app: web.Application) -> None:
        app[DB].close()

    app.on_cleanup.append(close)
    return app
