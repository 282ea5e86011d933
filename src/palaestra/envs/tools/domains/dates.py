"""Dates and times: today, weekdays, date arithmetic and time zones (fixed UTC offsets, no DST)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.data import CITY_BY_KEY
from palaestra.envs.tools.state import WorldState


def shift(day: dt.date, minutes: int, hours: float) -> tuple[dt.date, int]:
    total = minutes + round(hours * 60)
    return day + dt.timedelta(days=total // (24 * 60)), total % (24 * 60)


def fmt_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class DateTools(WorldState):
    @tool
    def get_current_date(self) -> dict[str, str]:
        """Today's date, weekday and the current time in the user's home city."""
        return {
            "date": self.today.isoformat(),
            "weekday": self.weekday(self.today),
            "time": self.now,
            "city": self.home_city,
        }

    @tool
    def get_day_of_week(self, date: str) -> str:
        """The weekday (Monday..Sunday) of a date.

        Args:
            date: the date, YYYY-MM-DD.
        """
        return self.weekday(self.date(date))

    @tool
    def add_days_to_date(self, date: str, days: int) -> dict[str, str]:
        """The date a number of days after (or, with a negative number, before) a date.

        Args:
            date: start date, YYYY-MM-DD.
            days: days to add (may be negative).
        """
        if abs(days) > 100_000:
            raise ToolError("days must be within ±100000.")
        day = self.date(date) + dt.timedelta(days=days)
        return {"date": day.isoformat(), "weekday": self.weekday(day)}

    @tool
    def days_between_dates(self, start_date: str, end_date: str) -> int:
        """Number of days from start_date to end_date (negative if end_date is earlier).

        Args:
            start_date: YYYY-MM-DD.
            end_date: YYYY-MM-DD.
        """
        return (self.date(end_date, "end_date") - self.date(start_date, "start_date")).days

    @tool
    def days_until(self, date: str) -> int:
        """Number of days from today until a date (negative for past dates).

        Args:
            date: YYYY-MM-DD.
        """
        return (self.date(date) - self.today).days

    @tool
    def get_week_number(self, date: str) -> dict[str, int]:
        """ISO week number (1..53) and ISO year of a date.

        Args:
            date: YYYY-MM-DD.
        """
        iso = self.date(date).isocalendar()
        return {"iso_year": iso.year, "week": iso.week}

    @tool
    def get_local_time(self, city: str) -> dict[str, Any]:
        """The current local date and time in a city.

        Args:
            city: city name.
        """
        c, home = self.city(city), CITY_BY_KEY[self.home_city.lower()]
        day, minutes = shift(self.today, self.minutes(self.now), c.utc_offset - home.utc_offset)
        return {
            "city": c.name,
            "date": day.isoformat(),
            "time": fmt_time(minutes),
            "utc_offset": c.utc_offset,
        }

    @tool
    def convert_timezone(self, date: str, time: str, from_city: str, to_city: str) -> dict[str, str]:
        """Convert a local date and time in one city to the local date and time in another city.

        Args:
            date: the date in from_city, YYYY-MM-DD.
            time: the time in from_city, HH:MM.
            from_city: city whose local time is given.
            to_city: city whose local time is wanted.
        """
        a, b = self.city(from_city), self.city(to_city)
        day, minutes = shift(self.date(date), self.minutes(time), b.utc_offset - a.utc_offset)
        return {"city": b.name, "date": day.isoformat(), "time": fmt_time(minutes)}
