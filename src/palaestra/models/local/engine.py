"""The batching engine of the ``local`` provider: one worker thread takes every call waiting (up to
``max_batch``) and generates them as one left-padded batch with a KV cache, each row with its own
sampling settings, answering (and dropping) each row as soon as it is done.

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

if TYPE_CHECKING:
    import torch


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
    rows: int = 0
    """Rows over all batches (so ``rows / batches`` is the mean batch size)."""
    peak_batch: int = 0
    forward_passes: int = 0
    generated_tokens: int = 0
    failed_batches: int = 0


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
    cache_kw: str = "past_key_values"
    """The forward argument that takes the KV cache (``cache`` from transformers 5.2x on)."""
    stats: BatchStats = field(default_factory=BatchStats)
    thread: threading.Thread | None = None
    closing: bool = False
    _waiting: deque[_Request] = field(default_factory=deque)
    _cond: threading.Condition = field(default_factory=threading.Condition)

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
            while True:
                with self._cond:
                    while not self._waiting and not self.closing:
                        self._cond.wait()
                    if self.closing:
                        break
                    n = min(len(self._waiting), self.max_batch)
                    batch = [self._waiting.popleft() for _ in range(n)]
                batch = [r for r in batch if not r.cancelled]
                if batch:
                    self._run(batch)
                error = ModelError(f"{self.name} was closed while this call was generating")
                self._send([(r, error) for r in batch])  # the unanswered ones: the batch stopped early
        self._drain()

    def _run(self, batch: list[_Request]) -> None:
        """Generate ``batch``; on running out of memory, retry the unanswered rows in halves."""
        import torch

        try:
            self._generate(batch)
        except torch.cuda.OutOfMemoryError as e:
            self.stats.failed_batches += 1
            self._free_cache()
            left = [r for r in batch if not r.answered and not r.cancelled]
            if len(left) > 1 and not self.closing:
                half = len(left) // 2
                self._run(left[:half])
                self._run(left[half:])
            else:
                error = ModelError(f"{self.name}: out of memory on a single prompt: {_describe(e)}")
                self._send([(r, error) for r in left])
        except Exception as e:
            self.stats.failed_batches += 1
            self._free_cache()
            error = ModelError(f"{self.name} failed on a batch of {len(batch)}: {_describe(e)}")
            self._send([(r, error) for r in batch])

    def _free_cache(self) -> None:
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

    def _generate(self, rows: list[_Request]) -> None:
        import torch
        from transformers import DynamicCache

        model, device = self.model, self.device
        n = len(rows)
        self.stats.batches += 1
        self.stats.rows += n
        self.stats.peak_batch = max(self.stats.peak_batch, n)

        width = max(len(r.prompt_ids) for r in rows)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: every row's next token is in the last column
            k = len(r.prompt_ids)
            ids[i, width - k :] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - k :] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)

        temps = torch.tensor([r.temperature for r in rows], dtype=torch.float32, device=device)
        top_ps = torch.tensor([r.top_p for r in rows], dtype=torch.float32, device=device)
        generators: list[torch.Generator | None] = []
        for r in rows:
            if r.seed is None or r.temperature == 0:
                generators.append(None)
            else:
                g = torch.Generator(device=device)
                g.manual_seed(r.seed)
                generators.append(g)

        cache = DynamicCache(config=model.config)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: cache},
        )
        self.stats.forward_passes += 1
        logits = out.logits[:, -1, :].float()
        del out
        next_pos = positions[:, -1:] + 1

        active = list(range(n))  # row index of each line of the batch tensors
        generated: list[list[int]] = [[] for _ in rows]
        logprobs: list[list[float]] = [[] for _ in rows]
        while True:
            tokens, chosen_lp = self._choose(logits, [rows[i] for i in active], temps, top_ps, generators)
            token_list: list[int] = tokens.tolist()
            lp_list: list[float] = chosen_lp.tolist()
            keep: list[int] = []
            done: list[tuple[_Request, _Result | BaseException]] = []
            for line, i in enumerate(active):
                r = rows[i]
                if r.cancelled:
                    r.answered = True  # nobody waits for it
                    continue
                tok = token_list[line]
                generated[i].append(tok)
                logprobs[i].append(lp_list[line])
                self.stats.generated_tokens += 1
                finish: str | None = None
                if tok in self.eos_ids or (r.stop and self._stopped_by_string(r, generated[i])):
                    finish = "stop"
                elif len(generated[i]) >= r.max_tokens:
                    finish = "length"
                if finish is None:
                    keep.append(line)
                else:
                    done.append((r, _Result(generated[i], logprobs[i], finish)))
            self._send(done)
            if not keep or self.closing:
                return
            if len(keep) < len(active):  # finished rows leave the batch and stop costing
                sel = torch.tensor(keep, dtype=torch.long, device=device)
                cache.batch_select_indices(sel)
                mask, next_pos, tokens = mask[sel], next_pos[sel], tokens[sel]
                temps, top_ps = temps[sel], top_ps[sel]
                generators = [generators[line] for line in keep]
                active = [active[line] for line in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            out = model(
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=next_pos,
                use_cache=True,
                **{self.cache_kw: cache},
            )
            self.stats.forward_passes += 1
            logits = out.logits[:, -1, :].float()
            del out
            next_pos = next_pos + 1

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
