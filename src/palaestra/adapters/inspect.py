"""Single-agent Palaestra envs as Inspect AI tasks, and Inspect logs imported into the store.

A task file (``palaestra_tasks.py``)::

    from palaestra.adapters.inspect import palaestra_task
    from inspect_ai import task

    @task
    def maze(split: str = "test", n: int = 20, difficulty: int | None = None):
        return palaestra_task("maze", split=split, n=n, difficulty=difficulty)

then ``inspect eval palaestra_tasks.py@maze --model openai/gpt-4o-mini`` (or ``-T n=50``), and
:func:`import_log` stores the log's samples as a Palaestra run.

- dataset: ``n`` tasks of ``split`` (one ``Sample`` each, the task in its metadata, id = task id);
- solver: Inspect's own ``react`` agent (no submit tool) with the env's tools, each call one env
  step; the env's instructions are its system prompt and the goal its first user message; it stops
  when the episode ends or after the env's step limit (``max_steps``);
- scorer: the env's ``success`` (1/0, the headline metric), ``reward`` and ``progress``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task as InspectTask
from inspect_ai.agent import AgentState, as_solver, react
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog, EvalSample, read_eval_log
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageTool, ChatMessageUser
from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool, ToolDef, ToolParams
from inspect_ai.util import store

from palaestra.adapters._session import Episode, make_single, messages_text
from palaestra.errors import UsageError
from palaestra.types import Message, Split, Task, ToolCall, ToolSpec

RESULT_KEY = "palaestra_result"
TASK_KEY = "palaestra_task"


def dataset(
    env: str, *, split: Split = "test", n: int = 20, difficulty: int | None = None, seed: int = 0
) -> MemoryDataset:
    """``n`` tasks of ``env``'s ``split`` as Inspect samples."""
    tasks = make_single(env).tasks(split, n, seed=seed, difficulty=difficulty)
    samples = [
        Sample(
            id=t.id,
            input=f"{env} task {t.id} (difficulty {t.difficulty})",
            metadata={TASK_KEY: t.model_dump(mode="json"), "env": env, "difficulty": t.difficulty},
        )
        for t in tasks
    ]
    return MemoryDataset(samples, name=f"palaestra-{env}-{split}")


def episode_tool(episode: Episode, spec: ToolSpec) -> Tool:
    """The env tool ``spec`` as an Inspect tool whose every call is one step of ``episode``."""

    async def execute(**arguments: Any) -> str:
        if episode.done:
            return "Error: the episode is over."
        return (await episode.act(spec.name, arguments)).text

    params = ToolParams.model_validate(spec.parameters)
    return ToolDef(execute, name=spec.name, description=spec.description, parameters=params).as_tool()


@solver  # type: ignore[untyped-decorator, unused-ignore]  # Any without inspect-ai
def play(env: str, max_steps: int | None = None) -> Solver:
    """Inspect's ``react`` agent playing one episode of the sample's task with the env's tools."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        task = Task.model_validate(state.metadata[TASK_KEY])
        episode = Episode(make_single(env), max_steps=max_steps)
        obs = await episode.start(task)
        system = next((m.content for m in obs.messages if m.role == "system"), "")
        goal = messages_text([m for m in obs.messages if m.role != "system"])
        state.messages = [ChatMessageUser(content=goal)]
        turns = 0

        async def on_continue(agent_state: AgentState) -> bool:
            nonlocal turns
            turns += 1
            return not episode.done and turns < episode.max_steps

        agent = react(
            prompt=system,
            tools=[episode_tool(episode, s) for s in episode.tools],
            submit=False,
            on_continue=on_continue,
        )
        try:
            state = await as_solver(agent)(state, generate)
        finally:
            if not episode.env.done:
                episode.env.truncate()
            store().set(RESULT_KEY, episode.result())
            await episode.close()
        return state

    return solve


@scorer(metrics={"success": [mean(), stderr()], "reward": [mean()], "progress": [mean()]})  # type: ignore[untyped-decorator, unused-ignore]
def episode_scorer() -> Scorer:
    """The episode's success (1/0), total reward and progress."""

    async def score(state: TaskState, target: Target) -> Score:
        result: dict[str, Any] = store().get(RESULT_KEY) or {}
        return Score(
            value={
                "success": 1.0 if result.get("success") else 0.0,
                "reward": float(result.get("reward", 0.0)),
                "progress": float(result.get("progress", 0.0)),
            },
            answer="success" if result.get("success") else "failure",
            metadata=result,
        )

    return score


def palaestra_task(
    env: str,
    *,
    split: Split = "test",
    n: int = 20,
    difficulty: int | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    **task_options: Any,
) -> InspectTask:
    """An Inspect ``Task`` playing ``n`` tasks of ``env`` (see the module docstring); ``task_options``
    go to Inspect's ``Task`` (``epochs``, ``model``, ``message_limit``, ...)."""
    return InspectTask(
        dataset=dataset(env, split=split, n=n, difficulty=difficulty, seed=seed),
        solver=play(env, max_steps=max_steps),
        scorer=episode_scorer(),
        name=f"palaestra_{env.replace('-', '_')}",
        metadata={"palaestra_env": env, "split": split},
        **task_options,
    )


# ---- Inspect logs into the Palaestra store ------------------------------------------------------
def _message(m: ChatMessage) -> Message:
    if isinstance(m, ChatMessageAssistant):
        calls = [
            ToolCall(id=c.id, name=c.function, arguments=dict(c.arguments or {})) for c in m.tool_calls or []
        ]
        return Message(role="assistant", content=m.text, tool_calls=calls)
    if isinstance(m, ChatMessageTool):
        return Message(role="tool", content=m.text, tool_call_id=m.tool_call_id, name=m.function)
    return Message(role=m.role, content=m.text)


def _steps(messages: Sequence[ChatMessage]) -> tuple[list[Any], list[Message]]:
    """The sample's conversation as step records: each assistant message and what answered it."""
    from palaestra.records import StepRecord

    steps: list[StepRecord] = []
    seen: list[Message] = []
    for m in messages:
        msg = _message(m)
        if msg.role == "assistant":
            steps.append(StepRecord(index=len(steps), observation=seen, action=msg, reward=0.0, info={}))
            seen = []
        else:
            seen.append(msg)
    return steps, seen


def _record(sample: EvalSample, model: str) -> Any:
    from palaestra.records import EpisodeRecord

    meta = sample.metadata or {}
    if TASK_KEY not in meta:
        raise UsageError(f"sample {sample.id} is not from a Palaestra task (no {TASK_KEY} in its metadata)")
    task = Task.model_validate(meta[TASK_KEY])
    score = next(iter((sample.scores or {}).values()), None)
    values: dict[str, Any] = score.value if score is not None and isinstance(score.value, dict) else {}
    steps, final = _steps(sample.messages)
    return EpisodeRecord(
        id=f"{task.id}-e{sample.epoch}",
        task=task,
        agent="inspect:react",
        model=model,
        sample=max(sample.epoch - 1, 0),
        status="error" if sample.error else "done",
        reward=float(values.get("reward", 0.0)),
        success=bool(values.get("success", 0.0)),
        progress=float(values.get("progress", 0.0)),
        invalid_actions=0,
        wall=float(sample.total_time or 0.0),
        error=sample.error.message if sample.error else None,
        steps=steps,
        final=final,
    )


def import_log(log: str | Path | EvalLog, store_path: str | Path, *, run_id: str | None = None) -> str:
    """Store an Inspect eval log of a :func:`palaestra_task` as a Palaestra run; return its id."""
    from palaestra.runner.run import RunConfig, new_run_id
    from palaestra.store import Store

    evallog = log if isinstance(log, EvalLog) else read_eval_log(str(log))
    samples = evallog.samples or []
    if not samples:
        raise UsageError("the log has no samples (was it read with header_only?)")
    records = [_record(s, evallog.eval.model) for s in samples]
    env = records[0].task.env
    config = RunConfig(
        envs=[env],
        agent="inspect:react",
        model=evallog.eval.model,
        split=records[0].task.split,
        tasks=len({r.task.id for r in records}),
        samples=max(r.sample for r in records) + 1,
    )
    db = Store(store_path)
    rid = run_id or new_run_id()
    db.create_run(rid, config.model_dump(mode="json"))
    for rec in records:
        db.write_episode(rid, rec)
    db.set_run_status(rid, "done", db.summary(rid))
    db.close()
    return rid
