"""Standings of matches: openskill ratings, win rates with Wilson intervals, per-game metrics.

Ratings use openskill's Plackett-Luce model (a TrueSkill-like Bayesian rating for any number of
players), updated match by match in the schedule's order (the matches' id order), so that the same
results always give the same ratings however the matches were scheduled. Seats are placed by their
share of the win, then by score, ties allowed (:func:`palaestra.records.placings`). A player
that holds several seats of one match (self-play) counts once, at its best place. Matches that
ended in ``error`` count for nothing but the error count.

A win is the seat's ``won`` share (see :func:`palaestra.records.winners`): 1 for a winner, 1/k
each in a k-way draw; win rates and their Wilson 95% intervals take those shares as successes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from palaestra.records import MatchRow, SeatRow, match_rows, placings

Matches = Iterable[MatchRow | Mapping[str, Any]]
"""Matches as :meth:`Store.match_rows` reads them (or dicts of their shape, read as :class:`MatchRow`)."""

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (``successes`` may be fractional: draws)."""
    if n <= 0:
        return (0.0, 1.0)
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if p == 0.0 else max(0.0, centre - half)
    hi = 1.0 if p == 1.0 else min(1.0, centre + half)
    return (lo, hi)


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _by_player(seats: Iterable[SeatRow]) -> dict[str, list[SeatRow]]:
    out: dict[str, list[SeatRow]] = defaultdict(list)
    for s in seats:
        out[s.player].append(s)
    return out


def ratings(matches: Matches, players: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """``{player: {"mu", "sigma", "rating"}}`` after every match, in order; ``rating`` is the
    conservative estimate ``mu - 3 sigma``. Only ``players`` are rated (default: everyone seen)."""
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    state: dict[str, Any] = {p: model.rating(name=p) for p in players or ()}
    for m in match_rows(matches):
        if m.status == "error":
            continue
        held = {p: ss for p, ss in _by_player(m.seats).items() if players is None or p in state}
        if len(held) < 2:
            continue
        names = list(held)
        for p in names:
            if p not in state:
                state[p] = model.rating(name=p)
        seats = [s for ss in held.values() for s in ss]
        place = placings({s.seat: float(s.won) for s in seats}, {s.seat: float(s.score) for s in seats})
        teams = [[state[p]] for p in names]
        ranks = [float(min(place[s.seat] for s in held[p])) for p in names]
        new = model.rate(teams, ranks=ranks)
        for p, team in zip(names, new, strict=True):
            state[p] = team[0]
    return {
        p: {"mu": float(r.mu), "sigma": float(r.sigma), "rating": float(r.ordinal())}
        for p, r in state.items()
    }


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v)
    return None


def game_metrics(matches: Matches) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Means of the numeric (and boolean) entries of ``result()`` over the matches, and, for entries
    that map seats to numbers (``{"profit": {"a": 3, "b": 1}}``), their means per player."""
    game: dict[str, list[float]] = defaultdict(list)
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for m in match_rows(matches):
        if m.status == "error":
            continue
        player_of = {s.seat: s.player for s in m.seats}
        for key, value in m.result.items():
            x = _numeric(value)
            if x is not None:
                game[key].append(x)
            elif isinstance(value, Mapping) and key != "scores":
                for seat, v in value.items():
                    y = _numeric(v)
                    if y is not None and seat in player_of:
                        per[player_of[seat]][key].append(y)
    return (
        {k: _mean(v) for k, v in sorted(game.items())},
        {p: {k: _mean(v) for k, v in sorted(d.items())} for p, d in per.items()},
    )


def standings(matches: Matches, players: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything a tournament table shows, as plain data (for ``--json``).

    ``matches`` are rows as ``Store.match_rows`` reads them: ``status``, ``result`` and ``seats``
    (each with ``seat``, ``player``, ``score``, ``won``, ``forfeit``, ``invalid_actions``, ``steps``).
    """
    matches = match_rows(matches)
    played = [m for m in matches if m.status != "error"]
    rated = ratings(played, players)
    seat_rows: dict[str, list[SeatRow]] = defaultdict(list)
    player_rows: dict[str, list[SeatRow]] = defaultdict(list)
    for m in played:
        for s in m.seats:
            seat_rows[s.seat].append(s)
            player_rows[s.player].append(s)
    metrics, per_player = game_metrics(played)
    names = list(players) if players is not None else sorted(player_rows)

    def _summary(rows: Sequence[SeatRow]) -> dict[str, Any]:
        wins = sum(float(s.won) for s in rows)
        lo, hi = wilson(wins, len(rows))
        return {
            "seats_played": len(rows),
            "wins": round(wins, 6),
            "win_rate": wins / len(rows) if rows else 0.0,
            "win_ci": [lo, hi],
            "mean_score": _mean([float(s.score) for s in rows]),
        }

    table = []
    for p in names:
        rows = player_rows.get(p, [])
        r = rated.get(p, {"mu": 25.0, "sigma": 25.0 / 3, "rating": 0.0})
        by_seat: dict[str, list[SeatRow]] = defaultdict(list)
        for s in rows:
            by_seat[s.seat].append(s)
        table.append(
            {
                "player": p,
                **r,
                **_summary(rows),
                "forfeits": sum(1 for s in rows if s.forfeit),
                "invalid_actions": sum(s.invalid_actions for s in rows),
                "moves": sum(s.steps for s in rows),
                "by_seat": {seat: _summary(v) for seat, v in sorted(by_seat.items())},
                "metrics": per_player.get(p, {}),
            }
        )
    table.sort(key=lambda row: (-row["rating"], -row["win_rate"], row["player"]))
    return {
        "matches": len(matches),
        "errors": len(matches) - len(played),
        "truncated": sum(1 for m in played if m.status == "truncated"),
        "players": table,
        "seats": {seat: _summary(v) for seat, v in seat_rows.items()},
        "metrics": metrics,
    }
