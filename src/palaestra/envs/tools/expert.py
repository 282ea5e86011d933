"""The expert: replays the task's ground-truth chain (after loading each tool with search_tools at
level 3) and answers with the expected value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.tools.plan import fmt
from palaestra.envs.tools.world import WORLD_TOOLS

if TYPE_CHECKING:
    from palaestra.envs.tools.env import ToolsEnv


def search_query(name: str) -> str:
    """Words that find ``name`` with search_tools: its name and the first line of its description."""
    first = WORLD_TOOLS[name].spec.description.split("\n")[0]
    return f"{name.replace('_', ' ')} {first}"


def answer_text(spec: dict[str, Any]) -> str:
    kind = spec["kind"]
    if kind == "number":
        return fmt(float(spec["value"]))
    if kind == "text":
        return str(spec["accept"][0])
    if kind == "any":
        return "Done."
    return str(spec["value"])


class ToolsExpert(Policy):
    env: ToolsEnv

    i: int = 0

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.i = 0

    def choose(self, observation: Observation) -> Message:
        plan = self.env.task.params["plan"]
        if self.i < len(plan):
            step = plan[self.i]
            if step["name"] not in self.env.loaded:
                return action("search_tools", f"call_{self.i}_s", query=search_query(step["name"]))
            self.i += 1
            return action(step["name"], f"call_{self.i}", **step["arguments"])
        return action("answer", "call_answer", text=answer_text(self.env.task.params["answer"]))
