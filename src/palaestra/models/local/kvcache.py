"""KV caches of the ``local`` provider: the running batch's cache, and the prefix cache across calls.

- :func:`batch_cache` is a ``transformers`` ``DynamicCache`` whose layers write each step into a
  buffer with room to grow (:class:`GrowingLayer`), instead of concatenating the whole cache anew
  at every generated token. The engine also adds rows to it, drops rows and trims its left edge.
- :class:`PrefixCache` keeps the keys and values of finished calls (prompt and reply) under a memory
  budget, least recently used first out. A new prompt reuses the longest token prefix it shares with
  any entry: an episode's next turn prefills only what was appended since its last one, and calls
  sharing a system prompt and tool list share that too.

Keys and values are per layer ``[heads, tokens, head_dim]`` for one sequence (no padding), and
``[rows, heads, columns, head_dim]`` in a batch, where an attention mask says which columns hold a
row's tokens (rows are left-padded; a row reusing a prefix may have a hole between its prefix and
the rest of its prompt).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

KV = list[tuple["torch.Tensor", "torch.Tensor"]]
"""One sequence's keys and values, per layer: ``[heads, tokens, head_dim]`` each."""


def _growing_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    base: Any = DynamicLayer  # untyped enough that subclassing it is not type-checked

    class GrowingLayer(base):  # type: ignore[misc]
        """A ``DynamicLayer`` that writes new keys and values into a buffer with spare columns
        (doubling when full), so a decoding step costs what it adds, not a copy of the whole cache."""

        def set(self, keys: torch.Tensor, values: torch.Tensor, spare: int = 64) -> None:
            import torch

            rows, heads, cols, dim = keys.shape
            self.buf_k: Any = torch.empty(
                (rows, heads, cols + spare, dim), dtype=keys.dtype, device=keys.device
            )
            self.buf_v: Any = torch.empty_like(self.buf_k)
            self.buf_k[:, :, :cols] = keys
            self.buf_v[:, :, :cols] = values
            self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
            self.n: int = cols
            self._views()

        keys: Any
        values: Any

        def _views(self) -> None:
            self.keys = self.buf_k[:, :, : self.n]
            self.values = self.buf_v[:, :, : self.n]

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.set(key_states, value_states)
                return self.keys, self.values
            add = key_states.shape[-2]
            if self.n + add > self.buf_k.shape[-2]:
                keys, values = self.keys, self.values
                self.set(keys, values, spare=max(64, self.n, add))
            self.buf_k[:, :, self.n : self.n + add] = key_states
            self.buf_v[:, :, self.n : self.n + add] = value_states
            self.n += add
            self._views()
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.is_initialized:
                self.buf_k, self.buf_v = self.buf_k[indices], self.buf_v[indices]
                self._views()

        def reset(self) -> None:
            super().reset()
            self.n = 0

    return GrowingLayer


_GROWING: Any = None


def batch_cache(model: Any, kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> Any:
    """A ``DynamicCache`` for ``model`` with growing layers, holding ``kv`` (per layer
    ``[rows, heads, columns, head_dim]``) when given. Models whose cache layers are not plain
    ``DynamicLayer``s (sliding windows...) keep their own layers."""
    global _GROWING
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    if _GROWING is None:
        _GROWING = _growing_layer_class()
    cache = DynamicCache(config=model.config)
    if all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.layers = [_GROWING() for _ in cache.layers]
    if kv is not None:
        for i, (k, v) in enumerate(kv):
            layer: Any = cache.layers[i]
            if isinstance(layer, _GROWING):
                layer.set(k, v)
            else:
                cache.update(k, v, i)
    return cache


def cache_tensors(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The cache's keys and values per layer (views, ``[rows, heads, columns, head_dim]``)."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def kv_bytes(kv: KV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


@dataclass(eq=False, slots=True)
class Entry:
    tokens: list[int]
    kv: KV
    prompt_len: int
    """How many of ``tokens`` were the prompt (the rest is the reply the model generated)."""
    nbytes: int


def common_prefix(a: list[int], b: list[int]) -> int:
    """The length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(slots=True)
class PrefixStats:
    lookups: int = 0
    hits: int = 0
    reused_tokens: int = 0
    prompt_tokens: int = 0
    evictions: int = 0


class PrefixCache:
    """Keys and values of earlier sequences, found by their longest shared token prefix.

    ``budget_bytes`` bounds the memory held (least recently used entries go first; 0 keeps nothing).
    Used by the engine's worker thread only.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.entries: OrderedDict[int, Entry] = OrderedDict()
        self.nbytes = 0
        self.stats = PrefixStats()
        self._ids = 0

    def lookup(self, prompt: list[int]) -> tuple[Entry | None, int]:
        """The entry sharing the longest prefix with ``prompt`` and how many tokens it can give:
        at most ``len(prompt) - 1``, so the last prompt token is always computed (its logits)."""
        self.stats.lookups += 1
        self.stats.prompt_tokens += len(prompt)
        best: Entry | None = None
        best_key, best_n = -1, 0
        for key, entry in self.entries.items():
            if entry.tokens[:1] != prompt[:1]:
                continue
            n = common_prefix(entry.tokens, prompt)
            if n > best_n:
                best, best_key, best_n = entry, key, n
        best_n = min(best_n, len(prompt) - 1)
        if best is None or best_n <= 0:
            return None, 0
        self.entries.move_to_end(best_key)
        self.stats.hits += 1
        self.stats.reused_tokens += best_n
        return best, best_n

    def store(self, tokens: list[int], kv: KV, prompt_len: int, source: Entry | None, reused: int) -> None:
        """Keep ``kv`` (the keys and values of ``tokens``). ``source`` is the entry this sequence
        reused ``reused`` tokens of: when that covered the source's whole prompt, this sequence
        continues the source's conversation, and the source is dropped (this entry holds it)."""
        if source is not None and reused >= source.prompt_len:
            for key, entry in self.entries.items():
                if entry is source:
                    self._drop(key)
                    break
        nbytes = kv_bytes(kv)
        if nbytes > self.budget:
            return
        self._ids += 1
        self.entries[self._ids] = Entry(tokens, kv, prompt_len, nbytes)
        self.nbytes += nbytes
        while self.nbytes > self.budget:
            self._drop(next(iter(self.entries)))
            self.stats.evictions += 1

    def _drop(self, key: int) -> None:
        entry = self.entries.pop(key)
        self.nbytes -= entry.nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0
