"""Tournaments: balanced pairings and seats, ratings that order players, Wilson intervals, resume."""

from __future__ import annotations

import random
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from palaestra import EnvSpec, Message, Observation, Store, action, register
from palaestra.ratings import game_metrics, ratings, standings, wilson
from palaestra.records import MatchRecord
from palaestra.runner.pairings import round_robin_lineups, swiss_lineups
from palaestra.runner.tournament import TournamentConfig, run_matches
from palaestra.types import Task
from test_match import GAME, BotBid, Honest, Low


class Mid(Honest):
    def choose(self, observation: Observation) -> Message:
        return action("bid", amount=self.game.card[self.seat] // 2)


class Duel(BotBid):
    """Sealed bids for two."""

    spec = EnvSpec(name="duel-bid-test", description="Bid with your card.", max_steps=10)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"cards": [rng.randrange(1000) for _ in range(2)]}

    def setup(self, task: Task) -> None:
        self.agents = ["a", "b"]
        self.card = dict(zip(self.agents, task.params["cards"], strict=True))
        self.bids: dict[str, int] = {}
        for s in self.agents:
            self.tell(f"Your secret card is {self.card[s]}.", to=s)

    def bots(self) -> dict[str, Any]:
        return {
            "honest": lambda g, s, seed: Honest(g, s),
            "mid": lambda g, s, seed: Mid(g, s),
            "low": lambda g, s, seed: Low(),
        }


register(Duel)


@pytest.mark.parametrize(("n", "k"), [(4, 2), (5, 3), (3, 3), (2, 3), (4, 4)])
def test_round_robin_is_balanced(n: int, k: int) -> None:
    players = [f"p{i}" for i in range(n)]
    lineups = round_robin_lineups(players, k, "filler")
    seats = Counter((p, i) for lu in lineups for i, p in enumerate(lu) if p != "filler")
    assert len(set(seats.values())) == 1  # every player holds every seat equally often
    assert {p for p, _ in seats} == set(players) and {i for _, i in seats} == set(range(k))
    g = min(n, k)
    meetings = Counter(
        frozenset(pair) for lu in lineups for pair in combinations([p for p in lu if p != "filler"], 2)
    )
    assert len(set(meetings.values())) == 1  # every pair meets equally often
    assert len(lineups) == len(list(combinations(players, g))) * k
    assert all(lu.count("filler") == k - g for lu in lineups)


def _fake_match(i: int, lineup: list[str], r: int, winner: int) -> dict[str, Any]:
    return {
        "id": f"r{r:03d}-m{i:04d}",
        "status": "done",
        "round": r,
        "result": {},
        "seats": [
            {"seat": f"s{j}", "idx": j, "player": p, "score": float(j == winner), "won": float(j == winner)}
            for j, p in enumerate(lineup)
        ],
    }


def test_swiss_avoids_rematches_and_balances_seats() -> None:
    players = [f"p{i}" for i in range(6)]
    prior: list[dict[str, Any]] = []
    for r in range(5):
        lineups = swiss_lineups(players, 2, None, prior, seed=1)
        assert sorted(p for lu in lineups for p in lu) == sorted(players)  # everyone plays once
        prior += [_fake_match(i, lu, r, winner=0) for i, lu in enumerate(lineups)]
    pairs = Counter(frozenset(s["player"] for s in m["seats"]) for m in prior)
    assert max(pairs.values()) == 1  # 5 rounds of 6 players: a round robin with no rematch
    seats = Counter((s["player"], s["idx"]) for m in prior for s in m["seats"])
    for p in players:
        assert abs(seats[p, 0] - seats[p, 1]) <= 1


def test_swiss_pairs_by_rating_and_gives_byes() -> None:
    players = ["a", "b", "c", "d", "e"]
    # a beat b, c beat d: the next round pairs the winners together
    prior = [_fake_match(0, ["a", "b"], 0, 0), _fake_match(1, ["c", "d"], 0, 0)]
    lineups = swiss_lineups(players, 2, None, prior)
    assert {frozenset(lu) for lu in lineups} >= {frozenset(("a", "c"))}
    assert len(lineups) == 2  # one of five sits out
    assert len(swiss_lineups(players, 3, None, [])) == 1  # groups of three: two byes


def test_wilson_interval() -> None:
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)
    assert wilson(2.5, 5)[0] < 0.5 < wilson(2.5, 5)[1]  # draws count half


def test_ratings_reward_winners_and_ignore_errors() -> None:
    ms = [_fake_match(i, ["a", "b"] if i % 2 else ["b", "a"], 0, 0 if i % 2 else 1) for i in range(10)]
    r = ratings(ms, ["a", "b"])
    assert r["a"]["rating"] > r["b"]["rating"] and r["a"]["mu"] > 25 > r["b"]["mu"]
    broken = [{**m, "status": "error"} for m in ms]
    assert ratings(broken, ["a", "b"])["a"]["mu"] == 25.0


def test_game_metrics_average_numbers_and_per_seat_maps() -> None:
    ms = [_fake_match(0, ["a", "b"], 0, 0), _fake_match(1, ["b", "a"], 0, 0)]
    ms[0]["result"] = {"rounds": 3, "deal": True, "profit": {"s0": 4, "s1": 2}, "winner": "s0"}
    ms[1]["result"] = {"rounds": 5, "deal": False, "profit": {"s0": 0, "s1": 6}}
    game, per = game_metrics(ms)
    assert game == {"deal": 0.5, "rounds": 4.0}
    assert per == {"a": {"profit": 5.0}, "b": {"profit": 1.0}}
    table = standings(ms, ["a", "b"])
    assert table["metrics"] == game and table["players"][0]["metrics"] in ({"profit": 5.0}, {"profit": 1.0})


async def test_tournament_ranks_the_strong_bot_above_the_weak(tmp_path: Path) -> None:
    config = TournamentConfig(game=GAME, players=["honest", "low", "random"], rounds=8)
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st)
        summary = st.run(rid)["summary"]
    order = [row["player"] for row in summary["players"]]
    assert order[0] == "bot:honest" and order.index("random") < order.index("bot:low")
    honest = summary["players"][0]
    assert honest["seats_played"] == 8 * 3 and set(honest["by_seat"]) == {"a", "b", "c"}
    assert all(v["seats_played"] == 8 for v in honest["by_seat"].values())  # seats rotated
    lo, hi = honest["win_ci"]
    assert lo < honest["win_rate"] <= hi
    assert summary["matches"] == 8 * 3 and summary["errors"] == 0


async def test_filler_takes_the_seats_players_cannot_fill(tmp_path: Path) -> None:
    config = TournamentConfig(game=GAME, players=["honest", "random"], rounds=2)
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st)
        ms = st.matches(rid)
        summary = st.run(rid)["summary"]
    assert len(ms) == 2 * 3
    assert all(Counter(s["player"] for s in m["seats"])["bot:low"] == 1 for m in ms)  # first free bot
    assert [row["player"] for row in summary["players"]] == ["bot:honest", "random"]  # filler unrated


@pytest.mark.parametrize("fmt", ["round-robin", "swiss"])
async def test_resume_after_a_partial_run_plays_only_the_missing_matches(tmp_path: Path, fmt: str) -> None:
    config = TournamentConfig(
        game="duel-bid-test",
        players=["honest", "low", "mid", "random"],
        rounds=2,
        format=fmt,
        concurrency=1,  # type: ignore[arg-type]
    )
    first: list[str] = []

    class Stop(Exception):
        pass

    def stop_after_three(rec: MatchRecord, stats: Any) -> None:
        first.append(rec.id)
        if len(first) == 3:
            raise Stop

    with Store(tmp_path / "a.db") as st:
        with pytest.raises(Stop):
            await run_matches(config, st, run_id="t", on_match=stop_after_three)
        assert st.run("t")["status"] == "failed" and len(st.finished_episode_ids("t")) == 3
        rest: list[str] = []
        await run_matches(config, st, run_id="t", resume=True, on_match=lambda r, s: rest.append(r.id))
        resumed = [(m["id"], [s["player"] for s in m["seats"]]) for m in st.matches("t")]
        assert not set(rest) & set(first)
    with Store(tmp_path / "b.db") as st:  # the same tournament in one go
        await run_matches(config, st, run_id="t")
        whole = [(m["id"], [s["player"] for s in m["seats"]]) for m in st.matches("t")]
    assert resumed == whole and len(first) + len(rest) == len(whole)
    assert len(whole) == (6 * 2 * 2 if fmt == "round-robin" else 2 * 2)


async def test_swiss_on_a_two_seat_game_ranks_by_strength(tmp_path: Path) -> None:
    config = TournamentConfig(
        game="duel-bid-test", players=["low", "mid", "honest"], rounds=6, format="swiss"
    )
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st)
        summary = st.run(rid)["summary"]
        ms = st.matches(rid)
    assert len(ms) == 6  # three players, two seats: one match and one bye a round
    assert summary["players"][0]["player"] == "bot:honest"


async def test_tournament_irreversible_rule_holds_for_every_seat_of_every_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from palaestra import ToolPolicy
    from palaestra.runner import tournament

    seen: list[tuple[Any, Any]] = []
    play = tournament.play_match

    async def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((kwargs["tool_policy"], kwargs["seat_policies"]))
        return await play(*args, **kwargs)

    monkeypatch.setattr(tournament, "play_match", spy)
    config = TournamentConfig(game=GAME, players=["honest", "low", "random"], irreversible="block")
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st)
        stored = TournamentConfig.model_validate(st.run(rid)["config"])
    assert seen and all(p == (ToolPolicy(irreversible="block"), {}) for p in seen)
    assert stored.irreversible == "block"  # what --resume plays with
    assert TournamentConfig(game=GAME, players=["a", "b"]).tool_policies() == (None, {})


def test_cli_tournament_takes_irreversible(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from palaestra.cli import app

    db = str(tmp_path / "s.db")
    args = ["tournament", GAME, "-p", "honest,low,random", "--store", db, "--json"]
    r = CliRunner().invoke(app, [*args, "--irreversible", "confirm"])
    assert r.exit_code == 0, r.output
    assert Store(db).run(Store(db).runs()[0]["id"])["config"]["irreversible"] == "confirm"
    r = CliRunner().invoke(app, [*args, "--irreversible", "never"])
    assert r.exit_code != 0 and "--irreversible" in str(r.exception)
