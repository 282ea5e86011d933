"""TravelPlanner-style trip planning: search a travel database, then submit a day-by-day plan."""

from __future__ import annotations

import datetime as dt
import difflib
import random
from typing import Any

from palaestra import Env, EnvSpec, Task, ToolCall, ToolError, tool
from palaestra.envs.travel import tasks, text
from palaestra.envs.travel.check import evaluate
from palaestra.envs.travel.expert import TravelExpert
from palaestra.envs.travel.plan import DayPlan, Query
from palaestra.envs.travel.solver import Solution, random_plan
from palaestra.envs.travel.verdict import Evaluation
from palaestra.envs.travel.world import TripDB

METRICS = ("delivered", "commonsense_pass", "hard_pass", "final_pass", "commonsense_micro", "hard_micro")
_NOT_DELIVERED: dict[str, Any] = {
    "delivered": False,
    "commonsense_pass": False,
    "hard_pass": False,
    "final_pass": False,
    "commonsense_micro": 0.0,
    "hard_micro": 0.0,
}
_RANDOM_PLANS = 3


class TravelEnv(Env):
    spec = EnvSpec(
        name="travel",
        description=(
            "Plan a multi-day trip (TravelPlanner): search flights, trains, ground transport, "
            "accommodations, restaurants and attractions, then submit a day-by-day plan that meets "
            "commonsense constraints and the traveller's budget, room, cuisine and transport wishes."
        ),
        max_steps=60,
        metrics=METRICS,
        tags=("planning", "tool-use", "long-horizon"),
    )

    query: Query
    db: TripDB
    reference: Solution
    evaluation: Evaluation | None

    generate = staticmethod(tasks.generate)

    def setup(self, task: Task) -> str:
        self.query, self.db, self.reference = tasks.prepare(task.params)
        self.evaluation = None
        self._valid: list[ToolCall] | None = None
        return tasks.describe(self.query)

    def instructions(self) -> str:
        return text.INSTRUCTIONS

    # ---- helpers ---------------------------------------------------------------------------
    def _city(self, name: str) -> str:
        city = self.db.world.city(name)
        if city is None:
            close = difflib.get_close_matches(name.strip(), list(self.db.world.cities), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise ToolError(
                f"unknown city {name!r}.{hint} Use list_cities(state) to see the cities of a state."
            )
        return city

    def _pair(self, origin: str, destination: str) -> tuple[str, str]:
        a, b = self._city(origin), self._city(destination)
        if a == b:
            raise ToolError(f"origin and destination are both {a}; give two different cities.")
        return a, b

    @staticmethod
    def _date(date: str) -> str:
        try:
            return dt.date.fromisoformat(date.strip()).isoformat()
        except ValueError:
            raise ToolError(f"{date!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-03-14.") from None

    # ---- tools -----------------------------------------------------------------------------
    @tool
    def list_cities(self, state: str) -> str:
        """List the cities of a state.

        Args:
            state: the state's name.
        """
        found = self.db.world.state(state)
        if found is None:
            raise ToolError(f"unknown state {state!r}. States: {', '.join(sorted(self.db.world.states))}.")
        return f"Cities in {found}: {', '.join(self.db.world.states[found])}."

    @tool
    def search_flights(self, origin: str, destination: str, date: str) -> str:
        """Find the flights from one city to another on a date.

        Args:
            origin: the city you leave.
            destination: the city you fly to.
            date: the date of travel, YYYY-MM-DD.
        """
        a, b = self._pair(origin, destination)
        day = self._date(date)
        w = self.db.world
        missing = [c for c in (a, b) if not w.cities[c].airport]
        reason = (
            f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no airport." if missing else ""
        )
        return text.services_table("flight", a, b, day, self.db.flights(a, b, day), reason)

    @tool
    def search_trains(self, origin: str, destination: str, date: str) -> str:
        """Find the trains from one city to another on a date.

        Args:
            origin: the city you leave.
            destination: the city you go to.
            date: the date of travel, YYYY-MM-DD.
        """
        a, b = self._pair(origin, destination)
        day = self._date(date)
        w = self.db.world
        missing = [c for c in (a, b) if not w.cities[c].station]
        reason = (
            f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no station." if missing else ""
        )
        return text.services_table("train", a, b, day, self.db.trains(a, b, day), reason)

    @tool
    def search_ground_transport(self, origin: str, destination: str) -> str:
        """Distance, taxi cost and self-driving cost between two cities (available every day).

        Args:
            origin: the city you leave.
            destination: the city you go to.
        """
        return text.ground_table(self.db.ground(*self._pair(origin, destination)))

    @tool
    def search_accommodations(self, city: str) -> str:
        """List the accommodations of a city with price, room type, occupancy, minimum nights and house rules.

        Args:
            city: the city's name.
        """
        c = self._city(city)
        return text.hotels_table(c, self.db.hotels(c))

    @tool
    def search_restaurants(self, city: str) -> str:
        """List the restaurants of a city with their cuisines and average cost per person.

        Args:
            city: the city's name.
        """
        c = self._city(city)
        return text.restaurants_table(c, self.db.restaurants(c))

    @tool
    def search_attractions(self, city: str) -> str:
        """List the attractions of a city.

        Args:
            city: the city's name.
        """
        c = self._city(city)
        return text.attractions_table(c, self.db.attractions(c))

    @tool
    def submit_plan(self, days: list[DayPlan]) -> str:
        """Submit the finished day-by-day plan. This ends the episode and returns its evaluation.

        Args:
            days: one entry per day of the trip, day 1 first.
        """
        self.evaluation = evaluate(days, self.query, self.db)
        self.finish(success=self.evaluation.final_pass)
        return "Plan submitted.\n" + self.evaluation.render(self.query)

    # ---- episode bookkeeping ---------------------------------------------------------------
    def step_info(self) -> dict[str, Any]:
        """TravelPlanner's per-plan metrics (all false/zero until a plan is delivered)."""
        return dict(_NOT_DELIVERED) if self.evaluation is None else self.evaluation.metrics()

    def progress(self) -> float:
        """Share of the plan's constraints (8 commonsense plus the hard ones) that it satisfies."""
        return 0.0 if self.evaluation is None else self.evaluation.progress

    def valid_actions(self) -> list[ToolCall]:
        """Searches about the trip's cities and dates, and a few random well-formed plans to submit."""
        if self._valid is None:
            q = self.query
            calls: list[tuple[str, dict[str, Any]]] = []
            pool = q.pool(self.db.world)
            state = q.destination if q.multi_city else self.db.world.cities[q.destination].state
            calls.append(("list_cities", {"state": state}))
            for c in pool:
                for name in ("search_accommodations", "search_restaurants", "search_attractions"):
                    calls.append((name, {"city": c}))
                for a, b, date in ((q.origin, c, q.start), (c, q.origin, q.end)):
                    calls.append(("search_flights", {"origin": a, "destination": b, "date": date}))
                    calls.append(("search_trains", {"origin": a, "destination": b, "date": date}))
                    calls.append(("search_ground_transport", {"origin": a, "destination": b}))
            rng = random.Random(self.task.seed)
            for _ in range(_RANDOM_PLANS):
                plan = random_plan(self.db, q, rng)
                calls.append(("submit_plan", {"days": [d.model_dump() for d in plan]}))
            self._valid = [ToolCall(id=f"valid_{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls)]
        return self._valid

    expert_policy = TravelExpert
