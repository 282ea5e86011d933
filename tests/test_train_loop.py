"""DAgger and GRPO on a micro model: export -> SFT -> DAgger (one iteration) -> GRPO steps -> load -> run,
each stage checked for what it must change; the GRPO loss's parts on their own."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clitools import stderr_lines
from palaestra import Env, EnvSpec, register, tool
from palaestra.cli import app
from palaestra.errors import UsageError
from palaestra.store.sqlite import Store
from palaestra.testing.micro import build_micro_model
from palaestra.tools import ToolResult
from palaestra.train import TrainConfig, train_sft
from palaestra.train.grpo import (
    Sample,
    batch_tensors,
    collect_samples,
    group_advantages,
    policy_loss,
    token_logprobs,
)
from palaestra.types import Task

# the whole micro pipeline (export, SFT, DAgger, GRPO, load, run): about 20 s of CPU; CI runs it
pytestmark = pytest.mark.slow


class Parity(Env):
    """One reply: it succeeds when its text has an even number of characters. A random model
    succeeds about half the time, so GRPO groups have signal from the first step."""

    spec = EnvSpec(name="parity", description="Reply with an even number of characters.", max_steps=1)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"n": rng.randrange(10**9)}

    def setup(self, task: Task) -> str:
        return "Say anything."

    @tool
    def say(self, text: str) -> str:
        """Say something.

        Args:
            text: what to say.
        """
        self.finish(len(text) % 2 == 0)
        return "ok"

    async def on_text(self, text: str) -> ToolResult:
        self.finish(len(text) % 2 == 0)
        return ToolResult("ok")


register(Parity)


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def changed(a: Path, b: Path) -> list[str]:
    import torch

    wa, wb = weights(a), weights(b)
    return [k for k in wa if not torch.equal(wa[k], wb[k])]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loop")


@pytest.fixture(scope="module")
def sft(root: Path) -> Path:
    """Expert episodes of guess -> SFT export -> the micro model fine-tuned on them."""
    micro = build_micro_model(root / "micro")
    db = str(root / "expert.db")
    invoke("run", "guess", "--agent", "expert", "--tasks", "6", "--split", "train", "--store", db)
    invoke("export", "last", "--format", "sft", "--out", str(root / "expert.jsonl"), "--store", db)
    config = TrainConfig(max_steps=4, batch_size=4, lr=3e-3, max_prompt_tokens=200)
    train_sft([root / "expert.jsonl"], micro, root / "sft", config, log=lambda _: None)
    assert changed(micro, root / "sft")  # SFT moved the weights
    return root / "sft"


@pytest.fixture(scope="module")
def dagger_dir(root: Path, sft: Path) -> Path:
    work = root / "dagger"
    invoke(
        "train", "dagger", "guess", "--model", str(sft), "--out", str(work), "--iterations", "1",
        "--tasks", "2", "--eval-tasks", "2", "--difficulty", "1", "--max-steps", "3", "--max-tokens", "16",
        "--max-train-steps", "2", "--lr", "1e-2", "--max-prompt-tokens", "200",
        "--data", str(root / "expert.jsonl"), "--json",
    )  # fmt: skip
    return work


def test_dagger_labels_the_states_the_model_visited_with_the_expert(dagger_dir: Path, sft: Path) -> None:
    record = json.loads((dagger_dir / "dagger.json").read_text())
    zero, one = record["rows"]
    assert zero["iteration"] == 0 and zero["model"] == str(sft) and zero["eval_run"]
    store = Store(dagger_dir / "dagger.db")
    try:
        episodes = [
            store.episode_detail(one["rollout_run"], r.id) for r in store.episode_rows(one["rollout_run"])
        ]
        assert store.run_row(zero["eval_run"]) and len(episodes) == 2
    finally:
        store.close()
    labels = [json.loads(line) for line in (dagger_dir / "iter1" / "labels.jsonl").read_text().splitlines()]
    # one label per state the model visited (no replay diverged: envs are deterministic)
    assert one["diverged"] == 0 and one["states"] == len(labels) == sum(len(e.steps) for e in episodes)
    expert_rows = len((dagger_dir.parent / "expert.jsonl").read_text().splitlines())
    assert one["rows"] == len(labels) + expert_rows  # aggregated with the --data demonstrations
    from palaestra.export.conversation import conversation

    for ep in episodes:
        mine = [r for r in labels if r["episode_id"] == ep.row.id]
        conv = conversation(ep, final=False)
        low, high = ep.task["params"]["low"], ep.task["params"]["high"]
        for k, row in enumerate(mine):
            *prompt, label = row["messages"]
            assert row["train_turns"] == [len(prompt)]  # only the expert's label is trained on
            assert prompt == conv[: len(prompt)]  # the model's own history, as it saw it
            assert label["role"] == "assistant" and label["tool_calls"][0]["function"]["name"] == "guess"
            if k == 0:  # the first state: the expert halves the whole range
                assert label["tool_calls"][0]["function"]["arguments"] == {"number": (low + high) // 2}
    assert changed(sft, dagger_dir / "iter1" / "model")  # retrained from the base on the labels
    assert (dagger_dir / "curve.svg").read_text().startswith("<svg")


def test_dagger_trains_only_the_labelled_turn(dagger_dir: Path) -> None:
    from transformers import AutoTokenizer

    from palaestra.train import load_rows, sft_examples

    rows = load_rows(dagger_dir / "iter1" / "labels.jsonl")
    tok = AutoTokenizer.from_pretrained(dagger_dir / "iter1" / "model", local_files_only=True)
    examples = sft_examples(rows, tok, 10_000)
    assert len(examples) == len(rows)  # earlier assistant turns (the model's actions) are not targets
    assert [e["completion"][0] for e in examples] == [r["messages"][-1] for r in rows]


def test_dagger_refuses_an_env_whose_expert_cannot_label_any_state(tmp_path: Path, sft: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", "from palaestra.cli import main; main()", "train", "dagger", "deduction", "guess",
         "tools", "--model", str(sft), "--out", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = stderr_lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "deduction, tools have none" in lines[0] and "guess" not in lines[0].split("(")[0]
    assert not (tmp_path / "w").exists()


GRPO_ARGS = (
    "--tasks", "2", "--group-size", "4", "--max-tokens", "8", "--eval-every", "1", "--eval-tasks", "2",
    "--save-every", "1", "--lr", "5e-2", "--micro-batch", "3", "--reward", "success",
)  # fmt: skip


@pytest.fixture(scope="module")
def grpo_dir(root: Path, dagger_dir: Path) -> Path:
    work = root / "grpo"
    base = dagger_dir / "iter1" / "model"
    invoke("train", "grpo", "parity", "--model", str(base), "--out", str(work), "--steps", "1", *GRPO_ARGS)
    return work


def test_grpo_step_trains_the_lora_adapter_on_its_own_rollouts(grpo_dir: Path, dagger_dir: Path) -> None:
    from safetensors.torch import load_file

    record = json.loads((grpo_dir / "grpo.json").read_text())
    (row,) = record["rows"]
    assert row["episodes"] == 8 and row["groups"] == 2 and row["flat_groups"] < 2  # some signal
    assert row["loss"] is not None and row["tokens"] > 0
    adapter = load_file(str(grpo_dir / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and any(bool(v.abs().sum() > 0) for v in lora_b)  # B starts at 0: the step moved it
    assert changed(dagger_dir / "iter1" / "model", grpo_dir / "model")  # merged into a plain model
    assert not any("lora" in k for k in weights(grpo_dir / "model"))
    assert [p["step"] for p in record["curve"]] == [0, 1]
    svg = (grpo_dir / "curve.svg").read_text()
    assert svg.startswith("<svg") and "parity" in svg  # the legend names the env
    assert (grpo_dir / "checkpoints" / "step-1" / "optimizer.pt").is_file()


def test_grpo_samples_are_the_providers_tokens_with_group_normalised_advantages(
    grpo_dir: Path, dagger_dir: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    record = json.loads((grpo_dir / "grpo.json").read_text())
    store = Store(grpo_dir / "grpo.db")
    try:
        run_id = record["rows"][0]["rollout_run"]
        samples, stats = collect_samples(store, run_id, "success")
        rows = store.episode_rows(run_id)
    finally:
        store.close()
    assert stats["groups"] == 2 and len(samples) == len(rows) == 8  # one reply per parity episode
    by_task: dict[str, list[float]] = {}
    for row, s in zip(rows, samples, strict=True):
        by_task.setdefault(row.task_id, []).append(s.advantage)
        assert (s.advantage > 0) == bool(row.success) or s.advantage == 0
    for advantages in by_task.values():
        if any(advantages):
            assert sum(advantages) == pytest.approx(0, abs=1e-6)
            assert sum(a * a for a in advantages) / len(advantages) == pytest.approx(1)
    batch = batch_tensors(samples, 0, "cpu")
    mask = batch["mask"].bool()
    targets = batch["input_ids"][:, 1:]
    for i, s in enumerate(samples):  # the loss covers exactly the generated tokens
        assert targets[i][mask[i]].tolist() == s.completion_ids
    # the recorded logprobs are the policy's own: at the first pass the ratio is 1
    model = AutoModelForCausalLM.from_pretrained(dagger_dir / "iter1" / "model", local_files_only=True).eval()
    with torch.no_grad():
        new = token_logprobs(model, batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(new[mask], batch["old_logprobs"][mask], atol=1e-4)


def test_grpo_resumes_from_its_checkpoint(grpo_dir: Path, dagger_dir: Path, tmp_path: Path) -> None:
    import shutil

    work = tmp_path / "grpo"
    shutil.copytree(grpo_dir, work)
    before = json.loads((work / "grpo.json").read_text())
    base = dagger_dir / "iter1" / "model"
    args = ("train", "grpo", "parity", "--model", str(base), "--out", str(work), *GRPO_ARGS)
    with pytest.raises(UsageError, match="holds a grpo run with other settings"):  # another loop
        CliRunner().invoke(app, [*args, "--steps", "1", "--kl", "0.1"], catch_exceptions=False)
    invoke(*args, "--steps", "2")  # the same loop, longer: goes on from the step-1 checkpoint
    after = json.loads((work / "grpo.json").read_text())
    assert after["rows"][0] == before["rows"][0] and [r["step"] for r in after["rows"]] == [1, 2]
    assert [p["step"] for p in after["curve"]] == [0, 1, 2]
    assert after["curve"][:2] == before["curve"]  # nothing done twice
    assert (work / "checkpoints" / "step-2" / "state.json").is_file()


def test_grpo_model_loads_and_acts(grpo_dir: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "act.db")
    summary = json.loads(
        invoke(
            "run", "parity", "--model", f"local:{grpo_dir / 'model'}", "--tasks", "3", "--max-tokens", "8",
            "--store", db, "--json",
        ).stdout
    )  # fmt: skip
    assert summary["episodes"] == 3 and summary["errors"] == 0 and summary["output_tokens"] > 0


def test_group_advantages_are_normalised_and_zero_for_equal_returns() -> None:
    adv = group_advantages([1.0, 0.0, 0.0, 1.0, 1.0])
    assert sum(adv) == pytest.approx(0) and sum(a * a for a in adv) / 5 == pytest.approx(1)
    assert adv[0] > 0 > adv[1]
    assert group_advantages([0.5, 0.5, 0.5]) == [0.0, 0.0, 0.0]


def test_equal_rewards_give_zero_gradient(root: Path, sft: Path) -> None:
    import peft
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(sft, local_files_only=True)
    policy = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear"))
    rng = random.Random(0)

    def sample(adv: float) -> Sample:
        return Sample([rng.randrange(1, 400) for _ in range(6)], [rng.randrange(1, 400) for _ in range(4)],
                      [-3.0] * 4, adv)  # fmt: skip

    def grads(advantages: list[float]) -> list[torch.Tensor]:
        policy.zero_grad()
        batch = batch_tensors([sample(a) for a in advantages], 0, "cpu")
        new = token_logprobs(policy, batch["input_ids"], batch["attention_mask"])
        loss, _ = policy_loss(new, batch["old_logprobs"], batch["advantages"], batch["mask"], clip=0.2)
        loss.backward()
        return [p.grad.clone() for p in policy.parameters() if p.requires_grad and p.grad is not None]

    flat = grads(group_advantages([1.0, 1.0, 1.0]))
    assert flat and all(bool((g == 0).all()) for g in flat)
    mixed = grads(group_advantages([1.0, 0.0, 1.0]))
    assert any(bool((g != 0).any()) for g in mixed)


def test_clipping_and_kl_terms() -> None:
    import math

    import torch

    old = torch.zeros(1, 3)
    new = torch.tensor([[math.log(1.5), math.log(1.1), math.log(0.5)]], requires_grad=True)
    mask = torch.ones(1, 3)
    loss, parts = policy_loss(new, old, torch.tensor([1.0]), mask, clip=0.2)
    loss.backward()
    assert new.grad is not None
    # ratio 1.5 > 1.2 with A > 0: clipped, no gradient; 1.1 inside: pushed up; 0.5 with A > 0: not clipped
    assert new.grad[0, 0] == 0 and new.grad[0, 1] < 0 and new.grad[0, 2] < 0
    assert parts["clipped"] == 2  # 1.5 and 0.5 lie outside [0.8, 1.2]
    same, parts = policy_loss(
        new.detach(), old, torch.tensor([0.0]), mask, clip=0.2, kl=0.5, ref=new.detach()
    )
    assert parts["kl"] == pytest.approx(0) and float(same) == pytest.approx(0)
    _, parts = policy_loss(new.detach(), old, torch.tensor([0.0]), mask, clip=0.2, kl=0.5, ref=old)
    assert parts["kl"] > 0  # k3 estimate of KL(policy || reference), zero only where they agree


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grpo", "guess"], "name the base model"),
        (["grpo", "auction", "--model", "SFT"], "auction is a multi-agent game"),
        (["grpo", "guess", "--model", "SFT", "--group-size", "1"], "bad value for --group-size"),
        (["grpo", "guess", "--model", "SFT", "--reward", "score"], "bad value for --reward"),
        (["dagger", "guess", "--model", "SFT", "--eval-split", "nope"], "bad value for --eval-split"),
        (["dagger", "guess", "--model", "SFT", "--iterations", "0"], "--iterations must be at least 1"),
    ],
)
def test_bad_loop_settings_are_one_line_before_anything_is_written(
    args: list[str], message: str, sft: Path, tmp_path: Path
) -> None:
    argv = ["train", *(str(sft) if a == "SFT" else a for a in args), "--out", str(tmp_path / "w")]
    with pytest.raises(UsageError, match=message):
        CliRunner().invoke(app, argv, catch_exceptions=False)
    assert not (tmp_path / "w").exists()


def test_grpo_full_fine_tune_with_kl_to_a_frozen_base(root: Path, sft: Path, tmp_path: Path) -> None:
    from palaestra.train.grpo import GrpoConfig, grpo

    cfg = GrpoConfig(
        envs=["parity"], model=str(sft), steps=1, tasks=2, group_size=4, lora=False, kl=0.5, lr=1e-2,
        max_tokens=8, eval_tasks=1, micro_batch=8,
    )  # fmt: skip
    record = grpo(cfg, tmp_path / "full")
    (row,) = record["rows"]
    assert row["loss"] is not None and row["kl"] is not None and row["kl"] >= 0
    assert changed(sft, tmp_path / "full" / "model")  # every weight is trainable
    assert not (tmp_path / "full" / "adapter").exists()
    assert (tmp_path / "full" / "checkpoints" / "step-1" / "model" / "model.safetensors").is_file()


def adapter_tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_one_adapter_is_trained_through_sft_dagger_and_grpo(root: Path, sft: Path, tmp_path: Path) -> None:
    """The shipped default's path: SFT writes only a LoRA adapter naming its base; DAgger from it
    (warm start, only the states the model got wrong) and GRPO from that train the same adapter
    further; each stage's adapter is relative to the same base and the local provider acts with it."""
    import torch

    from palaestra.models.local import LocalModel

    micro = root / "micro"
    adapter_sft = tmp_path / "sft"
    invoke(
        "train", "sft", str(root / "expert.jsonl"), "--model", str(micro), "--out", str(adapter_sft), "--lora",
        "--adapter-only", "--max-steps", "2", "--batch-size", "2", "--lr", "1e-2", "--max-prompt-tokens",
        "200", "--precision", "fp32",
    )  # fmt: skip
    assert not (adapter_sft / "model.safetensors").exists() and not (adapter_sft / "config.json").exists()
    config = json.loads((adapter_sft / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(micro)
    work = tmp_path / "dagger"
    invoke(
        "train", "dagger", "guess", "--model", str(micro), "--start", str(adapter_sft), "--warm-start", "--label",
        "disagreements", "--adapter-only", "--out", str(work), "--iterations", "1", "--tasks", "2",
        "--eval-tasks", "1", "--difficulty", "1", "--max-steps", "3", "--max-tokens", "16",
        "--max-train-steps", "1", "--lr", "1e-2", "--max-prompt-tokens", "200", "--json",
    )  # fmt: skip
    zero, one = json.loads((work / "dagger.json").read_text())["rows"]
    assert zero["model"] == str(adapter_sft)  # iteration 0 is the SFT adapter, not the base
    labels = [json.loads(line) for line in (work / "iter1" / "labels.jsonl").read_text().splitlines()]
    assert one["states"] >= len(labels) and not any(r["agreed"] for r in labels)  # only the wrong ones
    it1 = work / "iter1" / "model"
    config = json.loads((it1 / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(micro) and not (it1 / "config.json").exists()
    before, after = adapter_tensors(adapter_sft), adapter_tensors(it1)
    assert before.keys() == after.keys()  # the same adapter, trained further
    assert any(not torch.equal(before[k], after[k]) for k in before)
    grpo_dir = tmp_path / "grpo"
    invoke("train", "grpo", "parity", "--model", str(it1), "--out", str(grpo_dir), "--steps", "1", *GRPO_ARGS)
    adapter = grpo_dir / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(micro)
    assert adapter_tensors(adapter).keys() == after.keys()
    model = LocalModel(str(adapter), dtype="float32")
    try:
        assert model.hf_model.config.vocab_size > 0  # the adapter loads on its base, merged
    finally:
        asyncio.run(model.close())
