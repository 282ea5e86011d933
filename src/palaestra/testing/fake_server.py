"""A fake OpenAI-compatible chat server for tests and benchmarks, with fault injection.

Three ways to use it::

    async with FakeOpenAIServer(latency=0.01) as srv:        # (a) in the test's event loop
        model = OpenAIModel("fake", base_url=srv.base_url)

    srv = FakeOpenAIServer().start_in_thread()                # (b) its own loop in a daemon thread
    ...; srv.stop()

    python -m palaestra.testing --port 0 --latency 0.05       # (c) a separate process

It binds to 127.0.0.1 only and always stops by itself (``max_seconds``, ``max_requests``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
import socket
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiohttp import web

FAULTS: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "timeout",
    "malformed",
    "drop",
    "bad_tool_json",
    "500_validation",
)
"""Fault kinds a plan may choose for a request (``None`` means answer normally). ``500_validation``
is a request validation error sent as HTTP 500 (as llama-cpp-python's server does)."""

QUIRKS: tuple[str, ...] = ("tools_need_choice", "drop_tool_role", "logprobs_need_top", "no_stream")
"""Behaviours of real servers the fake can imitate:

* ``tools_need_choice``: tools are left out of the prompt (the responder does not see them) unless
  the request has ``tool_choice`` (llama-cpp-python);
* ``drop_tool_role``: the chat template drops ``tool`` messages (the responder does not see them);
  ``GET /props`` publishes such a template, as llama.cpp's server does;
* ``logprobs_need_top``: ``logprobs: true`` returns none without ``top_logprobs`` (llama.cpp);
* ``no_stream``: ``stream: true`` is ignored and a plain JSON body comes back.
"""

TEMPLATE_WITHOUT_TOOLS = (
    "{% for message in messages %}{% if message['role'] in ['system', 'user', 'assistant'] %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
)
TEMPLATE_WITH_TOOLS = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "{% if message['role'] == 'tool' %} (tool answer){% endif %}<|im_end|>\n{% endfor %}"
)

Responder: TypeAlias = Callable[[dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]
FaultFn: TypeAlias = Callable[[int, dict[str, Any]], "str | None"]
Faults: TypeAlias = "FaultPlan | Sequence[str | None] | FaultFn | None"

_dumps = json.JSONEncoder(separators=(",", ":")).encode  # ASCII-safe: lone surrogates cannot break it


def _check_fault(name: str | None) -> None:
    if name is not None and name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}")


@dataclass
class FaultPlan:
    """Which fault (if any) the n-th chat request gets.

    Requests ``0 .. len(sequence)-1`` get ``sequence[n]``; later ones draw from ``probabilities``
    (``{"429": 0.1, "500": 0.05}``) with a seeded generator, so a run is reproducible.
    """

    sequence: Sequence[str | None] = ()
    probabilities: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        for f in self.sequence:
            _check_fault(f)
        for f, p in self.probabilities.items():
            _check_fault(f)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault probability for {f!r} must be in [0, 1], got {p}")
        if sum(self.probabilities.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")
        self._rng = random.Random(self.seed)

    def __call__(self, index: int, request: dict[str, Any]) -> str | None:
        if index < len(self.sequence):
            return self.sequence[index]
        if not self.probabilities:
            return None
        r = self._rng.random()
        for name, p in self.probabilities.items():
            if r < p:
                return name
            r -= p
        return None

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultPlan:
        """``"429=0.1,500=0.05"`` → a plan with those probabilities."""
        probs: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} must look like NAME=PROBABILITY, e.g. 429=0.1")
            probs[name.strip()] = float(value)
        return cls(probabilities=probs, seed=seed)


def echo_responder(request: dict[str, Any]) -> dict[str, Any]:
    """The default reply: the content of the last user message."""
    for m in reversed(request.get("messages") or ()):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return {"content": content}
            if isinstance(content, list):
                return {"content": "".join(p.get("text", "") for p in content if isinstance(p, dict))}
    return {"content": "hello"}


def _tokens(text: str) -> list[str]:
    """A fake tokenisation: chunks of four characters."""
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def _token_id(token: str) -> int:
    return zlib.crc32(token.encode()) % 100_000


class FakeOpenAIServer:
    """An OpenAI-compatible server (``POST /v1/chat/completions``, ``GET /v1/models``) on 127.0.0.1.

    Args:
        responder: ``request_json -> dict`` (sync or async). The dict is an assistant message
            ``{"content": ..., "tool_calls": [{"name": ..., "arguments": dict | str}]}`` (optional
            ``finish_reason``) or, when it has ``choices``, a full response sent unchanged.
            Default: echo the last user message. A responder may raise ``aiohttp.web.HTTPException``
            (e.g. ``web.HTTPBadRequest``) to answer with that status.
        port: TCP port; 0 picks a free one (see :attr:`port`, :attr:`base_url`).
        latency: seconds before each answer, or ``request_json -> seconds``.
        faults: a :class:`FaultPlan`, a list (request n gets item n, then none), or
            ``(index, request_json) -> fault | None``.
        retry_after: value of the ``Retry-After`` header on injected 429s (None: no header).
        timeout_sleep: how long a ``"timeout"`` fault stalls before answering (bounded by max_seconds).
        model: the model id reported by ``/v1/models`` when requests do not name one.
        max_requests: after this many chat requests the server answers 503 and stops.
        max_seconds: the server stops by itself after this long.
        slots: requests served at once (None: all); the others wait in line, first come first
            served, as on a llama.cpp server with one slot. ``latency`` is then each one's service time.
        context_limit: prompt tokens (four characters each) a request may have; a longer one gets
            HTTP 400 ``context_length_exceeded``.
        quirks: behaviours of real servers to imitate (see :data:`QUIRKS`).

    Streaming (``"stream": true``) is answered with server-sent events, one per four characters.

    Counters: :attr:`requests` (chat requests), :attr:`fault_counts`, :attr:`in_flight` (queued
    included), :attr:`max_in_flight`, :attr:`max_active` (being served), :attr:`ok` (normal
    answers), :attr:`cancelled` (requests whose client closed the connection before the answer);
    :attr:`last_request` is the last request body as the client sent it.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        port: int = 0,
        latency: float | Callable[[dict[str, Any]], float] = 0.0,
        faults: Faults = None,
        retry_after: float | str | None = 0.05,
        timeout_sleep: float = 5.0,
        model: str = "fake-model",
        max_requests: int | None = 1_000_000,
        max_seconds: float = 600.0,
        slots: int | None = None,
        context_limit: int | None = None,
        quirks: Sequence[str] = (),
    ) -> None:
        for q in quirks:
            if q not in QUIRKS:
                raise ValueError(f"unknown quirk {q!r}; valid quirks: {', '.join(QUIRKS)}")
        if slots is not None and slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = slots
        self.context_limit = context_limit
        self.quirks = frozenset(quirks)
        self.active = 0
        self.max_active = 0
        self.cancelled = 0
        self._slot_lock: asyncio.Semaphore | None = None
        self.responder: Responder = responder or echo_responder
        self.requested_port = port
        self.latency = latency
        self.faults = _fault_fn(faults)
        self.retry_after = retry_after
        self.timeout_sleep = timeout_sleep
        self.model = model
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.requests = 0
        self.ok = 0
        self.model_list_requests = 0
        self.fault_counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.last_request: dict[str, Any] | None = None
        self.request_log: deque[dict[str, Any]] = deque(maxlen=1000)
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._stop_event: asyncio.Event | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started_at = 0.0

    # -- addresses ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, what an OpenAI client takes as base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._runner is not None and self._stop_event is not None and not self._stop_event.is_set()

    def reset_counters(self) -> None:
        self.requests = self.ok = self.model_list_requests = self.max_in_flight = 0
        self.max_active = self.cancelled = 0
        self.fault_counts.clear()
        self.request_log.clear()
        self.last_request = None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "faults": dict(self.fault_counts),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "max_active": self.max_active,
            "cancelled": self.cancelled,
        }

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> FakeOpenAIServer:
        """Start serving in the running event loop; returns once the port is bound."""
        if self._runner is not None:
            raise RuntimeError("FakeOpenAIServer is already started")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/props", self._props)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.requested_port))
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        self._slot_lock = asyncio.Semaphore(self.slots) if self.slots is not None else None
        self._stop_event = asyncio.Event()
        self._started_at = time.monotonic()
        self._watch_task = asyncio.create_task(self._watch())
        return self

    async def _watch(self) -> None:
        assert self._stop_event is not None and self._runner is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), self.max_seconds)
        self._stop_event.set()
        await self._runner.cleanup()

    async def wait_closed(self) -> None:
        """Wait until the server has stopped (``max_seconds``, ``max_requests`` or a stop request)."""
        if self._watch_task is not None:
            await asyncio.shield(self._watch_task)

    async def aclose(self) -> None:
        """Stop serving (from the server's own loop)."""
        if self._stop_event is not None:
            self._stop_event.set()
        await self.wait_closed()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start_in_thread(self, timeout: float = 10.0) -> FakeOpenAIServer:
        """Serve from a daemon thread with its own event loop; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAIServer is already running in a thread")
        ready = threading.Event()
        errors: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as e:
                errors.append(e)
                ready.set()
                return
            ready.set()
            await self.wait_closed()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"fake OpenAI server did not start within {timeout:g}s")
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread` and wait for its thread."""
        loop, event, thread = self._loop, self._stop_event, self._thread
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _request_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()

    # -- handlers -----------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        self.model_list_requests += 1
        body = {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "palaestra"}]}
        return web.json_response(body)

    async def _props(self, request: web.Request) -> web.Response:
        """llama.cpp's server properties: the chat template (only when imitating llama.cpp)."""
        if "drop_tool_role" not in self.quirks:
            raise web.HTTPNotFound()
        return web.json_response({"chat_template": TEMPLATE_WITHOUT_TOOLS, "total_slots": self.slots or 1})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        index = self.requests
        self.requests += 1
        if self.max_requests is not None and index >= self.max_requests:
            self._request_stop()
            return _error(503, f"fake server stopped after max_requests={self.max_requests}")
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            raw = await request.read()
            try:
                req = json.loads(raw)
            except ValueError:
                return _error(400, "request body is not valid JSON")
            if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
                return _error(400, "request needs a 'messages' list")
            self.last_request = req
            self.request_log.append(req)
            fault = self.faults(index, req) if self.faults is not None else None
            if fault is not None:
                _check_fault(fault)
                self.fault_counts[fault] += 1
            if self.context_limit is not None and _prompt_tokens(req) > self.context_limit:
                return _error(
                    400,
                    f"This model's maximum context length is {self.context_limit} tokens. However, your "
                    f"messages resulted in {_prompt_tokens(req)} tokens. Please reduce the length.",
                    code="context_length_exceeded",
                    type_="invalid_request_error",
                )
            async with self._slot():
                return await self._answer(index, request, req, fault)
        except asyncio.CancelledError:  # the client closed the connection before the answer
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    @contextlib.asynccontextmanager
    async def _slot(self) -> Any:
        lock = self._slot_lock
        if lock is not None:
            await lock.acquire()
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            yield
        finally:
            self.active -= 1
            if lock is not None:
                lock.release()

    async def _answer(
        self, index: int, request: web.Request, req: dict[str, Any], fault: str | None
    ) -> web.StreamResponse:
        delay = self.latency(req) if callable(self.latency) else self.latency
        if delay > 0:
            await asyncio.sleep(delay)
        if fault == "429":
            headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
            return _error(429, "rate limit reached (injected fault)", headers)
        if fault in ("500", "503"):
            return _error(int(fault), f"server error {fault} (injected fault)")
        if fault == "500_validation":
            return _error(
                500,
                "1 validation error for CreateChatCompletionRequest\nmessages.1.role: Input should be "
                "'system', 'user' or 'assistant' (injected fault)",
                type_="internal_server_error",
            )
        if fault == "timeout":
            await asyncio.sleep(min(self.timeout_sleep, self.max_seconds))
        elif fault == "malformed":
            return web.Response(status=200, text="<html>not json {", content_type="application/json")
        elif fault == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        seen = self._as_seen(req)
        try:
            result = self.responder(seen)
            reply = await result if inspect.isawaitable(result) else result
        except web.HTTPException:  # a responder may answer any status: raise web.HTTPBadRequest(...)
            raise
        except Exception as e:
            return _error(500, f"responder failed: {type(e).__name__}: {e}")
        body = reply if "choices" in reply else self._completion(index, req, reply, fault == "bad_tool_json")
        self.ok += 1
        if req.get("stream") and "no_stream" not in self.quirks:
            return await _stream(request, body)
        return web.Response(body=_dumps(body).encode(), content_type="application/json")

    def _as_seen(self, req: dict[str, Any]) -> dict[str, Any]:
        """The request as the model behind a quirky server gets it (what its prompt holds)."""
        seen = req
        if "tools_need_choice" in self.quirks and "tool_choice" not in req:
            seen = {k: v for k, v in seen.items() if k != "tools"}
        if "drop_tool_role" in self.quirks:
            kept = [m for m in seen["messages"] if not (isinstance(m, dict) and m.get("role") == "tool")]
            seen = {**seen, "messages": kept}
        return seen

    def _completion(
        self, index: int, req: dict[str, Any], reply: dict[str, Any], bad_tool_json: bool
    ) -> dict[str, Any]:
        content = reply.get("content") or ""
        calls: list[dict[str, Any]] = []
        for i, tc in enumerate(reply.get("tool_calls") or ()):
            args = tc.get("arguments", {})
            calls.append(
                {
                    "id": tc.get("id") or f"call_{index}_{i}",
                    "type": "function",
                    "function": {
                        "name": tc.get("name", ""),
                        "arguments": args if isinstance(args, str) else _dumps(args),
                    },
                }
            )
        if bad_tool_json:
            if not calls:
                tools = req.get("tools") or []
                name = "tool"
                if tools and isinstance(tools[0], dict):
                    name = (tools[0].get("function") or {}).get("name") or name
                calls.append({"id": f"call_{index}_0", "type": "function", "function": {"name": name}})
            for c in calls:
                c["function"]["arguments"] = '{"value": 1,'
        message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
        if calls:
            message["tool_calls"] = calls
        text = content + "".join(c["function"]["name"] + c["function"]["arguments"] for c in calls)
        tokens = _tokens(text)
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": reply.get("finish_reason") or ("tool_calls" if calls else "stop"),
            "logprobs": None,
        }
        as_ids = bool(req.get("return_tokens_as_token_ids"))
        if req.get("logprobs") and ("logprobs_need_top" not in self.quirks or req.get("top_logprobs")):
            choice["logprobs"] = {
                "content": [
                    {
                        "token": f"token_id:{_token_id(t)}" if as_ids else t,
                        "logprob": -0.01 * (i % 7 + 1),
                        "bytes": list(t.encode()),
                        "top_logprobs": [],
                    }
                    for i, t in enumerate(tokens)
                ]
            }
        prompt_tokens = _prompt_tokens(req)
        out: dict[str, Any] = {
            "id": f"chatcmpl-{index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model") or self.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(tokens),
                "total_tokens": prompt_tokens + len(tokens),
            },
        }
        if req.get("return_token_ids"):
            choice["token_ids"] = [_token_id(t) for t in tokens]
            out["prompt_token_ids"] = list(range(prompt_tokens))
        return out


def _prompt_tokens(req: dict[str, Any]) -> int:
    """The fake prompt length: four characters a token, at least one."""
    chars = 0
    for m in req["messages"]:
        if isinstance(m, dict):
            mc = m.get("content")
            chars += len(mc) if isinstance(mc, str) else 0
    return max(1, chars // 4)


async def _stream(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """Send a completion as server-sent events the way OpenAI-compatible servers stream it."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    choice = body["choices"][0]
    message = choice["message"]
    head: dict[str, Any] = {k: body[k] for k in ("id", "object", "created", "model") if k in body}
    head["object"] = "chat.completion.chunk"

    async def send(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> None:
        event: dict[str, Any] = {
            **head,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}],
        }
        await resp.write(b"data: " + _dumps(event).encode() + b"\n\n")

    await send({"role": "assistant", "content": ""})
    entries = (choice.get("logprobs") or {}).get("content") or []
    pieces = _tokens(message.get("content") or "")
    for i, piece in enumerate(pieces):
        await send({"content": piece}, logprobs={"content": entries[i : i + 1]} if entries else None)
    for i, call in enumerate(message.get("tool_calls") or ()):
        fn = call["function"]
        await send(
            {
                "tool_calls": [
                    {"index": i, "id": call["id"], "type": "function", "function": {"name": fn["name"]}}
                ]
            }
        )
        for part in _tokens(fn.get("arguments") or ""):
            await send({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
    await send({}, finish=choice.get("finish_reason"))
    if "usage" in body:
        await resp.write(
            b"data: " + _dumps({**head, "choices": [], "usage": body["usage"]}).encode() + b"\n\n"
        )
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


def _error(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    code: str | int | None = None,
    type_: str = "fake_server_error",
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "code": status if code is None else code}}
    return web.Response(
        status=status, body=_dumps(body).encode(), content_type="application/json", headers=headers
    )


def _fault_fn(faults: Faults) -> FaultFn | None:
    if faults is None:
        return None
    if isinstance(faults, FaultPlan):
        return faults
    if callable(faults):
        return faults
    if isinstance(faults, str):
        raise ValueError("faults must be a list of fault names, a FaultPlan or a function, not a string")
    return FaultPlan(sequence=list(faults))
