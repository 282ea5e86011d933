"""Command lines the CLI prints as hints, written so that pasting them works as printed."""

from __future__ import annotations

import shlex
from pathlib import Path

DEFAULT_STORE = Path("palaestra.db")


def command_line(*args: str, store: Path | None = None) -> str:
    """A ``palaestra`` command line to paste: ``args`` with ``--store`` when the store is not the
    default one, quoted for the shell."""
    parts = ["palaestra", *args]
    if store is not None and store != DEFAULT_STORE:
        parts += ["--store", str(store)]
    return shlex.join(parts)


def resume_hint(command: str, run_id: str, *, store: Path, api_key: str | None) -> str:
    """How to finish an unfinished run. The key is never printed: the resumed run takes it again
    from ``--api-key`` or ``$OPENAI_API_KEY``, so the hint says so when it came from the flag."""
    line = command_line(command, "--resume", run_id, store=store)
    return line + (" (and --api-key again)" if api_key else "")
