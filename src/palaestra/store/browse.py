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
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from palaestra.runner.settings import shown
from palaestra.store.open import ReadOnlyPool
from palaestra.store.rows import (
    EPISODE_COLS,
    SEAT_COLS,
    EpisodeRow,
    MessageJSON,
    SeatRow,
    StepRow,
    fields_dict,
)

LIST_COLS = EPISODE_COLS.removesuffix(", error") + ", substr(error, 1, 300) AS error"
_DETAIL_COLS = EPISODE_COLS + ", task, final, finished"


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


# ---- what the viewer reads; as_dict() is the JSON its API answers with -------------------------
@dataclass(frozen=True, slots=True)
class RunBrief:
    """A run in the viewer's list: its config's headline and its episode counts (``success_rate``
    is ``None`` while it runs)."""

    id: str
    created: float
    updated: float
    status: str
    envs: list[str]
    agent: str
    model: str
    split: str
    episodes: int
    success_rate: float | None
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class RunView:
    """A run with its config (as ``show`` shows it) and its summary: the stored one, or for a live
    run one computed from its episodes so far (a summary's JSON, whichever version stored it)."""

    brief: RunBrief
    config: dict[str, Any]
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return self.brief.as_dict() | {"config": self.config, "summary": self.summary}


@dataclass(frozen=True, slots=True)
class RunPage:
    items: list[RunBrief]
    has_more: bool
    offset: int
    limit: int

    def as_dict(self) -> dict[str, Any]:
        return {"items": [r.as_dict() for r in self.items], "has_more": self.has_more} | {
            "offset": self.offset,
            "limit": self.limit,
        }


@dataclass(frozen=True, slots=True)
class EpisodePage:
    """A page of episode rows (errors cut to 300 characters) and the keyset cursors around it."""

    items: list[EpisodeRow]
    limit: int
    next: str | None
    prev: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": [r.as_dict() for r in self.items],
            "limit": self.limit,
            "next": self.next,
            "prev": self.prev,
        }


@dataclass(frozen=True, slots=True)
class BrowsedCall:
    """A model call as the viewer lists it; ``seat`` only in stores with matches."""

    idx: int
    input_tokens: int
    output_tokens: int
    latency: float
    retries: int
    cost: float | None
    finish_reason: str | None
    error: str | None
    seat: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self, omit_if_none=("seat",))


@dataclass(frozen=True, slots=True)
class BrowsedEpisode:
    """An episode with one page of its steps (``steps_total`` in all, from ``steps_offset``), its
    first 1000 model calls and, for a match, its result and seats."""

    run_id: str
    row: EpisodeRow
    task: dict[str, Any]
    final: list[MessageJSON]
    finished: float
    result: dict[str, Any] | None
    seats: list[SeatRow]
    steps_total: int
    steps_offset: int
    steps: list[StepRow]
    calls: list[BrowsedCall]
    result_column: bool = True
    """Whether the store has the ``result`` column (schema 2 on): where it does not, ``result``
    comes after ``run_id`` in :meth:`as_dict`, as it always did."""

    def as_dict(self) -> dict[str, Any]:
        out = self.row.as_dict()
        out["steps"] = [s.as_dict() for s in self.steps]
        out |= {"task": self.task, "final": self.final, "finished": self.finished}
        if self.result_column:
            out["result"] = self.result
        out["run_id"] = self.run_id
        out |= {
            "result": self.result,
            "seats": [{k: v for k, v in s.as_dict().items() if k != "idx"} for s in self.seats],
            "steps_total": self.steps_total,
            "steps_offset": self.steps_offset,
            "calls": [c.as_dict() for c in self.calls],
        }
        return out


@dataclass(frozen=True, slots=True)
class TaskSide:
    """One run's results on a task: episodes, successes, mean reward and progress, first episode."""

    n: int
    success: int
    reward: float
    progress: float
    episode: str

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class SharedTask:
    env: str
    task_id: str
    a: TaskSide
    b: TaskSide

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "task_id": self.task_id, "a": self.a.as_dict(), "b": self.b.as_dict()}


@dataclass(frozen=True, slots=True)
class SharedPage:
    items: list[SharedTask]
    limit: int
    next: tuple[str, str] | None
    """The last (env, task) of the page when there are more."""

    def as_dict(self) -> dict[str, Any]:
        after = {"env": self.next[0], "task": self.next[1]} if self.next else None
        return {"items": [t.as_dict() for t in self.items], "limit": self.limit, "next": after}


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
    ) -> RunPage:
        """Runs, newest first, with their episode counts and success rates."""

        def q(con: sqlite3.Connection) -> RunPage:
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
            return RunPage(items, has_more=len(rows) > limit, offset=offset, limit=limit)

        return self.read(q)

    def _run_row(self, con: sqlite3.Connection, r: tuple[Any, ...]) -> RunBrief:
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
        return RunBrief(
            id=r[0],
            created=r[1],
            updated=r[2],
            status=r[3],
            envs=config.get("envs", []),
            agent=config.get("agent", ""),
            model=config.get("model") or "",
            split=config.get("split", ""),
            episodes=n,
            success_rate=success_rate,
            errors=errors,
        )

    def run(self, run_id: str) -> RunView | None:
        """One run with its config and per-environment summary (computed live for a running run)."""

        def q(con: sqlite3.Connection) -> RunView | None:
            row = con.execute(
                "SELECT id, created, updated, status, config, summary FROM runs WHERE id=?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            brief = self._run_row(con, row)
            summary = _loads(row[5])
            if row[3] == "running" or not summary:
                summary = self._live_summary(con, run_id)
                brief = replace(brief, success_rate=summary["success_rate"])
            return RunView(brief, shown(_loads(row[4]) or {}), summary)

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
    ) -> EpisodePage:
        """One page of a run's episodes in id order.

        ``after``/``before`` (an episode id) page by keyset: any page costs the same as the first.
        ``offset`` is accepted too, for jumps, at the cost of skipping rows.
        """
        cond, args = flt.sql()

        def q(con: sqlite3.Connection) -> EpisodePage:
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
            items = [EpisodeRow(*r) for r in con.execute(sql, params)]
            more = len(items) > limit
            items = items[:limit]
            if before is not None:
                items.reverse()
                has_prev, has_next = more, True
            else:
                has_prev, has_next = after is not None or offset > 0, more
            return EpisodePage(
                items,
                limit=limit,
                next=items[-1].id if has_next and items else None,
                prev=items[0].id if has_prev and items else None,
            )

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
    ) -> BrowsedEpisode | None:
        """One episode with a page of its steps (``steps_total`` says how many there are)."""

        def q(con: sqlite3.Connection) -> BrowsedEpisode | None:
            found = con.execute(
                f"SELECT {_DETAIL_COLS}{', result' if self.has_result else ''} FROM episodes "
                "WHERE run_id=? AND id=?",
                (run_id, episode_id),
            ).fetchone()
            if found is None:
                return None
            n = len(fields(EpisodeRow))
            row, (task, final, finished, *result) = EpisodeRow(*found[:n]), found[n:]
            key = (run_id, episode_id)
            outcome = _loads(result[0]) if result else None
            return BrowsedEpisode(
                run_id=run_id,
                row=row,
                task=_loads(task),
                final=_loads(final) or [],
                finished=finished,
                result=outcome,
                seats=self._seats(con, key) if self.has_seats and outcome is not None else [],
                steps_total=con.execute(
                    "SELECT count(*) FROM steps WHERE run_id=? AND episode_id=?", key
                ).fetchone()[0],
                steps_offset=steps_offset,
                steps=self._steps(con, key, steps_limit, steps_offset),
                calls=[
                    BrowsedCall(*r)
                    for r in con.execute(
                        "SELECT idx, input_tokens, output_tokens, latency, retries, cost, finish_reason, error"
                        f"{', seat' if self.has_seats else ''} "
                        "FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx LIMIT 1000",
                        key,
                    )
                ],
                result_column=self.has_result,
            )

        return self.read(q)

    @staticmethod
    def _seats(con: sqlite3.Connection, key: tuple[str, str]) -> list[SeatRow]:
        return [
            SeatRow(*r)
            for r in con.execute(
                f"SELECT {SEAT_COLS} FROM seats WHERE run_id=? AND episode_id=? ORDER BY idx", key
            )
        ]

    def _steps(self, con: sqlite3.Connection, key: tuple[str, str], limit: int, offset: int) -> list[StepRow]:
        return [
            StepRow(
                index=r[0],
                seat=r[1],
                observation=_loads(r[2]) or [],
                action=_loads(r[3]),
                reward=r[4],
                info=_loads(r[5]) or {},
                tools=_loads(r[6]),
                trace=_loads(r[7]),
            )
            for r in con.execute(
                f"SELECT idx, seat, observation, action, reward, info, tools, "
                f"{'trace' if self.has_trace else 'NULL'} FROM steps "
                "WHERE run_id=? AND episode_id=? ORDER BY seat, idx LIMIT ? OFFSET ?",
                (*key, limit, offset),
            )
        ]

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
    ) -> SharedPage:
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

        def q(con: sqlite3.Connection) -> SharedPage:
            rows = con.execute(sql, params).fetchall()
            items = []
            for r in rows[:limit]:
                mine, theirs = TaskSide(*r[2:7]), TaskSide(*json.loads(r[7]))
                a_side, b_side = (theirs, mine) if drive_from_b else (mine, theirs)
                items.append(SharedTask(r[0], r[1], a_side, b_side))
            more = len(rows) > limit and bool(items)
            return SharedPage(items, limit, (items[-1].env, items[-1].task_id) if more else None)

        return self.read(q)

    def task_episodes(self, run_id: str, task_id: str, env: str | None) -> list[EpisodeRow]:
        """Every episode (all samples) a run played on one task."""
        sql = f"SELECT {LIST_COLS} FROM episodes WHERE run_id=? AND task_id=?"
        args: list[Any] = [run_id, task_id]
        if env:
            sql += " AND env=?"
            args.append(env)
        sql += " ORDER BY env, sample, id LIMIT 1000"
        return self.read(lambda con: [EpisodeRow(*r) for r in con.execute(sql, args)])
