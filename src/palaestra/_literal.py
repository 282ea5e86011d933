"""Model and environment text for the terminal, shown as it is.

Rich reads ``[/]`` or ``[link=...]`` in a plain string as markup (a crash, a link to anywhere), and a
terminal obeys the escape sequences a reply can carry (title changes, clearing the screen). Every
place that prints such text prints :func:`literal` of it.
"""

from __future__ import annotations

import re

from rich.text import Text

from palaestra.sanitize import clean_text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def literal(text: object, style: str = "") -> Text:
    """``text`` exactly as stored, for the terminal: never markup, and every control character
    but newline and tab written as ``\\xNN`` (so an escape sequence is seen, not obeyed)."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", clean_text(str(text)))
    return Text(shown, style=style)
