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
import time
import warnings
from collections import OrderedDict, deque
from typing import Any, Literal

import aiohttp

from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, ModelOutput, register_provider
from palaestra.types import Message, ToolCall, ToolSpec, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

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
    """An asyncio semaphore whose limit follows AIMD.

    The limit grows by one after every ``current_limit`` clean completions (up to ``max_limit``) and halves
    (down to 1) on a 429. A burst of 429s from calls that all started before the last decrease halves it
    once, not once per call, so one overload episode does not collapse the limit to 1. Waiters are served
    first in, first out. Not thread-safe: use it from one event loop at a time.
    """

    def __init__(self, initial: int, maximum: int) -> None:
        if maximum < 1:
            raise UsageError(f"max_concurrency must be at least 1, got {maximum}")
        self.max_limit = maximum
        self.current_limit = max(1, min(initial, maximum))
        self.in_flight = 0
        self.peak_in_flight = 0
        self.decreases = 0
        self.increases = 0
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

    def release(self, token: int, outcome: Literal["ok", "throttled", "error"]) -> None:
        """Give a slot back. ``ok`` counts towards growth, ``throttled`` (a 429) shrinks the limit."""
        self.in_flight -= 1
        if outcome == "ok":
            self._clean += 1
            if self._clean >= self.current_limit:
                self._clean = 0
                if self.current_limit < self.max_limit:
                    self.current_limit += 1
                    self.increases += 1
        elif outcome == "throttled" and token == self._epoch:
            self.current_limit = max(1, self.current_limit // 2)
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
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


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


def _server_message(raw: bytes) -> str:
    """The error message a server put in its body, or the start of the body."""
    try:
        data = _loads(raw)
    except ValueError:
        return _one_line(raw.decode("utf-8", "replace"), 200)
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg")
            if msg:
                return _one_line(str(msg), 200)
        elif isinstance(err, str):
            return _one_line(err, 200)
        if "detail" in data:
            return _one_line(str(data["detail"]), 200)
    return _one_line(raw.decode("utf-8", "replace"), 200)


def _describe_exception(e: BaseException, timeout: float) -> str:
    if isinstance(e, TimeoutError):
        return f"timed out after {timeout:g}s"
    text = str(e) or type(e).__name__
    return _one_line(f"{type(e).__name__}: {text}", 200)


class OpenAIModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name sent in requests (``gpt-4o-mini``, ``Qwen/Qwen2.5-7B-Instruct``).
        base_url: server root ending in ``/v1``; default ``$OPENAI_BASE_URL`` or the OpenAI API.
        api_key: bearer token; default ``$OPENAI_API_KEY``; may be absent for local servers.
        max_concurrency: connection-pool size and the ceiling of the adaptive limiter.
        initial_concurrency: where the adaptive limiter starts (default ``max_concurrency``).
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts at most).
        timeout: default seconds per attempt when a call's config keeps the default of 120 s.
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
        self.limiter = AdaptiveLimiter(initial_concurrency or max_concurrency, max_concurrency)
        self.max_retries = max_retries
        self.timeout = timeout
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
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [m.openai() for m in messages],
        }
        if tools:
            payload["tools"] = [t.openai() for t in tools]
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
        if config.extra:
            payload.update(config.extra)
        return payload

    def _client_timeout(self, config: GenerateConfig) -> tuple[float, aiohttp.ClientTimeout]:
        seconds = config.timeout
        if self.timeout is not None and "timeout" not in config.model_fields_set:
            seconds = self.timeout
        t = self._timeouts.get(seconds)
        if t is None:
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return seconds, t

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        self.calls += 1
        body = _dumps(self.build_request(messages, tools, config)).encode()
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
        out = await self._post(body, config)
        if key is not None and cache is not None:
            cache[key] = out.model_copy(deep=True)
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return out

    async def _post(self, body: bytes, config: GenerateConfig) -> ModelOutput:
        session = self._get_session()
        seconds, timeout = self._client_timeout(config)
        limiter = self.limiter
        url = self.url
        start = 0.0
        attempts = 0
        while True:
            token = await limiter.acquire()
            if attempts == 0:
                start = time.perf_counter()
            attempts += 1
            outcome: Literal["ok", "throttled", "error"] = "error"
            try:
                try:
                    async with session.post(url, data=body, timeout=timeout) as resp:
                        status = resp.status
                        raw = await resp.read()
                        retry_after_header = resp.headers.get("Retry-After") if status >= 300 else None
                except (aiohttp.ClientError, OSError) as e:  # OSError includes TimeoutError
                    raise _Retry(_describe_exception(e, seconds)) from None
                if not 200 <= status < 300:
                    reason = f"HTTP {status}: {_server_message(raw)}"
                    if status in RETRY_STATUSES:
                        raise _Retry(reason, parse_retry_after(retry_after_header), throttled=status == 429)
                    hint = ""
                    if status in (401, 403):
                        hint = " (check api_key / OPENAI_API_KEY)"
                    elif status == 404:
                        hint = f" (check the model name {self.model_name!r} and the base URL)"
                    raise ModelError(
                        f"{self.name} request rejected, not retried: {reason}{hint}; POST {url}",
                        status=status,
                        fatal=status in (401, 403, 404),
                    )
                out = self._parse(raw, time.perf_counter() - start, attempts - 1)
                outcome = "ok"
                return out
            except _Retry as r:
                if r.throttled:
                    outcome = "throttled"
                if attempts > self.max_retries:
                    raise ModelError(
                        f"{self.name} call failed after {attempts} attempt{'s' if attempts > 1 else ''}; "
                        f"last error: {r.reason}; POST {url}"
                    ) from None
                delay = self._delay(attempts, r.retry_after)
            finally:
                limiter.release(token, outcome)
            await asyncio.sleep(delay)

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            ra = min(retry_after, self.retry_after_max)
            return ra + random.uniform(0.0, 0.1 * ra)
        return random.uniform(0.0, min(self.backoff_max, self.backoff_base * (2.0 ** (attempts - 1))))

    # -- response -----------------------------------------------------------------------------------

    def _parse(self, raw: bytes, latency: float, retries: int) -> ModelOutput:
        try:
            data = _loads(raw)
            choice = data["choices"][0]
            msg = choice["message"]
            content = msg.get("content")
            raw_calls = msg.get("tool_calls")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _Retry(
                f"malformed response body: {_one_line(raw[:120].decode('utf-8', 'replace'))!r}"
            ) from None
        if content is None:
            content = ""
        elif not isinstance(content, str):
            content = _content_text(content)
        tool_calls: list[ToolCall] = []
        if raw_calls:
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
                input_tokens=int(usage_raw.get("prompt_tokens") or 0),
                output_tokens=int(usage_raw.get("completion_tokens") or 0),
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
                except (KeyError, TypeError, ValueError):
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
        return ModelOutput(
            message=message,
            usage=usage,
            latency=latency,
            cost=cost,
            retries=retries,
            finish_reason=choice.get("finish_reason"),
            token_ids=token_ids,
            logprobs=logprobs,
            prompt_token_ids=prompt_ids,
            model=str(data.get("model") or self.model_name),
        )


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
    """``NAME`` or ``NAME@URL`` → (name, url or None). A name may itself contain ``@``."""
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
    return OpenAIModel(name, **kwargs)


register_provider("openai", _factory)
