"""Writing a store: runs, finished episodes and matches (each in one transaction), and deleting runs.

A finished episode is written in one transaction, so a killed process loses at most the episodes
that were in flight, and ``--resume`` finds exactly the ones that are missing
(:meth:`StoreWriter.finished_episode_ids`, which reads by the same rule that a resumed write
replaces by).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from palaestra.errors import StoreError
from palaestra.records import MODEL_ERROR_PREFIX, CallRecord, EpisodeRecord, StepRecord
from palaestra.sanitize import clean_text
from palaestra.store.open import StoreConnection
from palaestra.types import Message, Task, ToolSpec

if TYPE_CHECKING:
    from palaestra.records import MatchRecord

_messages = TypeAdapter(list[Message])
_tools = TypeAdapter(list[ToolSpec])


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json(value)


def _call_row(c: CallRecord) -> tuple[Any, ...]:
    """The ``model_calls`` columns after (run_id, episode_id, idx), in ``_CALL_INSERT_COLS`` order."""
    return (
        c.input_tokens,
        c.output_tokens,
        c.latency,
        c.retries,
        c.cost,
        c.finish_reason,
        _json_or_none(c.token_ids),
        _json_or_none(c.logprobs),
        _json_or_none(c.prompt_token_ids),
        c.error,
        c.ttft,
    )


# Inserts name their columns: later migrations add columns (``episodes.result``, ``model_calls.seat``).
_EPISODE_INSERT_COLS = (
    "run_id, id, env, task_id, split, difficulty, sample, agent, model, status, reward, success, progress, "
    "steps, invalid_actions, input_tokens, output_tokens, model_calls, model_latency, cost, wall, error, "
    "task, final, finished"
)
_CALL_INSERT_COLS = (
    "run_id, episode_id, idx, input_tokens, output_tokens, latency, retries, cost, finish_reason, "
    "token_ids, logprobs, prompt_token_ids, error, ttft"
)


_SERVER_FAILED = "status='error' AND substr(error, 1, ?)=?"
"""An episode that failed because the model server did (parameters: the prefix's length, the prefix)."""


def _insert(table: str, cols: str) -> str:
    return f"INSERT INTO {table}({cols}) VALUES ({','.join('?' * (cols.count(',') + 1))})"


_STEP_INSERT = "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?)"

_UNSTORABLE = (
    ValueError,
    TypeError,
    RecursionError,
    OverflowError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
)
"""What serialising or binding an episode's contents can raise (lone surrogates, nesting too deep for
the JSON writer, objects no column takes); ``PydanticSerializationError`` is a ``ValueError``."""

Statement = tuple[str, tuple[Any, ...]]
ChildRows = list[tuple[str, list[tuple[Any, ...]]]]


def _task_cols(run_id: str, episode_id: str, t: Task) -> tuple[Any, ...]:
    """The first columns of an episodes row: which run, which episode, which task."""
    return (run_id, episode_id, t.env, t.id, t.split, t.difficulty)


def _episode_rows(run_id: str, rec: EpisodeRecord) -> tuple[Statement, ChildRows]:
    """The episodes row and the steps and model_calls rows of one finished episode."""
    t = rec.task
    episode = (
        *_task_cols(run_id, rec.id, t),
        rec.sample,
        rec.agent,
        rec.model,
        rec.status,
        rec.reward,
        int(rec.success),
        rec.progress,
        rec.n_steps,
        rec.invalid_actions,
        rec.usage.input_tokens,
        rec.usage.output_tokens,
        len(rec.calls),
        rec.model_latency,
        rec.cost,
        rec.wall,
        rec.error,
        t.model_dump_json(),
        _messages.dump_json(rec.final, exclude_defaults=True).decode(),
        time.time(),
    )
    steps = [_step_row(run_id, rec.id, "", s) for s in rec.steps]
    calls = [(run_id, rec.id, i, *_call_row(c)) for i, c in enumerate(rec.calls)]
    return (_insert("episodes", _EPISODE_INSERT_COLS), episode), [
        (_STEP_INSERT, steps),
        (_insert("model_calls", _CALL_INSERT_COLS), calls),
    ]


def _match_rows(run_id: str, rec: MatchRecord) -> tuple[Statement, ChildRows]:
    """The episodes row of a match and its seats, steps and model_calls rows."""
    t = rec.task
    seats = list(rec.seats.values())
    calls = [(s.seat, c) for s in seats for c in s.calls]
    n = len(seats)
    episode = (
        *_task_cols(run_id, rec.id, t),
        rec.round,
        rec.lineup,
        rec.models,
        rec.status,
        sum(s.score for s in seats) / n if n else 0.0,
        0,
        1.0 if rec.status == "done" else 0.0,
        sum(len(s.steps) for s in seats),
        sum(s.invalid_actions for s in seats),
        sum(c.input_tokens for _, c in calls),
        sum(c.output_tokens for _, c in calls),
        len(calls),
        sum(c.latency for _, c in calls),
        sum(c.cost for _, c in calls if c.cost is not None)
        if any(c.cost is not None for _, c in calls)
        else None,
        rec.wall,
        rec.error,
        t.model_dump_json(),
        "[]",
        time.time(),
        _json(rec.result),
    )
    seat_rows = [
        (
            run_id,
            rec.id,
            s.seat,
            i,
            s.player,
            s.model,
            s.score,
            s.won,
            s.forfeit,
            len(s.steps),
            s.invalid_actions,
            len(s.calls),
            s.usage.input_tokens,
            s.usage.output_tokens,
            _messages.dump_json(s.final, exclude_defaults=True).decode(),
        )
        for i, s in enumerate(seats)
    ]
    return (_insert("episodes", _EPISODE_INSERT_COLS + ", result"), episode), [
        ("INSERT INTO seats VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", seat_rows),
        (_STEP_INSERT, [_step_row(run_id, rec.id, s.seat, st) for s in seats for st in s.steps]),
        (
            _insert("model_calls", _CALL_INSERT_COLS + ", seat"),
            [(run_id, rec.id, i, *_call_row(c), seat) for i, (seat, c) in enumerate(calls)],
        ),
    ]


def _step_row(run_id: str, episode_id: str, seat: str, s: StepRecord) -> tuple[Any, ...]:
    return (
        run_id,
        episode_id,
        s.index,
        seat,
        _messages.dump_json(s.observation, exclude_defaults=True).decode(),
        s.action.model_dump_json(exclude_defaults=True),
        s.reward,
        _json(s.info),
        _tools.dump_json(s.tools).decode() if s.tools is not None else None,
        _json(s.trace) if s.trace is not None else None,
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


def _unstorable_reason(e: BaseException, steps: int, error: str | None) -> str:
    reason = f"could not be stored ({_first_line(e)}); its {steps} steps were dropped"
    return clean_text(reason if error is None else f"{reason}\n{error}")


def _storable_task(task: Task) -> Task:
    try:
        task.model_dump_json()
    except _UNSTORABLE:
        return task.model_copy(update={"env": clean_text(task.env), "id": clean_text(task.id), "params": {}})
    return task


def _storable_calls(calls: list[CallRecord]) -> list[CallRecord]:
    return [
        dataclasses.replace(
            c,
            finish_reason=None if c.finish_reason is None else clean_text(c.finish_reason),
            error=None if c.error is None else clean_text(c.error),
        )
        for c in calls
    ]


def _unstorable(rec: EpisodeRecord, e: BaseException) -> EpisodeRecord:
    """What is stored of an episode whose contents cannot be: an ``error`` without its steps and
    final observation, saying why, with every remaining text made storable."""
    return dataclasses.replace(
        rec,
        id=clean_text(rec.id),
        task=_storable_task(rec.task),
        agent=clean_text(rec.agent),
        model=clean_text(rec.model),
        status="error",
        error="episode " + _unstorable_reason(e, rec.n_steps, rec.error),
        steps=[],
        final=[],
        calls=_storable_calls(rec.calls),
    )


def _unstorable_match(rec: MatchRecord, e: BaseException) -> MatchRecord:
    """What is stored of a match whose contents cannot be: as :func:`_unstorable`, per seat."""
    steps = sum(len(s.steps) for s in rec.seats.values())
    seats = {
        clean_text(name): dataclasses.replace(
            s,
            seat=clean_text(s.seat),
            player=clean_text(s.player),
            model=clean_text(s.model),
            forfeit=None if s.forfeit is None else clean_text(s.forfeit),
            steps=[],
            final=[],
            calls=_storable_calls(s.calls),
        )
        for name, s in rec.seats.items()
    }
    return dataclasses.replace(
        rec,
        id=clean_text(rec.id),
        task=_storable_task(rec.task),
        status="error",
        error="match " + _unstorable_reason(e, steps, rec.error),
        seats=seats,
        result={},
    )


class StoreWriter(StoreConnection):
    """The writes of a store (the :class:`~palaestra.records.RunStore` contract's half that writes,
    with the read a resumed run starts from)."""

    # ---- runs --------------------------------------------------------------------------------
    def create_run(self, run_id: str, config: dict[str, Any]) -> None:
        now = time.time()
        try:
            with self._writing(f"run {run_id}"):
                self.con.execute(
                    "INSERT INTO runs(id, created, updated, status, config) VALUES (?,?,?,?,?)",
                    (run_id, now, now, "running", _json(config)),
                )
        except sqlite3.IntegrityError:
            raise StoreError(f"run {run_id} already exists in {self.path}; use --resume {run_id}") from None

    def add_attack(self, attack: dict[str, Any]) -> None:
        """Keep one red-teaming attack (the ``attacks`` table's columns, ``created`` set here)."""
        cols = ("id", "env", "text", "attacker", "target", "round", "success", "novelty", "episodes")
        with self._writing(f"attack {attack['id']}"):
            self.con.execute(
                f"INSERT OR REPLACE INTO attacks({', '.join(cols)}, created) VALUES ({', '.join('?' * len(cols))}, ?)",
                (*(attack[c] for c in cols), time.time()),
            )

    def set_run_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._writing(f"the status of run {run_id}"):
            self.con.execute(
                "UPDATE runs SET status=?, updated=?, summary=coalesce(?, summary) WHERE id=?",
                (status, time.time(), _json(summary) if summary is not None else None, run_id),
            )

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete runs with everything of theirs (episodes, steps, model calls, seats), in one
        transaction; return how many runs were deleted. The freed pages are zeroed (a key that an
        older version stored goes with its run) and the WAL is checkpointed into the file."""
        self.con.execute("PRAGMA secure_delete=ON")
        self.con.execute("BEGIN IMMEDIATE")
        try:
            n = sum(self.con.execute("DELETE FROM runs WHERE id=?", (r,)).rowcount for r in run_ids)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    # ---- episodes ----------------------------------------------------------------------------
    def finished_episode_ids(self, run_id: str) -> set[str]:
        """The episodes a resumed run need not repeat: all but those that failed because the model
        server did (an outage, a wrong key: their ``error`` starts with ``model: ``)."""
        return {
            r[0]
            for r in self.con.execute(
                f"SELECT id FROM episodes WHERE run_id=? AND NOT ({_SERVER_FAILED})",
                (run_id, len(MODEL_ERROR_PREFIX), MODEL_ERROR_PREFIX),
            )
        }

    def write_episode(self, run_id: str, rec: EpisodeRecord) -> None:
        """Write one finished episode with its steps and model calls, atomically.

        Whatever the env put in its observations and info, the episode is stored: one that cannot
        be serialised is stored as ``error`` with the reason (and without its steps), so neither
        the run nor ``--resume`` dies on it."""
        try:
            self._write_rows(*_episode_rows(run_id, rec))
        except _UNSTORABLE as e:
            self._write_rows(*_episode_rows(run_id, _unstorable(rec, e)))

    def _write_rows(
        self,
        episode: tuple[str, tuple[Any, ...]],
        children: list[tuple[str, list[tuple[Any, ...]]]],
    ) -> None:
        """Insert an episodes row and its child rows in one transaction (all or nothing)."""
        con = self.con
        sql, values = episode
        with self._transaction(f"episode {values[1]} of run {values[0]}"):
            # a resumed run repeats the episodes the model server failed: the new row replaces the old
            con.execute(
                f"DELETE FROM episodes WHERE run_id=? AND id=? AND {_SERVER_FAILED}",
                (values[0], values[1], len(MODEL_ERROR_PREFIX), MODEL_ERROR_PREFIX),
            )
            con.execute(sql, values)
            for child_sql, rows in children:
                if rows:
                    con.executemany(child_sql, rows)

    def write_match(self, run_id: str, rec: MatchRecord) -> None:
        """Write one finished match atomically: an episodes row (agent = the lineup, reward = the mean
        score, progress = 1 when the game ended), its result, a seats row per seat, and every seat's
        steps and model calls under its seat name. A match whose contents cannot be serialised is
        stored as ``error`` with the reason, without its steps (as :meth:`write_episode` does)."""
        try:
            self._write_rows(*_match_rows(run_id, rec))
        except _UNSTORABLE as e:
            self._write_rows(*_match_rows(run_id, _unstorable_match(rec, e)))
