"""The state of one home and the rules of acting in it (ALFWorld's rules, over several rooms).

Every rule method returns the text the agent reads, or raises ``ToolError`` with a helpful message
and leaves the state untouched. Nothing here iterates over a set, so the same actions always give
the same text.
"""

from __future__ import annotations

from typing import Any

from palaestra import ToolError
from palaestra.envs.household.catalog import APPLIANCE, FLOORLAMP, OBJECTS, OPENABLE, STATE_WORD
from palaestra.envs.household.tasks import EXAMINE, PICK, PICK_TWO, TREATMENT, kind_of
from palaestra.envs.household.text import a, listing, match, normalize, prep

TREAT_BY_APPLIANCE = {v: k for k, v in APPLIANCE.items()}


def _spot_key(name: str) -> tuple[str, int]:
    kind, num = name.rsplit(" ", 1)
    return kind, int(num)


class World:
    """One episode's home: rooms, receptacles, objects, lamps, the agent, the goal and its subgoals."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.exits: dict[str, list[str]] = {}
        self.spots: dict[str, list[str]] = {}
        self.room_of: dict[str, str] = {}
        for r in params["rooms"]:
            self.exits[r["name"]] = list(r["exits"])
            self.spots[r["name"]] = sorted(r["spots"], key=_spot_key)
            for s in r["spots"]:
                self.room_of[s] = r["name"]
        self.contents: dict[str, list[str]] = {k: list(v) for k, v in params["contents"].items()}
        self.where: dict[str, str] = {o: r for r, items in self.contents.items() for o in items}
        self.closed: set[str] = {r for r in self.contents if kind_of(r) in OPENABLE}
        self.lamp_at: dict[str, str] = dict(params["lamps"])
        self.lamps_here: dict[str, list[str]] = {}
        for lamp, spot in self.lamp_at.items():
            self.lamps_here.setdefault(spot, []).append(lamp)
        self.lit: set[str] = set()
        self.clean: set[str] = set()
        self.temp: dict[str, str] = {}
        self.room: str = params["start"]
        self.at: str | None = None
        self.holding: str | None = None
        self.visited: list[str] = [self.room]
        goal = params["goal"]
        self.gtype: str = goal["type"]
        self.gobj: str = goal["object"]
        self.gtarget: str = goal["target"]
        self.targets = [r for r in self.contents if kind_of(r) == self.gtarget]
        self.kind_counts: dict[str, int] = {}
        for name in [*self.room_of, *self.lamp_at]:
            k = kind_of(name)
            self.kind_counts[k] = self.kind_counts.get(k, 0) + 1
        # subgoal flags (sticky once reached)
        self.seen_goal = False
        self.held_goal: list[str] = []
        self.treated_goal = False
        self.found_lamp = False
        self.placed_one = False

    # ---- descriptions ------------------------------------------------------------------------
    def describe_room(self) -> str:
        exits = self.exits[self.room]
        way = (
            f"From here you can go to {listing([f'the {e}' for e in exits], article=False)}."
            if exits
            else "There is no other room."
        )
        return (
            f"You are in the {self.room}. Looking quickly around you, you see "
            f"{listing(self.spots[self.room])}. {way}"
        )

    def describe_spot(self, spot: str) -> str:
        if kind_of(spot) == FLOORLAMP:
            self._arrive_lamp(spot)
            return f"The {spot} is {'on' if spot in self.lit else 'off'}."
        if spot in self.closed:
            return f"The {spot} is closed."
        items = [*self.lamps_here.get(spot, ()), *self.contents[spot]]
        self._saw(spot)
        if kind_of(spot) in OPENABLE:
            return f"The {spot} is open. In it, you see {listing(items)}."
        return f"{prep(kind_of(spot)).capitalize()} the {spot}, you see {listing(items)}."

    def _saw(self, spot: str) -> None:
        if not self.seen_goal and any(kind_of(o) == self.gobj for o in self.contents[spot]):
            self.seen_goal = True
        if spot in self.lamps_here:
            self._arrive_lamp(spot)

    def _arrive_lamp(self, spot: str) -> None:
        if self.gtype == EXAMINE and any(kind_of(lp) == self.gtarget for lp in self.lamps_here[spot]):
            self.found_lamp = True

    def _state(self, obj: str) -> list[str]:
        return [w for w in ("clean" if obj in self.clean else "", self.temp.get(obj, "")) if w]

    # ---- resolving names ---------------------------------------------------------------------
    def _resolve(self, name: str, candidates: list[str], what: str) -> str:
        m = match(name, candidates)
        if isinstance(m, str):
            return m
        if m:
            raise ToolError(f"Which {kind_of(m[0])} do you mean? Here there are: {', '.join(m)}.")
        raise ToolError(self._not_found(name, what))

    def _not_found(self, name: str, what: str) -> str:
        n = normalize(name)
        room = self.room_of.get(n)
        if room is not None and room != self.room and room in self.visited:
            return f"The {n} is in the {room}, not in the {self.room}. Go to the {room} first."
        if kind_of(n) in OBJECTS and what != "object":
            return f"The {n} is an object, not a receptacle or a place."
        return (
            f"There is no {what} called {name!r} here. In the {self.room} you can go to: "
            f"{', '.join(self.spots[self.room])}; and to the rooms: {', '.join(self.exits[self.room]) or 'none'}."
        )

    def _spot(self, name: str) -> str:
        return self._resolve(name, self.spots[self.room], "receptacle")

    def _need_at(self, spot: str, verb: str) -> None:
        if self.at != spot:
            here = f"You are at the {self.at}" if self.at else f"You are in the middle of the {self.room}"
            raise ToolError(f"{here}, not at the {spot}. Go to the {spot} first, then {verb}.")

    def _held(self, name: str) -> str:
        if self.holding is None:
            raise ToolError("You are not holding anything. Take an object first.")
        if match(name, [self.holding]) != self.holding:
            raise ToolError(f"You are not holding {name!r}; you are holding the {self.holding}.")
        return self.holding

    # ---- actions -----------------------------------------------------------------------------
    def _desklamps(self) -> list[str]:
        """The desklamps standing on receptacles of the current room."""
        return [lp for s in self.spots[self.room] for lp in self.lamps_here.get(s, ()) if lp != s]

    def go_to(self, target: str) -> str:
        places = [*self.spots[self.room], *self.exits[self.room], self.room, *self._desklamps()]
        if match(target, places) is None:
            n = normalize(target).replace(" ", "")
            rooms = [r for r in self.exits if r.replace(" ", "") == n]
            if rooms:
                way = ", ".join(f"the {e}" for e in self.exits[self.room]) or "nowhere else"
                raise ToolError(
                    f"You can't get to the {rooms[0]} directly from the {self.room}. From here you can go to {way}."
                )
        target = self._resolve(target, places, "place")
        if target == self.room:
            self.at = None
            return self.describe_room()
        if target in self.exits:
            self.room, self.at = target, None
            if target not in self.visited:
                self.visited.append(target)
            return self.describe_room()
        target = self.lamp_at.get(target, target)  # a desklamp: go to what it stands on
        already = self.at == target
        self.at = target
        lead = f"You are already at the {target}." if already else f"You arrive at the {target}."
        return f"{lead} {self.describe_spot(target)}"

    def open(self, target: str) -> str:
        spot = self._spot(target)
        self._need_at(spot, "open it")
        if kind_of(spot) not in OPENABLE:
            raise ToolError(
                f"The {spot} can't be opened. Only cabinets, drawers, fridges, microwaves and safes open."
            )
        if spot not in self.closed:
            raise ToolError(f"The {spot} is already open. {self.describe_spot(spot)}")
        self.closed.discard(spot)
        return f"You open the {spot}. {self.describe_spot(spot)}"

    def close(self, target: str) -> str:
        spot = self._spot(target)
        self._need_at(spot, "close it")
        if kind_of(spot) not in OPENABLE:
            raise ToolError(f"The {spot} can't be closed; it has no door or lid.")
        if spot in self.closed:
            raise ToolError(f"The {spot} is already closed.")
        self.closed.add(spot)
        return f"You close the {spot}."

    def take(self, obj: str, source: str | None) -> str:
        if self.holding is not None:
            raise ToolError(
                f"You are already holding the {self.holding}. You can carry one thing at a time: put it somewhere first."
            )
        if source is not None:
            self._need_at(self._spot(source), "take things from it")
        if self.at is None:
            raise ToolError(
                f"You are in the middle of the {self.room}. Go to a receptacle first, then take things from it."
            )
        at = self.at
        if kind_of(at) == FLOORLAMP:
            raise ToolError(f"There is nothing to take at the {at}; you can use it to switch it on or off.")
        if at in self.closed:
            raise ToolError(f"The {at} is closed. Open it first to see and take what is inside.")
        here = [*self.lamps_here.get(at, ()), *self.contents[at]]
        m = match(obj, here)
        if isinstance(m, list):
            raise ToolError(f"Which {kind_of(m[0])} do you mean? Here there are: {', '.join(m)}.")
        if m is None:
            raise ToolError(
                f"You don't see {obj!r} {prep(kind_of(at))} the {at}. Here you see {listing(here)}."
            )
        if m in self.lamp_at:
            raise ToolError(f"The {m} is fixed in place. You can use it to switch it on or off.")
        self.contents[at].remove(m)
        del self.where[m]
        self.holding = m
        if kind_of(m) == self.gobj and m not in self.held_goal:
            self.held_goal.append(m)
        return f"You pick up the {m} from the {at}."

    def put(self, obj: str, target: str | None) -> str:
        held = self._held(obj)
        spot = self._spot(target) if target is not None else self.at
        if spot is None:
            raise ToolError(
                f"You are in the middle of the {self.room}. Go to a receptacle first, then put things there."
            )
        self._need_at(spot, "put things there")
        if kind_of(spot) == FLOORLAMP:
            raise ToolError(f"You can't put things on the {spot}.")
        if spot in self.closed:
            raise ToolError(f"The {spot} is closed. Open it first.")
        self.contents[spot].append(held)
        self.where[held] = spot
        self.holding = None
        if self.gtype == PICK_TWO and kind_of(held) == self.gobj and kind_of(spot) == self.gtarget:
            self.placed_one = True
        return f"You put the {held} {prep(kind_of(spot))} the {spot}."

    def treat(self, action: str, obj: str, appliance: str | None) -> str:
        if self.holding is None:
            raise ToolError(
                f"You are not holding anything to {action}. Take the object first, then {action} it."
            )
        held = self._held(obj)
        need = APPLIANCE[action]
        spot = self._spot(appliance) if appliance is not None else self.at
        if spot is None or kind_of(spot) != need:
            where = f"the {spot}" if spot else "nothing"
            raise ToolError(
                f"You can't {action} things with {where}. To {action} something, hold it, go to a {need} and {action} it with the {need}."
            )
        self._need_at(spot, f"{action} the {held} with it")
        if action not in OBJECTS[kind_of(held)].can:
            raise ToolError(f"The {held} can't be {'heated' if action == 'heat' else action + 'ed'}.")
        if action == "clean":
            self.clean.add(held)
        else:
            self.temp[held] = STATE_WORD[action]
        if kind_of(held) == self.gobj and TREATMENT.get(self.gtype) == action:
            self.treated_goal = True
        return f"You {action} the {held} using the {spot}."

    def use(self, target: str) -> str:
        name = self._resolve(target, [*self.spots[self.room], *self._desklamps()], "thing")
        if name in self.lamp_at:
            if self.at != self.lamp_at[name]:
                raise ToolError(f"The {name} is out of reach. Go to where it stands first.")
            if name in self.lit:
                self.lit.discard(name)
                return f"You turn off the {name}."
            self.lit.add(name)
            return f"You turn on the {name}."
        action = TREAT_BY_APPLIANCE.get(kind_of(name))
        if action is None:
            raise ToolError(
                f"The {name} can't be used. You can use a desklamp or a floorlamp (to switch it on or off), and a "
                "sinkbasin, microwave or fridge while holding something (to clean, heat or cool it)."
            )
        if self.holding is None:
            raise ToolError(f"You are not holding anything to {action}. Hold an object, then use the {name}.")
        return self.treat(action, self.holding, name)

    def examine(self, target: str) -> str:
        here: list[str] = []
        if self.at is not None and self.at not in self.closed and kind_of(self.at) != FLOORLAMP:
            here = [*self.lamps_here.get(self.at, ()), *self.contents[self.at]]
        held = [self.holding] if self.holding else []
        name = self._resolve(target, [*held, *here, *self.spots[self.room]], "thing")
        if name in self.lamp_at:
            return f"The {name} is {'on' if name in self.lit else 'off'}."
        if name in self.room_of:
            self._need_at(name, "examine it")
            return self.describe_spot(name)
        state = self._state(name)
        text = (
            f"The {name} is {' and '.join(state)}." if state else f"There's nothing special about the {name}."
        )
        light = [lp for lp in self.lamps_here.get(self.at or "", ()) if lp in self.lit]
        if name == self.holding and light:
            text = f"You look at the {name} under the light of the {light[0]}. {text}"
        return text

    def look(self) -> str:
        text = self.describe_room()
        if self.at is not None:
            text += f" You are at the {self.at}. {self.describe_spot(self.at)}"
        return text

    def inventory(self) -> str:
        if self.holding is None:
            return "You are not carrying anything."
        state = ", ".join(self._state(self.holding))
        return f"You are carrying: {a(self.holding)}{f' ({state})' if state else ''}."

    # ---- goal --------------------------------------------------------------------------------
    def goal_met(self) -> bool:
        g = self.gobj
        if self.gtype == EXAMINE:
            if self.holding is None or kind_of(self.holding) != g or self.at is None:
                return False
            return any(
                kind_of(lp) == self.gtarget and lp in self.lit for lp in self.lamps_here.get(self.at, ())
            )
        treat = TREATMENT.get(self.gtype)
        for r in self.targets:
            n = 0
            for o in self.contents[r]:
                if kind_of(o) != g:
                    continue
                if treat == "clean" and o not in self.clean:
                    continue
                if treat in ("heat", "cool") and self.temp.get(o) != STATE_WORD[treat]:
                    continue
                n += 1
            if n >= (2 if self.gtype == PICK_TWO else 1):
                return True
        return False

    def subgoals(self) -> list[bool]:
        """AgentBoard-style subgoals on the way to the goal, in order (the goal itself comes after them)."""
        first = [self.seen_goal, bool(self.held_goal)]
        if self.gtype == PICK:
            return first
        if self.gtype == EXAMINE:
            return [*first, self.found_lamp]
        if self.gtype == PICK_TWO:
            return [*first, self.placed_one, len(self.held_goal) >= 2]
        return [*first, self.treated_goal]
