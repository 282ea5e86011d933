"""``WorldState``: the mutable world of one episode, and the helpers every tool module shares.

The tool modules in ``domains/`` are mixins of this class; ``world.World`` combines them. Tools
raise ``ToolError`` with a message that says what was wrong and what to do instead.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import difflib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from palaestra import ToolError, record_undo
from palaestra.envs.tools.data import CITIES, CITY_BY_KEY, CURRENCIES, City
from palaestra.envs.tools.records import Event, Mail, Person, Reminder, WorldData

MAX_SQL_STEPS = 2_000_000  # SQLite VM instructions per statement before it is aborted
MAX_SQL_LENGTH = 100_000  # longest string or blob a statement may build
MAX_SQL_COLUMNS = 64  # most columns a result may have


_COUNTER = {"people": "c", "events": "ev", "mails": "m", "reminders": "r"}
"""The id counter of each record list."""


def close_matches(word: str, options: list[str], n: int = 3) -> str:
    found = difflib.get_close_matches(word, options, n=n, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(f) for f in found)}?" if found else ""


def norm(text: str) -> str:
    return " ".join(text.lower().split())


class WorldState:
    """The state of the world; tool mixins add the actions."""

    def __init__(self, data: WorldData, root: Path | None = None, with_db: bool = True) -> None:
        self.seed = data.seed
        self.today = dt.date.fromisoformat(data.today)
        self.now = data.now
        self.user_name = data.user_name
        self.user_email = data.user_email
        self.home_city = data.home_city
        self.per_usd = dict(data.per_usd)
        self.people: list[Person] = [p.clone() for p in data.people]
        self.events: list[Event] = [e.clone() for e in data.events]
        self.mails: list[Mail] = [m.clone() for m in data.mails]
        self.reminders: list[Reminder] = [r.clone() for r in data.reminders]
        self.counters = {"c": len(self.people), "ev": 100 + len(self.events), "m": 200 + len(self.mails)}
        self.counters["r"] = len(self.reminders)
        self.root = root
        self.db: sqlite3.Connection | None = None
        self.sql_guard: SqlGuard | None = None
        if with_db:
            self.db = make_db(data)
            self.sql_guard = SqlGuard(self.db)
        if root is not None:
            for rel, text in sorted(data.files.items()):
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    # ---- undo (the reversible tools keep what they change) ---------------------------------------
    def keep_record(self, kind: str, record: Any = None) -> None:
        """Before a reversible tool changes the record list ``kind`` (``mails``, ``events``, ...):
        keep what undoing it needs. With ``record``, that record is about to change or go away (a
        copy and its position are kept); without, one is about to be added (the list's length and the
        id counters are kept)."""
        items: list[Any] = getattr(self, kind)
        if record is None:
            record_undo(kind=kind, length=len(items), counter=self.counters[_COUNTER[kind]])
        else:
            index = next(i for i, r in enumerate(items) if r is record)
            record_undo(kind=kind, index=index, record=copy.deepcopy(record))

    def _undo_record(
        self,
        kind: str,
        index: int | None = None,
        record: Any = None,
        length: int | None = None,
        counter: int | None = None,
    ) -> None:
        """Undo one change that :meth:`keep_record` prepared for. Each undo reverts its own change
        only (one record, or the records one call added and the ids they took), so undoing calls made
        before an irreversible one leaves what that one did in place."""
        items: list[Any] = getattr(self, kind)
        if length is not None and counter is not None:  # records were added: drop them and their ids
            del items[length:]
            self.counters[_COUNTER[kind]] = counter
        elif index is not None and index < len(items) and items[index].id == record.id:
            items[index] = copy.deepcopy(record)  # changed in place
        elif index is not None:
            items.insert(index, copy.deepcopy(record))  # removed

    # ---- shared helpers --------------------------------------------------------------------------
    def next_id(self, kind: str) -> str:
        self.counters[kind] += 1
        n = self.counters[kind]
        return f"c-{n:02d}" if kind == "c" else f"{kind}-{n}"

    def city(self, name: str) -> City:
        found = CITY_BY_KEY.get(norm(name))
        if found is None:
            names = [c.name for c in CITIES]
            hint = close_matches(name.strip().title(), names)
            raise ToolError(f"unknown city {name!r}.{hint} Call list_cities for the cities the world knows.")
        return found

    def currency(self, code: str) -> str:
        c = code.strip().upper()
        if c not in CURRENCIES:
            raise ToolError(
                f"unknown currency {code!r}; use a three-letter ISO code such as EUR or USD "
                f"(list_currencies gives all {len(CURRENCIES)})."
            )
        return c

    @staticmethod
    def date(value: str, what: str = "date") -> dt.date:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ToolError(f"{what} {value!r} is not a date; write it as YYYY-MM-DD.") from None

    @staticmethod
    def minutes(value: str, what: str = "time") -> int:
        parts = value.strip().split(":")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            h, m = int(parts[0]), int(parts[1])
            if 0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 24 * 60:
                return h * 60 + m
        raise ToolError(f"{what} {value!r} is not a time; write it as HH:MM (24-hour clock).")

    def person(self, name: str) -> Person:
        """The contact called ``name``: full name, or a first or last name that only one has."""
        key = norm(name)
        exact = [p for p in self.people if norm(p.name) == key]
        if exact:
            return exact[0]
        partial = [p for p in self.people if key in norm(p.name).split()]
        if len(partial) == 1:
            return partial[0]
        if partial:
            who = ", ".join(f"{p.name} ({p.id})" for p in partial)
            raise ToolError(f"{len(partial)} contacts are called {name!r}: {who}. Use the full name.")
        hint = close_matches(name, [p.name for p in self.people])
        raise ToolError(f"no contact called {name!r}.{hint} search_contacts finds contacts by any part.")

    def weekday(self, day: dt.date) -> str:
        return day.strftime("%A")


def make_db(data: WorldData) -> sqlite3.Connection:
    """An in-memory SQLite database with the world's ``products`` and ``orders`` tables."""
    # cached_statements=0: a cached statement skips the authorizer, so a DELETE first run through
    # execute_sql would later pass run_sql_query's read-only guard.
    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False, cached_statements=0)
    db.execute("CREATE TABLE products (name TEXT PRIMARY KEY, category TEXT, price REAL, stock INTEGER)")
    db.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, product TEXT, quantity INTEGER, "
        "unit_price REAL, order_date TEXT, region TEXT, status TEXT)"
    )
    db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", data.products)
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data.orders)
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQL_LENGTH)
    db.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_SQL_COLUMNS)
    return db


_READ = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info"})
_WRITE = _READ | {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
UNSTABLE_FUNCTIONS = frozenset(
    {"random", "randomblob", "current_date", "current_time", "current_timestamp", "load_extension"}
)
"""Functions whose result differs between runs: the same actions must give the same observations."""
SQL_CLOCK = re.compile(
    r"""['"]\s*(now|localtime|utc)\s*['"]|\b(date|time|datetime|julianday|unixepoch)\s*\(\s*\)"""
    r"""|\bstrftime\s*\(\s*('[^']*'|"[^"]*")\s*\)""",
    re.IGNORECASE,
)
"""The host's clock or time zone in a date function (the world has its own today)."""


class SqlGuard:
    """Allows only reading (or reading and row changes), and aborts statements that run too long.

    Nothing else passes: no ATTACH (files outside the scratch directory), no PRAGMA, no schema change.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.allowed = _READ
        self.steps = 0
        self.refused_function: str | None = None
        self._install()

    def _install(self) -> None:
        self.db.set_authorizer(self._authorize)
        self.db.set_progress_handler(self._progress, 1000)

    @contextlib.contextmanager
    def off(self) -> Iterator[sqlite3.Connection]:
        """The raw connection, unguarded, for the environment's own use (snapshots)."""
        self.db.set_authorizer(None)
        self.db.set_progress_handler(None, 1000)
        try:
            yield self.db
        finally:
            self._install()

    def arm(self, write: bool) -> None:
        self.allowed = _WRITE if write else _READ
        self.steps = 0
        self.refused_function = None

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in UNSTABLE_FUNCTIONS:
            self.refused_function = self.refused_function or arg2
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and arg1 in _READ_PRAGMAS:
            return sqlite3.SQLITE_OK  # schema introspection such as pragma_table_info('orders')
        if action == sqlite3.SQLITE_UPDATE and arg1 in ("sqlite_master", "sqlite_schema"):
            return sqlite3.SQLITE_OK  # SQLite's own schema bookkeeping (users cannot modify it anyway)
        return sqlite3.SQLITE_OK if action in self.allowed else sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        self.steps += 1
        return 1 if self.steps * 1000 > MAX_SQL_STEPS else 0
