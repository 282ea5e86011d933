"""Read-only, bounded, deterministic SQL over the episode's in-memory database (the agent's SQL;
the environment's own write tools go through :meth:`ReadOnlyDB.write`).

Three layers keep the agent's SQL harmless: ``PRAGMA query_only`` (SQLite refuses every write), an
authorizer that allows only reading (SELECT, WITH, functions) and refuses writes, schema changes,
ATTACH, PRAGMA and transactions, and a progress handler that stops a query after a fixed number of
virtual-machine steps (a count, not a clock, so the same query always stops at the same point).
Functions whose result would differ between runs (``random``, the wall clock) are refused too:
the database is a snapshot, and the same actions must give the same observations.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from palaestra import ToolError

MAX_ROWS = 50
MAX_CELL = 1000
STEP_CHUNK = 1000
MAX_CHUNKS = 30_000
"""A query may run 30 million SQLite VM steps (well under a second); heavier ones are stopped."""

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_ACTION_NAMES = {
    getattr(sqlite3, n): n.removeprefix("SQLITE_").replace("_", " ")
    for n in dir(sqlite3)
    if n.startswith(("SQLITE_CREATE", "SQLITE_DROP", "SQLITE_ALTER"))
    or n
    in (
        "SQLITE_INSERT",
        "SQLITE_UPDATE",
        "SQLITE_DELETE",
        "SQLITE_PRAGMA",
        "SQLITE_ATTACH",
        "SQLITE_DETACH",
        "SQLITE_TRANSACTION",
        "SQLITE_SAVEPOINT",
        "SQLITE_ANALYZE",
        "SQLITE_REINDEX",
    )
}
_UNSTABLE_FUNCTIONS = {
    "random",
    "randomblob",
    "zeroblob",
    "current_date",
    "current_time",
    "current_timestamp",
    "changes",
    "total_changes",
    "last_insert_rowid",
    "load_extension",
}
_CLOCK = re.compile(r"""['"]\s*(now|localtime|utc)\s*['"]""", re.IGNORECASE)
_NO_ARG_DATE = re.compile(
    r"""\b(date|time|datetime|julianday|unixepoch)\s*\(\s*\)|\bstrftime\s*\(\s*('[^']*'|"[^"]*")\s*\)""",
    re.IGNORECASE,
)
"""A date function with no time value (or strftime with only a format) reads the clock."""


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    more: bool
    tables: frozenset[str]
    """The tables the query read."""


def cell(v: Any) -> str:
    if v is None:
        return "NULL"
    s = str(v)
    return s if len(s) <= MAX_CELL else f"{s[:MAX_CELL]}…(+{len(s) - MAX_CELL} chars)"


def render(res: Result) -> str:
    """A result as a text table: a header line, one line per row, then a count."""
    lines = [" | ".join(res.columns)]
    lines += [" | ".join(cell(v) for v in row) for row in res.rows]
    n = len(res.rows)
    if res.more:
        lines.append(
            f"(only the first {n} rows are shown; add a LIMIT, filters or an aggregate to see the rest)"
        )
    else:
        lines.append(f"({n} row{'' if n == 1 else 's'})")
    return "\n".join(lines)


class ReadOnlyDB:
    """Wraps a connection that holds the episode's database; after this, only reading is possible."""

    def __init__(self, conn: sqlite3.Connection, snapshot: str) -> None:
        self.conn = conn
        self.snapshot = snapshot
        conn.execute("PRAGMA query_only = ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000)
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._tick, STEP_CHUNK)
        self._reads: set[str] = set()
        self._refused: str | None = None
        self._function: str | None = None
        self._chunks = 0

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _unguarded(self) -> Iterator[sqlite3.Connection]:
        """The connection without the guards, for the environment's own use; they are back after."""
        self.conn.set_authorizer(None)
        self.conn.execute("PRAGMA query_only = OFF")
        try:
            yield self.conn
        finally:
            self.conn.execute("PRAGMA query_only = ON")
            self.conn.set_authorizer(self._authorize)

    def write(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one of the environment's own parametrised writes (the write tools'), in a transaction."""
        with self._unguarded() as conn, conn:
            conn.execute(sql, params)

    def image(self) -> bytes:
        """The whole database as bytes (for snapshots)."""
        with self._unguarded() as conn:
            return conn.serialize()

    def load(self, image: bytes) -> None:
        """Replace the whole database by an :meth:`image`."""
        with self._unguarded() as conn:
            conn.deserialize(image)

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if action in _ALLOWED:
            if action == sqlite3.SQLITE_READ and arg1:
                self._reads.add(arg1)
            elif action == sqlite3.SQLITE_FUNCTION and arg2 and arg2.lower() in _UNSTABLE_FUNCTIONS:
                self._function = self._function or arg2
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if self._refused is None:
            what = _ACTION_NAMES.get(action, f"action {action}")
            if action == sqlite3.SQLITE_PRAGMA:
                self._refused = f"PRAGMA {arg1}"
            else:
                self._refused = what + (f" {arg1}" if arg1 else "")
        return sqlite3.SQLITE_DENY

    def _tick(self) -> int:
        self._chunks += 1
        return 1 if self._chunks > MAX_CHUNKS else 0

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Result:
        """Run one read-only statement; every problem becomes a ``ToolError`` that explains it."""
        text = sql.strip()
        if not text:
            raise ToolError("the query is empty; write one SELECT statement.")
        if _CLOCK.search(text) or _NO_ARG_DATE.search(text):
            raise ToolError(
                f"this database is a snapshot taken at {self.snapshot}; the current clock ('now', "
                f"'localtime', 'utc', date() without arguments) is not available. Write the snapshot "
                f"time '{self.snapshot}' where you mean now."
            )
        self._reads = set()
        self._refused = None
        self._function = None
        self._chunks = 0
        try:
            cur = self.conn.execute(text, params)
            rows = cur.fetchmany(MAX_ROWS + 1)
            columns = tuple(d[0] for d in cur.description or ())
            cur.close()  # ends the statement (and its read), so the database can be written or copied
        except sqlite3.Error as e:
            msg = str(e)
            if "one statement at a time" in msg:
                raise ToolError("send one statement at a time (nothing after the first ';').") from None
            if self._function is not None:
                raise ToolError(
                    f"the function {self._function}() is not available here: the database is a fixed "
                    "snapshot and the same query must always give the same result."
                ) from None
            if self._refused is not None or "not authorized" in msg or "readonly" in msg:
                first = text.split(None, 1)[0].upper()
                what = f"{first} statement" if first not in ("SELECT", "WITH", "VALUES") else self._refused
                refused = f" (refused: {what})" if what else ""
                raise ToolError(
                    f"query refused{refused}. The database is read-only: only SELECT statements "
                    "(WITH ... SELECT included) are allowed."
                ) from None
            if msg == "interrupted":
                raise ToolError(
                    f"the query was stopped after {MAX_CHUNKS * STEP_CHUNK:,} steps of work. Add join "
                    "conditions (ON ...), filters or a LIMIT so that it does less work."
                ) from None
            raise ToolError(
                f"SQL error: {msg}. Check the table and column names with describe_table."
            ) from None
        except (OverflowError, ValueError, MemoryError) as e:
            raise ToolError(f"SQL error: {e}.") from None
        if not columns:
            raise ToolError("the statement returned no result columns; only SELECT queries are useful here.")
        more = len(rows) > MAX_ROWS
        return Result(columns, rows[:MAX_ROWS], more, frozenset(self._reads))
