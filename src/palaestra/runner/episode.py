"""One episode: the agent/env loop, with limits, and the record of everything that happened."""

from __future__ import annotations

import asyncio
import time
import traceback

from palaestra.env import Env
from palaestra.errors import ModelError
from palaestra.loops import LoopWatch
from palaestra.models.base import ContextOverflowError, GenerateConfig, Model, ModelOutput
from palaestra.policy import Agent, agent_trace
from palaestra.records import (
    CONTEXT_PREFIX,
    LOOP_PREFIX,
    MODEL_ERROR_PREFIX,
    CallRecord,
    EpisodeRecord,
    StepRecord,
)
from palaestra.sanitize import clean_message
from palaestra.tools import ToolPolicy, sync_tools_off_loop
from palaestra.types import Message, Observation, Task, ToolSpec, Usage


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
            self.calls.append(
                CallRecord(0, 0, time.perf_counter() - start, e.retries, None, None, error=str(e))
            )
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
                ttft=out.ttft,
            )
        )
        return out

    def record_calls_of(self, other: Model) -> RecordingModel:
        """``other`` (a team member's own model) with its calls recorded in this episode too."""
        return RecordingModel(other, self.calls, self.keep_tokens)

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
    stop_on_loop: bool = False,
    tool_policy: ToolPolicy | None = None,
) -> EpisodeRecord:
    """Play one episode of ``task`` and fill ``record``. Never raises for the episode's own failures:
    an exception from the env, the agent or the model ends it as ``error`` with the traceback, and
    the wall-clock limit ends it as ``timeout``, and a conversation that outgrew the model's context
    ends it as ``truncated`` with the reason in ``error``. Any other ``BaseException`` raised by env or
    agent code ends it as ``error`` too (``sys.exit()`` in a tool ends the episode, not the process),
    ``KeyboardInterrupt`` included: under ``asyncio.run`` (the CLI) a real Ctrl-C arrives as
    cancellation, which propagates and stops the run; a ``KeyboardInterrupt`` raised inside a step is
    the code's own, and letting it out of a task would tear the event loop down mid-run. (A program
    that drives ``run`` on a loop without asyncio's SIGINT handling should install one.) With
    ``withhold_params`` the agent is reset with ``task.public()`` (model-driven agents). With
    ``stop_on_loop`` an episode whose exchanges end in a loop (:mod:`palaestra.loops`) ends there, as
    ``truncated`` with the loop in the last step's ``info["loop"]`` and ``error`` (``loop: ...``);
    ``tool_policy`` is the run's tool permissions and policy for irreversible calls (the env applies it)."""
    limit = max_steps or env.spec.max_steps
    if tool_policy is not None:
        env.tool_policy = tool_policy
    env.turn_limit = limit  # so the agent is told the limit it will be held to
    start = time.perf_counter()
    try:
        # with a wall-clock limit, sync tools run off the event loop so that the limit holds for them
        with sync_tools_off_loop(timeout is not None):
            async with asyncio.timeout(timeout):
                await _loop(env, agent, task, record, limit, withhold_params, stop_on_loop)
    except TimeoutError:
        record.status = "timeout"
        record.error = f"wall-clock limit of {timeout:g}s reached after {record.n_steps} steps"
    except ContextOverflowError as e:  # the agent's conversation, not the server, ran out
        record.status = "truncated"
        record.error = f"{CONTEXT_PREFIX}{e}"
    except ModelError as e:
        record.status = "error"
        record.error = f"{MODEL_ERROR_PREFIX}{e}"
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
    env: Env,
    agent: Agent,
    task: Task,
    record: EpisodeRecord,
    limit: int,
    withhold_params: bool,
    stop_on_loop: bool = False,
) -> None:
    obs: Observation = await env.reset(task)
    await agent.reset(task.public() if withhold_params else task)
    last_tools: list[ToolSpec] | None = None
    watch = LoopWatch() if stop_on_loop else None
    for index in range(limit):
        action = clean_message(await agent.act(obs))  # e.g. a react Action parsed from the text
        trace = agent_trace(agent)
        step = await env.step(action)
        info = step.info
        loop = None
        if watch is not None:
            loop = watch.add(action.model_dump(), [m.model_dump() for m in step.observation.messages])
            if loop is not None:
                info = {**info, "loop": loop._asdict()}
        # pydantic copies lists, so compare contents (cheap: the specs themselves are shared objects)
        tools = obs.tools if obs.tools != last_tools else None
        last_tools = obs.tools
        record.steps.append(StepRecord(index, obs.messages, action, step.reward, info, tools, trace))
        record.reward += step.reward
        record.progress = float(info.get("progress", record.progress))
        record.success = bool(info.get("success", False))
        record.invalid_actions += bool(info.get("invalid_action", False))
        obs = step.observation
        if step.terminated or step.truncated:
            record.status = "truncated" if step.truncated and not step.terminated else "done"
            break
        if loop is not None:
            record.status = "truncated"
            record.error = LOOP_PREFIX + loop.describe(watch.repeats if watch else 0)
            break
    else:
        record.status = "truncated"
    record.final = obs.messages
