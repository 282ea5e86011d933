"""``team``: a planner, a caller and a summariser, each with its own model (alpha-UMi, HiAgent).

Before each action the *planner* reads the goal, the tools, a summary of the earlier steps and the
latest ones, and says in a sentence or two what to do next (text, no tools). The *caller* is the
inner agent (any action format, option ``inner``): it reads the env's observation with the plan
added and makes the call. Every ``summarise_every`` steps the *summariser* folds the latest steps
into the running summary, so the planner's context stays small however long the episode.

Each role takes a model spec (``--agent-opt planner=openai:A --agent-opt caller=local:B``, or
``--agent team:planner=openai:A,caller=local:B``); a role without one uses the run's ``--model``.
Every call is recorded with the episode, whichever model made it. Each step's trace says what
each member said, with its model.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.strategy import (
    Members,
    Wrapper,
    build_inner,
    clip,
    goal_text,
    render_action,
    render_step,
    with_note,
)
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.tools import describe_tools
from palaestra.types import Message, Observation, Task

PLANNER = (
    "You are the planner of a team acting in an environment. Another member makes the tool calls; "
    "you tell it what to do next. Answer in one or two sentences: the next action, with its "
    "arguments, and why. Do not call tools yourself."
)
SUMMARISER = (
    "You keep a team's notes short. Rewrite the summary so that it covers the new steps too: what "
    "was done, what was learnt, what remains. At most five sentences."
)


class Team(Wrapper):
    def __init__(
        self,
        caller: Agent,
        planner: Model,
        summariser: Model,
        config: GenerateConfig | None,
        *,
        names: dict[str, str],
        summarise_every: int,
        members: Members | None = None,
    ) -> None:
        super().__init__(caller, members)
        self.planner, self.summariser = planner, summariser
        self.config = config or GenerateConfig()
        self.names = names
        self.summarise_every = summarise_every
        self.goal = self.instructions = self.summary = ""
        self.recent: list[str] = []
        self.last: Message | None = None

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.goal = self.instructions = self.summary = ""
        self.recent, self.last = [], None

    async def act(self, observation: Observation) -> Message:
        said: dict[str, Any] = {}
        if self.last is None:
            self.goal = goal_text(observation)
            self.instructions = "\n".join(m.content for m in observation.messages if m.role == "system")
        else:
            self.recent.append(render_step(self.last, observation.messages))
        if len(self.recent) >= self.summarise_every:
            self.summary = await self._ask(self.summariser, SUMMARISER, self._summary_prompt())
            self.recent = []
            said["summariser"] = {"model": self.names["summariser"], "said": clip(self.summary)}
        plan = await self._ask(
            self.planner, f"{PLANNER}\n\n{self.instructions}", self._plan_prompt(observation)
        )
        said["planner"] = {"model": self.names["planner"], "said": clip(plan)}
        message = await self.act_inner(with_note(observation, f"The planner says: {plan}"))
        said["caller"] = {"model": self.names["caller"], "said": clip(render_action(message))}
        self.trace = {**(self.trace or {}), **said}
        self.last = message
        return message

    async def _ask(self, model: Model, system: str, prompt: str) -> str:
        out = await model.generate(
            [Message(role="system", content=system), Message(role="user", content=prompt)], None, self.config
        )
        return out.message.content.strip()

    def _plan_prompt(self, observation: Observation) -> str:
        parts = [f"Goal:\n{self.goal}", describe_tools(observation.tools) if observation.tools else ""]
        if self.summary:
            parts.append(f"Summary of the earlier steps:\n{self.summary}")
        if self.recent:
            parts.append("Latest steps:\n" + "\n\n".join(self.recent))
        parts.append("What should the caller do next?")
        return "\n\n".join(p for p in parts if p)

    def _summary_prompt(self) -> str:
        before = self.summary or "(nothing yet)"
        steps = "\n\n".join(self.recent)
        return f"Goal:\n{self.goal}\n\nSummary so far:\n{before}\n\nNew steps:\n{steps}"


def team_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    planner: str | None = None,
    caller: str | None = None,
    summariser: str | None = None,
    summarise_every: int = 4,
    **options: Any,
) -> Agent:
    """``planner``, ``caller``, ``summariser``: each role's model spec (default: the run's model);
    ``summarise_every``: steps between summaries."""
    if not isinstance(summarise_every, int) or summarise_every < 1:
        raise UsageError(f"team: summarise_every must be at least 1, got {summarise_every!r}")
    specs = {"planner": planner, "caller": caller, "summariser": summariser}
    members = Members(model)
    models = {role: members.model(spec, role) for role, spec in specs.items()}
    names = {role: spec or (model.name if model else "") for role, spec in specs.items()}
    agent = build_inner(inner, env=env, model=models["caller"], seed=seed, config=config, options=options)
    return Team(
        agent,
        models["planner"],
        models["summariser"],
        config,
        names=names,
        summarise_every=summarise_every,
        members=members,
    )
