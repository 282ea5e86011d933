"""Any single-agent Palaestra environment as a Gymnasium environment with text spaces.

    import gymnasium as gym
    import palaestra.adapters.gymnasium  # registers "palaestra/<env>-v0" for every env

    env = gym.make("palaestra/maze-v0", difficulty=1)
    obs, info = env.reset(seed=0)          # the seed picks the task
    obs, reward, terminated, truncated, info = env.step('move({"direction": "north"})')

An action is a string: ``tool({"arg": value})``, ``tool arg ...`` (as in ``palaestra play``), a
JSON object ``{"name": ..., "arguments": {...}}``, or plain text (which free-text envs take as
speech and the others answer with an error, as for any invalid action). The observation is the
text of the env's new messages; the first one also lists the tools. ``info`` carries the env's
step info plus ``tools`` (the tool specs, for function-calling agents) and ``task_id``.

``env.unwrapped.observation`` is the env's own last ``Observation`` (messages, tools, info): what
Palaestra agents, experts included, act on. ``env.unwrapped.expert_action()`` asks the env's
expert for its next move as an action string this adapter takes.

The adapter owns an event loop; ``close()`` frees it and the env, and so does garbage collection
(the loop only) when a caller forgets to close.
"""

from __future__ import annotations

import asyncio
import json
import string
import weakref
from typing import Any

import gymnasium
from gymnasium import spaces

from palaestra.agents.human import parse_command
from palaestra.env import Env, env_names, make
from palaestra.errors import UsageError
from palaestra.tools import describe_tools
from palaestra.types import Message, Observation, Split, Task, ToolCall, ToolSpec

# Printable ASCII plus the Latin, Greek, Cyrillic, punctuation, arrows, maths and box-drawing
# blocks: everything environments write. Any other character is replaced by U+FFFD.
CHARSET = string.printable + "".join(chr(c) for c in range(0xA0, 0x2600)) + "\ufffd"
_CHARS = frozenset(CHARSET)
MAX_OBSERVATION = 1_000_000
MAX_ACTION = 4096


def _clean(text: str) -> str:
    if all(c in _CHARS for c in text):
        return text[:MAX_OBSERVATION]
    return "".join(c if c in _CHARS else "\ufffd" for c in text)[:MAX_OBSERVATION]


class GymnasiumEnv(gymnasium.Env[str, str]):
    """A Palaestra ``Env`` behind Gymnasium's ``reset(seed)``/``step(action)`` API."""

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012  (Gymnasium declares it an instance variable)

    def __init__(
        self,
        env: str | Env,
        *,
        split: Split = "train",
        difficulty: int | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        inner = make(env) if isinstance(env, str) else env
        if not isinstance(inner, Env):
            raise UsageError(f"{env} is a multi-agent game; use the PettingZoo adapter")
        self.env = inner
        self.split: Split = split
        self.difficulty = difficulty
        self.max_steps = max_steps or inner.spec.max_steps
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION, min_length=1, charset=CHARSET)
        self._loop = asyncio.new_event_loop()
        self._finalizer = weakref.finalize(self, self._loop.close)
        self._task: Task | None = None
        self._steps = 0
        self._last = ""
        self.observation: Observation | None = None
        """The env's own last observation (what Palaestra agents and experts read)."""
        self._expert: Any = None
        self._tools: list[ToolSpec] = []  # known after reset: some envs' tools depend on the task

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def _text(self, obs: Observation, first: bool = False) -> str:
        self.observation = obs
        parts = [m.content for m in obs.messages if m.content]
        if obs.tools:
            self._tools = obs.tools
        if first:
            parts.append(describe_tools(self._tools))
        return _clean("\n\n".join(parts))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if "task" in options:
            task = (
                options["task"] if isinstance(options["task"], Task) else Task.model_validate(options["task"])
            )
        else:
            task_seed = int(self.np_random.integers(0, 2**31 - 1))
            task = self.env.tasks(self.split, 1, seed=task_seed, difficulty=self.difficulty)[0]
        self._task = task
        self._steps = 0
        self._expert = None
        self.env.turn_limit = self.max_steps
        obs = self._run(self.env.reset(task))
        self._last = self._text(obs, first=True)
        return self._last, {"task_id": task.id, "tools": [t.model_dump() for t in self._tools], **obs.info}

    def parse(self, action: str) -> Message:
        """The assistant message for an action string (see the module docstring)."""
        text = action.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                args = data.get("arguments") or {}
                call = ToolCall(
                    id=f"call_{self._steps}",
                    name=data["name"],
                    arguments=args if isinstance(args, dict) else {},
                )
                return Message(role="assistant", tool_calls=[call])
        call2 = parse_command(text, self._tools, f"call_{self._steps}")
        if call2 is not None:
            return Message(role="assistant", tool_calls=[call2])
        return Message(role="assistant", content=action)

    def expert_action(self) -> str:
        """The env's expert's next move, as a JSON action string (its first tool call)."""
        if self._task is None or self.observation is None:
            raise gymnasium.error.ResetNeeded("call reset() before expert_action()")
        if self._expert is None:
            self._expert = self.env.expert()
            if self._expert is None:
                raise UsageError(f"{self.env.spec.name} has no expert")
            self._run(self._expert.reset(self._task))
        reply: Message = self._run(self._expert.act(self.observation))
        if not reply.tool_calls:
            return reply.content
        call = reply.tool_calls[0]
        return json.dumps({"name": call.name, "arguments": call.arguments})

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        self._steps += 1
        step = self._run(self.env.step(self.parse(action)))
        self._last = self._text(step.observation)
        truncated = bool(step.truncated or (not step.terminated and self._steps >= self.max_steps))
        info = dict(step.info)
        info["task_id"] = self._task.id
        return self._last, float(step.reward), bool(step.terminated), truncated, info

    def render(self) -> str | None:
        return self._last if self.render_mode == "ansi" else None

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self.env.close())
            self._finalizer()
        super().close()


def register_all() -> list[str]:
    """Register ``palaestra/<name>-v0`` with Gymnasium for every single-agent environment."""
    ids = []
    for name in env_names():
        env_id = f"palaestra/{name}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=f"{__name__}:GymnasiumEnv", kwargs={"env": name})
        ids.append(env_id)
    return ids


register_all()
