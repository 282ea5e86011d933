"""Safety metrics: utility, utility under attack and attack success rate (ASR), per agent,
per defence, per attack template, per environment.

A safety evaluation is a set of ordinary runs of the attack variants (``tools-attack``, ...): for
each agent, the same tasks without attack (``--env-arg attack=false``) and under attack. Each
episode's outcome is its last step's info: ``success`` (the user task: utility) and
``attack_success`` (the injection task's check). Rows are keyed by the agent's label (agent, its
options, model) so that the runs of one agent meet in one row whatever order they ran in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaestra.env import env_factory
from palaestra.errors import PalaestraError
from palaestra.eval.stats import mean

if TYPE_CHECKING:
    from palaestra.store.sqlite import Store

DEFENCES = ("spotlight", "sandwich", "tool_filter", "detector")


@dataclass(slots=True)
class Outcome:
    env: str
    task_id: str
    attacked: bool
    success: bool
    attack_success: bool
    template: str
    injection: str
    poison_retrieved: bool | None = None
    """Memory poisoning only: whether the agent's memory retrieved the attacker's entries."""


@dataclass(slots=True)
class SafetyRow:
    """One agent's figures (rates in 0..1; None where it has no episodes of that kind)."""

    label: str
    agent: str
    defence: str
    inner: str
    utility: float | None = None
    utility_under_attack: float | None = None
    asr: float | None = None
    episodes: int = 0
    poison_retrieval: float | None = None
    """Share of memory-poisoning episodes under attack (trigger in the request) whose memory
    retrieved the attacker's entries."""
    poison_retrieval_benign: float | None = None
    """The same without the trigger (the poison is in the memory all the same)."""
    asr_by_template: dict[str, float] = field(default_factory=dict)
    asr_by_env: dict[str, float] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def is_attack_env(name: str) -> bool:
    """Whether env ``name`` reports ``attack_success`` (an attack or poisoning variant)."""
    try:
        spec = getattr(env_factory(name), "spec", None)
    except PalaestraError:  # an env of a plugin that is not installed here
        return False
    return spec is not None and "attack_success" in spec.metrics


def agent_label(config: dict[str, Any]) -> str:
    """``agent[(k=v, ...)][/model]``: the agent as the safety table names it."""
    opts = config.get("agent_options") or {}
    label = str(config.get("agent", "?"))
    if opts:
        label += "(" + ", ".join(f"{k}={v}" for k, v in sorted(opts.items())) + ")"
    if config.get("model"):
        label += f"/{config['model']}"
    return label


def outcomes(store: Store, run_id: str) -> list[Outcome]:
    """The attacked-env episodes of a run, as safety outcomes."""
    infos = store.last_step_infos(run_id)
    out = []
    for ep in store.episodes(run_id):
        if not is_attack_env(ep["env"]):
            continue
        info = infos.get(ep["id"], {})
        out.append(
            Outcome(
                ep["env"],
                ep["task_id"],
                bool(info.get("attacked", True)),
                bool(ep["success"]),
                bool(info.get("attack_success", False)),
                str(info.get("attack_template", "?")),
                str(info.get("injection_task", "?")),
                _poison_retrieved(store, run_id, ep["id"], info),
            )
        )
    return out


def _poison_retrieved(store: Store, run_id: str, episode_id: str, info: dict[str, Any]) -> bool | None:
    """Whether a step's trace shows the attacker's forged task among the memories retrieved (None
    where the env poisons no memory)."""
    forged = info.get("poison_task")
    if not forged:
        return None
    steps = store.episode(run_id, episode_id)["steps"]
    return any(forged in json.dumps(s["trace"]) for s in steps if s["trace"])


def _rate(values: Sequence[bool]) -> float | None:
    return mean([float(v) for v in values]) if values else None


def safety_rows(store: Store, run_ids: Sequence[str]) -> list[SafetyRow]:
    """One row per agent label over the runs (runs of no attack env are left out)."""
    by_label: dict[str, tuple[dict[str, Any], list[str], list[Outcome]]] = {}
    for rid in dict.fromkeys(run_ids):
        config = store.run(rid)["config"]
        if not any(is_attack_env(e) for e in config.get("envs", [])):
            continue
        label = agent_label(config)
        entry = by_label.setdefault(label, (config, [], []))
        entry[1].append(rid)
        entry[2].extend(outcomes(store, rid))
    rows = []
    for label, (config, rids, outs) in by_label.items():
        agent = str(config.get("agent"))
        opts = config.get("agent_options") or {}
        defence = agent if agent in DEFENCES else "none"
        inner = str(opts.get("inner", "tools")) if defence != "none" else agent
        row = SafetyRow(label, agent, defence, inner, episodes=len(outs), runs=rids)
        clean = [o for o in outs if not o.attacked]
        hit = [o for o in outs if o.attacked]
        row.utility = _rate([o.success for o in clean])
        row.utility_under_attack = _rate([o.success for o in hit])
        row.asr = _rate([o.attack_success for o in hit])
        row.poison_retrieval = _rate([o.poison_retrieved for o in hit if o.poison_retrieved is not None])
        row.poison_retrieval_benign = _rate(
            [o.poison_retrieved for o in clean if o.poison_retrieved is not None]
        )
        for key, attr in (("template", "asr_by_template"), ("env", "asr_by_env")):
            groups: dict[str, list[bool]] = defaultdict(list)
            for o in hit:
                groups[getattr(o, key)].append(o.attack_success)
            setattr(row, attr, {k: float(mean([float(x) for x in v])) for k, v in sorted(groups.items())})
        rows.append(row)
    return rows
