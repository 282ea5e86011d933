"""Opening a store: refusing what is not one, migrating an older schema, read-only connections.

``StoreConnection`` holds the one connection of a :class:`~palaestra.store.Store` and its write
transactions; the writer and the readers build on it. ``ReadOnlyPool`` holds the read-only
connections of a reader that many threads share (the viewer's), each read under a time limit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from palaestra._hints import command_line
from palaestra.errors import StoreError
from palaestra.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")

_SQLITE_HEADER = b"SQLite format 3\x00"


def check_file(path: Path) -> int | None:
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


class StoreConnection:
    """A store's one connection: opened (and checked, created or migrated), and its writes made
    in transactions that report a failure as one line."""

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
        version = check_file(self.path)
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_store(path: Path) -> dict[str, set[str]]:
    """Refuse, with the Store's one-line errors, anything but an existing Palaestra store.

    Returns the columns of each table, so a reader (the viewer) reads older schemas too (it cannot
    migrate a store it only reads; the columns added later, such as a match's ``result``, are then absent).
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


class QueryTimeout(Exception):
    """A query ran past its pool's time limit and was interrupted."""


class ReadOnlyPool:
    """A small pool of read-only connections to an existing store; each read is one short,
    synchronous call, interrupted (:class:`QueryTimeout`) if it runs past ``query_timeout``."""

    def __init__(self, path: str | Path, *, query_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.columns = check_store(self.path)
        self.query_timeout = query_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

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
