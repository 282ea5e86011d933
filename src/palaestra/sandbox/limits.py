"""What a sandboxed run did (``SandboxResult``), its output captured up to a cap, and which limit
ended it: what the parent stopped it for, the signals of the CPU limit, the exception the worker
reported, the memory cgroup's kill count, or the words of the last traceback."""

from __future__ import annotations

import contextlib
import re
import signal
from dataclasses import dataclass
from typing import Literal

Limit = Literal["timeout", "memory", "cpu", "file_size", "disk", "processes", "output"]


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    ``exit_code`` is the script's exit status (negative: killed by that signal; None: unknown).
    ``limit`` names the limit that ended the run, if one did: ``timeout`` (wall clock), ``cpu``,
    ``memory``, ``processes``, ``file_size`` or ``output`` (more output than ``max_output`` bytes
    on one stream; the run is stopped). ``stdout``/``stderr`` are cut at ``max_output`` bytes with a
    marker saying so. ``network_isolated``, ``uid`` (None: ran as the caller's user) and ``hidden``
    say which isolation was really in force; ``notes`` says why something was not.
    """

    stdout: str
    stderr: str
    exit_code: int | None
    limit: Limit | None
    duration: float
    cpu_time: float = 0.0
    max_rss_mb: float = 0.0
    network_isolated: bool = False
    uid: int | None = None
    hidden: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    mechanisms: tuple[str, ...] = ()
    """The isolation mechanisms that were in force: ``own-uid``, ``network-namespace``,
    ``mount-namespace``, ``ipc-namespace``, ``pid-namespace``, ``private-root``, ``memory-cgroup``
    (see README.md here for what each contains)."""
    files: dict[str, str] | None = None
    """Text files left in the working directory (when asked for), by relative path."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None

    def describe_limit(self, timeout: float | None = None) -> str:
        """One sentence on why the run stopped, for people and agents ("" for a clean run)."""
        if self.limit == "timeout":
            return "Stopped: the time limit" + (f" of {timeout:g} s" if timeout else "") + " ran out."
        if self.limit is not None:
            return {
                "cpu": "Stopped: the CPU time limit was reached.",
                "memory": "Stopped: the memory limit was reached.",
                "processes": "Failed: the limit on the number of processes/threads was reached.",
                "file_size": "Failed: the file size limit was reached.",
                "disk": "Failed: the disk space limit was reached.",
                "output": "Stopped: the program wrote more output than allowed.",
            }[self.limit]
        if self.exit_code is not None and self.exit_code < 0:
            with contextlib.suppress(ValueError):
                return f"Killed by signal {signal.Signals(-self.exit_code).name}."
        return ""


class _Capture:
    """Bytes of one output stream, capped: the head is kept, and for stderr also the tail."""

    def __init__(self, cap: int, keep_tail: bool) -> None:
        self.cap = cap
        self.keep_tail = keep_tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> bool:
        """Keep what fits; True once the stream has gone past its cap."""
        self.total += len(chunk)
        head_cap = self.cap // 2 if self.keep_tail else self.cap
        room = head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk and self.keep_tail:
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - (self.cap - head_cap))]
        return self.total > self.cap

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        if self.total <= self.cap:
            return head + self.tail.decode("utf-8", errors="replace")
        marker = f"\n[... output truncated: {self.total} bytes in all, limit {self.cap} ...]\n"
        return head + marker + self.tail.decode("utf-8", errors="replace")


_MEMORY = re.compile(r"^MemoryError\b", re.MULTILINE)
_PROCS = re.compile(r"BlockingIOError: \[Errno 11\]|can't start new thread|Resource temporarily unavailable")
_FSIZE = re.compile(r"\[Errno 27\] File too large")
_DISK = re.compile(r"\[Errno 28\] No space left on device")
_ERRORS: dict[str, Limit] = {
    "MemoryError": "memory",
    "BlockingIOError 11": "processes",
    "OSError 12": "memory",
}
_ERRORS |= {
    "RuntimeError None can't start new thread": "processes",
    "OSError 27": "file_size",
    "OSError 28": "disk",
}


def _limit_of_error(error: str | None) -> Limit | None:
    """The limit behind the exception that ended the worker (``"Type errno message"``), if any."""
    for prefix, limit in _ERRORS.items():
        if error is not None and error.startswith(prefix):
            return limit
    return None


def _classify(
    stopped: bool,
    killed_for: Limit | None,
    exit_code: int | None,
    stderr: str,
    cpu: float,
    cpu_limit: int,
    error: str | None = None,
    oom_kills: int | None = None,
) -> Limit | None:
    """Which limit ended the run: what we stopped it for; else the CPU limit's signals; else the
    exception that ended the script (reported by the worker itself, so the failures of other
    processes it started cannot mislead); else the cgroup's count of processes killed for lack of
    memory; else, without a cgroup, an unexplained SIGKILL (the OOM killer); else the last
    traceback's words."""
    if stopped or killed_for is not None:
        return killed_for  # we ended the run (for this reason, or because the caller asked)
    if exit_code is None:  # the supervisor did not report: it may have been killed for lack of memory
        return "memory" if oom_kills else None
    if exit_code == 0:
        return None
    if exit_code == -signal.SIGXCPU or (exit_code == -signal.SIGKILL and cpu >= cpu_limit - 0.05):
        return "cpu"
    if (limit := _limit_of_error(error)) is not None:
        return limit
    if oom_kills:
        return "memory"
    if exit_code == -signal.SIGKILL and oom_kills is None:
        return "memory"  # a SIGKILL we did not send and not at the CPU limit: the OOM killer
    for pattern, name in ((_MEMORY, "memory"), (_PROCS, "processes"), (_FSIZE, "file_size"), (_DISK, "disk")):
        if pattern.search(stderr):
            return name  # type: ignore[return-value]
    if exit_code == -signal.SIGXFSZ:
        return "file_size"
    return None
