"""Read-only queries over a Palaestra store, for the viewer.

The store is opened with SQLite's ``mode=ro`` and ``PRAGMA query_only``: the viewer can never write a
byte to the database, even while a run is writing to it (WAL lets readers and the one writer work
side by side). Every query is short: lists are paginated by keyset over the primary key
``(run_id, id)``, so the first page and the ten-thousandth cost the same, and a query that runs past
its time limit is interrupted rather than left to block a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from palaestra._hints import command_line
from palaestra.errors import StoreError
from palaestra.runner.settings import shown
from palaestra.store.open import check_file, connect_read_only

T = TypeVar("T")

MAX_LIMIT = 500
EPISODE_STATUSES = ("done", "truncated", "timeout", "error")

LIST_COLS = (
    "id, env, task_id, split, difficulty, sample, agent, model, status, reward, success, progress, steps, "
    "invalid_actions, input_tokens, output_tokens, model_calls, model_latency, cost, wall, "
    "substr(error, 1, 300) AS error"
)
_DETAIL_COLS = LIST_COLS.replace("substr(error, 1, 300) AS error", "error") + ", task, final, finished"


class QueryTimeout(Exception):
    """A query ran past the viewer's time limit and was interrupted."""


def open_check(path: Path) -> dict[str, set[str]]:
    """Refuse, with the Store's one-line errors, anything but an existing Palaestra store.

    Returns the columns of each table, so the viewer reads older schemas too (it cannot migrate a
    store it only reads; the columns added later, such as a match's ``result``, are then absent).
    """
    if not path.exists():
        raise StoreError(f"store {path} does not exist; pass an existing store with --store")
    check_file(path)  # a directory, a foreign or corrupt file, a newer schema
    if path.stat().st_size == 0:
        raise StoreError(
            f"store {path} is empty; record a run first with `{command_line('run', 'ENV', store=path)}`"
        )
    con = connect_read_only(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {t: {r[1] for r in con.execute(f"PRAGMA table_info({t!r})")} for t in tables}
    except sqlite3.DatabaseError as e:
        raise StoreError(f"store {path} is unreadable ({e}); it was not touched") from None
    finally:
        con.close()
    if not {"runs", "episodes", "steps", "model_calls"} <= columns.keys():
        raise StoreError(f"store {path} is not a Palaestra store (it has no runs); it was not touched")
    return columns


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


@dataclass(frozen=True, slots=True)
class EpisodeFilter:
    env: str | None = None
    status: str | None = None
    success: bool | None = None
    model: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        where, args = [], []
        for col in ("env", "status", "model"):
            val = getattr(self, col)
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        if self.success is not None:
            where.append("success=?")
            args.append(int(self.success))
        return "".join(f" AND {w}" for w in where), args


class ViewerDB:
    """A small pool of read-only connections; each method is one short, synchronous read."""

    def __init__(self, path: str | Path, *, query_timeout: float = 10.0) -> None:
        self.path = Path(path)
        columns = open_check(self.path)
        self.has_result = "result" in columns["episodes"]  # schema 2: multi-agent matches
        self.has_seats = "seats" in columns and "seat" in columns["model_calls"]
        self.query_timeout = query_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    # ---- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = connect_read_only(self.path)  # also in a read-only directory
        con.execute("PRAGMA busy_timeout=2000")
        return con

    @contextmanager
    def _con(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = self._idle.pop() if self._idle else None
        if con is None:
            con = self._connect()
        deadline = time.monotonic() + self.query_timeout
        con.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield con
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e):
                raise QueryTimeout(f"query ran past {self.query_timeout:.0f}s") from None
            raise
        finally:
            con.set_progress_handler(None, 0)
            with self._lock:
                if self._closed:
                    con.close()
                else:
                    self._idle.append(con)

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._con() as con:
            return fn(con)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()

    @staticmethod
    def as_dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    # ---- runs --------------------------------------------------------------------------------
    def runs(
        self,
        *,
        env: str | None = None,
        status: str | None = None,
        model: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Runs, newest first, with their episode counts and success rates."""

        def q(con: sqlite3.Connection) -> dict[str, Any]:
            where, args = [], []
            if env:
                where.append("EXISTS (SELECT 1 FROM json_each(config, '$.envs') WHERE value=?)")
                args.append(env)
            if status:
                where.append("status=?")
                args.append(status)
            if model:
                where.append("(json_extract(config, '$.model')=? OR json_extract(config, '$.agent')=?)")
                args += [model, model]
            sql = "SELECT id, created, updated, status, config, summary FROM runs"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY created DESC, id LIMIT ? OFFSET ?"
            rows = con.execute(sql, [*args, limit + 1, offset]).fetchall()
            items = [self._run_row(con, r) for r in rows[:limit]]
            return {"items": items, "has_more": len(rows) > limit, "offset": offset, "limit": limit}

        return self.read(q)

    def _run_row(self, con: sqlite3.Connection, r: tuple[Any, ...]) -> dict[str, Any]:
        config = _loads(r[4]) or {}
        summary = _loads(r[5])
        if r[3] == "running" or not summary:  # a live (or killed) run: its stored summary is stale
            n, errors = con.execute(
                "SELECT count(*), coalesce(sum(status IN ('error','timeout')), 0) FROM episodes WHERE run_id=?",
                (r[0],),
            ).fetchone()
            success_rate = None
        else:
            n = summary.get("episodes", 0)
            errors = summary.get("errors", 0) + summary.get("timeouts", 0)
            success_rate = summary.get("success_rate")
        return {
            "id": r[0],
            "created": r[1],
            "updated": r[2],
            "status": r[3],
            "envs": config.get("envs", []),
            "agent": config.get("agent", ""),
            "model": config.get("model") or "",
            "split": config.get("split", ""),
            "episodes": n,
            "success_rate": success_rate,
            "errors": errors,
        }

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run with its config and per-environment summary (computed live for a running run)."""

        def q(con: sqlite3.Connection) -> dict[str, Any] | None:
            row = con.execute(
                "SELECT id, created, updated, status, config, summary FROM runs WHERE id=?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            out = self._run_row(con, row)
            out["config"] = shown(_loads(row[4]) or {})
            summary = _loads(row[5])
            if row[3] == "running" or not summary:
                summary = self._live_summary(con, run_id)
                out["success_rate"] = summary["success_rate"]
            out["summary"] = summary
            return out

        return self.read(q)

    @staticmethod
    def _live_summary(con: sqlite3.Connection, run_id: str) -> dict[str, Any]:
        envs: dict[str, Any] = {}
        for r in con.execute(
            "SELECT env, count(*), avg(success), avg(reward), avg(progress), sum(status='error'), "
            "sum(status='timeout') FROM episodes WHERE run_id=? GROUP BY env ORDER BY env",
            (run_id,),
        ):
            envs[r[0]] = {
                "episodes": r[1],
                "success_rate": r[2],
                "mean_reward": r[3],
                "mean_progress": r[4],
                "errors": r[5],
                "timeouts": r[6],
            }
        n = sum(e["episodes"] for e in envs.values())
        return {
            "episodes": n,
            "success_rate": sum(e["success_rate"] * e["episodes"] for e in envs.values()) / n if n else 0.0,
            "errors": sum(e["errors"] for e in envs.values()),
            "timeouts": sum(e["timeouts"] for e in envs.values()),
            "envs": envs,
        }

    # ---- episodes ----------------------------------------------------------------------------
    def episodes(
        self,
        run_id: str,
        flt: EpisodeFilter,
        *,
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of a run's episodes in id order.

        ``after``/``before`` (an episode id) page by keyset: any page costs the same as the first.
        ``offset`` is accepted too, for jumps, at the cost of skipping rows.
        """
        cond, args = flt.sql()

        def q(con: sqlite3.Connection) -> dict[str, Any]:
            sql = f"SELECT {LIST_COLS} FROM episodes WHERE run_id=?{cond}"
            params: list[Any] = [run_id, *args]
            if before is not None:
                sql += " AND id<? ORDER BY id DESC LIMIT ?"
                params += [before, limit + 1]
            else:
                if after is not None:
                    sql += " AND id>?"
                    params.append(after)
                sql += " ORDER BY id LIMIT ? OFFSET ?"
                params += [limit + 1, offset]
            items = self.as_dicts(con.execute(sql, params))
            more = len(items) > limit
            items = items[:limit]
            if before is not None:
                items.reverse()
                has_prev, has_next = more, True
            else:
                has_prev, has_next = after is not None or offset > 0, more
            return {
                "items": items,
                "limit": limit,
                "next": items[-1]["id"] if has_next and items else None,
                "prev": items[0]["id"] if has_prev and items else None,
            }

        return self.read(q)

    def count(self, run_id: str, flt: EpisodeFilter) -> int:
        cond, args = flt.sql()
        return int(
            self.read(
                lambda con: con.execute(
                    f"SELECT count(*) FROM episodes WHERE run_id=?{cond}", [run_id, *args]
                ).fetchone()[0]
            )
        )

    def episode(
        self, run_id: str, episode_id: str, *, steps_offset: int = 0, steps_limit: int = 100
    ) -> dict[str, Any] | None:
        """One episode with a page of its steps (``steps_total`` says how many there are)."""

        def q(con: sqlite3.Connection) -> dict[str, Any] | None:
            rows = self.as_dicts(
                con.execute(
                    f"SELECT {_DETAIL_COLS}{', result' if self.has_result else ''} FROM episodes "
                    "WHERE run_id=? AND id=?",
                    (run_id, episode_id),
                )
            )
            if not rows:
                return None
            ep = rows[0]
            ep["run_id"] = run_id
            ep["task"] = _loads(ep["task"])
            ep["final"] = _loads(ep["final"]) or []
            ep["result"] = _loads(ep.get("result"))
            ep["seats"] = []
            if self.has_seats and ep["result"] is not None:
                ep["seats"] = self.as_dicts(
                    con.execute(
                        "SELECT seat, player, model, score, won, forfeit, steps, invalid_actions, model_calls, "
                        "input_tokens, output_tokens FROM seats WHERE run_id=? AND episode_id=? ORDER BY idx",
                        (run_id, episode_id),
                    )
                )
            key = (run_id, episode_id)
            ep["steps_total"] = con.execute(
                "SELECT count(*) FROM steps WHERE run_id=? AND episode_id=?", key
            ).fetchone()[0]
            ep["steps_offset"] = steps_offset
            ep["steps"] = [
                {
                    "index": r[0],
                    "seat": r[1],
                    "observation": _loads(r[2]) or [],
                    "action": _loads(r[3]),
                    "reward": r[4],
                    "info": _loads(r[5]) or {},
                    "tools": _loads(r[6]),
                }
                for r in con.execute(
                    "SELECT idx, seat, observation, action, reward, info, tools FROM steps "
                    "WHERE run_id=? AND episode_id=? ORDER BY seat, idx LIMIT ? OFFSET ?",
                    (*key, steps_limit, steps_offset),
                )
            ]
            ep["calls"] = self.as_dicts(
                con.execute(
                    "SELECT idx, input_tokens, output_tokens, latency, retries, cost, finish_reason, error"
                    f"{', seat' if self.has_seats else ''} "
                    "FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx LIMIT 1000",
                    key,
                )
            )
            return ep

        return self.read(q)
