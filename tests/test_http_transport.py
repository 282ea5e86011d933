"""The ``openai`` provider's hot path: the request body it encodes (byte for byte what the plain
encoding gives, with earlier messages' JSON reused) and the lean HTTP/1.1 client it POSTs with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig
from palaestra.models.openai import OpenAIModel
from palaestra.models.openai.transport import BadResponse, HTTPPool, Reply, ServerDisconnected, plain_http
from palaestra.models.openai.wire import RequestEncoder, _dumps, completion_request
from palaestra.testing import FakeOpenAIServer
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


# ---- the HTTP client -------------------------------------------------------------------------


Script = Callable[[bytes, int], list[bytes] | None]
"""(request bytes, index of the request on its connection) -> what to write back (then keep the
connection open, unless the last part is ``b""``), or None to close it without a word."""


@asynccontextmanager
async def raw_server(script: Script, *, close_after: bool = False) -> AsyncIterator[tuple[str, list[int]]]:
    """A bare TCP server on 127.0.0.1 that answers each request with the bytes ``script`` gives;
    yields its URL and the number of requests per connection."""
    per_conn: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_conn.append(0)
        me = len(per_conn) - 1
        try:
            for _ in range(50):  # bounded
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                answer = script(head + body, per_conn[me])
                per_conn[me] += 1
                if answer is None:
                    break
                for part in answer:
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0)
                if close_after or answer[-1:] == [b""]:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions", per_conn
    finally:
        server.close()
        await server.wait_closed()


async def post(pool: HTTPPool, body: bytes) -> Reply:
    async with asyncio.timeout(10):  # a bug here fails the test instead of hanging it
        return await pool.post(body)


def ok(body: bytes = b'{"ok":1}', extra: bytes = b"") -> list[bytes]:
    return [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra,
        b"Content-Length: %d\r\n\r\n" % len(body),
        body,
    ]


async def test_keep_alive_connections_are_reused_and_the_head_is_sent_once_per_request() -> None:
    seen: list[bytes] = []

    def script(req: bytes, i: int) -> list[bytes]:
        seen.append(req)
        return ok(b'{"n":%d}' % i)

    async with raw_server(script) as (url, per_conn):
        pool = HTTPPool(url, {"Content-Type": "application/json", "Authorization": "Bearer k"}, 4)
        replies = [await post(pool, b'{"q":%d}' % i) for i in range(3)]
        pool.close()
    assert [r.body for r in replies] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert replies[0].status == 200 and replies[0].content_type == "application/json"
    assert pool.opened == 1 and per_conn == [3]
    head, _, body = seen[2].partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /v1/chat/completions HTTP/1.1",
        f"Host: {url.split('/')[2]}".encode(),
        b"Content-Type: application/json",
        b"Authorization: Bearer k",
        b"Content-Length: 7",
    ]
    assert body == b'{"q":2}'


async def test_chunked_interim_and_read_until_close_replies() -> None:
    replies = {
        0: [b"HTTP/1.1 100 Continue\r\n\r\n", *ok(b"first")],
        1: [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5;ext=1\r\nhello\r\n",
            b"7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        ],
        2: [b"HTTP/1.0 503 Busy\r\nRetry-After: 2\r\n\r\nbusy", b" now", b""],
    }
    async with raw_server(lambda req, i: replies[i]) as (url, per_conn):
        pool = HTTPPool(url, {}, 4)
        first = await post(pool, b"{}")
        second = await post(pool, b"{}")
        third = await post(pool, b"{}")  # no length: the body ends when the server closes
        pool.close()
    assert first.body == b"first" and second.body == b"hello, world"
    assert (third.status, third.headers["retry-after"], third.body) == (503, "2", b"busy now")
    assert per_conn == [3] and pool.opened == 1


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    async with raw_server(lambda req, i: ok(b"x", b"Connection: close\r\n")) as (url, per_conn):
        pool = HTTPPool(url, {}, 4)
        for _ in range(3):
            assert (await post(pool, b"{}")).body == b"x"
        pool.close()
    assert pool.opened == 3 and per_conn == [1, 1, 1]

    async with raw_server(lambda req, i: ok(b"y"), close_after=True) as (url, per_conn):
        pool = HTTPPool(url, {}, 4)  # the server drops idle connections without a header saying so
        for _ in range(3):
            assert (await post(pool, b"{}")).body == b"y"
            await asyncio.sleep(0.05)  # the close reaches the client while the connection idles
        pool.close()
    assert pool.opened == 3

    replies = [ok(b"kept", b"Connection: keep-alive\r\n"), ok(b"closes")]
    http10 = [[part.replace(b"HTTP/1.1", b"HTTP/1.0") for part in r] for r in replies]
    async with raw_server(lambda req, i: http10[i] if i < 2 else None) as (url, per_conn):
        pool = HTTPPool(url, {}, 4)  # HTTP/1.0 keeps a connection only when it says keep-alive
        assert [(await post(pool, b"{}")).body for _ in range(3)] == [b"kept", b"closes", b"kept"]
        pool.close()
    assert per_conn == [2, 1]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (None, ServerDisconnected),  # closed without a reply
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], ServerDisconnected),
        ([b"SSH-2.0-OpenSSH\r\n\r\n"], BadResponse),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n"], BadResponse),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], BadResponse),
    ],
)
async def test_an_incomplete_or_foreign_reply_is_a_connection_error(
    answer: list[bytes] | None, error: type
) -> None:
    def script(req: bytes, i: int) -> list[bytes] | None:
        return answer

    async with raw_server(script, close_after=True) as (url, _):
        pool = HTTPPool(url, {}, 4)
        with pytest.raises(error):
            await post(pool, b"{}")
        pool.close()
        assert not pool._idle


async def test_a_cancelled_request_closes_its_connection() -> None:
    async with raw_server(lambda req, i: [b"HTTP/1.1 200 OK\r\n"]) as (url, _):  # never ends
        pool = HTTPPool(url, {}, 4)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.post(b"{}")
        assert not pool._idle and not pool._busy
        pool.close()


def test_only_plain_http_urls_and_clean_headers() -> None:
    assert plain_http("http://127.0.0.1:8000/v1/chat/completions")
    assert not plain_http("https://api.openai.com/v1/chat/completions")
    assert not plain_http("http://user:pw@host/v1/chat/completions")
    assert not plain_http("http://host:port/v1/chat/completions")  # left to aiohttp to report
    with pytest.raises(UsageError):
        HTTPPool("https://x/v1", {}, 1)
    with pytest.raises(UsageError, match="line break"):
        HTTPPool("http://x/v1", {"X-Evil": "a\r\nHost: y"}, 1)


async def test_the_provider_keeps_its_connections_across_calls() -> None:
    async with FakeOpenAIServer() as srv:
        model = OpenAIModel("fake", base_url=srv.base_url)
        for _ in range(5):
            out = await model.generate(USER, None, CFG)
            assert out.message.content == "hello there, model"
        assert model._pool is not None and model._pool.opened == 1
        await model.close()
    assert srv.requests == 5


async def test_a_server_that_streams_an_unstreamed_call_is_still_read() -> None:
    events = [
        {"choices": [{"delta": {"role": "assistant", "content": "hel"}}]},
        {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    body = (
        b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events) + b"data: [DONE]\r\n\r\n"
    )

    def script(req: bytes, i: int) -> list[bytes]:
        assert b'"stream"' not in req
        return [
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n",
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        ]

    async with raw_server(script) as (url, _):
        model = OpenAIModel("m", base_url=url.removesuffix("/chat/completions"))
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.message.content == "hello" and out.finish_reason == "stop"
    assert (out.usage.input_tokens, out.usage.output_tokens) == (3, 2)
