"""Single-agent Palaestra envs as OpenEnv environment servers (``openenv-core``), and their client.

    palaestra serve maze wordle --port 8000      # one server; each env under /maze, /wordle

    from palaestra.adapters.openenv import PalaestraEnvClient, action_class

    MazeAction = action_class("maze")
    with PalaestraEnvClient(base_url="http://127.0.0.1:8000/maze").sync() as client:
        result = client.reset(seed=0, split="test", difficulty=1)
        print(result.observation.text)
        result = client.step(MazeAction(tool="move", arguments={"direction": "north"}))
        print(result.observation.text, result.reward, result.done)

The server is OpenEnv's own (``create_app``): WebSocket sessions at ``/ws`` each play their own
episode concurrently (up to ``max_sessions``), ``/schema`` gives the typed action and observation.
An action is one tool call, ``tool`` (one of the env's tool names) and ``arguments``; the
observation carries the env's ``text``, the ``tools`` (OpenAI function specs), ``task_id``,
``success`` and ``progress``, with OpenEnv's ``reward`` and ``done``. ``reset`` takes ``seed``
(which task of the split, default 0), ``split`` and ``difficulty``. With one env the server is also
mounted at the root. A game is served seat by seat: the client plays ``seat`` (default the
first), the game's ``bot`` (default its first) every other seat. OpenEnv's generic clients (``GenericEnvClient``) work too, with dict actions.

The other direction: :class:`OpenEnvRemote` runs any OpenEnv server as a Palaestra env.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Literal

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient
from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, EnvironmentMetadata, Observation, State
from pydantic import Field, create_model

from palaestra.adapters._session import EpisodeOptions, all_tools, make_single, pick_task, prompt_text
from palaestra.env import Env as PalaestraEnv
from palaestra.errors import UsageError
from palaestra.tasksource import EnvSpec
from palaestra.tools import ToolResult
from palaestra.types import SPLITS, Task, ToolCall, ToolSpec

DEFAULT_MAX_SESSIONS = 64


class ToolAction(Action):  # type: ignore[misc]  # openenv is untyped
    """One tool call of the env."""

    tool: str = Field(description="the name of one of the env's tools")
    arguments: dict[str, Any] = Field(default_factory=dict, description="the tool's arguments")


class TextObservation(Observation):  # type: ignore[misc]  # openenv is untyped
    """What the agent is told, the tools it may call and how the episode stands."""

    text: str = Field(default="", description="the env's messages since the last action")
    tools: list[dict[str, Any]] = Field(default_factory=list, description="OpenAI function specs")
    task_id: str | None = None
    success: bool = False
    progress: float = 0.0
    invalid_action: bool = False


class EpisodeState(State):  # type: ignore[misc]  # openenv is untyped
    """The episode's task and results so far."""

    task_id: str | None = None
    success: bool = False
    progress: float = 0.0
    total_reward: float = 0.0


def action_class(env: str) -> type[ToolAction]:
    """``ToolAction`` whose ``tool`` is typed as one of ``env``'s tool names."""
    names = tuple(s.name for s in all_tools(make_single(env)))
    tool_type: Any = Literal[names]
    model: type[ToolAction] = create_model(
        f"{env.title().replace('-', '')}Action",
        __base__=ToolAction,
        tool=(tool_type, Field(description="one of the env's tools")),
    )
    return model


class PalaestraEnvironment(Environment[ToolAction, TextObservation, EpisodeState]):  # type: ignore[misc]  # openenv is untyped
    """One session's episodes of a Palaestra env, behind OpenEnv's ``Environment`` API."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, env: str, options: EpisodeOptions | None = None) -> None:
        super().__init__()
        self.env_name = env
        self.options = options or EpisodeOptions()
        self.episode = self.options.episode(env)
        self._episode_id: str | None = None

    async def reset_async(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        split: str | None = None,
        difficulty: int | None = None,
        **kwargs: Any,
    ) -> TextObservation:
        chosen = split or self.options.split
        if chosen not in SPLITS:
            raise UsageError(f"unknown split {chosen!r}; valid: {', '.join(SPLITS)}")
        level = difficulty if difficulty is not None else self.options.difficulty
        task = pick_task(self.episode.env, chosen, seed or 0, level)
        obs = await self.episode.start(task)
        self._episode_id = episode_id or task.id
        return self._observation(prompt_text(obs), reward=None, done=False)

    async def step_async(
        self, action: ToolAction, timeout_s: float | None = None, **kwargs: Any
    ) -> TextObservation:
        if self.episode.task is None:
            return self._observation("Error: call reset first.", reward=0.0, done=False, invalid=True)
        if self.episode.done:
            return self._observation(
                "Error: the episode is over; reset.", reward=0.0, done=True, invalid=True
            )
        out = await self.episode.act(action.tool, action.arguments)
        return self._observation(
            out.text, reward=out.reward, done=out.done, invalid=bool(out.info.get("invalid_action"))
        )

    def _observation(
        self, text: str, *, reward: float | None, done: bool, invalid: bool = False
    ) -> TextObservation:
        ep = self.episode
        return TextObservation(
            text=text,
            tools=[t.openai() for t in ep.tools],
            task_id=ep.task.id if ep.task else None,
            success=bool(ep.env.success) if ep.task else False,
            progress=float(ep.env.progress()) if ep.task else 0.0,
            invalid_action=invalid,
            reward=reward,
            done=done,
        )

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> TextObservation:
        return asyncio.run(self.reset_async(seed, episode_id, **kwargs))

    def step(self, action: ToolAction, timeout_s: float | None = None, **kwargs: Any) -> TextObservation:
        return asyncio.run(self.step_async(action, timeout_s, **kwargs))

    @property
    def state(self) -> EpisodeState:
        ep = self.episode
        return EpisodeState(
            episode_id=self._episode_id,
            step_count=ep.steps,
            task_id=ep.task.id if ep.task else None,
            success=bool(ep.env.success) if ep.task else False,
            progress=float(ep.env.progress()) if ep.task else 0.0,
            total_reward=ep.total_reward,
        )

    def get_metadata(self) -> EnvironmentMetadata:
        spec = self.episode.env.spec
        return EnvironmentMetadata(name=spec.name, description=spec.description, version="palaestra")

    def close(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.episode.close())
        else:
            self._closing = loop.create_task(self.episode.close())


def create_env_app(
    env: str, options: EpisodeOptions | None = None, *, max_sessions: int = DEFAULT_MAX_SESSIONS
) -> Any:
    """OpenEnv's FastAPI app serving ``env``."""
    opts = options or EpisodeOptions()
    opts.make(env)  # refuse an unknown name, seat or bot before serving

    def factory() -> PalaestraEnvironment:
        return PalaestraEnvironment(env, opts)

    return create_fastapi_app(factory, action_class(env), TextObservation, max_concurrent_envs=max_sessions)


def create_server_app(
    envs: list[str], options: EpisodeOptions | None = None, *, max_sessions: int = DEFAULT_MAX_SESSIONS
) -> Any:
    """One ASGI app: each env's OpenEnv app under ``/<env>``, and at the root when there is one."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    apps = {name: create_env_app(name, options, max_sessions=max_sessions) for name in envs}
    routes = [Mount(f"/{name}", app=app) for name, app in apps.items()]
    if len(apps) == 1:
        routes.append(Mount("/", app=next(iter(apps.values()))))
    return Starlette(routes=routes)


class PalaestraEnvClient(EnvClient[ToolAction, TextObservation, EpisodeState]):  # type: ignore[misc]  # openenv is untyped
    """OpenEnv's ``EnvClient`` for a served Palaestra env (``palaestra serve``)."""

    def _step_payload(self, action: ToolAction) -> dict[str, Any]:
        return {"tool": action.tool, "arguments": action.arguments}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[TextObservation]:
        obs = TextObservation(
            **payload.get("observation", {}), reward=payload.get("reward"), done=payload.get("done", False)
        )
        return StepResult(observation=obs, reward=payload.get("reward"), done=bool(payload.get("done")))

    def _parse_state(self, payload: dict[str, Any]) -> EpisodeState:
        state: EpisodeState = EpisodeState.model_validate(payload)
        return state


# ---- the other direction: an OpenEnv server as a Palaestra env ------------------------------------
class OpenEnvRemote(PalaestraEnv):
    """An OpenEnv environment served at ``url``, as a Palaestra env ``palaestra run`` can run:

        palaestra run palaestra.adapters.openenv:OpenEnvRemote --env-arg url=http://127.0.0.1:8000/maze

    A task is a seed for the server's ``reset`` (the URL is kept in the task, so the store says
    where it ran). A Palaestra server (``palaestra serve``) shows its env's own tools; any other
    OpenEnv server has one tool, ``step``, whose arguments are its action schema, and its
    observations are shown as JSON. Rewards are OpenEnv's per step; success is the server's
    ``success`` where it reports one, else a positive final reward.
    """

    spec = EnvSpec(
        name="openenv",
        description="An OpenEnv environment served at a URL.",
        max_steps=100,
        difficulties=(1,),
    )

    def __init__(self, url: str = "http://127.0.0.1:8000") -> None:
        self.url = url.rstrip("/")
        self._client: Any = None
        self._remote_tools: list[ToolSpec] = []
        self._palaestra = False

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"seed": rng.randrange(2**31), "url": self.url}

    async def setup(self, task: Task) -> str:  # type: ignore[override]  # Env.reset awaits it
        import aiohttp
        from openenv.core import GenericEnvClient

        self.url = str(task.params.get("url", self.url))
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/schema") as response:
            if response.status != 200:
                raise UsageError(f"{self.url}/schema answered HTTP {response.status}: not an OpenEnv server")
            schema = await response.json()
        self._palaestra = "tool" in schema["action"].get("properties", {}) and "text" in schema[
            "observation"
        ].get("properties", {})
        await self.close()
        self._client = GenericEnvClient(base_url=self.url)
        await self._client.connect()
        result = await self._client.reset(seed=int(task.params["seed"]))
        if self._palaestra:
            self._remote_tools = [ToolSpec(**t["function"]) for t in result.observation.get("tools", [])]
            return str(result.observation.get("text", ""))
        params = {k: v for k, v in schema["action"].get("properties", {}).items() if k != "metadata"}
        action_schema = {
            "type": "object",
            "properties": params,
            "required": schema["action"].get("required", []),
        }
        description = f"Act in the environment: {schema['action'].get('description') or 'one action'}"
        self._remote_tools = [ToolSpec(name="step", description=description, parameters=action_schema)]
        return json.dumps(result.observation, ensure_ascii=False)

    def tool_specs(self) -> list[ToolSpec]:
        return self._remote_tools

    async def call(self, call: ToolCall) -> ToolResult:
        if self._client is None:
            return ToolResult("Error: the episode has not started.", invalid=True)
        payload = (
            {"tool": call.name, "arguments": call.arguments} if self._palaestra else dict(call.arguments)
        )
        if not self._palaestra and call.name != "step":
            return ToolResult("Error: the only tool is step.", invalid=True)
        try:
            result = await self._client.step(payload)
        except Exception as exc:  # the server refused the action (validation): the agent's mistake
            return ToolResult(f"Error: {exc}", invalid=True)
        obs = result.observation
        self.add_reward(float(result.reward or 0.0))
        if result.done:
            success = obs.get("success") if self._palaestra else (result.reward or 0.0) > 0
            self.finish(bool(success), reward=0.0)
        if self._palaestra:
            return ToolResult(str(obs.get("text", "")), invalid=bool(obs.get("invalid_action")))
        return ToolResult(json.dumps(obs, ensure_ascii=False))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
