"""Running a simulation's per-shard work (situations, acts) in this process or as Ray tasks.

A shard is a range of agents ``lo:hi``. The shard functions only read the state, so the result does
not depend on how the population is split or where the shards run: the Ray executor gives the
same numbers as the local one. Ray (``pip install 'palaestra[ray]'``) is imported only when used.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import numpy as np

from palaestra.errors import UsageError
from palaestra.sim.base import Array, Simulation, State


def split(n: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous ranges covering ``0:n`` (sizes differ by at most one; none empty)."""
    k = max(1, min(shards, n))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _situation_part(sim: Simulation, state: State, lo: int, hi: int, choices: Array | None) -> Array:
    return sim.situation(state, lo, hi)


def _act_part(sim: Simulation, state: State, lo: int, hi: int, choices: Array | None) -> dict[str, Array]:
    assert choices is not None
    return sim.act(state, choices[lo:hi], lo, hi)


def _concat(parts: list[dict[str, Array]]) -> dict[str, Array]:
    if len(parts) == 1:
        return parts[0]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


class Executor(Protocol):
    name: str

    def situations(self, sim: Simulation, state: State) -> Array: ...

    def acts(self, sim: Simulation, state: State, choices: Array) -> dict[str, Array]: ...

    def close(self) -> None: ...


CHUNK = 1 << 18
"""Agents a local part covers at most: bounds the temporary arrays of a step (a neighbour gather of
a million agents would otherwise take its own 32 MB) without changing any result."""


class LocalExecutor:
    """The shards one after another in this process, each in parts of at most ``chunk`` agents."""

    name = "local"

    def __init__(self, shards: int = 1, chunk: int = CHUNK) -> None:
        self.shards, self.chunk = shards, chunk

    def _parts(self, state: State) -> list[tuple[int, int]]:
        n = len(state["archetype"])
        return split(n, max(self.shards, -(-n // self.chunk)))

    def situations(self, sim: Simulation, state: State) -> Array:
        return np.concatenate([sim.situation(state, lo, hi) for lo, hi in self._parts(state)])

    def acts(self, sim: Simulation, state: State, choices: Array) -> dict[str, Array]:
        return _concat([sim.act(state, choices[lo:hi], lo, hi) for lo, hi in self._parts(state)])

    def close(self) -> None:
        pass


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray; install it with: pip install 'palaestra[ray]'") from None
    return ray


class RayExecutor:
    """Each shard a Ray task; the state goes to the object store once a round and is read there
    without copies (numpy arrays are shared, read-only, between the workers of a node).

    Uses the Ray instance this process is connected to, or starts a local one with ``num_cpus``
    (``address`` connects to a cluster instead); a Ray it started it shuts down on :meth:`close`.
    """

    name = "ray"

    def __init__(self, shards: int = 2, *, num_cpus: int | None = None, address: str | None = None) -> None:
        ray = self._ray = _ray()
        self.shards = shards
        self._started = False
        if not ray.is_initialized():
            ray.init(
                address=address,
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
            self._started = True
        self._task = ray.remote(_run_part)

    def _map(self, fn: Any, sim: Simulation, state: State, choices: Array | None) -> list[Any]:
        ray = self._ray
        n = len(state["archetype"])
        state_ref = ray.put(state)
        choices_ref = ray.put(choices)
        refs = [
            self._task.remote(fn, sim, state_ref, lo, hi, choices_ref) for lo, hi in split(n, self.shards)
        ]
        return list(ray.get(refs))

    def situations(self, sim: Simulation, state: State) -> Array:
        return np.concatenate(self._map(_situation_part, sim, state, None))

    def acts(self, sim: Simulation, state: State, choices: Array) -> dict[str, Array]:
        return _concat(self._map(_act_part, sim, state, choices))

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def _run_part(fn: Any, sim: Simulation, state: State, lo: int, hi: int, choices: Array | None) -> Any:
    """A Ray task: one shard's part (Ray resolves the object refs passed at the top level)."""
    return fn(sim, state, lo, hi, choices)
