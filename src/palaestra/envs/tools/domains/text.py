"""Small text utilities."""

from __future__ import annotations

import re

from palaestra import ToolError, tool
from palaestra.envs.tools.state import WorldState

_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


class TextTools(WorldState):
    @tool
    def count_words(self, text: str) -> int:
        """Number of words (whitespace-separated) in a text.

        Args:
            text: the text.
        """
        return len(text.split())

    @tool
    def count_characters(self, text: str, include_spaces: bool = True) -> int:
        """Number of characters in a text.

        Args:
            text: the text.
            include_spaces: count whitespace characters too.
        """
        return len(text) if include_spaces else len("".join(text.split()))

    @tool
    def to_uppercase(self, text: str) -> str:
        """The text in UPPER CASE.

        Args:
            text: the text.
        """
        return text.upper()

    @tool
    def to_lowercase(self, text: str) -> str:
        """The text in lower case.

        Args:
            text: the text.
        """
        return text.lower()

    @tool
    def reverse_text(self, text: str) -> str:
        """The text with its characters in reverse order.

        Args:
            text: the text.
        """
        return text[::-1]

    @tool
    def replace_text(self, text: str, old: str, new: str) -> str:
        """The text with every occurrence of old replaced by new.

        Args:
            text: the text.
            old: the text to replace (not empty).
            new: the replacement.
        """
        if not old:
            raise ToolError("old must not be empty.")
        if len(text) + text.count(old) * len(new) > 100_000:
            raise ToolError("the result would be longer than 100000 characters.")
        return text.replace(old, new)

    @tool
    def extract_numbers(self, text: str) -> list[float]:
        """All numbers that appear in a text, in order (thousands separators such as 1,250.50 are understood).

        Args:
            text: the text.
        """
        return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]
