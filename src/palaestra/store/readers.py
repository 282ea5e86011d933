"""Reading a store: runs, episodes with their steps and model calls, matches and summaries."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any

from palaestra.errors import StoreError
from palaestra.store.open import StoreConnection
from palaestra.store.rows import (
    EPISODE_COLS,
    SEAT_COLS,
    CallRow,
    EnvSummary,
    EpisodeDetail,
    EpisodeRow,
    MatchRow,
    ModelCallRow,
    RunListRow,
    RunRow,
    RunSummary,
    SeatDetail,
    SeatRow,
    StepRow,
)

_DECODED = ("token_ids", "logprobs", "prompt_token_ids")
"""The model_calls columns stored as JSON (or NULL)."""


class StoreReaders(StoreConnection):
    """The reads of a store: every query the commands that show, evaluate and export runs make."""

    # ---- runs --------------------------------------------------------------------------------
    def run_row(self, run_id: str) -> RunRow:
        """One run (a one-line error naming the recent ones if there is none)."""
        row = self.con.execute(
            "SELECT id, created, updated, status, config, summary FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        if row is None:
            ids = [r[0] for r in self.con.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 5")]
            hint = f"; recent runs: {', '.join(ids)}" if ids else ""
            raise StoreError(f"no run {run_id!r} in {self.path}{hint}")
        return RunRow(
            id=row[0],
            created=row[1],
            updated=row[2],
            status=row[3],
            config=json.loads(row[4]),
            summary=json.loads(row[5]) if row[5] else None,
        )

    def run(self, run_id: str) -> dict[str, Any]:
        """:meth:`run_row` as a dict."""
        return self.run_row(run_id).as_dict()

    def run_list(self, limit: int = 50) -> list[RunListRow]:
        """The newest ``limit`` runs with their episode counts, success rates and errors."""
        rows = self.con.execute(
            """SELECT r.id, r.created, r.status, r.config, count(e.id), coalesce(avg(e.success), 0),
                      coalesce(sum(e.status = 'error'), 0)
               FROM runs r LEFT JOIN episodes e ON e.run_id = r.id
               GROUP BY r.id ORDER BY r.created DESC LIMIT ?""",
            (limit,),
        ).fetchall()
        return [RunListRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """:meth:`run_list` as dicts."""
        return [r.as_dict() for r in self.run_list(limit)]

    def empty_run_ids(self) -> list[str]:
        """Runs without a single episode (stopped before their first, or left by older versions)."""
        return [
            r[0]
            for r in self.con.execute(
                "SELECT id FROM runs r WHERE NOT EXISTS (SELECT 1 FROM episodes e WHERE e.run_id = r.id) "
                "ORDER BY created"
            )
        ]

    def latest_run_id(self) -> str | None:
        row = self.con.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
        return row[0] if row else None

    # ---- episodes and matches ----------------------------------------------------------------
    def match_rows(self, run_id: str) -> list[MatchRow]:
        """The run's matches in id order (the schedule's order), each with its result and its seats
        (in seat order, without steps)."""
        seats: dict[str, list[SeatRow]] = {}
        for r in self.con.execute(
            f"SELECT episode_id, {SEAT_COLS} FROM seats WHERE run_id=? ORDER BY episode_id, idx", (run_id,)
        ):
            seats.setdefault(r[0], []).append(SeatRow(*r[1:]))
        return [
            MatchRow(
                id=r[0],
                game=r[1],
                task_id=r[2],
                difficulty=r[3],
                round=r[4],
                status=r[5],
                wall=r[6],
                error=r[7],
                result=json.loads(r[8]),
                seats=seats.get(r[0], []),
            )
            for r in self.con.execute(
                "SELECT id, env, task_id, difficulty, sample, status, wall, error, result FROM episodes "
                "WHERE run_id=? AND result IS NOT NULL ORDER BY id",
                (run_id,),
            )
        ]

    def matches(self, run_id: str) -> list[dict[str, Any]]:
        """:meth:`match_rows` as dicts."""
        return [m.as_dict() for m in self.match_rows(run_id)]

    def match_detail(self, run_id: str, episode_id: str) -> EpisodeDetail:
        """One match: the episode (with every seat's steps and model calls, each call with its seat),
        its result and its seats with what each was told after its last move."""
        ep = self.episode_detail(run_id, episode_id)
        row = self.con.execute(
            "SELECT result FROM episodes WHERE run_id=? AND id=?", (run_id, episode_id)
        ).fetchone()
        seats = [
            SeatDetail(**dict(zip(SEAT_COLS.split(", "), r[:-1], strict=True)), final=json.loads(r[-1]))
            for r in self.con.execute(
                f"SELECT {SEAT_COLS}, final FROM seats WHERE run_id=? AND episode_id=? ORDER BY idx",
                (run_id, episode_id),
            )
        ]
        calls = [
            replace(call, seat=seat[0])
            for call, seat in zip(
                ep.calls,
                self.con.execute(
                    "SELECT seat FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx",
                    (run_id, episode_id),
                ),
                strict=True,
            )
        ]
        result = json.loads(row[0]) if row and row[0] else None
        return replace(ep, calls=calls, result=result, seats=seats)

    def match(self, run_id: str, episode_id: str) -> dict[str, Any]:
        """:meth:`match_detail` as a dict."""
        return self.match_detail(run_id, episode_id).as_dict()

    def episode_rows(
        self,
        run_id: str,
        *,
        env: str | None = None,
        status: str | None = None,
        success: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[EpisodeRow]:
        """Episode rows of a run (without steps), filtered, in a stable order."""
        where, args = ["run_id=?"], [run_id]
        for col, val in (("env", env), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        if success is not None:
            where.append("success=?")
            args.append(str(int(success)))
        sql = f"SELECT {EPISODE_COLS} FROM episodes WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [EpisodeRow(*row) for row in self.con.execute(sql, args)]

    def episodes(
        self,
        run_id: str,
        *,
        env: str | None = None,
        status: str | None = None,
        success: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """:meth:`episode_rows` as dicts."""
        rows = self.episode_rows(run_id, env=env, status=status, success=success, limit=limit, offset=offset)
        return [r.as_dict() for r in rows]

    def attacks(self, env: str | None = None) -> list[dict[str, Any]]:
        """The red-teaming loop's attacks (of one attack variant, or all), oldest first."""
        cols = (
            "id",
            "env",
            "text",
            "created",
            "attacker",
            "target",
            "round",
            "success",
            "novelty",
            "episodes",
        )
        sql = f"SELECT {', '.join(cols)} FROM attacks"
        args: tuple[str, ...] = ()
        if env is not None:
            sql, args = sql + " WHERE env=?", (env,)
        return [
            dict(zip(cols, row, strict=True)) for row in self.con.execute(sql + " ORDER BY created, id", args)
        ]

    def last_step_infos(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The ``info`` of each episode's last step (its final per-step metrics), by episode id."""
        sql = (
            "SELECT s.episode_id, s.info FROM steps s JOIN (SELECT episode_id, MAX(idx) AS idx FROM steps "
            "WHERE run_id=? AND seat='' GROUP BY episode_id) m ON s.episode_id=m.episode_id AND s.idx=m.idx "
            "WHERE s.run_id=? AND s.seat=''"
        )
        return {eid: json.loads(info) for eid, info in self.con.execute(sql, (run_id, run_id))}

    def episode_detail(self, run_id: str, episode_id: str) -> EpisodeDetail:
        """One episode with its task, steps and model calls."""
        row = self.con.execute(
            f"SELECT {EPISODE_COLS}, task, final FROM episodes WHERE run_id=? AND id=?",
            (run_id, episode_id),
        ).fetchone()
        if row is None:
            raise StoreError(f"no episode {episode_id!r} in run {run_id!r}")
        steps = [
            StepRow(
                index=r[0],
                seat=r[1],
                observation=json.loads(r[2]),
                action=json.loads(r[3]),
                reward=r[4],
                info=json.loads(r[5]),
                tools=json.loads(r[6]) if r[6] else None,
                trace=json.loads(r[7]) if r[7] else None,
            )
            for r in self.con.execute(
                "SELECT idx, seat, observation, action, reward, info, tools, trace FROM steps "
                "WHERE run_id=? AND episode_id=? ORDER BY seat, idx",
                (run_id, episode_id),
            )
        ]
        calls = [
            CallRow(*r)
            for r in self.con.execute(
                "SELECT input_tokens, output_tokens, latency, retries, cost, error, ttft FROM model_calls "
                "WHERE run_id=? AND episode_id=? ORDER BY idx",
                (run_id, episode_id),
            )
        ]
        return EpisodeDetail(
            row=EpisodeRow(*row[:-2]),
            task=json.loads(row[-2]),
            final=json.loads(row[-1]),
            steps=steps,
            calls=calls,
        )

    def episode(self, run_id: str, episode_id: str) -> dict[str, Any]:
        """:meth:`episode_detail` as a dict."""
        return self.episode_detail(run_id, episode_id).as_dict()

    def model_call_rows(self, run_id: str, episode_id: str) -> list[ModelCallRow]:
        """Every stored field of an episode's model calls, in order, with token ids and logprobs decoded
        (``None`` where the model server did not return them)."""

        def decoded(text: str | None) -> Any:
            return None if text is None else json.loads(text)

        cols = [f.name for f in fields(ModelCallRow)]
        return [
            ModelCallRow(*(decoded(v) if c in _DECODED else v for c, v in zip(cols, r, strict=True)))
            for r in self.con.execute(
                f"SELECT {', '.join(cols)} FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx",
                (run_id, episode_id),
            )
        ]

    def model_calls(self, run_id: str, episode_id: str) -> list[dict[str, Any]]:
        """:meth:`model_call_rows` as dicts."""
        return [c.as_dict() for c in self.model_call_rows(run_id, episode_id)]

    def summary_of(self, run_id: str) -> RunSummary:
        """Aggregates per environment and overall, computed from what is stored."""
        cur = self.con.execute(
            """SELECT env, count(*), avg(success), avg(reward), avg(progress),
                      sum(invalid_actions), sum(steps), sum(status='error'), sum(status='timeout'),
                      sum(status='truncated'), sum(input_tokens), sum(output_tokens), sum(model_calls),
                      sum(cost), sum(wall)
               FROM episodes WHERE run_id=? GROUP BY env ORDER BY env""",
            (run_id,),
        )
        per_env = {
            r[0]: EnvSummary(
                episodes=r[1],
                success_rate=r[2],
                mean_reward=r[3],
                mean_progress=r[4],
                invalid_action_rate=(r[5] / r[6]) if r[6] else 0.0,
                steps=r[6],
                errors=r[7],
                timeouts=r[8],
                truncated=r[9],
                input_tokens=r[10],
                output_tokens=r[11],
                model_calls=r[12],
                cost=r[13],
                episode_wall_s=r[14],
            )
            for r in cur
        }
        envs = per_env.values()
        total_eps = sum(e.episodes for e in envs)

        def _mean(value: Callable[[EnvSummary], float]) -> float:
            if not total_eps:
                return 0.0
            return float(sum(value(e) * e.episodes for e in envs) / total_eps)

        steps = sum(e.steps for e in envs)
        return RunSummary(
            run_id=run_id,
            episodes=total_eps,
            success_rate=_mean(lambda e: e.success_rate),
            mean_reward=_mean(lambda e: e.mean_reward),
            mean_progress=_mean(lambda e: e.mean_progress),
            invalid_action_rate=(
                sum(e.invalid_action_rate * e.steps for e in envs) / steps if steps else 0.0
            ),
            errors=sum(e.errors for e in envs),
            timeouts=sum(e.timeouts for e in envs),
            input_tokens=sum(e.input_tokens for e in envs),
            output_tokens=sum(e.output_tokens for e in envs),
            model_calls=sum(e.model_calls for e in envs),
            envs=per_env,
        )

    def summary(self, run_id: str) -> dict[str, Any]:
        """:meth:`summary_of` as a dict (the shape stored as a run's summary)."""
        return self.summary_of(run_id).as_dict()

    def step_counters(self, run_id: str, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per episode, the total of each counter in ``keys`` that its steps' ``info`` carries:
        counters that grow over an episode (``damage_irreversible``, ``violations``), so a seat's total
        is the largest value it reached, and a match's the sum over its seats. Episodes whose steps
        carry none of them are left out."""
        if not keys:
            return {}
        cols = ", ".join("MAX(json_extract(info, ?))" for _ in keys)
        paths = tuple(f'$."{k}"' for k in keys)
        out: dict[str, dict[str, int]] = {}
        for episode_id, _seat, *values in self.con.execute(
            f"SELECT episode_id, seat, {cols} FROM steps WHERE run_id=? GROUP BY episode_id, seat",
            (*paths, run_id),
        ):
            found = {k: int(v) for k, v in zip(keys, values, strict=True) if v is not None}
            if found:
                totals = out.setdefault(episode_id, {})
                for k, v in found.items():
                    totals[k] = totals.get(k, 0) + v
        return out

    def error_examples(self, run_id: str, limit: int = 3) -> Sequence[tuple[str, str]]:
        return self.con.execute(
            "SELECT id, error FROM episodes WHERE run_id=? AND status IN ('error','timeout') LIMIT ?",
            (run_id, limit),
        ).fetchall()
