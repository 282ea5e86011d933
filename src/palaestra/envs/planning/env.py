"""Classical planning (Blocksworld, Gripper, Logistics) played action by action through tools.

Each task is a PDDL problem of one of three IPC domains. The domain's actions are tools; their
preconditions and effects are the PDDL domain's (STRIPS semantics over sets of ground atoms). The
tool set shown to the agent is the one of the task's domain.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

from palaestra import Env, EnvSpec, Policy, Task, ToolCall, ToolError, ToolResult, ToolSpec, UsageError, tool
from palaestra.envs.planning import tasks
from palaestra.envs.planning.domain import DomainKit, article, plural
from palaestra.envs.planning.expert import PlanExpert
from palaestra.envs.planning.pddl import Atom
from palaestra.envs.planning.strips import Grounded, State, instantiate
from palaestra.tools import ToolDef, dispatch

MAX_FACTS_IN_ERROR = 8


def tool_name(action: str) -> str:
    return action.replace("-", "_")


class PlanningEnv(Env):
    spec = EnvSpec(
        name="planning",
        description="Classical planning (Blocksworld, Gripper, Logistics): reach a goal state by "
        "executing the domain's actions; plans are checked against the PDDL semantics.",
        max_steps=100,
        difficulties=(1, 2, 3),
        metrics=("efficiency", "plan_length", "optimal_length"),
        tags=("planning", "pddl"),
    )
    extra_steps: ClassVar[int] = 10
    """Step budget of a task: twice its optimal plan length plus this."""

    def __init__(self, domains: str | Sequence[str] | None = None) -> None:
        if domains is None:
            chosen = tasks.DOMAINS
        elif isinstance(domains, str):
            chosen = tuple(d.strip() for d in domains.split(",") if d.strip())
        else:
            chosen = tuple(domains)
        unknown = [d for d in chosen if d not in tasks.KITS]
        if unknown or not chosen:
            raise UsageError(
                f"unknown planning domain(s) {', '.join(unknown) or '(none)'}; "
                f"valid: {', '.join(tasks.DOMAINS)}"
            )
        self.domains = chosen
        self._allowed: dict[str, ToolDef] = dict(self._tools)  # until a task chooses its domain
        self._specs: list[ToolSpec] = list(self._tool_specs)

    # ---- tasks --------------------------------------------------------------------------------
    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return tasks.generate(rng, difficulty, self.domains)

    def setup(self, task: Task) -> str:
        self.data = tasks.task_data(task.params)
        self.kit: DomainKit = self.data.kit
        self.g: Grounded = self.data.grounded
        self.state: State = self.g.init
        self.executed: list[str] = []
        self.optimal = len(self.data.optimal_plan)
        self.budget = min(self.spec.max_steps, 2 * self.optimal + self.extra_steps)
        self.best_progress = self._goal_fraction()
        self._allowed = {n: self._tools[n] for n in self.tool_names()}
        self._specs = [self._episode_spec(td) for td in self._allowed.values()]
        return self.goal_text()

    def tool_names(self) -> list[str]:
        """The tools of this episode: ``look`` and the actions of the task's domain."""
        return ["look", *(tool_name(a) for a in self.kit.tool_params)]

    def _episode_spec(self, td: ToolDef) -> ToolSpec:
        """The tool's spec with each object parameter restricted to the objects of its type."""
        action = td.name.replace("_", "-")
        schema = self.kit.domain.actions.get(action)
        if schema is None:
            return td.spec
        params = {**td.spec.parameters, "properties": dict(td.spec.parameters["properties"])}
        for (_, typ), pname in zip(schema.params, self.kit.tool_params[action], strict=True):
            params["properties"][pname] = {**params["properties"][pname], "enum": self.objects(typ)}
        return td.spec.model_copy(update={"parameters": params})

    def objects(self, typ: str) -> list[str]:
        return self.data.problem.of_type(typ)

    # ---- text ---------------------------------------------------------------------------------
    def instructions(self) -> str:
        return (
            f"You solve a classical planning problem in the {self.kit.title} domain by acting in it.\n\n"
            f"{self.kit.intro}\n\n"
            "Each action is a tool; pass object names exactly as the problem gives them. An action "
            "whose preconditions do not hold is refused with the reason and changes nothing. After "
            "each action you are told what became true and how many goal conditions hold; look() "
            "describes the whole current state. There is no finish action: the episode ends with "
            "success as soon as every goal condition holds, and with failure when the step budget is "
            "used up. Use as few actions as you can: efficiency = (length of an optimal plan) / "
            "(number of actions you executed)."
        )

    def goal_text(self) -> str:
        prob = self.data.problem
        return (
            f"{self.kit.title} problem.\n\n"
            f"{self.kit.problem_text(prob.objects, self.g.decode(self.state), list(prob.goal))}\n\n"
            f"You have {self.budget} steps (each of your turns is one step). The episode ends with "
            "success as soon as all goal conditions hold."
        )

    def state_text(self, state: State) -> str:
        return self.kit.sentences(self.g.decode(state))

    def _goal_fraction(self) -> float:
        goal = self.data.problem.goal
        return sum(self.g.holds(self.state, a) for a in goal) / len(goal)

    def _goal_status(self) -> str:
        goal = self.data.problem.goal
        k = sum(self.g.holds(self.state, a) for a in goal)
        return f"{k} of {len(goal)} goal conditions hold."

    # ---- acting -------------------------------------------------------------------------------
    def _object(self, raw: str, typ: str, pname: str) -> str:
        obj = raw.strip().lower()
        have = self.data.problem.objects.get(obj)
        wanted = self.objects(typ)
        kind = self.kit.type_name(typ)
        if have is None:
            raise ToolError(f"there is no object {raw!r}. {plural(kind).capitalize()}: {', '.join(wanted)}.")
        if not self.kit.domain.is_subtype(have, typ):
            raise ToolError(
                f"{obj} is {article(self.kit.type_name(have))}, but {pname} must be {article(kind)} "
                f"(one of {', '.join(wanted)})."
            )
        return obj

    def apply(self, action: str, *raw: str) -> str:
        """Execute one ground action with STRIPS semantics; raise ``ToolError`` if it is not possible."""
        schema = self.kit.domain.actions[action]
        pnames = self.kit.tool_params[action]
        args = tuple(
            self._object(r, typ, pn) for r, (_, typ), pn in zip(raw, schema.params, pnames, strict=True)
        )
        pre, _, _ = instantiate(schema, args)
        unmet = [a for a in pre if not self.g.holds(self.state, a)]
        if unmet:
            raise ToolError(self._why_not(action, args, unmet))
        act = self.g.by_name[(action, args)]
        new = [self.g.atoms[i] for i in sorted(act.add - self.state)]
        self.state = self.g.apply(self.state, act)
        self.executed.append(act.text)
        self.best_progress = max(self.best_progress, self._goal_fraction())
        out = f"You {self.kit.verb(action, args)}."
        if new:
            out += f" Now: {self.kit.sentences(new)}"
        if self.g.is_goal(self.state):
            self.finish(success=True)
            return out + f" All goal conditions hold: goal reached in {len(self.executed)} actions."
        return out + " " + self._goal_status()

    def _why_not(self, action: str, args: tuple[str, ...], unmet: list[Atom]) -> str:
        need = " and that ".join(self.kit.say(a) for a in unmet)
        objs = {x for a in unmet for x in a[1:]}
        preds = {p for a in unmet for p in self.kit.explain.get(a[0], ())}
        same = {a[0] for a in unmet}
        facts = [a for a in self.g.decode(self.state) if a[0] in preds or objs & set(a[1:])]
        facts.sort(key=lambda a: a[0] not in same)  # facts of the failed predicates first
        msg = f"cannot {self.kit.verb(action, args)}, because that requires that {need}."
        if facts:
            msg += f" Currently: {self.kit.sentences(facts[:MAX_FACTS_IN_ERROR])}"
        return msg

    async def call(self, call: ToolCall) -> ToolResult:
        if call.name in self._tools and call.name not in self._allowed:
            names = ", ".join(self._allowed)
            res = ToolResult(
                f"Error: {call.name} is not an action of this {self.kit.title} problem. "
                f"Available tools: {names}.",
                invalid=True,
            )
        else:
            res = await dispatch(self, self._allowed, call)
        return res

    def budget_message(self) -> str:
        return f"\nThe budget of {self.budget} steps is used up and the goal is not reached. The episode is over."

    def step_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"plan_length": len(self.executed), "optimal_length": self.optimal}
        if self.done:
            info["efficiency"] = self.efficiency()
        return info

    def efficiency(self) -> float:
        """Optimal plan length / executed actions on success, else 0."""
        return self.optimal / len(self.executed) if self.success and self.executed else 0.0

    def progress(self) -> float:
        """Highest share of goal conditions that held at once so far (AgentBoard's progress rate)."""
        return 1.0 if self.success else self.best_progress

    def tool_specs(self) -> list[ToolSpec]:
        return self._specs

    def valid_actions(self) -> list[ToolCall]:
        """Every applicable ground action of the current state, as tool calls."""
        return [
            ToolCall(
                id="valid",
                name=tool_name(a.name),
                arguments=dict(zip(self.kit.tool_params[a.name], a.args, strict=True)),
            )
            for a in self.g.applicable(self.state)
        ]

    def snapshot(self) -> Any:
        """The episode's state; the task's data (problem, grounding, plan) is shared, not copied."""
        snap = dict(self.__dict__)
        snap["executed"] = list(self.executed)
        return snap

    def restore(self, snap: Any) -> None:
        self.__dict__.clear()
        self.__dict__.update(snap)
        self.executed = list(snap["executed"])

    expert_policy: ClassVar[type[Policy] | None] = PlanExpert

    # ---- tools --------------------------------------------------------------------------------
    @tool
    def look(self) -> str:
        """Describe the current state, the goal, and how many steps are left."""
        return (
            f"State: {self.state_text(self.state)}\n"
            f"Goal: {self.kit.sentences(list(self.data.problem.goal))}\n"
            f"{self._goal_status()} Actions executed: {len(self.executed)}. "
            f"Steps left: {(self.budget or 0) - self.steps}."
        )

    # Blocksworld
    @tool
    def pick_up(self, block: str) -> str:
        """Pick up a block from the table. The block must be on the table and clear, and your hand empty.

        Args:
            block: the block to pick up.
        """
        return self.apply("pick-up", block)

    @tool
    def put_down(self, block: str) -> str:
        """Put the block you are holding down on the table.

        Args:
            block: the block you are holding.
        """
        return self.apply("put-down", block)

    @tool
    def stack(self, block: str, on_block: str) -> str:
        """Stack the block you are holding on top of another block, which must be clear.

        Args:
            block: the block you are holding.
            on_block: the clear block to put it on.
        """
        return self.apply("stack", block, on_block)

    @tool
    def unstack(self, block: str, from_block: str) -> str:
        """Take a clear block off the block it is on. Your hand must be empty.

        Args:
            block: the block to take (it must be clear).
            from_block: the block it is on now.
        """
        return self.apply("unstack", block, from_block)

    # Gripper
    @tool
    def move(self, from_room: str, to_room: str) -> str:
        """Move the robot from the room it is in to another room.

        Args:
            from_room: the room the robot is in now.
            to_room: the room to go to.
        """
        return self.apply("move", from_room, to_room)

    @tool
    def pick(self, ball: str, room: str, gripper: str) -> str:
        """Pick up a ball with a free gripper; the ball and the robot must be in the same room.

        Args:
            ball: the ball to pick up.
            room: the room where the ball and the robot are.
            gripper: a free gripper, left or right.
        """
        return self.apply("pick", ball, room, gripper)

    @tool
    def drop(self, ball: str, room: str, gripper: str) -> str:
        """Drop a carried ball in the room the robot is in.

        Args:
            ball: the ball to drop.
            room: the room the robot is in.
            gripper: the gripper holding the ball.
        """
        return self.apply("drop", ball, room, gripper)

    # Logistics
    @tool
    def load_truck(self, package: str, truck: str, location: str) -> str:
        """Load a package into a truck; both must be at the same location.

        Args:
            package: the package to load.
            truck: the truck.
            location: the location (airport or not) where the truck and the package are.
        """
        return self.apply("load-truck", package, truck, location)

    @tool
    def unload_truck(self, package: str, truck: str, location: str) -> str:
        """Unload a package from a truck at the location where the truck is.

        Args:
            package: the package in the truck.
            truck: the truck.
            location: the location where the truck is.
        """
        return self.apply("unload-truck", package, truck, location)

    @tool
    def load_airplane(self, package: str, airplane: str, location: str) -> str:
        """Load a package into an airplane; both must be at the same airport.

        Args:
            package: the package to load.
            airplane: the airplane.
            location: the airport where the airplane and the package are.
        """
        return self.apply("load-airplane", package, airplane, location)

    @tool
    def unload_airplane(self, package: str, airplane: str, location: str) -> str:
        """Unload a package from an airplane at the airport where the airplane is.

        Args:
            package: the package in the airplane.
            airplane: the airplane.
            location: the airport where the airplane is.
        """
        return self.apply("unload-airplane", package, airplane, location)

    @tool
    def drive_truck(self, truck: str, from_location: str, to_location: str, city: str) -> str:
        """Drive a truck between two locations of its city.

        Args:
            truck: the truck.
            from_location: where the truck is now.
            to_location: where to drive, in the same city.
            city: the city both locations are in.
        """
        return self.apply("drive-truck", truck, from_location, to_location, city)

    @tool
    def fly_airplane(self, airplane: str, from_airport: str, to_airport: str) -> str:
        """Fly an airplane from the airport where it is to another airport.

        Args:
            airplane: the airplane.
            from_airport: the airport where the airplane is now.
            to_airport: the airport to fly to.
        """
        return self.apply("fly-airplane", airplane, from_airport, to_airport)
