"""Running the CLI in a subprocess, and reading what it printed as a user reads it."""

from __future__ import annotations

import re
import sys

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
