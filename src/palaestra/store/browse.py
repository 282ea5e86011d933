"""Browsing a store read-only, page by page: the viewer's reads.

The store is opened with SQLite's ``mode=ro`` and ``PRAGMA query_only``: a ``StoreBrowser`` can never
write a byte to the database, even while a run is writing to it (WAL lets readers and the one writer
work side by side). Every query is short: lists are paginated by keyset over the primary key
``(run_id, id)``, so the first page and the ten-thousandth cost the same, and a query that runs past
its time limit is interrupted (:class:`~palaestra.store.open.QueryTimeout`) rather than left to
block a worker thread. Two runs are compared task by task through the ``(env, task_id)`` index.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaestra.runner.settings import shown
from palaestra.store.open import ReadOnlyPool
from palaestra.store.rows import EPISODE_COLS

LIST_COLS = EPISODE_COLS.removesuffix(", error") + ", substr(error, 1, 300) AS error"
_DETAIL_COLS = EPISODE_COLS + ", task, final, finished"


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


class StoreBrowser(ReadOnlyPool):
    """Pages of a store's runs and episodes over a pool of read-only connections; each method is
    one short, synchronous read."""

    def __init__(self, path: str | Path, *, query_timeout: float = 10.0) -> None:
        super().__init__(path, query_timeout=query_timeout)
        self.has_result = "result" in self.columns["episodes"]  # schema 2: multi-agent matches
        self.has_seats = "seats" in self.columns and "seat" in self.columns["model_calls"]
        self.has_trace = "trace" in self.columns["steps"]  # schema 4: strategies' traces

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
                    "trace": _loads(r[7]),
                }
                for r in con.execute(
                    f"SELECT idx, seat, observation, action, reward, info, tools, "
                    f"{'trace' if self.has_trace else 'NULL'} FROM steps "
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

    # ---- two runs, task by task --------------------------------------------------------------
    def shared_tasks(
        self,
        a: str,
        b: str,
        *,
        limit: int = 50,
        after: tuple[str, str] | None = None,
        env: str | None = None,
        differ: bool = False,
        drive_from_b: bool = False,
    ) -> dict[str, Any]:
        """Tasks that both runs played, in (env, task) order, with each run's results on them.

        One run drives: its episodes are walked through the ``(env, task_id)`` index from the keyset
        cursor, and the other run's results on each task are looked up through the same index, so a
        page costs a few index probes per task, not a scan of either run. The smaller run should
        drive (``drive_from_b``): the walk then ends soonest when the runs share few tasks.
        """
        drive, other = (b, a) if drive_from_b else (a, b)
        other_side = (
            "(SELECT json_array(count(*), sum(f.success), avg(f.reward), avg(f.progress), min(f.id)) "
            "FROM episodes f WHERE f.env=e.env AND f.task_id=e.task_id AND f.run_id=:other)"
        )
        cond = " AND (e.env, e.task_id) > (:after_env, :after_task)" if after is not None else ""
        if env:
            cond += " AND e.env=:env"
        having = f"json_extract({other_side}, '$[0]') > 0"
        if differ:
            having += (
                f" AND (sum(e.success) * json_extract({other_side}, '$[0]') "
                f"!= json_extract({other_side}, '$[1]') * count(*) "
                f"OR abs(avg(e.reward) - json_extract({other_side}, '$[2]')) > 1e-9)"
            )
        # "+e.run_id" keeps the planner off the primary key, so it walks episodes_env in order
        # (no sort, no scan of the whole run) and stops at the LIMIT.
        sql = (
            "SELECT e.env, e.task_id, count(*), sum(e.success), avg(e.reward), avg(e.progress), min(e.id), "
            f"{other_side} FROM episodes e WHERE +e.run_id=:drive{cond} "
            f"GROUP BY e.env, e.task_id HAVING {having} ORDER BY e.env, e.task_id LIMIT :limit"
        )
        params = {
            "drive": drive,
            "other": other,
            "after_env": after[0] if after else None,
            "after_task": after[1] if after else None,
            "env": env,
            "limit": limit + 1,
        }

        def q(con: sqlite3.Connection) -> dict[str, Any]:
            rows = con.execute(sql, params).fetchall()
            items = []
            for r in rows[:limit]:
                mine = {"n": r[2], "success": r[3], "reward": r[4], "progress": r[5], "episode": r[6]}
                o = json.loads(r[7])
                theirs = {"n": o[0], "success": o[1], "reward": o[2], "progress": o[3], "episode": o[4]}
                a_side, b_side = (theirs, mine) if drive_from_b else (mine, theirs)
                items.append({"env": r[0], "task_id": r[1], "a": a_side, "b": b_side})
            more = len(rows) > limit and bool(items)
            return {
                "items": items,
                "limit": limit,
                "next": {"env": items[-1]["env"], "task": items[-1]["task_id"]} if more else None,
            }

        return self.read(q)

    def task_episodes(self, run_id: str, task_id: str, env: str | None) -> list[dict[str, Any]]:
        """Every episode (all samples) a run played on one task."""
        sql = f"SELECT {LIST_COLS} FROM episodes WHERE run_id=? AND task_id=?"
        args: list[Any] = [run_id, task_id]
        if env:
            sql += " AND env=?"
            args.append(env)
        sql += " ORDER BY env, sample, id LIMIT 1000"
        return self.read(lambda con: self.as_dicts(con.execute(sql, args)))
