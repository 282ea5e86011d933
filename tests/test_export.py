"""Exports: SFT, DPO, RM and raw rows, as JSONL and Parquet, read back with Hugging Face ``datasets``
and checked with TRL's data utilities and a tiny tokenizer built here (nothing is downloaded)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from palaestra import RunConfig, Store, run
from palaestra.errors import UsageError
from palaestra.export import export
from palaestra.models.base import GenerateConfig, ModelOutput
from palaestra.models.mock import MockModel
from palaestra.types import Message, ToolSpec

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]
RANGE = re.compile(r"between (\d+) and (\d+)")
ANSWER = re.compile(r"(\d+) is too (low|high)")


# ---- runs to export -----------------------------------------------------------------------------
class Guesser:
    """A scripted model for the guess env: even episodes binary-search (and win), odd ones send
    malformed calls and prose (and fail). Episodes must run one at a time (``concurrency=1``)."""

    def __init__(self) -> None:
        self.episodes = 0

    def __call__(self, messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        if len(messages) == 2:  # system + goal: a new episode
            self.episodes += 1
        good = self.episodes % 2 == 1
        if not good:
            if len(messages) == 2:
                return {"tool_calls": [{"name": "guess", "arguments": "{oops"}]}
            return "I am not sure what to do."
        m = RANGE.search(messages[1].content)
        assert m is not None
        lo, hi = int(m.group(1)), int(m.group(2))
        for msg in messages:
            if msg.role == "tool" and (a := ANSWER.search(msg.content)):
                x = int(a.group(1))
                lo, hi = (max(lo, x + 1), hi) if a.group(2) == "low" else (lo, min(hi, x - 1))
        return {"content": "Halving the range.", "tool": "guess", "arguments": {"number": (lo + hi) // 2}}


class WithTokens:
    """A model that returns token ids and logprobs, as vLLM does when asked."""

    def __init__(self, inner: MockModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_concurrency = 1

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        out = await self.inner.generate(messages, tools, config)
        return out.model_copy(
            update={"token_ids": [5, 6, 7], "logprobs": [-0.5, -0.25, -0.125], "prompt_token_ids": [1, 2]}
        )

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    db = tmp_path_factory.mktemp("export") / "s.db"
    st = Store(db)

    async def make() -> dict[str, str]:
        both = ["guess", "maze"]
        return {
            "expert": await run(RunConfig(envs=both, agent="expert", tasks=4), st),
            "random": await run(RunConfig(envs=both, agent="random", tasks=4, max_steps=5), st),
            "tools": await run(
                RunConfig(
                    envs=["guess"],
                    agent="tools",
                    model="mock",
                    tasks=3,
                    samples=2,
                    difficulty=1,
                    concurrency=1,
                    max_steps=10,
                ),
                st,
                model=WithTokens(MockModel(Guesser())),  # type: ignore[arg-type]
            ),
        }

    ids = asyncio.run(make())
    eps = Store(db).episodes(ids["tools"])
    assert [bool(e["success"]) for e in eps] == [True, False] * 3  # the fixture is what the tests assume
    st.close()
    return db, ids


def _load(path: Path) -> Any:
    datasets = pytest.importorskip("datasets")
    kind = "json" if path.suffix == ".jsonl" else "parquet"
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def _tools(row: dict[str, Any]) -> list[dict[str, Any]]:
    tools = row["tools"]
    return json.loads(tools) if isinstance(tools, str) else list(tools)


# ---- a tiny tokenizer with a tool-aware chat template ---------------------------------------------
TEMPLATE = (
    "{%- if tools %}<|system|>You may call: {% for t in tools %}{{ t.function.name }} "
    "{{ t.function.parameters | tojson }}; {% endfor %}<|end|>\n{% endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}<|assistant|>{% generation %}{{ m.content }}"
    "{%- for c in m.tool_calls or [] %}<call>{{ c.function.name }} {{ c.function.arguments | tojson }}</call>"
    "{%- endfor %}<|end|>{% endgeneration %}\n"
    "{%- elif m.role == 'tool' %}<|tool|>{{ m.name }}: {{ m.content }}<|end|>\n"
    "{%- else %}<|{{ m.role }}|>{{ m.content }}<|end|>\n{% endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>", "<|pad|>"]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    """A byte-level tokenizer (every byte one token, no merges): lossless on any text, built offline."""
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    alphabet = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|end|>", pad_token="<|pad|>", chat_template=TEMPLATE
    )
    fast.add_special_tokens({"additional_special_tokens": SPECIALS})
    return fast


# ---- SFT ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_sft_rows_are_trl_conversations_with_tools(
    data: tuple[Path, dict[str, str]], tokenizer: Any, tmp_path: Path, ext: str
) -> None:
    trl = pytest.importorskip("trl.data_utils")
    db, ids = data
    out = tmp_path / f"sft.{ext}"
    res = export(Store(db), [ids["tools"], ids["expert"], ids["random"]], "sft", out)
    assert res.rows == res.episodes == 3 + 8  # the successes: 3 tools episodes, 8 expert ones
    ds = _load(out)
    assert len(ds) == 11 and {"messages", "tools", "env", "task_id", "reward", "success"} <= set(
        ds.column_names
    )
    assert all(ds["success"]) and set(ds["env"]) == {"guess", "maze"}
    for row in ds:
        assert trl.is_conversational(row)
        msgs = row["messages"]
        assert [m["role"] for m in msgs[:2]] == ["system", "user"] and msgs[-1]["role"] == "assistant"
        calls = {
            m["tool_calls"][0]["id"]: m for m in msgs if m["role"] == "assistant" and m.get("tool_calls")
        }
        for m in msgs:
            if m["role"] == "tool":
                assert m["tool_call_id"] in calls and m["name"]
        names = {t["function"]["name"] for t in _tools(row)}
        assert names == ({"guess"} if row["env"] == "guess" else names) and names
        for m in calls.values():  # arguments keep exactly their own keys (no null-filled struct union)
            args = m["tool_calls"][0]["function"]["arguments"]
            assert isinstance(args, dict) and set(args) <= {"number", "direction", "steps", "to"}
            assert None not in args.values()
        text = trl.maybe_apply_chat_template(row, tokenizer, tools=_tools(row))["text"]
        assert text.startswith("<|system|>You may call: ") and "<call>" in text

    tools_row = next(r for r in ds if r["agent"] == "tools")
    assert tools_row["messages"][2]["content"] == "Halving the range."
    assert (
        tools_row["model"] == "mock"
        and tools_row["messages"][2]["tool_calls"][0]["function"]["name"] == "guess"
    )


def test_sft_assistant_only_loss_masks_only_the_agent_turns(
    data: tuple[Path, dict[str, str]], tokenizer: Any, tmp_path: Path
) -> None:
    """What SFTTrainer(assistant_only_loss=True) does: the template's generation spans become the mask."""
    db, ids = data
    out = tmp_path / "sft.parquet"
    export(Store(db), [ids["tools"]], "sft", out)
    row = _load(out)[0]
    enc = tokenizer.apply_chat_template(
        row["messages"],
        tools=_tools(row),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids_, mask = enc["input_ids"], enc["assistant_masks"]
    assert len(ids_) == len(mask) and 0 < sum(mask) < len(mask)
    trained = tokenizer.decode([t for t, m in zip(ids_, mask, strict=True) if m])
    ignored = tokenizer.decode([t for t, m in zip(ids_, mask, strict=True) if not m])
    assert "Halving the range." in trained and '<call>guess {"number":' in trained
    assert "too low" not in trained and "too high" not in trained and "Guess it." not in trained
    assert "Guess it." in ignored and ("too low" in ignored or "too high" in ignored)
    n_turns = sum(m["role"] == "assistant" for m in row["messages"])
    assert trained.count("<call>guess") == n_turns


def test_sft_filters(data: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = data
    st = Store(db)
    failed = export(st, [ids["tools"]], "sft", tmp_path / "f.jsonl", filter="failed")
    assert failed.rows == 3
    rows = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert not any(r["success"] for r in rows)
    first = rows[0]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert first == "{oops"  # unparseable arguments keep the model's raw text
    assert export(st, [ids["tools"]], "sft", tmp_path / "a.jsonl", filter="all").rows == 6
    only = export(st, [ids["expert"]], "sft", tmp_path / "m.jsonl", env="maze")
    assert only.rows == 4
    none = export(st, [ids["random"]], "sft", tmp_path / "n.jsonl")
    assert none.rows == 0 and "no success episodes" in none.note and (tmp_path / "n.jsonl").exists()


# ---- DPO ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_dpo_pairs_share_their_prefix(
    data: tuple[Path, dict[str, str]], tokenizer: Any, tmp_path: Path, ext: str
) -> None:
    trl = pytest.importorskip("trl.data_utils")
    db, ids = data
    out = tmp_path / f"dpo.{ext}"
    res = export(Store(db), [ids["expert"], ids["random"], ids["tools"]], "dpo", out)
    ds = _load(out)
    assert res.rows == len(ds) > 0
    assert {"prompt", "chosen", "rejected", "tools", "chosen_episode_id", "rejected_episode_id"} <= set(
        ds.column_names
    )
    st = Store(db)
    for row in ds:
        assert trl.is_conversational(row)
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] in ("user", "tool")
        assert len(row["chosen"]) == len(row["rejected"]) == 1
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen"][0] != row["rejected"][0]
        chosen = next(e for e in st.episodes(row["chosen_run_id"]) if e["id"] == row["chosen_episode_id"])
        rejected = next(
            e for e in st.episodes(row["rejected_run_id"]) if e["id"] == row["rejected_episode_id"]
        )
        assert chosen["success"] and not rejected["success"]
        assert chosen["task_id"] == rejected["task_id"] == row["task_id"]
        assert row["divergence_turn"] == sum(m["role"] == "assistant" for m in row["prompt"])
        t = trl.maybe_apply_chat_template(row, tokenizer, tools=_tools(row))
        assert t["prompt"].endswith("<|assistant|>") and t["chosen"].endswith("<|end|>")
        assert t["chosen"] != t["rejected"]
    # the tools run pairs its two samples of each task: same goal, so a shared system+user prefix
    tools_rows = [r for r in ds if r["chosen_run_id"] == ids["tools"]]
    assert len(tools_rows) == 3 and all(r["rejected_run_id"] == ids["tools"] for r in tools_rows)


def test_dpo_trajectory_mode_and_errors(data: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = data
    st = Store(db)
    out = tmp_path / "traj.jsonl"
    res = export(st, [ids["tools"]], "dpo", out, dpo_mode="trajectory")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert res.rows == 3 and all(len(r["chosen"]) > 1 for r in rows)
    for r in rows:
        assert r["chosen"][-1]["role"] == r["rejected"][-1]["role"] == "assistant"
        assert r["prompt"][-1]["role"] == "user"  # they differ from the first action on
    lonely = export(st, [ids["expert"]], "dpo", tmp_path / "none.jsonl")
    assert lonely.rows == 0 and "--samples" in lonely.note
    with pytest.raises(UsageError, match="--filter does not apply"):
        export(st, [ids["tools"]], "dpo", out, filter="all")
    with pytest.raises(UsageError, match="valid formats"):
        export(st, [ids["tools"]], "kto", out)
    with pytest.raises(UsageError, match=r"FILE\.jsonl or FILE\.parquet"):
        export(st, [ids["tools"]], "sft", tmp_path / "out.csv")
    with pytest.raises(UsageError, match="valid modes: step, trajectory"):
        export(st, [ids["tools"]], "dpo", out, dpo_mode="tree")


# ---- RM -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_rm_triplets_in_implicit_prompt_format(
    data: tuple[Path, dict[str, str]], tokenizer: Any, tmp_path: Path, ext: str
) -> None:
    trl = pytest.importorskip("trl.data_utils")
    db, ids = data
    out = tmp_path / f"rm.{ext}"
    res = export(Store(db), [ids["expert"], ids["random"], ids["tools"]], "rm", out)
    ds = _load(out)
    assert res.rows == len(ds) > 0 and "prompt" not in ds.column_names
    for row in ds:
        assert trl.is_conversational(row)
        c, r = row["chosen"], row["rejected"]
        assert c[:2] == r[:2] and c[1]["content"] == row["task"]
        assert c[-1]["role"] == r[-1]["role"] == "assistant"  # outcomes ("correct!") are not given away
        t = trl.maybe_apply_chat_template({"chosen": c, "rejected": r}, tokenizer, tools=_tools(row))
        assert t["chosen"].startswith("<|system|>") and t["chosen"] != t["rejected"]
        split = trl.maybe_extract_prompt({"chosen": c, "rejected": r})
        assert split["prompt"] == c[: len(split["prompt"])] and len(split["prompt"]) >= 2
        assert row["chosen_reward"] > row["rejected_reward"]


# ---- raw ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_raw_keeps_every_field_with_token_ids(
    data: tuple[Path, dict[str, str]], tmp_path: Path, ext: str
) -> None:
    db, ids = data
    out = tmp_path / f"raw.{ext}"
    res = export(Store(db), [ids["tools"], ids["random"]], "raw", out)
    ds = _load(out)
    assert res.rows == len(ds) == 6 + 8
    for key in ("run_id", "id", "task", "steps", "final", "calls", "error", "status", "wall", "input_tokens"):
        assert key in ds.column_names, key
    for row in ds:
        assert len(row["steps"]) == row["n_steps"] and row["task"]["id"] == row["task_id"]
        assert {"observation", "action", "reward", "info"} <= set(row["steps"][0])
        if row["run_id"] == ids["tools"]:
            assert len(row["calls"]) == row["model_calls"] == row["n_steps"]
            call = row["calls"][0]
            assert call["token_ids"] == [5, 6, 7] and call["logprobs"] == [-0.5, -0.25, -0.125]
            assert call["prompt_token_ids"] == [1, 2] and call["finish_reason"] == "tool_calls"
        else:
            assert row["calls"] == [] and row["agent"] == "random"


def test_cli_export(data: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = data
    out = tmp_path / "x.jsonl"
    args = [*PALAESTRA, "export", ids["tools"], "--format", "sft", "--out", str(out), "--store", str(db)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote 3 sft rows" in r.stdout and len(out.read_text().splitlines()) == 3
    r = subprocess.run(
        [
            *PALAESTRA,
            "export",
            ids["expert"],
            "-f",
            "dpo",
            "-o",
            str(tmp_path / "d.jsonl"),
            "--store",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "wrote 0 dpo rows" in r.stdout and "warning" in r.stderr
    r = subprocess.run(
        [*PALAESTRA, "export", ids["expert"], "--out", str(tmp_path / "x.txt"), "--store", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "FILE.jsonl or FILE.parquet" in r.stderr


@pytest.mark.slow
def test_trl_trainers_take_the_exports(
    data: tuple[Path, dict[str, str]], tokenizer: Any, tmp_path: Path
) -> None:
    """One optimisation step of SFTTrainer (assistant-only loss), DPOTrainer and RewardTrainer on
    the Parquet exports, with a tiny randomly initialised model: the files are what TRL trains on."""
    pytest.importorskip("torch")
    trl = pytest.importorskip("trl")
    transformers = pytest.importorskip("transformers")
    import copy

    db, ids = data
    st, runs = Store(db), [ids["tools"], ids["expert"], ids["random"]]
    for fmt in ("sft", "dpo", "rm"):
        export(st, runs, fmt, tmp_path / f"{fmt}.parquet")
    cfg = dict(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    common = dict(max_steps=1, per_device_train_batch_size=2, report_to=[], use_cpu=True, save_strategy="no")
    policy = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg))
    trainers = [
        trl.SFTTrainer(
            model=policy,
            args=trl.SFTConfig(
                output_dir=str(tmp_path / "sft"), assistant_only_loss=True, max_length=4096, **common
            ),
            train_dataset=_load(tmp_path / "sft.parquet"),
            processing_class=tokenizer,
        ),
        trl.DPOTrainer(
            model=policy,
            ref_model=copy.deepcopy(policy),
            args=trl.DPOConfig(output_dir=str(tmp_path / "dpo"), max_length=4096, **common),
            train_dataset=_load(tmp_path / "dpo.parquet"),
            processing_class=tokenizer,
        ),
        trl.RewardTrainer(
            model=transformers.LlamaForSequenceClassification(transformers.LlamaConfig(num_labels=1, **cfg)),
            args=trl.RewardConfig(output_dir=str(tmp_path / "rm"), max_length=4096, **common),
            train_dataset=_load(tmp_path / "rm.parquet"),
            processing_class=tokenizer,
        ),
    ]
    for trainer in trainers:
        result = trainer.train()
        assert result.global_step == 1 and math.isfinite(result.training_loss)


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_search_exports_sibling_pairs_and_the_best_branch(tokenizer: Any, tmp_path: Path, ext: str) -> None:
    """search-dpo: at each searched step the best valued root child against each lower valued one,
    the prompt being the conversation up to that step; search-sft: the searched episodes' own
    trajectories (the branch the search played). A run without search gives neither."""
    trl = pytest.importorskip("trl.data_utils")
    st = Store(tmp_path / "s.db")
    opts = {"inner": "noisy", "epsilon": 0.5, "simulations": 6, "k": 3}
    searched_run = asyncio.run(
        run(RunConfig(envs=["maze", "crafting"], agent="mcts", agent_options=opts, tasks=2, max_steps=8), st)
    )
    plain = asyncio.run(run(RunConfig(envs=["maze"], agent="expert", tasks=1), st))
    out = tmp_path / f"pairs.{ext}"
    res = export(st, [searched_run], "search-dpo", out)
    ds = _load(out)
    assert res.rows == len(ds) > 0
    for row in ds:
        assert trl.is_conversational(row) and row["chosen_value"] > row["rejected_value"]
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] in ("user", "tool")
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen"][0] != row["rejected"][0]
        steps = st.episode(row["run_id"], row["episode_id"])["steps"]
        kids = steps[row["step"]]["trace"]["tree"]["children"]
        assert row["chosen_value"] == max(k["value"] for k in kids if k["visits"])
        assert sum(m["role"] == "assistant" for m in row["prompt"]) == row["step"]
        t = trl.maybe_apply_chat_template(row, tokenizer, tools=_tools(row))
        assert t["prompt"].endswith("<|assistant|>") and t["chosen"] != t["rejected"]
    sft = export(st, [searched_run, plain], "search-sft", tmp_path / f"sft.{ext}")
    successes = [e for e in st.episodes(searched_run) if e["success"]]
    assert sft.rows == len(successes) > 0
    assert {r["run_id"] for r in _load(tmp_path / f"sft.{ext}")} == {searched_run}
    none = export(st, [plain], "search-dpo", tmp_path / f"none.{ext}")
    assert none.rows == 0 and "search strategy" in none.note
