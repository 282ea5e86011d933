"""The ``openai`` provider against the ways real servers (llama.cpp, vLLM, SGLang, Ollama) behave,
imitated by the fake server (issue #17 and the hardening issue)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from palaestra.chat import chat_messages
from palaestra.errors import ModelError, UsageError
from palaestra.models.base import ContextOverflowError, GenerateConfig, get_model
from palaestra.models.openai import AdaptiveLimiter, OpenAIModel, server_error, tool_results_as_user
from palaestra.testing import FakeOpenAIServer
from palaestra.types import Message, ToolCall
from providertools import CFG, GUESS, USER, fast_model


def call_tool_if_shown(req: dict[str, Any]) -> dict[str, Any]:
    """A model that calls the first tool its prompt shows, and otherwise talks."""
    if req.get("tools"):
        return {"tool_calls": [{"name": req["tools"][0]["function"]["name"], "arguments": {"n": 5}}]}
    return {"content": "I see no tools"}


# -- tools, extras, streaming, logprobs, tool role -----------------------------------------------------


async def test_tool_choice_is_sent_so_servers_show_the_tools() -> None:
    async with FakeOpenAIServer(call_tool_if_shown, quirks=["tools_need_choice"]) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, GUESS, CFG)
        assert [c.name for c in out.message.tool_calls] == ["guess"]
        assert srv.last_request is not None and srv.last_request["tool_choice"] == "auto"
        required = await model.generate(USER, GUESS, GenerateConfig(tool_choice="required"))
        assert required.message.tool_calls and srv.last_request["tool_choice"] == "required"
        await model.generate(USER, None, CFG)  # no tools: no tool_choice either
        assert "tool_choice" not in srv.last_request
        await model.close()


async def test_stream_in_extras_is_streamed_with_time_to_first_token() -> None:
    async with FakeOpenAIServer(latency=0.01) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, GenerateConfig(extra={"stream": True}, logprobs=True))
        assert srv.requests == 1 and srv.last_request is not None and srv.last_request["stream"] is True
        assert out.message.content == "hello there, model" and out.retries == 0
        assert out.ttft is not None and 0 < out.ttft <= out.latency
        assert out.usage.output_tokens == 5 and out.finish_reason == "stop"
        assert out.logprobs is not None and len(out.logprobs) == 5
        await model.close()


async def test_streamed_tool_calls_are_assembled() -> None:
    async with FakeOpenAIServer(call_tool_if_shown) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, GUESS, GenerateConfig(stream=True))
        (call,) = out.message.tool_calls
        assert call.name == "guess" and call.arguments == {"n": 5} and call.parse_error is None
        assert out.finish_reason == "tool_calls"
        await model.close()


async def test_server_that_ignores_stream_still_answers() -> None:
    async with FakeOpenAIServer(quirks=["no_stream"]) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, GenerateConfig(stream=True))
        assert out.message.content == "hello there, model" and out.ttft is None
        await model.close()


async def test_logprobs_are_asked_in_the_form_llama_cpp_answers() -> None:
    async with FakeOpenAIServer(quirks=["logprobs_need_top"]) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, GenerateConfig(logprobs=True))
        assert srv.last_request is not None and srv.last_request["top_logprobs"] == 1
        assert out.logprobs is not None and len(out.logprobs) == 5
        await model.close()


TOOL_TURN = [
    Message(role="system", content="find the number"),
    Message(role="user", content="guess it"),
    Message(role="assistant", tool_calls=[ToolCall(id="c1", name="guess", arguments={"n": 5})]),
    Message(role="tool", tool_call_id="c1", content="RESULT: higher"),
]


def sees_result(req: dict[str, Any]) -> dict[str, Any]:
    seen = any("RESULT: higher" in str(m.get("content")) for m in req["messages"])
    return {"content": "seen" if seen else "blind"}


async def test_tool_results_reach_a_model_whose_template_drops_the_tool_role() -> None:
    async with FakeOpenAIServer(sees_result, quirks=["drop_tool_role"]) as srv:
        plain = fast_model(srv, tool_role="tool")
        assert (await plain.generate(TOOL_TURN, GUESS, CFG)).message.content == "blind"
        auto = fast_model(srv)  # detects the template from llama.cpp's /props
        assert (await auto.generate(TOOL_TURN, GUESS, CFG)).message.content == "seen"
        assert auto._tool_role_found == "user"
        assert srv.last_request is not None
        assert [m["role"] for m in srv.last_request["messages"]] == ["system", "user", "assistant", "user"]
        assert srv.last_request["messages"][-1]["content"] == "[guess result]\nRESULT: higher"
        await plain.close()
        await auto.close()
    async with FakeOpenAIServer(sees_result) as srv:  # no /props (vLLM, SGLang): the tool role stays
        auto = fast_model(srv)
        assert (await auto.generate(TOOL_TURN, GUESS, CFG)).message.content == "seen"
        assert srv.last_request is not None and srv.last_request["messages"][-1]["role"] == "tool"
        await auto.close()


def test_tool_results_as_user_joins_consecutive_user_text() -> None:
    wire = chat_messages([*TOOL_TURN, Message(role="user", content="2 turns left")], arguments="json")
    out = tool_results_as_user(wire)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[-1]["content"] == "[guess result]\nRESULT: higher\n\n2 turns left"


# -- errors: not retried, fatal, context, retries recorded ------------------------------------------------


async def test_validation_error_sent_as_500_is_not_retried() -> None:
    async with FakeOpenAIServer(faults=["500_validation"] * 7) as srv:
        model = fast_model(srv)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, CFG)
        await model.close()
    assert srv.requests == 1
    assert info.value.status == 500 and info.value.retries == 0 and not info.value.fatal
    assert "validation error" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "client_fault"),
    [
        (b'{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}', True),
        (b'{"error":{"code":500,"message":"tokenizer failed","type":"server_error"}}', False),
        (b'{"error":{"code":400,"message":"x","type":"invalid_request_error"}}', True),
        (b'{"detail":[{"loc":["body","messages"],"msg":"field required","type":"missing"}]}', True),
        (b'{"error":{"message":"CUDA out of memory"}}', False),
        (b"<html>502 Bad Gateway</html>", False),
    ],
)
def test_server_error_bodies_are_classified(body: bytes, client_fault: bool) -> None:
    assert server_error(body).client_fault is client_fault


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}',
        b'{"error":{"code":400,"message":"the request exceeds the available context size, try increasing '
        b'it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}',
        b'{"object":"error","message":"This model\'s maximum context length is 2048 tokens. However, you '
        b'requested 3000 tokens.","type":"BadRequestError","code":400}',
        b'{"object":"error","message":"The input (3000 tokens) is longer than the model\'s context length '
        b'(2048 tokens).","type":"BadRequestError","code":400}',
        b'{"error":{"message":"Requested tokens (3000) exceed context window of 2048"}}',
    ],
)
def test_context_overflow_bodies_of_each_server_are_recognised(body: bytes) -> None:
    assert server_error(body).context_overflow


async def test_context_overflow_raises_its_own_error_and_is_not_retried() -> None:
    async with FakeOpenAIServer(context_limit=8) as srv:
        model = fast_model(srv)
        await model.generate(USER, None, CFG)  # 18 characters: fits
        with pytest.raises(ContextOverflowError) as info:
            await model.generate([Message(role="user", content="x" * 100)], None, CFG)
        await model.close()
    assert srv.requests == 2 and info.value.status == 400 and not info.value.fatal


@pytest.mark.parametrize(("status", "fatal"), [(401, True), (403, True), (404, True), (400, False)])
async def test_rejections_carry_status_and_fatal(status: int, fatal: bool) -> None:
    def reject(req: dict[str, Any]) -> dict[str, Any]:
        raise _http(status)

    async with FakeOpenAIServer(reject) as srv:
        model = fast_model(srv)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, CFG)
        await model.close()
    assert info.value.status == status and info.value.fatal is fatal and info.value.retries == 0
    assert srv.requests == 1


def _http(status: int) -> Exception:
    from aiohttp import web

    classes = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
    }
    return classes[status](text='{"error":{"message":"nope"}}', content_type="application/json")


async def test_failed_call_reports_its_real_retry_count() -> None:
    async with FakeOpenAIServer(faults=["500"] * 10) as srv:
        model = fast_model(srv, max_retries=3)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, CFG)
        await model.close()
    assert srv.requests == 4
    assert info.value.retries == 3 and info.value.status == 500 and not info.value.fatal


async def test_a_call_has_a_bounded_total_time() -> None:
    # A hanging server: each attempt times out. Without a total bound that is max_retries + 1 attempts.
    async with FakeOpenAIServer(faults=["timeout"] * 10, timeout_sleep=5.0) as srv:
        model = fast_model(srv, max_retries=6, call_timeout=0.5)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, GenerateConfig(timeout=0.3))
        await model.close()
    assert srv.requests <= 2 and "of at most 0.5s" in str(info.value)
    assert info.value.retries == srv.requests - 1


async def test_the_default_total_time_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from palaestra.models import openai

    monkeypatch.setattr(openai, "DEFAULT_CALL_TIMEOUT", 0.5)  # 600 s in real life: scaled down
    async with FakeOpenAIServer(faults=["timeout"] * 10, timeout_sleep=5.0) as srv:
        model = fast_model(srv)  # no call_timeout: the default bound, max(600 s, two attempts)
        with pytest.raises(ModelError) as info:
            await model.generate(USER, None, GenerateConfig(timeout=0.3))
        await model.close()
    assert srv.requests <= 3 and "of at most 0.6s" in str(info.value)


ODD_USAGE: list[Any] = [
    {"prompt_tokens": "12", "completion_tokens": -3},
    {"prompt_tokens": 10**30, "completion_tokens": None},
    {"prompt_tokens": {"n": 1}, "completion_tokens": [1]},
    {"prompt_tokens": float("nan"), "completion_tokens": True},
    "lots",
    None,
]


@pytest.mark.parametrize("usage", ODD_USAGE)
@pytest.mark.parametrize("finish", ["stop", None, 7, {"type": "stop"}, ["x"], -1])
async def test_odd_usage_and_finish_reason_are_ignored(usage: Any, finish: Any) -> None:
    def reply(req: dict[str, Any]) -> dict[str, Any]:
        return {
            "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": finish}],
            "usage": usage,
            "model": {"odd": True},
        }

    async with FakeOpenAIServer(reply) as srv:
        model = fast_model(srv)
        out = await model.generate(USER, None, CFG)
        await model.close()
    assert out.message.content == "hi"
    assert 0 <= out.usage.input_tokens <= 2**53 and 0 <= out.usage.output_tokens <= 2**53
    assert out.finish_reason == (finish if isinstance(finish, str) else None)
    assert out.model == "fake"


def test_a_base_url_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(UsageError, match="'notaurl' is not an http"):
        get_model("openai:x@notaurl")
    m = get_model("openai:x@notaurl", base_url="http://127.0.0.1:1/v1")  # a name with '@' + --base-url
    assert isinstance(m, OpenAIModel) and m.model_name == "x@notaurl"


# -- concurrency against the server actually there ---------------------------------------------------------


async def test_timeouts_and_503_shrink_the_limit() -> None:
    for fault in ("timeout", "503"):
        async with FakeOpenAIServer(faults=[fault], timeout_sleep=2.0) as srv:
            model = fast_model(srv, max_concurrency=16, initial_concurrency=16)
            await model.generate(USER, None, GenerateConfig(timeout=0.2))
            assert model.current_limit == 8, fault
            await model.close()


def test_queueing_latency_shrinks_the_limit_and_flat_latency_grows_it() -> None:
    async def drive(latency_of: Any, n: int) -> AdaptiveLimiter:
        lim = AdaptiveLimiter(initial=8, maximum=64)
        for i in range(n):
            token = await lim.acquire()
            lim.release(token, "ok", latency_of(i, lim))
        return lim

    # a wide server: latency does not depend on load; slow start reaches the maximum
    wide = asyncio.run(drive(lambda i, lim: 1.0 + 0.1 * (i % 3), 200))
    assert wide.current_limit == 64 and wide.decreases == 0
    # a one-slot queue: the first reply finds it empty, later ones wait for everything in flight
    queue = asyncio.run(drive(lambda i, lim: 1.0 if i == 0 else 1.0 * lim.current_limit, 200))
    assert queue.current_limit <= 4 and queue.decreases >= 2 and queue.queueing_signals >= 2


async def test_one_slot_server_is_not_flooded_by_default() -> None:
    async with FakeOpenAIServer(latency=0.02, slots=1) as srv:
        model = fast_model(srv)  # defaults: max_concurrency 64
        outs = await asyncio.gather(*(model.generate(USER, None, CFG) for _ in range(60)))
        await model.close()
    assert len(outs) == 60 and srv.ok == 60
    assert srv.max_active == 1
    assert srv.max_in_flight <= 16  # queued at the server at once (was 60: every call in flight)


async def test_abandoned_requests_close_their_connection() -> None:
    # llama.cpp and vLLM stop generating for a client that closed its connection; the fake counts them.
    async with FakeOpenAIServer(latency=5.0, slots=1) as srv:
        model = fast_model(srv, max_retries=0)
        with pytest.raises(ModelError):
            await model.generate(USER, None, GenerateConfig(timeout=0.2))
        task = asyncio.ensure_future(model.generate(USER, None, CFG))
        for _ in range(200):
            if srv.requests == 2:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(200):  # bounded wait for the server to notice
            if srv.cancelled == 2:
                break
            await asyncio.sleep(0.01)
        assert srv.cancelled == 2 and srv.active == 0 and srv.ok == 0
        await model.close()
