"""Rows of each export format, built from stored episodes.

* ``sft`` — TRL's conversational language-modelling format: ``messages`` (system, user, assistant
  with tool calls, tool results, ...) and ``tools`` (OpenAI JSON schemas), one row per episode,
  ending at the agent's last turn. SFTTrainer applies the chat template with the tools; with
  ``assistant_only_loss=True`` the loss covers only the agent's turns (AgentTuning's recipe).
* ``dpo`` — TRL's conversational preference format with an explicit prompt, from a successful and a
  failed episode of the same task: ``prompt`` is the conversation they share, ``chosen`` and
  ``rejected`` continue it. ``step`` mode: one agent turn each, at the first point where the two
  episodes differ (a step-level pair, as in Agent Q); ``trajectory`` mode: the rest of each episode
  up to its last agent turn (trajectory-level, as in ETO / Agent-R).
* ``rm`` — TRL's implicit-prompt preference format for RewardTrainer: ``chosen`` and ``rejected`` are
  whole trajectories of the same task (a success and a failure), ``task`` is the goal text (ARMAP's
  (task, positive, negative) triplets).
* ``search-dpo`` — step-level preference pairs from searched episodes (``bestofn``, ``beam``,
  ``mcts``; Agent Q's recipe): at each real step whose trace holds a search tree, the root's child
  with the highest value is ``chosen`` and each sibling with a lower value is ``rejected``; ``prompt``
  is the conversation up to that step. Explicit-prompt format, like ``dpo``.
* ``search-sft`` — best-branch SFT: the trajectories the search chose and played (the ``sft`` rows
  of episodes whose steps hold a search tree).
* ``raw`` — every stored field of every episode: the episode row, task, steps, final observation and
  model calls with token ids and logprobs where the server returned them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from palaestra.chat import chat_message
from palaestra.export.conversation import (
    common_prefix,
    conversation,
    goal,
    tools_of,
    trim_to_last_assistant,
)
from palaestra.store.rows import EpisodeDetail, ModelCallRow
from palaestra.types import Message, ToolCall

Kind = Literal["str", "int", "float", "bool", "json", "json_list"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Episode:
    """A stored episode and the run it belongs to: what each format's rows are made of."""

    run_id: str
    detail: EpisodeDetail


META: tuple[tuple[str, Kind], ...] = (
    ("run_id", "str"),
    ("episode_id", "str"),
    ("env", "str"),
    ("task_id", "str"),
    ("split", "str"),
    ("difficulty", "int"),
    ("sample", "int"),
    ("agent", "str"),
    ("model", "str"),
    ("status", "str"),
    ("success", "bool"),
    ("reward", "float"),
    ("progress", "float"),
    ("steps", "int"),
)
COLUMNS: dict[str, tuple[tuple[str, Kind], ...]] = {
    "sft": (("messages", "json_list"), ("tools", "json_list"), *META),
    "dpo": (
        ("prompt", "json_list"),
        ("chosen", "json_list"),
        ("rejected", "json_list"),
        ("tools", "json_list"),
        ("env", "str"),
        ("task_id", "str"),
        ("difficulty", "int"),
        ("chosen_run_id", "str"),
        ("chosen_episode_id", "str"),
        ("chosen_reward", "float"),
        ("rejected_run_id", "str"),
        ("rejected_episode_id", "str"),
        ("rejected_reward", "float"),
        ("divergence_turn", "int"),
    ),
    "rm": (
        ("chosen", "json_list"),
        ("rejected", "json_list"),
        ("tools", "json_list"),
        ("task", "str"),
        ("env", "str"),
        ("task_id", "str"),
        ("difficulty", "int"),
        ("chosen_run_id", "str"),
        ("chosen_episode_id", "str"),
        ("chosen_reward", "float"),
        ("rejected_run_id", "str"),
        ("rejected_episode_id", "str"),
        ("rejected_reward", "float"),
    ),
    "search-dpo": (
        ("prompt", "json_list"),
        ("chosen", "json_list"),
        ("rejected", "json_list"),
        ("tools", "json_list"),
        ("run_id", "str"),
        ("episode_id", "str"),
        ("env", "str"),
        ("task_id", "str"),
        ("difficulty", "int"),
        ("agent", "str"),
        ("step", "int"),
        ("chosen_value", "float"),
        ("rejected_value", "float"),
        ("chosen_visits", "int"),
        ("rejected_visits", "int"),
    ),
    "search-sft": (("messages", "json_list"), ("tools", "json_list"), *META),
    "raw": (
        ("run_id", "str"),
        ("id", "str"),
        ("env", "str"),
        ("task_id", "str"),
        ("split", "str"),
        ("difficulty", "int"),
        ("sample", "int"),
        ("agent", "str"),
        ("model", "str"),
        ("status", "str"),
        ("reward", "float"),
        ("success", "bool"),
        ("progress", "float"),
        ("n_steps", "int"),
        ("invalid_actions", "int"),
        ("input_tokens", "int"),
        ("output_tokens", "int"),
        ("model_calls", "int"),
        ("model_latency", "float"),
        ("cost", "float"),
        ("wall", "float"),
        ("error", "str"),
        ("task", "json"),
        ("steps", "json_list"),
        ("final", "json_list"),
        ("calls", "json_list"),
    ),
}
FORMATS: tuple[str, ...] = tuple(COLUMNS)


def meta(ep: Episode) -> dict[str, Any]:
    row = ep.detail.row
    return {
        "run_id": ep.run_id,
        "episode_id": row.id,
        "env": row.env,
        "task_id": row.task_id,
        "split": row.split,
        "difficulty": row.difficulty,
        "sample": row.sample,
        "agent": row.agent,
        "model": row.model,
        "status": row.status,
        "success": bool(row.success),
        "reward": row.reward,
        "progress": row.progress,
        "steps": len(ep.detail.steps),
    }


def sft_row(ep: Episode) -> dict[str, Any] | None:
    """One SFT row, or ``None`` when the episode has no agent turn."""
    messages = trim_to_last_assistant(conversation(ep.detail))
    if not messages:
        return None
    return {"messages": messages, "tools": tools_of(ep.detail), **meta(ep)}


def raw_row(ep: Episode, calls: Sequence[ModelCallRow]) -> dict[str, Any]:
    """Every stored field: the episode's columns, task, steps and final observation, and its model
    calls with every field."""
    detail = ep.detail
    return detail.row.as_dict() | {
        "task": detail.task,
        "final": detail.final,
        "run_id": ep.run_id,
        "n_steps": len(detail.steps),
        "success": bool(detail.row.success),
        "steps": [s.as_dict() for s in detail.steps],
        "calls": [c.as_dict() for c in calls],
    }


def _pair_meta(chosen: Episode, rejected: Episode) -> dict[str, Any]:
    good, bad = chosen.detail.row, rejected.detail.row
    return {
        "env": good.env,
        "task_id": good.task_id,
        "difficulty": good.difficulty,
        "chosen_run_id": chosen.run_id,
        "chosen_episode_id": good.id,
        "chosen_reward": good.reward,
        "rejected_run_id": rejected.run_id,
        "rejected_episode_id": bad.id,
        "rejected_reward": bad.reward,
    }


def _tools(*eps: Episode) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for ep in eps:
        for t in tools_of(ep.detail):
            by_name.setdefault(t["function"]["name"], t)
    return list(by_name.values())


def dpo_row(chosen: Episode, rejected: Episode, mode: str = "step") -> dict[str, Any] | None:
    """A preference pair from a successful (``chosen``) and a failed episode of the same task, or
    ``None`` when they do not diverge at an agent turn (nothing to prefer)."""
    c, r = conversation(chosen.detail), conversation(rejected.detail)
    i = common_prefix(c, r)
    if i >= len(c) or i >= len(r) or c[i]["role"] != "assistant" or r[i]["role"] != "assistant":
        return None
    if mode == "step":
        chosen_part, rejected_part = [c[i]], [r[i]]
    else:
        chosen_part, rejected_part = trim_to_last_assistant(c[i:]), trim_to_last_assistant(r[i:])
    return {
        "prompt": c[:i],
        "chosen": chosen_part,
        "rejected": rejected_part,
        "tools": _tools(chosen, rejected),
        **_pair_meta(chosen, rejected),
        "divergence_turn": sum(m["role"] == "assistant" for m in c[:i]),
    }


def rm_row(chosen: Episode, rejected: Episode) -> dict[str, Any] | None:
    """A (task, positive trajectory, negative trajectory) triplet in the implicit-prompt format."""
    c = trim_to_last_assistant(conversation(chosen.detail))
    r = trim_to_last_assistant(conversation(rejected.detail))
    if not c or not r:
        return None
    return {
        "chosen": c,
        "rejected": r,
        "tools": _tools(chosen, rejected),
        "task": goal(chosen.detail),
    } | _pair_meta(chosen, rejected)


def pairings(successes: Sequence[T], failures: Sequence[T]) -> Iterator[tuple[T, T]]:
    """Success/failure pairs of one task: every episode used at least once, no pair twice."""
    if not successes or not failures:
        return
    for i in range(max(len(successes), len(failures))):
        yield successes[i % len(successes)], failures[i % len(failures)]


def searched(ep: Episode) -> bool:
    """Whether any step of the episode holds a search tree in its trace."""
    return any(isinstance((st.trace or {}).get("tree"), dict) for st in ep.detail.steps)


def _node_action(node: Mapping[str, Any], call_id: str) -> Message:
    calls = [
        ToolCall(id=f"{call_id}_{j}" if j else call_id, name=c["name"], arguments=c.get("arguments") or {})
        for j, c in enumerate(node.get("call") or [])
    ]
    return Message(role="assistant", content=node.get("text") or "", tool_calls=calls)


def _siblings(tree: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The root's children that were valued, one per distinct action (its best), best first."""
    best: dict[str, Mapping[str, Any]] = {}
    for child in tree.get("children") or []:
        if not child.get("visits") or (not child.get("call") and not child.get("text")):
            continue
        key = repr((child.get("call"), child.get("text")))
        if key not in best or child["value"] > best[key]["value"]:
            best[key] = child
    return sorted(best.values(), key=lambda c: -float(c["value"]))


def search_dpo_rows(ep: Episode) -> Iterator[dict[str, Any]]:
    """Step-level pairs from the search trees of one episode: the best valued sibling against each
    lower valued one, with the conversation up to that step as the prompt."""
    prefix: list[Any] = []
    tools = tools_of(ep.detail)
    row = ep.detail.row
    for step in ep.detail.steps:
        prefix.extend(chat_message(m) for m in step.observation)
        tree = (step.trace or {}).get("tree")
        kids = _siblings(tree) if isinstance(tree, dict) else []
        for worse in kids[1:]:
            top = kids[0]
            if float(worse["value"]) >= float(top["value"]):
                continue
            call_id = f"call_{step.index}"
            yield {
                "prompt": list(prefix),
                "chosen": [chat_message(_node_action(top, call_id))],
                "rejected": [chat_message(_node_action(worse, call_id))],
                "tools": tools,
                "run_id": ep.run_id,
                "episode_id": row.id,
                "env": row.env,
                "task_id": row.task_id,
                "difficulty": row.difficulty,
                "agent": row.agent,
                "step": step.index,
                "chosen_value": float(top["value"]),
                "rejected_value": float(worse["value"]),
                "chosen_visits": int(top["visits"]),
                "rejected_visits": int(worse["visits"]),
            }
        prefix.append(chat_message(step.action))
