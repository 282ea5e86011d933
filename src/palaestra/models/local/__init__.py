"""The ``local`` provider: a causal LM run in-process with ``transformers``, with dynamic batching.

``get_model("local:nano")`` runs the embedded model; ``get_model("local:/path/to/dir")`` any causal LM
saved with ``save_pretrained`` (weights, config, a tokenizer with a chat template). Nothing is ever
downloaded (``local_files_only=True``).

Every ``generate`` call renders its prompt with the tokenizer's chat template (tool calls in the
Hermes format, see :mod:`palaestra.models.chat_format`), cut to the model's ``max_prompt_tokens``,
and joins a queue. One worker thread takes everything waiting (up to ``max_batch``) and generates it
as one left-padded batch with a KV cache; calls that arrive meanwhile form the next batch. Each row
has its own temperature, top-p, token limit, seed and stop strings, stops at the end-of-turn token,
and is answered (and leaves the batch) as soon as it is done. The asyncio loop never waits on torch.

``torch`` and ``transformers`` are imported when a model is built, not when this module is.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import itertools
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palaestra.chat import chat_messages, chat_tools
from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, ModelOutput
from palaestra.models.chat_format import (
    fit_messages,
    model_settings,
    parse_reply,
    resolve_model_dir,
)
from palaestra.types import Message, ToolSpec, Usage

if TYPE_CHECKING:
    import torch

    from palaestra.chat import ChatMessage

END_TOKEN = "<|end|>"
"""The end-of-turn token of the compact template; a row also stops at the tokenizer's EOS token(s)."""

_DTYPES = ("auto", "float32", "bfloat16", "float16")


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


def _cache_kw(model: Any) -> str:
    """The name ``model.forward`` takes its KV cache by: transformers 5.2x renamed ``past_key_values``
    to ``cache`` (the old name warns, then goes away), earlier releases know only the old one."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _load(path: Path, device: str | None, dtype: str, threads: int | None) -> tuple[Any, Any, Any]:
    """(model, tokenizer, torch device), or UsageError with one line."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as e:
        raise UsageError(f"bad device {device!r} for the local model: {_describe(e)}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} asked for, but torch sees no CUDA device")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no progress bar over a run's own display
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        # whole conversations are tokenized to measure them before fit_messages cuts them to the
        # context: that is not an overflow, and transformers' warning about it would be noise
        tokenizer.model_max_length = 2**62
        model: Any = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
        model = model.to(dev).eval()
    except Exception as e:
        raise UsageError(f"cannot load the local model at {str(path)!r}: {_describe(e)}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"the tokenizer at {str(path)!r} has no chat template; the local provider needs one")
    return model, tokenizer, dev


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    end = tokenizer.get_vocab().get(END_TOKEN)
    if isinstance(end, int):
        ids.add(end)
    return frozenset(ids)


class LocalModel:
    """A causal LM from a local directory, served in dynamic batches by one worker thread.

    Args:
        path: ``nano`` (the embedded model) or a directory with ``config.json``, weights and a
            tokenizer with a chat template; optional ``palaestra.json`` gives ``max_prompt_tokens``
            and ``max_new_tokens``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available, else CPU.
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        max_batch: most calls generated together in one batch.
        max_concurrency: what the runner may run at once (episodes in flight).
        threads: ``torch.set_num_threads`` (a process-wide setting); default: leave it alone.
        name: the model name in records (default ``local:PATH``).

    Sampling follows :class:`GenerateConfig`: ``temperature`` None means 1.0 and 0 means greedy;
    ``top_p`` None means 1.0; ``max_tokens`` None means the model's ``max_new_tokens`` (never past its
    context); ``seed`` makes a call's sampling reproducible; ``stop`` strings end a reply (the text is
    cut before the stop string). ``timeout`` and ``extra`` do not apply and are ignored. Every reply
    has ``token_ids`` (the end-of-turn token included when the model wrote one), ``logprobs`` (the
    chosen tokens' log-probabilities under the raw logits at temperature 1, whatever the sampling
    settings) and ``prompt_token_ids``.
    """

    def __init__(
        self,
        path: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        max_batch: int = 64,
        max_concurrency: int = 64,
        threads: int | None = None,
        name: str | None = None,
    ) -> None:
        if not path:
            raise UsageError("local model needs a directory or an embedded name: local:nano or local:PATH")
        if dtype not in _DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        for option, value in (("max_batch", max_batch), ("max_concurrency", max_concurrency)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{option} must be a positive integer, got {value!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise UsageError(f"threads must be a positive integer, got {threads!r}")
        self.path = resolve_model_dir(path)
        self.name = name or f"local:{path}"
        self.max_concurrency = max_concurrency
        settings = model_settings(self.path)
        self.max_prompt_tokens = settings["max_prompt_tokens"]
        self.max_new_tokens = settings["max_new_tokens"]
        model, tokenizer, dev = _load(self.path, device, dtype, threads)
        config = model.config
        self.context: int | None = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos_ids = _eos_ids(model, tokenizer)
        hidden = eos_ids | ({tokenizer.pad_token_id} if tokenizer.pad_token_id is not None else set())
        self._tokenizer_lock = threading.Lock()
        self._engine: _Engine | None = _Engine(
            model=model,
            tokenizer=tokenizer,
            tokenizer_lock=self._tokenizer_lock,
            device=dev,
            eos_ids=eos_ids,
            pad_id=int(pad or 0),
            hidden_ids=frozenset(hidden),
            max_batch=max_batch,
            name=self.name,
            cache_kw=_cache_kw(model),
        )
        self.stats = self._engine.stats
        self.tokenizer = tokenizer
        self.device = str(dev)
        self._ids = itertools.count()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        # a model dropped without close() still stops its worker thread
        self._finalizer = weakref.finalize(self, self._engine.shutdown)

    def __repr__(self) -> str:
        return f"LocalModel({str(self.path)!r}, device={self.device!r})"

    @property
    def hf_model(self) -> Any:
        """The ``transformers`` model (None once closed)."""
        return self._engine.model if self._engine is not None else None

    def _new_id(self) -> str:
        return f"call_{next(self._ids)}"

    # -- prompt -------------------------------------------------------------------------------------

    def prompt_ids(self, messages: list[Message], tools: list[ToolSpec] | None) -> list[int]:
        """The prompt's token ids: the chat template's rendering of the messages, with turns dropped
        from the middle until it fits ``max_prompt_tokens``. Raises ModelError when even the head
        and the last turn do not fit."""
        chat = chat_messages(messages)
        tool_list = chat_tools(tools)
        # fit_messages only ever counts the head plus a tail, so a candidate's length names it
        rendered: dict[int, list[int]] = {}

        def render(msgs: list[ChatMessage]) -> list[int]:
            ids = rendered.get(len(msgs))
            if ids is None:
                ids = rendered[len(msgs)] = self._render(msgs, tool_list)
            return ids

        budget = self.max_prompt_tokens
        fitted = fit_messages(chat, lambda msgs: len(render(msgs)), budget)
        ids = render(fitted)
        if len(ids) > budget:
            raise ModelError(
                f"the prompt is {len(ids)} tokens even with only the first and the last turn; "
                f"{self.name} takes at most {budget} (max_prompt_tokens)"
            )
        return ids

    def _render(self, msgs: list[ChatMessage], tools: list[dict[str, Any]] | None) -> list[int]:
        try:
            with self._tokenizer_lock:
                ids = self.tokenizer.apply_chat_template(
                    msgs, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False
                )
        except Exception as e:
            raise ModelError(f"{self.name}: the chat template failed: {_describe(e)}") from None
        return [int(i) for i in ids]

    # -- generation ---------------------------------------------------------------------------------

    def _request(
        self, prompt: list[int], config: GenerateConfig, loop: asyncio.AbstractEventLoop
    ) -> _Request:
        temperature = 1.0 if config.temperature is None else config.temperature
        top_p = 1.0 if config.top_p is None else config.top_p
        if temperature < 0:
            raise ModelError(f"temperature must be >= 0, got {temperature}")
        if not 0 < top_p <= 1:
            raise ModelError(f"top_p must be in (0, 1], got {top_p}")
        if not prompt:
            raise ModelError(f"{self.name}: the chat template rendered an empty prompt")
        max_tokens = self.max_new_tokens if config.max_tokens is None else config.max_tokens
        if max_tokens < 1:
            raise ModelError(f"max_tokens must be at least 1, got {max_tokens}")
        if self.context is not None:
            room = self.context - len(prompt)
            if room < 1:
                raise ModelError(
                    f"the prompt is {len(prompt)} tokens and fills {self.name}'s context of {self.context}"
                )
            max_tokens = min(max_tokens, room)
        return _Request(
            prompt_ids=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=config.seed,
            stop=tuple(s for s in config.stop or () if s),
            loop=loop,
            future=loop.create_future(),
        )

    def _enqueue(self, engine: _Engine, req: _Request) -> None:
        """Hand ``req`` to the worker at the end of this turn of the event loop, together with every
        call made in the same turn (``gather`` of many calls): the worker then batches them all,
        rather than starting on the first alone while the others are still being prepared."""
        pending = self._pending.get(req.loop)
        if pending is None:
            pending = self._pending[req.loop] = []
            req.loop.call_soon(self._flush, engine, req.loop)
        pending.append(req)

    def _flush(self, engine: _Engine, loop: asyncio.AbstractEventLoop) -> None:
        reqs = self._pending.pop(loop, [])
        try:
            engine.submit(reqs)
        except ModelError as e:  # closed in the meantime
            for r in reqs:
                if not r.future.done():
                    r.future.set_exception(e)

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        start = time.perf_counter()
        engine = self._engine
        if engine is None:
            raise ModelError(f"{self.name} is closed")
        prompt = self.prompt_ids(messages, tools)
        req = self._request(prompt, config, asyncio.get_running_loop())
        self._enqueue(engine, req)
        try:
            result = await req.future
        except asyncio.CancelledError:
            req.cancelled = True
            raise
        with self._tokenizer_lock:
            text = self.tokenizer.decode(
                [t for t in result.token_ids if t not in engine.hidden_ids], skip_special_tokens=False
            )
        finish = result.finish_reason
        cut = min((i for i in (text.find(s) for s in req.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        return ModelOutput(
            message=parse_reply(text, self._new_id),
            usage=Usage(input_tokens=len(prompt), output_tokens=len(result.token_ids)),
            latency=time.perf_counter() - start,
            finish_reason=finish,
            token_ids=result.token_ids,
            logprobs=result.logprobs,
            prompt_token_ids=prompt,
            model=self.name,
        )

    async def close(self) -> None:
        """Stop the worker (calls still waiting fail with ModelError) and free the model."""
        engine, self._engine = self._engine, None
        if engine is None:
            return
        self._finalizer.detach()
        thread = engine.shutdown()
        if thread is not None:
            await asyncio.to_thread(thread.join)
        engine.release()


_OPTIONS = ("device", "dtype", "max_batch", "max_concurrency", "threads", "name")


def _factory(spec: str, **kwargs: Any) -> LocalModel:
    unknown = sorted(set(kwargs) - set(_OPTIONS))
    if unknown:
        raise UsageError(
            f"the local provider takes no option {', '.join(unknown)}; its options: {', '.join(_OPTIONS)}"
        )
    return LocalModel(spec, **kwargs)


__all__ = ["BatchStats", "LocalModel"]
