"""Experts: execute an optimal plan (``planning``), or translate, plan and execute (``planning-llmp``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.planning.strips import astar

if TYPE_CHECKING:
    from palaestra.envs.planning.env import PlanningEnv


def parse_action(text: str) -> tuple[str, list[str]]:
    """``"(unstack b2 b1)"`` -> ``("unstack", ["b2", "b1"])``."""
    name, *args = text.strip().strip("()").split()
    return name, args


def to_call(env: PlanningEnv, text: str) -> Message:
    name, args = parse_action(text)
    params = env.kit.tool_params[name]
    return action(name.replace("-", "_"), **dict(zip(params, args, strict=True)))


class PlanExpert(Policy):
    """Executes a shortest plan, one action per step; replans from the current state if it has
    been taken off the plan (e.g. after a restore)."""

    env: PlanningEnv

    def next_action(self) -> str:
        env = self.env
        plan = env.data.optimal_plan
        done = env.executed
        if tuple(done) == plan[: len(done)] and len(done) < len(plan):
            return plan[len(done)]
        rest = astar(env.g, env.kit.heuristic(env.g), start=env.state)
        if not rest:
            raise RuntimeError("no plan from the current state")
        return rest[0].text

    def choose(self, observation: Observation) -> Message:
        return to_call(self.env, self.next_action())


class LLMPExpert(Policy):
    """The LLM+P pipeline with a perfect translation: the task's PDDL goes to the planner and the
    returned plan is executed. Should the planner return no plan, it falls back to ``PlanExpert``."""

    env: PlanningEnv
    stage: int = 0

    def __init__(self, env: PlanningEnv) -> None:
        super().__init__(env)
        self.fallback = PlanExpert(env)

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.stage = 0

    def choose(self, observation: Observation) -> Message:
        self.stage += 1
        if self.stage == 1:
            return action("classical_planner", problem_pddl=self.env.data.pddl)
        if self.stage == 2:
            plan = [ln.strip() for ln in observation.text.splitlines() if ln.strip().startswith("(")]
            if plan:
                return action("execute_plan", plan="\n".join(plan))
        return self.fallback.choose(observation)
