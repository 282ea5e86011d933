"""Settings and results of ``palaestra train``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from palaestra.errors import UsageError


class TrainConfig(BaseModel):
    """How to fine-tune: optimisation, LoRA, prompt length and device.

    The defaults suit fine-tuning an existing model; a model trained from scratch wants a larger
    ``lr`` (e.g. 1e-3) and more epochs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: float = Field(1.0, gt=0, description="Passes over the examples (fractions allowed).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate.")
    batch_size: int = Field(8, ge=1, description="Examples per device per step.")
    grad_accum: int = Field(1, ge=1, description="Batches accumulated per optimiser step.")
    completion_only: bool = Field(
        True,
        description="SFT: loss on the agent's replies only; False also trains on the prompts and the "
        "environment's text (language-model pretraining of a model built from scratch).",
    )
    lora: bool = Field(False, description="Train a LoRA adapter, merged into the weights at the end.")
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    seed: int = 0
    max_prompt_tokens: int | None = Field(
        None, ge=1, description="Prompt budget (default: the base model's, from its palaestra.json)."
    )
    beta: float = Field(0.1, gt=0, description="DPO: strength of the pull towards the reference model.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Share of the steps spent warming up the lr.")
    weight_decay: float = Field(0.0, ge=0)
    scheduler: str = Field("linear", description="transformers lr scheduler: linear, cosine, constant, ...")
    logging_steps: int = Field(10, ge=1, description="Report the loss every N steps.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (large models).")
    save_steps: int | None = Field(
        None, ge=1, description="Keep a checkpoint every N steps in OUT/checkpoints (default: none)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available, else cpu.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="auto: bf16 mixed precision where the hardware has it (CUDA, or a CPU with AMX or "
        "AVX512-BF16), else fp32.",
    )
    merge: bool = Field(
        True,
        description="LoRA: save the merged model (True) or only the adapter, loadable as local:OUT on "
        "top of its base (a few MB; the base's directory, or smollm2, is named in adapter_config.json).",
    )


def make_config(**values: object) -> TrainConfig:
    """A :class:`TrainConfig`, with a bad value reported as one :class:`UsageError` line."""
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise UsageError(f"bad training setting {where}: {first['msg']}") from None


class TrainResult(BaseModel):
    """What a training run produced."""

    out: Path
    """The trained model's directory (loadable as ``local:OUT``)."""
    kind: Literal["sft", "dpo"]
    examples: int
    """Training examples (SFT: one per assistant turn; DPO: one per pair)."""
    sequences: int | None = None
    """SFT: the token sequences those turns were trained as (a whole episode's first turns share one)."""
    skipped: int = 0
    """Examples left out because even the shortest cut of their prompt exceeds the budget."""
    steps: int
    final_loss: float | None
    """The loss of the last logging interval."""
    avg_loss: float | None
    """The training loss averaged over every step."""
    losses: list[tuple[int, float]] = Field(default_factory=list)
    """``(step, loss)`` at every logging interval."""
    seconds: float
    device: str
