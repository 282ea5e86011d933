"""Inspect AI bridge: a Palaestra env as an Inspect task, run by Inspect's eval on its mock model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridges.expert import play_expert
from palaestra.adapters._session import make_single

pytest.importorskip("inspect_ai", reason="the Inspect bridge needs inspect-ai (the dev extra)")

from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from palaestra.adapters.inspect import import_log, palaestra_task
from palaestra.store import Store


async def expert_calls(env: str, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """The expert's tool calls on the first test task from ``seed``, played in process."""
    task = make_single(env).tasks("test", 1, seed=seed)[0]
    calls: list[tuple[str, dict[str, Any]]] = []

    async def record(name: str, arguments: dict[str, Any]) -> bool:
        calls.append((name, arguments))
        return False

    await play_expert(env, task, record, check_done=False)
    return calls


def scripted(calls: list[tuple[str, dict[str, Any]]]) -> list[ModelOutput]:
    """Mock model replies making ``calls``, then text (usage given: Inspect would count tokens
    with tiktoken, which downloads its vocabulary)."""
    outputs = [ModelOutput.for_tool_call("mockllm/model", name, args) for name, args in calls]
    outputs.append(ModelOutput.from_content("mockllm/model", "done"))
    for out in outputs:
        out.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return outputs


@pytest.mark.slow
async def test_inspect_eval_with_the_experts_moves_scores_success_and_imports(tmp_path: Path) -> None:
    calls = await expert_calls("guess", seed=5)
    model = get_model("mockllm/model", custom_outputs=scripted(calls))
    task = palaestra_task("guess", n=1, seed=5)
    [log] = await inspect_eval_async(task, model, tmp_path / "logs")
    assert log.status == "success", log.error
    metrics = {m.name: m.value for s in log.results.scores for m in s.metrics.values()}  # type: ignore[union-attr]
    assert metrics["mean"] == 1.0
    sample = log.samples[0]  # type: ignore[index]
    assert sample.scores["episode_scorer"].value == {"success": 1.0, "reward": 1.0, "progress": 1.0}

    run_id = import_log(log, tmp_path / "p.db")
    store = Store(tmp_path / "p.db")
    assert store.summary(run_id)["success_rate"] == 1.0
    [episode] = store.episodes(run_id)
    assert episode["steps"] == len(calls) and episode["task_id"] == sample.id


async def inspect_eval_async(task: Any, model: Any, log_dir: Path) -> list[Any]:
    from inspect_ai import eval_async

    return list(await eval_async(task, model=model, log_dir=str(log_dir)))


@pytest.mark.slow
async def test_inspect_cli_evals_a_task_file_on_the_mock_model(tmp_path: Path) -> None:
    calls = await expert_calls("maze", seed=0)
    (tmp_path / "palaestra_tasks.py").write_text(
        "import json\n"
        "from inspect_ai import task\n"
        "from inspect_ai.model import ModelOutput, ModelUsage, get_model\n"
        "from palaestra.adapters.inspect import palaestra_task\n\n"
        f"CALLS = json.loads({json.dumps(json.dumps(calls))})\n\n"
        "@task\n"
        "def maze(n: int = 1):\n"
        "    outputs = [ModelOutput.for_tool_call('mockllm/model', name, args) for name, args in CALLS]\n"
        "    for out in outputs:\n"
        "        out.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)\n"
        "    model = get_model('mockllm/model', custom_outputs=outputs)\n"
        "    return palaestra_task('maze', n=n, seed=0, model=model)\n"
    )
    cmd = [sys.executable, "-m", "inspect_ai", "eval", "palaestra_tasks.py@maze", "--log-dir", "logs"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [path] = list((tmp_path / "logs").glob("*.eval"))
    log = read_eval_log(str(path))
    assert log.status == "success" and len(log.samples or []) == 1
    score = (log.samples or [])[0].scores["episode_scorer"]  # type: ignore[index]
    assert score.value["success"] == 1.0 and score.metadata["steps"] == len(calls)
