"""The SQLite database (in memory): tables ``orders`` and ``products``."""

from __future__ import annotations

import sqlite3
from typing import Any

from palaestra import ToolError, record_undo, tool
from palaestra.envs.tools.state import SQL_CLOCK, WorldState

MAX_ROWS = 50
MAX_CELL = 1000


class SqlTools(WorldState):
    def _run(self, sql: str, params: tuple[Any, ...] = (), write: bool = False) -> sqlite3.Cursor:
        if self.db is None or self.sql_guard is None:
            raise ToolError("the database is not available in this episode.")
        if SQL_CLOCK.search(sql):
            raise ToolError(
                f"the computer's clock is not available in SQL: today is {self.today.isoformat()}, so "
                f"write '{self.today.isoformat()}' where you mean today (date('{self.today.isoformat()}', "
                "'-7 days') works)."
            )
        self.sql_guard.arm(write)
        try:
            return self.db.execute(sql, params)
        except sqlite3.DatabaseError as e:
            msg = str(e).rstrip(".")
            if "not authorized" in msg and self.sql_guard.refused_function:
                msg = (
                    f"the function {self.sql_guard.refused_function}() is not available: the same "
                    "statement must always give the same result"
                )
            elif "not authorized" in msg:
                msg += (
                    " (execute_sql may only INSERT, UPDATE or DELETE rows; "
                    if write
                    else " (run_sql_query is read-only: use execute_sql to change rows; "
                )
                msg += "schema changes, ATTACH and PRAGMA are not allowed)"
            elif "interrupted" in msg:
                msg = "the statement ran too long and was stopped"
            raise ToolError(f"SQL error: {msg}.") from None
        except (sqlite3.Error, ValueError, OverflowError) as e:
            raise ToolError(f"SQL error: {str(e).rstrip('.')}.") from None
        finally:
            self.sql_guard.arm(False)

    def _tables(self) -> list[str]:
        rows = self._run("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def _table(self, table: str) -> str:
        t = table.strip()
        if t not in self._tables():
            raise ToolError(f"no table {table!r}; tables: {', '.join(self._tables())}.")
        return t

    @tool
    def list_tables(self) -> list[str]:
        """Names of the tables in the SQL database."""
        return self._tables()

    @tool
    def describe_table(self, table: str) -> dict[str, Any]:
        """Columns (name and type) and row count of a database table.

        Args:
            table: table name, e.g. "orders".
        """
        t = self._table(table)
        cols = self._run(f'SELECT name, type FROM pragma_table_info("{t}")').fetchall()
        n = self._run(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        return {"table": t, "columns": [{"name": c, "type": ty} for c, ty in cols], "rows": n}

    @tool
    def run_sql_query(self, query: str) -> dict[str, Any]:
        """Run one read-only SQL query (SELECT) on the SQLite database; at most 50 rows are shown.

        Args:
            query: one SQLite SELECT statement, e.g. "SELECT COUNT(*) FROM orders WHERE region = 'North'".
        """
        cur = self._run(query)
        cols = [d[0] for d in cur.description or ()]
        rows = cur.fetchmany(MAX_ROWS + 1)
        out: dict[str, Any] = {"columns": cols, "rows": [[_cell(v) for v in r] for r in rows[:MAX_ROWS]]}
        if len(rows) > MAX_ROWS:
            out["note"] = f"only the first {MAX_ROWS} rows are shown; aggregate or add LIMIT/WHERE."
        return out

    def _undo_sql(self, db: bytes) -> None:
        """Put the database back as it was before an ``execute_sql``."""
        assert self.sql_guard is not None
        with self.sql_guard.off() as conn:
            conn.deserialize(db)

    @tool(reversible=True, undo="_undo_sql")
    def execute_sql(self, statement: str) -> dict[str, Any]:
        """Run one SQL statement that changes rows (INSERT, UPDATE or DELETE) and report the rows affected.

        Args:
            statement: one SQLite INSERT, UPDATE or DELETE statement.
        """
        if self.db is not None and self.sql_guard is not None:
            with self.sql_guard.off() as conn:
                record_undo(db=conn.serialize())
        cur = self._run(statement, write=True)
        return {"rows_affected": cur.rowcount}

    @tool
    def count_rows(self, table: str, where: str = "") -> int:
        """Number of rows of a table, optionally only those matching a SQL condition.

        Args:
            table: table name.
            where: SQL condition without the word WHERE, e.g. "status = 'shipped'" (optional).
        """
        t = self._table(table)
        sql = f'SELECT COUNT(*) FROM "{t}"' + (f" WHERE {where}" if where.strip() else "")
        return int(self._run(sql).fetchone()[0])

    @tool
    def sum_column(self, table: str, column: str, where: str = "") -> float:
        """Sum of a numeric column of a table, optionally only over rows matching a SQL condition.

        Args:
            table: table name.
            column: column name, or a SQL expression such as "quantity * unit_price".
            where: SQL condition without the word WHERE (optional).
        """
        t = self._table(table)
        sql = f'SELECT TOTAL({column}) FROM "{t}"' + (f" WHERE {where}" if where.strip() else "")
        return round(float(self._run(sql).fetchone()[0]), 2)


def _cell(value: Any) -> Any:
    """A value as shown, long texts and blobs cut to ``MAX_CELL`` characters."""
    if isinstance(value, bytes):
        value = value.hex()
    if isinstance(value, str) and len(value) > MAX_CELL:
        return f"{value[:MAX_CELL]}...(+{len(value) - MAX_CELL} characters)"
    return value
