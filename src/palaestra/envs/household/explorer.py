"""A policy that sees only what the agent sees: it reads the observation text and explores.

It exists to show that the tasks can be solved from observations alone (the tests measure its
success rate within each level's step budget). Like a person it knows where things usually are in a
home (the catalog's ``found`` lists) and looks there first; it knows nothing about this home.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.household.catalog import APPLIANCE, DESKLAMP, LAMP_SURFACES, OBJECTS, OPENABLE
from palaestra.envs.household.tasks import CLEAN, COOL, EXAMINE, HEAT, PICK, PICK_TWO, TREATMENT, kind_of

_NAME = re.compile(r"\b(?:an?|some) ([a-z]+ \d+)")
_ROOM = re.compile(
    r"You are in the ([a-z ]+?)\. Looking quickly around you, you see (.*?)\. (From here|There is)"
)
_EXITS = re.compile(r"From here you can go to (.*?)\.(?:\n|$| You)")
_SPOT = re.compile(
    r"(?:On|In) the ([a-z]+ \d+), you see (.*?)\.(?:\n|$| )|The ([a-z]+ \d+) is open\. In it, you see (.*?)\."
)
_CLOSED = re.compile(r"The ([a-z]+ \d+) is closed\.")
_GOALS = (
    (re.compile(r"examine the (\w+) with (?:the|a) (\w+)"), EXAMINE),
    (re.compile(r"look at (?:some|an?) (\w+) under (?:the|a) (\w+)"), EXAMINE),
    (re.compile(r"put (?:two|find two) (.+?) (?:in|on) (?:the|a) (\w+)"), PICK_TWO),
    (re.compile(r"find two (.+?) and put them (?:in|on) (?:the|a) (\w+)"), PICK_TWO),
    (re.compile(r"put a clean (\w+) (?:in|on) (?:the|a) (\w+)"), CLEAN),
    (re.compile(r"put a hot (\w+) (?:in|on) (?:the|a) (\w+)"), HEAT),
    (re.compile(r"put a cool (\w+) (?:in|on) (?:the|a) (\w+)"), COOL),
    (re.compile(r"clean some (\w+) and put it (?:in|on) (?:the|a) (\w+)"), CLEAN),
    (re.compile(r"heat some (\w+) and put it (?:in|on) (?:the|a) (\w+)"), HEAT),
    (re.compile(r"cool some (\w+) and put it (?:in|on) (?:the|a) (\w+)"), COOL),
    (re.compile(r"put (?:an?|some) (\w+) (?:in|on) (?:the|a) (\w+)"), PICK),
)
_PLURALS = {k.plural: k.name for k in OBJECTS.values()}


def parse_goal(text: str) -> tuple[str, str, str]:
    """(task type, object kind, target receptacle or lamp kind) from the goal sentence."""
    sentence = text.split("Your task is to: ", 1)[1].split("\n", 1)[0]
    for pattern, ttype in _GOALS:
        if m := pattern.match(sentence):
            obj = _PLURALS.get(m.group(1), m.group(1)) if ttype == PICK_TWO else m.group(1)
            return ttype, obj, m.group(2)
    raise ValueError(f"unknown goal: {sentence!r}")


class Explorer(Policy):
    """Searches likely places first, remembers what it saw, then fetches, treats and places."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.exits: dict[str, list[str]] = {}
        self.spots: dict[str, list[str]] = {}
        self.room_of: dict[str, str] = {}
        self.seen: dict[str, str] = {}  # object -> spot where last seen
        self.looked: set[str] = set()  # spots whose contents were seen
        self.room = ""
        self.at: str | None = None
        self.holding: str | None = None
        self.ready: set[str] = set()
        self.placed: set[str] = set()
        self.lamp_spot: dict[str, str] = {}
        self.goal = ("", "", "")

    async def reset(self, task: Task) -> None:
        self._clear()
        self.task = task

    # ---- reading ------------------------------------------------------------------------------
    def _read(self, text: str) -> None:
        if "Your task is to: " in text:
            self.goal = parse_goal(text)
        for rm in _ROOM.finditer(text):
            self.room, self.at = rm.group(1), None
            self.spots[self.room] = _NAME.findall(rm.group(2) + ",")
            for s in self.spots[self.room]:
                self.room_of[s] = self.room
                if kind_of(s) == "floorlamp":
                    self.lamp_spot[s] = s
            ex = _EXITS.search(text)
            names = ex.group(1).replace(", and ", ", ").replace(" and ", ", ").split(", ") if ex else []
            self.exits[self.room] = [n.removeprefix("the ") for n in names]
        if m := re.search(
            r"You arrive at the ([a-z]+ \d+)\.|You are (?:already )?at the ([a-z]+ \d+)\.", text
        ):
            self.at = m.group(1) or m.group(2)
        for sm in _SPOT.finditer(text):
            spot, items = (sm.group(1), sm.group(2)) if sm.group(1) else (sm.group(3), sm.group(4))
            self.looked.add(spot)
            for gone in [o for o, s in self.seen.items() if s == spot]:
                del self.seen[gone]
            for obj in _NAME.findall(items + ","):
                if kind_of(obj) == DESKLAMP:
                    self.lamp_spot[obj] = spot
                else:
                    self.seen[obj] = spot
        if m := re.search(r"You pick up the ([a-z]+ \d+) from", text):
            self.holding = m.group(1)
            self.seen.pop(self.holding, None)
        if m := re.search(r"You put the ([a-z]+ \d+) (?:in|on) the ([a-z]+ \d+)", text):
            self.holding = None
            self.seen[m.group(1)] = m.group(2)
            if kind_of(m.group(2)) == self.goal[2]:
                self.placed.add(m.group(1))
        if m := re.search(r"You (?:clean|heat|cool) the ([a-z]+ \d+) using", text):
            self.ready.add(m.group(1))

    # ---- moving -------------------------------------------------------------------------------
    def _route(self, room: str) -> str | None:
        """The neighbouring room to walk to on the way to ``room`` (through rooms seen so far)."""
        first: dict[str, str] = {self.room: self.room}
        queue = deque([self.room])
        while queue:
            cur = queue.popleft()
            if cur == room:
                return first[cur]
            for nxt in self.exits.get(cur, ()):
                if nxt not in first:
                    first[nxt] = nxt if cur == self.room else first[cur]
                    queue.append(nxt)
        return None

    def _walk(self, spot: str) -> tuple[str, dict[str, Any]] | None:
        room = self.room_of[spot]
        if room != self.room:
            return "go_to", {"target": self._route(room)}
        return None if self.at == spot else ("go_to", {"target": spot})

    def _explore(self, wanted: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
        """Go to the nearest unexplored spot, likely ones first; open it if it is closed."""
        if self.at is not None and self.at not in self.looked and kind_of(self.at) in OPENABLE:
            return "open", {"receptacle": self.at}
        for pool in (wanted, None):
            order = deque([self.room])
            seen = {self.room}
            while order:
                room = order.popleft()
                if room not in self.spots:  # a room not entered yet
                    return "go_to", {"target": self._route(room)}
                for s in self.spots[room]:
                    if (
                        s not in self.looked
                        and kind_of(s) != "floorlamp"
                        and (pool is None or kind_of(s) in pool)
                    ):
                        return self._walk(s) or ("look", {})
                for nxt in self.exits.get(room, ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        order.append(nxt)
        return "look", {}

    # ---- deciding -----------------------------------------------------------------------------
    def choose(self, observation: Observation) -> Message:
        self._read("\n".join(m.content for m in observation.messages if m.role != "system"))
        name, args = self._next()
        return action(name, **args)

    def _get(self, where: str, verb: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        step = self._walk(where)
        if step is not None:
            return step
        if where not in self.looked and kind_of(where) in OPENABLE:
            return "open", {"receptacle": where}
        return verb, args

    def _next(self) -> tuple[str, dict[str, Any]]:
        ttype, obj, target = self.goal
        kind = OBJECTS[obj]
        if self.holding is None:
            candidates = [o for o in self.seen if kind_of(o) == obj and o not in self.placed]
            if not candidates:
                return self._explore(kind.found)
            o = candidates[0]
            return self._get(self.seen[o], "take", {"object": o, "receptacle": self.seen[o]})
        held = self.holding
        if ttype == EXAMINE:
            lamps = [lp for lp in self.lamp_spot if kind_of(lp) == target]
            if not lamps:
                return self._explore(LAMP_SURFACES if target == DESKLAMP else ())
            return self._walk(self.lamp_spot[lamps[0]]) or ("use", {"target": lamps[0]})
        treat = TREATMENT.get(ttype)
        if treat is not None and held not in self.ready:
            apps = [s for s in self.room_of if kind_of(s) == APPLIANCE[treat]]
            if not apps:
                return self._explore((APPLIANCE[treat],))
            return self._walk(apps[0]) or (treat, {"object": held, "receptacle": apps[0]})
        spots = [s for s in self.room_of if kind_of(s) == target]
        if ttype == PICK_TWO:
            spots = [s for s in spots if any(self.seen.get(p) == s for p in self.placed)] or spots
        if not spots:
            return self._explore((target,))
        here = [s for s in spots if self.room_of[s] == self.room]
        return self._get((here or spots)[0], "put", {"object": held, "receptacle": (here or spots)[0]})
