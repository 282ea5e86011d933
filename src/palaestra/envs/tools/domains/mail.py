"""Email: folders, reading, searching, sending, replying and forwarding."""

from __future__ import annotations

from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.domains.contacts import EMAIL
from palaestra.envs.tools.records import Mail
from palaestra.envs.tools.state import WorldState, norm

FOLDERS = ("inbox", "archive", "sent", "trash")


class MailTools(WorldState):
    def _mail(self, email_id: str) -> Mail:
        for m in self.mails:
            if m.id == email_id.strip():
                return m
        raise ToolError(
            f"no email with id {email_id!r}; ids look like 'm-205' (list_emails or search_emails)."
        )

    def _folder(self, folder: str) -> str:
        f = folder.strip().lower()
        if f not in FOLDERS:
            raise ToolError(f"unknown folder {folder!r}; folders: {', '.join(FOLDERS)}.")
        return f

    def _addresses(self, addresses: list[str], what: str) -> list[str]:
        out = [a.strip() for a in addresses if a.strip()]
        for a in out:
            if not EMAIL.match(a):
                raise ToolError(f"{what} {a!r} is not an email address (get_email_address looks one up).")
        return out

    def _stamp(self) -> str:
        return f"{self.today.isoformat()} {self.now}"

    def _send(
        self,
        to: list[str],
        subject: str,
        body: str,
        cc: list[str],
        reply: str | None = None,
        fwd: str | None = None,
    ) -> Mail:
        m = Mail(
            self.next_id("m"),
            self.user_email,
            self.user_name,
            to,
            subject.strip(),
            body,
            self._stamp(),
            folder="sent",
            read=True,
            cc=cc,
            in_reply_to=reply,
            forwarded_from=fwd,
            by_agent=True,
        )
        self.mails.append(m)
        return m

    @tool
    def list_emails(self, folder: str = "inbox", unread_only: bool = False) -> list[dict[str, Any]]:
        """Emails in a folder (newest first): id, sender, subject, date, read flag. No bodies.

        Args:
            folder: inbox, archive, sent or trash.
            unread_only: only unread emails.
        """
        f = self._folder(folder)
        ms = [m for m in self.mails if m.folder == f and (not unread_only or not m.read)]
        return [m.preview() for m in sorted(ms, key=lambda m: (m.date, m.id), reverse=True)]

    @tool
    def read_email(self, email_id: str) -> dict[str, Any]:
        """Open one email with its full body (marks it as read).

        Args:
            email_id: the email's id, e.g. "m-205".
        """
        m = self._mail(email_id)
        m.read = True
        return m.full()

    @tool
    def search_emails(self, query: str, folder: str = "") -> list[dict[str, Any]]:
        """Find emails whose sender, subject or body contains the query (previews, newest first).

        Args:
            query: text to look for.
            folder: limit to one folder; empty for all folders.
        """
        q = norm(query)
        if not q:
            raise ToolError("the query is empty.")
        f = self._folder(folder) if folder.strip() else ""
        ms = [
            m
            for m in self.mails
            if (not f or m.folder == f)
            and any(q in norm(x) for x in (m.sender, m.sender_name, m.subject, m.body))
        ]
        return [m.preview() for m in sorted(ms, key=lambda m: (m.date, m.id), reverse=True)]

    @tool
    def count_unread_emails(self, folder: str = "inbox") -> int:
        """Number of unread emails in a folder.

        Args:
            folder: inbox, archive, sent or trash.
        """
        f = self._folder(folder)
        return sum(m.folder == f and not m.read for m in self.mails)

    @tool
    def list_email_folders(self) -> dict[str, int]:
        """The mail folders and how many emails each holds."""
        return {f: sum(m.folder == f for m in self.mails) for f in FOLDERS}

    @tool(reversible=False)
    def send_email(self, to: str, subject: str, body: str, cc: list[str] | None = None) -> dict[str, Any]:
        """Send a new email from the user's address.

        Args:
            to: recipient's email address.
            subject: subject line.
            body: message text.
            cc: further recipients' addresses (optional).
        """
        rcpt = self._addresses([to], "recipient")
        if not rcpt:
            raise ToolError("the recipient is empty.")
        m = self._send(rcpt, subject, body, self._addresses(cc or [], "cc address"))
        return {"sent": True, "id": m.id, "to": m.to, "subject": m.subject}

    @tool(reversible=False)
    def reply_to_email(self, email_id: str, body: str) -> dict[str, Any]:
        """Reply to the sender of an email (subject "Re: ...").

        Args:
            email_id: the id of the email to answer.
            body: the reply text.
        """
        orig = self._mail(email_id)
        if orig.by_agent:
            raise ToolError("that email was sent by you; use send_email to write to its recipients.")
        subject = orig.subject if orig.subject.lower().startswith("re:") else f"Re: {orig.subject}"
        m = self._send([orig.sender], subject, body, [], reply=orig.id)
        return {"sent": True, "id": m.id, "to": m.to, "subject": m.subject}

    @tool(reversible=False)
    def forward_email(self, email_id: str, to: str, note: str = "") -> dict[str, Any]:
        """Forward an email with its full text to someone (subject "Fwd: ...").

        Args:
            email_id: the id of the email to forward.
            to: recipient's email address.
            note: a message to put above the forwarded text (optional).
        """
        orig = self._mail(email_id)
        rcpt = self._addresses([to], "recipient")
        if not rcpt:
            raise ToolError("the recipient is empty.")
        body = (
            f"{note}\n\n---------- Forwarded message ----------\nFrom: {orig.sender_name} <{orig.sender}>\n"
        )
        body += f"Subject: {orig.subject}\n\n{orig.body}"
        m = self._send(rcpt, f"Fwd: {orig.subject}", body.lstrip("\n"), [], fwd=orig.id)
        return {"sent": True, "id": m.id, "to": m.to, "subject": m.subject}

    @tool(reversible=True, undo="_undo_record")
    def mark_email_as_read(self, email_id: str) -> str:
        """Mark an email as read.

        Args:
            email_id: the email's id.
        """
        m = self._mail(email_id)
        self.keep_record("mails", m)
        m.read = True
        return f"{email_id} marked as read."

    @tool(reversible=True, undo="_undo_record")
    def mark_email_as_unread(self, email_id: str) -> str:
        """Mark an email as unread.

        Args:
            email_id: the email's id.
        """
        m = self._mail(email_id)
        self.keep_record("mails", m)
        m.read = False
        return f"{email_id} marked as unread."

    @tool(reversible=True, undo="_undo_record")
    def move_email(self, email_id: str, folder: str) -> str:
        """Move an email to another folder (inbox, archive, sent or trash).

        Args:
            email_id: the email's id.
            folder: the destination folder.
        """
        m = self._mail(email_id)
        f = self._folder(folder)
        self.keep_record("mails", m)
        m.folder = f
        return f"{m.id} moved to {m.folder}."

    @tool(reversible=True, undo="_undo_record")
    def delete_email(self, email_id: str) -> str:
        """Delete an email (it goes to the trash folder).

        Args:
            email_id: the email's id.
        """
        m = self._mail(email_id)
        self.keep_record("mails", m)
        m.folder = "trash"
        return f"{m.id} moved to trash."
