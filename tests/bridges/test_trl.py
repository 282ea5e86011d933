"""TRL bridge: a Palaestra env as GRPOTrainer's environment_factory, driven by TRL itself."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from bridges.expert import play_expert
from palaestra.adapters.trl import dataset, factory, task_rows
from palaestra.env import make
from palaestra.errors import UsageError

trl = pytest.importorskip("trl", reason="the TRL bridge needs trl (the dev extra)")


def test_tools_are_the_env_tools_with_their_schemas() -> None:
    from transformers.utils import get_json_schema

    env_cls = factory("maze")
    env = env_cls()
    tools = {
        name: get_json_schema(getattr(env, name))["function"]
        for name, _ in inspect.getmembers(env_cls, predicate=inspect.isfunction)
        if name not in ("reset", "get_reward") and not name.startswith("_")
    }
    specs = {s.name: s for s in make("maze").tool_specs()}  # type: ignore[union-attr]
    assert set(tools) == set(specs)
    move = tools["move"]["parameters"]
    assert move["properties"]["direction"]["enum"] == ["north", "east", "south", "west"]
    assert move["required"] == ["direction"]


@pytest.mark.parametrize("env_name", ["maze", "guess", "wordle"])
async def test_expert_succeeds_through_the_class(env_name: str) -> None:
    rows = task_rows(env_name, 1, split="test", seed=3)
    env = factory(env_name)()
    prompt = env.reset(prompt=rows["prompt"][0], task=rows["task"][0])
    task = json.loads(rows["task"][0])
    assert prompt.startswith(make(env_name).instructions()[:40])  # type: ignore[union-attr]

    async def call(name: str, arguments: dict[str, Any]) -> bool:
        getattr(env, name)(**arguments)
        return env._episode.episode.done

    from palaestra.types import Task

    assert await play_expert(env_name, Task.model_validate(task), call)
    assert env.get_reward() == 1.0
    env._close()


def test_reset_without_a_task_draws_the_next_seed_and_rejects_bad_options() -> None:
    cls = factory("guess", split="dev", seed=10)
    a, b = cls(), cls()
    a.reset(prompt=[])
    b.reset(prompt=[])
    ta, tb = a._episode.episode.task, b._episode.episode.task
    assert ta is not None and tb is not None and ta.split == "dev" and ta.id != tb.id
    with pytest.raises(UsageError, match="unknown reward"):
        factory("guess", reward="nope")  # type: ignore[arg-type]
    game = factory("matrix-pd")()  # a game: the first seat, its first bot in the others
    assert "You play seat p1" in game.reset(prompt=[])


@pytest.mark.slow
def test_one_grpo_step_on_a_micro_model(tmp_path: Path) -> None:
    """GRPOTrainer itself makes the environments, resets them with the dataset's tasks, renders
    their tools into the prompt and scores each rollout with get_reward."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from palaestra.adapters.trl import prepare_tokenizer
    from palaestra.testing.micro import build_micro_model

    path = build_micro_model(tmp_path / "micro")
    tok = prepare_tokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    env_cls = factory("guess", split="train")
    seen: list[Any] = []

    class Recording(env_cls):  # type: ignore[misc, valid-type]
        def reset(self, **row: Any) -> str:
            seen.append(row["task"])
            return super().reset(**row)

    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=16,
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=model,
        args=args,
        processing_class=tok,
        train_dataset=dataset("guess", 4, split="train"),
        environment_factory=Recording,
    )
    trainer.train()
    assert len(seen) >= 2 and len(set(seen[:2])) == 1  # a GRPO group shares its task
    logged = trainer.state.log_history[0]
    assert any(k.startswith("rewards/Recording") for k in logged), logged
