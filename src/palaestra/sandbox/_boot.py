"""The program that runs first inside every sandbox process.

:mod:`palaestra.sandbox.isolation` compiles it once and :mod:`palaestra.sandbox.process` starts
``python -S -s -B -u -c LOADER CFG CODE``: the loader unmarshals and runs CODE (this module), CFG is
the ``repr`` of a dict of settings. It never imports Palaestra (the sandbox interpreter runs with
``-S``: the standard library only) and imports as little as it can (no ``ctypes``, ``typing``,
``signal``, ``json``): every run pays for every import.

It becomes a small *supervisor*:

1. It unshares, one by one, the network, mount, IPC and PID namespaces the system allows (as root;
   otherwise it tries an unprivileged user namespace for the network and mounts), waits until the
   parent has moved it into the run's memory cgroup, and, with a PID namespace, forks that
   namespace's init, which does the rest (the first process only passes SIGTERM on).
2. In the mount namespace it builds a private root on a tmpfs and ``chroot``s into it: the system
   directories and the Python installation read-only, a new ``/proc``, a few devices, and one
   size-limited tmpfs for the working directory (a copy of the parent's files) and the temporary
   directories. Where that fails it masks the paths to hide in the host's file system instead.
   What worked is reported back, never assumed.
3. It becomes a child subreaper and forks the *worker*, which raises its ``oom_score_adj``, starts
   a new session, sets the resource limits, drops to the run's own unprivileged uid/gid (when
   started as root), sets ``no_new_privs`` and runs the user's script in a fresh ``__main__``
   module; if the script dies of an exception, the worker reports which on a pipe of its own.
4. When the worker exits, or the parent asks it to stop (SIGTERM), the supervisor kills every
   process that is left (as the PID namespace's init: all of them; otherwise the worker's process
   group, every process of the run's uid and every adopted child) and reaps them all.
5. It writes one line (a dict ``repr``) to the status pipe: the worker's exit code, CPU time, peak
   memory, its error, the collected files and the isolation that was in force, and exits.
"""

from __future__ import annotations

import os
import resource
import sys
import time

TYPE_CHECKING = False  # mypy reads the first branch; at run time "typing" would cost ~10 ms of imports
if TYPE_CHECKING:
    import signal
    from typing import Any
else:
    import _signal as signal  # the C module: "signal" itself imports enum, functools, ...

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2

SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
"""What of the host's file system a private root shows (read-only), with the Python installation."""
DEVICES = ("null", "zero", "full", "random", "urandom")
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
"""Writable in a private root: each a directory of the run's own size-limited tmpfs."""
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38

SETUP_FAILED = 70
"""Exit code of a worker whose setup failed (the message is on its stderr)."""


class _Stop(Exception):
    """Raised in the supervisor by SIGTERM: the parent wants the run ended now."""


def _on_term(signum: int, frame: Any) -> None:
    raise _Stop


class _Libc:
    """The libc calls the supervisor needs (unshare, mount, prctl), made through ``_ctypes``:
    importing ``ctypes`` itself would cost every run several milliseconds."""

    def __init__(self) -> None:
        ct: Any = __import__("_ctypes")

        class Int(ct._SimpleCData):  # type: ignore[misc]
            _type_ = "i"

        class Function(ct.CFuncPtr):  # type: ignore[misc]
            _flags_ = ct.FUNCFLAG_CDECL | ct.FUNCFLAG_USE_ERRNO
            _restype_ = Int

        class Library:
            _handle = ct.dlopen(None, 0)

        def load(name: str) -> Any:
            try:
                return Function((name, Library))
            except AttributeError:
                return None

        self.unshare = load("unshare")
        self.mount = load("mount")
        self.umount2 = load("umount2")
        self.prctl = load("prctl")
        self.get_errno = ct.get_errno

    def error(self) -> str:
        return os.strerror(self.get_errno())


def _libc() -> _Libc | None:
    try:
        return _Libc()
    except (ImportError, OSError, AttributeError):
        return None


def _unshare(cfg: dict[str, Any], libc: _Libc, info: dict[str, Any]) -> None:
    """Enter the new namespaces the system allows, one by one, and record which."""
    unshare, disabled = libc.unshare, cfg["disable"]
    if unshare is None:
        return
    if os.geteuid() != 0:  # unprivileged: a user namespace (no mapping) for the network and mounts
        mounts = bool(cfg["hide"])
        wanted = (CLONE_NEWNET if cfg["no_network"] else 0) | (CLONE_NEWNS if mounts else 0)
        if wanted and unshare(CLONE_NEWUSER | wanted) == 0:
            info["network_isolated"] = cfg["no_network"]
            info["mechanisms"] += ["network-namespace"] * cfg["no_network"] + ["mount-namespace"] * mounts
        elif wanted:
            info["notes"].append(f"unshare failed: {libc.error()}")
        return
    kinds = [("network", CLONE_NEWNET)] if cfg["no_network"] else []
    kinds += [("mount", CLONE_NEWNS), ("ipc", CLONE_NEWIPC), ("pid", CLONE_NEWPID)]
    for name, flag in kinds:
        mechanism = f"{name}-namespace"
        if mechanism in disabled:
            continue
        if unshare(flag) == 0:
            info["mechanisms"].append(mechanism)
        else:
            info["notes"].append(f"no {name} namespace: {libc.error()}")
    info["network_isolated"] = "network-namespace" in info["mechanisms"]


class _MountError(Exception):
    pass


def _mount(
    libc: _Libc, source: str, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    if libc.mount(enc[0], enc[1], enc[2], flags, enc[3]) != 0:
        raise _MountError(f"mount {source} on {target}: {libc.error()}")


def _filesystem(cfg: dict[str, Any], libc: _Libc, info: dict[str, Any]) -> None:
    """In the new mount namespace: a private root where possible, else hide paths in the host's."""
    if "mount-namespace" not in info["mechanisms"]:
        return
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        info["notes"].append(f"cannot make mounts private: {libc.error()}")
        return
    if cfg["mountpoint"] is not None and "private-root" not in cfg["disable"] and os.geteuid() == 0:
        try:
            _private_root(cfg, libc, info)
            return
        except (_MountError, OSError) as e:
            info["notes"].append(f"no private root ({e}); hiding paths in the host's file system instead")
    _hide_in_host(cfg, libc, info)


def _private_root(cfg: dict[str, Any], libc: _Libc, info: dict[str, Any]) -> None:
    """Build the run's file system on a fresh tmpfs and ``chroot`` into it: the system directories
    and the Python installation read-only, a new ``/proc`` (this PID namespace's, and only the run's
    own processes: ``hidepid=2``), a few devices, and the writable directories (``TEMP_DIRS`` and
    the working directory) on one tmpfs of ``disk_bytes``. Nothing else of the host is there."""
    root, inside = cfg["mountpoint"], cfg["inside"]
    source = os.open(".", os.O_RDONLY | os.O_DIRECTORY)  # the parent's files for the working directory
    try:
        _mount(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755")
        try:
            _system_dirs(cfg, libc, root)
            _devices(libc, root)
            os.mkdir(root + "/proc", 0o555)
            _mount(libc, "proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
            _writable(cfg, libc, root, source)
            for path in cfg["hide"]:  # absent unless it lies in a directory shown read-only
                if os.path.lexists(root + path):
                    _mask(libc, root + path)
                info["hidden"].append(path)
            _mount(libc, "none", root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except BaseException:
            libc.umount2(root.encode(), MNT_DETACH)
            raise
    finally:
        os.close(source)
    os.chroot(root)
    os.chdir(inside)
    os.environ["HOME"] = os.environ["TMPDIR"] = inside
    info["mechanisms"].append("private-root")


def _system_dirs(cfg: dict[str, Any], libc: _Libc, root: str) -> None:
    """The system directories (as links where they are links) and the Python installation,
    bind-mounted read-only: each mount, and every mount beneath it."""
    shown: list[str] = []
    for name in SYSTEM_DIRS:
        path = "/" + name
        if os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path):
            shown.append(path)
    real = [os.path.realpath(p) for p in shown]
    shown += [p for p in cfg["expose"] if not any(p == r or p.startswith(r + "/") for r in real)]
    for path in shown:
        os.makedirs(root + path, mode=0o755, exist_ok=True)
        _mount(libc, path, root + path, None, MS_BIND | MS_REC)
    targets = tuple(root + p for p in shown)
    for mountpoint in _mount_points():
        if mountpoint in targets or mountpoint.startswith(tuple(t + "/" for t in targets)):
            _mount(libc, "none", mountpoint, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").splitlines()
    out = []
    for line in lines:
        point = line.split(" ", 5)[4]
        for code in ("\\040", "\\011", "\\012", "\\134"):
            point = point.replace(code, chr(int(code[1:], 8)))
        out.append(point)
    return out


def _devices(libc: _Libc, root: str) -> None:
    dev = root + "/dev"
    os.mkdir(dev, 0o755)
    _mount(libc, "tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=755")
    for name in DEVICES:
        os.close(os.open(f"{dev}/{name}", os.O_WRONLY | os.O_CREAT, 0o666))
        _mount(libc, "/dev/" + name, f"{dev}/{name}", None, MS_BIND)
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    os.symlink("/proc/self/fd", dev + "/fd")


def _writable(cfg: dict[str, Any], libc: _Libc, root: str, source: int) -> None:
    """One tmpfs of ``disk_bytes`` holds every directory the run may write: ``TEMP_DIRS`` (sticky,
    for everyone) and the working directory (the run's own, with a copy of the parent's files)."""
    staging = root + "/.rw"
    os.mkdir(staging, 0o700)
    size = cfg["limits"]["disk_bytes"]
    _mount(libc, "tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},nr_inodes=16384,mode=755")
    for i, path in enumerate(TEMP_DIRS):
        os.mkdir(f"{staging}/{i}")
        os.chmod(f"{staging}/{i}", 0o1777)
        os.makedirs(root + path, mode=0o755, exist_ok=True)
        _mount(libc, f"{staging}/{i}", root + path, None, MS_BIND)
    work, uid = staging + "/work", cfg["uid"]
    os.mkdir(work, 0o700)
    _copy_tree(source, work, uid)
    if uid is not None:
        os.chown(work, uid, uid)
    os.makedirs(root + cfg["inside"], mode=0o755, exist_ok=True)
    _mount(libc, work, root + cfg["inside"], None, MS_BIND)
    libc.umount2(staging.encode(), MNT_DETACH)
    os.rmdir(staging)


def _copy_tree(source: int, target: str, uid: int | None) -> None:
    """Copy the regular files and directories under the directory ``source`` (an fd) to ``target``."""
    for entry in os.scandir(source):
        path = f"{target}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(path, 0o700)
            fd = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=source)
            try:
                _copy_tree(fd, path, uid)
            finally:
                os.close(fd)
        elif entry.is_file(follow_symlinks=False):
            src = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=source)
            dst = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                while data := os.read(src, 1 << 20):
                    os.write(dst, data)
            finally:
                os.close(src)
                os.close(dst)
        else:
            continue
        if uid is not None:
            os.chown(path, uid, uid)


def _mask(libc: _Libc, path: str) -> None:
    """Cover ``path`` with an empty read-only directory (or ``/dev/null`` for a file)."""
    if os.path.isdir(path):
        _mount(libc, "tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    else:
        _mount(libc, "/dev/null", path, None, MS_BIND)
        _mount(libc, "none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _hide_in_host(cfg: dict[str, Any], libc: _Libc, info: dict[str, Any]) -> None:
    """The fallback: the host's file system with ``hide`` masked, the Python installation reachable
    and the working directory shown at its fixed path."""
    for path in cfg["expose"]:
        _expose(libc, path, info)
    mountpoint: str | None = cfg["mountpoint"]
    if mountpoint is not None:
        # The working directory appears at the same path in every run, so that paths in tracebacks
        # and outputs do not depend on the run's random directory name.
        real = os.getcwd()
        if libc.mount(real.encode(), mountpoint.encode(), None, MS_BIND, None) == 0:
            os.chdir(mountpoint)
            for name in ("HOME", "TMPDIR"):
                if os.environ.get(name) == real:
                    os.environ[name] = mountpoint
        else:
            info["notes"].append(f"cannot show the working directory at {mountpoint}: {libc.error()}")
    for path in cfg["hide"]:
        if not os.path.exists(path):
            continue
        try:
            _mask(libc, path)
            info["hidden"].append(path)
        except _MountError as e:
            info["notes"].append(f"cannot hide {path}: {e}")


def _expose(libc: _Libc, path: str, info: dict[str, Any]) -> None:
    """Make ``path`` (and only it) reachable for other users when an ancestor is closed to them:
    the closed ancestor is covered by a read-only tmpfs that holds just the way down to ``path``,
    onto which ``path`` itself is bind-mounted read-only."""
    parts = path.rstrip("/").split("/")
    closed = next(
        (a for a in ("/".join(parts[:i]) for i in range(2, len(parts))) if not os.stat(a).st_mode & 0o001),
        None,
    )
    if closed is None:
        return
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY)
    try:
        c, p = closed.encode(), path.encode()
        if libc.mount(b"tmpfs", c, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755") != 0:
            info["notes"].append(f"cannot cover {closed}: {libc.error()}")
            return
        os.makedirs(path, mode=0o755, exist_ok=True)
        ok = libc.mount(f"/proc/self/fd/{fd}".encode(), p, None, MS_BIND | MS_REC, None) == 0
        ok = ok and libc.mount(b"none", p, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None) == 0
        libc.mount(b"none", c, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        if not ok:
            info["notes"].append(f"cannot expose {path}: {libc.error()}")
    finally:
        os.close(fd)


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit to ``soft`` (and its hard limit to ``hard``, default ``soft``), never raising it."""
    _, cap = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if cap != resource.RLIM_INFINITY:
        soft, hard = min(soft, cap), min(hard, cap)
    resource.setrlimit(kind, (soft, hard))


def _worker(cfg: dict[str, Any], libc: _Libc | None, uid: int | None, report: int) -> None:
    """The child that runs the user's script; it writes why its script failed (if by an
    exception) to ``report``. Never returns."""
    try:
        if cfg["cgroup_gate"] is not None:  # the OOM killer takes the script's processes first
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("1000")
            except OSError:
                pass
        os.setsid()
        os.close(cfg["status_fd"])
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        lim = cfg["limits"]
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _limit(resource.RLIMIT_NOFILE, lim["nofile"])
        _limit(resource.RLIMIT_FSIZE, lim["file_bytes"])
        # At the soft CPU limit the kernel sends SIGXCPU (which ends Python); one second later,
        # SIGKILL for a program that catches it.
        _limit(resource.RLIMIT_CPU, lim["cpu_seconds"], lim["cpu_seconds"] + 1)
        _limit(resource.RLIMIT_AS, lim["memory_bytes"])
        if lim["procs"] is not None:
            _limit(resource.RLIMIT_NPROC, lim["procs"])
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        if libc is not None and libc.prctl is not None:
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.umask(0o077)
        if not os.access(os.__file__, os.R_OK):
            raise PermissionError(
                f"the sandbox user cannot read the Python installation ({os.path.dirname(os.__file__)}): "
                "its mount namespace could not be set up; see the sandbox's notes"
            )
    except BaseException as e:
        os.write(2, f"sandbox setup failed: {type(e).__name__}: {e}\n".encode())
        os._exit(SETUP_FAILED)
    _run_script(cfg, report)


def _rpc(rfd: int, wfd: int) -> Any:
    """The function that tool stubs call: one JSON request line out, one JSON answer line back."""
    import json

    reader = os.fdopen(rfd, "rb")
    writer = os.fdopen(wfd, "wb")

    def call(name: str, arguments: dict[str, Any]) -> Any:
        line = json.dumps({"name": name, "arguments": arguments}, default=repr)
        writer.write(line.encode() + b"\n")
        writer.flush()
        answer = reader.readline()
        if not answer:
            raise RuntimeError(f"{name}: no answer (the tool channel is closed)")
        msg = json.loads(answer)
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg["result"]

    return call


def _run_script(cfg: dict[str, Any], report: int) -> None:
    import builtins

    worker = os.getpid()
    sys.executable = cfg["executable"]  # the venv's link may not be visible

    script = cfg["script"]
    sys.argv = [script]
    sys.path[0] = os.getcwd()
    module = type(sys)("__main__")
    module.__dict__.update({"__file__": os.path.abspath(script), "__builtins__": builtins})
    sys.modules["__main__"] = module
    rpc = cfg.get("rpc")
    if rpc:
        module.__dict__[rpc["name"]] = _rpc(rpc["in_fd"], rpc["out_fd"])
    try:
        if cfg.get("prelude"):
            exec(compile(cfg["prelude"], "<prelude>", "exec"), module.__dict__)
        with open(script, encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, script, "exec"), module.__dict__)
    except SystemExit as e:
        _finish(_exit_code(e))
    except BaseException as e:
        import traceback

        if os.getpid() == worker:  # not a child the script forked, which runs this code too
            try:  # noqa: SIM105
                os.write(report, f"{type(e).__name__} {getattr(e, 'errno', None)} {e}"[:200].encode())
            except OSError:
                pass
        traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        _finish(1)
    _finish(0)


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    try:  # noqa: SIM105  (contextlib costs every run an import)
        print(e.code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _finish(code: int) -> None:
    """End the worker as the interpreter would (wait for its threads, run atexit handlers, flush)
    but without tearing down every module, which costs each run milliseconds of page copies."""
    threading = sys.modules.get("threading")
    if threading is not None:
        try:  # noqa: SIM105
            threading._shutdown()
        except BaseException:
            pass
    import atexit

    try:  # noqa: SIM105
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


def _children() -> list[int]:
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _kill_all(worker: int, uid: int | None) -> int | None:
    """SIGKILL the worker's group, every process of ``uid`` (or, as the PID namespace's init, every
    process in it) and every adopted child; reap them all.

    Returns the worker's wait status if it was reaped here."""
    worker_status: int | None = None
    try:  # noqa: SIM105  (contextlib costs every run an import)
        os.killpg(worker, signal.SIGKILL)
    except OSError:
        pass
    if os.getpid() == 1:  # the init of the run's PID namespace: everyone else in it
        try:  # noqa: SIM105
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    elif uid is not None:
        killer = os.fork()
        if killer == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for child in _children():
            try:  # noqa: SIM105
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == worker:
            worker_status = status
        elif pid == 0:
            time.sleep(0.001)
    return worker_status


def _join_cgroup(cfg: dict[str, Any], info: dict[str, Any]) -> None:
    """Wait until the parent has moved this process into the run's memory cgroup (it does so while
    this process starts: a move costs milliseconds). The worker raises its ``oom_score_adj`` to the
    maximum, so that the OOM killer takes the script's processes before this one."""
    gate = cfg["cgroup_gate"]
    if gate is None:
        return
    if os.read(gate, 1) == b"1":
        info["mechanisms"].append("memory-cgroup")
    else:
        info["notes"].append("could not join the run's memory cgroup")
    os.close(gate)


def _read_report(fd: int) -> str | None:
    """The last line the worker reported (non-blocking: a child may still hold the pipe open)."""
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 1 << 16)
    except OSError:
        data = b""
    os.close(fd)
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-1] if lines else None


def _relay(child: int, cfg: dict[str, Any]) -> None:
    """Outside the PID namespace: wait for its init (the supervisor), passing the parent's SIGTERM
    on. Keeps none of the run's pipes open. Never returns."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for fd in [cfg["status_fd"], *cfg["close_in_supervisor"]]:
        os.close(fd)
    while True:
        try:
            os.waitpid(child, 0)
            os._exit(0)
        except _Stop:
            os.kill(child, signal.SIGTERM)
        except ChildProcessError:
            os._exit(0)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _collect(cap: int, total_cap: int) -> dict[str, str]:
    """Text of the regular files in the working directory (symlinks are never followed): at most
    ``cap`` bytes each (larger ones are left out) and ``total_cap`` in all."""
    out: dict[str, str] = {}
    total = 0
    for root, dirs, files in os.walk(".", followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if st.st_mode & 0o170000 != 0o100000 or st.st_size > cap:  # not a regular file
                    continue
                if total + st.st_size > total_cap:
                    return out
                data = os.read(fd, cap)
                total += len(data)
                out[os.path.normpath(path)] = data.decode("utf-8", errors="replace")
            finally:
                os.close(fd)
    return out


def main() -> None:
    cfg: dict[str, Any] = eval(sys.argv[1], {"__builtins__": {}})  # the repr of plain values, by the parent
    info: dict[str, Any] = {"network_isolated": False, "hidden": [], "notes": [], "uid": cfg["uid"]}
    info["mechanisms"] = ["own-uid"] if cfg["uid"] is not None else []
    signal.signal(signal.SIGTERM, _on_term)
    libc = _libc()
    if libc is not None and libc.prctl is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != cfg["parent"]:
        os._exit(SETUP_FAILED)  # the parent is already gone
    if libc is not None:
        _unshare(cfg, libc, info)
    _join_cgroup(cfg, info)
    if libc is not None:
        if "pid-namespace" in info["mechanisms"]:
            child = os.fork()  # the first process in the new PID namespace: its init
            if child != 0:
                _relay(child, cfg)
            if libc.prctl is not None:
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _filesystem(cfg, libc, info)
        if libc.prctl is not None:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _supervise(cfg, libc, info)


def _supervise(cfg: dict[str, Any], libc: _Libc | None, info: dict[str, Any]) -> None:
    """Start the worker, wait for it (or the parent's SIGTERM), end everything, report. Never returns."""
    uid: int | None = cfg["uid"]
    report = os.pipe()
    worker = os.fork()
    if worker == 0:
        os.close(report[0])
        _worker(cfg, libc, uid, report[1])
    os.close(report[1])
    # The supervisor keeps none of the worker's streams open: their ends tell the parent when the
    # worker (and everything it started) is gone.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for fd in cfg["close_in_supervisor"]:
        os.close(fd)
    result: dict[str, Any] = {"exit": None, "cpu": 0.0, "maxrss_kb": 0, "stopped": False}
    try:
        while True:
            pid, status, usage = os.wait4(-1, 0)
            if pid == worker:
                result["exit"] = os.waitstatus_to_exitcode(status)
                result["cpu"] = usage.ru_utime + usage.ru_stime
                result["maxrss_kb"] = usage.ru_maxrss
                break
    except _Stop:
        result["stopped"] = True
    except ChildProcessError:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reaped = _kill_all(worker, uid)
    if result["exit"] is None and reaped is not None:
        result["exit"] = os.waitstatus_to_exitcode(reaped)
    result["error"] = _read_report(report[0])
    if cfg["collect"] is not None:
        result["files"] = _collect(*cfg["collect"])
    result.update(info)
    _write_all(cfg["status_fd"], (repr(result) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
