"""Pairings for tournaments, for a game with ``k`` seats and ``N`` players.

- Round robin: every group of ``min(N, k)`` players, in all ``k`` seat rotations (so each player
  holds each seat equally often, and each pair meets equally often).
- Swiss: each round, players sorted by rating (ties broken by a seeded draw) are split into groups
  of ``k``; in two-seat games pairs avoid rematches while that is possible (backtracking). Players
  left over (``N mod k``) sit the round out, the lowest-placed of those with the fewest byes. Each
  group takes the seat rotation that best evens out how often each player held each seat.

Seats a group cannot fill (``N < k``) go to ``filler``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from itertools import combinations

from palaestra.ratings import Matches, ratings
from palaestra.records import match_rows


def _draw(seed: int, *parts: object) -> int:
    return int.from_bytes(
        hashlib.blake2b("/".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()
    )


def round_robin_lineups(players: Sequence[str], k: int, filler: str | None) -> list[list[str]]:
    """Every group of ``min(N, k)`` players in all ``k`` rotations of the seats."""
    g = min(len(players), k)
    out: list[list[str]] = []
    for group in combinations(players, g):
        lineup = [*group, *([filler or ""] * (k - g))]
        out.extend(lineup[-r:] + lineup[:-r] if r else list(lineup) for r in range(k))
    return out


def _pairs(order: list[str], faced: set[frozenset[str]], budget: list[int]) -> list[list[str]] | None:
    """Pairs for ``order`` with no rematch, each player with the best-placed one it can take
    (backtracking, within ``budget`` tries); None if there is none."""
    if not order:
        return []
    a, rest = order[0], order[1:]
    for i, b in enumerate(rest):
        if frozenset((a, b)) in faced:
            continue
        budget[0] -= 1
        if budget[0] < 0:
            return None
        sub = _pairs(rest[:i] + rest[i + 1 :], faced, budget)
        if sub is not None:
            return [[a, b], *sub]
    return None


def swiss_lineups(
    players: Sequence[str],
    k: int,
    filler: str | None,
    earlier: Matches,
    *,
    seed: int = 0,
) -> list[list[str]]:
    """One Swiss round given the matches of the earlier rounds."""
    prior = match_rows(earlier)
    rated = ratings(prior, players)
    order = sorted(players, key=lambda p: (-rated[p]["rating"], _draw(seed, p)))
    g = min(len(players), k)
    n_byes = len(order) % g
    if n_byes:  # the lowest-placed players among those with the fewest byes so far sit out
        rounds_before = len({m.round for m in prior})
        games = Counter(s.player for m in prior for s in m.seats)
        out = sorted(reversed(order), key=lambda p: rounds_before - games[p])[:n_byes]
        order = [p for p in order if p not in out]
    groups: list[list[str]]
    if g == 2:
        faced = {
            frozenset(s.player for s in m.seats if s.player in rated) for m in prior if m.status != "error"
        }
        groups = _pairs(order, faced, [10_000]) or [order[i : i + 2] for i in range(0, len(order), 2)]
    else:
        groups = [order[i : i + g] for i in range(0, len(order), g)]
    held: dict[tuple[str, int], int] = {}
    for m in prior:
        for s in m.seats:
            held[s.player, s.idx] = held.get((s.player, s.idx), 0) + 1
    result = []
    for group in groups:
        lineup = [*group, *([filler or ""] * (k - len(group)))]
        rotations = [lineup[-r:] + lineup[:-r] if r else list(lineup) for r in range(k)]
        result.append(
            min(rotations, key=lambda rot: sum(held.get((p, i), 0) for i, p in enumerate(rot) if p in rated))
        )
    return result
