"""A memory cgroup per sandbox run: one bound on the memory of all its processes together.

The parent (root) makes a child cgroup of its own memory cgroup, named after the run's uid, and
sets its limit (no swap beyond it), and moves the run's supervisor into it as soon as it is
started (a move waits for the kernel's RCU grace period, some 10 ms: the supervisor starts up in the
meantime and waits for the move only before it forks); so the script and everything it starts (and
the files it writes to the run's tmpfs) are charged to it. The script's processes have the highest
``oom_score_adj``: the OOM killer takes them before the supervisor. When the run is over the parent reads how many processes the kernel killed for
lack of memory and removes the cgroup.

cgroup v2 is used where its memory controller is enabled for the parent's cgroup's children (or
can be); else cgroup v1's memory hierarchy; else there is none and ``create`` returns None (the
run falls back to ``RLIMIT_AS`` per process).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class _Hierarchy:
    path: str  # the parent process's own memory cgroup
    version: int


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) of every mount, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) >= 5 and len(rest) >= 3:
                out.append((fields[3], fields[4], rest[0], rest[2]))
    return out


def _own(controller: str | None) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (None: the v2 one)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if (controller is None and hid == "0") or (controller in controllers.split(",")):
                return path
    return None


def _under(mount_root: str, mount_point: str, path: str) -> str | None:
    if path != mount_root and not path.startswith(mount_root.rstrip("/") + "/"):
        return None
    return mount_point + path[len(mount_root.rstrip("/")) :]


@functools.cache
def _hierarchy() -> _Hierarchy | None:
    if os.geteuid() != 0:
        return None
    try:
        mounts, v2, v1 = _mounts(), _own(None), _own("memory")
    except OSError:
        return None
    for root, point, fstype, options in mounts:
        if fstype == "cgroup2" and v2 is not None and (path := _under(root, point, v2)):
            with contextlib.suppress(OSError):
                with open(os.path.join(path, "cgroup.subtree_control"), "r+") as f:
                    if "memory" not in f.read().split():
                        f.write("+memory")
                return _Hierarchy(path, 2)
        v1_memory = fstype == "cgroup" and "memory" in options.split(",") and v1 is not None
        if v1_memory and v1 is not None and (path := _under(root, point, v1)) and os.access(path, os.W_OK):
            return _Hierarchy(path, 1)
    return None


class MemoryCgroup:
    """One run's memory cgroup; ``procs`` is the file the supervisor writes the worker's pid to."""

    def __init__(self, path: str, version: int) -> None:
        self.path = path
        self.version = version
        self.procs = os.path.join(path, "cgroup.procs")

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup | None:
        """A fresh cgroup limited to ``limit_bytes`` of memory; None where there is none to be had."""
        h = _hierarchy()
        if h is None:
            return None
        path = os.path.join(h.path, name)
        with contextlib.suppress(OSError):
            os.rmdir(path)  # a leftover of a parent that was killed
        try:
            os.mkdir(path)
        except OSError:
            return None
        cgroup = cls(path, h.version)
        try:
            if h.version == 2:
                cgroup._write("memory.max", limit_bytes)
                cgroup._write("memory.swap.max", 0, optional=True)
            else:
                cgroup._write("memory.limit_in_bytes", limit_bytes)
                cgroup._write("memory.memsw.limit_in_bytes", limit_bytes, optional=True)
        except OSError:
            cgroup.remove()
            return None
        return cgroup

    def _write(self, name: str, value: int, *, optional: bool = False) -> None:
        path = os.path.join(self.path, name)
        if optional and not os.path.exists(path):
            return
        with open(path, "w") as f:
            f.write(str(value))

    def join(self, pid: int, gate: int) -> None:
        """Move process ``pid`` into the cgroup, then write to (and close) ``gate``: ``1`` if it
        moved, ``0`` if not."""
        try:
            with open(self.procs, "w") as f:
                f.write(str(pid))
            moved = b"1"
        except OSError:
            moved = b"0"
        try:
            os.write(gate, moved)
        except OSError:
            pass  # the process is gone
        finally:
            os.close(gate)

    def oom_kills(self) -> int | None:
        """Processes the kernel killed for going over the limit (None: the kernel does not say)."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError), open(os.path.join(self.path, name)) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return None

    def remove(self) -> None:
        """Remove the cgroup (its processes are gone; a moment may pass until the kernel agrees)."""
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)
