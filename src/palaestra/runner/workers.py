"""Where a run's jobs (episodes, matches) are played: in this process, in worker processes on this
machine, or on the actors of a Ray cluster, with this process as the store's single writer.

The parent schedules: a fixed number of coroutines (the run's concurrency) each take the next job
from a :class:`Feed`, hand it to a :class:`Pool` and write the record that comes back through one
:class:`SerialWriter` thread, so a slow SQLite commit never stalls the event loop and records are
written by one writer, one transaction each. A pool plays a job with a :class:`JobRunner` it builds
from a :class:`Recipe` (a module-level factory and its picklable argument: the run's config, with
its runtime-only model options such as the API key, which travel to the workers over a pipe or as a
Ray method argument and are never stored or logged).

A worker that dies (killed, out of memory, a machine lost) costs only the jobs it had in flight:
:meth:`Pool.play` raises :class:`WorkerLost` for them, the scheduler plays them again on another
worker, and nothing was written for them, so nothing is stored twice. A job lost
:data:`MAX_LOSSES` times is recorded as ``error`` (it is what kills its workers).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import multiprocessing
import os
import queue
import signal
import threading
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from palaestra.errors import ModelError, PalaestraError, UsageError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

MAX_LOSSES = 2
"""How many dead workers a job may cost before it is recorded as ``error`` instead of played again."""

J = TypeVar("J")
J_contra = TypeVar("J_contra", contravariant=True)
R = TypeVar("R")


class Job(Protocol):
    """What a pool plays: an episode or a match spec (picklable, with a unique ``id``)."""

    @property
    def id(self) -> str: ...


JobT = TypeVar("JobT", bound=Job)


@dataclass(slots=True)
class Outcome(Generic[R]):
    """What playing a job gave: its record, or none when a fatal model error ended it (bad key, no
    such model: every later call would fail alike, so the run stops and ``--resume`` plays it)."""

    record: R | None
    fatal: ModelError | None = None

    def __reduce__(self) -> tuple[Any, ...]:  # ModelError's keyword-only init does not pickle itself
        fatal = None if self.fatal is None else (str(self.fatal), self.fatal.status, self.fatal.retries)
        return (_outcome, (self.record, fatal))


def _outcome(record: Any, fatal: tuple[str, int | None, int] | None) -> Outcome[Any]:
    error = None if fatal is None else ModelError(fatal[0], status=fatal[1], retries=fatal[2], fatal=True)
    return Outcome(record, error)


class JobRunner(Protocol[J_contra, R]):
    """Plays jobs, any number at once, on one event loop (one per worker)."""

    async def play(self, job: J_contra) -> Outcome[R]: ...

    def failed(self, job: J_contra, reason: str) -> R:
        """The record of a job that could not be played (``error`` with ``reason``)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Recipe(Generic[J, R]):
    """How a worker builds its :class:`JobRunner`: ``factory(payload)``; ``factory`` is a
    module-level function (pickled by reference) and ``payload`` picklable."""

    factory: Callable[[Any], JobRunner[J, R]]
    payload: Any

    def build(self) -> JobRunner[J, R]:
        return self.factory(self.payload)


class WorkerLost(PalaestraError):
    """The worker playing a job died before it answered; the job was not recorded."""


class Pool(Protocol[J_contra, R]):
    """Where jobs are played. ``play`` raises :class:`WorkerLost` when the worker died under it."""

    size: int

    async def start(self) -> None: ...

    async def play(self, job: J_contra) -> Outcome[R]: ...

    async def aclose(self) -> None: ...


class LocalPool(Generic[J, R]):
    """Plays every job in this process, on this event loop."""

    def __init__(self, runner: JobRunner[J, R]) -> None:
        self.runner = runner
        self.size = 1

    async def start(self) -> None:
        return None

    async def play(self, job: J) -> Outcome[R]:
        return await self.runner.play(job)

    async def aclose(self) -> None:
        await self.runner.aclose()


# ---- the parent's side: jobs in, records out --------------------------------------------------


class Feed(Generic[JobT]):
    """The jobs still to play, taken from ``jobs`` in batches on a thread (generating tasks can take
    a while: the event loop keeps serving the episodes in flight meanwhile), with the jobs a dead
    worker lost put back in front."""

    BATCH = 64

    def __init__(self, jobs: Iterator[JobT]) -> None:
        self._jobs = jobs
        self._ready: deque[JobT] = deque()
        self._lock = asyncio.Lock()
        self._exhausted = False
        self.losses: dict[str, int] = {}

    async def next(self) -> JobT | None:
        """The next job, or None when there are no more."""
        if not self._ready and not self._exhausted:
            async with self._lock:
                if not self._ready and not self._exhausted:
                    batch = await asyncio.to_thread(lambda: list(itertools.islice(self._jobs, self.BATCH)))
                    self._exhausted = len(batch) < self.BATCH
                    self._ready.extend(batch)
        return self._ready.popleft() if self._ready else None

    def lost(self, job: JobT) -> bool:
        """Count a dead worker against ``job``; True (and the job is put back in front) while it
        may be played again."""
        n = self.losses[job.id] = self.losses.get(job.id, 0) + 1
        if n < MAX_LOSSES:
            self._ready.appendleft(job)
            return True
        return False


async def play_all(
    feed: Feed[JobT],
    pool: Pool[JobT, R],
    concurrency: int,
    record: Callable[[R], Awaitable[None]],
    failed: Callable[[JobT, str], R],
) -> ModelError | None:
    """Play every job of ``feed`` on ``pool``, ``concurrency`` at a time (one coroutine each, never
    lockstep batches), and hand each record to ``record`` (which writes it). A job whose worker died
    is played again (see :meth:`Feed.lost`), else recorded as ``failed``. Returns the first fatal
    model error, after which no job starts (the rest is left for ``--resume``)."""
    fatal: list[ModelError] = []

    async def scheduler() -> None:
        while not fatal and (job := await feed.next()) is not None:
            try:
                outcome = await pool.play(job)
            except WorkerLost as e:
                if feed.lost(job):
                    continue  # played again, by another worker
                outcome = Outcome(failed(job, f"{MAX_LOSSES} workers died playing it; last: {e}"))
            if outcome.fatal is not None:
                fatal.append(outcome.fatal)
            if outcome.record is None:
                return
            await record(outcome.record)

    async with asyncio.TaskGroup() as tg:
        for _ in range(max(1, concurrency)):
            tg.create_task(scheduler())
    return fatal[0] if fatal else None


class SerialWriter:
    """One thread that makes every store write, in the order they are handed to it: the SQLite
    work (which releases the GIL) runs while the event loop serves the jobs in flight."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="palaestra-store")

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        """Wait for the write under way (a run's status is set after it)."""
        self._executor.shutdown(wait=True)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Fewer, cheaper garbage collections while a run plays: what exists before it (modules, envs'
    static data) is frozen out of the collector's scans, and young collections run every 20,000
    allocations instead of 700, so the collector no longer stalls the event loop for tens of
    milliseconds mid-run (a run's records are acyclic and freed by reference counting)."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


# ---- worker processes on this machine ---------------------------------------------------------


class _Sender:
    """Sends on a pipe from a thread of its own, so neither end's event loop ever blocks on a full
    pipe (the parent sending jobs while the worker sends records would otherwise deadlock). The
    message is pickled by the caller, so a record that cannot be pickled fails where it is sent."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._queue: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="palaestra-pipe", daemon=True)
        self._thread.start()

    def send(self, msg: tuple[Any, ...]) -> None:
        self._queue.put(ForkingPickler.dumps(msg))

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            try:
                self.conn.send_bytes(data)
            except OSError:  # the other end is gone: what is left has nobody to go to
                return

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(10.0)


EPISODES_PER_WORKER = 100
"""The fewest jobs worth a worker process of their own by default (each costs a start and its own
connection pool and caches)."""


def auto_workers(jobs: int, model: str | None) -> int:
    """The default number of worker processes: one per core, at most one per
    :data:`EPISODES_PER_WORKER` jobs, and one with a ``local:`` model (each worker would load it)."""
    if model and model.startswith("local:"):
        return 1
    return max(1, min(default_workers(), jobs // EPISODES_PER_WORKER))


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


WORKER_PRELOAD = ["__main__", "palaestra"]
"""What the fork server imports once, before it forks any worker."""


def worker_context() -> ForkServerContext | SpawnContext:
    """How worker processes start: forked from a fork server where the platform has one (Linux,
    macOS), else spawned. The fork server is a fresh process started once (with the first pool) that
    imports :data:`WORKER_PRELOAD`, your program's main module included, as a spawned worker would;
    each worker is then a fork of it that starts in milliseconds instead of importing everything
    again. Neither inherits anything of this process (threads, open stores, sockets)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(WORKER_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    sender: _Sender
    ready: asyncio.Future[None]
    pending: dict[str, asyncio.Future[Outcome[Any]]] = field(default_factory=dict)
    dead: bool = False


class ProcessPool(Generic[J, R]):
    """``size`` worker processes (see :func:`worker_context`: nothing of this process's state is shared), each
    playing the jobs it is sent on its own event loop, all at once, and sending back each record as
    it finishes. A worker that dies is replaced; the jobs it had raise :class:`WorkerLost`."""

    def __init__(self, recipe: Recipe[J, R], size: int) -> None:
        if size < 1:
            raise UsageError(f"--workers must be at least 1, got {size}")
        self.recipe, self.size = recipe, size
        self.workers: list[_Worker] = []
        self.deaths = 0
        self._ctx = worker_context()
        self._closing = False
        self._changed: asyncio.Event | None = None

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [w.process.pid for w in self.workers if not w.dead and w.process.pid is not None]

    async def start(self) -> None:
        self._changed = asyncio.Event()
        for _ in range(self.size):
            self._spawn()
        await asyncio.gather(*(w.ready for w in self.workers))

    def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        mine, theirs = self._ctx.Pipe()
        # a fork of the fork server has the environment of when that started: send today's
        process = self._ctx.Process(
            target=_process_main, args=(theirs, self.recipe, dict(os.environ)), name="palaestra-worker"
        )
        process.start()
        theirs.close()
        w = _Worker(process, mine, _Sender(mine), loop.create_future())
        self.workers.append(w)
        loop.add_reader(mine.fileno(), self._readable, w)
        loop.add_reader(process.sentinel, self._died, w)

    def _readable(self, w: _Worker) -> None:
        if w.dead:
            return
        try:
            self._drain(w)
        except (EOFError, OSError):
            self._died(w)

    def _drain(self, w: _Worker) -> None:
        while w.conn.poll():
            self._dispatch(w, w.conn.recv())

    def _dispatch(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            if not w.ready.done():
                w.ready.set_result(None)
            return
        fut = w.pending.pop(msg[1], None)
        if fut is None or fut.done():
            return
        if kind == "done":
            fut.set_result(msg[2])
        else:  # "crash": a bug outside the job's own failures, raised here as the in-process run would
            fut.set_exception(PalaestraError(f"a worker process failed: {msg[2]}"))

    def _died(self, w: _Worker) -> None:
        if w.dead:
            return
        with suppress(EOFError, OSError):
            self._drain(w)  # what it sent before it died still counts
        w.dead = True
        loop = asyncio.get_running_loop()
        loop.remove_reader(w.conn.fileno())
        loop.remove_reader(w.process.sentinel)
        w.process.join(0.1)
        code = w.process.exitcode
        w.sender.close()
        w.conn.close()
        self.workers.remove(w)
        if not w.ready.done():
            w.ready.set_exception(PalaestraError(f"a worker process exited at start (exit code {code})"))
            w.ready.exception()  # retrieved: start() or play() reports it
            self._closing = True
        for fut in w.pending.values():
            if not fut.done():
                fut.set_exception(WorkerLost(f"worker process {w.process.pid} died (exit code {code})"))
        w.pending.clear()
        self.deaths += 1
        if not self._closing:
            self._spawn()
        assert self._changed is not None
        self._changed.set()

    async def _least_loaded(self) -> _Worker:
        while True:
            live = [w for w in self.workers if not w.dead]
            if self._closing and not live:
                raise PalaestraError("the worker processes exited at start; see the errors above")
            ready = [w for w in live if w.ready.done() and w.ready.exception() is None]
            if ready:
                return min(ready, key=lambda w: len(w.pending))
            assert self._changed is not None
            self._changed.clear()
            waits = [asyncio.ensure_future(self._changed.wait())] + [
                asyncio.ensure_future(asyncio.shield(w.ready)) for w in live
            ]
            _, rest = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for t in rest:
                t.cancel()

    async def play(self, job: J) -> Outcome[R]:
        w = await self._least_loaded()
        job_id: str = getattr(job, "id")  # noqa: B009 - any Job
        fut: asyncio.Future[Outcome[R]] = asyncio.get_running_loop().create_future()
        w.pending[job_id] = fut
        w.sender.send(("play", job))
        try:
            return await fut
        except asyncio.CancelledError:
            w.pending.pop(job_id, None)
            raise

    async def aclose(self) -> None:
        self._closing = True
        loop = asyncio.get_running_loop()
        for w in list(self.workers):
            w.sender.send(("stop",))
            w.sender.close()
        for w in list(self.workers):
            await loop.run_in_executor(None, w.process.join, 10.0)
            if w.process.is_alive():
                w.process.kill()
                await loop.run_in_executor(None, w.process.join, 5.0)
            if not w.dead:
                w.dead = True
                loop.remove_reader(w.conn.fileno())
                loop.remove_reader(w.process.sentinel)
                w.conn.close()
        self.workers.clear()


def _process_main(conn: Connection, recipe: Recipe[Any, Any], environ: dict[str, str]) -> None:
    """A worker process: play what the parent sends until it says stop or goes away. It takes the
    parent's environment as it is now (``OPENAI_API_KEY`` set after the fork server started)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.clear()
    os.environ.update(environ)
    asyncio.run(_serve(conn, recipe))


async def _serve(conn: Connection, recipe: Recipe[Any, Any]) -> None:
    runner = recipe.build()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                inbox.put_nowait(conn.recv())
        except (EOFError, OSError):  # the parent is gone: stop
            loop.remove_reader(conn.fileno())
            inbox.put_nowait(None)

    loop.add_reader(conn.fileno(), readable)
    out = _Sender(conn)
    out.send(("ready",))
    tasks: set[asyncio.Task[None]] = set()
    with quiet_gc():
        while (msg := await inbox.get()) is not None and msg[0] == "play":
            task = asyncio.create_task(_play_one(out, runner, msg[1]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in tasks:  # the parent stopped (Ctrl-C) or left: what is in flight is not wanted
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await runner.aclose()
    out.close()


async def _play_one(out: _Sender, runner: JobRunner[Any, Any], job: Any) -> None:
    try:
        outcome = await runner.play(job)
    except Exception as e:
        out.send(("crash", job.id, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        return
    try:
        out.send(("done", job.id, outcome))
    except Exception as e:  # something in the record does not pickle: record why, as the store would
        reason = f"its record could not be sent from the worker: {type(e).__name__}: {e}"
        out.send(("done", job.id, Outcome(runner.failed(job, reason))))


# ---- a Ray cluster ----------------------------------------------------------------------------


class RayWorker:
    """A Ray actor (async: it plays any number of jobs at once on its own event loop). Its runner is
    built by :meth:`configure`, a method call, so the recipe (with the API key) is never part of
    the actor's creation spec, which Ray keeps for restarts."""

    def __init__(self) -> None:
        self.runner: JobRunner[Any, Any] | None = None

    async def configure(self, recipe: Recipe[Any, Any]) -> int:
        gc.freeze()
        self.runner = recipe.build()
        return os.getpid()

    async def play(self, job: Any) -> Outcome[Any]:
        assert self.runner is not None, "configure first"
        return await self.runner.play(job)

    async def aclose(self) -> None:
        if self.runner is not None:
            await self.runner.aclose()


@dataclass(eq=False)
class _Actor:
    handle: Any
    configured: asyncio.Future[int]
    """The actor's process id once :meth:`RayWorker.configure` returned."""
    pending: int = 0


class RayPool(Generic[J, R]):
    """``size`` :class:`RayWorker` actors (one CPU each) on a Ray cluster: the one at ``address``,
    (any address ``ray.init`` takes: ``HOST:PORT``, ``ray://HOST:PORT``, ``auto``, ``local``), or,
    with ``address`` None, the one this process is connected to, else ``$RAY_ADDRESS``, else a
    running local cluster, else a local instance started for the run. ``size`` None: one actor per
    CPU of the cluster. An actor that dies is replaced; the jobs it had raise :class:`WorkerLost`."""

    def __init__(self, recipe: Recipe[J, R], size: int | None, address: str | None) -> None:
        if size is not None and size < 1:
            raise UsageError(f"--workers must be at least 1, got {size}")
        self.recipe, self.address = recipe, address
        self.size = size or 0
        self.actors: list[_Actor] = []
        self.deaths = 0
        self._started_ray = False
        self._remote: Any = None

    @property
    def pids(self) -> list[int]:
        """The configured actors' process ids."""
        return [
            a.configured.result() for a in self.actors if a.configured.done() and not a.configured.exception()
        ]

    async def start(self) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            try:
                local = self.address in (None, "local") and not os.environ.get("RAY_ADDRESS")
                ray.init(address=self.address, include_dashboard=False if local else None)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise UsageError(
                    f"cannot connect to the Ray cluster at {self.address or 'auto'}: {e}"
                ) from None
            self._started_ray = True
        if not self.size:
            self.size = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(RayWorker).options(num_cpus=1, max_concurrency=10_000, max_restarts=0)
        self.actors = [self._new_actor() for _ in range(self.size)]
        await asyncio.gather(*(a.configured for a in self.actors))

    def _new_actor(self) -> _Actor:
        handle = self._remote.remote()
        return _Actor(handle, asyncio.ensure_future(handle.configure.remote(self.recipe)))

    async def play(self, job: J) -> Outcome[R]:
        ray = _import_ray()
        actor = min(self.actors, key=lambda a: a.pending)
        actor.pending += 1
        try:
            await actor.configured
            outcome: Outcome[R] = await actor.handle.play.remote(job)
            return outcome
        except ray.exceptions.RayActorError as e:
            self._replace(actor)
            raise WorkerLost(f"a Ray worker died: {type(e).__name__}") from None
        except ray.exceptions.RayTaskError as e:  # a bug outside the job's own failures
            raise PalaestraError(f"a Ray worker failed: {e}") from None
        finally:
            actor.pending -= 1

    def _replace(self, actor: _Actor) -> None:
        if actor not in self.actors:
            return  # another of its jobs replaced it already
        self.actors.remove(actor)
        self.deaths += 1
        self.actors.append(self._new_actor())

    async def aclose(self) -> None:
        ray = _import_ray()
        for a in self.actors:
            with suppress(ray.exceptions.RayError):
                await a.handle.aclose.remote()
            ray.kill(a.handle)
        self.actors.clear()
        if self._started_ray:
            ray.shutdown()


def spread(recipe: Recipe[J, R], workers: int | None, ray: str | None) -> Pool[J, R]:
    """The pool of a run that does not play in this process: Ray actors when ``ray`` is given
    (``""``: the cluster Ray finds), else ``workers`` processes on this machine."""
    if ray is not None:
        return RayPool(recipe, workers, ray or None)
    return ProcessPool(recipe, workers or 1)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'palaestra[ray]'") from None
    return ray
