"""``flow``: a workflow written as a program (AutoFlow, AFlow: workflows as code).

``--agent flow --agent-opt program=path.py:my_flow`` runs ``my_flow``, a plain ``async`` Python
function, once per step of the episode; it takes a :class:`FlowStep` and returns the step's action
(a :class:`~palaestra.types.Message`, or text for a reply without tool calls). It orchestrates with:

- ``await step.ask(role, prompt, system="") -> str``: one text call (no tools) of role ``role``'s
  model;
- ``await step.act(inner="tools", model="model", note="") -> Message``: agent ``inner`` (any action
  format) on role ``model``'s model proposes an action for this step's observation, ``note`` added
  to what it reads. Each (inner, model) pair is one agent for the whole episode; one that was not
  asked at earlier steps reads what it missed (observations and the actions taken) first; one asked
  twice in a step takes its first proposal back and reads only the new note;
- ``step.call(tool, **arguments) -> Message``: the action that calls ``tool`` directly;
- ``step.vote(proposals) -> Message``: the action most proposals agree on (canonical tool calls; a
  tie goes to the earliest).

Role ``model`` is the run's ``--model``; other roles are named by option ``models``
(``{"planner": "openai:A"}``, or ``"planner=openai:A|critic=local:B"``), built per episode with
the run's model options and closed with it. ``step.goal``, ``step.observation``, ``step.index``,
``step.transcript`` (the steps so far, as text) and ``step.memo`` (a dict kept across the
episode's steps) are there to read. Every model call is recorded with the episode; one step may make
at most ``max_calls`` of them (default 8; a call over it ends the episode with an error saying so).
After the step, every agent that proposed has the action taken as its own last reply. The step's
trace lists what the program asked and what came back, and the calls it spent.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from palaestra.agents.jury import vote as majority
from palaestra.agents.search import Budget, BudgetSpent, CountingModel
from palaestra.agents.strategy import (
    Members,
    adopt,
    build_inner,
    clip,
    close_all,
    goal_text,
    render_action,
    render_step,
    retract,
    with_note,
)
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent, agent_trace
from palaestra.registry import load_reference
from palaestra.types import Message, Observation, Task, ToolCall

Program = Callable[["FlowStep"], Awaitable["Message | str"]]
RUN_MODEL = "model"
"""The role of the run's own ``--model``."""


class FlowBudgetError(RuntimeError):
    """A step of the program made more model calls than ``max_calls``."""


class FlowStep:
    """What the program reads and calls at one step (see the module docstring)."""

    def __init__(self, flow: Flow, observation: Observation, index: int) -> None:
        self._flow = flow
        self.observation = observation
        self.index = index
        self.goal = flow.goal
        self.memo = flow.memo
        self.transcript = "\n\n".join(flow.transcript)
        self.proposers: list[Agent] = []
        self.log: list[dict[str, Any]] = []

    async def ask(self, role: str, prompt: str, system: str = "") -> str:
        """Role ``role``'s model's text answer to ``prompt`` (no tools)."""
        messages = ([Message(role="system", content=system)] if system else []) + [
            Message(role="user", content=prompt)
        ]
        out = await self._flow.model(role).generate(messages, None, self._flow.config)
        text = out.message.content.strip()
        self.log.append({"ask": role, "prompt": clip(prompt, 200), "said": clip(text)})
        return text

    async def act(self, inner: str = "tools", model: str = RUN_MODEL, note: str = "") -> Message:
        """Agent ``inner`` on role ``model``'s model: its action for this step, ``note`` added."""
        agent, seen = await self._flow.agent(inner, model)
        if seen == self.index:  # asked again this step: its proposal is taken back, it answers anew
            retract(agent)
            observation = self.observation.model_copy(update={"messages": []})
        else:
            observation = self._flow.catch_up(seen, self.observation)
        message = await agent.act(with_note(observation, note))
        agent_trace(agent)  # the program's trace says what each agent proposed
        self._flow.seen[(inner, model)] = self.index
        self.proposers.append(agent)
        self.log.append({"act": inner, "model": model, "said": clip(render_action(message))})
        return message

    def call(self, tool: str, **arguments: Any) -> Message:
        """The action that calls ``tool`` with ``arguments``."""
        call = ToolCall(id=f"flow-{self.index}-{len(self.log)}", name=tool, arguments=arguments)
        self.log.append(
            {"call": tool, "said": clip(render_action(Message(role="assistant", tool_calls=[call])))}
        )
        return Message(role="assistant", content="", tool_calls=[call])

    def vote(self, proposals: list[Message]) -> Message:
        """The proposal most of ``proposals`` agree with (a tie: the earliest)."""
        if not proposals:
            raise UsageError("flow: vote needs at least one proposal")
        chosen = majority(proposals)
        self.log.append({"vote": len(proposals), "chosen": chosen})
        return proposals[chosen]


class Flow:
    """Runs the program once per step: the episode's agents, models, budget and transcript."""

    def __init__(
        self,
        program: Program,
        name: str,
        *,
        env: Env,
        models: dict[str, Model],
        members: Members,
        config: GenerateConfig | None,
        seed: int,
        options: dict[str, Any],
        max_calls: int,
    ) -> None:
        self.program, self.name = program, name
        self.env = env
        self.budget = Budget(max_model_calls=max_calls)
        self.models = {role: CountingModel(m, lambda: self.budget) for role, m in models.items()}
        self.members = members
        self.config = config or GenerateConfig()
        self.seed, self.options = seed, options
        self.agents: dict[tuple[str, str], Agent] = {}
        self.seen: dict[tuple[str, str], int] = {}
        """The last step at which each agent acted."""
        self.task: Task | None = None
        self.goal = ""
        self.memo: dict[str, Any] = {}
        self.observations: list[Observation] = []
        self.actions: list[Message] = []
        self.transcript: list[str] = []
        self.trace: dict[str, Any] | None = None

    def model(self, role: str) -> Model:
        if role not in self.models:
            named = ", ".join(sorted(self.models))
            raise UsageError(
                f"flow {self.name}: no model for role {role!r} (roles: {named}; add it to models)"
            )
        return self.models[role]

    async def agent(self, inner: str, role: str) -> tuple[Agent, int]:
        """The episode's agent ``inner`` on role ``role``'s model (built and reset when first
        asked), and the last step it acted at."""
        key = (inner, role)
        if key not in self.agents:
            assert self.task is not None, "reset first"
            seed = self.seed + len(self.agents)
            agent = build_inner(
                inner,
                env=self.env,
                model=self.model(role),
                seed=seed,
                config=self.config,
                options=self.options,
            )
            await agent.reset(self.task)
            self.agents[key] = agent
        return self.agents[key], self.seen.get(key, -1)

    def catch_up(self, seen: int, observation: Observation) -> Observation:
        """``observation`` preceded by what an agent that last acted at step ``seen`` missed: each
        later step's observation and the action taken."""
        missed: list[Message] = []
        for i in range(seen + 1, len(self.actions)):
            missed += [*self.observations[i].messages, self.actions[i]]
        if not missed:
            return observation
        return observation.model_copy(update={"messages": missed + list(observation.messages)})

    async def reset(self, task: Task) -> None:
        self.task, self.trace = task, None
        self.goal, self.memo = "", {}
        self.observations, self.actions, self.transcript = [], [], []
        self.seen = {}
        for agent in self.agents.values():
            await agent.reset(task)

    async def act(self, observation: Observation) -> Message:
        if not self.observations:
            self.goal = goal_text(observation)
        elif self.actions:
            self.transcript.append(render_step(self.actions[-1], observation.messages))
        index = len(self.observations)
        self.observations.append(observation)
        step = FlowStep(self, observation, index)
        self.budget = Budget(max_model_calls=self.budget.max_model_calls)
        try:
            action = await self.program(step)
        except BudgetSpent:
            raise FlowBudgetError(
                f"flow {self.name}: step {index} asked for more than its {self.budget.max_model_calls} model calls"
            ) from None
        if isinstance(action, str):
            action = Message(role="assistant", content=action)
        if not isinstance(action, Message):
            raise UsageError(f"flow {self.name} returned {type(action).__name__}, not a Message or text")
        for agent in step.proposers:
            adopt(agent, action)
        self.actions.append(action)
        self.trace = {"program": self.name, "did": step.log, "spent": self.budget.spent()["model_calls"]}
        return action

    def pop_trace(self) -> dict[str, Any] | None:
        trace, self.trace = self.trace, None
        return trace

    async def aclose(self) -> None:
        await close_all(self.agents.values(), self.members)


def role_specs(models: Any) -> dict[str, str]:
    """Roles' model specs from ``{"role": "spec"}`` or ``"role=spec|role=spec"``."""
    if isinstance(models, str):
        pairs = [p.partition("=") for p in models.split("|") if p.strip()]
        if any(not eq or not role.strip() for role, eq, _ in pairs):
            raise UsageError(f"flow: models must be ROLE=SPEC|ROLE=SPEC, got {models!r}")
        models = {role.strip(): spec.strip() for role, _, spec in pairs}
    if not isinstance(models, dict) or not all(isinstance(v, str) and v for v in models.values()):
        raise UsageError(f"flow: models must map roles to model specs, got {models!r}")
    if RUN_MODEL in models:
        raise UsageError(f"flow: role {RUN_MODEL!r} is the run's --model; name the others")
    return dict(models)


def load_program(program: Any) -> Program:
    """The workflow function ``program`` (``path.py:name`` or ``module:name``) names."""
    if not isinstance(program, str) or ":" not in program:
        raise UsageError("flow needs a program: --agent-opt program=path/to/flow.py:function")
    fn = load_reference(program)
    if not inspect.iscoroutinefunction(fn):
        raise UsageError(f"flow program {program!r} must be an async function taking the step")
    return fn  # type: ignore[no-any-return]


def flow_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    program: Any = None,
    models: Any = None,
    max_calls: int = 8,
    **options: Any,
) -> Agent:
    """``program``: the workflow (``path.py:function``); ``models``: roles' model specs;
    ``max_calls``: model calls per step. Other options go to the agents ``step.act`` builds."""
    fn = load_program(program)
    if not isinstance(max_calls, int) or isinstance(max_calls, bool) or max_calls < 1:
        raise UsageError(f"flow: max_calls must be at least 1, got {max_calls!r}")
    members = Members(model)
    built = {role: members.model(spec, role) for role, spec in role_specs(models or {}).items()}
    if model is not None:
        built[RUN_MODEL] = model
    return Flow(
        fn,
        program,
        env=env,
        models=built,
        members=members,
        config=config,
        seed=seed,
        options=options,
        max_calls=max_calls,
    )
