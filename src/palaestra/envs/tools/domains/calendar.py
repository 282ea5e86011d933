"""The calendar: events with a date, start and end time, location (a city) and attendees."""

from __future__ import annotations

from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.domains.dates import fmt_time
from palaestra.envs.tools.records import Event
from palaestra.envs.tools.state import WorldState, norm


def _key(e: Event) -> tuple[str, str, str]:
    return (e.date, e.start, e.id)


class CalendarTools(WorldState):
    def _event(self, event_id: str) -> Event:
        for e in self.events:
            if e.id == event_id.strip():
                return e
        raise ToolError(f"no event with id {event_id!r}; ids look like 'ev-105' (search_events finds them).")

    def _span(self, start: str, end: str) -> tuple[int, int]:
        a, b = self.minutes(start, "start"), self.minutes(end, "end")
        if b <= a:
            raise ToolError(f"the end {end} must be after the start {start}.")
        return a, b

    def _sorted(self, events: list[Event]) -> list[dict[str, Any]]:
        return [e.card() for e in sorted(events, key=_key)]

    @tool
    def list_events(self, date: str) -> list[dict[str, Any]]:
        """All calendar events on one day, in time order.

        Args:
            date: the day, YYYY-MM-DD.
        """
        day = self.date(date).isoformat()
        return self._sorted([e for e in self.events if e.date == day])

    @tool
    def list_events_between(self, start_date: str, end_date: str) -> list[dict[str, Any]]:
        """Calendar events from start_date to end_date (both included), in time order.

        Args:
            start_date: first day, YYYY-MM-DD.
            end_date: last day, YYYY-MM-DD.
        """
        a, b = self.date(start_date, "start_date").isoformat(), self.date(end_date, "end_date").isoformat()
        return self._sorted([e for e in self.events if a <= e.date <= b])

    @tool
    def search_events(self, query: str) -> list[dict[str, Any]]:
        """Find calendar events whose title or location contains the query.

        Args:
            query: words of the title, e.g. "budget review".
        """
        q = norm(query)
        if not q:
            raise ToolError("the query is empty.")
        return self._sorted([e for e in self.events if q in norm(e.title) or q in norm(e.location)])

    @tool
    def get_event(self, event_id: str) -> dict[str, Any]:
        """One calendar event by its id.

        Args:
            event_id: the event's id, e.g. "ev-105".
        """
        return self._event(event_id).card()

    @tool
    def count_events(self, date: str) -> int:
        """Number of calendar events on one day.

        Args:
            date: the day, YYYY-MM-DD.
        """
        day = self.date(date).isoformat()
        return sum(e.date == day for e in self.events)

    @tool
    def get_next_event(self) -> dict[str, Any]:
        """The next calendar event that has not started yet (from now on)."""
        now = (self.today.isoformat(), self.now)
        upcoming = [e for e in self.events if (e.date, e.start) >= now]
        if not upcoming:
            raise ToolError("no upcoming events.")
        return min(upcoming, key=_key).card()

    @tool(reversible=True, undo="_undo_record")
    def create_event(
        self,
        title: str,
        date: str,
        start: str,
        end: str,
        location: str = "",
        attendees: list[str] | None = None,
    ) -> dict[str, Any]:
        """Create a calendar event.

        Args:
            title: the event's title.
            date: the day, YYYY-MM-DD.
            start: start time, HH:MM.
            end: end time, HH:MM.
            location: city where it takes place (optional).
            attendees: email addresses of the people invited (optional).
        """
        if not title.strip():
            raise ToolError("the title is empty.")
        day = self.date(date)
        a, b = self._span(start, end)
        where = self.city(location).name if location.strip() else ""
        self.keep_record("events")
        e = Event(
            self.next_id("ev"),
            " ".join(title.split()),
            day.isoformat(),
            fmt_time(a),
            fmt_time(b),
            where,
            [x.strip() for x in attendees or [] if x.strip()],
            by_agent=True,
        )
        self.events.append(e)
        return e.card()

    @tool(reversible=True, undo="_undo_record")
    def reschedule_event(self, event_id: str, date: str, start: str, end: str = "") -> dict[str, Any]:
        """Move an existing event to a new day and start time (it keeps its length unless end is given).

        Args:
            event_id: the event's id.
            date: the new day, YYYY-MM-DD.
            start: the new start time, HH:MM.
            end: the new end time, HH:MM (optional).
        """
        e = self._event(event_id)
        day = self.date(date)
        length = self.minutes(e.end) - self.minutes(e.start)
        a = self.minutes(start, "start")
        b = self._span(start, end)[1] if end.strip() else a + length
        if b > 24 * 60:
            raise ToolError("the event would run past midnight.")
        self.keep_record("events", e)
        e.date, e.start, e.end = day.isoformat(), fmt_time(a), fmt_time(b)
        return e.card()

    @tool(reversible=True, undo="_undo_record")
    def cancel_event(self, event_id: str) -> str:
        """Cancel (delete) a calendar event.

        Args:
            event_id: the event's id.
        """
        e = self._event(event_id)
        self.keep_record("events", e)
        self.events.remove(e)
        return f"Cancelled {e.title!r} on {e.date} ({e.id})."

    @tool(reversible=True, undo="_undo_record")
    def add_attendee(self, event_id: str, email: str) -> dict[str, Any]:
        """Invite one more person to an event.

        Args:
            event_id: the event's id.
            email: the person's email address.
        """
        e = self._event(event_id)
        if "@" not in email:
            raise ToolError(f"{email!r} is not an email address.")
        self.keep_record("events", e)
        if email.strip().lower() not in [a.lower() for a in e.attendees]:
            e.attendees.append(email.strip())
        return e.card()

    @tool(reversible=True, undo="_undo_record")
    def remove_attendee(self, event_id: str, email: str) -> dict[str, Any]:
        """Remove a person from an event's attendees.

        Args:
            event_id: the event's id.
            email: the person's email address.
        """
        e = self._event(event_id)
        keep = [a for a in e.attendees if a.lower() != email.strip().lower()]
        if len(keep) == len(e.attendees):
            raise ToolError(f"{email} is not an attendee of {e.id}.")
        self.keep_record("events", e)
        e.attendees = keep
        return e.card()

    @tool
    def find_free_slots(
        self, date: str, duration_minutes: int, day_start: str = "09:00", day_end: str = "17:00"
    ) -> list[dict[str, str]]:
        """Free periods of at least duration_minutes on a day between day_start and day_end, earliest first.

        Args:
            date: the day, YYYY-MM-DD.
            duration_minutes: the length needed.
            day_start: earliest start, HH:MM.
            day_end: latest end, HH:MM.
        """
        day = self.date(date).isoformat()
        lo, hi = self._span(day_start, day_end)
        if duration_minutes < 1:
            raise ToolError("duration_minutes must be positive.")
        busy = sorted((self.minutes(e.start), self.minutes(e.end)) for e in self.events if e.date == day)
        free, t = [], lo
        for a, b in busy:
            if a - t >= duration_minutes and a > t:
                free.append({"start": fmt_time(t), "end": fmt_time(min(a, hi))})
            t = max(t, b)
        if hi - t >= duration_minutes:
            free.append({"start": fmt_time(t), "end": fmt_time(hi)})
        return [s for s in free if self.minutes(s["end"]) - self.minutes(s["start"]) >= duration_minutes]
