"""The ``openai`` provider: any OpenAI-compatible chat-completions server over pooled HTTP.

``get_model("openai:gpt-4o-mini")`` talks to the hosted API; ``get_model("openai:NAME@http://127.0.0.1:8000/v1")``
to a local vLLM, SGLang, llama.cpp or Ollama server. One aiohttp session per event loop with keep-alive
connections, retries with exponential backoff and full jitter (429, 408, 5xx, connection errors, timeouts,
malformed bodies), ``Retry-After`` honoured, an AIMD limiter that shrinks on 429 and grows while calls are
clean, and an optional response cache.

This module is on the hot path of every rollout: a call encodes only the messages it has not sent before
(:class:`~palaestra.models.openai.wire.RequestEncoder`), POSTs those bytes through one aiohttp session
per model (keep-alive connections sized to the concurrency, no cookie jar, no compression), reads the
reply once and costs one ``json.loads`` and a few pydantic-core validations of the result (cheaper
than ``model_construct``, which runs in Python).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
import warnings
from collections import OrderedDict
from typing import Any, Literal

import aiohttp

from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, ModelOutput
from palaestra.models.openai.errors import (
    CONGESTION_STATUSES,
    FATAL_STATUSES,
    RETRY_STATUSES,
    ServerError,
    _describe_exception,
    _one_line,
    _Retry,
    _StreamError,
    parse_retry_after,
    rejection,
)
from palaestra.models.openai.limiter import AdaptiveLimiter
from palaestra.models.openai.wire import (
    _SSE,
    RequestEncoder,
    _loads,
    _read_stream,
    completion_request,
    parse_arguments,
    parse_completion,
    server_error,
    tool_results_as_user,
)
from palaestra.types import Message, ToolSpec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_CALL_TIMEOUT = 600.0
"""Default bound on one call's total time, retries included (or two attempts, if longer)."""


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
        # room for the conversations in flight (about 32 messages each), not for the whole run's
        self._encoder = RequestEncoder(size=max(1024, 32 * max_concurrency))

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
        # No cookie jar, no User-Agent and no Accept-Encoding (so servers send JSON uncompressed and
        # nothing is inflated): an API client needs none of them, and each costs CPU on every call
        # (this is the hot path of every run). A server that compresses anyway is still decoded.
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
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
        return completion_request(
            self.model_name, messages, tools, config, tool_role=self._tool_role_found or self.tool_role
        )

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
        body, stream = self._encoder.encode(
            self.model_name, messages, tools, config, tool_role=self._tool_role_found or self.tool_role
        )
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
        out = await self._post(body, self._attempt_seconds(config), stream)
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
        SGLang and llama.cpp learn that nobody waits for the reply and stop generating it. The body
        is the encoder's bytes as they are (the session's headers say it is JSON)."""
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
            raise self._rejected(500, e.error, None) from None
        if not 200 <= status < 300:
            raise self._rejected(status, server_error(raw), retry_after)
        try:
            data = _loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _Retry(f"malformed response body: {_one_line(raw[:120].decode('utf-8', 'replace'))!r}")
        return data, None

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            ra = min(retry_after, self.retry_after_max)
            return ra + random.uniform(0.0, 0.1 * ra)
        return random.uniform(0.0, min(self.backoff_max, self.backoff_base * (2.0 ** (attempts - 1))))

    # -- response -----------------------------------------------------------------------------------

    def _rejected(self, status: int, error: ServerError, retry_after: str | None) -> Exception:
        return rejection(status, error, retry_after, name=self.name, url=self.url, model_name=self.model_name)

    # -- response -----------------------------------------------------------------------------------

    def _parse(self, data: dict[str, Any], latency: float, retries: int) -> ModelOutput:
        return parse_completion(
            data,
            latency,
            retries,
            model_name=self.model_name,
            price_input=self.price_input,
            price_output=self.price_output,
            new_call_id=self._new_call_id,
        )

    def _new_call_id(self) -> str:
        call_id = f"call_{self._next_call_id}"
        self._next_call_id += 1
        return call_id


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


__all__ = [
    "CONGESTION_STATUSES",
    "DEFAULT_BASE_URL",
    "DEFAULT_CALL_TIMEOUT",
    "FATAL_STATUSES",
    "RETRY_STATUSES",
    "AdaptiveLimiter",
    "OpenAIModel",
    "ServerError",
    "parse_arguments",
    "parse_retry_after",
    "server_error",
    "tool_results_as_user",
]
