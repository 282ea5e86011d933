"""The ``local`` provider: prompts, dynamic batching, sampling, logprobs, errors, close, and a run.

Two micro models are built offline once per module: ``random_dir`` (random weights, scaled up so
greedy decoding depends on the prompt and ties are rare) and ``trained_dir`` (trained for a few dozen
steps to answer a guess-the-number conversation with one fixed Hermes tool call).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from palaestra.chat import chat_messages
from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, Model, get_model
from palaestra.models.local import LocalModel
from palaestra.runner.run import RunConfig, run
from palaestra.store.sqlite import Store
from palaestra.testing.micro import build_micro_model
from palaestra.types import Message, ToolCall

REPLY = '<tool_call>{"name": "guess", "arguments": {"number": 7}}</tool_call>'
GREEDY = GenerateConfig(temperature=0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, above all on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def guess_conversation(rng: random.Random) -> list[Message]:
    """A guess-the-number conversation as ChatAgent sends it, after 0 to 2 wrong guesses."""
    low = rng.randrange(0, 1000)
    high = low + 99
    msgs = [
        Message(role="system", content="Find a hidden integer."),
        Message(
            role="user",
            content=f"I am thinking of an integer between {low} and {high}. Guess it.\n\n"
            f"You have at most {rng.randint(2, 25)} turns (a turn is one reply, which may call several tools).",
        ),
    ]
    for n in range(rng.randint(0, 2)):
        call = ToolCall(id=f"call_{n}", name="guess", arguments={"number": 7})
        msgs.append(Message(role="assistant", tool_calls=[call]))
        msgs.append(
            Message(
                role="tool",
                content=f"Error: 7 is outside the range {low}..{high}.",
                tool_call_id=call.id,
                name="guess",
            )
        )
    return msgs


def _train_fixed_reply(path: Path, steps: int = 60) -> None:
    """Teach the model at ``path`` to answer every guess conversation with REPLY then <|end|>."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    rng = random.Random(0)
    reply = tok(REPLY, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    rows = []
    for _ in range(8):
        prompt = tok.apply_chat_template(
            chat_messages(guess_conversation(rng)), add_generation_prompt=True, return_dict=False
        )
        rows.append((prompt, reply))
    width = max(len(p) + len(r) for p, r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for i, (p, r) in enumerate(rows):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        mask[i, : len(p) + len(r)] = 1
        labels[i, len(p) : len(p) + len(r)] = torch.tensor(r)  # loss on the reply only
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, loss.item()
    model.save_pretrained(path)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_micro_model(tmp_path_factory.mktemp("trained"), hidden=64, layers=1)
    _train_fixed_reply(path)
    (path / "palaestra.json").write_text(json.dumps({"max_prompt_tokens": 400, "max_new_tokens": 40}))
    return path


@pytest.fixture(scope="module")
def random_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForCausalLM

    path = build_micro_model(tmp_path_factory.mktemp("random"), hidden=64, layers=2)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.15, generator=g)
    model.save_pretrained(path)
    return path


def user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


def count_forwards(model: LocalModel, before: Callable[[], object] | None = None) -> list[int]:
    """Wrap the transformers model's forward; returns a list whose length is the number of calls,
    each item the batch size of that call. ``before`` runs (in the worker) before each call."""
    hf = model.hf_model
    inner = hf.forward
    calls: list[int] = []

    def forward(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before()
        calls.append(int(kwargs["input_ids"].shape[0]))
        return inner(*args, **kwargs)

    hf.forward = forward
    return calls


# -- output -----------------------------------------------------------------------------------------


async def test_tool_call_parsed_from_generated_text(trained_dir: Path) -> None:
    model = get_model(f"local:{trained_dir}", device="cpu")
    assert isinstance(model, LocalModel) and isinstance(model, Model)
    assert model.name == f"local:{trained_dir}" and model.max_concurrency == 64
    messages = guess_conversation(random.Random(99))
    out = await model.generate(messages, None, GREEDY)
    msg = out.message
    assert msg.role == "assistant" and msg.content == ""
    assert [(c.name, c.arguments, c.parse_error) for c in msg.tool_calls] == [("guess", {"number": 7}, None)]
    tok = model.tokenizer
    expected = tok(REPLY, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert out.token_ids == expected  # the end-of-turn token is kept in the ids, not in the text
    assert out.finish_reason == "stop" and out.model == model.name
    rendered = tok.apply_chat_template(chat_messages(messages), add_generation_prompt=True, return_dict=False)
    assert out.prompt_token_ids == rendered
    assert out.usage.input_tokens == len(rendered) and out.usage.output_tokens == len(expected)
    assert out.logprobs is not None and len(out.logprobs) == len(expected)
    assert all(-0.5 < lp <= 0 for lp in out.logprobs)  # it learned the reply
    assert out.latency > 0
    await model.close()


async def test_stop_strings_and_max_tokens(trained_dir: Path) -> None:
    model = LocalModel(str(trained_dir))
    messages = guess_conversation(random.Random(5))
    out = await model.generate(messages, None, GenerateConfig(temperature=0, stop=['"guess"']))
    assert out.finish_reason == "stop"
    call = out.message.tool_calls[0]  # the text is cut before the stop string: a cut-off call
    assert call.parse_error and call.raw_arguments == '{"name":'
    ids = out.token_ids
    assert ids is not None  # generation ends with the token that completes the stop string
    assert '"guess"' in model.tokenizer.decode(ids) and '"guess"' not in model.tokenizer.decode(ids[:-1])
    out = await model.generate(messages, None, GenerateConfig(temperature=0, max_tokens=3))
    assert out.finish_reason == "length" and out.token_ids is not None and len(out.token_ids) == 3
    assert out.message.tool_calls[0].parse_error  # an unclosed <tool_call>
    await model.close()


async def test_logprobs_are_the_raw_models_at_temperature_one(random_dir: Path) -> None:
    """Whatever the sampling settings, each logprob is log-softmax of the raw logits for the chosen
    token, as a full forward pass over prompt + reply computes it."""
    model = LocalModel(str(random_dir), device="cpu")
    config = GenerateConfig(temperature=0.7, top_p=0.9, max_tokens=12, seed=3)
    out = await model.generate(user("What is 2 + 2?"), None, config)
    ids, lps = out.token_ids, out.logprobs
    assert ids is not None and lps is not None and out.prompt_token_ids is not None
    assert len(ids) == len(lps) == 12 and out.finish_reason == "length"
    assert all(math.isfinite(x) and x <= 0 for x in lps)
    full = torch.tensor([out.prompt_token_ids + ids])
    with torch.no_grad():
        logits = model.hf_model(input_ids=full).logits[0].float()
    n = len(out.prompt_token_ids)
    reference = torch.log_softmax(logits[n - 1 : -1], -1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
    assert torch.allclose(torch.tensor(lps), reference, atol=1e-4)
    # the same seed samples the same reply; sampling at temperature 0.7 is not greedy decoding
    again = await model.generate(user("What is 2 + 2?"), None, config)
    assert again.token_ids == ids
    seeds = [
        (await model.generate(user("What is 2 + 2?"), None, config.model_copy(update={"seed": s}))).token_ids
        for s in range(4, 8)
    ]
    assert any(s != ids for s in seeds)
    await model.close()


# -- batching ---------------------------------------------------------------------------------------


async def test_concurrent_calls_are_generated_in_batches(random_dir: Path) -> None:
    model = LocalModel(str(random_dir), max_batch=64)
    calls = count_forwards(model)
    config = GenerateConfig(temperature=0, max_tokens=8)
    outs = await asyncio.gather(
        *(model.generate(user(f"prompt number {i}"), None, config) for i in range(16))
    )
    assert all(o.token_ids is not None and len(o.token_ids) == 8 for o in outs)
    # one at a time would take 16 x 8 forward passes; calls made in the same turn of the event loop
    # reach the worker together: one prefill and 7 decoding steps, all 16 rows each time
    assert calls == [16] * 8
    assert model.stats.batches == 1 and model.stats.rows == 16
    # at most max_batch rows at once; the rest wait for the next batch
    small = LocalModel(str(random_dir), max_batch=5)
    calls = count_forwards(small)
    await asyncio.gather(*(small.generate(user(f"prompt {i}"), None, config) for i in range(12)))
    assert calls == [5] * 8 + [5] * 8 + [2] * 8
    await model.close()
    await small.close()


async def test_batched_greedy_equals_one_at_a_time(random_dir: Path) -> None:
    """Left padding, positions and the KV cache, and rows leaving the batch as they finish, give
    the tokens each prompt gets alone."""
    model = LocalModel(str(random_dir))
    prompts = [user("hi"), user("Guess " * 30), *(user(f"{i} is too low. " * i) for i in range(1, 7))]
    configs = [GenerateConfig(temperature=0, max_tokens=4 + 2 * i) for i in range(len(prompts))]
    alone = [await model.generate(p, None, c) for p, c in zip(prompts, configs, strict=True)]
    lengths = {len(o.prompt_token_ids or []) for o in alone}
    assert len(lengths) > 4 and max(lengths) > 3 * min(lengths)  # really different paddings
    assert len({tuple(o.token_ids or []) for o in alone}) > 4  # outputs depend on the prompt
    calls = count_forwards(model)
    together = await asyncio.gather(
        *(model.generate(p, None, c) for p, c in zip(prompts, configs, strict=True))
    )
    assert max(calls) > 1  # it did batch
    for a, b in zip(alone, together, strict=True):
        assert a.token_ids == b.token_ids
        assert a.logprobs is not None and b.logprobs is not None
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs, strict=True)) < 1e-4
        assert a.message == b.message
    await model.close()


# -- errors -----------------------------------------------------------------------------------------


async def test_prompt_too_long_is_a_model_error(random_dir: Path, tmp_path: Path) -> None:
    small = build_micro_model(tmp_path / "small")
    (small / "palaestra.json").write_text(json.dumps({"max_prompt_tokens": 40, "max_new_tokens": 4}))
    model = LocalModel(str(small))
    with pytest.raises(ModelError, match="max_prompt_tokens") as e:
        await model.generate(user("a long question " * 20), None, GREEDY)
    assert "\n" not in str(e.value)
    # a long conversation is cut from the middle: the goal and the latest turns are kept
    turns = user("goal") + [
        Message(role="assistant" if i % 2 else "user", content=f"turn {i}") for i in range(40)
    ]
    out = await model.generate(turns, None, GREEDY)
    prompt = model.tokenizer.decode(out.prompt_token_ids)
    assert out.prompt_token_ids is not None and len(out.prompt_token_ids) <= 40
    assert prompt.startswith("<|user|>goal") and "turn 39" in prompt and "turn 5<" not in prompt
    await model.close()


async def test_missing_model_and_bad_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as e:
        get_model(f"local:{tmp_path / 'nope'}")
    assert "\n" not in str(e.value)
    with pytest.raises(UsageError, match="no local model at"):
        get_model(f"local:{tmp_path}")  # a directory without config.json
    with pytest.raises(UsageError, match="no option base_url"):
        get_model(f"local:{tmp_path}", base_url="http://x")
    with pytest.raises(UsageError, match="dtype"):
        LocalModel(str(tmp_path), dtype="float8")
    with pytest.raises(UsageError, match="prefix_cache_mb"):
        LocalModel(str(tmp_path), prefix_cache_mb=-1)


async def test_int8_quantized_model_generates(random_dir: Path) -> None:
    model = LocalModel(str(random_dir), quantize="int8", device="cpu")
    assert ".quantized.dynamic." in type(model.hf_model.model.layers[0].mlp.up_proj).__module__
    out = await model.generate(user("hello"), None, GenerateConfig(temperature=0, max_tokens=5))
    assert out.token_ids is not None and len(out.token_ids) == 5 and out.logprobs is not None
    assert all(math.isfinite(x) and x <= 0 for x in out.logprobs)
    await model.close()
    with pytest.raises(UsageError, match="quantize must be one of int8"):
        LocalModel(str(random_dir), quantize="int4")


async def test_a_failing_batch_fails_only_its_calls(random_dir: Path) -> None:
    model = LocalModel(str(random_dir))
    fail = [True]

    def boom() -> None:
        if fail[0]:
            fail[0] = False
            raise RuntimeError("CUDA error: device-side assert triggered\nmore detail")

    count_forwards(model, before=boom)
    with pytest.raises(ModelError, match="CUDA error") as e:
        await model.generate(user("hello"), None, GenerateConfig(max_tokens=4))
    assert "\n" not in str(e.value)
    out = await model.generate(user("hello"), None, GenerateConfig(max_tokens=4))  # still serving
    assert out.token_ids is not None and len(out.token_ids) == 4
    assert model.stats.failed_batches == 1
    await model.close()


async def test_bad_sampling_settings_are_model_errors(random_dir: Path) -> None:
    model = LocalModel(str(random_dir))
    for config in (GenerateConfig(temperature=-1), GenerateConfig(top_p=0), GenerateConfig(max_tokens=0)):
        with pytest.raises(ModelError):
            await model.generate(user("x"), None, config)
    await model.close()


# -- life cycle -------------------------------------------------------------------------------------


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("palaestra-local:")]


async def test_close_stops_the_worker_and_fails_waiting_calls(random_dir: Path) -> None:
    model = LocalModel(str(random_dir))
    release = threading.Event()
    count_forwards(model, before=lambda: release.wait(10))
    config = GenerateConfig(temperature=0, max_tokens=50)
    first = asyncio.create_task(model.generate(user("one"), None, config))
    await asyncio.sleep(0.05)  # the worker is inside the first batch, blocked
    second = asyncio.create_task(model.generate(user("two"), None, config))
    await asyncio.sleep(0)
    assert len(_workers()) == 1
    closing = asyncio.create_task(model.close())
    await asyncio.sleep(0)
    release.set()
    await closing
    for task in (first, second):
        with pytest.raises(ModelError, match="closed"):
            await task
    assert _workers() == [] and model.hf_model is None
    with pytest.raises(ModelError, match="closed"):
        await model.generate(user("three"), None, config)
    await model.close()  # twice is fine


async def test_a_model_dropped_without_close_stops_its_worker(random_dir: Path) -> None:
    model = LocalModel(str(random_dir))
    await model.generate(user("x"), None, GenerateConfig(max_tokens=2))
    (worker,) = _workers()
    del model
    gc.collect()
    await asyncio.to_thread(worker.join, 10)
    assert not worker.is_alive()


async def test_cancelled_call_leaves_the_batch(random_dir: Path) -> None:
    model = LocalModel(str(random_dir))
    calls = count_forwards(model)
    long = asyncio.create_task(model.generate(user("a"), None, GenerateConfig(temperature=0, max_tokens=200)))
    while not calls:
        await asyncio.sleep(0.01)
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    out = await model.generate(user("b"), None, GenerateConfig(temperature=0, max_tokens=2))
    assert out.token_ids is not None and len(out.token_ids) == 2
    assert len(calls) < 200  # the cancelled row stopped generating
    await model.close()


async def test_a_run_with_the_local_model_records_token_ids(trained_dir: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    config = RunConfig(
        envs=["guess"],
        agent="tools",
        model=f"local:{trained_dir}",
        tasks=2,
        difficulty=1,
        max_steps=3,
        generate=GREEDY,
        model_options={"device": "cpu"},
    )
    run_id = await run(config, store)
    episodes = store.episodes(run_id)
    assert len(episodes) == 2
    for ep in episodes:
        assert ep["status"] == "truncated", ep  # three wrong guesses of 7, no error
        full = store.episode(run_id, ep["id"])
        actions = [s["action"] for s in full["steps"]]
        assert all(a["tool_calls"][0]["name"] == "guess" for a in actions) and len(actions) == 3
        calls = store.model_calls(run_id, ep["id"])
        assert len(calls) == 3
        for c in calls:
            assert c["token_ids"] and len(c["token_ids"]) == len(c["logprobs"]) and c["prompt_token_ids"]
            assert c["finish_reason"] == "stop" and c["error"] is None
    assert _workers() == []  # the runner closed the model it built
    store.close()


# -- prefix cache and continuous batching ------------------------------------------------------------


def _next_turn(messages: list[Message], reply: Message, text: str) -> list[Message]:
    return [*messages, reply, Message(role="user", content=text)]


async def test_prefix_cache_reuse_gives_the_outputs_of_no_cache(random_dir: Path) -> None:
    """An episode's next turn prefills only what was appended (and calls sharing a head share it),
    with the same greedy tokens and logprobs as a model without the cache; reused and fresh prompts
    in one prefill (a hole between a row's prefix and the rest) too."""
    cached = LocalModel(str(random_dir), prefix_cache_mb=64)
    plain = LocalModel(str(random_dir), prefix_cache_mb=0)
    config = GenerateConfig(temperature=0, max_tokens=6)
    first = user("I am thinking of an integer between 0 and 99. Guess it. " * 3)
    convs = [first]
    for k in range(3):
        out = await cached.generate(convs[-1], None, config)
        convs.append(_next_turn(convs[-1], out.message, f"{k * 13} is too low. The number is higher."))
    assert cached.stats.reused_tokens > 0
    reused = cached.stats.reused_tokens
    prefilled = cached.stats.prefill_tokens
    total = sum(len(cached.prompt_ids(c, None)) for c in convs[:3])
    assert prefilled < total * 0.6  # turns 2 and 3 computed only their new tokens
    both = await asyncio.gather(
        *(cached.generate(c, None, config) for c in [*convs, user("something else entirely")])
    )
    assert cached.stats.reused_tokens > reused
    for conv, out in zip([*convs, user("something else entirely")], both, strict=True):
        ref = await plain.generate(conv, None, config)
        assert out.token_ids == ref.token_ids
        assert out.logprobs is not None and ref.logprobs is not None
        assert max(abs(x - y) for x, y in zip(out.logprobs, ref.logprobs, strict=True)) < 1e-4
    assert plain.stats.reused_tokens == 0
    await cached.close()
    await plain.close()


@pytest.mark.parametrize("continuous", [True, False])
async def test_a_call_joining_mid_batch_gets_its_output_alone(random_dir: Path, continuous: bool) -> None:
    model = LocalModel(str(random_dir), prefix_cache_mb=0, continuous=continuous)
    long_cfg = GenerateConfig(temperature=0, max_tokens=30)
    short_cfg = GenerateConfig(temperature=0, max_tokens=5)
    late_prompt = user("Guess " * 12)
    alone_long = await model.generate(user("hi"), None, long_cfg)
    alone_late = await model.generate(late_prompt, None, short_cfg)
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    calls = count_forwards(model, before=lambda: loop.call_soon_threadsafe(started.set))
    long = asyncio.create_task(model.generate(user("hi"), None, long_cfg))
    await started.wait()
    while len(calls) < 5:
        await asyncio.sleep(0.005)
    late = await model.generate(late_prompt, None, short_cfg)
    assert not long.done() or not continuous  # joined and finished while the first was generating
    first = await long
    assert first.token_ids == alone_long.token_ids and late.token_ids == alone_late.token_ids
    assert first.logprobs is not None and alone_long.logprobs is not None
    assert max(abs(x - y) for x, y in zip(first.logprobs, alone_long.logprobs, strict=True)) < 1e-4
    if continuous:  # one prefill of the late call, then decoding steps with both rows
        assert 2 in calls and len(calls) == 30 + 1
    else:  # it waited for the batch: a batch of one, then another
        assert set(calls) == {1} and len(calls) == 30 + 5
    await model.close()
