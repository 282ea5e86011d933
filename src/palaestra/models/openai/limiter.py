"""The adaptive concurrency limit of the ``openai`` provider: an asyncio semaphore that follows the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Literal

from palaestra.errors import UsageError


class AdaptiveLimiter:
    """An asyncio semaphore whose limit follows the server actually there.

    Congestion is a 429, a 503/504/408, a timeout, or queueing: clean replies whose latency (per unit
    of work, see :meth:`release`) is over ``latency_factor`` times the lowest of the recent ones (the
    median of the last few, so one slow reply is not taken for a queue), which is what a server that
    queues requests (one slot, or a full batch) looks like from outside.
    Congestion halves the limit (down to 1); the limit starts at ``initial`` and, until the first
    congestion, grows by one per clean completion (slow start: it doubles every round trip), then by
    one per ``current_limit`` clean completions (up to ``max_limit``). A burst of congestion signals
    from calls that all started before the last decrease halves it once, not once per call, so one
    overload episode does not collapse the limit to 1. Waiters are served first in, first out. Not
    thread-safe: use it from one event loop at a time.
    """

    def __init__(
        self,
        initial: int,
        maximum: int,
        *,
        latency_factor: float | None = 3.0,
        latency_window: int = 256,
        min_samples: int = 3,
    ) -> None:
        if maximum < 1:
            raise UsageError(f"max_concurrency must be at least 1, got {maximum}")
        self.max_limit = maximum
        self.current_limit = max(1, min(initial, maximum))
        self.in_flight = 0
        self.peak_in_flight = 0
        self.decreases = 0
        self.increases = 0
        self.queueing_signals = 0
        self.slow_start = True
        self.latency_factor = latency_factor
        self.min_samples = min_samples
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._last: deque[float] = deque(maxlen=5)
        self._clean = 0
        self._epoch = 0
        self._waiters: deque[asyncio.Future[int]] = deque()

    async def acquire(self) -> int:
        """Wait for a slot; returns a token to hand back to :meth:`release`."""
        if self.in_flight < self.current_limit and not self._waiters:
            self.in_flight += 1
            if self.in_flight > self.peak_in_flight:
                self.peak_in_flight = self.in_flight
            return self._epoch
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # the slot was handed over as we were cancelled
                self.release(fut.result(), "error")
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def queueing(self, latency: float) -> bool:
        """Record one clean call's latency; True when it shows the server queueing requests."""
        if self.latency_factor is None:
            return False
        recent, last = self._latencies, self._last
        baseline = min(recent) if recent else latency
        recent.append(latency)
        last.append(latency)
        if len(recent) <= self.min_samples:
            return False
        return sorted(last)[len(last) // 2] > self.latency_factor * baseline

    def release(
        self, token: int, outcome: Literal["ok", "throttled", "error"], latency: float | None = None
    ) -> None:
        """Give a slot back. ``ok`` counts towards growth unless ``latency`` (seconds per unit of
        work of a clean call) shows queueing; ``throttled`` (429, 503, timeout) shrinks the limit."""
        self.in_flight -= 1
        if outcome == "ok" and latency is not None and self.queueing(latency):
            self.queueing_signals += 1
            outcome = "throttled"
        if outcome == "ok":
            self._clean += 1
            if self.slow_start or self._clean >= self.current_limit:
                self._clean = 0
                if self.current_limit < self.max_limit:
                    self.current_limit += 1
                    self.increases += 1
        elif outcome == "throttled" and token == self._epoch:
            self.current_limit = max(1, self.current_limit // 2)
            self.slow_start = False
            self._last.clear()  # judge the new limit by the replies it gives
            self._epoch += 1
            self._clean = 0
            self.decreases += 1
        waiters = self._waiters
        while waiters and self.in_flight < self.current_limit:
            fut = waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                if self.in_flight > self.peak_in_flight:
                    self.peak_in_flight = self.in_flight
                fut.set_result(self._epoch)
