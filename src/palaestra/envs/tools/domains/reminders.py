"""Reminders: a to-do list with dates, separate from the calendar."""

from __future__ import annotations

from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.records import Reminder
from palaestra.envs.tools.state import WorldState


class ReminderTools(WorldState):
    def _reminder(self, reminder_id: str) -> Reminder:
        for r in self.reminders:
            if r.id == reminder_id.strip():
                return r
        raise ToolError(f"no reminder with id {reminder_id!r}; list_reminders shows them.")

    @tool(reversible=True, undo="_undo_record")
    def create_reminder(self, text: str, date: str, time: str = "") -> dict[str, Any]:
        """Create a reminder (a to-do with a due date; not a calendar event).

        Args:
            text: what to be reminded of.
            date: due date, YYYY-MM-DD.
            time: due time HH:MM (optional).
        """
        if not text.strip():
            raise ToolError("the text is empty.")
        day = self.date(date)
        if time.strip():
            self.minutes(time)
        self.keep_record("reminders")
        r = Reminder(self.next_id("r"), text.strip(), day.isoformat(), time.strip(), by_agent=True)
        self.reminders.append(r)
        return r.card()

    @tool
    def list_reminders(self, include_done: bool = False) -> list[dict[str, Any]]:
        """The reminders, soonest first.

        Args:
            include_done: also list completed reminders.
        """
        rs = [r for r in self.reminders if include_done or not r.done]
        return [r.card() for r in sorted(rs, key=lambda r: (r.date, r.time, r.id))]

    @tool(reversible=True, undo="_undo_record")
    def complete_reminder(self, reminder_id: str) -> dict[str, Any]:
        """Mark a reminder as done.

        Args:
            reminder_id: the reminder's id, e.g. "r-2".
        """
        r = self._reminder(reminder_id)
        self.keep_record("reminders", r)
        r.done = True
        return r.card()

    @tool(reversible=True, undo="_undo_record")
    def delete_reminder(self, reminder_id: str) -> str:
        """Delete a reminder.

        Args:
            reminder_id: the reminder's id.
        """
        r = self._reminder(reminder_id)
        self.keep_record("reminders", r)
        self.reminders.remove(r)
        return f"Deleted reminder {r.id} ({r.text})."
