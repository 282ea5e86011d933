"""``jury``: several members propose an action, the majority wins (Wisdom of the Silicon Crowd,
Sibyl's jury, Diversity of Thought).

Each member is an inner agent (option ``inner``, any action format) with its own model: option
``members`` is a list of model specs (``["openai:A", "openai:B", "local:C"]``, or ``"A|B|C"``) or a
number of members that all use the run's ``--model`` (distinct samples with ``--temperature``).
Every member proposes an action for the same observation (one after the other: a member may step
the env while it decides, as a search strategy does); proposals are compared in canonical form
(tool names and arguments, :func:`~palaestra.agents.strategy.canonical`), and the action most
members proposed is taken. A tie goes to the tied proposal of the earliest member
(``tie_break="first"``), or to one drawn with the episode's seed (``tie_break="seeded"``): either
way the same episode breaks it the same way. Every member then has the chosen action as its own
last reply (:func:`~palaestra.agents.strategy.adopt`), so the env's answer follows it.

With ``rounds=R`` the jury debates first (Du et al., multi-agent debate): R times, each member takes
back its proposal, reads the others' and proposes again; the last round's proposals are voted on.

Each step's trace lists what every member proposed (per debate round too), the votes per distinct
action, whether there was a tie and which proposal was taken.

``escalate`` (HLA, HDFlow: a fast policy, and a slow deliberate one when it is unsure) samples the
``fast`` model ``k`` times for each reply of the inner agent; when the samples agree (canonically:
the same tool calls, or for ``react`` the same ``Action:``) the fast reply is taken, otherwise the
``slow`` model's. It sits between the inner agent and its models, so the inner agent keeps one
conversation whichever answered. Its trace says what the samples said and whether it escalated.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Literal

from palaestra.agents.react import parse_action
from palaestra.agents.strategy import (
    Members,
    Wrapper,
    adopt,
    build_inner,
    canonical,
    clip,
    close_all,
    render_action,
    retract,
)
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model, ModelOutput
from palaestra.policy import Agent, agent_trace
from palaestra.types import Message, Observation, Task, ToolSpec

TieBreak = Literal["first", "seeded"]


def tally(proposals: list[Message]) -> tuple[list[str], list[int]]:
    """Each proposal's canonical form, and the members (the earliest of each action) whose action
    got the most votes."""
    keys = [canonical(p) for p in proposals]
    counts = Counter(keys)
    best = max(counts.values())
    return keys, [i for i, k in enumerate(keys) if counts[k] == best and keys.index(k) == i]


def vote(proposals: list[Message], tie_break: TieBreak = "first", rng: random.Random | None = None) -> int:
    """The index of the proposal taken: one of the most proposed actions; a tie goes to the earliest
    member's, or with ``"seeded"`` to one drawn by ``rng``."""
    _, tied = tally(proposals)
    if len(tied) > 1 and tie_break == "seeded":
        return (rng or random.Random(0)).choice(tied)
    return tied[0]


class Jury:
    def __init__(
        self,
        members: list[tuple[str, Agent]],
        *,
        tie_break: TieBreak,
        seed: int,
        rounds: int = 0,
        models: Members | None = None,
    ) -> None:
        self.members = members
        self.models = models
        self.tie_break: TieBreak = tie_break
        self.seed = seed
        self.rounds = rounds
        self.rng = random.Random(seed)
        self.trace: dict[str, Any] | None = None

    async def reset(self, task: Task) -> None:
        self.rng = random.Random(f"{self.seed}/{task.id}")
        self.trace = None
        for _, member in self.members:
            await member.reset(task)

    async def _propose(self, observations: list[Observation]) -> tuple[list[Message], list[dict[str, Any]]]:
        """Each member's proposal for its observation, and what it said, for the trace."""
        proposals: list[Message] = []
        said: list[dict[str, Any]] = []
        for (name, member), observation in zip(self.members, observations, strict=True):
            proposal = await member.act(observation)
            inner = agent_trace(member)
            proposals.append(proposal)
            said.append(
                {"member": name, "said": clip(render_action(proposal))} | ({"inner": inner} if inner else {})
            )
        return proposals, said

    def _debate_notes(self, observation: Observation, proposals: list[Message]) -> list[Observation]:
        """For each member: the others' proposals, and a request to reconsider its own, in place of
        its proposal (taken back from its history)."""
        out: list[Observation] = []
        for i, (_, member) in enumerate(self.members):
            retract(member)
            others = "\n".join(
                f"- member {j}: {clip(render_action(p))}" for j, p in enumerate(proposals) if j != i
            )
            note = (
                f"Other members of your team proposed:\n{others}\n"
                "Weigh their proposals against yours, then give the action you now think best."
            )
            out.append(observation.model_copy(update={"messages": [Message(role="user", content=note)]}))
        return out

    async def act(self, observation: Observation) -> Message:
        proposals, said = await self._propose([observation] * len(self.members))
        rounds = []
        for _ in range(self.rounds):
            proposals, again = await self._propose(self._debate_notes(observation, proposals))
            rounds.append(again)
        chosen = vote(proposals, self.tie_break, self.rng)
        keys, tied = tally(proposals)
        for (_, member), key in zip(self.members, keys, strict=True):
            if key != keys[chosen]:
                adopt(member, proposals[chosen])
        self.trace = {
            "members": said,
            **({"rounds": rounds} if rounds else {}),
            "votes": [keys.count(k) for k in keys],
            "tie": len(tied) > 1,
            "chosen": chosen,
        }
        return proposals[chosen]

    def pop_trace(self) -> dict[str, Any] | None:
        trace, self.trace = self.trace, None
        return trace

    async def aclose(self) -> None:
        await close_all([member for _, member in self.members], self.models)


def member_specs(members: Any, model: Model | None) -> list[str | None]:
    """Model specs of ``members`` (a list, ``"A|B|C"``), or None per member on the run's model (a number)."""
    if isinstance(members, str):
        members = [m.strip() for m in members.split("|") if m.strip()]
    if isinstance(members, int) and not isinstance(members, bool) and members >= 1:
        return [None] * members
    if isinstance(members, list) and members and all(isinstance(m, str) and m for m in members):
        return list(members)
    raise UsageError(f"jury: members must be a number or a list of model specs, got {members!r}")


def jury_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    members: Any = 3,
    tie_break: str = "first",
    rounds: int = 0,
    **options: Any,
) -> Agent:
    """``members``: model specs (a list, or ``"A|B|C"``) or a number of members on the run's model;
    ``tie_break``: ``first`` (the earliest member's proposal) or ``seeded``; ``rounds``: rounds of
    debate before the vote (0: none)."""
    if tie_break not in ("first", "seeded"):
        raise UsageError(f"jury: tie_break must be 'first' or 'seeded', got {tie_break!r}")
    if not isinstance(rounds, int) or rounds < 0:
        raise UsageError(f"jury: rounds must be 0 or more, got {rounds!r}")
    built: list[tuple[str, Agent]] = []
    models = Members(model)
    for i, spec in enumerate(member_specs(members, model)):
        member = models.model(spec, f"jury member {i}")
        name = f"{i}:{spec or member.name}"
        built.append(
            (name, build_inner(inner, env=env, model=member, seed=seed + i, config=config, options=options))
        )
    if rounds and not all(isinstance(getattr(a, "history", None), list) for _, a in built):
        raise UsageError(
            f"jury: debate (rounds) needs members that keep a history, as tools and react do; {inner!r} does not"
        )
    return Jury(built, tie_break=tie_break, seed=seed, rounds=rounds, models=models)  # type: ignore[arg-type]


class Escalation:
    """A model that answers with a fast model when ``k`` of its samples agree, and with a slow one
    when they do not. Used as an inner agent's model, so any action format works; ``last`` is
    what happened at the latest call, for the trace."""

    def __init__(self, fast: Model, slow: Model, k: int, names: tuple[str, str]) -> None:
        self.fast, self.slow, self.k, self.names = fast, slow, k, names
        self.name = f"escalate({names[0]}->{names[1]})"
        self.max_concurrency = min(fast.max_concurrency, slow.max_concurrency)
        self.last: dict[str, Any] | None = None

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        samples = [await self.fast.generate(messages, tools, config) for _ in range(self.k)]
        keys = [canonical(parsed(s.message)) for s in samples]
        said = [clip(render_action(parsed(s.message))) for s in samples]
        if len(set(keys)) == 1:
            self.last = {"fast": {"model": self.names[0], "said": said}, "escalated": False}
            return samples[0]
        out = await self.slow.generate(messages, tools, config)
        self.last = {
            "fast": {"model": self.names[0], "said": said},
            "escalated": True,
            "slow": {"model": self.names[1], "said": clip(render_action(parsed(out.message)))},
        }
        return out

    async def close(self) -> None:
        return None


def parsed(message: Message) -> Message:
    """A reply with a ReAct ``Action:`` line in its text read as the tool call it names, so that
    two replies that differ only in their thoughts count as the same action."""
    if message.tool_calls or "Action" not in message.content:
        return message
    call = parse_action(message.content, "call")
    return message.model_copy(update={"content": "", "tool_calls": [call]}) if call else message


class Escalate(Wrapper):
    def __init__(self, inner: Agent, model: Escalation, members: Members) -> None:
        super().__init__(inner, members)
        self.model = model

    async def act(self, observation: Observation) -> Message:
        self.model.last = None
        self.trace = None
        message = await self.act_inner(observation)
        if self.model.last is not None:
            self.trace = {**self.model.last, **(self.trace or {})}
        return message


def escalate_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    fast: str | None = None,
    slow: str | None = None,
    k: int = 3,
    **options: Any,
) -> Agent:
    """``fast``: the model sampled ``k`` times (default: the run's model); ``slow``: the model
    asked when the samples disagree (required)."""
    if not slow:
        raise UsageError("escalate needs a slow model: --agent-opt slow=PROVIDER:NAME")
    if not isinstance(k, int) or k < 2:
        raise UsageError(f"escalate: k must be at least 2 (samples that can disagree), got {k!r}")
    members = Members(model)
    quick, careful = members.model(fast, "fast"), members.model(slow, "slow")
    names = (fast or (model.name if model else ""), slow)
    switch = Escalation(quick, careful, k, names)
    agent = build_inner(inner, env=env, model=switch, seed=seed, config=config, options=options)
    return Escalate(agent, switch, members)
