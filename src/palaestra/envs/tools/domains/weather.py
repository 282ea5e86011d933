"""Weather: current conditions, daily forecasts (next 7 days) and observed history (past 90 days)."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any, NamedTuple

from palaestra import ToolError, tool
from palaestra.envs.tools.data import City
from palaestra.envs.tools.state import WorldState

FORECAST_DAYS = 7
HISTORY_DAYS = 90


class Day(NamedTuple):
    high: float
    low: float
    condition: str
    precip_chance: int
    precip_mm: float
    humidity: int
    wind_kph: int
    uv: int


def day_weather(seed: int, city: City, day: dt.date) -> Day:
    """The weather of ``city`` on ``day`` in world ``seed`` (a pure function: no state)."""
    rng = random.Random(f"{seed}|wx|{city.name}|{day.isoformat()}")
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 200) / 365.25)
    clim = city.mean_c + city.swing_c * (season if city.lat >= 0 else -season)
    high = round(clim + 4 + rng.gauss(0, 2.5), 1)
    low = round(min(clim - 4 + rng.gauss(0, 2.0), high - 1.5), 1)
    wet = rng.random() < city.wet
    if wet:
        chance, mm = rng.randint(55, 95), round(rng.uniform(0.5, 18.0), 1)
        if high < 1.5:
            cond = "snow"
        elif high > 20 and rng.random() < 0.3:
            cond = "thunderstorms"
        else:
            cond = rng.choice(("rain", "rain", "showers", "drizzle"))
    else:
        chance, mm = rng.randint(0, 40), 0.0
        cond = rng.choice(("sunny", "sunny", "partly cloudy", "cloudy", "fog" if high < 15 else "sunny"))
    humidity = rng.randint(60, 95) if wet else rng.randint(30, 70)
    uv = max(0, min(11, round((high - 5) / 3 + (0 if wet else 2) + rng.randint(-1, 1))))
    return Day(high, low, cond, chance, mm, humidity, rng.randint(3, 45), uv)


def current_temperature(seed: int, city: City, day: Day) -> float:
    frac = random.Random(f"{seed}|now|{city.name}").uniform(0.25, 0.75)
    return round(day.low + (day.high - day.low) * frac, 1)


def sun_times(city: City, day: dt.date) -> tuple[str, str]:
    """Approximate sunrise and sunset in the city's standard local time (NOAA-style equation)."""
    n = day.timetuple().tm_yday
    gamma = 2 * math.pi / 365 * (n - 1)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
    )
    lat = math.radians(city.lat)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(lat) * math.cos(decl)) - math.tan(lat) * math.tan(
        decl
    )
    ha = math.degrees(math.acos(max(-1.0, min(1.0, cos_ha))))
    noon = 720 - 4 * city.lon - eqtime + city.utc_offset * 60

    def fmt(minutes: float) -> str:
        m = round(minutes) % (24 * 60)
        return f"{m // 60:02d}:{m % 60:02d}"

    return fmt(noon - 4 * ha), fmt(noon + 4 * ha)


class WeatherTools(WorldState):
    def _forecast_day(self, city: str, date: str) -> tuple[City, dt.date, Day]:
        c, day = self.city(city), self.date(date)
        last = self.today + dt.timedelta(days=FORECAST_DAYS - 1)
        if day < self.today:
            raise ToolError(
                f"{day} is in the past; forecasts cover {self.today}..{last}. "
                "Use get_historical_weather for past days."
            )
        if day > last:
            raise ToolError(f"no forecast for {day} yet; forecasts cover {self.today}..{last}.")
        return c, day, day_weather(self.seed, c, day)

    def _past_day(self, city: str, date: str) -> tuple[City, dt.date, Day]:
        c, day = self.city(city), self.date(date)
        first = self.today - dt.timedelta(days=HISTORY_DAYS)
        if day >= self.today:
            raise ToolError(
                f"{day} is not in the past; history covers {first}..{self.today - dt.timedelta(days=1)}. "
                "Use get_weather for now and get_weather_forecast for today and later."
            )
        if day < first:
            raise ToolError(f"no records before {first}; history covers the last {HISTORY_DAYS} days.")
        return c, day, day_weather(self.seed, c, day)

    @tool
    def get_weather(self, city: str) -> dict[str, Any]:
        """Current weather conditions in a city right now (temperature at this moment, not a forecast).

        Args:
            city: city name, e.g. "Paris".
        """
        c = self.city(city)
        d = day_weather(self.seed, c, self.today)
        temp = current_temperature(self.seed, c, d)
        return {
            "city": c.name,
            "date": self.today.isoformat(),
            "temperature_c": temp,
            "feels_like_c": round(temp - d.wind_kph / 15, 1),
            "condition": d.condition,
            "humidity_pct": d.humidity,
            "wind_kph": d.wind_kph,
        }

    @tool
    def get_weather_forecast(self, city: str, date: str) -> dict[str, Any]:
        """Daily weather forecast for a city on one day, from today up to 6 days ahead: high, low,
        condition and chance of precipitation.

        Args:
            city: city name, e.g. "Paris".
            date: the day, YYYY-MM-DD (today or up to 6 days later).
        """
        c, day, d = self._forecast_day(city, date)
        return {
            "city": c.name,
            "date": day.isoformat(),
            "high_c": d.high,
            "low_c": d.low,
            "condition": d.condition,
            "precipitation_chance_pct": d.precip_chance,
            "wind_kph": d.wind_kph,
        }

    @tool
    def get_weekly_forecast(self, city: str) -> list[dict[str, Any]]:
        """Seven-day forecast overview for a city (today and the next six days), one line per day.

        Args:
            city: city name.
        """
        c = self.city(city)
        out = []
        for i in range(FORECAST_DAYS):
            day = self.today + dt.timedelta(days=i)
            d = day_weather(self.seed, c, day)
            out.append({"date": day.isoformat(), "high_c": d.high, "low_c": d.low, "condition": d.condition})
        return out

    @tool
    def get_rain_forecast(self, city: str, date: str) -> dict[str, Any]:
        """Precipitation forecast for a city on one day: chance of rain or snow and expected amount.

        Args:
            city: city name.
            date: the day, YYYY-MM-DD (today or up to 6 days later).
        """
        c, day, d = self._forecast_day(city, date)
        expected = round(d.precip_mm * d.precip_chance / 100, 1)
        return {
            "city": c.name,
            "date": day.isoformat(),
            "precipitation_chance_pct": d.precip_chance,
            "expected_mm": expected,
        }

    @tool
    def get_historical_weather(self, city: str, date: str) -> dict[str, Any]:
        """Observed weather of a past day in a city (records of the last 90 days): high, low,
        condition and measured precipitation.

        Args:
            city: city name.
            date: a past day, YYYY-MM-DD.
        """
        c, day, d = self._past_day(city, date)
        return {
            "city": c.name,
            "date": day.isoformat(),
            "high_c": d.high,
            "low_c": d.low,
            "condition": d.condition,
            "precipitation_mm": d.precip_mm,
            "humidity_pct": d.humidity,
        }

    @tool
    def get_average_temperature(self, city: str, start_date: str, end_date: str) -> dict[str, Any]:
        """Average observed temperature of a city over a past period (mean of daily highs and lows).

        Args:
            city: city name.
            start_date: first day, YYYY-MM-DD (in the past 90 days).
            end_date: last day, YYYY-MM-DD (before today; at most 31 days after start_date).
        """
        c, first, _ = self._past_day(city, start_date)
        _, last, _ = self._past_day(city, end_date)
        if last < first:
            raise ToolError("end_date is before start_date.")
        if (last - first).days > 30:
            raise ToolError("the period may cover at most 31 days.")
        days = [
            day_weather(self.seed, c, first + dt.timedelta(days=i)) for i in range((last - first).days + 1)
        ]
        mean = sum((d.high + d.low) / 2 for d in days) / len(days)
        return {
            "city": c.name,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "average_c": round(mean, 1),
        }

    @tool
    def get_uv_index(self, city: str, date: str) -> dict[str, Any]:
        """Forecast maximum UV index of a city on one day (0 low .. 11 extreme).

        Args:
            city: city name.
            date: the day, YYYY-MM-DD (today or up to 6 days later).
        """
        c, day, d = self._forecast_day(city, date)
        return {"city": c.name, "date": day.isoformat(), "uv_index": d.uv}

    @tool
    def get_air_quality(self, city: str) -> dict[str, Any]:
        """Current air quality index (AQI, lower is cleaner) of a city.

        Args:
            city: city name.
        """
        c = self.city(city)
        rng = random.Random(f"{self.seed}|aqi|{c.name}|{self.today}")
        aqi = round(15 + 6 * math.log1p(c.population_m) * rng.uniform(0.8, 1.6) + rng.randint(0, 25))
        label = "good" if aqi <= 50 else "moderate" if aqi <= 100 else "unhealthy for sensitive groups"
        return {"city": c.name, "aqi": aqi, "category": label}

    @tool
    def get_sunrise_sunset(self, city: str, date: str) -> dict[str, Any]:
        """Sunrise and sunset times of a city on a day, in the city's local time.

        Args:
            city: city name.
            date: the day, YYYY-MM-DD.
        """
        c, day = self.city(city), self.date(date)
        rise, set_ = sun_times(c, day)
        return {"city": c.name, "date": day.isoformat(), "sunrise": rise, "sunset": set_}
