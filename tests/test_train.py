"""palaestra train: examples from exports, SFT/DPO/LoRA on a micro model, the whole pipeline, errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clitools import stderr_lines
from palaestra.chat import chat_messages, chat_tools
from palaestra.cli import app
from palaestra.errors import UsageError
from palaestra.models.chat_format import fit_messages
from palaestra.testing.micro import build_micro_model
from palaestra.train import (
    TrainConfig,
    load_rows,
    make_config,
    prompt_counter,
    sft_examples,
    sft_sequences,
    train_dpo,
    train_sft,
)
from palaestra.types import Message, ToolCall, ToolSpec

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]
GUESS = ToolSpec(
    name="guess",
    description="Guess the hidden number.",
    parameters={"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]},
)


def invoke(*args: str) -> Any:
    """The CLI in this process (torch and TRL are imported once for the whole module)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_micro_model(tmp_path_factory.mktemp("micro") / "micro")


@pytest.fixture(scope="module")
def tokenizer(micro: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(micro, local_files_only=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An expert run and a random run (2 samples) on the same 8 train tasks of guess, exported."""
    d = tmp_path_factory.mktemp("data")
    db = str(d / "s.db")
    invoke("run", "guess", "--agent", "expert", "--tasks", "8", "--split", "train", "--store", db)
    invoke("export", "last", "--format", "sft", "--out", str(d / "sft.jsonl"), "--store", db)
    invoke("export", "last", "--format", "sft", "--out", str(d / "sft.parquet"), "--store", db)
    expert = json.loads(invoke("runs", "--json", "--store", db).stdout)[0]["id"]
    invoke(
        "run",
        "guess",
        "--agent",
        "random",
        "--tasks",
        "8",
        "--split",
        "train",
        "--samples",
        "2",
        "--store",
        db,
    )
    invoke("export", expert, "last", "--format", "dpo", "--out", str(d / "dpo.jsonl"), "--store", db)
    invoke("export", "last", "--format", "sft", "--out", str(d / "none.jsonl"), "--store", db)  # no successes
    names = ("sft.jsonl", "sft.parquet", "dpo.jsonl", "none.jsonl")
    return {name.replace(".jsonl", "").replace("sft.", ""): d / name for name in names}


def conversation(turns: int) -> list[Message]:
    """A guess-like episode: system, the goal, then ``turns`` tool calls each answered."""
    msgs = [
        Message(role="system", content="Find a hidden integer."),
        Message(role="user", content="I am thinking of an integer between 0 and 99. Guess it."),
    ]
    for i in range(turns):
        call = ToolCall(id=f"c{i}", name="guess", arguments={"number": 10 + i})
        msgs.append(Message(role="assistant", tool_calls=[call]))
        msgs.append(Message(role="tool", tool_call_id=f"c{i}", name="guess", content=f"{10 + i} is too low."))
    msgs.append(Message(role="assistant", content="I give up."))
    return msgs


def test_sft_examples_one_per_assistant_turn(tokenizer: Any) -> None:
    msgs = chat_messages(conversation(3))
    row = {"messages": msgs, "tools": chat_tools([GUESS])}
    examples = sft_examples([row, {"messages": msgs[:4], "tools": []}], tokenizer, 10_000)
    assert len(examples) == 4 + 1
    turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    for ex, i in zip(examples, turns, strict=False):
        assert ex["prompt"] == msgs[:i]  # everything before the turn, nothing cut at this budget
        assert ex["prompt"][-1]["role"] in ("user", "tool")
        assert ex["completion"] == [msgs[i]]
        assert ex["tools"] == row["tools"]
    assert examples[-1]["tools"] is None  # a row without tools renders as the provider's tools=None


@pytest.mark.parametrize("seed", range(40))
def test_every_turn_is_cut_as_fit_messages_cuts_it_alone(seed: int) -> None:
    """sft_examples cuts all of an episode's turns in one incremental pass; each prompt must be
    exactly what fit_messages gives for that turn on its own (what the provider sends), including
    turns refused because even the head and the last turn do not fit."""
    import random

    from palaestra.train.data import _turn_prompts

    rng = random.Random(seed)
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "s" * rng.randint(0, 30)}] * rng.randint(0, 1)
    msgs += [{"role": "user", "content": "u" * rng.randint(1, 60)}] * rng.randint(0, 1)
    for _ in range(rng.randint(1, 15)):
        msgs.append({"role": "assistant", "content": "a" * rng.randint(1, 25)})
        msgs += [{"role": "tool", "content": "t" * rng.randint(1, 50)}] * rng.randint(0, 3)
        if rng.random() < 0.2:
            msgs.append({"role": "user", "content": "u" * rng.randint(1, 20)})

    def count(m: list[dict[str, Any]]) -> int:  # tokens grow with every message, as in real templates
        return sum(3 + len(x["content"]) for x in m) + 2

    budget = rng.randint(10, 250)
    want = []
    for i, m in enumerate(msgs):
        if m["role"] == "assistant" and i > 0:
            cut = fit_messages(msgs[:i], count, budget)
            want.append((i, cut if count(cut) <= budget else None))
    assert list(_turn_prompts(msgs, count, budget)) == want


def test_long_prompt_is_cut_like_the_local_provider(tokenizer: Any, micro: Path) -> None:
    from palaestra.models.local import LocalModel

    convo = conversation(12)
    msgs, tools = chat_messages(convo), chat_tools([GUESS])
    count = prompt_counter(tokenizer, tools)
    budget = count(msgs[:4]) + 30  # the head, one turn and a bit
    examples = sft_examples([{"messages": msgs, "tools": tools}], tokenizer, budget)
    assert len(examples) == 13
    last = examples[-1]
    assert count(last["prompt"]) <= budget < count(msgs[:-1])
    assert last["prompt"][:2] == msgs[:2]  # system prompt and the goal are kept
    assert last["prompt"][2]["role"] == "assistant"  # whole turns dropped, no orphan tool result
    assert last["prompt"][-2:] == msgs[-3:-1]  # the latest turn is kept
    assert last["prompt"] == fit_messages(msgs[:-1], count, budget)
    # the very tokens the local provider gives the model when it acts at that point
    model = LocalModel(str(micro))
    model.max_prompt_tokens = budget
    try:
        for ex, i in ((examples[-1], len(convo) - 1), (examples[5], 12)):
            want = tokenizer.apply_chat_template(
                ex["prompt"], tools=tools, add_generation_prompt=True, return_dict=False
            )
            assert model.prompt_ids(convo[:i], [GUESS]) == list(want)
    finally:
        asyncio.run(model.close())


def _turn_ids(tokenizer: Any, ex: dict[str, Any]) -> tuple[list[int], list[int]]:
    """A per-turn example's prompt tokens (as the provider gives them) and reply tokens."""
    prompt = tokenizer.apply_chat_template(
        ex["prompt"], tools=ex["tools"], add_generation_prompt=True, tokenize=False
    )
    full = tokenizer.apply_chat_template(ex["prompt"] + ex["completion"], tools=ex["tools"], tokenize=False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    return ids[:n], ids[n:]


def test_first_turns_share_one_sequence_and_loss_is_unchanged(tokenizer: Any, micro: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    msgs, tools = chat_messages(conversation(12)), chat_tools([GUESS])
    row = {"messages": msgs, "tools": tools}
    count = prompt_counter(tokenizer, tools)
    budget = count(msgs[:10]) + 5  # the first 5 replies see their whole prompt, the other 8 a cut one
    examples = sft_examples([row], tokenizer, budget)
    sequences, turns, skipped = sft_sequences([row], tokenizer, budget)
    assert (turns, skipped, len(examples)) == (13, 0, 13)
    assert len(sequences) == 1 + 8  # one shared sequence, then a sequence per cut turn
    model = AutoModelForCausalLM.from_pretrained(micro, local_files_only=True).eval()

    def logprobs(ids: list[int]) -> Any:
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].log_softmax(-1)

    shared = sequences[0]
    lp = logprobs(shared["input_ids"])
    at = [i for i, m in enumerate(shared["completion_mask"]) if m]
    trained = [shared["input_ids"][i] for i in at]
    want: list[int] = []
    for ex in examples[:5]:
        prompt, reply = _turn_ids(tokenizer, ex)
        assert shared["input_ids"][: len(prompt)] == prompt  # the shared sequence holds each prompt whole
        one = logprobs(prompt + reply)
        # the loss the shared sequence gives each reply token is the one its own example gives
        pos = [p for p in at if len(prompt) <= p < len(prompt) + len(reply)]
        assert [shared["input_ids"][p] for p in pos] == reply
        mine = torch.stack([lp[p - 1, shared["input_ids"][p]] for p in pos])
        theirs = torch.stack([one[len(prompt) + k - 1, t] for k, t in enumerate(reply)])
        assert torch.allclose(mine, theirs, atol=1e-5)
        want += reply
    assert trained == want  # nothing but the five replies is trained on
    for seq, ex in zip(sequences[1:], examples[5:], strict=True):
        prompt, reply = _turn_ids(tokenizer, ex)
        assert seq["input_ids"] == prompt + reply
        assert seq["completion_mask"] == [0] * len(prompt) + [1] * len(reply)


@pytest.mark.parametrize("completion_only", [True, False])
def test_loss_covers_replies_or_every_token(
    completion_only: bool, data: dict[str, Path], tokenizer: Any, micro: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    from palaestra.train.trainer import _deps, _trainer

    sequences, _, _ = sft_sequences(load_rows(data["sft"])[:2], tokenizer, 160)
    model = AutoModelForCausalLM.from_pretrained(micro, local_files_only=True)
    common = {"output_dir": str(tmp_path), "report_to": "none", "use_cpu": True, "max_length": 256}
    trainer = _trainer("sft", _deps(), model, tokenizer, sequences, common, None, completion_only)
    for seq, example in zip(sequences, trainer.train_dataset, strict=True):
        trained = [t for t, label in zip(seq["input_ids"], example["labels"], strict=True) if label != -100]
        if completion_only:
            assert trained == [t for t, m in zip(seq["input_ids"], seq["completion_mask"], strict=True) if m]
        else:
            assert trained == seq["input_ids"]


def test_load_rows_reads_jsonl_and_parquet_alike(data: dict[str, Path]) -> None:
    a, b = load_rows(data["sft"]), load_rows(data["parquet"])
    assert len(a) == 8 and a == b
    assert isinstance(b[0]["messages"][2]["tool_calls"][0]["function"]["arguments"], dict)
    assert len(load_rows([data["sft"], data["parquet"]])) == 16


def test_pipeline_run_export_train_act(data: dict[str, Path], micro: Path, tmp_path: Path) -> None:
    """Expert episodes -> SFT export -> train the micro model -> act with it as local:OUT."""
    out = tmp_path / "trained"
    invoke(
        "train", "sft", str(data["sft"]), "--model", str(micro), "--out", str(out),
        "--max-steps", "8", "--batch-size", "4", "--lr", "3e-3", "--max-prompt-tokens", "160",
        "--logging-steps", "1",
    )  # fmt: skip
    record = json.loads((out / "train.json").read_text())
    losses = [loss for _, loss in record["losses"]]
    assert record["steps"] == 8 and len(losses) == 8
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.05, losses  # it learned, not just finite
    assert record["examples"] == sum(r["steps"] for r in load_rows(data["sft"]))  # a turn each
    assert record["data"][0]["sha256"] and record["device"] == "cpu"
    assert (out / "model.safetensors").is_file() and (out / "chat_template.jinja").is_file()
    assert json.loads((out / "palaestra.json").read_text())["max_prompt_tokens"] == 160
    assert not list(tmp_path.glob(".*.tmp")) and sorted(p.name for p in tmp_path.iterdir()) == ["trained"]

    db = str(tmp_path / "acts.db")
    args = [
        "run",
        "guess",
        "--model",
        f"local:{out}",
        "--tasks",
        "2",
        "--max-steps",
        "2",
        "--max-tokens",
        "12",
    ]
    summary = json.loads(invoke(*args, "--store", db, "--json").stdout)
    assert summary["episodes"] == 2 and summary["errors"] == 0 and summary["timeouts"] == 0
    assert summary["output_tokens"] > 0


def test_dpo_step_writes_a_loadable_model(data: dict[str, Path], micro: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = load_rows(data["dpo"])
    assert rows and all(r["chosen"][0]["role"] == "assistant" for r in rows)
    out = tmp_path / "dpo"
    result = json.loads(
        invoke(
            "train", "dpo", str(data["dpo"]), "--model", str(micro), "--out", str(out), "--max-steps", "1",
            "--batch-size", "2", "--lr", "1e-3", "--max-prompt-tokens", "160", "--json",
        ).stdout
    )  # fmt: skip
    assert result["kind"] == "dpo" and result["steps"] == 1 and result["examples"] == len(rows)
    assert result["final_loss"] == pytest.approx(0.6931, abs=0.01)  # log 2: policy == reference at the start
    trained = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(micro, local_files_only=True)
    assert AutoTokenizer.from_pretrained(out, local_files_only=True).chat_template
    moved = [n for n, p in trained.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert moved


def test_lora_output_is_a_merged_plain_model(data: dict[str, Path], micro: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    lines: list[str] = []
    config = TrainConfig(lora=True, lora_r=4, max_steps=2, batch_size=4, lr=1e-2, logging_steps=1)
    res = train_sft(load_rows(data["sft"]), str(micro), out, config, log=lines.append)
    assert res.steps == 2 and len(lines) == 2 and lines[0].startswith("step 1/2  loss ")
    assert not (out / "adapter_config.json").exists() and not (out / "adapter_model.safetensors").exists()
    trained = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(micro, local_files_only=True)
    state = trained.state_dict()
    assert set(state) == set(base.state_dict()) and not any("lora" in k for k in state)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(state[q], base.state_dict()[q])  # the adapter was merged in
    assert json.loads((out / "train.json").read_text())["config"]["lora"] is True


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PALAESTRA, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such data file"),
        ("empty", "no SFT rows to train on: the export had no successful episodes?"),
        ("not-empty", "exists and is not empty; pass --overwrite"),
        ("no-model", "no local model at"),
        ("wrong-format", "is not a SFT row (no messages)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    case: str, message: str, data: dict[str, Path], micro: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    src, model = str(data["sft"]), str(micro)
    if case == "missing":
        src = str(tmp_path / "nope.jsonl")
    elif case == "empty":
        src = str(data["none"])
    elif case == "not-empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no-model":
        model = str(tmp_path / "nomodel")
    else:
        src = str(data["dpo"])
    r = cli("train", "sft", src, "--model", model, "--out", str(out))
    assert r.returncode == 2, r.stderr
    lines = stderr_lines(r.stderr)
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert (out / "keep.txt").read_text() == "mine" if case == "not-empty" else not out.exists()


def test_api_errors_before_any_training(data: dict[str, Path], micro: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no DPO pairs to train on"):
        train_dpo(data["none"], str(micro), tmp_path / "o")
    with pytest.raises(UsageError, match="not a mix"):
        train_sft([data["sft"], {"messages": []}], str(micro), tmp_path / "o")  # type: ignore[list-item]
    with pytest.raises(UsageError, match="bad training setting lr"):
        make_config(lr=-1)
    assert not (tmp_path / "o").exists()
