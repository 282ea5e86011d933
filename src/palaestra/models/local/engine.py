"""The batching engine of the ``local`` provider: continuous batching over a prefix-cached KV store.

One worker thread runs a batch of rows, each a ``generate`` call with its own sampling settings.
At every step it (1) prefills the calls waiting (up to ``max_batch`` rows in all) in one forward,
each reusing the longest token prefix the :class:`~palaestra.models.local.kvcache.PrefixCache`
holds for it, and adds them to the running batch; (2) chooses every row's next token, answering and
dropping the rows that are done (their keys and values go to the prefix cache); (3) runs one
decoding step for the rest. A call that arrives while a batch is generating joins it at the next
step; with ``continuous=False`` it waits for the batch to finish (static batching).

``torch`` and ``transformers`` are imported by the worker, not when this module is.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaestra.errors import ModelError
from palaestra.models.local.kvcache import Entry, PrefixCache, batch_cache, cache_tensors

if TYPE_CHECKING:
    import torch


JOIN_WAIT = 4
"""Most decoding steps a call waits before it joins a running batch (see ``_Engine._take``)."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(e: BaseException) -> str:
    return _one_line(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


@dataclass(eq=False, slots=True)
class _Request:
    """One ``generate`` call waiting for (or in) a batch."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[_Result]
    cancelled: bool = False
    """Set by the caller when it stops waiting: the row leaves its batch at the next step."""
    answered: bool = False
    """Set by the worker once a result or an error was sent."""


@dataclass(slots=True)
class _Result:
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str


@dataclass(slots=True)
class BatchStats:
    """What the worker has done so far (read freely; only the worker writes)."""

    batches: int = 0
    """Prefill passes (each starts one or more calls)."""
    rows: int = 0
    """Calls started (so ``rows / batches`` is the mean number started together)."""
    peak_batch: int = 0
    forward_passes: int = 0
    generated_tokens: int = 0
    failed_batches: int = 0
    prefill_tokens: int = 0
    """Prompt tokens computed (those not found in the prefix cache)."""
    reused_tokens: int = 0
    """Prompt tokens whose keys and values came from the prefix cache."""


def torch_cat_ones(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` with one more column of ones (the token fed at this step)."""
    import torch

    return torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)


DEAD_SHARE = 0.25
"""Finished rows stay in the running batch (decoded along, their output ignored) until they are this
share of its rows: see :meth:`_Engine._choose_tokens`."""


@dataclass(eq=False, slots=True)
class _Row:
    """A call being generated."""

    req: _Request
    source: Entry | None = None
    """The prefix-cache entry its prompt reused ``reused`` tokens of."""
    reused: int = 0
    generator: Any = None
    generated: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    dead: bool = False
    """Answered (or cancelled) but still in the batch until enough rows are (see DEAD_SHARE)."""


@dataclass(eq=False)
class _Batch:
    """The rows generating together: their KV cache (``[rows, heads, columns, head_dim]`` per
    layer), the mask of which columns hold each row's tokens, the next position of each row, the
    logits to choose the next tokens from and, once chosen, the tokens to feed."""

    rows: list[_Row]
    cache: Any
    mask: torch.Tensor
    logits: torch.Tensor
    next_pos: torch.Tensor = field(init=False)
    tokens: Any = None

    def __post_init__(self) -> None:
        self.next_pos = self._positions(self.rows, self.mask)

    @staticmethod
    def _positions(rows: list[_Row], mask: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.tensor([[len(row.req.prompt_ids)] for row in rows], dtype=torch.long, device=mask.device)

    def select(self, keep: list[int], device: Any) -> None:
        """Keep only the rows at ``keep``, and drop the columns no row uses any more."""
        import torch

        self.rows = [self.rows[i] for i in keep]
        if not keep:
            return
        sel = torch.tensor(keep, dtype=torch.long, device=device)
        self.cache.batch_select_indices(sel)
        self.mask, self.next_pos, self.tokens = self.mask[sel], self.next_pos[sel], self.tokens[sel]
        self.logits = self.logits[sel]
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first * 4 > self.mask.shape[1]:  # trim the left edge once it is a quarter of the width
            kv = [(k[:, :, first:], v[:, :, first:]) for k, v in cache_tensors(self.cache)]
            self.cache = batch_cache_like(self.cache, kv)
            self.mask = self.mask[:, first:]

    def join(
        self,
        rows: list[_Row],
        kv: list[tuple[torch.Tensor, torch.Tensor]],
        mask: torch.Tensor,
        logits: torch.Tensor,
        model: Any,
    ) -> None:
        """Add prefilled rows (their keys and values, mask and logits) to the batch, left-padding
        whichever side is narrower. The rows already here have chosen no token yet."""
        import torch
        import torch.nn.functional as F

        old = cache_tensors(self.cache)
        width = max(self.mask.shape[1], mask.shape[1])
        pad_old, pad_new = width - self.mask.shape[1], width - mask.shape[1]
        merged = [
            (
                torch.cat([F.pad(k0, (0, 0, pad_old, 0)), F.pad(k1, (0, 0, pad_new, 0))]),
                torch.cat([F.pad(v0, (0, 0, pad_old, 0)), F.pad(v1, (0, 0, pad_new, 0))]),
            )
            for (k0, v0), (k1, v1) in zip(old, kv, strict=True)
        ]
        self.cache = batch_cache(model, merged)
        self.mask = torch.cat([F.pad(self.mask, (pad_old, 0)), F.pad(mask, (pad_new, 0))])
        self.next_pos = torch.cat([self.next_pos, self._positions(rows, mask)])
        self.logits = torch.cat([self.logits, logits])
        self.rows = self.rows + rows


def batch_cache_like(cache: Any, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A cache of the same kind as ``cache`` holding ``kv``."""
    for layer, (k, v) in zip(cache.layers, kv, strict=True):
        if hasattr(layer, "buf_k"):
            layer.set(k.contiguous(), v.contiguous())
        else:
            layer.keys, layer.values = k.contiguous(), v.contiguous()
    return cache


def _resolve_all(answers: list[tuple[asyncio.Future[_Result], _Result | BaseException]]) -> None:
    for fut, value in answers:
        if fut.done():  # the caller was cancelled
            continue
        if isinstance(value, BaseException):
            fut.set_exception(value)
        else:
            fut.set_result(value)


@dataclass(eq=False)
class _Engine:
    """The model, its tokenizer and the worker thread that serves the waiting calls in batches.

    Holds no reference to the :class:`LocalModel` facade, so a model that is dropped without
    ``close()`` is still shut down (by a ``weakref.finalize`` on the facade).
    """

    model: Any
    tokenizer: Any
    tokenizer_lock: threading.Lock
    device: Any
    eos_ids: frozenset[int]
    pad_id: int
    """Fills the left padding (any id would do: padded positions are masked)."""
    hidden_ids: frozenset[int]
    """Left out of the reply's text: the end-of-turn token(s) and the tokenizer's pad token."""
    max_batch: int
    name: str
    prefix: PrefixCache = field(default_factory=lambda: PrefixCache(0))
    """Keys and values of finished calls, reused by later prompts that share a prefix."""
    continuous: bool = True
    """Calls join a running batch at the next step (else they wait for it to finish)."""
    cache_kw: str = "past_key_values"
    """The forward argument that takes the KV cache (``cache`` from transformers 5.2x on)."""
    stats: BatchStats = field(default_factory=BatchStats)
    thread: threading.Thread | None = None
    closing: bool = False
    _waiting: deque[_Request] = field(default_factory=deque)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _batch: _Batch | None = None
    _held: int = 0
    """Steps the calls waiting have been held back from joining the running batch."""

    # -- life cycle (any thread) --------------------------------------------------------------------

    def submit(self, reqs: list[_Request]) -> None:
        """Queue calls; calls submitted together are taken together (up to ``max_batch``)."""
        with self._cond:
            if self.closing:
                raise ModelError(f"{self.name} is closed")
            if self.thread is None:
                self.thread = threading.Thread(target=self._serve, name=f"palaestra-{self.name}", daemon=True)
                self.thread.start()
            self._waiting.extend(reqs)
            self._cond.notify()

    def shutdown(self) -> threading.Thread | None:
        """Stop taking calls; the worker ends its batch early and exits. Returns the thread."""
        with self._cond:
            self.closing = True
            thread = self.thread
            self._cond.notify()
        if thread is None:
            self._drain()
        return thread

    def release(self) -> None:
        """Drop the weights (after the worker has exited)."""
        on_cuda = getattr(self.device, "type", "cpu") == "cuda"
        self.model = None
        gc.collect()
        if on_cuda:
            import torch

            torch.cuda.empty_cache()

    def _drain(self) -> None:
        with self._cond:
            left = list(self._waiting)
            self._waiting.clear()
        error = ModelError(f"{self.name} was closed before this call was served")
        self._send([(r, error) for r in left])

    # -- worker thread ------------------------------------------------------------------------------

    def _send(self, answers: list[tuple[_Request, _Result | BaseException]]) -> None:
        """Hand results to their callers: one wake-up per event loop for everything at once."""
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[_Result], _Result | BaseException]]
        ]
        by_loop = {}
        for req, value in answers:
            if req.answered:
                continue
            req.answered = True
            by_loop.setdefault(req.loop, []).append((req.future, value))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve_all, items)

    def _serve(self) -> None:
        import torch

        with torch.inference_mode():
            while not self.closing:
                try:
                    self._step()
                except Exception as e:  # a failed forward: its rows get the error, the worker goes on
                    self._fail(self._batch.rows if self._batch else [], e)
                    self._batch = None
            if self._batch is not None:
                error = ModelError(f"{self.name} was closed while this call was generating")
                self._send([(row.req, error) for row in self._batch.rows])
                self._batch = None
        self._drain()

    def _fail(self, rows: list[_Row], e: BaseException) -> None:
        self.stats.failed_batches += 1
        self._free_cache()
        error = ModelError(f"{self.name} failed on a batch of {len(rows)}: {_describe(e)}")
        self._send([(row.req, error) for row in rows])

    def _take(self) -> list[_Request]:
        """The calls to start now. Blocks while there is nothing to do. Without continuous batching,
        only when no batch is running. With it, a call joins the running batch at the next step once
        the calls waiting are a quarter of the rows running, or have waited :data:`JOIN_WAIT` steps:
        each join copies the batch's whole KV cache, so joins a step apart one call at a time
        would cost more than they gain."""
        running = sum(not r.dead for r in self._batch.rows) if self._batch is not None else 0
        with self._cond:
            while not self._waiting and not running and not self.closing:
                self._cond.wait()
            if self.closing or (running and not self.continuous) or not self._waiting:
                self._held = 0
                return []
            if running and len(self._waiting) < max(1, running // 4) and self._held < JOIN_WAIT:
                self._held += 1
                return []
            self._held = 0
            n = min(len(self._waiting), self.max_batch - running)
            reqs = [self._waiting.popleft() for _ in range(n)]
        return [r for r in reqs if not r.cancelled]

    def _step(self) -> None:
        """One step of the worker: start the calls waiting (prefill), choose every row's next token
        (answering the rows that are done), and run one decoding step for the rest."""
        new = self._take()
        if new:
            self._admit(new)
        batch = self._batch
        if batch is None:
            return
        self._choose_tokens(batch)
        if not batch.rows or self.closing:
            self._batch = None if not batch.rows else batch
            return
        self._decode(batch)

    # -- prefill ------------------------------------------------------------------------------------

    def _admit(self, reqs: list[_Request]) -> None:
        """Prefill ``reqs`` (each reusing the longest prefix the prefix cache has for it) and add
        them to the running batch. On running out of memory, admit them in halves."""
        import torch

        try:
            rows, cache, mask, logits = self._prefill(reqs)
        except torch.cuda.OutOfMemoryError as e:
            self._free_cache()
            if len(reqs) > 1:
                half = len(reqs) // 2
                self._admit(reqs[:half])
                self._admit(reqs[half:])
            else:
                self.stats.failed_batches += 1
                self._send(
                    [(reqs[0], ModelError(f"{self.name}: out of memory on a single prompt: {_describe(e)}"))]
                )
            return
        except Exception as e:
            self._fail([_Row(r) for r in reqs], e)
            return
        self.stats.batches += 1
        self.stats.rows += len(rows)
        if self._batch is None:
            self._batch = _Batch(rows, cache, mask, logits)
        else:
            live = [line for line, row in enumerate(self._batch.rows) if not row.dead]
            if len(live) < len(self._batch.rows):  # a join copies the batch anyway: drop the dead first
                self._batch.select(live, self.device)
            self._batch.join(rows, cache_tensors(cache), mask, logits, self.model)
        self.stats.peak_batch = max(self.stats.peak_batch, sum(not r.dead for r in self._batch.rows))

    def _prefill(self, reqs: list[_Request]) -> tuple[list[_Row], Any, torch.Tensor, torch.Tensor]:
        """One forward over the new rows' prompts, less the prefixes found in the prefix cache.

        Row ``i`` is laid out as ``[pad | reused prefix | pad | rest of the prompt]``: the reused
        keys and values fill a block of ``R`` columns (the longest reuse), the rest a block of
        ``S`` (the longest rest). Returns the rows, their KV cache (``R + S`` columns), the mask
        over those columns, and the next-token logits."""
        import torch

        device = self.device
        rows: list[_Row] = []
        for r in reqs:
            entry, reused = self.prefix.lookup(r.prompt_ids)
            rows.append(_Row(r, source=entry, reused=reused, generator=self._generator(r)))
        n = len(rows)
        width_r = max(row.reused for row in rows)
        width_s = max(len(row.req.prompt_ids) - row.reused for row in rows)
        ids = torch.full((n, width_s), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width_r + width_s), dtype=torch.long)
        positions = torch.zeros((n, width_s), dtype=torch.long)
        for i, row in enumerate(rows):
            rest = row.req.prompt_ids[row.reused :]
            ids[i, width_s - len(rest) :] = torch.tensor(rest, dtype=torch.long)
            positions[i, width_s - len(rest) :] = torch.arange(row.reused, len(row.req.prompt_ids))
            mask[i, width_r - row.reused : width_r] = 1
            mask[i, width_r + width_s - len(rest) :] = 1
        past = None
        if width_r:
            past = []
            first = next(row.source for row in rows if row.source is not None)
            for layer in range(len(first.kv)):
                k0 = first.kv[layer][0]
                heads, dim = k0.shape[0], k0.shape[-1]
                k = torch.zeros((n, heads, width_r, dim), dtype=k0.dtype, device=device)
                v = torch.zeros_like(k)
                for i, row in enumerate(rows):
                    if row.reused and row.source is not None:
                        sk, sv = row.source.kv[layer]
                        k[i, :, width_r - row.reused :] = sk[:, : row.reused]
                        v[i, :, width_r - row.reused :] = sv[:, : row.reused]
                past.append((k, v))
        cache = batch_cache(self.model, past)
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: cache},
        )
        self.stats.forward_passes += 1
        self.stats.prefill_tokens += sum(len(row.req.prompt_ids) - row.reused for row in rows)
        self.stats.reused_tokens += sum(row.reused for row in rows)
        logits = out.logits[:, -1, :].float()
        del out
        return rows, cache, mask, logits

    def _generator(self, r: _Request) -> torch.Generator | None:
        import torch

        if r.seed is None or r.temperature == 0:
            return None
        g = torch.Generator(device=self.device)
        g.manual_seed(r.seed)
        return g

    def _free_cache(self) -> None:
        self.prefix.clear()
        if getattr(self.device, "type", "cpu") == "cuda":
            import torch

            torch.cuda.empty_cache()

    def _stopped_by_string(self, req: _Request, ids: list[int]) -> bool:
        """Whether the text generated so far now contains one of the row's stop strings.

        Checked after every token, so a new occurrence ends in the last token: decoding the last
        ``len(stop in bytes) + 2`` tokens is enough (every token but EOS and pad is at least one byte)."""
        window = max(len(s.encode()) for s in req.stop) + 2
        tail_ids = [t for t in ids[-window:] if t not in self.hidden_ids]
        with self.tokenizer_lock:
            tail = self.tokenizer.decode(tail_ids, skip_special_tokens=False)
        return any(s in tail for s in req.stop)

    # -- decoding -----------------------------------------------------------------------------------

    def _choose_tokens(self, batch: _Batch) -> None:
        """Choose every row's next token from ``batch.logits``; answer and drop the finished rows."""
        import torch

        rows = batch.rows
        temps = torch.tensor([row.req.temperature for row in rows], dtype=torch.float32, device=self.device)
        top_ps = torch.tensor([row.req.top_p for row in rows], dtype=torch.float32, device=self.device)
        tokens, chosen_lp = self._choose(
            batch.logits, [row.req for row in rows], temps, top_ps, [row.generator for row in rows]
        )
        token_list: list[int] = tokens.tolist()
        lp_list: list[float] = chosen_lp.tolist()
        done: list[tuple[_Request, _Result | BaseException]] = []
        for line, row in enumerate(rows):
            r = row.req
            if row.dead:
                continue
            if r.cancelled:
                r.answered = True  # nobody waits for it
                row.dead = True
                continue
            tok = token_list[line]
            row.generated.append(tok)
            row.logprobs.append(lp_list[line])
            self.stats.generated_tokens += 1
            finish: str | None = None
            if tok in self.eos_ids or (r.stop and self._stopped_by_string(r, row.generated)):
                finish = "stop"
            elif len(row.generated) >= r.max_tokens:
                finish = "length"
            if finish is not None:
                done.append((r, _Result(row.generated, row.logprobs, finish)))
                self._remember(batch, line, row)
                row.dead = True
        self._send(done)
        batch.tokens = tokens
        # Finished rows leave the batch once they are DEAD_SHARE of it (or all of it): removing one
        # copies every row's keys and values, which at dozens of rows with long prompts costs more
        # than decoding the dead rows along (profiled: at 50 rows, removals and joins one at a time
        # took 55% of the worker's time).
        keep = [line for line, row in enumerate(rows) if not row.dead]
        if len(keep) < len(rows) and (not keep or (len(rows) - len(keep)) >= DEAD_SHARE * len(rows)):
            batch.select(keep, self.device)

    def _remember(self, batch: _Batch, line: int, row: _Row) -> None:
        """Put a finished row's keys and values (prompt and reply but its last token, which was
        never fed back) in the prefix cache."""
        if self.prefix.budget <= 0:
            return
        tokens = row.req.prompt_ids + row.generated[:-1]
        valid = batch.mask[line].bool()
        kv = [(k[line][:, valid], v[line][:, valid]) for k, v in cache_tensors(batch.cache)]
        if kv and kv[0][0].shape[1] == len(tokens):
            self.prefix.store(tokens, kv, len(row.req.prompt_ids), row.source, row.reused)

    def _decode(self, batch: _Batch) -> None:
        batch.mask = torch_cat_ones(batch.mask)
        out = self.model(
            input_ids=batch.tokens[:, None],
            attention_mask=batch.mask,
            position_ids=batch.next_pos,
            use_cache=True,
            **{self.cache_kw: batch.cache},
        )
        self.stats.forward_passes += 1
        batch.logits = out.logits[:, -1, :].float()
        del out
        batch.next_pos = batch.next_pos + 1

    @staticmethod
    def _choose(
        logits: torch.Tensor,
        rows: list[_Request],
        temps: torch.Tensor,
        top_ps: torch.Tensor,
        generators: list[torch.Generator | None],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The next token of every line and its log-probability under the raw logits (temperature 1)."""
        import torch

        logp = torch.log_softmax(logits, dim=-1)
        tokens = logits.argmax(dim=-1)
        sampled = [line for line, r in enumerate(rows) if r.temperature > 0]
        if sampled:
            idx = torch.tensor(sampled, dtype=torch.long, device=logits.device)
            probs = torch.softmax(logits[idx] / temps[idx, None], dim=-1)
            p = top_ps[idx]
            if bool((p < 1).any()):
                # keep the most likely tokens until their mass reaches top_p (always the first)
                sorted_probs, order = probs.sort(dim=-1, descending=True)
                before = sorted_probs.cumsum(dim=-1) - sorted_probs
                sorted_probs = sorted_probs.masked_fill(before >= p[:, None], 0.0)
                probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
            picks = torch.empty(len(sampled), dtype=torch.long, device=logits.device)
            shared = [k for k, line in enumerate(sampled) if generators[line] is None]
            if shared:
                sel = torch.tensor(shared, dtype=torch.long, device=logits.device)
                picks[sel] = torch.multinomial(probs[sel], 1).squeeze(-1)
            for k, line in enumerate(sampled):
                g = generators[line]
                if g is not None:
                    picks[k] = torch.multinomial(probs[k], 1, generator=g)[0]
            tokens[idx] = picks
        return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
