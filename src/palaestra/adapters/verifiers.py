"""Any single-agent Palaestra env as a verifiers (0.4, ``verifiers.v1``) taskset, offline.

    vf-eval palaestra_verifiers --env.taskset.env maze --env.taskset.n 20 \\
        --model MODEL --client.base-url http://127.0.0.1:8000/v1 --no-push

verifiers' loader imports a taskset id as a top-level module, so the id is ``palaestra_verifiers``
(shipped with Palaestra; it re-exports the classes below). A rollout is verifiers' own:

* :class:`PalaestraTaskset` makes one :class:`PalaestraTask` per Palaestra task (``env``,
  ``split``, ``n``, ``seed``, ``difficulty``); its prompt is the env's instructions and goal.
* The env's tools are a verifiers ``Toolset`` (:class:`PalaestraToolset`), an MCP server that
  verifiers serves per rollout in a subprocess: it starts the episode of the rollout's task and
  steps it once per tool call (same names, descriptions and JSON schemas as the env's ``@tool``
  specs). The episode's reward, success and progress travel to the rollout through verifiers'
  shared ``State``.
* The agent is verifiers' own chat program (the ``null`` harness: model call, MCP tool calls,
  repeat until a reply without tool calls) against the OpenAI-compatible endpoint.
  :class:`PalaestraHarness` only runs it with this Python instead of a uv-managed one, so no
  ``uv`` and no downloads are needed; it runs on the ``subprocess`` runtime only.
* The reward is the episode's total reward (``reward="success"``/``"progress"`` to change it);
  success, progress and steps are metrics.

A game is played seat by seat (``seat``, ``bot``) as in the other bridges.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal, cast

import verifiers.v1 as vf
from mcp.types import CallToolResult, TextContent, Tool
from verifiers.v1.harnesses.null import NullHarness

from palaestra.adapters._session import Episode, SyncEpisode, all_tools, make_single, prompt_text
from palaestra.types import Task

__all__ = [
    "PalaestraConfig",
    "PalaestraData",
    "PalaestraEnv",
    "PalaestraEnvConfig",
    "PalaestraHarness",
    "PalaestraState",
    "PalaestraTask",
    "PalaestraTaskset",
    "PalaestraToolset",
]


class PalaestraState(vf.State):  # type: ignore[misc]  # verifiers is untyped
    """What the toolset's episode reports to the rollout after each tool call."""

    reward: float = 0.0
    success: bool = False
    progress: float = 0.0
    steps: int = 0
    done: bool = False


class PalaestraData(vf.TaskData):  # type: ignore[misc]
    info: dict[str, Any]
    """The env, the Palaestra task (as JSON data) and how the episode is played."""


class PalaestraToolset(vf.Toolset[vf.ToolsetConfig, PalaestraState]):  # type: ignore[misc]
    """The env's tools as an MCP server; one episode per rollout (verifiers serves one per rollout)."""

    TOOL_PREFIX = None  # the env's tool names, unprefixed

    episode: Episode | None = None
    _steps: asyncio.Lock

    async def setup_task(self, data: Any) -> None:
        """Start the episode of the rollout's task (verifiers hands over its ``PalaestraData``)."""
        info = data.info
        self._steps = asyncio.Lock()
        env = make_single(info["env"], seat=info.get("seat"), bot=info.get("bot"))
        self.episode = Episode(env, max_steps=info.get("max_steps"))
        await self.episode.start(Task.model_validate(info["task"]))

    def register(self, mcp: Any) -> None:
        server = cast(Any, mcp)
        server.list_tools = self.list_tools
        server.call_tool = self.call_tool

    async def list_tools(self) -> list[Tool]:
        assert self.episode is not None, "the toolset serves one rollout's task"
        # the env's fixed tools and those of this task (an env may add tools per task)
        specs = {s.name: s for s in [*all_tools(self.episode.env), *self.episode.tools]}
        return [
            Tool(name=s.name, description=s.description, input_schema=s.parameters) for s in specs.values()
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> CallToolResult:
        async def step() -> str:
            episode = self.episode
            assert episode is not None, "the toolset serves one rollout's task"
            if episode.done:
                return "The episode is over."
            outcome = await episode.act(name, arguments)
            state = self.state
            state.reward = episode.total_reward
            state.success = bool(episode.env.success)
            state.progress = float(outcome.info["progress"])
            state.steps = episode.steps
            state.done = outcome.done
            return outcome.text + ("\nThe episode is over." if outcome.done else "")

        async with self._steps:  # a reply's tool calls may arrive at once: one env step at a time
            text = await self._with_state(step)()
        return CallToolResult(content=[TextContent(type="text", text=text or "(no output)")])


class PalaestraTaskConfig(vf.TaskConfig):  # type: ignore[misc]
    tools: vf.ToolsetConfig = vf.ToolsetConfig()


class PalaestraTask(vf.Task[PalaestraData, PalaestraState, PalaestraTaskConfig]):  # type: ignore[misc]
    """One Palaestra task; scored from the episode the toolset played."""

    @classmethod
    def toolsets(cls, config: PalaestraTaskConfig) -> list[Any]:
        return [PalaestraToolset(config.tools)]

    @property
    def key(self) -> str:
        return f"{self.data.info['env']}/{self.data.info['task']['id']}"

    @vf.reward(weight=1.0)  # type: ignore[untyped-decorator]
    async def reward(self, trace: Any) -> float:
        state = trace.state
        kind = self.data.info.get("reward", "reward")
        if kind == "success":
            return 1.0 if state.success else 0.0
        if kind == "progress":
            return float(state.progress)
        return float(state.reward)

    @vf.metric  # type: ignore[untyped-decorator]
    async def success(self, trace: Any) -> float:
        return 1.0 if trace.state.success else 0.0

    @vf.metric  # type: ignore[untyped-decorator]
    async def progress(self, trace: Any) -> float:
        return float(trace.state.progress)

    @vf.metric  # type: ignore[untyped-decorator]
    async def steps(self, trace: Any) -> float:
        return float(trace.state.steps)


class PalaestraConfig(vf.TasksetConfig):  # type: ignore[misc]
    env: str = "maze"
    """The Palaestra env (a game is played by one seat)."""
    split: Literal["train", "dev", "test"] = "test"
    n: int = 10
    """How many tasks."""
    seed: int = 0
    difficulty: int | None = None
    reward: Literal["reward", "success", "progress"] = "reward"
    max_steps: int | None = None
    seat: str | None = None
    bot: str | None = None
    task: PalaestraTaskConfig = PalaestraTaskConfig()


class PalaestraTaskset(vf.Taskset[PalaestraTask, PalaestraConfig]):  # type: ignore[misc]
    def load(self) -> list[PalaestraTask]:
        c = self.config
        env = make_single(c.env, seat=c.seat, bot=c.bot)
        rows = []
        for i, task in enumerate(env.tasks(c.split, c.n, seed=c.seed, difficulty=c.difficulty)):
            episode = SyncEpisode(make_single(c.env, seat=c.seat, bot=c.bot), max_steps=c.max_steps)
            try:
                prompt = prompt_text(episode.start(task))
            finally:
                episode.close()
            info = {
                "env": c.env,
                "task": task.model_dump(mode="json"),
                "reward": c.reward,
                "max_steps": c.max_steps,
                "seat": c.seat,
                "bot": c.bot,
            }
            rows.append(
                PalaestraTask(
                    PalaestraData(idx=i, name=f"{c.env}/{task.id}", prompt=prompt, info=info), c.task
                )
            )
        return rows


class PalaestraEnvConfig(vf.SingleAgentEnvConfig):  # type: ignore[misc]
    agent: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())
    """The one seat; its chat program runs here, as a subprocess, by default."""


class PalaestraEnv(vf.Env[PalaestraEnvConfig]):  # type: ignore[misc]
    """verifiers' single-agent env with the subprocess runtime as the agent's default."""

    async def run(self, task: Any, agents: Any) -> None:
        await agents.agent.run(task)


class _LocalPython:
    """A subprocess runtime whose PEP 723 scripts run with this Python (their packages are
    verifiers' own dependencies) instead of a uv-managed environment."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)

    async def prepare_uv_script(
        self, script: str | bytes, env: Any = None, *, activate: bool = True
    ) -> list[str]:
        data = script.encode() if isinstance(script, str) else script
        path = Path(tempfile.gettempdir()) / f"palaestra-vf-{hashlib.sha256(data).hexdigest()[:16]}.py"
        if not path.exists() or path.read_bytes() != data:
            tmp = path.with_suffix(f".{id(self)}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return [sys.executable, str(path)]


class PalaestraHarness(NullHarness):  # type: ignore[misc]
    """verifiers' ``null`` chat harness run with this Python (no uv, no downloads)."""

    async def setup(self, runtime: Any) -> None:
        if runtime.type != "subprocess":
            raise vf.HarnessError(
                "the palaestra_verifiers harness runs verifiers' chat program with this Python: "
                "it needs the subprocess runtime (use --env.agent.harness.id null elsewhere)"
            )

    async def launch(self, ctx: Any, trace: Any, runtime: Any, *args: Any, **kwargs: Any) -> Any:
        return await super().launch(ctx, trace, _LocalPython(runtime), *args, **kwargs)


if __name__ == "__main__":  # verifiers serves the toolset as ``python -m palaestra.adapters.verifiers``
    PalaestraToolset.run()
