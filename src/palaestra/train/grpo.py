"""``palaestra train grpo``: online RL over whole multi-turn episodes, group-relative (GRPO).

Every step draws ``tasks`` new train tasks per environment and plays each ``group_size`` times
with sampling: a group is the episodes of one task. Rollouts go through Palaestra's runner with the
``local`` provider holding the policy's current weights, so they are stored runs like any other
(``palaestra show/report/view --store OUT/grpo.db``) and every model call keeps the token ids it
generated, their log-probabilities and the prompt's token ids.

From those records: each episode's return (``success``, the env's total ``reward``, or its final
``progress``, the sum of its per-step progress gains: partial credit where no episode of a group
succeeds) is normalised within its group, ``A = (R - mean) / std`` (0 where the group's returns
are all equal), and every token the model generated in that episode gets ``A``. The loss is the
clipped policy-gradient objective per token, averaged over every generated token of the step
(tokens of prompts and of the environment carry none), with the recorded log-probabilities as the
old policy's, plus ``kl`` times the k3 estimate of the KL divergence to the reference model (with
LoRA: the base, adapter disabled). Each call is trained as its own sequence, the prompt exactly as
the provider built it (cut to the model's budget) followed by the reply it generated.

Why not TRL's ``GRPOTrainer(environment_factory=...)``: it generates with its own loop (transformers
or vLLM) rather than Palaestra's runner, so rollouts would not be stored, viewable or counted; it
treats a whole episode as one growing completion (no per-turn prompt cutting as the ``local``
provider does); and it parses tool calls only for chat templates it knows (Qwen, Llama 3, ...),
not Palaestra's compact template or SmolLM2's. See ``docs`` in the report of issue #18.

Checkpoints (adapter or weights, optimiser, step) go to ``OUT/checkpoints/step-N`` every
``save_every`` steps; started again with the same settings, the loop resumes from the latest. The
held-out success (greedy, ``eval_split``) every ``eval_every`` steps is the learning curve, kept in
``grpo.json`` and drawn in ``curve.svg``. The trained model is written to ``OUT/model`` (merged,
loadable as ``local:OUT/model``), the LoRA adapter to ``OUT/adapter``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from palaestra.errors import UsageError
from palaestra.train.loop import LoopRecord, check_positive, run_model, success_by_env
from palaestra.types import Split

Reward = Literal["success", "reward", "progress"]
OK_STATUSES = ("done", "truncated", "timeout")
"""Episodes trained on: those that ended on the agent's doing (an error says nothing of its choices)."""


class GrpoConfig(BaseModel):
    """Settings of a GRPO run; stored in ``grpo.json``."""

    model_config = ConfigDict(extra="forbid")

    envs: list[str]
    model: str
    """The base model: a local model directory (or an embedded name)."""
    steps: int = Field(50, ge=1)
    tasks: int = Field(4, ge=1)
    """Groups (train tasks) per environment per step."""
    group_size: int = Field(4, ge=2)
    """Episodes per task: the group its advantages are normalised in."""
    temperature: float = Field(1.0, gt=0)
    reward: Reward = "success"
    lr: float = Field(1e-4, gt=0)
    lora: bool = True
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    clip: float = Field(0.2, gt=0, lt=1)
    """PPO clipping of the probability ratio to [1 - clip, 1 + clip]."""
    kl: float = Field(0.0, ge=0)
    """Weight of the KL penalty to the reference model (0: none, and no reference is computed)."""
    epochs: int = Field(1, ge=1)
    """Optimiser steps on each step's rollouts (beyond the first, the clipping bites)."""
    micro_batch: int = Field(4, ge=1)
    """Sequences per forward pass (gradients accumulate over a step's rollouts)."""
    max_grad_norm: float = Field(1.0, gt=0)
    eval_every: int = Field(10, ge=1)
    eval_tasks: int = Field(20, ge=1)
    eval_split: Split = "dev"
    save_every: int = Field(10, ge=1)
    difficulty: int | None = None
    max_steps: int | None = None
    max_tokens: int | None = None
    """Tokens per reply (default: the model's ``max_new_tokens``)."""
    seed: int = 0
    concurrency: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    rollout_dtype: Literal["float32", "auto"] = "float32"
    """Precision the rollouts generate in: float32 (the policy's own, the recorded log-probabilities
    match the trained ones) or auto (bf16 where the hardware has it: ~2.6x faster generation on a CPU
    with AMX; the importance ratio then carries bf16 noise, which the clipping bounds)."""


class StepRow(BaseModel):
    """One GRPO step."""

    step: int
    rollout_run: str
    episodes: int
    groups: int
    flat_groups: int
    """Groups whose returns were all equal (no signal: advantage 0)."""
    reward_mean: float
    success: float
    tokens: int
    """Generated tokens trained on."""
    loss: float | None
    kl: float | None
    clip_frac: float | None
    seconds: float


class CurvePoint(BaseModel):
    """Held-out success after ``step`` optimiser steps."""

    step: int
    eval_run: str
    success: dict[str, float]
    mean: float


@dataclass(slots=True)
class Sample:
    """One model call to train on: its prompt and reply tokens, the reply's log-probabilities under
    the policy that generated it, and the advantage of its episode."""

    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float]
    advantage: float


# ---- advantages and samples ---------------------------------------------------------------------


def group_advantages(returns: Sequence[float], eps: float = 1e-6) -> list[float]:
    """``(R - mean) / std`` within one group (population std); all 0 when the returns are equal."""
    n = len(returns)
    mean = sum(returns) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / n)
    if std < eps:
        return [0.0] * n
    return [(r - mean) / std for r in returns]


def episode_return(row: Any, reward: Reward) -> float:
    if reward == "success":
        return float(row.success)
    if reward == "reward":
        return float(row.reward)
    return float(row.progress)


def collect_samples(store: Any, run_id: str, reward: Reward) -> tuple[list[Sample], dict[str, Any]]:
    """The samples of a rollout run (read back from the store) and what they came from."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    rows = store.episode_rows(run_id)
    for row in rows:
        if row.status in OK_STATUSES:
            groups[(row.env, row.task_id)].append(row)
    samples: list[Sample] = []
    flat = 0
    returns: list[float] = []
    for members in groups.values():
        values = [episode_return(r, reward) for r in members]
        returns += values
        advantages = group_advantages(values) if len(members) > 1 else [0.0]
        flat += not any(advantages)
        for row, adv in zip(members, advantages, strict=True):
            for call in store.model_calls(run_id, row.id):
                ids, lps, prompt = call["token_ids"], call["logprobs"], call["prompt_token_ids"]
                if not ids or prompt is None or lps is None or len(lps) != len(ids):
                    continue  # a failed call, or a provider that keeps no tokens
                samples.append(Sample(list(prompt), list(ids), [float(x) for x in lps], adv))
    stats = {
        "episodes": len(rows),
        "groups": len(groups),
        "flat_groups": flat,
        "reward_mean": sum(returns) / len(returns) if returns else 0.0,
        "success": sum(bool(r.success) for r in rows) / len(rows) if rows else 0.0,
    }
    return samples, stats


# ---- the loss -----------------------------------------------------------------------------------


def batch_tensors(samples: Sequence[Sample], pad_id: int, device: Any) -> dict[str, Any]:
    """Right-padded ``input_ids``/``attention_mask`` of prompt + reply, and, per position ``j`` of the
    next-token predictions (``j`` predicts token ``j + 1``): ``mask`` 1 where that token is one the
    model generated, its ``old_logprobs``, and each row's ``advantages``."""
    import torch

    width = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    n = len(samples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attn = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width - 1), dtype=torch.float32)
    old = torch.zeros((n, width - 1), dtype=torch.float32)
    for i, s in enumerate(samples):
        p, c = len(s.prompt_ids), len(s.completion_ids)
        ids[i, : p + c] = torch.tensor(s.prompt_ids + s.completion_ids, dtype=torch.long)
        attn[i, : p + c] = 1
        mask[i, p - 1 : p - 1 + c] = 1.0
        old[i, p - 1 : p - 1 + c] = torch.tensor(s.old_logprobs, dtype=torch.float32)
    adv = torch.tensor([s.advantage for s in samples], dtype=torch.float32)
    return {
        "input_ids": ids.to(device),
        "attention_mask": attn.to(device),
        "mask": mask.to(device),
        "old_logprobs": old.to(device),
        "advantages": adv.to(device),
    }


def token_logprobs(model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """``[B, L - 1]``: the log-probability of each next token under ``model`` (float32)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
    logp = logits.float().log_softmax(-1)
    return logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def policy_loss(
    new: Any, old: Any, advantages: Any, mask: Any, *, clip: float, kl: float = 0.0, ref: Any = None
) -> tuple[Any, dict[str, float]]:
    """The clipped token-level policy-gradient loss summed over the masked tokens (divide by the
    step's token count), and its parts summed likewise: ``kl`` (k3 estimate), ``clipped`` tokens."""
    import torch

    ratio = torch.exp(new - old)
    adv = advantages[:, None]
    per_token = -torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    kl_sum = 0.0
    if kl > 0 and ref is not None:
        d = ref - new
        k3 = torch.exp(d) - d - 1
        per_token = per_token + kl * k3
        kl_sum = float((k3.detach() * mask).sum())
    clipped = ((ratio < 1 - clip) | (ratio > 1 + clip)).float()
    return (per_token * mask).sum(), {"kl": kl_sum, "clipped": float((clipped * mask).sum())}


# ---- the policy ---------------------------------------------------------------------------------


def _device(torch: Any, want: str) -> str:
    if want == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    return "cuda" if want != "cpu" and torch.cuda.is_available() else "cpu"


def build_policy(cfg: GrpoConfig, base: Path, device: str, resume: Path | None) -> tuple[Any, Any]:
    """The trainable policy (a PEFT model with LoRA, else the whole model) and its tokenizer."""
    import torch
    import transformers

    from palaestra.models.local.loading import put_adapter, split_adapter

    tokenizer = transformers.AutoTokenizer.from_pretrained(base, local_files_only=True)
    # a LoRA adapter as the start: its base's weights, the adapter trained further (one adapter
    # relative to that base comes out, as small as the one that went in)
    start, weights = split_adapter(base)
    source = resume / "model" if resume is not None and not cfg.lora else weights
    auto: Any = transformers.AutoModelForCausalLM
    model = auto.from_pretrained(source, local_files_only=True, dtype=torch.float32).to(device)
    if start is not None and (resume is None or cfg.lora):
        model = put_adapter(model, base, trainable=cfg.lora)
    if not cfg.lora:
        return model, tokenizer
    import peft

    if start is not None:
        policy = model
    else:
        lora = peft.LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
            task_type="CAUSAL_LM",
        )  # fmt: skip
        policy = peft.get_peft_model(model, lora)
    if resume is not None:
        from safetensors.torch import load_file

        state = load_file(str(resume / "adapter" / "adapter_model.safetensors"), device=device)
        peft.set_peft_model_state_dict(policy, state)
    return policy, tokenizer


def sync_weights(policy: Any, target: Any, lora: bool) -> int:
    """Copy the policy's current weights into ``target`` (the rollout model, the base's architecture):
    with LoRA each adapted layer's merged weight ``W + BA * scale``, else every parameter. Returns the
    number of tensors copied."""
    import torch

    copied = 0
    with torch.no_grad():
        if not lora:
            target.load_state_dict(policy.state_dict())
            return len(policy.state_dict())
        from peft.tuners.lora.layer import Linear as LoraLinear

        for name, module in policy.get_base_model().named_modules():
            if isinstance(module, LoraLinear):
                layer: Any = module.get_base_layer()
                weight = layer.weight + module.get_delta_weight("default")
                dest = target.get_submodule(name).weight
                dest.copy_(weight.to(dest.dtype))
                copied += 1
    return copied


def reference_logprobs(policy: Any, ref_model: Any, batch: dict[str, Any]) -> Any:
    """Log-probabilities under the reference: the base with the adapter off, or a frozen copy."""
    import torch

    with torch.no_grad():
        if ref_model is None:
            with policy.disable_adapter():
                return token_logprobs(policy, batch["input_ids"], batch["attention_mask"])
        return token_logprobs(ref_model, batch["input_ids"], batch["attention_mask"])


def optimise(
    policy: Any,
    optimizer: Any,
    samples: Sequence[Sample],
    cfg: GrpoConfig,
    pad_id: int,
    device: str,
    ref_model: Any = None,
) -> dict[str, float | None]:
    """``cfg.epochs`` optimiser steps on one step's samples; the mean loss, KL and clipped share per
    generated token (None when there was nothing to learn: every advantage 0 and no KL term)."""
    import torch

    tokens = sum(len(s.completion_ids) for s in samples)
    if not tokens or (cfg.kl == 0 and not any(s.advantage for s in samples)):
        return {"loss": None, "kl": None, "clip_frac": None}
    order = sorted(samples, key=lambda s: len(s.prompt_ids) + len(s.completion_ids))  # less padding
    batches = [order[i : i + cfg.micro_batch] for i in range(0, len(order), cfg.micro_batch)]
    params = [p for p in policy.parameters() if p.requires_grad]
    totals = {"loss": 0.0, "kl": 0.0, "clipped": 0.0}
    for _ in range(cfg.epochs):
        optimizer.zero_grad(set_to_none=True)
        for chunk in batches:
            batch = batch_tensors(chunk, pad_id, device)
            ref = reference_logprobs(policy, ref_model, batch) if cfg.kl > 0 else None
            new = token_logprobs(policy, batch["input_ids"], batch["attention_mask"])
            loss, parts = policy_loss(
                new, batch["old_logprobs"], batch["advantages"], batch["mask"], clip=cfg.clip, kl=cfg.kl,
                ref=ref,
            )  # fmt: skip
            (loss / tokens).backward()
            totals["loss"] += float(loss.detach())
            totals["kl"] += parts["kl"]
            totals["clipped"] += parts["clipped"]
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
    n = tokens * cfg.epochs
    return {
        "loss": totals["loss"] / n,
        "kl": totals["kl"] / n if cfg.kl > 0 else None,
        "clip_frac": totals["clipped"] / n,
    }


# ---- checkpoints --------------------------------------------------------------------------------


def save_checkpoint(work: Path, step: int, policy: Any, optimizer: Any, lora: bool) -> Path:
    """``work/checkpoints/step-N``: adapter (or model), optimiser state; written whole, then renamed."""
    import torch

    final = work / "checkpoints" / f"step-{step}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    policy.save_pretrained(tmp / ("adapter" if lora else "model"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step}) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def latest_checkpoint(work: Path, at_most: int) -> tuple[int, Path | None]:
    """The newest complete checkpoint at or before step ``at_most``: ``(step, dir)``, or ``(0, None)``."""
    best: tuple[int, Path | None] = (0, None)
    for d in (work / "checkpoints").glob("step-*"):
        if not (d / "state.json").is_file():
            continue
        step = int(json.loads((d / "state.json").read_text())["step"])
        if best[0] < step <= at_most:
            best = (step, d)
    return best


# ---- the loop -----------------------------------------------------------------------------------


class _Rollouts:
    """Builds, for each rollout phase, a ``local`` provider model holding the policy's weights."""

    def __init__(self, base: Path, device: str, work: Path, dtype: str = "float32") -> None:
        self.base, self.device, self.work, self.dtype = base, device, work, dtype

    def model(self, policy: Any, lora: bool, step: int) -> Any:
        from palaestra.models.local import LocalModel

        # float32 like the policy, so the recorded log-probabilities are the policy's own (unless
        # rollout_dtype asks for speed: the clipped ratio then also absorbs the precision gap)
        local = LocalModel(str(self.base), device=self.device, dtype=self.dtype, name=self.name(step))
        sync_weights(policy, local.hf_model, lora)
        return local

    def name(self, step: int) -> str:
        return f"local:{self.base}+grpo:{self.work}@{step}"


@contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars from transformers, and no deprecation chatter from PEFT inside it."""
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message="Could not find a config file")
            yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def grpo(
    cfg: GrpoConfig,
    work: Path,
    *,
    on_step: Callable[[StepRow], None] | None = None,
    on_eval: Callable[[CurvePoint], None] | None = None,
) -> dict[str, Any]:
    """Train in ``work`` (resumes from its latest checkpoint); the ``grpo.json`` record."""
    with _quiet():
        return _grpo(cfg, work, on_step=on_step, on_eval=on_eval)


def _grpo(
    cfg: GrpoConfig,
    work: Path,
    *,
    on_step: Callable[[StepRow], None] | None,
    on_eval: Callable[[CurvePoint], None] | None,
) -> dict[str, Any]:
    import asyncio

    import torch

    from palaestra.models.chat_format import resolve_model_dir
    from palaestra.store.sqlite import Store
    from palaestra.train.curve import write_curve

    check_positive(steps=cfg.steps, tasks=cfg.tasks, eval_tasks=cfg.eval_tasks)
    from palaestra.env import Env, make

    for name in cfg.envs:
        if not isinstance(make(name), Env):
            raise UsageError(f"{name} is a multi-agent game; grpo trains on single-agent envs")
    base = resolve_model_dir(cfg.model)
    device = _device(torch, cfg.device)
    work.mkdir(parents=True, exist_ok=True)
    record = LoopRecord(work / "grpo.json", cfg, "grpo run", free=("steps", "eval_every", "save_every"))
    start, ckpt = latest_checkpoint(work, len(record.rows))
    record.rows = record.rows[:start]  # steps after the checkpoint are done again
    curve = [CurvePoint.model_validate(p) for p in record.extra.get("curve", []) if p["step"] <= start]
    torch.manual_seed(cfg.seed)
    policy, tokenizer = build_policy(cfg, base, device, ckpt)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    optimizer = _optimizer(policy, cfg.lr, device, ckpt)
    ref_model = _reference(cfg, base, device)
    rollouts = _Rollouts(base, device, work, cfg.rollout_dtype)
    common: dict[str, Any] = {
        "difficulty": cfg.difficulty, "max_steps": cfg.max_steps, "max_tokens": cfg.max_tokens,
        "concurrency": cfg.concurrency,
    }  # fmt: skip

    def save_curve() -> None:
        record.extra["curve"] = [p.model_dump() for p in curve]
        record.save()
        write_curve(curve, work / "curve.svg", title=f"GRPO on {', '.join(cfg.envs)}")

    store = Store(work / "grpo.db")
    try:

        def evaluate(step: int) -> None:
            local = rollouts.model(policy, cfg.lora, step)
            try:
                run_id = run_model(
                    store, cfg.envs, rollouts.name(step), split=cfg.eval_split, tasks=cfg.eval_tasks,
                    seed=cfg.seed, instance=local, **common,
                )  # fmt: skip
            finally:
                asyncio.run(local.close())
            per_env, mean = success_by_env(store, run_id)
            curve.append(CurvePoint(step=step, eval_run=run_id, success=per_env, mean=mean))
            save_curve()
            if on_eval:
                on_eval(curve[-1])

        if not any(p.step == start for p in curve):
            evaluate(start)
        for step in range(start + 1, cfg.steps + 1):
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed * 100_003 + step)
            local = rollouts.model(policy, cfg.lora, step - 1)
            try:
                run_id = run_model(
                    store, cfg.envs, rollouts.name(step - 1), split="train", tasks=cfg.tasks,
                    samples=cfg.group_size, seed=cfg.seed + 1000 * step, temperature=cfg.temperature,
                    instance=local, **common,
                )  # fmt: skip
            finally:
                asyncio.run(local.close())
            samples, stats = collect_samples(store, run_id, cfg.reward)
            policy.train()
            parts = optimise(policy, optimizer, samples, cfg, pad_id, device, ref_model)
            policy.eval()
            row = StepRow(
                step=step, rollout_run=run_id, tokens=sum(len(s.completion_ids) for s in samples),
                seconds=round(time.perf_counter() - t0, 2), **stats, **parts,
            )  # fmt: skip
            record.add(row)
            if on_step:
                on_step(row)
            if step % cfg.save_every == 0 or step == cfg.steps:
                save_checkpoint(work, step, policy, optimizer, cfg.lora)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                evaluate(step)
    finally:
        store.close()
    _write_model(policy, tokenizer, base, work, cfg)
    return json.loads((work / "grpo.json").read_text())  # type: ignore[no-any-return]


def _optimizer(policy: Any, lr: float, device: str, ckpt: Path | None) -> Any:
    """AdamW over the trainable weights, its state restored from ``ckpt`` when resuming."""
    import torch

    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    if ckpt is not None:
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location=device))
    return optimizer


def _reference(cfg: GrpoConfig, base: Path, device: str) -> Any:
    """A frozen copy of the base for the KL term of a full fine-tune (None: no KL, or LoRA, whose
    reference is the policy with its adapter disabled)."""
    if cfg.kl == 0 or cfg.lora:
        return None
    import transformers

    auto: Any = transformers.AutoModelForCausalLM
    return auto.from_pretrained(base, local_files_only=True).to(device).eval()


def _write_model(policy: Any, tokenizer: Any, base: Path, work: Path, cfg: GrpoConfig) -> None:
    """``work/model``: the trained weights as a plain model (LoRA merged); ``work/adapter`` with LoRA
    (relative to the base model: when the run started from an adapter, that adapter's base)."""
    from palaestra.models.chat_format import SETTINGS_FILE
    from palaestra.models.local.loading import split_adapter
    from palaestra.train.trainer import save_adapter

    out, tmp = work / "model", work / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if cfg.lora:
        adapter = work / "adapter"
        shutil.rmtree(adapter, ignore_errors=True)
        start, weights = split_adapter(base)
        save_adapter(policy, adapter, start if start is not None else cfg.model, weights)
        merged = policy.merge_and_unload()
    else:
        merged = policy
    merged.config.use_cache = True
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if (base / SETTINGS_FILE).is_file():
        shutil.copyfile(base / SETTINGS_FILE, tmp / SETTINGS_FILE)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
