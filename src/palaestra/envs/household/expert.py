"""The oracle: plans from the hidden state (where every object is) and walks the shortest way."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from palaestra import Message, Observation, Policy, action
from palaestra.envs.household.catalog import APPLIANCE, STATE_WORD
from palaestra.envs.household.tasks import EXAMINE, PICK_TWO, TREATMENT, kind_of

if TYPE_CHECKING:
    from palaestra.envs.household.env import HouseholdEnv
    from palaestra.envs.household.world import World

Act = tuple[str, dict[str, Any]]


def hops(w: World, start: str) -> dict[str, tuple[int, str]]:
    """For every room: how many doors away it is from ``start`` and the first room to walk to."""
    out = {start: (0, start)}
    queue = deque([start])
    while queue:
        room = queue.popleft()
        for nxt in w.exits[room]:
            if nxt not in out:
                out[nxt] = (out[room][0] + 1, nxt if room == start else out[room][1])
                queue.append(nxt)
    return out


def _nearest(w: World, spots: list[str]) -> str:
    dist = hops(w, w.room)
    return min(spots, key=lambda s: (dist[w.room_of[s]][0], s != w.at))


def _walk(w: World, spot: str) -> Act | None:
    """The next step towards ``spot``, or None when already there."""
    room = w.room_of[spot]
    if w.room != room:
        return "go_to", {"target": hops(w, w.room)[room][1]}
    if w.at != spot:
        return "go_to", {"target": spot}
    return None


def _fetch(w: World, objects: list[str]) -> Act:
    spot = _nearest(w, [w.where[o] for o in objects])
    step = _walk(w, spot)
    if step is not None:
        return step
    if spot in w.closed:
        return "open", {"receptacle": spot}
    obj = next(o for o in w.contents[spot] if o in objects)
    return "take", {"object": obj, "receptacle": spot}


def _ready(w: World, obj: str) -> bool:
    treat = TREATMENT.get(w.gtype)
    if treat is None:
        return True
    return obj in w.clean if treat == "clean" else w.temp.get(obj) == STATE_WORD[treat]


def next_action(w: World) -> Act:
    g, held = w.gobj, w.holding
    if held is not None and kind_of(held) != g:  # never happens on the expert's own path
        if w.at is not None and w.at in w.contents and w.at not in w.closed:
            return "put", {"object": held, "receptacle": w.at}
        return "go_to", {"target": next(s for s in w.spots[w.room] if s in w.contents and s not in w.closed)}
    if w.gtype == EXAMINE:
        if held is None:
            return _fetch(w, [o for o in w.where if kind_of(o) == g])
        lamp_spot = _nearest(w, [s for lp, s in w.lamp_at.items() if kind_of(lp) == w.gtarget])
        step = _walk(w, lamp_spot)
        if step is not None:
            return step
        lamp = next(lp for lp in w.lamps_here[lamp_spot] if kind_of(lp) == w.gtarget)
        return "use", {"target": lamp}
    if held is None:
        placed = {o for r in w.targets for o in w.contents[r]}
        return _fetch(w, [o for o in w.where if kind_of(o) == g and o not in placed])
    treat = TREATMENT.get(w.gtype)
    if treat is not None and not _ready(w, held):
        spot = _nearest(w, [s for s in w.room_of if kind_of(s) == APPLIANCE[treat]])
        return _walk(w, spot) or (treat, {"object": held, "receptacle": spot})
    started = [r for r in w.targets if any(kind_of(o) == g for o in w.contents[r])]
    target = started[0] if w.gtype == PICK_TWO and started else _nearest(w, w.targets)
    step = _walk(w, target)
    if step is not None:
        return step
    if target in w.closed:
        return "open", {"receptacle": target}
    return "put", {"object": held, "receptacle": target}


class Planner(Policy):
    """Knows where everything is; fetches, treats and places along shortest routes."""

    env: HouseholdEnv

    def choose(self, observation: Observation) -> Message:
        name, args = next_action(self.env.world)
        return action(name, **args)
