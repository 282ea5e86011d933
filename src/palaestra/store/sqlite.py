"""``Store``: runs, episodes, steps and model calls in one SQLite file (WAL, one writer).

A finished episode is written in one transaction, so a killed process loses at most the episodes
that were in flight, and ``--resume`` finds exactly the ones that are missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from palaestra.errors import StoreError
from palaestra.records import MODEL_ERROR_PREFIX, CallRecord, EpisodeRecord, StepRecord
from palaestra.sanitize import clean_text
from palaestra.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from palaestra.types import Message, Task, ToolSpec

if TYPE_CHECKING:
    from palaestra.records import MatchRecord

_messages = TypeAdapter(list[Message])
_tools = TypeAdapter(list[ToolSpec])
_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_file(path: Path) -> int | None:
    """Refuse a file that is not a Palaestra store, without writing a byte to it. Returns the
    store's schema version (None for a new or empty file)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    if path.is_dir():
        raise StoreError(f"store {path} is a directory; pass a file path with --store")
    with path.open("rb") as f:
        header = f.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER:
        raise StoreError(
            f"store {path} is not a SQLite database (corrupt or foreign file); it was not touched"
        )
    try:
        con = connect_read_only(path)
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            version: int = con.execute("PRAGMA user_version").fetchone()[0]
            n_tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"store {path} is unreadable ({e}); it was not touched") from None
    if app_id != APPLICATION_ID and (app_id != 0 or n_tables):
        raise StoreError(f"store {path} is a SQLite file of another application; it was not touched")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {version}, newer than this Palaestra's {SCHEMA_VERSION}; "
            "upgrade palaestra"
        )
    return version


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to the store at ``path``, however it is shared.

    ``mode=ro`` first: it sees what a concurrent writer commits. Where that cannot open the file (a
    WAL store in a read-only directory whose ``-shm`` does not exist and cannot be made), the file
    is opened ``immutable``: nobody can be writing it there either."""
    uri = path.resolve().as_uri()  # percent-encoded: '?', '#', '%' in a name cannot change the URI
    for query in ("mode=ro", "immutable=1"):
        con = sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA query_only=1")
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.OperationalError:
            con.close()
            if query == "immutable=1":
                raise
    raise AssertionError("unreachable")


def _when_unlocked(statement: Callable[[], object], seconds: float = 10.0) -> None:
    """Run ``statement``, retrying while another connection holds the lock it needs. Switching a new
    file to WAL while others open it fails at once with "database is locked": SQLite does not
    wait for that lock with the busy timeout."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _create_private(path: Path) -> None:
    """Create a new store file readable by its owner only; SQLite gives its ``-wal`` and ``-shm``
    files the same mode. An existing file is left as it is."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as e:
        raise StoreError(f"cannot create store {path}: {e.strerror or e}") from None


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


_STEP_INSERT = "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?)"

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


class Store:
    """The SQLite store. Use one ``Store`` per process; it is the only writer of its file."""

    def __init__(
        self, path: str | Path = "palaestra.db", *, create: bool = True, read_only: bool = False
    ) -> None:
        """Open (and with ``create``, make) the store at ``path``. Read-only commands pass
        ``create=False`` so that a mistyped path is an error, not a new empty store, and
        ``read_only=True`` so that they work on a store they may not write (a read-only file or
        directory) and never write to one they may. A store with an older schema is still opened
        for writing, to migrate it."""
        self.path = Path(path)
        if not (create and not read_only) and not self.path.exists():
            raise StoreError(f"no store at {self.path}; run `palaestra run ENV` first or pass --store PATH")
        version = _check_file(self.path)
        if not self.path.parent.exists():
            raise StoreError(f"store directory {self.path.parent} does not exist")
        try:
            if read_only and version == SCHEMA_VERSION:
                self.con = connect_read_only(self.path)
            else:
                self._open_for_writing()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self.path} cannot be opened: {e}") from None

    def _open_for_writing(self) -> None:
        _create_private(self.path)
        self.con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        with self._writing("the store's settings"):
            _when_unlocked(lambda: self.con.execute("PRAGMA journal_mode=WAL"))
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute("PRAGMA foreign_keys=ON")
        self.con.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        """Bring the schema up to date. The version is read again under the write lock, so of two
        processes creating or migrating one store at once the second finds the work done."""
        if self.con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction("the schema", begin="BEGIN IMMEDIATE"):
            version = self.con.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        self.con.execute(stmt)
            self.con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self.con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Report a failed write as one line naming its real cause (a full disk, a read-only
        file) instead of the statement that failed after it."""
        try:
            yield
        except sqlite3.OperationalError as e:
            code = getattr(e, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_FULL:
                raise StoreError(
                    f"disk full while writing {what} to {self.path}; everything stored before it is kept"
                ) from None
            raise StoreError(f"cannot write {what} to {self.path}: {e}") from None

    @contextmanager
    def _transaction(self, what: str, begin: str = "BEGIN") -> Iterator[None]:
        """One write transaction: committed whole or not at all. SQLite rolls a transaction back
        itself on some errors (a full disk); the rollback here then has nothing to do."""
        con = self.con
        with self._writing(what):
            con.execute(begin)
            try:
                yield
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def set_run_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._writing(f"the status of run {run_id}"):
            self.con.execute(
                "UPDATE runs SET status=?, updated=?, summary=coalesce(?, summary) WHERE id=?",
                (status, time.time(), _json(summary) if summary is not None else None, run_id),
            )

    def run(self, run_id: str) -> dict[str, Any]:
        row = self.con.execute(
            "SELECT id, created, updated, status, config, summary FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        if row is None:
            ids = [r[0] for r in self.con.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 5")]
            hint = f"; recent runs: {', '.join(ids)}" if ids else ""
            raise StoreError(f"no run {run_id!r} in {self.path}{hint}")
        return {
            "id": row[0],
            "created": row[1],
            "updated": row[2],
            "status": row[3],
            "config": json.loads(row[4]),
            "summary": json.loads(row[5]) if row[5] else None,
        }

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.con.execute(
            """SELECT r.id, r.created, r.status, r.config, count(e.id), coalesce(avg(e.success), 0),
                      coalesce(sum(e.status = 'error'), 0)
               FROM runs r LEFT JOIN episodes e ON e.run_id = r.id
               GROUP BY r.id ORDER BY r.created DESC LIMIT ?""",
            (limit,),
        ).fetchall()
        return [
            {
                "id": r[0],
                "created": r[1],
                "status": r[2],
                "config": json.loads(r[3]),
                "episodes": r[4],
                "success_rate": r[5],
                "errors": r[6],
            }
            for r in rows
        ]

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

    _SEAT_COLS = (
        "seat, idx, player, model, score, won, forfeit, steps, invalid_actions, model_calls, "
        "input_tokens, output_tokens"
    )

    def matches(self, run_id: str) -> list[dict[str, Any]]:
        """The run's matches in id order (the schedule's order), each with its result and its seats
        (in seat order, without steps)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.con.execute(
            "SELECT id, env, task_id, difficulty, sample, status, wall, error, result FROM episodes "
            "WHERE run_id=? AND result IS NOT NULL ORDER BY id",
            (run_id,),
        ):
            out[r[0]] = {
                "id": r[0],
                "game": r[1],
                "task_id": r[2],
                "difficulty": r[3],
                "round": r[4],
                "status": r[5],
                "wall": r[6],
                "error": r[7],
                "result": json.loads(r[8]),
                "seats": [],
            }
        cur = self.con.execute(
            f"SELECT episode_id, {self._SEAT_COLS} FROM seats WHERE run_id=? ORDER BY episode_id, idx",
            (run_id,),
        )
        names = [d[0] for d in cur.description][1:]
        for r in cur:
            if r[0] in out:
                out[r[0]]["seats"].append(dict(zip(names, r[1:], strict=True)))
        return list(out.values())

    def match(self, run_id: str, episode_id: str) -> dict[str, Any]:
        """One match: the episode (with every seat's steps and model calls), its result and its seats
        with what each was told after its last move."""
        ep = self.episode(run_id, episode_id)
        row = self.con.execute(
            "SELECT result FROM episodes WHERE run_id=? AND id=?", (run_id, episode_id)
        ).fetchone()
        ep["result"] = json.loads(row[0]) if row and row[0] else None
        cur = self.con.execute(
            f"SELECT {self._SEAT_COLS}, final FROM seats WHERE run_id=? AND episode_id=? ORDER BY idx",
            (run_id, episode_id),
        )
        names = [d[0] for d in cur.description]
        ep["seats"] = []
        for r in cur:
            seat = dict(zip(names, r, strict=True))
            seat["final"] = json.loads(seat["final"])
            ep["seats"].append(seat)
        for call, seat in zip(
            ep["calls"],
            self.con.execute(
                "SELECT seat FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx",
                (run_id, episode_id),
            ),
            strict=True,
        ):
            call["seat"] = seat[0]
        return ep

    _EPISODE_COLS = (
        "id, env, task_id, split, difficulty, sample, agent, model, status, reward, success, progress, "
        "steps, invalid_actions, input_tokens, output_tokens, model_calls, model_latency, cost, wall, error"
    )

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
        """Episode rows of a run (without steps), filtered, in a stable order."""
        where, args = ["run_id=?"], [run_id]
        for col, val in (("env", env), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        if success is not None:
            where.append("success=?")
            args.append(str(int(success)))
        sql = f"SELECT {self._EPISODE_COLS} FROM episodes WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        cur = self.con.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def episode(self, run_id: str, episode_id: str) -> dict[str, Any]:
        """One episode with its task, steps and model calls."""
        cur = self.con.execute(
            f"SELECT {self._EPISODE_COLS}, task, final FROM episodes WHERE run_id=? AND id=?",
            (run_id, episode_id),
        )
        row = cur.fetchone()
        if row is None:
            raise StoreError(f"no episode {episode_id!r} in run {run_id!r}")
        names = [d[0] for d in cur.description]
        ep = dict(zip(names, row, strict=True))
        ep["task"] = json.loads(ep["task"])
        ep["final"] = json.loads(ep["final"])
        ep["steps"] = [
            {
                "index": r[0],
                "seat": r[1],
                "observation": json.loads(r[2]),
                "action": json.loads(r[3]),
                "reward": r[4],
                "info": json.loads(r[5]),
                "tools": json.loads(r[6]) if r[6] else None,
            }
            for r in self.con.execute(
                "SELECT idx, seat, observation, action, reward, info, tools FROM steps "
                "WHERE run_id=? AND episode_id=? ORDER BY seat, idx",
                (run_id, episode_id),
            )
        ]
        ep["calls"] = [
            dict(
                zip(
                    ("input_tokens", "output_tokens", "latency", "retries", "cost", "error", "ttft"),
                    r,
                    strict=True,
                )
            )
            for r in self.con.execute(
                "SELECT input_tokens, output_tokens, latency, retries, cost, error, ttft FROM model_calls "
                "WHERE run_id=? AND episode_id=? ORDER BY idx",
                (run_id, episode_id),
            )
        ]
        return ep

    def model_calls(self, run_id: str, episode_id: str) -> list[dict[str, Any]]:
        """Every stored field of an episode's model calls, in order, with token ids and logprobs decoded
        (``None`` where the model server did not return them)."""
        cols = (
            "idx",
            "input_tokens",
            "output_tokens",
            "latency",
            "retries",
            "cost",
            "finish_reason",
            "token_ids",
            "logprobs",
            "prompt_token_ids",
            "error",
            "ttft",
        )
        out = []
        for r in self.con.execute(
            f"SELECT {', '.join(cols)} FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx",
            (run_id, episode_id),
        ):
            call = dict(zip(cols, r, strict=True))
            for key in ("token_ids", "logprobs", "prompt_token_ids"):
                if call[key] is not None:
                    call[key] = json.loads(call[key])
            out.append(call)
        return out

    def iter_episodes(self, run_id: str, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every episode of a run with its steps, streamed (for exports)."""
        ids = [r["id"] for r in self.episodes(run_id)]
        for i in range(0, len(ids), batch):
            for eid in ids[i : i + batch]:
                yield self.episode(run_id, eid)

    def summary(self, run_id: str) -> dict[str, Any]:
        """Aggregates per environment and overall, computed from what is stored."""
        cur = self.con.execute(
            """SELECT env, count(*), avg(success), avg(reward), avg(progress),
                      sum(invalid_actions), sum(steps), sum(status='error'), sum(status='timeout'),
                      sum(status='truncated'), sum(input_tokens), sum(output_tokens), sum(model_calls),
                      sum(cost), sum(wall)
               FROM episodes WHERE run_id=? GROUP BY env ORDER BY env""",
            (run_id,),
        )
        per_env: dict[str, dict[str, Any]] = {}
        for r in cur:
            per_env[r[0]] = {
                "episodes": r[1],
                "success_rate": r[2],
                "mean_reward": r[3],
                "mean_progress": r[4],
                "invalid_action_rate": (r[5] / r[6]) if r[6] else 0.0,
                "steps": r[6],
                "errors": r[7],
                "timeouts": r[8],
                "truncated": r[9],
                "input_tokens": r[10],
                "output_tokens": r[11],
                "model_calls": r[12],
                "cost": r[13],
                "episode_wall_s": r[14],
            }
        total_eps = sum(e["episodes"] for e in per_env.values())

        def _mean(key: str) -> float:
            if not total_eps:
                return 0.0
            return float(sum(e[key] * e["episodes"] for e in per_env.values()) / total_eps)

        steps = sum(e["steps"] for e in per_env.values())
        return {
            "run_id": run_id,
            "episodes": total_eps,
            "success_rate": _mean("success_rate"),
            "mean_reward": _mean("mean_reward"),
            "mean_progress": _mean("mean_progress"),
            "invalid_action_rate": (
                sum(e["invalid_action_rate"] * e["steps"] for e in per_env.values()) / steps if steps else 0.0
            ),
            "errors": sum(e["errors"] for e in per_env.values()),
            "timeouts": sum(e["timeouts"] for e in per_env.values()),
            "input_tokens": sum(e["input_tokens"] for e in per_env.values()),
            "output_tokens": sum(e["output_tokens"] for e in per_env.values()),
            "model_calls": sum(e["model_calls"] for e in per_env.values()),
            "envs": per_env,
        }

    def error_examples(self, run_id: str, limit: int = 3) -> Sequence[tuple[str, str]]:
        return self.con.execute(
            "SELECT id, error FROM episodes WHERE run_id=? AND status IN ('error','timeout') LIMIT ?",
            (run_id, limit),
        ).fetchall()
