"""One episode: the agent/env loop, with limits, and the record of everything that happened."""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Literal

from palaestra.agents.base import Agent
from palaestra.env import Env
from palaestra.errors import ModelError
from palaestra.models.base import GenerateConfig, Model, ModelOutput
from palaestra.runner.sanitize import clean_message
from palaestra.types import Message, Observation, Task, ToolSpec, Usage

Status = Literal["done", "truncated", "timeout", "error"]


@dataclass(slots=True)
class StepRecord:
    index: int
    observation: list[Message]
    action: Message
    reward: float
    info: dict[str, Any]
    tools: list[ToolSpec] | None = None
    """Set on the first step and whenever the tool list changed."""


@dataclass(slots=True)
class CallRecord:
    input_tokens: int
    output_tokens: int
    latency: float
    retries: int
    cost: float | None
    finish_reason: str | None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    error: str | None = None
    prompt_token_ids: list[int] | None = None


@dataclass(slots=True)
class EpisodeRecord:
    id: str
    task: Task
    agent: str
    model: str
    sample: int = 0
    status: Status = "done"
    reward: float = 0.0
    success: bool = False
    progress: float = 0.0
    invalid_actions: int = 0
    usage: Usage = field(default_factory=Usage)
    model_latency: float = 0.0
    cost: float | None = None
    wall: float = 0.0
    error: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    final: list[Message] = field(default_factory=list)
    """The last observation's messages (what the env said after the final action)."""

    @property
    def n_steps(self) -> int:
        return len(self.steps)


class RecordingModel:
    """Wraps the shared model for one episode and records every call it makes."""

    def __init__(self, inner: Model, calls: list[CallRecord], keep_tokens: bool = True) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_concurrency = inner.max_concurrency
        self.calls = calls
        self.keep_tokens = keep_tokens

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        start = time.perf_counter()
        try:
            out = await self.inner.generate(messages, tools, config)
        except ModelError as e:
            self.calls.append(CallRecord(0, 0, time.perf_counter() - start, 0, None, None, error=str(e)))
            raise
        message = clean_message(out.message)  # storable whatever the provider sent
        if message is not out.message:
            out = out.model_copy(update={"message": message})
        self.calls.append(
            CallRecord(
                out.usage.input_tokens,
                out.usage.output_tokens,
                out.latency,
                out.retries,
                out.cost,
                out.finish_reason,
                out.token_ids if self.keep_tokens else None,
                out.logprobs if self.keep_tokens else None,
                prompt_token_ids=out.prompt_token_ids if self.keep_tokens else None,
            )
        )
        return out

    async def close(self) -> None:  # the shared model outlives the episode
        return None


async def rollout(
    env: Env,
    agent: Agent,
    task: Task,
    *,
    record: EpisodeRecord,
    max_steps: int | None = None,
    timeout: float | None = None,
    withhold_params: bool = False,
) -> EpisodeRecord:
    """Play one episode of ``task`` and fill ``record``. Never raises for the episode's own failures:
    an exception from the env, the agent or the model ends it as ``error`` with the traceback, and
    the wall-clock limit ends it as ``timeout``. So does any other ``BaseException`` raised by env
    or agent code (``sys.exit()`` in a tool ends the episode, not the process), ``KeyboardInterrupt``
    included: under ``asyncio.run`` (the CLI) a real Ctrl-C arrives as cancellation, which
    propagates and stops the run; a ``KeyboardInterrupt`` raised inside a step is the code's own,
    and letting it out of a task would tear the event loop down mid-run. (A program that drives
    ``run`` on a loop without asyncio's SIGINT handling should install one.)
    With ``withhold_params`` the agent is reset with ``task.public()`` (model-driven agents)."""
    limit = max_steps or env.spec.max_steps
    env.turn_limit = limit  # so the agent is told the limit it will be held to
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await _loop(env, agent, task, record, limit, withhold_params)
    except TimeoutError:
        record.status = "timeout"
        record.error = f"wall-clock limit of {timeout:g}s reached after {record.n_steps} steps"
    except ModelError as e:
        record.status = "error"
        record.error = f"model: {e}"
    except asyncio.CancelledError:
        raise
    except BaseException as e:  # Exception, and SystemExit/KeyboardInterrupt/GeneratorExit from env code
        record.status = "error"
        record.error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    finally:
        record.wall = time.perf_counter() - start
        for c in record.calls:
            record.usage = record.usage + Usage(input_tokens=c.input_tokens, output_tokens=c.output_tokens)
            record.model_latency += c.latency
            if c.cost is not None:
                record.cost = (record.cost or 0.0) + c.cost
        aclose = getattr(agent, "aclose", None)  # agents holding processes (CodeAct) release them
        for closer, what in ((aclose, "agent.aclose"), (env.close, "env.close")):
            if closer is None:
                continue
            try:
                await closer()
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # a failing close must not hide the episode's result
                if record.error is None:
                    record.error = f"{what} failed: {type(e).__name__}: {e}"
    return record


async def _loop(
    env: Env, agent: Agent, task: Task, record: EpisodeRecord, limit: int, withhold_params: bool
) -> None:
    obs: Observation = await env.reset(task)
    await agent.reset(task.public() if withhold_params else task)
    last_tools: list[ToolSpec] | None = None
    for index in range(limit):
        action = clean_message(await agent.act(obs))  # e.g. a react Action parsed from the text
        step = await env.step(action)
        info = step.info
        # pydantic copies lists, so compare contents (cheap: the specs themselves are shared objects)
        tools = obs.tools if obs.tools != last_tools else None
        last_tools = obs.tools
        record.steps.append(StepRecord(index, obs.messages, action, step.reward, info, tools))
        record.reward += step.reward
        record.progress = float(info.get("progress", record.progress))
        record.success = bool(info.get("success", False))
        record.invalid_actions += bool(info.get("invalid_action", False))
        obs = step.observation
        if step.terminated or step.truncated:
            record.status = "truncated" if step.truncated and not step.terminated else "done"
            break
    else:
        record.status = "truncated"
    record.final = obs.messages
