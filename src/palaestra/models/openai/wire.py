"""What the ``openai`` provider sends and reads: the request body, the reply (streamed replies
assembled from their server-sent events), tool-call arguments, usage counts and error bodies.

Hot path: the messages a call has not sent before are encoded (:class:`RequestEncoder`), one
``json.loads``, and the result objects validated by pydantic-core.
"""

from __future__ import annotations

import contextlib
import json
import operator
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from palaestra.chat import chat_message, chat_messages
from palaestra.models.base import GenerateConfig, ModelOutput
from palaestra.models.openai.errors import ServerError, _one_line, _Retry, _StreamError
from palaestra.types import Message, ToolCall, ToolSpec, Usage

if TYPE_CHECKING:
    import aiohttp

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


def _count(value: Any) -> int:
    """A token count from a server's ``usage``; anything odd (text, negative, huge, null) is 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not 0 <= value <= _MAX_COUNT:  # also false for NaN
        return 0
    return int(value)


_MAX_COUNT = 2**53


def completion_request(
    model_name: str,
    messages: list[Message],
    tools: list[ToolSpec] | None,
    config: GenerateConfig,
    *,
    tool_role: str,
) -> dict[str, Any]:
    """The JSON body of a chat-completions request (tool results as ``tool_role`` messages)."""
    wire = chat_messages(messages, arguments="json")
    if tool_role == "user":
        wire = tool_results_as_user(wire)
    payload: dict[str, Any] = {"model": model_name, "messages": wire}
    if tools:
        payload["tools"] = [t.openai() for t in tools]
    return _request_options(payload, bool(tools), config)


def _request_options(payload: dict[str, Any], tools: bool, config: GenerateConfig) -> dict[str, Any]:
    """``payload`` with the sampling and call settings of ``config`` added, in the order a request
    has them (after the model, the messages and the tools)."""
    if tools and config.tool_choice is not None:
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


_HEAD_KEYS = frozenset({"model", "messages", "tools"})


class RequestEncoder:
    """Encodes request bodies byte for byte as ``_dumps(completion_request(...))`` does, reusing
    the encoded JSON of every message (and tool) it has encoded before.

    An agent re-sends its whole conversation on every call, so without this each call re-converts
    and re-encodes every earlier message: the cost of a call would grow with the episode. A
    fragment is reused only for the very object it was made from, and only while the fields that
    make it are the same objects (a message whose ``content`` or ``tool_calls`` was replaced is
    encoded afresh). The cache holds at most ``size`` fragments, then starts over. One event loop
    at a time, like the model that owns it.
    """

    def __init__(self, size: int = 1 << 16) -> None:
        self.size = size
        self._fragments: dict[int, tuple[Any, tuple[Any, ...], str]] = {}
        self.hits = 0

    def encode(
        self,
        model_name: str,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        config: GenerateConfig,
        *,
        tool_role: str,
    ) -> tuple[bytes, bool]:
        """The request body, and whether it asks for a streamed reply."""
        if tool_role == "user" or (config.extra and not _HEAD_KEYS.isdisjoint(config.extra)):
            payload = completion_request(model_name, messages, tools, config, tool_role=tool_role)
            return _dumps(payload).encode(), bool(payload.get("stream"))
        parts = [
            '{"model":',
            _dumps(model_name),
            ',"messages":[',
            ",".join(map(self._message, messages)),
            "]",
        ]
        if tools:
            parts += [',"tools":[', ",".join(map(self._tool, tools)), "]"]
        options = _request_options({}, bool(tools), config)
        parts.append("," + _dumps(options)[1:] if options else "}")
        return "".join(parts).encode(), bool(options.get("stream"))

    def _message(self, m: Message) -> str:
        key = (m.role, m.content, m.tool_calls, m.tool_call_id, m.name)
        return self._fragment(m, key, lambda: chat_message(m, arguments="json"))

    def _tool(self, t: ToolSpec) -> str:
        return self._fragment(t, (t.name, t.description, t.parameters), t.openai)

    def _fragment(self, obj: Any, key: tuple[Any, ...], shape: Callable[[], Any]) -> str:
        hit = self._fragments.get(id(obj))
        # the entry holds ``obj`` itself, so its id cannot have been reused by another object
        if hit is not None and hit[0] is obj and all(map(operator.is_, hit[1], key)):
            self.hits += 1
            return hit[2]
        text: str = _dumps(shape())
        if len(self._fragments) >= self.size:
            self._fragments.clear()
        self._fragments[id(obj)] = (obj, key, text)
        return text


def parse_completion(
    data: dict[str, Any],
    latency: float,
    retries: int,
    *,
    model_name: str,
    price_input: float | None,
    price_output: float | None,
    new_call_id: Callable[[], str],
) -> ModelOutput:
    """A chat-completions reply (non-streamed shape) as a ``ModelOutput``; ``_Retry`` when malformed."""
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
                call_id = new_call_id()
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
    if price_input is not None or price_output is not None:
        cost = (usage.input_tokens * (price_input or 0.0) + usage.output_tokens * (price_output or 0.0)) / 1e6
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
        model=model if isinstance(model, str) and model else model_name,
    )


_SSE = {"Accept": "text/event-stream"}


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
