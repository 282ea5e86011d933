"""The viewer's reads are the store's: :class:`~palaestra.store.browse.StoreBrowser`, read-only pages
of runs and episodes over a pool of connections, each query under a time limit."""

from __future__ import annotations

from palaestra.store.browse import StoreBrowser as ViewerDB
from palaestra.store.open import QueryTimeout

__all__ = ["QueryTimeout", "ViewerDB"]
