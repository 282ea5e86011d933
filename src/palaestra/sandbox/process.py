"""Run Python code in a separate, limited process: ``run_python`` and the interactive ``Session``.

A run is one process tree started from this interpreter (``python -S -s -B -u``, the standard library
only) in a fresh private working directory, with a scrubbed environment, resource limits, and,
where the OS allows them, its own uid, network, PID, IPC and mount namespaces, a private root file
system and a memory cgroup (``SandboxResult.mechanisms`` says which), and a wall-clock limit; see ``_boot.py`` for what happens inside and
``README.md`` for what is and is not contained. Everything the run started is dead and reaped, and
its working directory deleted, before its result is returned.

A ``Session`` is a run that can call back into the parent: the script gets a function (named by
``rpc_name``) that sends a request and blocks until the parent answers it. The parent sees each
request as a ``ToolRequest`` from ``next_event()`` and answers with ``reply()``. The wall-clock
limit counts only the time the script is running, not the time it waits for an answer.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import json
import math
import os
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from palaestra.sandbox import uids
from palaestra.sandbox.cgroups import MemoryCgroup
from palaestra.sandbox.channel import (
    _MAX_QUEUED,
    _MAX_REQUEST,
    _MAX_UNREAD_ANSWERS,
    ToolRequest,
    _lines,
    _parse_request,
    _Pipes,
    _read_pipe,
)
from palaestra.sandbox.cleanup import _STOP_GRACE, _emergency_cleanup, _release, _wait_gone
from palaestra.sandbox.isolation import (
    _LOADER,
    _PACKAGE_DIR,
    _boot_code,
    _default_hide,
    _environment,
    _inside_workdir,
    _mountpoint,
    _runtime_dirs,
    _safe_relpath,
    _user_processes,
)
from palaestra.sandbox.limits import Limit, SandboxResult, _Capture, _classify

_DISABLED: frozenset[str] = frozenset()
"""Isolation mechanisms not to use (tests set it to exercise the fall-backs)."""

_FILE_CAP = 1 << 20  # collected workdir files: at most this many bytes each ...
_FILES_TOTAL_CAP = 4 << 20  # ... and this many in all
_DRAIN_GRACE = 2.0  # seconds to wait for the output pipes to close once the supervisor is gone
_SUPERVISOR_MB = 32  # the memory cgroup's room for the supervisor, on top of the script's memory_mb


class Session:
    """One sandboxed run of a script, which may call back into the parent. See the module doc.

    Use ``await session.start()``, then ``await session.next_event()`` until it returns the
    ``SandboxResult``; answer each ``ToolRequest`` with ``await session.reply(...)`` first.
    ``await session.kill()`` ends the run early (the result then has ``limit="timeout"`` only if the
    time ran out, otherwise none). A session dropped unfinished is cleaned up by its finalizer.
    """

    def __init__(
        self,
        code: str,
        *,
        timeout: float = 5.0,
        cpu_seconds: float | None = None,
        memory_mb: int = 256,
        max_file_mb: int = 16,
        disk_mb: int = 64,
        max_procs: int = 16,
        max_output: int = 64 * 1024,
        max_open_files: int = 256,
        files: Mapping[str, str | bytes] | None = None,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        hide: Sequence[str] | None = None,
        network: bool = False,
        prelude: str | None = None,
        rpc_name: str | None = None,
        reply_timeout: float = 300.0,
        collect_files: bool = False,
        script: str = "main.py",
        drop_privileges: bool = True,
    ) -> None:
        self.code = code
        self.timeout = timeout
        self.cpu_seconds = max(1, math.ceil(cpu_seconds if cpu_seconds is not None else timeout))
        self.memory_mb = memory_mb
        self.max_file_mb = max_file_mb
        self.disk_mb = disk_mb
        self.max_procs = max_procs
        self.max_output = max_output
        self.max_open_files = max_open_files
        self.files = dict(files or {})
        self.stdin = stdin
        self.env = env
        self.hide = _default_hide() if hide is None else [str(Path(h).resolve()) for h in hide]
        self.network = network
        self.prelude = prelude
        self.rpc_name = rpc_name
        self.reply_timeout = reply_timeout
        self.collect_files = collect_files
        self.script = _safe_relpath(script)
        self.drop_privileges = drop_privileges
        self._requests: asyncio.Queue[ToolRequest | str] = asyncio.Queue()
        self._pending = False
        self._changed = asyncio.Event()
        self._killed_for: Limit | None = None
        self._stop_sent = False
        self._done: asyncio.Future[SandboxResult] | None = None
        self._answer: asyncio.WriteTransport | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._joining: asyncio.Future[None] | None = None

    # ---- public -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._lease = uids.acquire() if self.drop_privileges and os.geteuid() == 0 else None
        uid = self._lease.uid if self._lease else None
        self._cgroup = None
        if uid is not None and "memory-cgroup" not in _DISABLED:
            self._cgroup = MemoryCgroup.create(
                f"palaestra-sandbox-{uid}", (self.memory_mb + _SUPERVISOR_MB) << 20
            )
        self._workdir = ""
        try:
            self._workdir = tempfile.mkdtemp(prefix="palaestra-sbx-")
            self._write_files(uid)
            await self._spawn(uid)
        except BaseException:
            _release(self._lease, self._workdir, self._cgroup, kill=False)
            raise
        self._finalizer = weakref.finalize(
            self, _emergency_cleanup, self._proc.pid, self._lease, self._workdir, self._cgroup
        )
        self._done = asyncio.ensure_future(self._run())

    async def next_event(self) -> ToolRequest | SandboxResult:
        """The script's next tool request, or the result once it has ended."""
        if self._done is None:
            raise RuntimeError("Session.start() was not called")
        if self._pending:
            raise RuntimeError("answer the pending request with reply() first")
        if self._done.done():
            return self._done.result()
        while True:
            get = asyncio.ensure_future(self._requests.get())
            waiters: set[asyncio.Future[Any]] = {get, self._done}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not get.done():
                    get.cancel()
            if not get.done() or get.cancelled():
                return self._done.result()
            item = get.result()
            if isinstance(item, str):  # a line that was not a request, behind ones now answered
                self._answer_error(item)
                continue
            self._pending = True
            self._changed.set()
            return item

    async def reply(self, result: Any = None, *, error: str | None = None) -> None:
        """Answer the pending request: the script's call returns ``result`` (or raises ``error``)."""
        if not self._pending:
            raise RuntimeError("there is no pending request to answer")
        self._pending = False
        self._changed.set()
        self._send({"error": error} if error is not None else {"result": result})

    def stop(self) -> None:
        """Ask the run to end now, without waiting (for synchronous code and cancellation)."""
        if self._done is not None and not self._done.done():
            self._stop(None)

    async def kill(self) -> SandboxResult:
        """Stop the run now (if it is still going) and return its result."""
        if self._done is None:
            raise RuntimeError("Session.start() was not called")
        if not self._done.done():
            self._stop(None)
        return await asyncio.shield(self._done)

    @property
    def running(self) -> bool:
        return self._done is not None and not self._done.done()

    # ---- start --------------------------------------------------------------------------------
    def _write_files(self, uid: int | None) -> None:
        files: dict[str, str | bytes] = {**self.files, self.script: self.code}
        for name, content in files.items():
            path = Path(self._workdir, _safe_relpath(name))
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        if uid is not None:
            for root, dirs, names in os.walk(self._workdir):
                os.chown(root, uid, uid)
                for n in dirs + names:
                    os.chown(os.path.join(root, n), uid, uid, follow_symlinks=False)

    async def _spawn(self, uid: int | None) -> None:
        pipes = _Pipes()
        child_fds = [pipes.status[1]]
        gate = os.pipe() if self._cgroup is not None else None
        if gate is not None:
            child_fds.append(gate[0])
        close_in_supervisor: list[int] = []
        rpc: dict[str, Any] | None = None
        if self.rpc_name:
            pipes.requests, pipes.answers = os.pipe(), os.pipe()
            child_fds += [pipes.requests[1], pipes.answers[0]]
            close_in_supervisor = [pipes.requests[1], pipes.answers[0]]
            rpc = {"name": self.rpc_name, "out_fd": pipes.requests[1], "in_fd": pipes.answers[0]}
        procs: int | None = self.max_procs
        if uid is None:
            me = os.getuid()
            procs = None if me == 0 else _user_processes(me) + self.max_procs
        cfg = {
            "parent": os.getpid(),
            "status_fd": pipes.status[1],
            "close_in_supervisor": close_in_supervisor,
            "uid": uid,
            "no_network": not self.network,
            "hide": self.hide,
            "expose": _runtime_dirs() if uid is not None else [],
            "mountpoint": _mountpoint() if uid is not None else None,
            "inside": _inside_workdir(),
            "executable": os.path.realpath(sys.executable),
            "cgroup_gate": gate[0] if gate is not None else None,
            "disable": sorted(_DISABLED),
            "collect": (_FILE_CAP, _FILES_TOTAL_CAP) if self.collect_files else None,
            "script": self.script,
            "prelude": self.prelude,
            "rpc": rpc,
            "limits": {
                "cpu_seconds": self.cpu_seconds,
                "memory_bytes": self.memory_mb << 20,
                "file_bytes": self.max_file_mb << 20,
                "disk_bytes": self.disk_mb << 20,
                "procs": procs,
                "nofile": self.max_open_files,
            },
        }
        argv = [sys.executable, "-S", "-s", "-B", "-u", "-c", _LOADER, repr(cfg), _boot_code()]
        parent_fds = [pipes.status[0]] + ([gate[1]] if gate is not None else [])
        if pipes.requests and pipes.answers:
            parent_fds += [pipes.requests[0], pipes.answers[1]]
        try:
            self._started = time.monotonic()
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if self.stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._workdir,
                env=_environment(self._workdir, self.env),
                pass_fds=child_fds,
                start_new_session=True,
            )
        except BaseException:
            for fd in parent_fds:
                os.close(fd)
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
        if gate is not None and self._cgroup is not None:  # the move takes milliseconds: not on the loop
            join = functools.partial(self._cgroup.join, self._proc.pid, gate[1])
            self._joining = asyncio.get_running_loop().run_in_executor(None, join)
        self._status, self._status_t = await _read_pipe(pipes.status[0])
        self._transports: list[asyncio.BaseTransport] = [self._status_t]
        self._tasks: list[asyncio.Task[Any]] = []
        if pipes.requests and pipes.answers:
            reader, t = await _read_pipe(pipes.requests[0])
            self._transports.append(t)
            self._tasks.append(asyncio.ensure_future(self._read_requests(reader)))
            loop = asyncio.get_running_loop()
            self._answer, _ = await loop.connect_write_pipe(
                asyncio.BaseProtocol, os.fdopen(pipes.answers[1], "wb", 0)
            )
            self._transports.append(self._answer)

    # ---- the run ------------------------------------------------------------------------------
    async def _read_requests(self, reader: asyncio.StreamReader) -> None:
        """Queue each line the script sends: a ``ToolRequest``, or why the line is not one (not
        JSON, too long, nested too deeply, not ``{"name", "arguments"}``), which is answered with
        an error that the script's call raises, at once or, behind requests still unanswered, in
        turn. A script that floods the channel is stopped."""
        async for line in _lines(reader, _MAX_REQUEST):
            item = _parse_request(line) if line is not None else f"it is longer than {_MAX_REQUEST} bytes"
            if isinstance(item, str) and not self._pending and self._requests.empty():
                self._answer_error(item)
            elif self._requests.qsize() >= _MAX_QUEUED:
                self._stop("output")
                return
            else:
                self._requests.put_nowait(item)

    def _answer_error(self, why: str) -> None:
        self._send({"error": f"invalid tool request: {why}"})

    def _send(self, msg: dict[str, Any]) -> None:
        if self._answer is None or self._answer.is_closing():
            return
        self._answer.write(json.dumps(msg).encode() + b"\n")
        if self._answer.get_write_buffer_size() > _MAX_UNREAD_ANSWERS:
            self._stop("output")  # the script does not read its answers

    async def _pump(self, stream: asyncio.StreamReader | None, capture: _Capture) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            if capture.add(chunk):
                self._stop("output")

    async def _feed_stdin(self) -> None:
        stdin = self._proc.stdin
        if stdin is None or self.stdin is None:
            return
        with contextlib.suppress(OSError, ConnectionError):
            stdin.write(self.stdin.encode())
            await stdin.drain()
        with contextlib.suppress(OSError, ConnectionError):
            stdin.close()

    def _stop(self, reason: Limit | None) -> None:
        """Ask the supervisor to end the run (it kills and reaps everything, then reports)."""
        if self._killed_for is None and reason is not None:
            self._killed_for = reason
        if self._stop_sent or self._proc.returncode is not None:
            return
        self._stop_sent = True
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGTERM)

    async def _clock(self, exited: asyncio.Future[Any]) -> None:
        """Stop the run when its running time passes ``timeout`` or an answer takes too long."""
        remaining = self.timeout
        while not exited.done():
            self._changed.clear()
            pending = self._pending  # read after clear(): a change from now on wakes us
            changed = asyncio.ensure_future(self._changed.wait())
            began = time.monotonic()
            limit = self.reply_timeout if pending else remaining
            try:
                done, _ = await asyncio.wait(
                    {exited, changed}, timeout=max(limit, 0.0), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                changed.cancel()
            if exited.done():
                return
            if not pending:
                remaining -= time.monotonic() - began
            if changed not in done:
                self._stop("timeout")
                return

    async def _run(self) -> SandboxResult:
        out, err = _Capture(self.max_output, False), _Capture(self.max_output, True)
        pumps = [
            asyncio.ensure_future(self._pump(self._proc.stdout, out)),
            asyncio.ensure_future(self._pump(self._proc.stderr, err)),
            asyncio.ensure_future(self._feed_stdin()),
        ]
        status_line = asyncio.ensure_future(self._status.read())
        exited = asyncio.ensure_future(self._proc.wait())
        clock = asyncio.ensure_future(self._clock(exited))
        try:
            try:
                await asyncio.shield(exited)
            except asyncio.CancelledError:
                self._stop(None)
                raise
            finally:
                if self._proc.returncode is None:
                    await self._escalate()
            await asyncio.wait(pumps[:2], timeout=_DRAIN_GRACE)
            try:
                raw = await asyncio.wait_for(status_line, _DRAIN_GRACE)
            except TimeoutError:
                raw = b""
        finally:
            clock.cancel()
            for t in [*pumps, *self._tasks, status_line, exited]:
                t.cancel()
            for tr in self._transports:
                tr.close()
            if self._joining is not None:
                await asyncio.shield(self._joining)
            reported = status_line.done() and not status_line.cancelled() and bool(status_line.result())
            cleanup = asyncio.get_running_loop().run_in_executor(None, self._cleanup, reported)
            oom_kills = await asyncio.shield(cleanup)
        try:
            status: dict[str, Any] = ast.literal_eval(raw.decode()) if raw else {}
        except (ValueError, SyntaxError, UnicodeDecodeError):
            status = {}
        stderr = err.text()
        exit_code = status.get("exit")
        notes = list(status.get("notes", []))
        if not status:
            notes.append("the sandbox supervisor did not report (it was killed or failed to start)")
            exit_code = self._proc.returncode if self._proc.returncode else None
        cpu = float(status.get("cpu", 0.0))
        limit = _classify(
            self._stop_sent,
            self._killed_for,
            exit_code,
            stderr,
            cpu,
            self.cpu_seconds,
            status.get("error"),
            oom_kills,
        )
        return SandboxResult(
            stdout=out.text(),
            stderr=stderr,
            exit_code=exit_code,
            limit=limit,
            duration=time.monotonic() - self._started,
            cpu_time=cpu,
            max_rss_mb=status.get("maxrss_kb", 0) / 1024,
            network_isolated=bool(status.get("network_isolated", False)),
            uid=status.get("uid"),
            hidden=tuple(status.get("hidden", ())),
            notes=tuple(notes),
            mechanisms=tuple(status.get("mechanisms", ())),
            files=status.get("files") if self.collect_files else None,
        )

    async def _escalate(self) -> None:
        """The run is being abandoned: give the supervisor a moment to end everything, then kill it
        (``_cleanup`` then kills what is left of the uid)."""
        self._stop(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proc.wait(), _STOP_GRACE)
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    def _cleanup(self, reported: bool) -> int | None:
        """Delete the workdir and the uid's leftovers, give the uid back, remove the cgroup;
        return how many processes the cgroup's limit killed."""
        if not reported:  # the supervisor did not finish its clean-up: make sure of it from here
            _wait_gone(self._proc.pid, _STOP_GRACE)
        oom_kills = self._cgroup.oom_kills() if self._cgroup is not None else None
        _release(self._lease, self._workdir, self._cgroup, kill=not reported)
        if self._finalizer is not None:
            self._finalizer.detach()
        return oom_kills


async def run_python(
    code: str,
    *,
    timeout: float = 5.0,
    cpu_seconds: float | None = None,
    memory_mb: int = 256,
    max_file_mb: int = 16,
    disk_mb: int = 64,
    max_procs: int = 16,
    max_output: int = 64 * 1024,
    files: Mapping[str, str | bytes] | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    hide: Sequence[str] | None = None,
    network: bool = False,
    collect_files: bool = False,
    script: str = "main.py",
    drop_privileges: bool = True,
) -> SandboxResult:
    """Run ``code`` as a script in a new sandbox and return what happened. Never raises for
    anything the code does.

    Args:
        code: the Python source, run as ``main.py`` (``script``) in a fresh working directory.
        timeout: wall-clock seconds before the whole process tree is killed (``limit="timeout"``).
        cpu_seconds: CPU seconds per process (default: ``timeout`` rounded up).
        memory_mb: address-space limit per process (``RLIMIT_AS``) and, where a memory cgroup can
            be had, the limit on the memory of all the run's processes together (plus 32 MiB for
            the sandbox's own supervisor).
        max_file_mb: largest file a process may write (``RLIMIT_FSIZE``).
        disk_mb: space for all the files the run writes (its working directory and temporary
            directories), where it has a private root.
        max_procs: processes and threads the run may have at once (``RLIMIT_NPROC``).
        max_output: bytes kept of stdout and of stderr; more stops the run (``limit="output"``).
        files: more files to put in the working directory, by relative path.
        stdin: text for the script's standard input (default: none, as from /dev/null).
        env: environment variables to add to the scrubbed environment.
        hide: paths the run must not see (default: Palaestra's package, the checkout it lies in
            and its git directory, the caller's working directory): absent from a private root,
            masked by an empty read-only directory where the run sees the host's file system.
        network: let the run use the network (default: a private network namespace, no network).
        collect_files: return the text files left in the working directory in ``result.files``.
        script: the file name the code is saved under.
        drop_privileges: when running as root, run the code as a fresh unprivileged uid.
    """
    session = Session(
        code,
        timeout=timeout,
        cpu_seconds=cpu_seconds,
        memory_mb=memory_mb,
        max_file_mb=max_file_mb,
        disk_mb=disk_mb,
        max_procs=max_procs,
        max_output=max_output,
        files=files,
        stdin=stdin,
        env=env,
        hide=hide,
        network=network,
        collect_files=collect_files,
        script=script,
        drop_privileges=drop_privileges,
    )
    await session.start()
    try:
        event = await session.next_event()
    except asyncio.CancelledError:
        session.stop()  # the caller gave up: end the run (it cleans up in the background)
        raise
    assert isinstance(event, SandboxResult)  # no rpc function: there are no requests
    return event


def run_python_sync(code: str, **kwargs: Any) -> SandboxResult:
    """``run_python`` for synchronous callers (works inside a running event loop too)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_python(code, **kwargs))
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_python(code, **kwargs)).result()


__all__ = [
    "_PACKAGE_DIR",
    "Limit",
    "SandboxResult",
    "Session",
    "ToolRequest",
    "run_python",
    "run_python_sync",
]
