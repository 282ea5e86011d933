"""``train_sft`` and ``train_dpo``: fine-tune a local model on ``palaestra export`` data with TRL.

The result is always a plain model directory that ``local:OUT`` loads: weights (safetensors, in the
base model's dtype), the tokenizer with its chat template, the base's ``palaestra.json`` and a
``train.json`` record. With LoRA the adapter is merged into the weights before saving. The
directory appears only when training has finished: a failed run leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from palaestra.errors import UsageError
from palaestra.models.chat_format import (
    ADAPTER_CONFIG,
    BUILTIN,
    DEFAULT_BASE,
    SETTINGS_FILE,
    model_settings,
    resolve_model_dir,
)
from palaestra.train.config import TrainConfig, TrainResult
from palaestra.train.data import check_files, check_rows, dpo_split, load_rows, sft_sequences, sha256

Data = str | Path | Sequence[str | Path] | Sequence[dict[str, Any]]
"""Export files (``.jsonl``/``.parquet``) or rows already loaded with :func:`load_rows`."""
Log = Callable[[str], None]

EMPTY = {
    "sft": "no SFT rows to train on: the export had no successful episodes? (`palaestra export` "
    "writes successes only by default; run more tasks, or export with --filter all)",
    "dpo": "no DPO pairs to train on: the export found no task with both a successful and a failed "
    "episode (draw several samples per task with --samples, or export several runs of the same tasks)",
}


def train_sft(
    data: Data,
    base: str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    overwrite: bool = False,
    log: Log | None = None,
) -> TrainResult:
    """Supervised fine-tuning of ``base`` (a model directory or the built-in base ``smollm2``)
    on SFT export data, written to ``out``.

    Each assistant turn is one example (see :func:`~palaestra.train.sft_examples`) and the loss
    covers only the completion, so the model learns its own turns in the context it acts in.
    ``log`` receives one line per logging interval (default: printed on stderr)."""
    return _train("sft", data, base, out, config or TrainConfig(), overwrite=overwrite, log=log)


def train_dpo(
    data: Data,
    base: str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    overwrite: bool = False,
    log: Log | None = None,
) -> TrainResult:
    """Direct preference optimisation of ``base`` on DPO export data (pairs of a successful and a
    failed episode's turns), written to ``out``. The reference model is the base itself (with LoRA:
    the model with its adapter disabled)."""
    return _train("dpo", data, base, out, config or TrainConfig(), overwrite=overwrite, log=log)


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an output path that holds something, unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; name a directory for the trained model")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"--out {out} exists and is not empty; pass --overwrite to replace it")


def _load(data: Data) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows and a record of where they came from (each file with its sha256)."""
    items: list[Any] = [data] if isinstance(data, str | Path) else list(data)
    if items and all(isinstance(r, dict) for r in items):
        return [dict(r) for r in items], []
    if not all(isinstance(p, str | Path) for p in items):
        raise UsageError("training data is either export files or rows (dicts), not a mix")
    rows: list[dict[str, Any]] = []
    record = []
    for f in check_files(items):
        got = load_rows(f)
        rows.extend(got)
        record.append({"path": str(f.resolve()), "sha256": sha256(f), "rows": len(got)})
    return rows, record


def _deps() -> dict[str, Any]:
    try:
        datasets = importlib.import_module("datasets")
        import torch
        import transformers
        import trl
    except ImportError as e:
        raise UsageError(
            f"training needs torch, transformers, trl and datasets ({e.name} is missing): "
            "pip install 'palaestra[train]'"
        ) from None
    return {"torch": torch, "transformers": transformers, "trl": trl, "datasets": datasets}


def _device(torch: Any, want: str, precision: str = "auto") -> tuple[str, bool]:
    """The device and whether to train in bf16 mixed precision (``auto``: on a CUDA GPU that has
    it, and on a CPU with native bf16, where a step of SmolLM2-135M takes ~0.57x the fp32 time)."""
    from palaestra.models.local.loading import cpu_has_bf16

    cuda = bool(torch.cuda.is_available())
    if want == "cuda" and not cuda:
        raise UsageError("device cuda asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    device = "cpu" if want == "cpu" or not cuda else "cuda"
    if precision != "auto":
        return device, precision == "bf16"
    return device, bool(torch.cuda.is_bf16_supported()) if device == "cuda" else cpu_has_bf16(torch)


def _quiet(deps: dict[str, Any]) -> None:
    """No progress bars from datasets and no info chatter from transformers; warnings stay."""
    deps["datasets"].disable_progress_bars()
    deps["transformers"].logging.set_verbosity_warning()
    deps["transformers"].logging.disable_progress_bar()


def _loss_callback(transformers: Any, emit: Log, losses: list[tuple[int, float]]) -> Any:
    class LossLog(transformers.TrainerCallback):  # type: ignore[misc]
        """One tidy line per logging interval instead of the Trainer's dicts and progress bars."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step >= state.max_steps:
                control.should_log = True  # the final loss, whatever the logging interval

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            loss = float(logs["loss"])
            losses.append((int(state.global_step), loss))
            extra = ""
            if "rewards/accuracies" in logs:
                extra = f"  reward acc {float(logs['rewards/accuracies']):.2f}"
            emit(
                f"step {state.global_step}/{state.max_steps}  loss {loss:.4f}  "
                f"lr {float(logs.get('learning_rate', 0.0)):.2e}{extra}"
            )

    return LossLog()


def _dataset(datasets: Any, examples: list[dict[str, Any]], columns: Iterable[str]) -> Any:
    """A ``datasets.Dataset`` whose message and tool columns are ``Json`` features: every message
    keeps exactly its own keys (struct columns would give each tool call every other tool's
    arguments as nulls, and the chat template would render them)."""
    features = datasets.Features(
        {**{c: datasets.List(datasets.Json()) for c in columns}, "tools": datasets.Json()}
    )
    return datasets.Dataset.from_list(examples, features=features)


def _save_dtype(torch: Any, base_dir: Path) -> Any:
    config = json.loads((base_dir / "config.json").read_text())
    name = config.get("dtype") or config.get("torch_dtype")
    dtype = getattr(torch, str(name), None) if name else None
    return dtype if dtype in (torch.float16, torch.bfloat16, torch.float32) else torch.float32


def _train(
    kind: Literal["sft", "dpo"],
    data: Data,
    base: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    *,
    overwrite: bool,
    log: Log | None,
) -> TrainResult:
    started = time.perf_counter()
    emit: Log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    out_dir = Path(out).expanduser()
    check_out(out_dir, overwrite)
    rows, files = _load(data)
    if not rows:
        raise UsageError(EMPTY[kind])
    check_rows(rows, kind)
    base_dir = resolve_model_dir(str(base))
    settings = model_settings(base_dir)
    max_prompt = cfg.max_prompt_tokens or settings["max_prompt_tokens"]

    deps = _deps()
    torch, transformers, trl = deps["torch"], deps["transformers"], deps["trl"]
    _quiet(deps)
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"the tokenizer in {base_dir} has no chat template; training needs one")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # whole conversations are counted before they are cut
    try:
        if kind == "sft":
            examples, turns, skipped = sft_sequences(rows, tokenizer, max_prompt)
        else:
            examples, skipped = dpo_split(rows, tokenizer, max_prompt)
            turns = len(examples)
    finally:
        transformers.logging.set_verbosity(verbosity)
    if not examples:
        raise UsageError(
            f"none of the {len(rows)} rows gives an example whose prompt fits in {max_prompt} tokens"
            if skipped
            else EMPTY[kind]
        )

    device, bf16 = _device(torch, cfg.device, cfg.precision)
    transformers.set_seed(cfg.seed)
    # a LoRA adapter as the base: its own base's weights, and with --lora the adapter trained further
    # (warm start: one adapter relative to that base comes out); without, the adapter merged first
    from palaestra.models.local.loading import put_adapter, split_adapter

    start, weights_dir = split_adapter(base_dir)
    save_dtype = _save_dtype(torch, weights_dir)
    load_dtype = (
        torch.bfloat16 if device == "cuda" and save_dtype == torch.bfloat16 and bf16 else torch.float32
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(
        weights_dir, local_files_only=True, dtype=load_dtype
    )
    if start is not None:
        model = put_adapter(model, base_dir, trainable=cfg.lora)

    peft_config = None
    if cfg.lora and start is None:
        try:
            import peft
        except ImportError:
            raise UsageError("--lora needs peft: pip install 'palaestra[train]'") from None
        peft_config = peft.LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    work = tmp / "checkpoints" if cfg.save_steps else Path(tempfile.mkdtemp(prefix="palaestra-train-"))
    common: dict[str, Any] = {
        "output_dir": str(work),
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps or -1,
        "learning_rate": cfg.lr,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "warmup_steps": cfg.warmup_ratio,
        "weight_decay": cfg.weight_decay,
        "lr_scheduler_type": cfg.scheduler,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "logging_strategy": "steps",
        "logging_steps": cfg.logging_steps,
        "save_strategy": "steps" if cfg.save_steps else "no",
        "save_steps": cfg.save_steps or 500,
        "save_only_model": True,
        "report_to": "none",
        "push_to_hub": False,
        "disable_tqdm": True,
        "use_cpu": device == "cpu",
        "bf16": bf16,
        "fp16": False,
        "dataloader_pin_memory": device == "cuda",
        "max_length": max_prompt + settings["max_new_tokens"],
    }
    # transformers 5 renamed gradient_checkpointing (TRL turns it on by default)
    names = {f.name for f in dataclasses.fields(trl.SFTConfig)}
    ckpt = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    common[ckpt] = cfg.gradient_checkpointing
    if kind == "dpo":
        common["beta"] = cfg.beta
    # Batches are drawn at random, not grouped by length (less padding): on a copy task a model of
    # nano's size built from scratch reached loss 1.3 after 200 steps grouped, 0.06 at random
    # (likely because same-length sequences are the same environment at the same point of an
    # episode, so grouped batches are nearly alike).
    losses: list[tuple[int, float]] = []
    ok = False
    try:
        with warnings.catch_warnings():
            # deprecations that TRL and PEFT trigger inside transformers: not the user's to fix
            warnings.simplefilter("ignore", FutureWarning)
            trainer = _trainer(
                kind, deps, model, tokenizer, examples, common, peft_config, cfg.completion_only
            )
            trainer.add_callback(_loss_callback(transformers, emit, losses))
            output = trainer.train()

        trained = trainer.model
        if cfg.lora and not cfg.merge:
            save_adapter(trained, tmp, start if start is not None else base, weights_dir)
        else:
            if cfg.lora:
                trained = trained.merge_and_unload()
            trained = trained.to(save_dtype)
            trained.config.use_cache = True
            trained.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _write_settings(base_dir, tmp, cfg.max_prompt_tokens, settings)
        seconds = round(time.perf_counter() - started, 3)
        result = TrainResult(
            out=out_dir,
            kind=kind,
            examples=turns,
            sequences=len(examples),
            skipped=skipped,
            steps=int(trainer.state.global_step),
            final_loss=losses[-1][1] if losses else None,
            avg_loss=float(output.training_loss) if output.training_loss is not None else None,
            losses=losses,
            seconds=seconds,
            device=device,
        )
        record = {
            "command": kind,
            "base": str(base),
            "base_dir": str(base_dir.resolve()),
            "config": cfg.model_dump(),
            "max_prompt_tokens": max_prompt,
            "data": files or [{"rows": len(rows), "path": None, "sha256": None}],
            "rows": len(rows),
            **result.model_dump(mode="json", exclude={"out", "kind"}),
            "precision": "bf16" if bf16 else "fp32",
            "saved_dtype": str(save_dtype).removeprefix("torch."),
            "versions": _versions(deps),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / "train.json").write_text(json.dumps(record, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
        ok = True
        return result
    finally:
        if not cfg.save_steps:
            shutil.rmtree(work, ignore_errors=True)
        if not ok and not (cfg.save_steps and any(work.glob("checkpoint-*"))):
            shutil.rmtree(tmp, ignore_errors=True)


def save_adapter(model: Any, out: Path, base: str | Path, base_dir: Path) -> None:
    """Write ``model``'s LoRA adapter (not merged) to ``out``, its ``adapter_config.json`` naming the
    base the local provider loads it on: a built-in name as given (``smollm2``: portable), else the
    base's absolute directory."""
    # save_embedding_layers=False: the adapter never trains embeddings, and "auto" makes PEFT look the
    # base up by name, on the Hugging Face Hub when the name is not a directory (smollm2)
    model.save_pretrained(out, save_embedding_layers=False)
    f = out / ADAPTER_CONFIG
    config = json.loads(f.read_text())
    name = str(base)
    builtin = name in ("", *BUILTIN)
    config["base_model_name_or_path"] = (name or DEFAULT_BASE) if builtin else str(base_dir.resolve())
    f.write_text(json.dumps(config, indent=2) + "\n")


def _trainer(
    kind: str,
    deps: dict[str, Any],
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    common: dict[str, Any],
    peft_config: Any,
    completion_only: bool = True,
) -> Any:
    """TRL's SFTTrainer (on tokenized sequences, loss on the completion mask unless
    ``completion_only`` is False) or DPOTrainer, without the stock progress output (a tidy loss
    line per interval replaces it)."""
    trl, transformers = deps["trl"], deps["transformers"]
    if kind == "sft":
        trainer = trl.SFTTrainer(
            model=model,
            args=trl.SFTConfig(**common, completion_only_loss=completion_only, assistant_only_loss=False),
            train_dataset=deps["datasets"].Dataset.from_list(examples),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    else:
        trainer = trl.DPOTrainer(
            model=model,
            args=trl.DPOConfig(**common),
            train_dataset=_dataset(deps["datasets"], examples, ("prompt", "chosen", "rejected")),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    for cb in (transformers.PrinterCallback, transformers.trainer_callback.ProgressCallback):
        trainer.remove_callback(cb)
    return trainer


def _write_settings(
    base_dir: Path, out: Path, max_prompt_tokens: int | None, settings: dict[str, int]
) -> None:
    """The base's ``palaestra.json``, with the prompt budget trained on when it was set explicitly
    (the ``local`` provider then cuts prompts as training did)."""
    src = base_dir / SETTINGS_FILE
    if max_prompt_tokens is None:
        if src.is_file():
            shutil.copyfile(src, out / SETTINGS_FILE)
        return
    values: dict[str, Any] = json.loads(src.read_text()) if src.is_file() else {}
    values["max_prompt_tokens"] = max_prompt_tokens
    values.setdefault("max_new_tokens", settings["max_new_tokens"])
    (out / SETTINGS_FILE).write_text(json.dumps(values, indent=2) + "\n")


def _versions(deps: dict[str, Any]) -> dict[str, str]:
    versions = {name: str(getattr(mod, "__version__", "?")) for name, mod in deps.items()}
    try:
        import peft

        versions["peft"] = str(peft.__version__)
    except ImportError:
        pass
    return versions
