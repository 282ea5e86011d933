"""What the strategies that wrap other agents share (``reflexion``, ``memory``, ``team``, ``jury``).

A strategy takes option ``inner`` (an agent name, default ``tools``) and builds the agent it wraps
with :func:`palaestra.agents.base.make_agent`, passing on the options it does not use itself, so it
composes with any action format (``inner=react``, ``inner=code``) and with other strategies.

Here: the :class:`Wrapper` base (reset, close and trace of one inner agent), the models of team
members named by their own spec (:class:`Members`: built per episode with the run's model options,
their calls recorded with the episode's, closed when it ends), notes added to what the inner agent reads (:func:`with_note`), one
text form of a step for prompts and traces (:func:`render_action`, :func:`render_step`), the
canonical form of an action that votes compare (:func:`canonical`) and short text for traces
(:func:`clip`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from palaestra.agents.base import make_agent, run_model_options
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model, get_model
from palaestra.policy import Agent, agent_trace
from palaestra.types import Message, Observation, Task

TRACE_CHARS = 400
"""Characters of any one text (a reflection, a member's reply, a memory) kept in a step's trace."""


def clip(text: str, limit: int = TRACE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_inner(
    inner: str,
    *,
    env: Env,
    model: Model | None,
    seed: int,
    config: GenerateConfig | None,
    options: dict[str, Any],
) -> Agent:
    """The agent a strategy wraps: agent ``inner`` with the options the strategy did not take."""
    return make_agent(inner, env=env, model=model, seed=seed, config=config, **options)


class Members:
    """The models one episode's strategy builds from member specs (``planner=openai:A``).

    A spec's model is built once per episode with the run's model options where its provider is
    the run's (``--base-url``, ``--api-key``: :func:`palaestra.agents.base.run_model_options`), its
    calls are recorded with the episode's where the episode's model records them (the runner's
    ``RecordingModel.record_calls_of``), and :meth:`aclose` (called from the strategy's ``aclose``
    at the episode's end) closes every model built here. A member without a spec is the episode's
    own model, which the runner owns."""

    def __init__(self, episode_model: Model | None) -> None:
        self.episode_model = episode_model
        self.built: dict[str, Model] = {}

    def model(self, spec: str | None, role: str) -> Model:
        """The model of member ``role``: the episode's model when ``spec`` is None, else ``spec``'s."""
        if spec is None:
            if self.episode_model is None:
                raise UsageError(f"{role} needs a model: pass --model or --agent-opt {role}=PROVIDER:NAME")
            return self.episode_model
        if not isinstance(spec, str) or not spec:
            raise UsageError(f"{role} must be a model spec such as openai:NAME or mock:FILE, got {spec!r}")
        if spec not in self.built:
            self.built[spec] = get_model(spec, **member_options(spec))
        record = getattr(self.episode_model, "record_calls_of", None)
        return record(self.built[spec]) if callable(record) else self.built[spec]

    async def aclose(self) -> None:
        """Close every model built for this episode (each once, all of them even if one fails)."""
        built, self.built = list(self.built.values()), {}
        errors: list[BaseException] = []
        for model in built:
            try:
                await model.close()
            except Exception as e:  # the others are closed all the same
                errors.append(e)
        if errors:
            raise errors[0]


def member_options(spec: str) -> dict[str, Any]:
    """The keyword arguments of ``get_model`` for member ``spec``: the run's model options when the
    member's provider is the run model's (a spec naming its own server keeps it: no ``base_url``),
    none otherwise (they are the options of another provider)."""
    run_spec, options = run_model_options()
    if not run_spec or spec.partition(":")[0] != run_spec.partition(":")[0]:
        return {}
    own_server = "@" in spec.partition(":")[2]
    return {k: v for k, v in options.items() if not (own_server and k == "base_url")}


def with_note(observation: Observation, note: str) -> Observation:
    """``observation`` with ``note`` for the agent to read: added to its last user message (the goal,
    on the first step) or, after tool results, as a user message of its own."""
    if not note:
        return observation
    messages = list(observation.messages)
    if messages and messages[-1].role == "user":
        last = messages[-1]
        messages[-1] = last.model_copy(update={"content": f"{last.content}\n\n{note}"})
    else:
        messages.append(Message(role="user", content=note))
    return observation.model_copy(update={"messages": messages})


def goal_text(observation: Observation) -> str:
    """What the agent is asked to do: the user messages of an episode's first observation."""
    return "\n".join(m.content for m in observation.messages if m.role == "user")


def observation_text(observation: Observation) -> str:
    """The new text of an observation, without the system prompt (the same in every episode)."""
    return "\n".join(m.content for m in observation.messages if m.role != "system" and m.content)


def render_action(message: Message) -> str:
    """An action as one line: ``move({"direction": "east"})``, or the text it says."""
    calls = [
        f"{c.name}({c.raw_arguments})" if c.parse_error else render_call(c.name, c.arguments)
        for c in message.tool_calls
    ]
    return "; ".join(calls) if calls else message.content.strip()


def render_call(name: str, arguments: dict[str, Any]) -> str:
    """One tool call as :func:`render_action` writes it: ``send_email({"to": "..."})``."""
    return f"{name}({json.dumps(arguments, sort_keys=True)})"


def render_step(action: Message, result: list[Message], limit: int = TRACE_CHARS) -> str:
    """One step of a transcript: the action and what came back."""
    said = "\n".join(m.content for m in result if m.content)
    return f"Action: {clip(render_action(action), limit)}\nResult: {clip(said, limit)}"


def canonical(message: Message) -> str:
    """The form in which two actions are the same vote: tool names and arguments (key order and
    call ids aside), or the text, trimmed and lower-cased, of a reply without calls."""
    if message.tool_calls:
        return json.dumps(
            [[c.name, c.arguments if not c.parse_error else c.raw_arguments] for c in message.tool_calls],
            sort_keys=True,
        )
    return " ".join(message.content.split()).lower()


def adopt(agent: Agent, chosen: Message) -> None:
    """Make ``chosen`` the last reply in ``agent``'s history, in place of its own proposal, so that
    the env's answer to ``chosen`` follows it there. An agent may define ``adopt(message)``; the
    built-in ones keep their conversation in ``history`` (a reply without tool calls there, as
    ``react`` keeps it, takes ``chosen``'s text only)."""
    own = getattr(agent, "adopt", None)
    if callable(own):
        own(chosen)
        return
    history = getattr(agent, "history", None)
    if isinstance(history, list) and history and getattr(history[-1], "role", None) == "assistant":
        if history[-1].tool_calls:
            history[-1] = chosen.model_copy(deep=True)
        else:
            history[-1] = Message(role="assistant", content=chosen.content)


def retract(agent: Agent) -> None:
    """Take ``agent``'s last reply out of its history (a debate member about to reconsider it)."""
    history = getattr(agent, "history", None)
    if isinstance(history, list) and history and getattr(history[-1], "role", None) == "assistant":
        history.pop()


async def close_agent(agent: Agent) -> None:
    """Release what ``agent`` holds (CodeAct's sandbox), as the runner does for the outer agent."""
    aclose = getattr(agent, "aclose", None)
    if callable(aclose):
        await aclose()


async def close_all(agents: Iterable[Agent], members: Members | None) -> None:
    """Close ``agents``, then the models ``members`` built, even if an agent's close fails."""
    try:
        for agent in agents:
            await close_agent(agent)
    finally:
        if members is not None:
            await members.aclose()


class Wrapper:
    """Base of a strategy around one inner agent: resets and closes it, and hands over the trace of
    the last decision (``self.trace``) with the inner agent's own under ``"inner"``."""

    def __init__(self, inner: Agent, members: Members | None = None) -> None:
        self.inner = inner
        self.members = members
        self.trace: dict[str, Any] | None = None
        self.task: Task | None = None

    async def reset(self, task: Task) -> None:
        self.task = task
        self.trace = None
        await self.inner.reset(task)

    async def act_inner(self, observation: Observation) -> Message:
        """The inner agent's action, its trace kept for this decision's."""
        message = await self.inner.act(observation)
        inner = agent_trace(self.inner)
        if inner is not None:
            self.trace = {**(self.trace or {}), "inner": inner}
        return message

    def pop_trace(self) -> dict[str, Any] | None:
        trace, self.trace = self.trace, None
        return trace

    async def aclose(self) -> None:
        await close_all([self.inner], self.members)
