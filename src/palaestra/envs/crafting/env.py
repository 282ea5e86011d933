"""Crafting: obtain a goal item in a Minecraft-like world by gathering raw materials and crafting."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from pydantic import Field

from palaestra import Env, EnvSpec, Task, ToolCall, ToolError, tool
from palaestra.envs.crafting.book import FURNACE, a, load
from palaestra.envs.crafting.expert import Planner
from palaestra.envs.crafting.planner import MAX_GATHER, holds_tool, plan
from palaestra.envs.crafting.tasks import LEVELS, budget, generate, max_turns, task_key

MAX_CRAFT = 999

INSTRUCTIONS = f"""\
You are in a Minecraft-like crafting world. Your goal is to hold a number of units of one item.
Every item is obtained in exactly one way:
- Raw materials (logs, cobblestone, ores, sand, string, flowers...) are gathered with \
gather(item, count), at most {MAX_GATHER} units a call. Some need a tool in your inventory: \
cobblestone needs a wooden_pickaxe, iron_ore a stone_pickaxe, string a wooden_sword, and so on. \
A better tool of the same kind also does (wooden = golden < stone < iron < diamond). Tools are never used up.
- Every other item is made by craft(item, count) from its one recipe. The ingredients are used up, \
and each batch of the recipe makes a fixed number of units (1 oak_log makes 4 oak_planks): count is \
how many units you want, rounded up to whole batches. Recipes marked "at a crafting_table" need a \
crafting_table in your inventory; smelting recipes ("in a furnace") are crafted the same way, need a \
furnace in your inventory and burn 1 coal per item. Stations are not used up.
- recipe(item) tells how any item is obtained and what it is needed for as a tool or station; \
inventory() lists what you hold.
Items are named by ids such as oak_planks, stick or iron_ingot (lowercase, with underscores).
The goal text lists the recipes you need, mixed with a few you do not. Plan the whole recipe tree \
first: count how much of each ingredient every batch needs, and make tools and stations before the \
steps that need them.
Every reply is one turn, whatever it holds (one call or several, a failed one too); the goal text \
says how many turns you have. The episode ends in success as soon as your inventory holds the goal amount, and in failure when the turns run out."""


@functools.cache
def _gather_call(item: str) -> ToolCall:
    return ToolCall(id="gather", name="gather", arguments={"item": item, "count": 1})


@functools.cache
def _craft_call(item: str) -> ToolCall:
    makes = load().recipes[item].makes
    return ToolCall(id="craft", name="craft", arguments={"item": item, "count": makes})


def listing(counts: dict[str, int]) -> str:
    """Items and their counts, alphabetically: '2 coal, 4 stick'."""
    return ", ".join(f"{n} {item}" for item, n in sorted(counts.items()))


class CraftingEnv(Env):
    spec = EnvSpec(
        name="crafting",
        description="Gather raw materials and craft through a Minecraft-like tech tree to obtain a goal item.",
        max_steps=max_turns(),
        difficulties=tuple(sorted(LEVELS)),
        metrics=("crafts", "gathers", "efficiency"),
        tags=("planning", "crafting", "minecraft"),
    )

    goal: str
    count: int
    inventory: dict[str, int]
    acquired: dict[str, int]
    """Units of each item gathered or crafted so far in the episode."""
    need: dict[str, int]
    """The shortest plan's production from the starting inventory: the subgoals of ``progress``."""
    plan_calls: int
    budget: int
    crafts: int
    gathers: int

    generate = staticmethod(generate)

    def task_key(self, params: dict[str, Any]) -> str:
        return task_key(params)

    def setup(self, task: Task) -> str:
        book = load()
        p = task.params
        self.goal, self.count = p["goal"], p["count"]
        self.inventory = dict(p["inventory"])
        self.acquired = {}
        start = plan(self.goal, self.count, self.inventory)
        self.need = dict(start.make)
        self.plan_calls = len(start.actions())
        self.budget = budget(start)
        self.crafts = self.gathers = 0
        held = f"Your inventory: {listing(self.inventory)}." if self.inventory else "Your inventory is empty."
        recipes = "\n".join(f"- {book.line(item)}" for item in p["shown"])
        return (
            f"Goal: have {self.count} {self.goal} in your inventory.\n{held}\n"
            f"You have {self.budget} turns.\n"
            f"Recipes (some of them are not needed):\n{recipes}\n"
            "Use recipe(item) to look up any other item."
        )

    def instructions(self) -> str:
        return INSTRUCTIONS

    # ---- actions ------------------------------------------------------------------------------
    def _item(self, name: str) -> str:
        book = load()
        item = book.resolve(name)
        if item is None:
            raise ToolError(book.unknown(name))
        return item

    def _add(self, item: str, n: int) -> None:
        self.inventory[item] = self.inventory.get(item, 0) + n
        self.acquired[item] = self.acquired.get(item, 0) + n

    @tool
    def gather(self, item: str, count: Annotated[int, Field(ge=1, le=MAX_GATHER)] = 1) -> str:
        """Gather units of a raw material (logs, cobblestone, ores, sand, string...).

        Args:
            item: the raw material's id, e.g. oak_log or iron_ore.
            count: how many units to gather, 1 to 64.
        """
        book = load()
        name = self._item(item)
        if name not in book.raw:
            raise ToolError(
                f"{name} is not a raw material and cannot be gathered; craft it: {book.line(name)}."
            )
        tool_needed = book.raw[name]
        if tool_needed and not holds_tool(book, self.inventory, tool_needed):
            raise ToolError(
                f"you can gather {name} only {book.needs_tool(name)} in your inventory, and you have none."
            )
        self._add(name, count)
        self.gathers += 1
        return f"You gathered {count} {name}. You now have {self.inventory[name]} {name}."

    @tool
    def craft(self, item: str, count: Annotated[int, Field(ge=1, le=MAX_CRAFT)] = 1) -> str:
        """Craft (or smelt) an item from its recipe; count is rounded up to whole batches.

        Args:
            item: the id of the item to make, e.g. oak_planks or iron_ingot.
            count: how many units you want (a recipe makes a fixed number per batch).
        """
        book = load()
        name = self._item(item)
        if name in book.raw:
            raise ToolError(
                f"{name} is a raw material; it cannot be crafted. Gather it {book.needs_tool(name)}."
            )
        r = book.recipes[name]
        if r.station and self.inventory.get(r.station, 0) < 1:
            raise ToolError(f"{book.line(name)}: you need {a(r.station)} in your inventory and have none.")
        batches = -(-count // r.makes)
        missing = {ing: n * batches - self.inventory.get(ing, 0) for ing, n in r.needs}
        missing = {ing: n for ing, n in missing.items() if n > 0}
        made = batches * r.makes
        if missing:
            needs = " + ".join(f"{n * batches} {ing}" for ing, n in r.needs)
            raise ToolError(
                f"{made} {name} ({batches} batch{'es' if batches > 1 else ''} of {r.makes}) needs {needs}; "
                f"you are missing {listing(missing)}. Recipe: {book.line(name)}."
            )
        for ing, n in r.needs:
            left = self.inventory[ing] - n * batches
            if left:
                self.inventory[ing] = left
            else:
                del self.inventory[ing]
        self._add(name, made)
        self.crafts += 1
        verb = "smelted" if r.station == FURNACE else "crafted"
        used = ", ".join(f"{n * batches} {ing}" for ing, n in r.needs)
        text = f"You {verb} {made} {name} from {used}. You now have {self.inventory[name]} {name}."
        if self.inventory.get(self.goal, 0) >= self.count:
            self.finish(success=True)
            text += f" You have {self.count} {self.goal}: goal reached!"
        return text

    @tool(name="inventory")
    def show_inventory(self) -> str:
        """List the items you hold, the goal and the turns left."""
        held = listing(self.inventory) if self.inventory else "nothing"
        left = self.budget - self.steps
        return (
            f"You hold: {held}. Goal: {self.count} {self.goal} "
            f"(you have {self.inventory.get(self.goal, 0)}). Turns left: {left}."
        )

    @tool
    def recipe(self, item: str) -> str:
        """Look up how an item is obtained (its recipe or how to gather it) and what it is a tool for.

        Args:
            item: the item's id, e.g. iron_pickaxe.
        """
        return load().describe(self._item(item))

    def valid_actions(self) -> list[ToolCall]:
        """Gather any raw material the inventory's tools allow, or craft one batch of anything
        whose ingredients and station are at hand."""
        book, inv = load(), self.inventory
        out = [_gather_call(r) for r, t in book.raw.items() if t is None or holds_tool(book, inv, t)]
        for name, r in book.recipes.items():
            if (r.station is None or r.station in inv) and all(inv.get(i, 0) >= n for i, n in r.needs):
                out.append(_craft_call(name))
        return out

    # ---- turn budget, progress, metrics -------------------------------------------------------
    def step_info(self) -> dict[str, Any]:
        return {
            "crafts": self.crafts,
            "gathers": self.gathers,
            "efficiency": min(1.0, self.plan_calls / self.steps) if self.success else 0.0,
        }

    def progress(self) -> float:
        """Mean share, over the nodes of the goal's recipe tree (the shortest plan's production from
        the starting inventory), of the units obtained so far; 1 on success."""
        if self.success:
            return 1.0
        got = self.acquired
        return sum(min(1.0, got.get(i, 0) / n) for i, n in self.need.items()) / len(self.need)

    expert_policy = Planner
