"""``Store``: runs, episodes, steps and model calls in one SQLite file (WAL, one writer).

A finished episode is written in one transaction, so a killed process loses at most the episodes
that were in flight, and ``--resume`` finds exactly the ones that are missing.

The store's jobs live in their own modules: :mod:`~palaestra.store.open` (refusing what is not a
store, migrating, read-only connections), :mod:`~palaestra.store.writer` (runs, episodes, matches,
deleting), :mod:`~palaestra.store.readers` (every query that reads) and :mod:`~palaestra.store.memory`
(what cross-episode strategies remember); ``Store`` is all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from palaestra.records import MemoryBank
from palaestra.store.memory import StoreMemory
from palaestra.store.open import check_file, connect_read_only
from palaestra.store.readers import StoreReaders
from palaestra.store.writer import StoreWriter

__all__ = ["Store", "check_file", "connect_read_only"]


class Store(StoreWriter, StoreReaders, StoreMemory):
    """The SQLite store. Use one ``Store`` per process; it is the only writer of its file."""

    def memory_opener(self) -> Callable[[], MemoryBank]:
        """Opens this store's memory bank on a connection of its own: for agents, whose writes must
        not share a connection (and its transactions) with the runner's writer thread, and for
        worker processes (it pickles). SQLite in WAL mode serialises the writers."""
        return partial(StoreMemory, self.path, create=False)
