"""Answer kinds: how a ground-truth value is read off SQL rows, written, parsed from an agent, graded.

| kind   | written as                  | graded                                                  |
|--------|-----------------------------|---------------------------------------------------------|
| id     | ``AGT007``                  | exact, case-insensitive                                  |
| ids    | ``REF003, REF017`` / none   | same set of ids, in any order (``none``: empty)          |
| int    | ``12``                      | exact                                                    |
| number | ``1234.50``                 | within 0.01 of the truth rounded to 2 decimals           |
| month  | ``2024-03``                 | exact                                                    |
| state  | ``CA``                      | exact, case-insensitive                                  |
| text   | a name or an email          | exact after trimming, case and runs of spaces ignored    |

A submission that is not of the asked kind (a word where a number is due, an agent id where a
refund id is due) is refused with an explanation and the episode goes on; a well-formed wrong
answer ends it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from palaestra import ToolError
from palaestra.envs.crm.schema import TABLE, table_of_id

Kind = Literal["id", "ids", "int", "number", "month", "state", "text"]
Value = str | int | float | frozenset[str]
TOLERANCE = 0.01

_INT = re.compile(r"[-+]?\d+(\.0*)?")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_SPLIT = re.compile(r"[\s,;]+")
_NONE = {"", "none", "no", "nothing", "empty", "[]", "null"}


def from_rows(kind: Kind, rows: list[tuple[Any, ...]]) -> Value:
    """The ground truth from the rows of the ground-truth query."""
    if kind == "ids":
        return frozenset(str(r[0]) for r in rows)
    if not rows or rows[0][0] is None:
        if kind in ("int", "number"):
            return 0 if kind == "int" else 0.0
        raise ValueError("the ground-truth query returned no answer")
    v = rows[0][0]
    if kind == "int":
        return int(v)
    if kind == "number":
        return round(float(v), 2)
    return str(v)


def render(kind: Kind, value: Value) -> str:
    """The canonical way to write ``value`` (what the expert submits)."""
    if isinstance(value, frozenset):
        return ", ".join(sorted(value)) if value else "none"
    if kind == "number":
        return f"{float(value):.2f}"
    return str(value)


def describe(kind: Kind, id_table: str | None = None) -> str:
    """How the answer must be written, for the question text and for error messages."""
    if kind == "id" or kind == "ids":
        t = TABLE[id_table or ""]
        one = f"{t.name} id such as {t.example_id()}"
        return f"one {one}" if kind == "id" else f"a comma-separated list of {one}s (or 'none')"
    return {
        "int": "a whole number",
        "number": "a number (rounded to 2 decimals)",
        "month": "a month written YYYY-MM",
        "state": "a two-letter state code such as CA",
        "text": "a name or an email, written as stored",
    }[kind]


def _clean(s: str) -> str:
    return s.strip().strip("\"'`").strip().rstrip(".").strip()


def parse(kind: Kind, raw: str | int | float | list[str], id_table: str | None = None) -> Value:
    """The submitted answer as a value of ``kind``; ``ToolError`` if it is not one."""
    want = describe(kind, id_table)
    if kind == "ids":
        items = raw if isinstance(raw, list) else _SPLIT.split(str(raw).strip().strip("[]"))
        ids = [_clean(str(x)).upper() for x in items]
        ids = [x for x in ids if x.lower() not in _NONE]
        for x in ids:
            t = table_of_id(x)
            if t is None or t.name != id_table:
                raise ToolError(f"{x!r} is not a {id_table} id; the answer must be {want}.")
        return frozenset(ids)
    if isinstance(raw, list):
        if len(raw) != 1:
            raise ToolError(f"give a single answer, not a list; the answer must be {want}.")
        raw = raw[0]
    if kind == "int":
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, int):
            return raw
        s = _clean(str(raw)).replace(",", "")
        if not _INT.fullmatch(s):
            raise ToolError(f"{raw!r} is not a whole number; the answer must be {want}.")
        return int(float(s))
    if kind == "number":
        if isinstance(raw, int | float):
            return float(raw)
        s = _clean(str(raw)).replace(",", "").replace("$", "").replace("USD", "").strip()
        if not _NUMBER.fullmatch(s):
            raise ToolError(f"{raw!r} is not a number; the answer must be {want}.")
        return float(s)
    s = _clean(str(raw))
    if kind == "id":
        t = table_of_id(s)
        if t is None or t.name != id_table:
            raise ToolError(f"{s!r} is not a {id_table} id; the answer must be {want}.")
        return s.upper()
    if kind == "month":
        m = _MONTH.fullmatch(s)
        if not m or not 1 <= int(m[2]) <= 12:
            raise ToolError(f"{s!r} is not a month; the answer must be {want}.")
        return f"{m[1]}-{int(m[2]):02d}"
    if kind == "state":
        if not re.fullmatch(r"[A-Za-z]{2}", s):
            raise ToolError(f"{s!r} is not a two-letter state code; the answer must be {want}.")
        return s.upper()
    if not s:
        raise ToolError("the answer is empty.")
    if table_of_id(s) is not None:
        raise ToolError(f"{s!r} is an id, but the question asks for a name or an email, written as stored.")
    return " ".join(s.split()).casefold()


def correct(kind: Kind, given: Value, truth: Value) -> bool:
    if kind == "number":
        assert isinstance(given, float | int) and isinstance(truth, float | int)
        return abs(float(given) - float(truth)) <= TOLERANCE + 1e-9
    if kind == "text":
        return given == " ".join(str(truth).split()).casefold()
    if kind in ("id", "state"):
        return str(given).upper() == str(truth).upper()
    return given == truth
