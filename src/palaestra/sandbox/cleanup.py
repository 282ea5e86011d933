"""Ending a run from the parent: waiting for its supervisor (killing it if it lingers), killing
what is left of the run's uid, sweeping what the uid left in shared temporary directories, deleting
the working directory, and giving back the uid and the memory cgroup."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time

from palaestra.sandbox import uids
from palaestra.sandbox.cgroups import MemoryCgroup

_STOP_GRACE = 3.0  # seconds the supervisor gets to clean up after SIGTERM before it is killed


def _kill_uid(uid: int) -> None:
    """Last resort (the supervisor did not clean up): SIGKILL every process whose real uid is ``uid``."""
    for _ in range(20):
        found = False
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fd = os.pidfd_open(int(entry.name))
            except OSError:
                continue
            try:
                with open(f"/proc/{entry.name}/status") as f:
                    real = next((line.split()[1] for line in f if line.startswith("Uid:")), None)
                if real == str(uid):
                    found = True
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(fd)
        if not found:
            return
        time.sleep(0.01)


def _sweep_temp_dirs(uid: int) -> None:
    """Delete what the run's uid left at the top of the shared temporary directories."""
    for d in {tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"}:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def _wait_gone(pid: int, grace: float) -> None:
    """Wait until process ``pid`` has ended (it may stay a zombie until reaped); SIGKILL it after
    ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except (OSError, IndexError):
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.005)


def _emergency_cleanup(
    pid: int, lease: uids.UidLease | None, workdir: str, cgroup: MemoryCgroup | None
) -> None:
    """Run by the finalizer of a Session dropped while its process was alive."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    _wait_gone(pid, _STOP_GRACE)
    _release(lease, workdir, cgroup, kill=True)


def _release(lease: uids.UidLease | None, workdir: str, cgroup: MemoryCgroup | None, *, kill: bool) -> None:
    """Delete a run's working directory and what its uid left, give the uid back, remove its
    cgroup; first kill what is left of the uid when ``kill``."""
    if lease is not None and kill:
        _kill_uid(lease.uid)
    shutil.rmtree(workdir, ignore_errors=True)
    if lease is not None:
        _sweep_temp_dirs(lease.uid)
        uids.release(lease)
    if cgroup is not None:
        cgroup.remove()
