"""The ``memories`` table: what cross-episode strategies remember (the ``MemoryBank`` contract).

Entries are written with the env, split and task id of the task that produced them. Reads return
train-split entries only: an agent running dev or test tasks never recalls anything learnt on
them, whoever wrote it (the scoping is here, in the one query that reads, not in each strategy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from palaestra.records import MemoryEntry
from palaestra.sanitize import clean_text
from palaestra.store.open import StoreConnection

READABLE_SPLIT = "train"
"""The only split whose entries are ever read back."""


class StoreMemory(StoreConnection):
    """:class:`~palaestra.records.MemoryBank` over the store's ``memories`` table."""

    def remember(self, entries: Sequence[MemoryEntry]) -> None:
        """Keep ``entries`` (one transaction)."""
        if not entries:
            return
        now = time.time()
        rows = [
            (
                now,
                e.env,
                e.split,
                e.task_id,
                e.kind,
                clean_text(e.key),
                clean_text(e.value),
                json.dumps(e.meta, default=str),
            )
            for e in entries
        ]
        with self._transaction("memories"):
            self.con.executemany(
                "INSERT INTO memories(created, env, split, task_id, kind, key, value, meta) "
                "VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )

    def recall(
        self, env: str, kind: str, *, task_id: str | None = None, limit: int = 1000
    ) -> list[MemoryEntry]:
        """The newest ``limit`` train-split entries of ``kind`` for ``env`` (of one task if given)."""
        sql = "SELECT env, split, task_id, kind, key, value, meta FROM memories WHERE env=? AND kind=? AND split=?"
        args: list[object] = [env, kind, READABLE_SPLIT]
        if task_id is not None:
            sql += " AND task_id=?"
            args.append(task_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [
            MemoryEntry(
                env=r[0], split=r[1], task_id=r[2], kind=r[3], key=r[4], value=r[5], meta=json.loads(r[6])
            )
            for r in self.con.execute(sql, args)
        ]
