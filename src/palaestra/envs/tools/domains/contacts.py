"""The address book: look up, add, change and remove contacts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from palaestra import ToolError, tool
from palaestra.envs.tools.records import Person
from palaestra.envs.tools.state import WorldState, norm

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ContactField = Literal["email", "phone", "city", "company", "job_title"]


class ContactTools(WorldState):
    def _contact_by_id(self, contact_id: str) -> Person:
        for p in self.people:
            if p.id == contact_id.strip():
                return p
        raise ToolError(f"no contact with id {contact_id!r}; ids look like 'c-03' (see search_contacts).")

    @tool
    def search_contacts(self, query: str) -> list[dict[str, str]]:
        """Find contacts whose name, email, company, city or job title contains the query.

        Args:
            query: text to look for, e.g. a first name or a company.
        """
        q = norm(query)
        if not q:
            raise ToolError("the query is empty.")
        hits = [p.card() for p in self.people if any(q in norm(v) for v in p.card().values())]
        return hits

    @tool
    def get_contact(self, name: str) -> dict[str, str]:
        """Full card of one contact by name (email, phone, city, company, job title, birthday).

        Args:
            name: the contact's full name (a first or last name works when only one contact has it).
        """
        return self.person(name).card()

    @tool
    def get_contact_by_email(self, email: str) -> dict[str, str]:
        """Full card of the contact with this email address.

        Args:
            email: the email address.
        """
        for p in self.people:
            if p.email.lower() == email.strip().lower():
                return p.card()
        raise ToolError(f"no contact has the email address {email!r}.")

    @tool
    def list_contacts(self) -> list[dict[str, str]]:
        """All contacts: id, name and email."""
        return [{"id": p.id, "name": p.name, "email": p.email} for p in self.people]

    @tool
    def get_phone_number(self, name: str) -> str:
        """Phone number of a contact.

        Args:
            name: the contact's full name.
        """
        return self.person(name).phone

    @tool
    def get_email_address(self, name: str) -> str:
        """Email address of a contact.

        Args:
            name: the contact's full name.
        """
        return self.person(name).email

    @tool
    def list_contacts_in_city(self, city: str) -> list[dict[str, str]]:
        """Contacts who live in a city.

        Args:
            city: city name.
        """
        c = self.city(city)
        return [{"id": p.id, "name": p.name, "email": p.email} for p in self.people if p.city == c.name]

    @tool
    def list_contacts_at_company(self, company: str) -> list[dict[str, str]]:
        """Contacts who work at a company.

        Args:
            company: company name.
        """
        q = norm(company)
        return [
            {"id": p.id, "name": p.name, "email": p.email, "job_title": p.job_title}
            for p in self.people
            if q and q in norm(p.company)
        ]

    @tool
    def get_upcoming_birthdays(self, days: int = 30) -> list[dict[str, Any]]:
        """Contacts whose birthday falls within the next days (today included), soonest first.

        Args:
            days: how many days ahead to look (1..366).
        """
        if not 1 <= days <= 366:
            raise ToolError("days must be between 1 and 366.")
        out = []
        for p in self.people:
            born = dt.date.fromisoformat(p.birthday)
            for year in (self.today.year, self.today.year + 1):
                try:
                    nxt = born.replace(year=year)
                except ValueError:  # 29 February
                    nxt = dt.date(year, 3, 1)
                if 0 <= (nxt - self.today).days < days:
                    out.append({"name": p.name, "date": nxt.isoformat(), "turns": year - born.year})
                    break
        return sorted(out, key=lambda r: (r["date"], r["name"]))

    @tool(reversible=True, undo="_undo_record")
    def add_contact(
        self, name: str, email: str, phone: str = "", city: str = "", company: str = ""
    ) -> dict[str, str]:
        """Add a new contact to the address book.

        Args:
            name: full name.
            email: email address.
            phone: phone number (optional).
            city: home city (optional).
            company: employer (optional).
        """
        if not name.strip():
            raise ToolError("the name is empty.")
        if not EMAIL.match(email.strip()):
            raise ToolError(f"{email!r} is not an email address.")
        if any(p.email.lower() == email.strip().lower() for p in self.people):
            raise ToolError(f"a contact with the email {email!r} exists already.")
        city_name = self.city(city).name if city.strip() else ""
        self.keep_record("people")
        p = Person(
            self.next_id("c"),
            " ".join(name.split()),
            email.strip(),
            phone.strip(),
            city_name,
            company.strip(),
            "",
            "",
        )
        self.people.append(p)
        return p.card()

    @tool(reversible=True, undo="_undo_record")
    def update_contact(self, contact_id: str, field: ContactField, value: str) -> dict[str, str]:
        """Change one field of a contact's card.

        Args:
            contact_id: the contact's id, e.g. "c-03".
            field: which field to change.
            value: the new value.
        """
        p = self._contact_by_id(contact_id)
        if field == "email" and not EMAIL.match(value.strip()):
            raise ToolError(f"{value!r} is not an email address.")
        new = self.city(value).name if field == "city" else value.strip()
        self.keep_record("people", p)
        setattr(p, field, new)
        return p.card()

    @tool(reversible=True, undo="_undo_record")
    def delete_contact(self, contact_id: str) -> str:
        """Remove a contact from the address book.

        Args:
            contact_id: the contact's id, e.g. "c-03".
        """
        p = self._contact_by_id(contact_id)
        self.keep_record("people", p)
        self.people.remove(p)
        return f"Deleted contact {p.name} ({p.id})."
