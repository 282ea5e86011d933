"""An env's expert playing through a bridge: it decides on an in-process twin of the served env.

Experts read their env's hidden state, which a bridge does not expose. So the test keeps a twin
(same env, same task) in process: the expert chooses from the twin's observation, each of its
tool calls goes through the bridge, and the twin is stepped with the same reply so both stay
in the same state. The bridge's outcome is then compared with the in-process one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from palaestra.env import Env, make
from palaestra.types import Message, Task

Call = Callable[[str, dict[str, Any]], Awaitable[bool]]
"""Sends one tool call through the bridge; returns whether the bridge says the episode is over."""


async def play_expert(
    env_name: str, task: Task, call: Call, max_replies: int = 200, check_done: bool = True
) -> bool:
    """Play ``task`` through ``call``; return whether the in-process twin succeeded.

    ``check_done``: the bridge must say the episode is over when the twin's is."""
    twin = make(env_name)
    assert isinstance(twin, Env)
    expert = twin.expert()
    assert expert is not None
    obs = await twin.reset(task)
    await expert.reset(task)
    for _ in range(max_replies):
        reply: Message = await expert.act(obs)
        done = False
        for c in reply.tool_calls:
            done = await call(c.name, c.arguments)
        step = await twin.step(reply)
        obs = step.observation
        if twin.done:
            assert done or not check_done, "the bridge did not end the episode when the twin did"
            break
    await twin.close()
    return twin.success
