"""Environments: the ``Env`` base, ``MultiAgentEnv``, task generation and the registry.

An environment is one class with ``@tool`` methods (the actions), a ``generate`` method (task
parameters from a seeded RNG), a ``setup`` method (start an episode, return the goal text) and an
``expert``. The base class gives it seeded, disjoint train/dev/test splits, argument validation,
error messages for invalid actions, the ``Step`` bookkeeping and snapshots for tree search.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from palaestra.envs import BUILTIN_ENVS
from palaestra.errors import UsageError
from palaestra.multi import MultiAgentEnv
from palaestra.registry import Registry, load_reference
from palaestra.tasksource import EnvSpec, TaskSource
from palaestra.tasksource import split_of as split_of
from palaestra.tools import ToolHost, ToolResult
from palaestra.types import Message, Observation, Step, Task, ToolCall, ToolSpec

if TYPE_CHECKING:
    from palaestra.policy import Agent, Policy


class Env(ToolHost, TaskSource):
    """A single-agent environment. Subclass it, set ``spec``, and write:

    - ``generate(rng, difficulty) -> params`` — task parameters from a seeded RNG (a generator
      written as a module function is declared as ``generate = staticmethod(make_task)``);
    - ``setup(task) -> str`` — start an episode for the task, return the goal text;
    - ``@tool`` methods — the actions; raise ``ToolError`` for an impossible action;
      call ``self.finish(success)`` when the episode ends;
    - ``expert_policy = MyExpert`` — an oracle ``Policy`` that proves the tasks solvable; the
      base builds it with the env passed in (``env.expert()``).

    Optional: ``progress()``, ``step_info()`` (per-step metrics; no need to override ``step``),
    ``instructions()`` (``tools_text()`` renders the tool list for it), ``on_text(text)`` (free-text
    actions), ``valid_actions()`` (for the random baseline and for people), ``snapshot()/restore()``.
    """

    spec: ClassVar[EnvSpec]
    _engine = True

    task: Task
    steps: int = 0
    done: bool = False
    success: bool = False
    truncated: bool = False
    budget: int | None = None
    """Replies allowed in this episode (set it in ``setup``). When they are spent and the episode
    has not ended, the base class ends it as truncated and tells the agent (``budget_message``)."""
    turn_limit: int | None = None
    """The runner's step limit, set before ``reset``. When the env has no ``budget`` of its own,
    the goal text tells the agent how many turns it has."""
    _reward: float = 0.0
    expert_policy: ClassVar[type[Policy] | None] = None
    """The oracle's class: ``expert()`` builds it with this env passed in, so it can read the
    hidden state as ``self.env``."""

    # ---- episode lifecycle -------------------------------------------------------------------
    def setup(self, task: Task) -> str:
        """Start an episode of ``task``; return the goal as the agent should read it."""
        raise NotImplementedError(f"{type(self).__name__} must implement setup()")

    def instructions(self) -> str:
        """The system prompt: what the world is and how to act in it."""
        return self.spec.description

    async def reset(self, task: Task) -> Observation:
        self.task = task
        self.steps = 0
        self.done = False
        self.success = False
        self.truncated = False
        self._reward = 0.0
        self._reset_ledger()
        goal = self.setup(task)
        if inspect.isawaitable(goal):
            goal = await goal
        if self.budget is None and self.turn_limit:
            goal = f"{goal}\n\nYou have at most {self.turn_limit} turns (a turn is one reply, which may call several tools)."
        return Observation(
            messages=[
                Message(role="system", content=self.instructions()),
                Message(role="user", content=goal),
            ],
            tools=self.tool_specs(),
            info={"progress": 0.0},
        )

    async def step(self, action: Message) -> Step:
        self.steps += 1
        self._reward = 0.0
        self._begin_reply()
        invalid = False
        messages: list[Message] = []
        if action.tool_calls:
            for call in action.tool_calls:
                if self.done:
                    res = ToolResult("Error: the episode is already over; this call was ignored.", True)
                else:
                    res = await self._guarded_call(call, functools.partial(self.call, call))
                invalid |= res.invalid
                messages.append(self._tool_message(call, res))
        else:
            res = await self.on_text(action.content)
            invalid = res.invalid
            messages.append(Message(role="user", content=res.content))
        if not self.done and self.budget is not None and self.steps >= self.budget:
            self.truncate()
            last = messages[-1]
            messages[-1] = last.model_copy(update={"content": f"{last.content}\n{self.budget_message()}"})
        return Step(
            observation=Observation(messages=messages, tools=self.tool_specs()),
            reward=self._reward,
            terminated=self.done and not self.truncated,
            truncated=self.truncated,
            info={
                "progress": self.progress(),
                "success": self.success,
                "invalid_action": invalid,
                **self._host_info(),
                **self.step_info(),
            },
        )

    async def call(self, call: ToolCall) -> ToolResult:
        """Validate and run one tool call. Never raises for bad input. (``step`` applies the
        ``tool_policy`` before it and logs what a consequential tool changed after it.)"""
        return await self._run_tool(call)

    async def on_text(self, text: str) -> ToolResult:
        """A reply with no tool call. Environments that take free text override this."""
        names = ", ".join(t.name for t in self.tool_specs())
        return ToolResult(
            f"Error: no tool call found. Act by calling one of the tools: {names}.", invalid=True
        )

    async def close(self) -> None:
        """Release what the episode holds (processes, files, connections)."""

    # ---- helpers for subclasses --------------------------------------------------------------
    def finish(self, success: bool, reward: float | None = None) -> None:
        """End the episode. The reward defaults to 1 for success and 0 otherwise."""
        self.done = True
        self.success = success
        self._reward += (1.0 if success else 0.0) if reward is None else reward

    def truncate(self) -> None:
        """End the episode without success because a limit (turns, time, budget) ran out."""
        self.done = True
        self.truncated = True

    def budget_message(self) -> str:
        """What the agent is told when ``budget`` runs out."""
        return "You are out of turns; the episode is over."

    def add_reward(self, reward: float) -> None:
        """Give an intermediate reward in this step."""
        self._reward += reward

    def progress(self) -> float:
        """How far the episode got towards the goal, 0..1 (subgoal-based where the env has them)."""
        return 1.0 if self.success else 0.0

    def step_info(self) -> dict[str, Any]:
        """Extra per-step metrics to report in ``Step.info`` (e.g. the ones named in ``spec.metrics``)."""
        return {}

    def tool_specs(self) -> list[ToolSpec]:
        """The tools the agent may call now (all ``@tool`` methods by default)."""
        return self._tool_specs

    def valid_actions(self) -> list[ToolCall] | None:
        """The concrete actions that make sense now, where the env can list them."""
        return None

    def expert(self) -> Agent | None:
        """An oracle policy for this environment (may read the env's hidden state): by default
        ``expert_policy`` built with this env."""
        return None if self.expert_policy is None else self.expert_policy(self)

    def snapshot(self) -> Any:
        """A copy of the whole state, for tree search. Override for envs holding external resources."""
        return copy.deepcopy(self.__dict__)

    def restore(self, snap: Any) -> None:
        self.__dict__.clear()
        self.__dict__.update(copy.deepcopy(snap))


AnyEnv = Env | MultiAgentEnv
EnvFactory = Callable[..., AnyEnv]

ENVS: Registry[EnvFactory] = Registry("environment", "palaestra.envs")
"""Every environment by name: the built-ins (lazy ``"module:Class"`` entries), installed plugins
(entry-point group ``palaestra.envs``) and runtime registrations."""
for _name, _ref in BUILTIN_ENVS.items():
    ENVS.register(_name, _ref)


def register(factory: EnvFactory, name: str | None = None) -> EnvFactory:
    """Add an environment class (or factory) to the registry under ``name`` or its spec name."""
    ENVS.register(name or getattr(factory, "spec").name, factory)  # noqa: B009
    return factory


def env_names() -> list[str]:
    """Names of every registered environment, built-in and from installed plugins."""
    return ENVS.names()


def env_factory(name: str) -> EnvFactory:
    """The class (or factory) of environment ``name``.

    ``name`` may also be a reference, ``"path/to/file.py:MyEnv"`` or ``"package.module:MyEnv"``: the
    class is imported from there (a one-file environment needs no packaging) and registered under its
    spec name as well, so tasks that name it find it again.
    """
    if ":" in name and name not in ENVS:
        factory: EnvFactory = load_reference(name)
        if not callable(factory):
            raise UsageError(f"{name!r} is not an environment class")
        spec = getattr(factory, "spec", None)
        if spec is None or not isinstance(factory, type) or not issubclass(factory, Env | MultiAgentEnv):
            raise UsageError(f"{name!r} is not an Env or MultiAgentEnv subclass with a spec")
        ENVS.register(name, factory)
        ENVS.register(spec.name, factory)
    return ENVS.get(name)


def make(name: str, **kwargs: Any) -> AnyEnv:
    """A new instance of the environment registered as ``name``."""
    return env_factory(name)(**kwargs)
