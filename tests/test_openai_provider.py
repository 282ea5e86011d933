"""The ``openai`` provider against the fake server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import gc
import json
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from palaestra.chat import chat_message
from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, Model, get_model
from palaestra.models.openai import AdaptiveLimiter, OpenAIModel, parse_arguments, parse_retry_after
from palaestra.testing import FakeOpenAIServer
from palaestra.types import Message, ToolCall
from providertools import CFG, GUESS, USER, fast_model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- plain calls --------------------------------------------------------------------------------------


async def test_plain_reply_records_usage_latency_and_cost() -> None:
    async with FakeOpenAIServer() as srv:
        model = fast_model(srv, price_input=1.0, price_output=2.0)
        assert isinstance(model, Model)
        out = await model.generate(
            USER, None, GenerateConfig(temperature=0.5, max_tokens=9, seed=3, stop=["x"])
        )
        await model.close()
    assert out.message.role == "assistant"
    assert out.message.content == "hello there, model"
    assert out.message.tool_calls == []
    assert out.finish_reason == "stop"
    assert out.retries == 0
    assert out.latency > 0
    assert out.usage.input_tokens == len("hello there, model") // 4
    assert out.usage.output_tokens == 5  # 18 chars in chunks of 4
    assert out.cost == pytest.approx((4 * 1.0 + 5 * 2.0) / 1e6)
    assert out.model == "fake"
    assert out.logprobs is None and out.token_ids is None
    req = srv.last_request
    assert req is not None
    assert req["model"] == "fake"
    assert req["messages"] == [{"role": "user", "content": "hello there, model"}]
    assert (req["temperature"], req["max_tokens"], req["seed"], req["stop"]) == (0.5, 9, 3, ["x"])
    assert "tools" not in req and "logprobs" not in req


async def test_history_tools_and_extra_are_sent() -> None:
    history = [
        Message(role="system", content="sys"),
        Message(role="user", content="go"),
        Message(role="assistant", tool_calls=[ToolCall(id="c1", name="guess", arguments={"n": 3})]),
        Message(role="tool", content="too low", tool_call_id="c1", name="guess"),
    ]
    async with FakeOpenAIServer() as srv:
        model = fast_model(srv)
        await model.generate(history, GUESS, GenerateConfig(extra={"top_k": 5, "chat_template_kwargs": {}}))
        await model.close()
    req = srv.last_request
    assert req is not None
    assert req["tools"] == [t.openai() for t in GUESS]
    assert req["messages"][2]["tool_calls"][0]["function"] == {"name": "guess", "arguments": '{"n": 3}'}
    assert req["messages"][3]["tool_call_id"] == "c1"
    assert req["top_k"] == 5 and req["chat_template_kwargs"] == {}


async def test_tool_calls_are_parsed() -> None:
    def responder(req: dict[str, Any]) -> dict[str, Any]:
        return {
            "content": "",
            "tool_calls": [
                {"name": "guess", "arguments": {"n": 42}, "id": "call_abc"},
                {"name": "guess", "arguments": '{"n": 7}'},
            ],
        }

    async with FakeOpenAIServer(responder) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, GUESS, CFG)
        await model.close()
    calls = out.message.tool_calls
    assert out.finish_reason == "tool_calls"
    assert out.message.content == ""
    assert [(c.id, c.name, c.arguments, c.parse_error) for c in calls] == [
        ("call_abc", "guess", {"n": 42}, None),
        ("call_0_1", "guess", {"n": 7}, None),
    ]
    # the parsed message goes back into the history unchanged
    # re-sent exactly as the server wrote it (token-exact history), not re-serialised
    assert (
        chat_message(out.message, arguments="json")["tool_calls"][0]["function"]["arguments"]
        == calls[0].raw_arguments
    )


async def test_bad_tool_json_sets_parse_error_not_an_exception() -> None:
    async with FakeOpenAIServer(faults=["bad_tool_json"]) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, GUESS, CFG)
        await model.close()
    (call,) = out.message.tool_calls
    assert call.name == "guess"
    assert call.arguments == {}
    assert call.raw_arguments == '{"value": 1,'
    assert call.parse_error is not None and call.parse_error.startswith("invalid JSON")
    assert out.retries == 0
    # the raw text is what goes back to the model
    assert (
        chat_message(out.message, arguments="json")["tool_calls"][0]["function"]["arguments"]
        == '{"value": 1,'
    )


def test_parse_arguments_cases() -> None:
    assert parse_arguments('{"a": 1}') == ({"a": 1}, '{"a": 1}', None)  # the model's text is kept
    assert parse_arguments({"a": 1}) == ({"a": 1}, None, None)
    assert parse_arguments("") == ({}, None, None)
    assert parse_arguments(None) == ({}, None, None)
    assert parse_arguments('"{\\"a\\": 1}"') == ({"a": 1}, None, None)  # double-encoded
    args, raw, err = parse_arguments("[1, 2]")
    assert (args, raw, err) == ({}, "[1, 2]", "arguments are a JSON array, not an object")
    args, raw, err = parse_arguments("n=5")
    assert args == {} and raw == "n=5" and err is not None and "invalid JSON" in err


async def test_logprobs_and_token_ids() -> None:
    async with FakeOpenAIServer() as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, GenerateConfig(logprobs=True))
        assert srv.last_request is not None and srv.last_request["logprobs"] is True
        assert out.logprobs is not None and len(out.logprobs) == out.usage.output_tokens
        assert all(lp < 0 for lp in out.logprobs)
        assert out.token_ids is None

        out = await model.generate(
            USER, None, GenerateConfig(logprobs=True, extra={"return_token_ids": True})
        )
        assert out.token_ids is not None and len(out.token_ids) == out.usage.output_tokens

        out2 = await model.generate(
            USER, None, GenerateConfig(logprobs=True, extra={"return_tokens_as_token_ids": True})
        )
        assert out2.token_ids == out.token_ids
        assert out2.logprobs == out.logprobs
        await model.close()


# -- retries ------------------------------------------------------------------------------------------


async def test_429_storm_then_success_honours_retry_after() -> None:
    async with FakeOpenAIServer(faults=["429"] * 3, retry_after=0.1) as srv:
        model = fast_model(srv, max_concurrency=8)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.message.content == "hello there, model"
    assert out.retries == 3
    assert srv.fault_counts["429"] == 3 and srv.requests == 4
    assert 0.3 <= out.latency < 2.0  # three Retry-After waits of 0.1 s (+ up to 10% jitter)
    assert model.limiter.decreases == 3  # 8 -> 4 -> 2 -> 1
    assert model.current_limit == 2  # +1 after one clean call at limit 1


async def test_5xx_then_success() -> None:
    async with FakeOpenAIServer(faults=["500", "503", "500"]) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.retries == 3 and srv.requests == 4
    # 500s are not congestion; a 503 (server overloaded) is, like a 429 (issue #17): halved once
    assert model.current_limit == 4 and model.limiter.decreases == 1


async def test_timeout_then_success() -> None:
    async with FakeOpenAIServer(faults=["timeout"], timeout_sleep=3.0) as srv:
        model = fast_model(srv)
        t = time.perf_counter()
        out = await model.generate(USER, None, GenerateConfig(timeout=0.2))
        elapsed = time.perf_counter() - t
        await model.close()
    assert out.retries == 1 and out.message.content == "hello there, model"
    assert 0.2 <= elapsed < 1.5


async def test_malformed_body_and_dropped_connection_then_success() -> None:
    async with FakeOpenAIServer(faults=["malformed", "drop", "malformed"]) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.retries == 3
    assert dict(srv.fault_counts) == {"malformed": 2, "drop": 1}


async def test_missing_choices_is_retried() -> None:
    replies: Iterator[dict[str, Any]] = iter(
        [{"choices": []}, {"choices": [{"message": None}]}, {"content": "fine"}]
    )
    async with FakeOpenAIServer(lambda req: next(replies)) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.retries == 2 and out.message.content == "fine"


async def test_persistent_failure_raises_one_line_model_error() -> None:
    async with FakeOpenAIServer(faults=lambda i, req: "503") as srv:
        model = fast_model(srv, max_retries=2)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, CFG)
        await model.close()
    msg = str(info.value)
    assert "\n" not in msg
    assert "after 3 attempts" in msg
    assert "HTTP 503" in msg and "injected fault" in msg
    assert f"{srv.base_url}/chat/completions" in msg
    assert srv.requests == 3
    assert model.in_flight == 0


async def test_client_error_is_not_retried_and_names_the_server_message() -> None:
    def responder(req: dict[str, Any]) -> dict[str, Any]:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"message": "max_tokens is too large"}}),
            content_type="application/json",
        )

    async with FakeOpenAIServer(responder) as srv:
        model = fast_model(srv)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, CFG)
        await model.close()
    msg = str(info.value)
    assert srv.requests == 1
    assert "HTTP 400" in msg and "max_tokens is too large" in msg and "not retried" in msg
    assert "\n" not in msg


async def test_dead_server_fails_fast() -> None:
    port = free_port()
    model = OpenAIModel("fake", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base=0.01)
    t = time.perf_counter()
    with pytest.raises(ModelError) as info:
        await model.generate(USER, None, GenerateConfig(timeout=2.0))
    assert time.perf_counter() - t < 2.0
    await model.close()
    msg = str(info.value)
    assert "after 3 attempts" in msg and f"127.0.0.1:{port}" in msg and "\n" not in msg


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = parse_retry_after(future)
    assert wait is not None and 25 <= wait <= 31
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0


async def test_retry_after_is_capped() -> None:
    async with FakeOpenAIServer(faults=["429"], retry_after=3600) as srv:
        model = fast_model(srv, retry_after_max=0.05)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.retries == 1 and out.latency < 1.0


# -- concurrency ----------------------------------------------------------------------------------------


async def test_limiter_aimd() -> None:
    lim = AdaptiveLimiter(initial=4, maximum=6)
    tokens = [await lim.acquire() for _ in range(4)]
    assert lim.in_flight == 4
    waiter = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    for t in tokens[:2]:
        lim.release(t, "throttled")  # one burst of 429s halves the limit once
    assert lim.current_limit == 2 and lim.decreases == 1
    lim.release(tokens[2], "ok")
    lim.release(tokens[3], "ok")
    await asyncio.sleep(0)
    assert waiter.done()
    assert lim.current_limit == 3  # two clean completions at limit 2: +1
    lim.release(waiter.result(), "ok")
    for _ in range(2 + 4):  # 3 clean at limit 3 (one already counted), then 4 at limit 4
        lim.release(await lim.acquire(), "ok")
    assert lim.current_limit == 5
    for _ in range(50):
        lim.release(await lim.acquire(), "ok")
    assert lim.current_limit == 6  # capped at the maximum
    lim.release(await lim.acquire(), "throttled")
    assert lim.current_limit == 3
    for _ in range(5):
        lim.release(await lim.acquire(), "throttled")
    assert lim.current_limit == 1  # never below one


async def test_limiter_never_exceeds_limit_under_random_outcomes() -> None:
    lim = AdaptiveLimiter(initial=8, maximum=16)
    rng = random.Random(0)
    violations = 0

    async def worker() -> None:
        nonlocal violations
        for _ in range(20):
            token = await lim.acquire()
            # a slot granted after a decrease must fit the new limit
            if token == lim._epoch and lim.in_flight > lim.current_limit:
                violations += 1
            await asyncio.sleep(rng.random() * 0.001)
            lim.release(token, "throttled" if rng.random() < 0.05 else "ok")

    await asyncio.gather(*(worker() for _ in range(40)))
    assert violations == 0
    assert lim.in_flight == 0 and lim.peak_in_flight <= 16


async def test_concurrency_never_exceeds_max() -> None:
    async with FakeOpenAIServer(latency=0.02) as srv:
        model = fast_model(srv, max_concurrency=4)
        outs = await asyncio.gather(*(model.generate(USER, None, CFG) for _ in range(40)))
        await model.close()
    assert len(outs) == 40
    assert srv.max_in_flight == 4
    assert model.limiter.peak_in_flight == 4


async def test_adaptive_limit_shrinks_on_429_and_grows_when_clean() -> None:
    async with FakeOpenAIServer(faults=["429"], retry_after=0.01, latency=0.005) as srv:
        # latency_factor=None: only 429s count here (a loaded test machine must not look like a queue)
        model = fast_model(srv, max_concurrency=16, initial_concurrency=8, latency_factor=None)
        await model.generate(USER, None, CFG)
        assert model.current_limit == 4  # halved by the 429
        for _ in range(4 + 5):
            await model.generate(USER, None, CFG)
        assert model.current_limit == 6  # +1 after 4 clean calls (the retry was the first), +1 after 5 more
        srv.reset_counters()
        await asyncio.gather(*(model.generate(USER, None, CFG) for _ in range(60)))
        assert srv.max_in_flight <= model.current_limit
        assert model.current_limit > 6
        await model.close()


async def test_cancelled_call_gives_its_slot_back() -> None:
    async with FakeOpenAIServer(latency=2.0) as srv:
        model = fast_model(srv, max_concurrency=2)
        task = asyncio.ensure_future(model.generate(USER, None, CFG))
        await asyncio.sleep(0.1)
        assert model.in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert model.in_flight == 0
        await model.close()


# -- cache, specs, sessions -------------------------------------------------------------------------------


async def test_cache_only_for_deterministic_requests() -> None:
    async with FakeOpenAIServer() as srv:
        model = fast_model(srv, cache=True, price_input=1.0)
        a = await model.generate(USER, None, GenerateConfig(temperature=0))
        b = await model.generate(USER, None, GenerateConfig(temperature=0))
        assert srv.requests == 1 and model.cache_hits == 1
        assert b.message == a.message and b.message is not a.message
        assert b.latency == 0.0 and b.cost == 0.0
        await model.generate(USER, None, GenerateConfig(temperature=1.0))
        await model.generate(USER, None, GenerateConfig(temperature=1.0))
        assert srv.requests == 3
        always = fast_model(srv, cache="always")
        await always.generate(USER, None, GenerateConfig(temperature=1.0))
        await always.generate(USER, None, GenerateConfig(temperature=1.0))
        assert srv.requests == 4
        await model.close()
        await always.close()


def test_spec_parsing_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    m = get_model("openai:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1")
    assert isinstance(m, OpenAIModel)
    assert m.model_name == "Qwen/Qwen2.5-7B" and m.base_url == "http://127.0.0.1:8000/v1"
    assert m.name == "openai:Qwen/Qwen2.5-7B"
    assert m.max_concurrency == 64 and m.max_retries == 6
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    m = get_model("openai:gpt-4o-mini", max_concurrency=8)
    assert isinstance(m, OpenAIModel)
    assert m.url == "http://127.0.0.1:9/v1/chat/completions" and m.max_concurrency == 8
    assert m._headers["Authorization"] == "Bearer sk-env"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    m = get_model("openai:gpt-4o-mini")
    assert isinstance(m, OpenAIModel)
    assert m.base_url == "https://api.openai.com/v1" and "Authorization" not in m._headers
    m = get_model("openai:name@with-at@http://127.0.0.1:1/v1")
    assert isinstance(m, OpenAIModel) and m.model_name == "name@with-at"
    with pytest.raises(UsageError):
        get_model("openai")
    with pytest.raises(UsageError):
        OpenAIModel("x", base_url="127.0.0.1:8000")


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_model_across_event_loops() -> None:
    # A loop that ends without model.close() leaves its keep-alive sockets to the garbage collector
    # (ResourceWarning); the model must still work in the next loop.
    with FakeOpenAIServer() as srv:
        model = OpenAIModel("fake", base_url=srv.base_url)

        async def call() -> str:
            out = await model.generate(USER, None, CFG)
            return out.message.content

        assert asyncio.run(call()) == "hello there, model"
        assert asyncio.run(call()) == "hello there, model"  # the session of the closed loop is replaced

        async def call_and_close() -> str:
            text = await call()
            await model.close()
            return text

        assert asyncio.run(call_and_close()) == "hello there, model"
        assert asyncio.run(call_and_close()) == "hello there, model"  # closed, then reopened
        assert srv.requests == 4
        gc.collect()
