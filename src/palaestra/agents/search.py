"""The core that search strategies (``bestofn``, ``beam``, ``mcts``) share.

A strategy wraps an inner agent (option ``inner``, default ``tools``) and, before each real action,
explores what could happen: it snapshots the episode's env, lets copies of the inner agent propose
actions, steps the env with them from restored snapshots, values the states it reaches, and returns
one action with the env restored to the real state (the runner then steps it for real, so the scored
trajectory is the real one).

- :class:`Node` — a state of the search: the env's snapshot, the inner agent as it was when it chose
  the action that led there (so it can propose the next ones), the observation, the value.
- :class:`Searcher` — proposes (copies of the inner agent act, or the env's valid actions), steps,
  values (env progress, the model's self-evaluation or a judge model), counts the budget (model
  calls and env steps) and writes the tree as a bounded trace.
- :class:`SearchAgent` — the ``Agent`` side: keeps the real conversation and the inner agent of the
  real trajectory; subclasses implement :meth:`SearchAgent.decide`.

Copies of the inner agent are deep copies that share the env, the models and the config, so any
agent whose state is plain data (the chat agents, the baselines, experts) can be searched with.
Sampling ``k`` different actions from a model-driven inner agent needs a temperature above 0
(``--temperature``); identical proposals count once. Budgets are per decision (per real action);
the trace also carries what the episode has spent so far.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from palaestra.agents.strategy import Members
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model, ModelOutput
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Task, ToolSpec

MAX_TRACE_NODES = 200
"""Nodes of a search tree kept in a step's trace (breadth first); the rest are counted only."""
SELF_EVAL_PROMPT = (
    "Here is an agent's episode so far:\n\n{transcript}\n\n"
    "How close is the task to being solved, on a scale from 0 (not at all) to 10 (solved)? "
    "Reply with the number only."
)
VALUES = ("progress", "self", "judge:MODEL")


class BudgetSpent(Exception):
    """A decision's budget ran out; the search stops and decides with what it has."""


@dataclass
class Budget:
    """What one decision may spend (None: no limit) and what it spent so far."""

    max_model_calls: int | None = None
    max_env_steps: int | None = None
    model_calls: int = 0
    env_steps: int = 0

    def charge_call(self) -> None:
        if self.max_model_calls is not None and self.model_calls >= self.max_model_calls:
            raise BudgetSpent("model calls")
        self.model_calls += 1

    def charge_step(self) -> None:
        if self.max_env_steps is not None and self.env_steps >= self.max_env_steps:
            raise BudgetSpent("env steps")
        self.env_steps += 1

    def spent(self) -> dict[str, int]:
        return {"model_calls": self.model_calls, "env_steps": self.env_steps}


class CountingModel:
    """The episode's model as the inner agent sees it: each call is charged to the current
    decision's budget first (a call over the budget is refused with :class:`BudgetSpent` before it
    reaches the model)."""

    def __init__(self, inner: Model, budget: Callable[[], Budget]) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_concurrency = inner.max_concurrency
        self.budget = budget

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        self.budget().charge_call()
        return await self.inner.generate(messages, tools, config)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(eq=False)
class Node:
    """A state reached in the search."""

    state: Any
    """``env.snapshot()`` of this state."""
    agent: Agent
    """The inner agent as it was after choosing ``action`` (it proposes this node's children)."""
    obs: Observation
    """What the env answered to ``action`` (at the root: the real observation)."""
    action: Message | None = None
    parent: Node | None = None
    done: bool = False
    success: bool = False
    progress: float = 0.0
    reward: float = 0.0
    value: float = 0.0
    """The node's own evaluation when it was reached."""
    visits: int = 0
    total: float = 0.0
    """Sum of the values backed up through this node."""
    children: list[Node] = field(default_factory=list)
    untried: list[tuple[Message, Agent]] | None = None
    """Proposed actions not yet stepped (None: not proposed yet)."""

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def mean(self) -> float:
        return self.total / self.visits if self.visits else self.value

    def path(self) -> list[Node]:
        """The nodes from the root's first child down to this one."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]


def action_key(action: Message) -> str:
    """Two proposals are the same action when they call the same tools with the same arguments (or
    say the same text)."""
    if action.tool_calls:
        return json.dumps(
            [[c.name, c.arguments, c.raw_arguments] for c in action.tool_calls], sort_keys=True, default=str
        )
    return "text:" + action.content.strip()


def action_label(action: Message | None, limit: int = 120) -> str:
    """A short readable form of an action for traces: ``move(direction="north")``."""
    if action is None:
        return ""
    if action.tool_calls:
        parts = []
        for c in action.tool_calls:
            args = c.raw_arguments if c.parse_error else json.dumps(c.arguments, ensure_ascii=False)
            parts.append(f"{c.name}({args})")
        text = "; ".join(parts)
    else:
        text = action.content.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transcript(messages: list[Message], limit: int = 12000) -> str:
    """Messages as plain text (role: content; tool calls spelled out), the latest ``limit`` chars."""
    lines = []
    for m in messages:
        if m.role == "system":
            continue
        text = m.content
        if m.tool_calls:
            text = f"{text}\n{action_label(m, 400)}".strip()
        lines.append(f"{m.role}: {text}")
    out = "\n".join(lines)
    return out if len(out) <= limit else "…" + out[-limit:]


def parse_score(text: str) -> float | None:
    """The first number in a self-evaluation reply, as a value in 0..1 (a 0-10 scale)."""
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    if m is None:
        return None
    return min(1.0, max(0.0, float(m.group()) / 10.0))


def check_count(name: str, value: Any, *, minimum: int) -> int:
    """An integer option of at least ``minimum``, else a usage error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"search option {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_limit(name: str, value: Any) -> int | None:
    """A budget option: None (no limit) or an integer of at least 1."""
    return None if value is None else check_count(name, value, minimum=1)


def check_value(value: str) -> str:
    if value in ("progress", "self") or (value.startswith("judge:") and len(value) > len("judge:")):
        return value
    raise UsageError(f"search option value must be one of {', '.join(VALUES)}, got {value!r}")


class Searcher:
    """Proposes, steps and values states of one env, within one decision's :class:`Budget`."""

    def __init__(
        self,
        env: Env,
        *,
        value: str = "progress",
        expand: str = "agent",
        model: Model | None = None,
        judge: Model | None = None,
        config: GenerateConfig | None = None,
        pinned: tuple[object, ...] = (),
    ) -> None:
        if expand not in ("agent", "valid"):
            raise UsageError(f"search option expand must be 'agent' or 'valid', got {expand!r}")
        self.env = env
        self.value_kind = check_value(value)
        self.expand = expand
        self.model = model
        self.judge = judge
        self.config = config or GenerateConfig()
        self.pinned = (env, model, judge, config, *pinned)
        self.budget = Budget()
        self.history: list[Message] = []
        """The real conversation so far (for self-evaluation prompts)."""
        self.samples = 0

    # ---- agents ------------------------------------------------------------------------------
    def clone(self, agent: Agent) -> Agent:
        """A copy of ``agent`` that shares the env, the models and the config with it."""
        memo: dict[int, Any] = {id(o): o for o in self.pinned if o is not None}
        try:
            return copy.deepcopy(agent, memo)
        except Exception as e:  # an agent holding a process or a socket
            raise UsageError(
                f"cannot search with agent {type(agent).__name__}: it cannot be copied ({e})"
            ) from None

    def fork(self, agent: Agent) -> Agent:
        """A copy of ``agent`` drawing its own random stream (if it has one)."""
        twin = self.clone(agent)
        self.samples += 1
        reseed = getattr(twin, "reseed", None)
        if callable(reseed):
            reseed(self.samples)
        return twin

    # ---- the search's moves ------------------------------------------------------------------
    async def propose(self, node: Node, k: int) -> list[tuple[Message, Agent]]:
        """Up to ``k`` distinct actions for ``node``: ``k`` samples of the inner agent, or the env's
        valid actions (``expand=valid``, the first ``k`` of them). Stops early when the budget does."""
        self.env.restore(node.state)  # the inner agent (an expert) may read the env's state
        if self.expand == "valid":
            valid = self.env.valid_actions() or []
            return [self._adopt(node, Message(role="assistant", tool_calls=[c])) for c in valid[:k]]
        seen: set[str] = set()
        out: list[tuple[Message, Agent]] = []
        for _ in range(k):
            agent = self.fork(node.agent)
            try:
                act = await agent.act(node.obs)
            except BudgetSpent:
                if not out:
                    raise
                break
            finally:
                self.env.restore(node.state)
            key = action_key(act)
            if key not in seen:
                seen.add(key)
                out.append((act, agent))
        return out

    def _adopt(self, node: Node, action: Message) -> tuple[Message, Agent]:
        """``action`` (not the inner agent's own) with a copy of the agent that took it: a chat agent
        (one keeping a ``history`` list) gets the observation and the action written into its
        history, as if it had chosen it; agents that read the env (the baselines) need nothing."""
        agent = self.clone(node.agent)
        history = getattr(agent, "history", None)
        if isinstance(history, list):
            history.extend(node.obs.messages)
            history.append(action)
        return action, agent

    async def step(self, node: Node, action: Message, agent: Agent, *, evaluate: bool = True) -> Node:
        """The child of ``node`` reached by ``action`` (charged one env step), valued unless
        ``evaluate`` is false (call :meth:`evaluate` on it later)."""
        self.budget.charge_step()
        self.env.restore(node.state)
        st = await self.env.step(action)
        child = Node(
            state=self.env.snapshot(),
            agent=agent,
            obs=st.observation,
            action=action,
            parent=node,
            done=st.terminated or st.truncated,
            success=bool(st.info.get("success", False)),
            progress=float(st.info.get("progress", 0.0)),
            reward=st.reward,
        )
        if evaluate:
            child.value = await self.evaluate(child)
        return child

    async def evaluate(self, node: Node) -> float:
        """The node's value in 0..1: success is 1; otherwise the env's progress, or the model's
        (``self``) or a judge's rating of the episode so far."""
        if node.success:
            return 1.0
        if self.value_kind == "progress":
            return node.progress
        model = self.model if self.value_kind == "self" else self.judge
        if model is None:
            raise UsageError("search option value=self needs a model: pass --model")
        messages = list(self.history)
        for n in node.path():
            if n.action is not None:
                messages.append(n.action)
            messages.extend(n.obs.messages)
        prompt = SELF_EVAL_PROMPT.format(transcript=transcript(messages))
        if self.value_kind != "self":  # the episode's model is charged by CountingModel
            self.budget.charge_call()
        out = await model.generate([Message(role="user", content=prompt)], None, self.config)
        score = parse_score(out.message.content)
        return node.progress if score is None else score

    # ---- trace -------------------------------------------------------------------------------
    def tree(self, root: Node, chosen: Node | None, limit: int = MAX_TRACE_NODES) -> dict[str, Any]:
        """The tree under ``root`` as JSON-ready nested dicts, at most ``limit`` nodes (breadth first);
        ``chosen`` is marked."""
        out: dict[int, dict[str, Any]] = {}
        queue = [root]
        kept = 0
        total = 0
        while queue:
            node = queue.pop(0)
            total += 1
            if kept >= limit:
                queue.extend(node.children)
                continue
            kept += 1
            d: dict[str, Any] = {
                "action": action_label(node.action),
                "visits": node.visits,
                "value": round(node.mean(), 4),
                "eval": round(node.value, 4),
                "progress": round(node.progress, 4),
                "done": node.done,
                "success": node.success,
                "children": [],
            }
            if node is chosen:
                d["chosen"] = True
            if node.action is not None:  # the whole action, for exports (sibling preference pairs)
                if node.action.tool_calls:
                    d["call"] = [{"name": c.name, "arguments": c.arguments} for c in node.action.tool_calls]
                if node.action.content:
                    d["text"] = node.action.content
            out[id(node)] = d
            if node.parent is not None and id(node.parent) in out:
                out[id(node.parent)]["children"].append(d)
            queue.extend(node.children)
        tree = out[id(root)]
        tree["nodes"] = total
        tree["kept"] = kept
        return tree


class SearchAgent:
    """Base of the search strategies: the inner agent of the real trajectory, the real conversation,
    the budget per decision and the trace of the last decision."""

    strategy = "search"

    def __init__(
        self,
        env: Env,
        inner: Agent,
        searcher: Searcher,
        *,
        max_model_calls: int | None = None,
        max_env_steps: int | None = None,
    ) -> None:
        self.env = env
        self.inner = inner
        self.searcher = searcher
        self.max_model_calls = check_limit("max_model_calls", max_model_calls)
        self.max_env_steps = check_limit("max_env_steps", max_env_steps)
        self.totals = {"model_calls": 0, "env_steps": 0, "decisions": 0}
        self._trace: dict[str, Any] | None = None
        self.plan: list[Node] = []
        """Searched states still to play for real, one per ``act`` (strategies that plan ahead)."""
        self.members: Members | None = None
        """The models built for this episode (a ``judge:MODEL``), closed with it."""

    oracle = False
    """Whether the inner agent is an oracle (needs no model): it is reset with the env's own task,
    parameters included, even where the run withholds them (the runner's rule for oracles)."""

    async def reset(self, task: Task) -> None:
        own = getattr(self.env, "task", None) if self.oracle else None
        await self.inner.reset(own if isinstance(own, Task) and own.id == task.id else task)
        self.searcher.history = []
        self.totals = {"model_calls": 0, "env_steps": 0, "decisions": 0}
        self._trace = None
        self.plan = []

    def replay(self, observation: Observation) -> tuple[Message, dict[str, Any]] | None:
        """The plan's next action, while the real env answers as the searched one did (else the
        plan is dropped and None returned: search again)."""
        node = self.plan[0] if self.plan else None
        if node is None or node.action is None or node.parent is None:
            return None
        if node.parent.obs.messages != observation.messages:
            self.plan = []
            return None
        self.plan.pop(0)
        self.inner = node.agent
        return node.action, {"replay": node.depth, "left": len(self.plan)}

    def follow(self, path: list[Node]) -> Message:
        """Play the first action of ``path`` now and keep the rest as the plan."""
        first, self.plan = path[0], path[1:]
        assert first.action is not None
        self.inner = first.agent
        return first.action

    async def act(self, observation: Observation) -> Message:
        self.searcher.history.extend(observation.messages)
        self.searcher.budget = Budget(self.max_model_calls, self.max_env_steps)
        real = self.env.snapshot()
        try:
            action, trace = await self.decide(observation, real)
        finally:
            self.env.restore(real)  # the runner steps the chosen action from the real state
        spent = self.searcher.budget.spent()
        self.totals["model_calls"] += spent["model_calls"]
        self.totals["env_steps"] += spent["env_steps"]
        self.totals["decisions"] += 1
        self._trace = {"strategy": self.strategy, **trace, "spent": spent, "episode_spent": dict(self.totals)}
        self.searcher.history.append(action)
        return action

    async def decide(self, observation: Observation, real: Any) -> tuple[Message, dict[str, Any]]:
        """The action to take from the real state (snapshot ``real``) and the decision's trace; set
        ``self.inner`` to the inner agent as it is after choosing that action."""
        raise NotImplementedError

    def root(self, observation: Observation, real: Any) -> Node:
        progress = float(self.env.progress())
        return Node(state=real, agent=self.inner, obs=observation, progress=progress, value=progress)

    async def fallback(self, root: Node) -> Message:
        """When the search reached nothing (no budget for even one step): the inner agent's own
        choice, uncharged."""
        agent = self.searcher.clone(root.agent)
        budget = self.searcher.budget
        self.searcher.budget = Budget()
        try:
            act = await agent.act(root.obs)
        finally:
            self.searcher.budget = budget
            self.env.restore(root.state)
        self.inner = agent
        return act

    def pop_trace(self) -> dict[str, Any] | None:
        trace, self._trace = self._trace, None
        return trace

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
        if self.members is not None:
            await self.members.aclose()


def make_strategy(
    cls: type[SearchAgent],
    own: dict[str, Any],
    *,
    env: Env,
    model: Model | None,
    seed: int,
    config: GenerateConfig | None,
    inner: str = "tools",
    value: str = "progress",
    expand: str = "agent",
    max_model_calls: int | None = None,
    max_env_steps: int | None = None,
    **options: Any,
) -> SearchAgent:
    """A strategy of class ``cls`` with its ``own`` options: its inner agent built with the
    episode's model behind a budget counter and the options no strategy uses, its searcher (with a
    ``judge:MODEL`` model where asked) and its budget per decision."""
    from palaestra.agents.base import agent_needs_model, make_agent

    check_value(value)
    holder: dict[str, Searcher] = {}
    counting = CountingModel(model, lambda: holder["s"].budget) if model is not None else None
    agent = make_agent(inner, env=env, model=counting, seed=seed, config=config, **options)
    members = Members(model)  # the judge's calls are recorded with the episode's, like the inner agent's
    judge = members.model(value.removeprefix("judge:"), "judge") if value.startswith("judge:") else None
    searcher = Searcher(
        env, value=value, expand=expand, model=counting, judge=judge, config=config, pinned=(model,)
    )
    holder["s"] = searcher
    strategy = cls(env, agent, searcher, max_model_calls=max_model_calls, max_env_steps=max_env_steps, **own)
    strategy.oracle = not agent_needs_model(inner, options)
    strategy.members = members
    return strategy


def backup(node: Node, value: float) -> None:
    """Add one visit and ``value`` to ``node`` and every ancestor."""
    cur: Node | None = node
    while cur is not None:
        cur.visits += 1
        cur.total += value
        cur = cur.parent


def uct(parent: Node, child: Node, c: float) -> float:
    """Upper confidence bound of ``child``: its mean value plus ``c`` times the exploration term
    (unvisited children first)."""
    if child.visits == 0:
        return math.inf
    return child.mean() + c * math.sqrt(math.log(max(parent.visits, 1)) / child.visits)


SHARED_OPTIONS = ("inner", "value", "expand", "max_model_calls", "max_env_steps")
"""Options every strategy takes (see :func:`make_strategy`), besides its factory's own."""


def inner_options(factory: Callable[..., Any], options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The inner agent's name and the options a strategy built by ``factory`` passes on to it."""
    import inspect

    own = set(inspect.signature(factory).parameters) | set(SHARED_OPTIONS)
    return str(options.get("inner", "tools")), {k: v for k, v in options.items() if k not in own}


def needs_model(options: dict[str, Any]) -> bool:
    """Whether a strategy with these options needs the run's model: its inner agent does, or it
    values states by the model's self-evaluation."""
    from palaestra.agents.base import agent_needs_model

    inner = options.get("inner", "tools")
    return options.get("value") == "self" or agent_needs_model(str(inner), options)
