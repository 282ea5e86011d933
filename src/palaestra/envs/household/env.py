"""Household: ALFWorld's six task types in procedurally generated homes of several rooms."""

from __future__ import annotations

from palaestra import Env, EnvSpec, Task, ToolCall, ToolResult, tool
from palaestra.envs.household.catalog import APPLIANCE, FLOORLAMP, OBJECTS, OPENABLE
from palaestra.envs.household.expert import Planner
from palaestra.envs.household.tasks import LEVELS, generate_home, kind_of
from palaestra.envs.household.text import goal_text
from palaestra.envs.household.world import World

BUDGET = {1: 30, 2: 50, 3: 100}
"""Steps allowed per difficulty (told in the goal text); every step counts, failed ones too."""

INSTRUCTIONS = """\
You are a household robot in a home of one or more rooms, and you must carry out a task such as \
"put a clean mug in the coffeemachine" or "examine the book with the desklamp".

The world:
- Rooms hold receptacles (countertop 1, cabinet 3, fridge 1, drawer 2, sinkbasin 1, ...) and \
objects (apple 1, mug 2, book 1, ...). Names are a kind and a number; use them exactly as you see them.
- You only see the room you are in. Entering a room (or look) lists its receptacles and the rooms \
you can walk to from it. To see what is in or on a receptacle, go to it. Cabinets, drawers, \
fridges, microwaves and safes start closed and hide what is inside until you open them.
- You carry at most one object at a time.
- To clean an object, hold it at a sinkbasin and clean it there; to heat it, hold it at a \
microwave and heat it; to cool it, hold it at a fridge and cool it. (use on a sinkbasin, \
microwave or fridge while holding something does the same.)
- To examine an object under a lamp, hold the object, go to the lamp (a desklamp stands on a desk, \
sidetable or dresser; a floorlamp stands on its own in a room) and use the lamp to switch it on.
- "a cabinet" in a task means any cabinet; "two" objects must end up in the same receptacle.

Tools (you must be at a receptacle to open, close, take from or put into it):
  go_to(target)                      walk to a receptacle or lamp in this room, or to a neighbouring room
  open(receptacle) / close(receptacle)
  take(object, receptacle?)          pick up an object from the receptacle you are at
  put(object, receptacle?)           put the object you hold in or on the receptacle you are at
  clean / heat / cool(object, receptacle?)   with the sinkbasin / microwave / fridge you are at
  use(target)                        switch a lamp on or off (or use an appliance on what you hold)
  examine(target)                    look closely at an object you hold or see, or the receptacle you are at
  look()                             describe the room and where you are; inventory()  what you hold
An action that is not possible changes nothing and tells you why; it still uses up a step. \
The episode ends with success as soon as the task is done, or when the steps run out."""


class HouseholdEnv(Env):
    spec = EnvSpec(
        name="household",
        description="ALFWorld-style household tasks (pick, clean, heat, cool, examine) in multi-room homes.",
        max_steps=max(BUDGET.values()),
        difficulties=tuple(sorted(LEVELS)),
        tags=("embodied", "partial-observability", "alfworld"),
    )

    world: World
    budget: int

    generate = staticmethod(generate_home)

    def instructions(self) -> str:
        return INSTRUCTIONS

    def setup(self, task: Task) -> str:
        self.world = World(task.params)
        self.budget = BUDGET[task.difficulty]
        goal = goal_text(task.params["goal"], self.world.kind_counts)
        return (
            f"-= Welcome to the household! =-\n\n{self.world.describe_room()}\n\n"
            f"Your task is to: {goal}.\nYou have {self.budget} steps."
        )

    # ---- tools -------------------------------------------------------------------------------
    @tool
    def go_to(self, target: str) -> str:
        """Walk to a receptacle or lamp in the room you are in, or to a neighbouring room.

        Args:
            target: a receptacle or lamp seen in this room ("countertop 1", "floorlamp 1") or a room
                listed as reachable from here ("kitchen", "living room"); the current room's name
                takes you back to its middle.
        """
        return self.world.go_to(target)

    @tool
    def open(self, receptacle: str) -> str:
        """Open the receptacle you are at (cabinet, drawer, fridge, microwave, safe) and see inside.

        Args:
            receptacle: the receptacle to open, e.g. "fridge 1".
        """
        return self.world.open(receptacle)

    @tool(name="close")  # the method keeps another name: Env.close() ends the episode
    def close_receptacle(self, receptacle: str) -> str:
        """Close the receptacle you are at.

        Args:
            receptacle: the receptacle to close, e.g. "drawer 2".
        """
        return self.world.close(receptacle)

    @tool
    def take(self, object: str, receptacle: str | None = None) -> str:
        """Pick up an object from the receptacle you are at (you can hold one object at a time).

        Args:
            object: the object to take, e.g. "apple 1".
            receptacle: where it is, e.g. "countertop 1" (optional: defaults to where you are).
        """
        return self.world.take(object, receptacle)

    @tool
    def put(self, object: str, receptacle: str | None = None) -> str:
        """Put the object you hold in or on the receptacle you are at.

        Args:
            object: the object you hold, e.g. "apple 1".
            receptacle: where to put it, e.g. "fridge 1" (optional: defaults to where you are).
        """
        return self.world.put(object, receptacle)

    @tool
    def clean(self, object: str, receptacle: str | None = None) -> str:
        """Clean the object you hold with the sinkbasin you are at.

        Args:
            object: the object you hold, e.g. "mug 1".
            receptacle: the sinkbasin, e.g. "sinkbasin 1" (optional: defaults to where you are).
        """
        return self.world.treat("clean", object, receptacle)

    @tool
    def heat(self, object: str, receptacle: str | None = None) -> str:
        """Heat the object you hold with the microwave you are at.

        Args:
            object: the object you hold, e.g. "potato 2".
            receptacle: the microwave, e.g. "microwave 1" (optional: defaults to where you are).
        """
        return self.world.treat("heat", object, receptacle)

    @tool
    def cool(self, object: str, receptacle: str | None = None) -> str:
        """Cool the object you hold with the fridge you are at.

        Args:
            object: the object you hold, e.g. "tomato 1".
            receptacle: the fridge, e.g. "fridge 1" (optional: defaults to where you are).
        """
        return self.world.treat("cool", object, receptacle)

    @tool
    def use(self, target: str) -> str:
        """Switch a lamp you are at on or off; or use a sinkbasin, microwave or fridge on what you hold.

        Args:
            target: e.g. "desklamp 1", "floorlamp 1", "microwave 1".
        """
        return self.world.use(target)

    @tool
    def examine(self, target: str) -> str:
        """Look closely at an object you hold or see here, or at the receptacle you are at.

        Args:
            target: e.g. "mug 1" or "drawer 3".
        """
        return self.world.examine(target)

    @tool
    def look(self) -> str:
        """Describe the room you are in, the rooms you can go to, and the receptacle you are at."""
        return self.world.look()

    @tool
    def inventory(self) -> str:
        """Say what you are carrying."""
        return self.world.inventory()

    # ---- episode bookkeeping -----------------------------------------------------------------
    async def call(self, call: ToolCall) -> ToolResult:
        res = await super().call(call)
        if not self.done and not res.invalid and self.world.goal_met():
            self.finish(success=True)
            return ToolResult(f"{res.content}\nYou have completed the task!")
        return res

    def budget_message(self) -> str:
        return "You are out of steps; the episode is over."

    def progress(self) -> float:
        """Share of the task's subgoals reached (found, picked up, treated/lamp/first placed, done)."""
        if self.success:
            return 1.0
        marks = self.world.subgoals()
        return sum(marks) / (len(marks) + 1)

    def valid_actions(self) -> list[ToolCall]:
        """ALFWorld's admissible commands for the current state."""
        w = self.world
        out: list[tuple[str, dict[str, str]]] = []
        out += [("go_to", {"target": s}) for s in w.spots[w.room] if s != w.at]
        out += [("go_to", {"target": r}) for r in w.exits[w.room]]
        at, held = w.at, w.holding
        if at is not None:
            kind = kind_of(at)
            if kind == FLOORLAMP:
                out.append(("use", {"target": at}))
            elif kind in OPENABLE:
                out.append(("close" if at not in w.closed else "open", {"receptacle": at}))
            if kind != FLOORLAMP and at not in w.closed:
                out += [("use", {"target": lp}) for lp in w.lamps_here.get(at, ())]
                if held is None:
                    out += [("take", {"object": o, "receptacle": at}) for o in w.contents[at]]
                else:
                    out.append(("put", {"object": held, "receptacle": at}))
                out.append(("examine", {"target": at}))
            for action, appliance in APPLIANCE.items():
                if held is not None and kind == appliance and action in OBJECTS[kind_of(held)].can:
                    out.append((action, {"object": held, "receptacle": at}))
        if held is not None:
            out.append(("examine", {"target": held}))
        out += [("look", {}), ("inventory", {})]
        return [ToolCall(id=f"va{i}", name=n, arguments=args) for i, (n, args) in enumerate(out)]

    expert_policy = Planner
