"""Running the CLI in a subprocess, and reading what it printed as a user reads it."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]

_WARNING = re.compile(r"^(?P<path>\S+\.py):\d+: \w*Warning: ")


def stderr_lines(stderr: str) -> list[str]:
    """The non-empty lines of ``stderr`` without warnings that third-party libraries printed.

    A Python warning is printed as ``path.py:LINE: Category: message`` and an indented source line.
    Those issued from outside Palaestra (a library deprecating an API in a new release) are dropped,
    so a test's "one line" assertions hold whatever pip installed; Palaestra's own warnings stay.
    """
    out: list[str] = []
    skipping = False
    for line in stderr.splitlines():
        m = _WARNING.match(line)
        if m is not None:
            skipping = "/palaestra/" not in m.group("path")
            if skipping:
                continue
        elif skipping and line.startswith((" ", "\t")):
            continue
        else:
            skipping = False
        if line.strip():
            out.append(line)
    return out


def episodes_so_far(db: Path) -> int:
    """Episodes in the store ``db`` so far, read without creating or migrating it (a run in another
    process may be writing it); 0 while it does not exist yet."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT count(*) FROM episodes").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0
