"""Places: city facts, distances and time zones."""

from __future__ import annotations

import math
from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.data import CITIES, City
from palaestra.envs.tools.state import WorldState, norm


def distance_km(a: City, b: City) -> float:
    """Great-circle distance (haversine, Earth radius 6371 km), rounded to 0.1 km."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * 6371 * math.asin(math.sqrt(h)), 1)


class GeoTools(WorldState):
    @tool
    def get_city_info(self, city: str) -> dict[str, Any]:
        """Facts about a city: country, currency, UTC offset, coordinates and population.

        Args:
            city: city name.
        """
        c = self.city(city)
        return {
            "city": c.name,
            "country": c.country,
            "currency": c.currency,
            "utc_offset": c.utc_offset,
            "latitude": c.lat,
            "longitude": c.lon,
            "population_millions": c.population_m,
        }

    @tool
    def get_distance_between_cities(self, city_a: str, city_b: str) -> dict[str, Any]:
        """Straight-line (great-circle) distance between two cities in kilometres.

        Args:
            city_a: first city.
            city_b: second city.
        """
        a, b = self.city(city_a), self.city(city_b)
        return {"from": a.name, "to": b.name, "distance_km": distance_km(a, b)}

    @tool
    def list_cities(self, country: str = "") -> list[str]:
        """Names of the cities the world knows, optionally only those of one country.

        Args:
            country: country to filter by; empty for all.
        """
        out = [c.name for c in CITIES if not country or norm(c.country) == norm(country)]
        if not out:
            raise ToolError(f"no known city in {country!r}.")
        return out

    @tool
    def get_timezone(self, city: str) -> dict[str, Any]:
        """Time zone of a city as a fixed offset from UTC in hours (the world has no daylight saving).

        Args:
            city: city name.
        """
        c = self.city(city)
        h = int(abs(c.utc_offset))
        m = round((abs(c.utc_offset) - h) * 60)
        return {
            "city": c.name,
            "utc_offset": c.utc_offset,
            "label": f"UTC{'-' if c.utc_offset < 0 else '+'}{h:02d}:{m:02d}",
        }

    @tool
    def get_city_population(self, city: str) -> dict[str, Any]:
        """Population of a city in millions.

        Args:
            city: city name.
        """
        c = self.city(city)
        return {"city": c.name, "population_millions": c.population_m}
