"""``palaestra train sft|dpo|dagger|grpo`` and ``palaestra evolve``: fine-tuning on exported runs and online."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from palaestra.cli._common import DifficultyOpt, MaxStepsOpt, app, err, out
from palaestra.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T", bound="BaseModel")

train_app = typer.Typer(
    help="Fine-tune a local model: train sft | dpo (on `palaestra export` data), train dagger | grpo (online).",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

_TrainData = Annotated[
    list[Path], typer.Argument(help="Export file(s): FILE.jsonl or FILE.parquet.", show_default=False)
]
_TrainModel = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Base model: smollm2 (the local base) or a local model directory."),
]
_TrainOut = Annotated[Path | None, typer.Option("--out", "-o", help="Directory for the trained model.")]
_Epochs = Annotated[float, typer.Option(help="Passes over the examples.")]
_MaxStepsT = Annotated[int | None, typer.Option("--max-steps", help="Stop after this many optimiser steps.")]
_Lr = Annotated[float, typer.Option("--lr", help="Peak learning rate (larger, e.g. 1e-3, from scratch).")]
_Batch = Annotated[int, typer.Option("--batch-size", help="Examples per step.")]
_Accum = Annotated[int, typer.Option("--grad-accum", help="Batches accumulated per optimiser step.")]
_Lora = Annotated[bool, typer.Option("--lora/--no-lora", help="Train a LoRA adapter, merged at the end.")]
_Merge = Annotated[
    bool,
    typer.Option(
        "--merge/--adapter-only",
        help="LoRA: write the merged model, or only the adapter (a few MB, loaded on its base).",
    ),
]
_Precision = Annotated[
    str, typer.Option("--precision", help="auto (bf16 where the GPU or CPU has it) | bf16 | fp32.")
]
_LoraR = Annotated[int, typer.Option("--lora-r", help="LoRA rank.")]
_LoraAlpha = Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha.")]
_MaxPrompt = Annotated[
    int | None, typer.Option("--max-prompt-tokens", help="Prompt budget (default: the base model's).")
]
_SeedT = Annotated[int, typer.Option(help="Seed of initialisation and shuffling.")]
_LogSteps = Annotated[int, typer.Option("--logging-steps", help="Print the loss every N steps.")]
_Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
_Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out directory.")]
_JsonT = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _train_command(kind: str, data: list[Path], model: str | None, out_dir: Path | None, **kw: Any) -> None:
    from palaestra.train import make_config, train_dpo, train_sft

    if not model:
        raise UsageError(f"name the base model: palaestra train {kind} DATA --model smollm2|DIR --out DIR")
    if out_dir is None:
        raise UsageError(f"name the output directory: palaestra train {kind} DATA --model {model} --out DIR")
    overwrite, as_json = kw.pop("overwrite"), kw.pop("as_json")
    config = make_config(**kw)
    fn = train_sft if kind == "sft" else train_dpo
    res = fn(
        data,
        model,
        out_dir,
        config,
        overwrite=overwrite,
        log=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True),
    )
    if as_json:
        print(res.model_dump_json(indent=2))
        return
    first = f"{res.losses[0][1]:.4f} → " if len(res.losses) > 1 else ""
    loss = f"loss {first}{res.final_loss:.4f}" if res.final_loss is not None else "no loss logged"
    skipped = f" ({res.skipped} left out: prompt too long)" if res.skipped else ""
    out.print(
        f"trained {kind} on {res.examples} examples{skipped}: {res.steps} steps, {loss}, "
        f"{res.seconds:.1f}s on {res.device}; wrote {res.out}; use it with --model local:{res.out}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@train_app.command("sft")
def train_sft_command(
    data: _TrainData,
    model: _TrainModel = None,
    out_dir: _TrainOut = None,
    epochs: _Epochs = 1.0,
    max_steps: _MaxStepsT = None,
    lr: _Lr = 5e-5,
    batch_size: _Batch = 8,
    grad_accum: _Accum = 1,
    lora: _Lora = False,
    merge: _Merge = True,
    lora_r: _LoraR = 16,
    lora_alpha: _LoraAlpha = 32,
    max_prompt_tokens: _MaxPrompt = None,
    seed: _SeedT = 0,
    precision: _Precision = "auto",
    completion_only: Annotated[
        bool,
        typer.Option(
            "--completion-only/--all-tokens",
            help="Loss on the agent's replies only, or on every token (pretraining a model from scratch).",
        ),
    ] = True,
    logging_steps: _LogSteps = 10,
    device: _Device = "auto",
    overwrite: _Overwrite = False,
    as_json: _JsonT = False,
) -> None:
    """Supervised fine-tuning on an SFT export: loss on the agent's turns, each with the prompt it acted on."""
    _train_command("sft", **locals())


@train_app.command("dpo")
def train_dpo_command(
    data: _TrainData,
    model: _TrainModel = None,
    out_dir: _TrainOut = None,
    epochs: _Epochs = 1.0,
    max_steps: _MaxStepsT = None,
    lr: _Lr = 5e-5,
    batch_size: _Batch = 8,
    grad_accum: _Accum = 1,
    lora: _Lora = False,
    merge: _Merge = True,
    lora_r: _LoraR = 16,
    lora_alpha: _LoraAlpha = 32,
    max_prompt_tokens: _MaxPrompt = None,
    seed: _SeedT = 0,
    precision: _Precision = "auto",
    beta: Annotated[float, typer.Option(help="DPO beta: pull towards the base (reference) model.")] = 0.1,
    logging_steps: _LogSteps = 10,
    device: _Device = "auto",
    overwrite: _Overwrite = False,
    as_json: _JsonT = False,
) -> None:
    """Direct preference optimisation on a DPO export (successful vs failed turns of the same task)."""
    _train_command("dpo", **locals())


@app.command()
def evolve(
    env: Annotated[list[str], typer.Argument(help="Environment name(s).", show_default=False)],
    model: Annotated[
        str, typer.Option(help="Starting model: smollm2 (the local base) or a local model directory.")
    ] = "smollm2",
    work: Annotated[Path, typer.Option("--out", "-o", help="Work directory (models, data, store).")] = Path(
        "evolve"
    ),
    iterations: Annotated[int, typer.Option(help="Sample-train-evaluate iterations.")] = 2,
    train_tasks: Annotated[int, typer.Option(help="Train tasks per env sampled each iteration.")] = 64,
    samples: Annotated[int, typer.Option(help="Episodes per train task.")] = 4,
    temperature: Annotated[float, typer.Option(help="Sampling temperature on train tasks.")] = 1.0,
    test_tasks: Annotated[int, typer.Option(help="Held-out test tasks per env (greedy).")] = 50,
    difficulty: DifficultyOpt = None,
    max_steps: MaxStepsOpt = None,
    accumulate: Annotated[
        bool, typer.Option(help="Train on every iteration's successes so far (else the latest only).")
    ] = True,
    dpo: Annotated[bool, typer.Option(help="Also a DPO pass on success/failure pairs of a task.")] = False,
    epochs: Annotated[float, typer.Option(help="Training epochs per iteration.")] = 1.0,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-5,
    batch_size: Annotated[int, typer.Option(help="Examples per training step.")] = 8,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (merged after each iteration).")] = False,
    seed: Annotated[int, typer.Option(help="Seed for tasks, sampling and training.")] = 0,
    concurrency: Annotated[int | None, typer.Option(help="Episodes in flight.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON on stdout.")] = False,
) -> None:
    """Self-improvement: sample on train tasks, keep successes (and DPO pairs), train, evaluate on
    held-out test tasks; repeat. Prints one row per iteration; `evolve.json` in --out keeps them."""
    from palaestra.env import env_factory
    from palaestra.evolve import EvolveConfig, IterationRow
    from palaestra.evolve import evolve as run_evolve

    cfg = EvolveConfig(
        envs=env,
        model=model,
        iterations=iterations,
        train_tasks=train_tasks,
        samples=samples,
        temperature=temperature,
        test_tasks=test_tasks,
        difficulty=difficulty,
        max_steps=max_steps,
        accumulate=accumulate,
        dpo=dpo,
        seed=seed,
        concurrency=concurrency,
        train={"epochs": epochs, "lr": lr, "batch_size": batch_size, "lora": lora, "seed": seed},
    )
    for name in env:
        env_factory(name)

    def show(row: IterationRow) -> None:
        if not as_json:
            err.print(_evolve_line(row), highlight=False, soft_wrap=True)

    rows = run_evolve(cfg, work, on_row=show)
    if as_json:
        print(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    t = Table("iter", "trained on", "loss", *env, "mean", "model")
    for r in rows:
        trained = (
            "-"
            if r.iteration == 0
            else f"{r.train_successes}/{r.train_episodes} ok, {r.sft_rows} eps"
            + (f", {r.dpo_pairs} pairs" if cfg.dpo else "")
        )
        t.add_row(
            str(r.iteration),
            trained,
            "-" if r.train_loss is None else f"{r.train_loss:.3f}",
            *(f"{r.test_success.get(e, 0.0):.1%}" for e in env),
            f"{r.test_mean:.1%}",
            r.model,
        )
    out.print(t)


def _evolve_line(row: Any) -> str:
    return f"iteration {row.iteration}: test {row.test_mean:.1%} ({_per_env(row.test_success)}) in {row.seconds:.0f}s"


_Envs = Annotated[list[str], typer.Argument(help="Environment name(s).", show_default=False)]
_LoopModel = Annotated[str | None, typer.Option("--model", "-m", help="Base model: a local model directory.")]
_LoopOut = Annotated[
    Path | None, typer.Option("--out", "-o", help="Work directory (models, data, store, record).")
]
_EvalTasks = Annotated[int, typer.Option("--eval-tasks", help="Held-out tasks per env, scored greedily.")]
_EvalSplit = Annotated[str, typer.Option("--eval-split", help="Split of the held-out tasks: dev or test.")]
_MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", help="Tokens per reply (default: the model's).")
]
_Concurrency = Annotated[int | None, typer.Option(help="Episodes in flight.")]
_LoopSeed = Annotated[int, typer.Option(help="Seed of tasks, sampling and training.")]


def _loop_args(command: str, model: str | None, work: Path | None) -> tuple[str, Path]:
    if not model:
        raise UsageError(f"name the base model: palaestra train {command} ENV... --model DIR --out DIR")
    if work is None:
        raise UsageError(
            f"name the work directory: palaestra train {command} ENV... --model {model} --out DIR"
        )
    return model, work


def _settings(cls: type[T], **values: Any) -> T:
    """A loop's settings, a bad value reported as one UsageError line naming its flag."""
    from pydantic import ValidationError

    try:
        return cls.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "settings"
        raise UsageError(f"bad value for {flag}: {first['msg']}") from None


def _show(line: str) -> None:
    err.print(line, highlight=False, markup=False, soft_wrap=True)


@train_app.command("dagger")
def train_dagger_command(
    env: _Envs,
    model: _LoopModel = None,
    work: _LoopOut = None,
    iterations: Annotated[int, typer.Option(help="Roll out, label, retrain: this many times.")] = 3,
    tasks: Annotated[int, typer.Option(help="Train tasks per env rolled out each iteration.")] = 32,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature of the rollouts (0: greedy).")
    ] = 0.0,
    eval_tasks: _EvalTasks = 20,
    eval_split: _EvalSplit = "dev",
    difficulty: DifficultyOpt = None,
    max_steps: MaxStepsOpt = None,
    max_tokens: _MaxTokens = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Expert SFT export(s) trained on with the labels.")
    ] = None,
    epochs: _Epochs = 1.0,
    max_train_steps: Annotated[
        int | None, typer.Option("--max-train-steps", help="SFT steps per iteration.")
    ] = None,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 2e-4,
    batch_size: _Batch = 8,
    lora: Annotated[
        bool, typer.Option("--lora/--no-lora", help="Train LoRA adapters (merged each iteration).")
    ] = True,
    max_prompt_tokens: _MaxPrompt = None,
    seed: _LoopSeed = 0,
    concurrency: _Concurrency = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start", help="The first policy rolled out (an SFT model or adapter; default: --model)."
        ),
    ] = None,
    label: Annotated[
        str,
        typer.Option(
            "--label", help="States trained on: all | disagreements (the model's action was wrong)."
        ),
    ] = "all",
    warm_start: Annotated[
        bool,
        typer.Option(
            "--warm-start/--from-base",
            help="Train each iteration's model further on its own labels (a LoRA adapter stays one "
            "adapter), or from --model on every label so far.",
        ),
    ] = False,
    merge: _Merge = True,
    as_json: _JsonT = False,
) -> None:
    """DAgger: roll the model out, let the env's expert label the states it visited, train on all labels so far, repeat."""
    from palaestra.train.dagger import DaggerConfig, DaggerRow, dagger

    base, out_dir = _loop_args("dagger", model, work)
    train: dict[str, Any] = {
        "epochs": epochs, "lr": lr, "batch_size": batch_size, "lora": lora, "seed": seed, "merge": merge,
    }  # fmt: skip
    if max_train_steps is not None:
        train["max_steps"] = max_train_steps
    if max_prompt_tokens is not None:
        train["max_prompt_tokens"] = max_prompt_tokens
    cfg = _settings(
        DaggerConfig,
        envs=env, model=base, iterations=iterations, tasks=tasks, temperature=temperature,
        eval_tasks=eval_tasks, eval_split=eval_split, difficulty=difficulty, max_steps=max_steps,
        max_tokens=max_tokens, data=[str(p) for p in data or []], seed=seed, concurrency=concurrency,
        train=train, start=start, label=label, warm_start=warm_start,
    )  # fmt: skip

    def show(row: DaggerRow) -> None:
        if not as_json:
            agree = "" if row.agreement is None else f", agreed with the expert on {row.agreement:.0%}"
            _show(
                f"iteration {row.iteration}: {row.states} states labeled{agree}; "
                f"{cfg.eval_split} {row.eval_mean:.1%} ({_per_env(row.eval_success)}) in {row.seconds:.0f}s"
            )

    rows = dagger(cfg, out_dir, on_row=show)
    if as_json:
        print(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    t = Table("iter", "states", "agreement", "rows", "loss", *env, "mean", "model")
    for r in rows:
        t.add_row(
            str(r.iteration), str(r.states), "-" if r.agreement is None else f"{r.agreement:.0%}", str(r.rows),
            "-" if r.train_loss is None else f"{r.train_loss:.3f}",
            *(f"{r.eval_success.get(e, 0.0):.1%}" for e in env), f"{r.eval_mean:.1%}", r.model,
        )  # fmt: skip
    out.print(t)


@train_app.command("grpo")
def train_grpo_command(
    env: _Envs,
    model: _LoopModel = None,
    work: _LoopOut = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps (each on fresh rollouts).")] = 50,
    tasks: Annotated[int, typer.Option(help="Groups (train tasks) per env per step.")] = 4,
    group_size: Annotated[int, typer.Option("--group-size", "-g", help="Episodes per task (a group).")] = 4,
    temperature: Annotated[float, typer.Option(help="Sampling temperature of the rollouts.")] = 1.0,
    reward: Annotated[
        str,
        typer.Option(help="Episode return: success | reward (the env's total) | progress (partial credit)."),
    ] = "success",
    lr: Annotated[float, typer.Option("--lr", help="Learning rate (AdamW, constant).")] = 1e-4,
    lora: Annotated[
        bool, typer.Option("--lora/--no-lora", help="Train LoRA adapters (else every weight).")
    ] = True,
    lora_r: _LoraR = 16,
    lora_alpha: _LoraAlpha = 32,
    clip: Annotated[float, typer.Option(help="Clip the probability ratio to [1 - clip, 1 + clip].")] = 0.2,
    kl: Annotated[float, typer.Option(help="KL penalty to the reference (base) model; 0: none.")] = 0.0,
    epochs: Annotated[int, typer.Option(help="Optimiser steps on each step's rollouts.")] = 1,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="Sequences per forward pass.")] = 4,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Score held-out tasks every N steps.")] = 10,
    eval_tasks: _EvalTasks = 20,
    eval_split: _EvalSplit = "dev",
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N steps.")] = 10,
    difficulty: DifficultyOpt = None,
    max_steps: MaxStepsOpt = None,
    max_tokens: _MaxTokens = None,
    seed: _LoopSeed = 0,
    concurrency: _Concurrency = None,
    device: _Device = "auto",
    rollout_dtype: Annotated[
        str,
        typer.Option(
            "--rollout-dtype",
            help="float32 (log-probabilities exactly the policy's) | auto (bf16 where fast).",
        ),
    ] = "float32",
    as_json: _JsonT = False,
) -> None:
    """Online RL (GRPO) over whole episodes: groups of samples per task, env rewards, clipped token-level loss."""
    values = {k: v for k, v in locals().items() if k not in ("env", "model", "work", "as_json")}
    from palaestra.train.grpo import CurvePoint, GrpoConfig, StepRow, grpo

    base, out_dir = _loop_args("grpo", model, work)
    cfg = _settings(GrpoConfig, envs=env, model=base, **values)

    def step_line(row: StepRow) -> None:
        if not as_json:
            loss = "no signal (every group flat)" if row.loss is None else f"loss {row.loss:+.4f}"
            _show(
                f"step {row.step}/{cfg.steps}: return {row.reward_mean:.3f}, success {row.success:.0%}, "
                f"{row.groups - row.flat_groups}/{row.groups} groups with signal, {loss}, {row.seconds:.0f}s"
            )

    def eval_line(p: CurvePoint) -> None:
        if not as_json:
            _show(f"eval at step {p.step}: {cfg.eval_split} {p.mean:.1%} ({_per_env(p.success)})")

    record = grpo(cfg, out_dir, on_step=step_line, on_eval=eval_line)
    if as_json:
        print(json.dumps(record, indent=2))
        return
    out.print(
        f"trained {cfg.steps} steps; wrote {out_dir / 'model'} (use it with --model local:{out_dir / 'model'}), "
        f"learning curve in {out_dir / 'curve.svg'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _per_env(success: dict[str, float]) -> str:
    return " ".join(f"{e}={s:.1%}" for e, s in success.items())
