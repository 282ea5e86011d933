"""The fake OpenAI server: endpoints, faults, counters, safety stops, thread and process modes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from palaestra.testing import FAULTS, FakeOpenAIServer, FaultPlan

BODY = {"model": "m", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "ping"}]}


async def post(
    session: aiohttp.ClientSession, srv: FakeOpenAIServer, body: Any = BODY, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    async with session.post(
        f"{srv.base_url}/chat/completions", json=body, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as r:
        return r.status, dict(r.headers), await r.read()


def sync_post(url: str, body: Any = BODY) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


async def test_endpoints_and_default_echo() -> None:
    async with FakeOpenAIServer(model="tiny") as srv, aiohttp.ClientSession() as s:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1" and srv.port > 0
        async with s.get(f"{srv.base_url}/models") as r:
            assert r.status == 200
            assert (await r.json())["data"][0]["id"] == "tiny"
        status, _, raw = await post(s, srv)
        assert status == 200
        data = json.loads(raw)
        choice = data["choices"][0]
        assert choice["message"] == {"role": "assistant", "content": "ping"}
        assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
        assert data["model"] == "m"
        assert data["usage"] == {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        status, _, raw = await post(s, srv, {"messages": "nope"})
        assert status == 400
        assert srv.requests == 2 and srv.ok == 1 and srv.model_list_requests == 1
        assert srv.last_request == BODY


async def test_responder_forms_logprobs_and_token_ids() -> None:
    async def responder(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("full"):
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "raw"}}], "x": 1}
        return {"content": "", "tool_calls": [{"name": "guess", "arguments": {"n": 1}}]}

    async with FakeOpenAIServer(responder) as srv, aiohttp.ClientSession() as s:
        _, _, raw = await post(s, srv, {**BODY, "full": True})
        assert json.loads(raw)["x"] == 1
        _, _, raw = await post(s, srv, {**BODY, "logprobs": True, "return_token_ids": True})
        choice = json.loads(raw)["choices"][0]
        assert choice["message"]["content"] is None
        assert choice["message"]["tool_calls"][0]["function"] == {"name": "guess", "arguments": '{"n":1}'}
        assert choice["finish_reason"] == "tool_calls"
        n = len(choice["logprobs"]["content"])
        assert n == len(choice["token_ids"]) == json.loads(raw)["usage"]["completion_tokens"]
        _, _, raw = await post(s, srv, {**BODY, "logprobs": True, "return_tokens_as_token_ids": True})
        tokens = [t["token"] for t in json.loads(raw)["choices"][0]["logprobs"]["content"]]
        assert [int(t.removeprefix("token_id:")) for t in tokens] == choice["token_ids"]


async def test_each_fault() -> None:
    plan = ["429", "500", "503", "malformed", "bad_tool_json", "drop", "timeout", "500_validation", None]
    async with (
        FakeOpenAIServer(faults=plan, retry_after=2, timeout_sleep=3.0) as srv,
        aiohttp.ClientSession() as s,
    ):
        status, headers, _ = await post(s, srv)
        assert status == 429 and headers["Retry-After"] == "2"
        assert (await post(s, srv))[0] == 500
        assert (await post(s, srv))[0] == 503
        status, _, raw = await post(s, srv)
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(raw)
        _, _, raw = await post(s, srv)
        args = json.loads(raw)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        with pytest.raises(ValueError):
            json.loads(args)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(s, srv)
        t = time.perf_counter()
        with pytest.raises(TimeoutError):
            await post(s, srv, timeout=0.2)
        assert time.perf_counter() - t < 1.0
        status, _, raw = await post(s, srv)
        assert status == 500 and "validation error" in json.loads(raw)["error"]["message"]
        assert (await post(s, srv))[0] == 200
        assert srv.requests == 9
        assert dict(srv.fault_counts) == {f: 1 for f in FAULTS}
        assert srv.stats()["faults"] == dict(srv.fault_counts)
    assert not srv.running


def test_fault_plan_probabilities_are_seeded() -> None:
    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan(sequence=["drop"], probabilities={"429": 0.3, "500": 0.2}, seed=seed)
        return [plan(i, {}) for i in range(200)]

    a = draws(1)
    assert a == draws(1) and a != draws(2)
    assert a[0] == "drop"
    assert 30 <= a.count("429") <= 90 and 15 <= a.count("500") <= 65
    assert FaultPlan.parse("429=0.5, 503=0.1", seed=3).probabilities == {"429": 0.5, "503": 0.1}
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan(sequence=["404"])
    with pytest.raises(ValueError, match="more than 1"):
        FaultPlan(probabilities={"429": 0.7, "500": 0.7})
    with pytest.raises(ValueError):
        FaultPlan.parse("429")


async def test_latency_and_in_flight_counting() -> None:
    async with (
        FakeOpenAIServer(latency=lambda req: 0.05 if req.get("slow") else 0.0) as srv,
        aiohttp.ClientSession() as s,
    ):
        t = time.perf_counter()
        await asyncio.gather(*(post(s, srv, {**BODY, "slow": True}) for _ in range(10)))
        assert 0.05 <= time.perf_counter() - t < 1.0
        assert srv.max_in_flight == 10 and srv.in_flight == 0
        srv.reset_counters()
        await post(s, srv)
        assert srv.requests == 1 and srv.max_in_flight == 1


async def test_safety_stops() -> None:
    async with FakeOpenAIServer(max_requests=2) as srv, aiohttp.ClientSession() as s:
        assert (await post(s, srv))[0] == 200
        assert (await post(s, srv))[0] == 200
        assert (await post(s, srv))[0] == 503
        await asyncio.wait_for(srv.wait_closed(), 5)
        assert not srv.running
    srv = FakeOpenAIServer(max_seconds=0.2)
    await srv.start()
    await asyncio.wait_for(srv.wait_closed(), 5)
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(s, srv)


def test_thread_mode_for_sync_callers() -> None:
    srv = FakeOpenAIServer(faults=["500"]).start_in_thread()
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            sync_post(srv.base_url)
        assert info.value.code == 500
        assert sync_post(srv.base_url)["choices"][0]["message"]["content"] == "ping"
        assert srv.requests == 2
    finally:
        srv.stop()
    with pytest.raises(urllib.error.URLError):
        sync_post(srv.base_url)
    with FakeOpenAIServer() as srv2:
        assert sync_post(srv2.base_url)["choices"][0]["message"]["content"] == "ping"


def test_process_mode_serves_until_sigterm_or_max_seconds() -> None:
    cmd = [sys.executable, "-m", "palaestra.testing", "--port", "0", "--latency", "0.01"]
    proc = subprocess.Popen([*cmd, "--max-seconds", "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert sync_post(url)["choices"][0]["message"]["content"] == "ping"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = subprocess.run([*cmd, "--max-seconds", "0.5"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "listening on" in done.stdout  # stopped by itself
