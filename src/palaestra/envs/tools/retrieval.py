"""``ToolIndex``: BM25 retrieval over tool names, descriptions and parameter docs (TPTU's API retriever)."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter

from palaestra import ToolSpec

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "the",
        "this",
        "to",
        "what",
        "which",
        "with",
        "you",
        "your",
        "do",
        "does",
        "can",
        "get",
        "find",
        "tool",
        "tools",
    ]
)


def _stem(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


def tokens(text: str) -> list[str]:
    return [_stem(w) for w in _TOKEN.findall(text.lower().replace("_", " ")) if w not in _STOP]


def spec_text(spec: ToolSpec) -> str:
    params = spec.parameters.get("properties", {})
    parts = [spec.name, spec.name, spec.description]  # the name counts twice
    for pname, schema in params.items():
        parts.append(pname)
        parts.append(str(schema.get("description", "")))
    return " ".join(parts)


class ToolIndex:
    """Okapi BM25 (k1=1.2, b=0.75) over tool documents; ties keep the registry order."""

    def __init__(self, specs: list[ToolSpec], k1: float = 1.2, b: float = 0.75) -> None:
        self.names = [s.name for s in specs]
        self.docs = [Counter(tokens(spec_text(s))) for s in specs]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(1, len(self.lengths))
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def scores(self, query: str) -> list[float]:
        q = tokens(query)
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            s = 0.0
            for t in q:
                f = doc.get(t, 0)
                if f:
                    s += (
                        self.idf[t]
                        * f
                        * (self.k1 + 1)
                        / (f + self.k1 * (1 - self.b + self.b * length / self.avg))
                    )
            out.append(s)
        return out

    def search(self, query: str, k: int = 5) -> list[str]:
        """Names of the ``k`` best tools for ``query`` (only tools that share a word with it)."""
        scored = [(s, -i) for i, s in enumerate(self.scores(query)) if s > 0]
        return [self.names[-i] for _, i in sorted(scored, reverse=True)[:k]]


@functools.cache
def world_index() -> ToolIndex:
    from palaestra.envs.tools.world import WORLD_SPECS

    return ToolIndex(WORLD_SPECS)
