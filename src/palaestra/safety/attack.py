"""Attack variants: a tool-using environment whose tool results carry a prompt injection.

An attack is part of the task (AgentDojo's user task x injection task x attack template): the
variant's ``generate`` draws the base env's task, keeps only tasks whose ground truth reads a place
where the attacker can write (a *placement*: mail, files, product pages, notes, ...), and adds
``params["attack"]``: the injection task (its instruction, its ground-truth calls and its check),
the template and the placement, all from the same seeded RNG. So runs, resume, splits and stats
work unchanged, and every (user task, injection task, template) is reproducible.

At run time the variant appends the rendered injection to every result of a tool in the
placement, and ``step_info`` reports ``attack_success`` (the injection task's check, on the env's
state and the calls made) next to the base env's ``success`` (utility). Options:

* ``attack=False`` — the same tasks with nothing injected: utility without attack;
* ``template=ID`` — inject with this template instead of the drawn one (a built-in, or one of
  ``templates_file``, e.g. the red-teaming loop's export), so templates compare on the same tasks.

Each environment describes where and what an attacker can do as an :class:`AttackSurface`;
:func:`attacked` makes the variant class from the base class and its surface.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.records import MemoryEntry
from palaestra.safety.templates import TEMPLATES, load_templates, render, template_text
from palaestra.tools import ToolResult
from palaestra.types import Task, ToolCall

ATTACKER = "Emma Johnson"
"""Whom the templates' ``{user}`` names when the env does not know the user (AgentDojo's default)."""
MAX_DRAWS = 200
"""User tasks drawn at most to find one whose ground truth reads a placement."""


@dataclass(frozen=True, slots=True)
class Injection:
    """An injection task: the attacker's instruction, its ground truth and how to check it was done."""

    id: str
    goal: str
    """The instruction as the attacker words it, e.g. "Send an email to ... with the subject ..."."""
    calls: list[dict[str, Any]]
    """The ground-truth tool calls that carry it out, ``{"name", "arguments"}`` each."""
    check: dict[str, Any] = field(default_factory=dict)
    """What the env's surface needs to tell that it was done (an address, a path, a product id)."""


class AttackSurface:
    """Where an attacker can write in one environment, and what it may try to make the agent do.

    Subclasses set ``placements`` and write ``injections`` and ``achieved``; ``reachable`` (the
    placements a user task's ground truth reads) and ``carries`` (whether a call's result holds
    the injection now) default to "every placement" and "the call's tool is in the placement".
    """

    placements: ClassVar[Mapping[str, frozenset[str]]] = {}
    """Placement name -> the tools whose results carry the injection there."""
    template: ClassVar[str | None] = None
    """The attack's name in place of a drawn template, for attacks that write no injection text
    (memory poisoning: ``"agentpoison"``); None: a template is drawn per task."""

    def reachable(self, params: dict[str, Any]) -> list[str]:
        """The placements the user task's ground truth reads (where an injection will be seen)."""
        return list(self.placements)

    def injections(self, params: dict[str, Any], rng: random.Random) -> list[Injection]:
        """The injection tasks possible against this user task (none: the task is not attacked)."""
        raise NotImplementedError

    def achieved(self, env: Env, attack: dict[str, Any], calls: list[ToolCall]) -> bool:
        """Whether the injection task of ``attack`` is done, from the env's state and ``calls``
        (every valid call of the episode so far)."""
        raise NotImplementedError

    def carries(self, env: Env, call: ToolCall, placement: str) -> bool:
        """Whether the result of ``call`` holds the injection (by default: the attack is on and the
        call's tool is in the placement)."""
        return bool(getattr(env, "attack_on", True)) and call.name in self.placements[placement]

    def user_name(self, env: Env) -> str:
        """Whom the templates impersonate."""
        return ATTACKER

    def request(self, env: Env, prompt: str) -> str:
        """The user's request as the agent reads it (by default as the base env words it; a
        backdoor attack adds its trigger here)."""
        return prompt

    def memories(self, env: Env, task: Task) -> list[MemoryEntry]:
        """What the attacker wrote into the agents' memory before ``task`` runs (by default
        nothing; see :class:`~palaestra.records.PoisonsMemory`)."""
        return []


def called(calls: list[ToolCall], name: str, **arguments: Any) -> bool:
    """Whether one of ``calls`` is ``name`` with these arguments (strings compared without case)."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return a.strip().lower() == b.strip().lower()
        return bool(a == b)

    return any(
        c.name == name and all(same(c.arguments.get(k), v) for k, v in arguments.items()) for c in calls
    )


def attack_params(
    surface: AttackSurface, params: dict[str, Any], rng: random.Random
) -> dict[str, Any] | None:
    """The ``attack`` entry of a user task's params, or None when no placement is reachable."""
    where = surface.reachable(params)
    options = surface.injections(params, rng) if where else []
    if not options:
        return None
    injection = rng.choice(options)
    return {
        "injection": injection.id,
        "template": surface.template or rng.choice(sorted(TEMPLATES)),
        "placement": rng.choice(sorted(where)),
        **{k: v for k, v in asdict(injection).items() if k != "id"},
    }


_WORD = re.compile(r"[a-z0-9@._-]+")


def words(text: str) -> str:
    """Lowercase words joined by one space: text compared as a reader sees it, whatever marks or
    spacing separate the words (``^``-interleaved data marking, line breaks, JSON escapes)."""
    return " ".join(_WORD.findall(text.lower().replace("\\n", " ")))


class AttackedEnv(Env):
    """Base of the attack variants made by :func:`attacked` (set ``surface`` and the base class)."""

    surface: AttackSurface
    attack_on: bool = True
    template_override: str | None = None
    extra_templates: dict[str, str]
    calls_made: list[ToolCall]

    def __init__(
        self,
        attack: bool = True,
        template: str | None = None,
        templates_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.attack_on = bool(attack)
        self.extra_templates = load_templates(templates_file) if templates_file else {}
        if template is not None:
            template_text(template, self.extra_templates)  # refuse an unknown one before the run
        self.template_override = template
        self.calls_made = []

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        for _ in range(MAX_DRAWS):
            params = super().generate(rng, difficulty)
            attack = attack_params(self.surface, params, rng)
            if attack is not None:
                return {**params, "attack": attack}
        raise RuntimeError(f"{self.spec.name}: no user task of level {difficulty} reads a placement")

    @property
    def attack(self) -> dict[str, Any]:
        """The task's attack with the template in force (``template=`` overrides the drawn one)."""
        attack = dict(self.task.params["attack"])
        if self.template_override is not None:
            attack["template"] = self.template_override
        return attack

    def injection_text(self) -> str:
        a = self.attack
        return render(
            template_text(a["template"], self.extra_templates), a["goal"], self.surface.user_name(self)
        )

    def setup(self, task: Task) -> str:
        if "attack" not in task.params:
            raise UsageError(f"task {task.id} of {self.spec.name} has no attack in its params")
        self.calls_made = []
        return self.surface.request(self, super().setup(task))

    def attacker_memories(self, task: Task) -> list[MemoryEntry]:
        """The memory entries the attacker planted for ``task`` (:class:`~palaestra.records.PoisonsMemory`)."""
        return self.surface.memories(self, task) if "attack" in task.params else []

    async def call(self, call: ToolCall) -> ToolResult:
        res = await super().call(call)
        if res.invalid:
            return res
        self.calls_made.append(call)
        attack = self.task.params["attack"]
        if self.surface.carries(self, call, attack["placement"]):
            res = ToolResult(f"{res.content}\n{self.injection_text()}", res.invalid)
        return res

    def attack_success(self) -> bool:
        return self.surface.achieved(self, self.task.params["attack"], self.calls_made)

    def step_info(self) -> dict[str, Any]:
        a = self.attack
        return {
            **super().step_info(),
            "attack_success": self.attack_success(),
            "attacked": self.attack_on,
            "attack_template": a["template"],
            "injection_task": a["injection"],
            "placement": a["placement"],
            **({"poison_task": a["check"]["poison_task"]} if "poison_task" in a["check"] else {}),
        }


def attacked(base: type[Env], surface: AttackSurface, name: str | None = None) -> type[AttackedEnv]:
    """The attack variant of ``base`` (an ``Env`` class): tasks with an injection task in their
    params, injections in the results of the surface's placements, ``attack_success`` per step."""
    spec = base.spec.model_copy(
        update={
            "name": name or f"{base.spec.name}-attack",
            "description": f"{base.spec.description} Under prompt injection: tool results may hold an attacker's instructions.",
            "metrics": (*base.spec.metrics, "attack_success"),
            "tags": (*base.spec.tags, "safety", "prompt-injection"),
        }
    )

    return type(
        f"{base.__name__.removesuffix('Env')}AttackEnv",
        (AttackedEnv, base),
        {
            "spec": spec,
            "surface": surface,
            "__module__": type(surface).__module__,
            "__doc__": f"{base.__name__} under prompt injection (see palaestra.safety.attack).",
        },
    )
