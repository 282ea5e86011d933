"""The LLM+P variant: translate the problem to PDDL, call a classical planner, execute its plan.

Following Liu et al. (2023), "LLM+P: Empowering Large Language Models with Optimal Planning
Proficiency": the agent reads the problem in English, gets the domain's PDDL and a worked example
(an English problem with its PDDL), writes the problem's PDDL, gives it to ``classical_planner``
and executes the plan it returns. The single-action tools stay available.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence

from palaestra import EnvSpec, ToolError, tool
from palaestra.envs.planning import planner, tasks
from palaestra.envs.planning.env import PlanningEnv
from palaestra.envs.planning.expert import LLMPExpert
from palaestra.envs.planning.pddl import PDDLError
from palaestra.envs.planning.planner import resolve as resolve_planner

MAX_PLAN = 200
_CALL = re.compile(r"([A-Za-z][\w-]*)\s*\(([^()]*)\)")
_SEXP = re.compile(r"\(([^()]*)\)")
_NUMBER = re.compile(r"^\s*(step\s*)?\d+\s*[.:)]?\s*", re.IGNORECASE)


def parse_plan(text: str) -> list[tuple[str, list[str]]]:
    """Actions from plan text: ``(stack b1 b2)``, ``stack(b1, b2)`` or ``stack b1 b2``, one or more a
    line, optionally numbered; ``;`` starts a comment."""
    out: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        line = _NUMBER.sub("", line)
        if _CALL.search(line) and not line.startswith("("):
            items = [f"{name} {args}" for name, args in _CALL.findall(line)]
        elif "(" in line:
            items = _SEXP.findall(line)
        else:
            items = [line]
        for item in items:
            toks = item.replace(",", " ").split()
            if toks:
                out.append((toks[0].lower(), toks[1:]))
    return out


@functools.cache
def example(domain: str) -> str:
    """A small worked example for the domain: a problem in English and the same problem in PDDL."""
    kit = tasks.KITS[domain]
    params = kit.generate(random.Random(f"planning-llmp/example/{domain}"), 1)
    data = tasks.TaskData(params)
    prob = data.problem
    english = kit.problem_text(prob.objects, sorted(prob.init), list(prob.goal))
    return f"Example problem in English:\n\n{english}\n\nThe same problem in PDDL:\n\n{tasks.render_pddl(params, 'example')}"


class PlanningLLMPEnv(PlanningEnv):
    spec = EnvSpec(
        name="planning-llmp",
        description="Classical planning the LLM+P way: translate the problem to PDDL, run a "
        "classical planner on it, and execute the plan (Blocksworld, Gripper, Logistics).",
        max_steps=120,
        difficulties=(1, 2, 3),
        metrics=("efficiency", "plan_length", "optimal_length"),
        tags=("planning", "pddl", "tool-use"),
    )
    extra_steps = 20

    def __init__(self, domains: str | Sequence[str] | None = None, planner: str = "auto") -> None:
        super().__init__(domains)
        self.planner = resolve_planner(planner)

    def tool_names(self) -> list[str]:
        return [*super().tool_names(), "get_domain_pddl", "get_example", "classical_planner", "execute_plan"]

    def instructions(self) -> str:
        return (
            super().instructions()
            + "\n\nYou also have a classical planner. get_domain_pddl() gives the domain in PDDL and "
            "get_example() a worked example of a problem in English and in PDDL. Translate this "
            "problem into a PDDL problem of that domain (use the object names exactly as given), "
            "pass it to classical_planner(problem_pddl), and run the plan it returns with "
            "execute_plan(plan). The planner solves the PDDL you give it, so a wrong translation "
            "gives a plan that fails or misses the goal here."
        )

    expert_policy = LLMPExpert

    @tool
    def get_domain_pddl(self) -> str:
        """The PDDL domain file of this problem's domain (types, predicates, actions)."""
        return self.kit.pddl

    @tool
    def get_example(self) -> str:
        """A small example problem of this domain, in English and in PDDL, to show the translation."""
        return example(self.kit.name)

    @tool
    async def classical_planner(self, problem_pddl: str) -> str:
        """Run a classical planner on a PDDL problem of this domain and return its plan.

        Args:
            problem_pddl: the whole problem in PDDL, (define (problem ...) (:domain ...) (:objects ...) (:init ...) (:goal ...)).
        """
        kit, backend = self.kit, self.planner
        try:
            outcome = await planner.asolve(kit, problem_pddl, backend)
        except PDDLError as e:
            raise ToolError(f"the problem PDDL is not valid: {e}") from None
        if outcome.plan is None:
            if outcome.reason == "unsolvable":
                return "The planner proved that this PDDL problem has no plan: the goal cannot be reached."
            if outcome.reason == "limit":
                return (
                    f"The planner gave up after generating {planner.STATE_LIMIT} states without a plan. "
                    "Check the problem for mistakes."
                )
            return f"The planner failed on this problem: {outcome.reason}"
        if not outcome.plan:
            return "The goal of this PDDL problem already holds in its initial state: the plan is empty."
        return f"Plan found ({len(outcome.plan)} actions):\n" + "\n".join(outcome.plan)

    @tool
    def execute_plan(self, plan: str) -> str:
        """Execute a plan, action by action, stopping at the first action that is not possible.

        Args:
            plan: one action per line, in PDDL form like (unstack b2 b1) as classical_planner returns it.
        """
        actions = parse_plan(plan)
        if not actions:
            raise ToolError("no actions found; write one action per line, e.g. (pick-up b1)")
        if len(actions) > MAX_PLAN:
            raise ToolError(f"the plan has {len(actions)} actions; at most {MAX_PLAN} are executed at once")
        for i, (name, args) in enumerate(actions, 1):
            text = "(" + " ".join([name, *args]) + ")"
            action = name.replace("_", "-")
            prefix = f"Action {i} {text} failed"
            if action not in self.kit.domain.actions:
                raise ToolError(
                    f"{self._done_before(i)}{prefix}: unknown action {name}; the actions are "
                    f"{', '.join(self.kit.domain.actions)}."
                )
            want = len(self.kit.domain.actions[action].params)
            if len(args) != want:
                raise ToolError(f"{self._done_before(i)}{prefix}: {action} takes {want} arguments.")
            try:
                self.apply(action, *args)
            except ToolError as e:
                raise ToolError(f"{self._done_before(i)}{prefix}: {e}") from None
            if self.done:
                rest = len(actions) - i
                skipped = f" The remaining {rest} actions were not executed." if rest else ""
                return (
                    f"Executed {i} actions. All goal conditions hold: goal reached in "
                    f"{len(self.executed)} actions.{skipped}"
                )
        return (
            f"Executed all {len(actions)} actions, but the goal is not reached: {self._goal_status()} "
            "Call look() to see the state."
        )

    @staticmethod
    def _done_before(i: int) -> str:
        if i == 1:
            return ""
        return f"The first {i - 1} actions were executed (their effects stand). "
