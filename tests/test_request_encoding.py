"""The ``openai`` provider's request bodies: what it encodes (byte for byte what the plain
encoding gives, with earlier messages' JSON reused) and how those bytes reach the server (aiohttp,
sent as they are, with only the headers a JSON API needs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from palaestra.models.base import GenerateConfig
from palaestra.models.openai import OpenAIModel
from palaestra.models.openai.wire import RequestEncoder, _dumps, completion_request
from palaestra.types import Message, ToolCall, ToolSpec
from providertools import CFG, USER

GUESS_TOOL = ToolSpec(
    name="guess",
    description="Guess the number — é",
    parameters={"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]},
)


def conversation() -> list[Message]:
    return [
        Message(role="system", content="You play a game. Ünïcödé and a lone surrogate \ud800."),
        Message(role="user", content="Find the number between 1 and 100."),
        Message(
            role="assistant",
            content="",
            tool_calls=[
                ToolCall(id="c1", name="guess", arguments={"number": 50}, raw_arguments='{"number": 50}')
            ],
        ),
        Message(role="tool", content="higher", tool_call_id="c1", name="guess"),
        Message(
            role="assistant",
            content="thinking",
            tool_calls=[ToolCall(id="c2", name="guess", arguments={"n": "é"})],
        ),
        Message(role="tool", content="lower", tool_call_id="c2", name="guess"),
        Message(
            role="assistant",
            content="",
            tool_calls=[ToolCall(id="c3", name="guess", raw_arguments="{oops", parse_error="invalid JSON")],
        ),
    ]


CONFIGS = [
    GenerateConfig(),
    GenerateConfig(tool_choice=None, temperature=0.0, top_p=0.9, max_tokens=12, stop=["\n"], seed=3),
    GenerateConfig(logprobs=True, top_logprobs=4, stream=True),
    GenerateConfig(extra={"return_token_ids": True, "stream": True, "stream_options": {"x": 1}}),
    GenerateConfig(extra={"model": "other", "messages": []}),  # overrides what comes first
    GenerateConfig(extra={"tools": []}),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("tool_role", ["tool", "user"])
@pytest.mark.parametrize("tools", [None, [], [GUESS_TOOL]])
def test_request_body_is_byte_identical_to_the_plain_encoding(
    config: GenerateConfig, tool_role: str, tools: list[ToolSpec] | None
) -> None:
    messages = conversation()
    encoder = RequestEncoder()
    for n in range(1, len(messages) + 1):  # the calls of an episode: a growing conversation
        plain = completion_request("m", messages[:n], tools, config, tool_role=tool_role)
        body, stream = encoder.encode("m", messages[:n], tools, config, tool_role=tool_role)
        assert body == _dumps(plain).encode()
        assert stream == bool(plain.get("stream"))
        json.loads(body)


def test_encoder_reuses_a_message_only_while_it_is_unchanged() -> None:
    messages = conversation()
    encoder = RequestEncoder()
    encoder.encode("m", messages, [GUESS_TOOL], CFG, tool_role="tool")
    assert encoder.hits == 0
    encoder.encode("m", messages, [GUESS_TOOL], CFG, tool_role="tool")
    assert encoder.hits == len(messages) + 1  # every message and the tool
    messages[1].content = "Find the number between 1 and 1000."  # replaced in place
    body, _ = encoder.encode("m", messages, [GUESS_TOOL], CFG, tool_role="tool")
    assert b"between 1 and 1000." in body
    assert body == _dumps(completion_request("m", messages, [GUESS_TOOL], CFG, tool_role="tool")).encode()
    small = RequestEncoder(size=3)  # full: it starts over, and still encodes right
    for _ in range(3):
        body, _ = small.encode("m", messages, None, CFG, tool_role="tool")
        assert body == _dumps(completion_request("m", messages, None, CFG, tool_role="tool")).encode()


def test_the_encoding_cache_is_sized_by_the_concurrency() -> None:
    small = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", max_concurrency=4)
    large = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", max_concurrency=256)
    assert small._encoder.size == 1024  # never below room for a few dozen conversations
    assert large._encoder.size == 32 * 256  # about 32 messages for each conversation in flight


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """An aiohttp server on 127.0.0.1 whose chat endpoint is ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()


def reply(text: str) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


async def test_the_provider_posts_the_encoded_bytes_with_only_the_headers_it_needs() -> None:
    seen: list[tuple[bytes, dict[str, str]]] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append((await request.read(), dict(request.headers)))
        return web.json_response(reply(f"call {len(seen)}"))

    messages = conversation()[:2]
    async with serve(chat) as base_url:
        model = OpenAIModel("m", base_url=base_url, api_key="sk-test")
        first = await model.generate(messages, [GUESS_TOOL], CFG)
        messages.append(first.message)
        messages.append(Message(role="user", content="again"))
        second = await model.generate(messages, [GUESS_TOOL], CFG)
        await model.close()
    assert (first.message.content, second.message.content) == ("call 1", "call 2")
    plain = completion_request("m", messages, [GUESS_TOOL], CFG, tool_role="tool")
    body, headers = seen[1]
    assert body == _dumps(plain).encode()
    assert model._encoder.hits == 3  # the first call's two messages and its tool
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer sk-test"
    assert "Accept-Encoding" not in headers and "User-Agent" not in headers


async def test_a_server_that_streams_an_unstreamed_call_is_still_read() -> None:
    events = [
        {"choices": [{"delta": {"role": "assistant", "content": "hel"}}]},
        {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events) + b"data: [DONE]\r\n\r\n"
    asked: list[bytes] = []

    async def chat(request: web.Request) -> web.Response:
        asked.append(await request.read())
        return web.Response(body=sse, content_type="text/event-stream")

    async with serve(chat) as base_url:
        model = OpenAIModel("m", base_url=base_url)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert b'"stream"' not in asked[0]
    assert out.message.content == "hello" and out.finish_reason == "stop"
    assert (out.usage.input_tokens, out.usage.output_tokens) == (3, 2)
