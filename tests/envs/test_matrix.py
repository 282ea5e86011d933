"""The matrix games: rules, regret on hand-made histories, bot theory, privacy, determinism, forfeits."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from palaestra import action
from palaestra.env import env_factory, env_names
from palaestra.envs.matrix import AirportGame, DonorGame, PrisonersDilemma, PublicGoods, RepeatedGame
from palaestra.envs.matrix.regret import external_regret
from palaestra.types import Message, Observation, Task

NAMES = ("matrix-pd", "matrix-public-goods", "matrix-airport", "matrix-donor")
BOTS = ("tit-for-tat", "grim-trigger", "always-cooperate", "always-defect", "random")


# ---- helpers ----------------------------------------------------------------------------------------
def new(name: str) -> RepeatedGame:
    game = env_factory(name)()
    assert isinstance(game, RepeatedGame)
    return game


def hand_task(name: str, params: dict[str, Any]) -> Task:
    return Task(env=name, id="hand", split="test", difficulty=1, seed=7, params=params)


def pg_params(endowment: int, multiplier: float, rounds: int) -> dict[str, Any]:
    return {
        "players": 3,
        "endowment": endowment,
        "multiplier": multiplier,
        "rounds": rounds,
        "known_horizon": True,
        "continue_prob": None,
        "cap": rounds,
    }


def spy(game: RepeatedGame) -> list[tuple[str, tuple[str, ...]]]:
    """Record every ``tell`` with its recipients (patch before ``reset``)."""
    log: list[tuple[str, tuple[str, ...]]] = []
    tell = game.tell

    def recording(text: str, to: Any = None, *, name: str | None = None) -> None:
        seats = game.agents if to is None else [to] if isinstance(to, str) else list(to)
        log.append((text, tuple(seats)))
        tell(text, to=to, name=name)

    game.tell = recording  # type: ignore[method-assign]
    return log


def move(game: RepeatedGame, m: Any) -> Message:
    tool, arg = game.move_tool
    return action(tool, **{arg: m})


class Match:
    """Drives one match and keeps every message each seat received."""

    def __init__(self, game: RepeatedGame) -> None:
        self.game = game
        self.seen: dict[str, list[Message]] = {}
        self.last: dict[str, Observation] = {}

    async def start(self, task: Task) -> None:
        self.last = await self.game.reset(task)
        self.seen = {s: list(o.messages) for s, o in self.last.items()}

    async def step(self, actions: dict[str, Message]) -> dict[str, Any]:
        steps = await self.game.step(actions)
        for s, st in steps.items():
            self.last[s] = st.observation
            self.seen[s] += st.observation.messages
        return steps

    async def forfeit(self, seat: str, reason: str) -> dict[str, Any]:
        steps = await self.game.apply_forfeit(seat, reason)
        for s, st in steps.items():
            self.seen[s] += st.observation.messages
        return steps

    def text(self, seat: str) -> str:
        return "\n".join(m.content for m in self.seen[seat])


async def scripted(game: RepeatedGame, task: Task, moves: dict[str, Sequence[Any]]) -> Match:
    match = Match(game)
    await match.start(task)
    while not game.done:
        await match.step({s: move(game, moves[s][game.round - 1]) for s in game.acting()})
    return match


async def with_bots(name: str, task: Task, lineup: Sequence[str], seed: int = 0) -> Match:
    game = new(name)
    match = Match(game)
    await match.start(task)
    factories = game.bots()
    bots = {s: factories[lineup[i % len(lineup)]](game, s, seed + i) for i, s in enumerate(game.agents)}
    for bot in bots.values():
        await bot.reset(task)
    while not game.done:
        await match.step({s: await bots[s].act(match.last[s]) for s in game.acting()})
    return match


# ---- registry and tasks -----------------------------------------------------------------------------
def test_the_four_families_are_registered_with_bots() -> None:
    assert set(NAMES) <= set(env_names())
    for name in NAMES:
        game = new(name)
        assert set(game.bots()) == set(BOTS)
        assert game.spec.free_text and game.spec.max_steps >= 3 * 20


@pytest.mark.parametrize("name", NAMES)
def test_tasks_are_seeded_disjoint_and_well_formed(name: str) -> None:
    game = new(name)
    test = game.tasks("test", 30)
    train = game.tasks("train", 60)
    assert {t.id for t in test}.isdisjoint(t.id for t in train)
    assert [t.model_dump() for t in game.tasks("test", 30)] == [t.model_dump() for t in test]
    for t in test + train:
        p = t.params
        json.dumps(p)
        assert 1 <= p["rounds"] <= p["cap"] <= 20
        if name == "matrix-pd":
            q = p["payoffs"]
            assert q["T"] > q["R"] > q["P"] > q["S"] >= 0 and 2 * q["R"] > q["T"] + q["S"]
        elif name == "matrix-public-goods":
            assert 1 < p["multiplier"] < p["players"]
        elif name == "matrix-airport":
            g = AirportGame()
            g.init_family(p)
            for s in g.need:
                standalone = g.cumulative[g.need[s] - 1]
                assert g.share[s] < g.value[s] < standalone  # fair split pays, going alone does not
            assert sum(g.share.values()) == g.max_pay  # Shapley shares pay exactly the full runway
        else:
            assert len(p["pairings"]) == p["rounds"] == p["generations"] * p["rounds_per_generation"]
            assert all(sorted(perm) == list(range(p["players"])) for perm in p["pairings"])
            assert all(perm[i] != i for perm in p["pairings"] for i in range(p["players"]))
            assert p["benefit"] > p["cost"]
    known = [t.params["known_horizon"] for t in test]
    assert known == [t.difficulty == 1 or name == "matrix-donor" for t in test]


# ---- regret -----------------------------------------------------------------------------------------
def test_external_regret_takes_the_first_best_fixed_action() -> None:
    rounds = [lambda a: [1.0, 3.0, 3.0][a], lambda a: [0.5, 0.0, 0.0][a]]
    r = external_regret([0, 1, 2], rounds, [1.0, 0.0])
    assert (r.regret, r.best_action, r.best_total, r.actual_total) == (2.0, 1, 3.0, 1.0)
    assert external_regret([0, 1], [], []).regret == 0.0


PD_HAND = {
    "payoffs": {"T": 5, "R": 3, "P": 1, "S": 0},
    "rounds": 4,
    "known_horizon": True,
    "continue_prob": None,
    "cap": 4,
    "noise": 0.0,
    "flips": [],
}


async def test_pd_regret_on_a_hand_made_history() -> None:
    game = PrisonersDilemma()
    C, D = "cooperate", "defect"
    await scripted(game, hand_task("matrix-pd", PD_HAND), {"p1": [C, C, D, D], "p2": [C, D, C, D]})
    r = game.result()
    # p1 got R, S, T, P = 9; always defecting against C, D, C, D would have got 5 + 1 + 5 + 1 = 12.
    assert r["payoff"] == {"p1": 9.0, "p2": 9.0}
    assert r["regret"] == {"p1": 3.0, "p2": 3.0}
    assert r["best_fixed_action"] == {"p1": D, "p2": D}
    assert r["cooperation_rate"] == {"p1": 0.5, "p2": 0.5} and r["mutual_cooperation"] == 0.25
    assert game.done and game.scores == {"p1": 9.0, "p2": 9.0}


async def test_public_goods_regret_on_a_hand_made_history() -> None:
    game = PublicGoods()
    task = hand_task("matrix-public-goods", pg_params(10, 1.5, 2))
    await scripted(game, task, {"p1": [10, 4], "p2": [0, 4], "p3": [5, 4]})
    r = game.result()
    # p1: 0 + 1.5*15/3 = 7.5, then 6 + 1.5*12/3 = 12; giving 0 both times: 12.5 + 14 = 26.5.
    assert r["payoff"]["p1"] == 19.5 and r["regret"]["p1"] == 7.0 and r["best_fixed_action"]["p1"] == 0
    # In a linear public goods game each token given costs 1 - r/N = 0.5 in hindsight.
    assert r["regret"] == {"p1": 7.0, "p2": 2.0, "p3": 4.5}
    assert r["cooperation_rate"] == {"p1": 0.7, "p2": 0.2, "p3": 0.45}


AIRPORT_HAND = {
    "airlines": 3,
    "segment_costs": [6, 4],
    "needs": [1, 2, 1],
    "values": [5, 8, 4],
    "rounds": 3,
    "known_horizon": True,
    "continue_prob": None,
    "cap": 3,
}


async def test_airport_regret_on_a_hand_made_history() -> None:
    game = AirportGame()
    match = await scripted(
        game, hand_task("matrix-airport", AIRPORT_HAND), {"p1": [2, 2, 2], "p2": [6, 0, 5], "p3": [2, 2, 2]}
    )
    assert game.share == {"p1": 2, "p2": 6, "p3": 2}
    assert game.result()["levels_built"] == [2, 0, 1]  # totals 10, 4, 9 against costs 6 and 10
    r = game.result()
    assert r["payoff"] == {"p1": 4.0, "p2": -3.0, "p3": 2.0}
    # p2 (needs level 2, worth 8) faced 4 from the others every round: paying 6 each time earns 2 a round.
    assert r["best_fixed_action"]["p2"] == 6 and r["regret"]["p2"] == 9.0
    # p1 (needs level 1, worth 5) faced 8, 2, 7: paying nothing would have earned 5 + 0 + 5.
    assert r["best_fixed_action"]["p1"] == 0 and r["regret"]["p1"] == 6.0
    assert r["regret"]["p3"] == 6.0
    assert r["served_rate"] == pytest.approx(5 / 9)
    assert "reached level 2 (medium)" in match.text("p3")
    assert "Private: your need was not met; your payoff this round is -5" in match.text("p2")


DONOR_HAND = {
    "players": 3,
    "generations": 1,
    "rounds_per_generation": 2,
    "cost": 1,
    "benefit": 3,
    "pairings": [[1, 2, 0], [2, 0, 1]],
    "rounds": 2,
    "known_horizon": True,
    "continue_prob": None,
    "cap": 2,
    "noise": 0.0,
    "flips": [],
}


async def test_donor_regret_payoffs_and_generation_ranking() -> None:
    game = DonorGame()
    Y, N = "donate", "keep"
    match = await scripted(
        game, hand_task("matrix-donor", DONOR_HAND), {"p1": [Y, Y], "p2": [N, Y], "p3": [Y, N]}
    )
    r = game.result()
    assert r["payoff"] == {"p1": 4.0, "p2": 2.0, "p3": 2.0}
    # Keeping is dominant round by round: the regret is the cost of every donation made.
    assert r["regret"] == {"p1": 2.0, "p2": 1.0, "p3": 1.0}
    assert r["best_fixed_action"] == {"p1": N, "p2": N, "p3": N}
    assert r["generation_rankings"] == [["p1", "p2", "p3"]]
    assert "Records (oldest first): p1: donated; p2: kept; p3: donated" in match.text("p2")
    assert "Ranking by payoff in this generation: 1. p1 (4), 2. p2 (2), 3. p3 (2)" in match.text("p3")


# ---- rules ------------------------------------------------------------------------------------------
async def test_pd_moves_resolve_only_when_both_have_moved_and_illegal_moves_are_refused() -> None:
    game = PrisonersDilemma()
    match = Match(game)
    await match.start(hand_task("matrix-pd", PD_HAND))
    assert game.acting() == ["p1", "p2"]
    steps = await match.step({"p1": action("play", action="betray")})
    assert steps["p1"].info["invalid_action"] and "invalid arguments for play" in match.text("p1")
    assert "p2" not in steps  # nothing p2 may see
    calls = [action("play", "a", action="cooperate"), action("play", "b", action="defect")]
    double = Message(role="assistant", tool_calls=[c.tool_calls[0] for c in calls])
    steps = await match.step({"p1": double})
    assert "already moved in round 1" in steps["p1"].observation.messages[1].content
    assert game.moves == {"p1": "cooperate"} and game.acting() == ["p2"] and game.history == []
    steps = await match.step({"p1": move(game, "defect")})
    assert (
        steps["p1"].info["invalid_action"] and "not your turn" in steps["p1"].observation.messages[0].content
    )
    steps = await match.step({"p2": move(game, "defect")})
    assert steps["p1"].reward == 0.0 and steps["p2"].reward == 5.0
    assert "Round 1 result: p1 cooperated, p2 defected. Payoffs: p1 0, p2 5." in match.text("p1")
    assert game.round == 2 and game.acting() == ["p1", "p2"]
    for _ in range(3):
        steps = await match.step({s: move(game, "defect") for s in game.acting()})
    assert game.done and all(st.terminated for st in steps.values())
    assert "round 4 was the last" in match.text("p2") and "Final totals: p1 3, p2 8." in match.text("p2")


@pytest.mark.parametrize(("name", "bad"), [("matrix-public-goods", 11), ("matrix-airport", -1)])
async def test_amounts_outside_the_range_are_refused(name: str, bad: int) -> None:
    game = new(name)
    params = pg_params(10, 2.0, 2) if name == "matrix-public-goods" else AIRPORT_HAND
    match = Match(game)
    await match.start(hand_task(name, params))
    steps = await match.step({"p1": move(game, bad)})
    assert steps["p1"].info["invalid_action"] and "must be a whole number from 0 to 10" in match.text("p1")
    assert game.invalid_streak["p1"] == 1 and "p1" in game.acting()
    await match.step({"p1": move(game, 3)})
    assert game.invalid_streak["p1"] == 0 and game.moves == {"p1": 3}


async def test_unknown_horizon_is_never_revealed_before_the_end() -> None:
    game = new("matrix-pd")
    task = next(t for t in game.tasks("test", 20, difficulty=2) if t.params["rounds"] >= 3)
    match = await with_bots("matrix-pd", task, ["random"])
    rounds = task.params["rounds"]
    for seat in ("p1", "p2"):
        text = match.text(seat)
        assert f" of {rounds}" not in text and "never beyond round 20" in text
        assert f"round {rounds} was the last" in text
    assert match.game.result()["rounds_played"] == rounds


async def test_cheap_talk_is_broadcast_once_per_round_and_is_not_a_move() -> None:
    game = new("matrix-public-goods")
    match = Match(game)
    await match.start(game.tasks("test", 1, difficulty=2)[0])
    steps = await match.step({"p1": Message(role="assistant", content="Let us all\n give   everything.")})
    assert not steps["p1"].info["invalid_action"] and "delivered to p2, p3, p4" in match.text("p1")
    for s in ("p2", "p3", "p4"):
        assert "p1 says: Let us all give everything." in match.text(s)
    assert "p1 says" not in match.text("p1") and "p1" in game.acting()
    steps = await match.step({"p1": Message(role="assistant", content="again")})
    assert steps["p1"].info["invalid_action"] and "one per round" in match.text("p1")
    steps = await match.step({"p2": Message(role="assistant", content="x" * 401)})
    assert steps["p2"].info["invalid_action"] and "limit of 400" in match.text("p2")
    assert "xxxx" not in match.text("p1")


# ---- bots: theory -----------------------------------------------------------------------------------
async def test_tit_for_tat_against_always_defect_loses_exactly_the_first_round() -> None:
    for task in new("matrix-pd").tasks("test", 12, difficulty=1):
        p, n = task.params["payoffs"], task.params["rounds"]
        r = (await with_bots("matrix-pd", task, ["tit-for-tat", "always-defect"])).game.result()
        assert r["payoff"] == {"p1": p["S"] + (n - 1) * p["P"], "p2": p["T"] + (n - 1) * p["P"]}
        assert r["cooperation_rate"] == {"p1": round(1 / n, 6), "p2": 0.0}
        assert r["regret"]["p1"] == p["P"] - p["S"] and r["regret"]["p2"] == 0.0
        r = (await with_bots("matrix-pd", task, ["tit-for-tat", "tit-for-tat"])).game.result()
        assert r["payoff"] == {"p1": n * p["R"], "p2": n * p["R"]} and r["mutual_cooperation"] == 1.0
        # Against reciprocators, the "best fixed action in hindsight" (defect) ignores their reaction.
        assert r["regret"]["p1"] == n * (p["T"] - p["R"])


async def test_cooperation_rates_of_bot_pairs() -> None:
    tasks = new("matrix-pd").tasks("test", 10, difficulty=2)
    expect = {
        ("grim-trigger", "always-cooperate"): (1.0, 1.0),
        ("tit-for-tat", "grim-trigger"): (1.0, 1.0),
        ("always-cooperate", "always-defect"): (1.0, 0.0),
        ("always-defect", "always-defect"): (0.0, 0.0),
    }
    for task in tasks:
        n = task.params["rounds"]
        for (a, b), rates in expect.items():
            r = (await with_bots("matrix-pd", task, [a, b])).game.result()
            assert (r["cooperation_rate"]["p1"], r["cooperation_rate"]["p2"]) == rates
        r = (await with_bots("matrix-pd", task, ["grim-trigger", "always-defect"])).game.result()
        assert r["cooperation_rate"]["p1"] == round(1 / n, 6)
        # Tit-for-tat copies the random player one round late.
        m = await with_bots("matrix-pd", task, ["tit-for-tat", "random"], seed=task.seed % 97)
        played = [h.played["p2"] for h in m.game.history]
        assert [h.played["p1"] for h in m.game.history] == ["cooperate", *played[:-1]]
    rates = []
    for task in tasks:
        r = (await with_bots("matrix-pd", task, ["random", "random"])).game.result()
        rates += list(r["cooperation_rate"].values())
    assert 0.35 < statistics.mean(rates) < 0.65


async def test_conditional_cooperators_halve_their_contribution_next_to_a_free_rider() -> None:
    task = hand_task("matrix-public-goods", pg_params(16, 2.0, 6))
    game = (await with_bots("matrix-public-goods", task, ["tit-for-tat", "always-defect"])).game
    # Each conditional cooperator gives the mean of the others' last contributions: (0 + c) / 2.
    assert [h.played["p1"] for h in game.history] == [16, 8, 4, 2, 1, 1]
    assert [h.played["p3"] for h in game.history] == [16, 8, 4, 2, 1, 1]
    grim = (await with_bots("matrix-public-goods", task, ["grim-trigger", "always-defect"])).game
    assert [h.played["p1"] for h in grim.history] == [16, 0, 0, 0, 0, 0]


async def test_reciprocators_sustain_cooperation_and_defectors_destroy_it() -> None:
    for name in ("matrix-public-goods", "matrix-airport", "matrix-donor"):
        for task in new(name).tasks("test", 4, difficulty=2):
            good = (await with_bots(name, task, ["tit-for-tat"])).game.result()
            bad = (await with_bots(name, task, ["always-defect"])).game.result()
            assert good["cooperation"] == 1.0 and bad["cooperation"] == 0.0
            assert min(good["payoff"].values()) > max(bad["payoff"].values())
            if name != "matrix-public-goods":
                assert max(bad["payoff"].values()) == 0.0
            if name == "matrix-airport":
                # Fair shares build the full runway, which is worth more than any shorter one.
                assert good["served_rate"] == good["efficiency"] == 1.0 and bad["served_rate"] == 0.0


async def test_stronger_bots_beat_weaker_ones() -> None:
    # Prisoner's dilemma round robin (known horizon, no noise): the reciprocators come out on top.
    totals: dict[str, list[float]] = {b: [] for b in BOTS}
    for task in new("matrix-pd").tasks("test", 8, difficulty=1):
        for a in BOTS:
            for b in BOTS:
                r = (await with_bots("matrix-pd", task, [a, b])).game.result()
                totals[a].append(r["mean_payoff"]["p1"])
                totals[b].append(r["mean_payoff"]["p2"])
    mean = {b: statistics.mean(v) for b, v in totals.items()}
    assert min(mean["tit-for-tat"], mean["grim-trigger"]) > max(
        mean["always-defect"], mean["always-cooperate"], mean["random"]
    )
    # A free rider gains less over reciprocators than over unconditional cooperators.
    for name in ("matrix-public-goods", "matrix-donor"):
        for task in new(name).tasks("test", 4, difficulty=1):
            gap = {}
            for bot in ("tit-for-tat", "grim-trigger", "always-cooperate"):
                pay = (await with_bots(name, task, [bot, "always-defect"])).game.result()["payoff"]
                gap[bot] = pay["p2"] - pay["p1"]
            assert max(gap["tit-for-tat"], gap["grim-trigger"]) < gap["always-cooperate"]


# ---- privacy and determinism --------------------------------------------------------------------------
async def test_private_information_reaches_only_its_seat() -> None:
    lineups = [list(BOTS), ["tit-for-tat", "always-defect"], ["random"]]
    for name in NAMES:
        for i, task in enumerate(new(name).tasks("test", 6)):
            game = new(name)
            log = spy(game)
            match = Match(game)
            await match.start(task)
            factories = game.bots()
            lineup = lineups[i % len(lineups)]
            bots = {s: factories[lineup[j % len(lineup)]](game, s, j) for j, s in enumerate(game.agents)}
            for b in bots.values():
                await b.reset(task)
            while not game.done:
                await match.step({s: await bots[s].act(match.last[s]) for s in game.acting()})
            for text, seats in log:
                if text.startswith(("Private:", "Noise:", "This round you are")):
                    assert len(seats) == 1, text
            for seat in game.agents:
                own = [m.content for m in match.seen[seat] if m.role == "tool"]
                assert len(own) == len(game.history) and all("round" in t for t in own)
                others = "\n".join(match.text(s) for s in game.agents if s != seat)
                for r in game.history:
                    if r.chosen[seat] != r.played[seat]:  # the intended move behind a flip is private
                        note = f"in round {r.number} your move '{r.chosen[seat]}'"
                        assert note in match.text(seat) and note not in others
                if isinstance(game, AirportGame):
                    secret = game.private_setup(seat)
                    assert secret in match.text(seat)
                    for other in game.agents:
                        if game.private_setup(other) != secret:
                            assert secret not in match.text(other)
                    public = [t for t, seats in log if len(seats) > 1]
                    assert not any("worth" in t or "your need" in t or "payoff" in t for t in public)


@pytest.mark.parametrize("name", NAMES)
async def test_same_task_and_moves_give_identical_transcripts(name: str) -> None:
    for task in new(name).tasks("test", 3, difficulty=3):
        runs = []
        for _ in range(2):
            match = await with_bots(name, task, list(BOTS), seed=5)
            runs.append(
                json.dumps(
                    {s: [m.model_dump() for m in msgs] for s, msgs in match.seen.items()}, sort_keys=True
                )
            )
            runs.append(json.dumps(match.game.result(), sort_keys=True))
        assert runs[0] == runs[2] and runs[1] == runs[3]


# ---- forfeits ---------------------------------------------------------------------------------------
async def test_pd_forfeit_ends_the_game_and_keeps_the_scores() -> None:
    game = PrisonersDilemma()
    match = Match(game)
    await match.start(hand_task("matrix-pd", PD_HAND))
    await match.step({"p1": move(game, "cooperate"), "p2": move(game, "defect")})
    for _ in range(3):
        await match.step({"p2": move(game, "maybe")})
    assert game.invalid_streak["p2"] == 3
    game.forfeit("p2", "too many invalid moves")
    assert game.done and game.scores == {"p1": 0.0, "p2": 5.0}
    r = game.result()
    assert r["forfeited"] == ["p2"] and r["rounds_played"] == 1 and r["winner"] == "p1"


async def test_public_goods_forfeit_mid_round_resolves_it_with_a_null_move() -> None:
    game = PublicGoods()
    match = Match(game)
    await match.start(hand_task("matrix-public-goods", pg_params(10, 1.5, 3)))
    await match.step({"p1": move(game, 10), "p2": move(game, 10), "p3": move(game, 10)})
    await match.step({"p1": move(game, 10), "p2": move(game, 10)})
    steps = await match.forfeit("p3", "timed out")
    assert "Round 2 result: contributions p1 10, p2 10, p3 0" in steps["p1"].observation.messages[1].content
    assert game.round == 3 and not game.done and game.acting() == ["p1", "p2"]
    assert game.history[1].played["p3"] == 0 and game.history[1].alive == ["p1", "p2"]
    assert game.scores["p3"] == 15.0  # round 1 only; round 2's payoff (20) is not credited
    await match.step({"p1": move(game, 0), "p2": move(game, 0)})
    assert game.done
    r = game.result()
    assert r["forfeited"] == ["p3"] and r["payoff"]["p3"] == 15.0 and r["cooperation_rate"]["p3"] == 1.0
    assert "p3 forfeits (timed out)" in match.text("p1") and r["payoff"]["p1"] == 15.0 + 10.0 + 10.0
