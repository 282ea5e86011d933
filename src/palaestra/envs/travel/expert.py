"""The expert: plan from the database, look up what the plan uses, then submit it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaestra import Message, Observation, Policy, Task, action

if TYPE_CHECKING:
    from palaestra.envs.travel.env import TravelEnv


class TravelExpert(Policy):
    """Takes the cheapest plan the solver finds (the one the task's budget was set from), makes the
    searches an agent would need to write it (each leg's flights, trains and ground transport, each
    city's accommodations, restaurants and attractions), then submits it."""

    env: TravelEnv

    script: list[tuple[str, dict[str, Any]]] | None = None
    n: int = 0

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.script = None
        self.n = 0

    def _make_script(self) -> list[tuple[str, dict[str, Any]]]:
        q, found = self.env.query, self.env.reference
        script: list[tuple[str, dict[str, Any]]] = []
        if q.multi_city:
            script.append(("list_cities", {"state": q.destination}))
        for day in found.plan:
            t = day.transportation
            if t is None:
                continue
            date = q.date(day.day)
            for name in ("search_flights", "search_trains"):
                script.append((name, {"origin": t.from_city, "destination": t.to_city, "date": date}))
            script.append(("search_ground_transport", {"origin": t.from_city, "destination": t.to_city}))
            if t.to_city != q.origin:
                for name in ("search_accommodations", "search_restaurants", "search_attractions"):
                    script.append((name, {"city": t.to_city}))
        script.append(("submit_plan", {"days": [d.model_dump() for d in found.plan]}))
        return script

    def choose(self, observation: Observation) -> Message:
        if self.script is None:
            self.script = self._make_script()
        self.n += 1
        name, args = self.script.pop(0) if self.script else ("submit_plan", {"days": []})
        return action(name, f"call_{self.n}", **args)
