"""Tools: tool use at scale in a synthetic personal-assistant world (API-Bank, GTA, TPTU-v2,
MetaTool, alpha-UMi).

A world generated from the task's seed (contacts, calendar, mail, reminders, weather records,
exchange rates, an SQLite database, files in a scratch directory) sits behind 135 documented tools
with similar-sounding neighbours. A request needs 0 to 6 chained calls; some need none, and then
calling a tool is a mistake (MetaTool's "should I use a tool?"). At level 3 only ``answer`` and
``search_tools`` are listed: the other tools are found with a BM25 retriever (TPTU's API
retriever). An episode ends with ``answer``; it is graded by the answer and by the world's state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from palaestra import Env, EnvSpec, Task, ToolCall, ToolError, ToolResult, ToolSpec, tool
from palaestra.envs.tools.expert import ToolsExpert
from palaestra.envs.tools.gen import world_data
from palaestra.envs.tools.grading import call_matches, check, grade_answer
from palaestra.envs.tools.retrieval import world_index
from palaestra.envs.tools.snapshot import restore_world, snapshot_world
from palaestra.envs.tools.tasks import generate_task
from palaestra.envs.tools.world import WORLD_SPECS, WORLD_TOOLS, World
from palaestra.tools import ToolDef, dispatch

MAX_RESULTS = 5


class ToolsEnv(Env):
    spec = EnvSpec(
        name="tools",
        description=(
            "Serve requests in a simulated personal-assistant world through 135 tools (calendar, contacts, "
            "mail, weather, money, units, maths, SQL, files, ...); some requests need no tool at all."
        ),
        max_steps=24,
        metrics=("tool_calls", "searches", "tools_loaded", "damage_reversible", "damage_irreversible"),
        tags=("tool-use", "function-calling", "retrieval"),
    )

    def __init__(self) -> None:
        self.world: World | None = None
        self.root: Path | None = None
        self.retrieval = False
        self.loaded: list[str] = list(WORLD_TOOLS)
        self._specs: list[ToolSpec] | None = None
        self.met: list[bool] = []
        self.tool_calls = 0
        self.searches = 0
        self.answer_ok = False

    # ---- tasks ------------------------------------------------------------------------------
    generate = staticmethod(generate_task)

    def setup(self, task: Task) -> str:
        self._release()
        p = task.params
        self.root = Path(tempfile.mkdtemp(prefix="palaestra-tools-"))
        self.world = World(world_data(p["world_seed"]), root=self.root)
        self.retrieval = bool(p["retrieval"])
        self.loaded = [] if self.retrieval else list(WORLD_TOOLS)
        self._specs = None
        self.met = [False] * len(p["subgoals"])
        self.tool_calls = 0
        self.searches = 0
        self.answer_ok = False
        return str(p["goal"])

    def instructions(self) -> str:
        w = self._w()
        text = INSTRUCTIONS.format(
            user=w.user_name,
            email=w.user_email,
            city=w.home_city,
            date=w.today.isoformat(),
            weekday=w.today.strftime("%A"),
            time=w.now,
            n=len(WORLD_TOOLS),
        )
        return text + (RETRIEVAL_NOTE.format(k=MAX_RESULTS) if self.retrieval else LISTED_NOTE)

    def _w(self) -> World:
        if self.world is None:
            raise RuntimeError("call reset() first")
        return self.world

    # ---- tools ------------------------------------------------------------------------------
    def _all_tools(self) -> Mapping[str, ToolDef]:
        return _ALL_TOOLS

    def tool_specs(self) -> list[ToolSpec]:
        if self._specs is None:
            if self.retrieval:
                self._specs = [*self._tool_specs, *(WORLD_TOOLS[n].spec for n in self.loaded)]
            else:
                self._specs = [self._tools["answer"].spec, *WORLD_SPECS]
        return self._specs

    async def call(self, call: ToolCall) -> ToolResult:
        name = call.name
        if name != "answer":
            self.tool_calls += 1
        if name == "answer" or (name == "search_tools" and self.retrieval):
            return await dispatch(self, self._tools, call)
        if name in WORLD_TOOLS:
            if self.retrieval and name not in self.loaded:
                return ToolResult(
                    f"Error: the tool {name!r} is not loaded. Call search_tools with a few words describing "
                    "what you need; it loads the best matching tools.",
                    invalid=True,
                )
            res = self._private(await dispatch(self._w(), WORLD_TOOLS, call))
            if not res.invalid:
                for i, goal in enumerate(self.task.params["subgoals"]):
                    self.met[i] = self.met[i] or call_matches(goal, name, call.arguments)
            return res
        return ToolResult(self._unknown(name), invalid=True)

    def _private(self, res: ToolResult) -> ToolResult:
        """Never show where the scratch directory is (an OS error message could name it)."""
        if self.root is not None:
            for form in {str(self.root.resolve()), str(self.root)}:
                if form in res.content:
                    res = dataclasses.replace(
                        res, content=res.content.replace(form + "/", "").replace(form, ".")
                    )
        return res

    def _unknown(self, name: str) -> str:
        if self.retrieval:
            return f"Error: unknown tool {name!r}. Use search_tools to find tools, or answer to finish."
        near = difflib.get_close_matches(name, list(WORLD_TOOLS), n=3, cutoff=0.5)
        hint = f" Similar tools: {', '.join(near)}." if near else ""
        return f"Error: unknown tool {name!r}.{hint} The tool list shows all {len(WORLD_TOOLS) + 1} tools."

    @tool
    def answer(self, text: str) -> str:
        """Give your final answer and end the episode. For a question, give just the value (a number, a
        name, a date, a time, yes/no); for a request to do something, do it first and then confirm.

        Args:
            text: the final answer.
        """
        p = self.task.params
        self.answer_ok = grade_answer(p["answer"], text)
        state_ok = all(check(self._w(), c) for c in p["checks"])
        unneeded = p["no_tools"] and self.tool_calls > 0
        self.finish(self.answer_ok and state_ok and not unneeded)
        if self.success:
            return "Answer recorded: the task is solved. The episode is over."
        why = []
        if not self.answer_ok:
            why.append("the answer is not correct")
        if not state_ok:
            why.append("the requested changes are not all in place")
        if unneeded:
            why.append("the request could be answered without tools, but tools were called")
        return f"Answer recorded: the task is not solved ({'; '.join(why)}). The episode is over."

    @tool
    def search_tools(self, query: str) -> dict[str, Any]:
        """Search the tool catalogue (BM25 over tool names and descriptions) and load the best matches,
        so that you can call them from your next step on.

        Args:
            query: a few words describing what you need, e.g. "weather forecast for a city".
        """
        if not query.strip():
            raise ToolError("the query is empty; describe the tool you need in a few words.")
        self.searches += 1
        names = world_index().search(query, MAX_RESULTS)
        if not names:
            return {"found": [], "note": "No tool matches these words; try other words."}
        for n in names:
            if n not in self.loaded:
                self.loaded.append(n)
        self._specs = None
        found = [{"name": n, "description": WORLD_TOOLS[n].spec.description.split("\n")[0]} for n in names]
        return {"found": found, "note": "These tools are now loaded; call them directly."}

    # ---- progress and metrics ---------------------------------------------------------------
    def progress(self) -> float:
        """Share of subgoals met: the plan's information-gathering calls, the required state changes
        (checked on the world now) and a correct answer."""
        if self.success:
            return 1.0
        p = self.task.params
        done = sum(self.met) + sum(check(self._w(), c) for c in p["checks"])
        total = len(self.met) + len(p["checks"])
        if p["answer"]["kind"] != "any" or total == 0:
            done += self.answer_ok
            total += 1
        return done / total

    def step_info(self) -> dict[str, Any]:
        return {"tool_calls": self.tool_calls, "searches": self.searches, "tools_loaded": len(self.loaded)}

    expert_policy = ToolsExpert

    # ---- resources --------------------------------------------------------------------------
    def _release(self) -> None:
        if self.world is not None:
            self.world.close()
            self.world = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    async def close(self) -> None:
        self._release()

    def __del__(self) -> None:  # a forgotten close() must not leave a directory behind
        with contextlib.suppress(Exception):
            self._release()

    def snapshot(self) -> Any:
        """The whole episode state, with the database as bytes and the scratch files as text."""
        w = self._w()
        state = {k: v for k, v in self.__dict__.items() if k not in ("world", "root", "_specs")}
        return {"env": _copy(state), "world": snapshot_world(w)}

    def restore(self, snap: Any) -> None:
        """Bring back a snapshot; the scratch directory and database of this env are rewritten."""
        if self.world is None:
            self.root = Path(tempfile.mkdtemp(prefix="palaestra-tools-"))
        state = _copy(snap["env"])
        self.__dict__.update(state)
        self._specs = None
        self.world = restore_world(self.world, self.root, snap["world"])


_ALL_TOOLS: dict[str, ToolDef] = {**ToolsEnv._tools, **WORLD_TOOLS}
"""Every tool an agent may call here: the env's own and the world's (which the policy governs)."""


def _copy(x: Any) -> Any:
    import copy

    return copy.deepcopy(x)


INSTRUCTIONS = """\
You are a personal assistant working for {user} <{email}>, who lives in {city}. You act in a \
simulated world through tools: a calendar, an address book, a mailbox, reminders, weather records \
and forecasts, exchange rates, unit conversion, maths, date and time-zone tools, city facts, an SQLite \
database (tables orders and products; prices are in USD) and files in a private scratch directory. \
There are {n} tools besides answer, and many sound alike (current weather vs. forecast vs. history; \
today's exchange rate vs. a past day's; ...): read their descriptions and pick the one that fits.

Now: {weekday} {date}, {time} in {city}.
Conventions: dates are YYYY-MM-DD; times are HH:MM on the 24-hour clock in local time; temperatures \
are in °C; currencies are ISO codes (EUR, USD, ...); time zones are fixed UTC offsets (no daylight \
saving); file paths are relative to the scratch directory (e.g. notes.txt or reports/q1.txt). \
Weather, exchange rates and everything about people and the user are this world's own: look them up \
with the tools instead of assuming real-world values. Refer to contacts by their full names.

Finish every episode by calling answer(text) exactly once: for a question, just the value (keep the \
precision the tools give, do not round further); for a request to do something, do all of it first \
and then answer with a short confirmation. Requests that can be answered from their own text alone (a \
fact stated in the request, counting the items it lists, adding or subtracting two whole numbers below \
100) must be answered directly with answer and no other tool: calling a tool for them fails the task.
A step may hold several tool calls.
"""
LISTED_NOTE = "All tools are listed with their parameters.\n"
RETRIEVAL_NOTE = """\
Only answer and search_tools are loaded at the start. search_tools(query) finds the {k} tools that \
best match a few descriptive words and loads them, so you can call them from then on; search as often \
as you need, with different words for different needs.
"""
