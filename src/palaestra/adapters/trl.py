"""Any single-agent Palaestra env as TRL ``GRPOTrainer``'s ``environment_factory``.

    from trl import GRPOConfig, GRPOTrainer
    from palaestra.adapters.trl import dataset, factory

    trainer = GRPOTrainer(
        model="Qwen/Qwen3-0.6B",
        args=GRPOConfig(max_steps=100, num_generations=8),
        train_dataset=dataset("maze", 512, split="train"),       # optional: one task per row
        environment_factory=factory("maze", split="train"),
    )
    trainer.train()

``factory(env)`` returns a class. TRL makes one instance per rollout and exposes its public methods
as the model's tools: they are generated from the env's ``@tool`` specs (same names, arguments,
types and descriptions), and each call is one step of the env whose text is the tool's result.
``reset(**row)`` starts an episode and returns its prompt (the env's instructions and goal);
``get_reward()`` scores the finished rollout with the env's total reward (or ``reward="success"``
/ ``"progress"``).

Which task a rollout plays: a dataset row's ``task`` (made by :func:`dataset`: GRPO repeats a row
``num_generations`` times, so a group shares its task, as group-relative advantages want), else its
``seed``, else (no ``train_dataset``) the next task of ``split`` from ``seed`` upwards; then the
rollouts of a group play different tasks.

Limits: an env whose tool list changes with the task (``tools``) exposes only its fixed tools; a
reply with several tool calls is several env steps.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal, cast

from palaestra.adapters._session import (
    REWARD_KINDS,
    RewardKind,
    SyncEpisode,
    all_tools,
    make_single,
    pick_task,
    prompt_text,
)
from palaestra.errors import UsageError
from palaestra.types import Split, Task, ToolSpec

_SIMPLE: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict}
RESERVED = ("reset", "get_reward")


def schema_hint(schema: dict[str, Any]) -> Any:
    """A Python type hint that ``transformers.utils.get_json_schema`` turns back into ``schema``."""
    if "enum" in schema:
        literal: Any = Literal
        return literal[tuple(schema["enum"])]
    options = schema.get("anyOf")
    if isinstance(options, list) and options:
        hints = [type(None) if o.get("type") == "null" else schema_hint(o) for o in options]
        union = hints[0]
        for h in hints[1:]:
            union = union | h
        return union
    kind = schema.get("type")
    if kind == "array":
        generic: Any = list
        return generic[schema_hint(schema.get("items") or {})]
    if isinstance(kind, str) and kind in _SIMPLE:
        return _SIMPLE[kind]
    return dict if "$ref" in schema else str


def _docstring(spec: ToolSpec) -> str:
    props: dict[str, Any] = spec.parameters.get("properties", {})
    lines = [" ".join(spec.description.split()) or spec.name]
    if props:
        lines += ["", "Args:"]
        for pname, prop in props.items():
            desc = " ".join(str(prop.get("description") or pname).split())
            lines.append(f"    {pname}: {desc}")
    return "\n".join(lines)


def tool_method(spec: ToolSpec) -> Callable[..., str]:
    """A method named and typed like the env tool ``spec`` whose call is one env step."""
    name = spec.name

    def method(self: TRLEnvironment, **arguments: Any) -> str:
        return self._act(name, arguments)

    props: dict[str, Any] = spec.parameters.get("properties", {})
    required = set(spec.parameters.get("required", []))
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    for pname, prop in props.items():
        hint = schema_hint(prop)
        default = inspect.Parameter.empty if pname in required else prop.get("default")
        params.append(
            inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
        )
        annotations[pname] = hint
    annotations["return"] = str
    method.__name__ = method.__qualname__ = name
    method.__doc__ = _docstring(spec)
    method.__annotations__ = annotations
    cast(Any, method).__signature__ = inspect.Signature(params, return_annotation=str)
    return method


class TRLEnvironment:
    """Base of the classes :func:`factory` makes; only tools, ``reset`` and ``get_reward`` are public."""

    _env_name: ClassVar[str]
    _split: ClassVar[Split]
    _difficulty: ClassVar[int | None]
    _reward: ClassVar[RewardKind]
    _max_steps: ClassVar[int | None]
    _next_seed: ClassVar[Iterator[int]]

    def __init__(self) -> None:
        self._episode = SyncEpisode(make_single(self._env_name), max_steps=self._max_steps)

    def _task(self, row: dict[str, Any]) -> Task:
        env = self._episode.episode.env
        if row.get("task"):
            data = row["task"]
            return Task.model_validate(json.loads(data) if isinstance(data, str) else data)
        seed = row.get("seed")
        seed = int(seed) if seed is not None else next(self._next_seed)
        return pick_task(env, self._split, seed, self._difficulty)

    def reset(self, **row: Any) -> str:
        """Start an episode (of the row's task) and return its prompt."""
        obs = self._episode.start(self._task(row))
        return prompt_text(obs)

    def get_reward(self) -> float:
        """The finished rollout's score."""
        return self._episode.episode.score(self._reward)

    def _act(self, name: str, arguments: dict[str, Any]) -> str:
        return self._episode.act(name, arguments).text

    def _close(self) -> None:
        self._episode.close()


def factory(
    env: str,
    *,
    split: Split = "train",
    difficulty: int | None = None,
    seed: int = 0,
    reward: RewardKind = "reward",
    max_steps: int | None = None,
) -> type[TRLEnvironment]:
    """A class for ``GRPOTrainer(environment_factory=...)`` playing ``env`` (see the module docstring)."""
    if reward not in REWARD_KINDS:
        raise UsageError(f"unknown reward {reward!r}; valid: {', '.join(REWARD_KINDS)}")
    probe = make_single(env)
    specs = all_tools(probe)
    clash = [s.name for s in specs if s.name in RESERVED or s.name.startswith("_")]
    if clash:
        raise UsageError(f"{env}: tool names {clash} clash with TRL's environment methods")
    attrs: dict[str, Any] = {s.name: tool_method(s) for s in specs}
    attrs.update(
        _env_name=env,
        _split=split,
        _difficulty=difficulty,
        _reward=reward,
        _max_steps=max_steps,
        _next_seed=itertools.count(seed),
        __doc__=f"Palaestra's {env} environment for TRL (see palaestra.adapters.trl).",
    )
    class_name = "".join(part.capitalize() for part in env.replace("_", "-").split("-")) + "Env"
    return type(class_name, (TRLEnvironment,), attrs)


def task_rows(
    env: str, n: int, *, split: Split = "train", difficulty: int | None = None, seed: int = 0
) -> dict[str, list[Any]]:
    """Columns of ``n`` tasks for a GRPO dataset: an empty user prompt and the task as JSON."""
    tasks = make_single(env).tasks(split, n, seed=seed, difficulty=difficulty)
    return {
        "prompt": [[{"role": "user", "content": ""}] for _ in tasks],
        "task": [t.model_dump_json() for t in tasks],
    }


def dataset(env: str, n: int, *, split: Split = "train", difficulty: int | None = None, seed: int = 0) -> Any:
    """A ``datasets.Dataset`` of ``n`` tasks (see :func:`task_rows`) for ``GRPOTrainer``."""
    datasets = importlib.import_module("datasets")  # untyped; imported only when asked for
    return datasets.Dataset.from_dict(task_rows(env, n, split=split, difficulty=difficulty, seed=seed))


COMPACT_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|end\|>\s*", "content": "text"},
    },
}
"""How ``transformers``' response parser reads a reply in Palaestra's compact chat format (Hermes
tool calls, ``<|end|>`` ends the turn): TRL only knows the templates of published model families."""


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give a tokenizer with Palaestra's compact chat template (``nano``, micro models) the response
    parser TRL's tool loop needs; other tokenizers are returned unchanged."""
    from palaestra.models.chat_format import COMPACT_TEMPLATE

    if getattr(tokenizer, "chat_template", None) == COMPACT_TEMPLATE:
        tokenizer.response_template = COMPACT_RESPONSE_TEMPLATE
    return tokenizer
