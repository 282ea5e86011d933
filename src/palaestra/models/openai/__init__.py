"""The ``openai`` provider: any OpenAI-compatible chat-completions server over pooled HTTP.

``get_model("openai:gpt-4o-mini")`` talks to the hosted API; ``get_model("openai:NAME@http://127.0.0.1:8000/v1")``
to a local vLLM, SGLang, llama.cpp or Ollama server. One aiohttp session per event loop with keep-alive
connections, retries with exponential backoff and full jitter (429, 408, 5xx, connection errors, timeouts,
malformed bodies), ``Retry-After`` honoured, an AIMD limiter that shrinks on 429 and grows while calls are
clean, and an optional response cache.

This module is on the hot path of every rollout: a call costs a few dict builds, one ``json.dumps``, one
``json.loads`` and unvalidated (``model_construct``) result objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import os
import random
import re
import time
import warnings
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from palaestra.chat import chat_messages
from palaestra.errors import ModelError, UsageError
from palaestra.models.base import ContextOverflowError, GenerateConfig, ModelOutput
from palaestra.types import Message, ToolCall, ToolSpec, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONGESTION_STATUSES = frozenset({408, 429, 503, 504})
"""Statuses that mean the server is overloaded: the adaptive limit shrinks on them."""
FATAL_STATUSES = frozenset({401, 403, 404})
"""Statuses after which every later call would fail alike (bad key, no such model or endpoint)."""
DEFAULT_CALL_TIMEOUT = 600.0
"""Default bound on one call's total time, retries included (or two attempts, if longer)."""

_dumps = json.JSONEncoder(separators=(",", ":")).encode  # ASCII-safe: lone surrogates cannot break it
_loads = json.loads


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None, str | None]:
    """Decode tool-call arguments as a model produced them.

    Returns ``(arguments, raw_arguments, parse_error)``: on success the decoded object, the text as
    the model wrote it (None when it was not given as text) and None; when the text is not a JSON
    object, ``{}``, the text itself and a short reason. Never raises.
    """
    if isinstance(raw, dict):
        return raw, None, None
    if raw is None:
        return {}, None, None
    if not isinstance(raw, str):
        text = _dumps(raw)
        return {}, text, f"arguments are a JSON {_json_kind(raw)}, not an object"
    if not raw.strip():
        return {}, None, None
    try:
        value = _loads(raw)
    except ValueError as e:
        return {}, raw, f"invalid JSON: {e}"
    if isinstance(value, str):  # double-encoded: "{\"x\": 1}"
        try:
            inner = _loads(value)
        except ValueError:
            inner = None
        if isinstance(inner, dict):
            return inner, None, None
    if isinstance(value, dict):
        # Keep the model's own text: the history is then re-sent exactly as generated (token-exact
        # replays, server prefix-cache hits) and needs no re-serialisation on every later call.
        return value, raw, None
    return {}, raw, f"arguments are a JSON {_json_kind(value)}, not an object"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


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


class _Retry(Exception):
    """One attempt failed in a way worth retrying. ``congestion`` marks the server as overloaded
    (429, 503, 504, 408, a timeout): the adaptive limit shrinks."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        congestion: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.congestion = congestion
        self.status = status


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class ServerError:
    """What a server's error body says: its message and the kind of error it names (type, code)."""

    message: str
    kind: str = ""
    """The body's error ``type`` and ``code`` fields, lower case, space separated."""
    validation: bool = False
    """The body lists validation failures (FastAPI's ``{"detail": [...]}``)."""

    @property
    def context_overflow(self) -> bool:
        """The request did not fit the model's context window."""
        return bool(_OVERFLOW_KINDS.intersection(self.kind.split()) or _OVERFLOW_TEXT.search(self.message))

    @property
    def client_fault(self) -> bool:
        """The request itself is wrong (sending it again would fail alike), whatever the status said."""
        if self.validation or _CLIENT_KINDS.intersection(self.kind.split()):
            return True
        if any(k.isdigit() and 400 <= int(k) < 500 and int(k) not in (408, 429) for k in self.kind.split()):
            return True
        return bool(_VALIDATION_TEXT.search(self.message))


_OVERFLOW_KINDS = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_OVERFLOW_TEXT = re.compile(
    r"context (length|window|size)|maximum context|prompt is too long|too many tokens"
    r"|exceeds? (the )?(available |max(imum)? )?context",
    re.IGNORECASE,
)
_CLIENT_KINDS = frozenset(
    {
        "invalid_request_error",
        "badrequesterror",
        "bad_request",
        "bad_request_error",
        "validation_error",
        "requestvalidationerror",
        "not_supported_error",
        "notimplementederror",
    }
)
_VALIDATION_TEXT = re.compile(r"\bvalidation errors? for\b|\bvalidation error\b|\bunprocessable\b", re.I)


def server_error(raw: bytes) -> ServerError:
    """The error a server put in its body (OpenAI, vLLM, SGLang, llama.cpp, FastAPI shapes)."""
    try:
        data = _loads(raw)
    except ValueError:
        return ServerError(_one_line(raw.decode("utf-8", "replace"), 200))
    return _error_from(data, raw)


def _error_from(data: Any, raw: bytes = b"") -> ServerError:
    if not isinstance(data, dict):
        return ServerError(_one_line(raw.decode("utf-8", "replace") or str(data), 200))
    err = data.get("error", data)
    if isinstance(err, str):
        return ServerError(_one_line(err, 200), _kind(data))
    if not isinstance(err, dict):
        err = data
    msg = err.get("message") or err.get("msg")
    detail = err.get("detail", data.get("detail"))
    if not msg and detail is not None:
        msg = detail if isinstance(detail, str) else _dumps(detail)
    text = _one_line(str(msg), 200) if msg else _one_line(raw.decode("utf-8", "replace"), 200)
    return ServerError(text, _kind(err), validation=isinstance(detail, list))


def _kind(err: dict[str, Any]) -> str:
    return " ".join(str(err[k]).lower() for k in ("type", "code") if isinstance(err.get(k), str | int))


def _server_message(raw: bytes) -> str:
    """The error message a server put in its body, or the start of the body."""
    return server_error(raw).message


def _describe_exception(e: BaseException, timeout: float) -> str:
    if isinstance(e, TimeoutError):
        return f"timed out after {timeout:g}s"
    text = str(e) or type(e).__name__
    return _one_line(f"{type(e).__name__}: {text}", 200)


def _count(value: Any) -> int:
    """A token count from a server's ``usage``; anything odd (text, negative, huge, null) is 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not 0 <= value <= _MAX_COUNT:  # also false for NaN
        return 0
    return int(value)


_MAX_COUNT = 2**53


class OpenAIModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name sent in requests (``gpt-4o-mini``, ``Qwen/Qwen2.5-7B-Instruct``).
        base_url: server root ending in ``/v1``; default ``$OPENAI_BASE_URL`` or the OpenAI API.
        api_key: bearer token; default ``$OPENAI_API_KEY``; may be absent for local servers.
        max_concurrency: connection-pool size and the ceiling of the adaptive limiter.
        initial_concurrency: where the adaptive limiter starts (default ``min(8, max_concurrency)``;
            it grows quickly while the server keeps up, so a wide server is still saturated).
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts at most).
        timeout: default seconds per attempt when a call's config keeps the default of 120 s.
        call_timeout: most seconds one call may take, retries and backoff included (default: 600 s
            or two attempts, whichever is longer); a call out of time fails with :class:`ModelError`.
        tool_role: how tool results are sent: ``"tool"`` messages (the API's way), ``"user"``
            messages (for servers whose chat template drops the tool role), or ``"auto"`` (default):
            ``"user"`` when the server publishes a chat template without a tool role (llama.cpp's
            ``/props``), else ``"tool"``.
        latency_factor: a clean reply slower (per unit of work) than this many times the fastest
            recent ones counts as queueing and shrinks the limit; None turns it off.
        price_input / price_output: dollars per 1M input / output tokens; set either to get ``cost``.
        cache: ``True`` caches replies to requests with ``temperature == 0``; ``"always"`` caches every
            reply; ``False`` (default) none. The key is a hash of the request body.
        cache_size: most replies the cache keeps (oldest dropped first).
        backoff_base / backoff_max: exponential backoff with full jitter, in seconds.
        retry_after_max: ceiling on a server's ``Retry-After``.
        headers: extra HTTP headers for every request.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 64,
        initial_concurrency: int | None = None,
        max_retries: int = 6,
        timeout: float | None = None,
        price_input: float | None = None,
        price_output: float | None = None,
        cache: bool | Literal["always"] = False,
        cache_size: int = 100_000,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 60.0,
        headers: dict[str, str] | None = None,
        call_timeout: float | None = None,
        tool_role: Literal["tool", "user", "auto"] = "auto",
        latency_factor: float | None = 3.0,
    ) -> None:
        if not model:
            raise UsageError("openai model needs a name: openai:NAME or openai:NAME@URL")
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0, got {max_retries}")
        self.model_name = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        self.name = f"openai:{model}"
        self.url = f"{self.base_url}/chat/completions"
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_concurrency = max_concurrency
        self.limiter = AdaptiveLimiter(
            initial_concurrency or min(8, max_concurrency), max_concurrency, latency_factor=latency_factor
        )
        self.max_retries = max_retries
        self.timeout = timeout
        if call_timeout is not None and call_timeout <= 0:
            raise UsageError(f"call_timeout must be positive, got {call_timeout}")
        self.call_timeout = call_timeout
        if tool_role not in ("tool", "user", "auto"):
            raise UsageError(f"tool_role must be tool, user or auto, got {tool_role!r}")
        self.tool_role = tool_role
        self._tool_role_found: str | None = None
        self._tool_role_probe: tuple[asyncio.AbstractEventLoop, asyncio.Task[str]] | None = None
        self.price_input = price_input
        self.price_output = price_output
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        if headers:
            self._headers.update(headers)
        self._cache_mode: bool | str = cache
        self._cache: OrderedDict[str, ModelOutput] | None = OrderedDict() if cache else None
        self._cache_size = cache_size
        self.cache_hits = 0
        self.calls = 0
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._next_call_id = 0

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model_name!r}, base_url={self.base_url!r})"

    @property
    def current_limit(self) -> int:
        """How many calls the adaptive limiter lets run at once right now."""
        return self.limiter.current_limit

    @property
    def in_flight(self) -> int:
        return self.limiter.in_flight

    # -- session ------------------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._session_loop is loop and not session.closed:
            return session
        if session is not None:
            _abandon(session)
        connector = aiohttp.TCPConnector(
            limit=self.max_concurrency, limit_per_host=self.max_concurrency, keepalive_timeout=60.0
        )
        # No cookie jar and no response decompression bookkeeping: an API client needs neither, and
        # both cost CPU on every call (this is the hot path of every run).
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        )
        self._session_loop = loop
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (a later call opens a new one)."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            same_loop = asyncio.get_running_loop() is self._session_loop
        except RuntimeError:
            same_loop = False
        if same_loop and not session.closed:
            await session.close()
        else:
            _abandon(session)
        self._session_loop = None

    # -- request ------------------------------------------------------------------------------------

    def build_request(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> dict[str, Any]:
        """The JSON body of a chat-completions request."""
        wire = chat_messages(messages, arguments="json")
        if (self._tool_role_found or self.tool_role) == "user":
            wire = tool_results_as_user(wire)
        payload: dict[str, Any] = {"model": self.model_name, "messages": wire}
        if tools:
            payload["tools"] = [t.openai() for t in tools]
            if config.tool_choice is not None:
                payload["tool_choice"] = config.tool_choice
        if config.temperature is not None:
            payload["temperature"] = config.temperature
        if config.top_p is not None:
            payload["top_p"] = config.top_p
        if config.max_tokens is not None:
            payload["max_tokens"] = config.max_tokens
        if config.stop:
            payload["stop"] = config.stop
        if config.seed is not None:
            payload["seed"] = config.seed
        if config.logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = config.top_logprobs
        if config.extra:
            payload.update(config.extra)
        if payload.get("stream") or config.stream:
            payload["stream"] = True
            payload.setdefault("stream_options", {"include_usage": True})
        else:
            payload.pop("stream", None)
        return payload

    def _attempt_seconds(self, config: GenerateConfig) -> float:
        if self.timeout is not None and "timeout" not in config.model_fields_set:
            return self.timeout
        return config.timeout

    def _client_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        t = self._timeouts.get(seconds)
        if t is None:
            if len(self._timeouts) > 64:  # the last attempt of a call gets what is left: many values
                self._timeouts.clear()
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return t

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        self.calls += 1
        if (
            self.tool_role == "auto"
            and self._tool_role_found is None
            and any(m.role == "tool" for m in messages)
        ):
            self._tool_role_found = await self._probe_tool_role()
        payload = self.build_request(messages, tools, config)
        body = _dumps(payload).encode()
        key: str | None = None
        cache = self._cache
        if cache is not None and (self._cache_mode == "always" or config.temperature == 0):
            key = hashlib.sha256(body).hexdigest()
            hit = cache.get(key)
            if hit is not None:
                self.cache_hits += 1
                cache.move_to_end(key)
                return hit.model_copy(
                    deep=True,
                    update={"latency": 0.0, "retries": 0, "cost": None if hit.cost is None else 0.0},
                )
        out = await self._post(body, self._attempt_seconds(config), bool(payload.get("stream")))
        if key is not None and cache is not None:
            cache[key] = out.model_copy(deep=True)
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return out

    async def _probe_tool_role(self) -> str:
        """``"user"`` when the server publishes its chat template (llama.cpp's ``GET /props``) and the
        template has no tool role; ``"tool"`` otherwise. Asked once per model and event loop."""
        if self.base_url == DEFAULT_BASE_URL:
            return "tool"
        loop = asyncio.get_running_loop()
        probe = self._tool_role_probe
        if probe is None or probe[0] is not loop:
            probe = self._tool_role_probe = (loop, loop.create_task(self._fetch_tool_role()))
        return await asyncio.shield(probe[1])

    async def _fetch_tool_role(self) -> str:
        root = self.base_url.removesuffix("/v1")
        try:
            async with self._get_session().get(f"{root}/props", timeout=self._client_timeout(5.0)) as resp:
                data = _loads(await resp.read()) if resp.status == 200 else None
        except (aiohttp.ClientError, OSError, ValueError):
            return "tool"
        template = data.get("chat_template") if isinstance(data, dict) else None
        if isinstance(template, str) and template and "tool" not in template:
            return "user"
        return "tool"

    async def _post(self, body: bytes, seconds: float, stream: bool) -> ModelOutput:
        session = self._get_session()
        budget = (
            self.call_timeout if self.call_timeout is not None else max(DEFAULT_CALL_TIMEOUT, 2 * seconds)
        )
        limiter = self.limiter
        start = 0.0
        attempts = 0
        while True:
            token = await limiter.acquire()
            began = time.perf_counter()
            if attempts == 0:
                start = began
            attempts += 1
            outcome: Literal["ok", "throttled", "error"] = "error"
            work: float | None = None
            left = start + budget - began
            try:
                if left <= 0:
                    raise _Retry(f"no time left of the call's {budget:g}s")
                data, ttft = await self._attempt(session, body, min(seconds, left), stream)
                now = time.perf_counter()
                out = self._parse(data, now - start, attempts - 1)
                out.ttft = ttft
                outcome = "ok"
                # seconds per unit of work: a long reply is not mistaken for a queue
                work = (now - began) / (1.0 + out.usage.output_tokens / 32.0)
                return out
            except _Retry as r:
                if r.congestion:
                    outcome = "throttled"
                delay = self._delay(attempts, r.retry_after)
                if attempts > self.max_retries or time.perf_counter() + delay >= start + budget:
                    raise ModelError(
                        f"{self.name} call failed after {attempts} attempt{'s' if attempts > 1 else ''}"
                        f" ({time.perf_counter() - start:.0f}s of at most {budget:g}s); last error: "
                        f"{r.reason}; POST {self.url}",
                        status=r.status,
                        retries=attempts - 1,
                    ) from None
            except ModelError as e:
                e.retries = attempts - 1
                raise
            finally:
                limiter.release(token, outcome, work)
            await asyncio.sleep(delay)

    async def _attempt(
        self, session: aiohttp.ClientSession, body: bytes, seconds: float, stream: bool
    ) -> tuple[dict[str, Any], float | None]:
        """One HTTP attempt: the reply as a non-streamed body and the time to its first token.

        Raises ``_Retry`` for what is worth retrying, :class:`ModelError` for what is not. Leaving
        the ``async with`` early (timeout, cancellation) closes the connection, which is how vLLM,
        SGLang and llama.cpp learn that nobody waits for the reply and stop generating it."""
        began = time.perf_counter()
        try:
            async with session.post(
                self.url, data=body, timeout=self._client_timeout(seconds), headers=_SSE if stream else None
            ) as resp:
                status = resp.status
                if 200 <= status < 300 and resp.content_type == "text/event-stream":
                    return await _read_stream(resp, began)
                raw = await resp.read()
                retry_after = resp.headers.get("Retry-After") if status >= 300 else None
        except (aiohttp.ClientError, OSError) as e:  # OSError includes TimeoutError
            raise _Retry(_describe_exception(e, seconds), congestion=isinstance(e, TimeoutError)) from None
        except _StreamError as e:
            raise self._rejection(500, e.error, None) from None
        if not 200 <= status < 300:
            raise self._rejection(status, server_error(raw), retry_after)
        try:
            data = _loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _Retry(f"malformed response body: {_one_line(raw[:120].decode('utf-8', 'replace'))!r}")
        return data, None

    def _rejection(self, status: int, error: ServerError, retry_after: str | None) -> Exception:
        """The exception for a failed status: ``_Retry`` when worth retrying, else ModelError (a
        ContextOverflowError when the conversation outgrew the context, whatever the status)."""
        reason = f"HTTP {status}: {error.message}"
        if error.context_overflow:
            return ContextOverflowError(
                f"{self.name}: the conversation no longer fits the model's context: {reason}", status=status
            )
        if status in RETRY_STATUSES and not (status >= 500 and error.client_fault):
            return _Retry(reason, parse_retry_after(retry_after), status in CONGESTION_STATUSES, status)
        hint = ""
        if status in (401, 403):
            hint = " (check api_key / OPENAI_API_KEY)"
        elif status == 404:
            hint = f" (check the model name {self.model_name!r} and the base URL)"
        return ModelError(
            f"{self.name} request rejected, not retried: {reason}{hint}; POST {self.url}",
            status=status,
            fatal=status in FATAL_STATUSES,
        )

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            ra = min(retry_after, self.retry_after_max)
            return ra + random.uniform(0.0, 0.1 * ra)
        return random.uniform(0.0, min(self.backoff_max, self.backoff_base * (2.0 ** (attempts - 1))))

    # -- response -----------------------------------------------------------------------------------

    def _parse(self, data: dict[str, Any], latency: float, retries: int) -> ModelOutput:
        try:
            choice = data["choices"][0]
            msg = choice["message"]
            content = msg.get("content")
            raw_calls = msg.get("tool_calls")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise _Retry(f"malformed response body: {_one_line(_dumps(data)[:120])!r}") from None
        if content is None:
            content = ""
        elif not isinstance(content, str):
            content = _content_text(content)
        tool_calls: list[ToolCall] = []
        if isinstance(raw_calls, list):
            for tc in raw_calls:
                if not isinstance(tc, dict):
                    continue
                fn = tc.get("function")
                if not isinstance(fn, dict):
                    fn = {}
                arguments, raw_args, error = parse_arguments(fn.get("arguments"))
                call_id = tc.get("id")
                if not call_id:
                    call_id = f"call_{self._next_call_id}"
                    self._next_call_id += 1
                tool_calls.append(
                    ToolCall(
                        id=str(call_id),
                        name=str(fn.get("name") or ""),
                        arguments=arguments,
                        raw_arguments=raw_args,
                        parse_error=error,
                    )
                )
        message = Message(role="assistant", content=content, tool_calls=tool_calls)
        usage_raw = data.get("usage")
        if isinstance(usage_raw, dict):
            usage = Usage(
                input_tokens=_count(usage_raw.get("prompt_tokens")),
                output_tokens=_count(usage_raw.get("completion_tokens")),
            )
        else:
            usage = Usage(input_tokens=0, output_tokens=0)
        cost: float | None = None
        if self.price_input is not None or self.price_output is not None:
            cost = (
                usage.input_tokens * (self.price_input or 0.0)
                + usage.output_tokens * (self.price_output or 0.0)
            ) / 1e6
        logprobs: list[float] | None = None
        token_ids: list[int] | None = None
        lp = choice.get("logprobs")
        if isinstance(lp, dict):
            entries = lp.get("content")
            if entries:
                try:
                    logprobs = [float(e["logprob"]) for e in entries]
                    tokens = [e.get("token") for e in entries]
                    if tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
                        token_ids = [int(t[9:]) for t in tokens]
                except (KeyError, TypeError, ValueError, AttributeError):
                    logprobs = None
        ids = choice.get("token_ids")
        if isinstance(ids, list):
            with contextlib.suppress(TypeError, ValueError):
                token_ids = [int(i) for i in ids]
        prompt_ids: list[int] | None = None
        pids = data.get("prompt_token_ids", choice.get("prompt_token_ids"))
        if isinstance(pids, list):
            with contextlib.suppress(TypeError, ValueError):
                prompt_ids = [int(i) for i in pids]
        finish = choice.get("finish_reason")
        model = data.get("model")
        return ModelOutput(
            message=message,
            usage=usage,
            latency=latency,
            cost=cost,
            retries=retries,
            finish_reason=finish[:64] if isinstance(finish, str) else None,
            token_ids=token_ids,
            logprobs=logprobs,
            prompt_token_ids=prompt_ids,
            model=model if isinstance(model, str) and model else self.model_name,
        )


_SSE = {"Accept": "text/event-stream"}


class _StreamError(Exception):
    """A streamed reply carried an error event instead of (more) tokens."""

    def __init__(self, error: ServerError) -> None:
        super().__init__(error.message)
        self.error = error


async def _read_stream(resp: aiohttp.ClientResponse, began: float) -> tuple[dict[str, Any], float | None]:
    """Read a streamed chat completion (server-sent events) into the shape of a non-streamed one.

    Returns it with the seconds from ``began`` to the first event that carried generated text or a
    tool call (time to first token)."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    entries: list[Any] = []
    finish: Any = None
    ttft: float | None = None
    reply: dict[str, Any] = {}
    async for line in resp.content:
        if not line.startswith(b"data:"):
            continue
        event = line[5:].strip()
        if event == b"[DONE]":
            break
        try:
            chunk = _loads(event)
        except ValueError:
            raise _Retry(
                f"malformed stream event: {_one_line(event[:120].decode('utf-8', 'replace'))!r}"
            ) from None
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            raise _StreamError(_error_from(chunk))
        for k in ("usage", "model", "prompt_token_ids"):
            if chunk.get(k) is not None:
                reply[k] = chunk[k]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            got = _merge_delta(delta, text, calls)
            if got and ttft is None:
                ttft = time.perf_counter() - began
        lp = choice.get("logprobs")
        if isinstance(lp, dict) and isinstance(lp.get("content"), list):
            entries.extend(lp["content"])
        if choice.get("finish_reason") is not None:
            finish = choice["finish_reason"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    reply["choices"] = [
        {"message": message, "finish_reason": finish, "logprobs": {"content": entries} if entries else None}
    ]
    return reply, ttft


def _merge_delta(delta: dict[str, Any], text: list[str], calls: dict[int, dict[str, Any]]) -> bool:
    """Add one streamed delta to the reply so far; True when it carried generated output."""
    got = False
    content = delta.get("content")
    if isinstance(content, str) and content:
        text.append(content)
        got = True
    parts = delta.get("tool_calls")
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        index = part.get("index")
        call = calls.setdefault(index if isinstance(index, int) else len(calls), {"function": {}})
        if part.get("id"):
            call["id"] = part["id"]
        fn = part.get("function")
        if isinstance(fn, dict):
            if fn.get("name"):
                call["function"]["name"] = fn["name"]
            args = fn.get("arguments")
            if isinstance(args, str):
                call["function"]["arguments"] = call["function"].get("arguments", "") + args
            elif args is not None:
                call["function"]["arguments"] = args
        got = True
    return got


def tool_results_as_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages with every ``tool`` message turned into user text naming the tool, for servers
    whose chat template drops the tool role (the model would never see the environment's answers).
    Consecutive user messages are joined, as templates that want alternating roles require."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        for c in m.get("tool_calls") or ():
            names[c["id"]] = c["function"]["name"]
        if m["role"] == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id") or "", "tool")
            m = {"role": "user", "content": f"[{name} result]\n{m.get('content') or ''}"}
        if out and m["role"] == "user" and out[-1]["role"] == "user" and isinstance(out[-1]["content"], str):
            out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n\n{m.get('content') or ''}"}
            continue
        out.append(m)
    return out


def _content_text(content: Any) -> str:
    """Text of a content given as parts (``[{"type": "text", "text": ...}]``)."""
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
            elif isinstance(p, str):
                parts.append(p)
        return "".join(parts)
    return str(content)


def _abandon(session: aiohttp.ClientSession) -> None:
    """Drop a session that belongs to another (usually finished) event loop without awaiting it."""
    connector = session.connector
    session.detach()
    if connector is None or connector.closed:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            waiter = connector.close()
            del waiter
        except Exception:  # a loop that is gone cannot close its transports; they die with it
            pass


def _split_spec(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@URL`` → (name, url or None). A name may itself contain ``@``; the text
    after the last ``@`` must then be an http(s) URL (else the spec is refused, see :func:`_factory`)."""
    name, sep, url = spec.rpartition("@")
    if sep and url.startswith(("http://", "https://")):
        return name, url
    return spec, None


def _factory(spec: str, **kwargs: Any) -> OpenAIModel:
    name, url = _split_spec(spec)
    if url is not None:
        if kwargs.get("base_url") not in (None, url):
            raise UsageError(f"model spec {spec!r} names a URL and base_url={kwargs['base_url']!r} differs")
        kwargs["base_url"] = url
    elif "@" in spec and not kwargs.get("base_url"):
        # Without this, openai:NAME@typo would quietly send the requests to the hosted OpenAI API.
        tail = spec.rpartition("@")[2]
        raise UsageError(
            f"model spec 'openai:{spec}': {tail!r} is not an http(s) URL; write "
            "openai:NAME@http://HOST:PORT/v1 (a model name that contains '@' needs --base-url)"
        )
    return OpenAIModel(name, **kwargs)
