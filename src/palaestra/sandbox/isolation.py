"""What a run is given and what it is kept from: the supervisor program (``_boot.py``, compiled
once), the paths hidden from it by default, the fixed path its working directory is mounted at,
the interpreter's installation it must be able to read, and its scrubbed environment."""

from __future__ import annotations

import contextlib
import functools
import marshal
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

_BOOT_PATH = Path(__file__).with_name("_boot.py")
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
"""Palaestra's own source (environments' reference solutions and hidden data): hidden by default."""

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@functools.cache
def _boot_code() -> str:
    """The supervisor program, compiled once here and handed over marshalled (as hex): the sandbox
    interpreter is the same executable, and compiling the source on every run would cost more."""
    source = _BOOT_PATH.read_text(encoding="utf-8")
    return marshal.dumps(compile(source, str(_BOOT_PATH), "exec")).hex()


_LOADER = "import marshal, sys; exec(marshal.loads(bytes.fromhex(sys.argv.pop())))"


def _inside_workdir() -> str:
    """Where a run sees its working directory: the same path in every run, so that paths in
    tracebacks and outputs do not depend on the run's random directory name."""
    return os.path.join(tempfile.gettempdir(), "palaestra-sandbox")


@functools.cache
def _project_dirs() -> tuple[str, ...]:
    """The source checkout Palaestra runs from, if it does, and its git directory (of which a
    worktree's ``.git`` file names a subdirectory)."""
    project = Path(_PACKAGE_DIR).parents[1]
    if not (project / "pyproject.toml").is_file():
        return ()
    dirs = [project]
    git = project / ".git"
    with contextlib.suppress(OSError, ValueError):
        if git.is_file():
            gitdir = (project / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
            common = gitdir / "commondir"
            dirs.append((gitdir / common.read_text().strip()).resolve() if common.is_file() else gitdir)
    return tuple(str(d) for d in dirs)


def _default_hide() -> list[str]:
    """What a run must not read: Palaestra's package, its checkout with the git history, and the
    caller's working directory (where the store is), unless that holds what the run needs."""
    paths = [_PACKAGE_DIR, *_project_dirs()]
    cwd = os.getcwd()
    needed = [os.path.realpath(tempfile.gettempdir()), *_runtime_dirs()]
    if cwd != "/" and not any(n == cwd or n.startswith(cwd + "/") for n in needed):
        paths.append(cwd)
    return list(dict.fromkeys(paths))


def _runtime_dirs() -> list[str]:
    """The interpreter's installation, which the sandbox uid must be able to read."""
    return sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)})


def _mountpoint() -> str | None:
    """An empty root-owned directory at a fixed path, onto which each run (in its own mount
    namespace) mounts its working directory; None if it cannot be had safely."""
    path = _inside_workdir()
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o755)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    ok = stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o022
    return path if ok else None


def _environment(workdir: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "PYTHONHASHSEED": "0",  # the same code prints the same output (set and dict order of str)
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


def _safe_relpath(name: str) -> str:
    p = Path(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"sandbox file name {name!r} must be a relative path inside the working directory")
    return str(p)


def _user_processes(uid: int) -> int:
    """How many processes the user ``uid`` has now (for RLIMIT_NPROC, which counts them all)."""
    n = 0
    if not os.path.isdir("/proc"):
        return n
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    n += 1
    return n
