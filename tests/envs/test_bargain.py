"""The GLEE games (bargain-*): rules, equilibrium benchmarks, metrics, privacy, determinism,
forfeits and bots, for the bargaining, negotiation and persuasion families."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from fractions import Fraction
from typing import Any

import pytest

from palaestra import Agent, action
from palaestra.env import env_factory
from palaestra.envs.bargain import (
    BargainingGame,
    GleeGame,
    NegotiationGame,
    PersuasionGame,
    bargaining,
    negotiation,
    persuasion,
)
from palaestra.envs.bargain.env import money
from palaestra.envs.bargain.theory import (
    persuasion_low_rate,
    persuasion_metrics,
    rubinstein_share,
    spe_accepts,
    spe_keeps,
    split_metrics,
    trade_metrics,
)
from palaestra.runner.match import play_match
from palaestra.types import Message, Task, ToolCall

FAMILIES: list[type[GleeGame]] = [BargainingGame, NegotiationGame, PersuasionGame]


def hand(cls: type[GleeGame], **params: Any) -> Task:
    return Task(env=cls.spec.name, id="hand", split="test", difficulty=1, seed=11, params=params)


def split_task(**kw: Any) -> Task:
    p = {"money": 100, "max_rounds": 3, "delta_alice": 0.9, "delta_bob": 0.8}
    p |= {"complete_information": True, "messages_allowed": False, **kw}
    return hand(BargainingGame, **p)


def trade_task(**kw: Any) -> Task:
    p = {"price_order": 100, "seller_value": 0.8, "buyer_value": 1.2, "max_rounds": 4}
    p |= {"complete_information": True, "messages_allowed": False, **kw}
    return hand(NegotiationGame, **p)


def advice_task(qualities: list[bool], **kw: Any) -> Task:
    p = {"price": 100, "p": 0.5, "v": 2.0, "c": 0.0, "rounds": len(qualities), "qualities": qualities}
    p |= {
        "seller_knows_values": True,
        "buyer_knows_p": True,
        "seller_messages": False,
        "buyer_messages": False,
    }
    return hand(PersuasionGame, **(p | kw))


def texts(steps: dict[str, Any], seat: str) -> list[str]:
    return [m.content for m in steps[seat].observation.messages] if seat in steps else []


def joined(steps: dict[str, Any], seat: str) -> str:
    return "\n".join(texts(steps, seat))


def render(m: Message) -> str:
    calls = [(c.name, c.arguments) for c in m.tool_calls]
    return f"{m.role}|{m.name}|{m.content}|{json.dumps(calls, sort_keys=True)}"


async def play(
    cls: type[GleeGame], task: Task, names: list[str], seed: int = 0
) -> tuple[Any, dict[str, list[str]], int]:
    """A whole bot match: the game, every seat's transcript (what it was told and did), the steps."""
    g = cls()
    obs = await g.reset(task)
    agents: dict[str, Agent] = {}
    for i, (seat, name) in enumerate(zip(g.agents, names, strict=True)):
        agents[seat] = g.bots()[name](g, seat, seed * 10 + i)
        await agents[seat].reset(task)
    seen = {s: [render(m) for m in o.messages] for s, o in obs.items()}
    last = dict(obs)
    steps = 0
    while not g.done:
        acting = g.acting()
        assert len(acting) == 1, "one seat moves at a time"
        moves = {s: await agents[s].act(last[s]) for s in acting}
        for s, m in moves.items():
            seen[s].append(render(m))
        out = await g.step(moves)
        steps += 1
        assert steps <= g.spec.max_steps
        for s, st in out.items():
            assert not st.info["invalid_action"], st.observation.messages[0].content
            last[s] = st.observation
            seen[s] += [render(m) for m in st.observation.messages]
    return g, seen, steps


# ---- tasks -----------------------------------------------------------------------------------------
def test_tasks_are_registered_seeded_levelled_and_disjoint() -> None:
    for cls in FAMILIES:
        g = cls()
        assert env_factory(cls.spec.name) is cls
        for d in (1, 2, 3):
            tasks = g.tasks("test", 40, seed=3, difficulty=d)
            assert [t.params for t in tasks] == [t.params for t in g.tasks("test", 40, seed=3, difficulty=d)]
            assert all(json.loads(json.dumps(t.params)) == t.params for t in tasks)
        train = {t.id for t in g.tasks("train", 60)}
        assert not train & {t.id for t in g.tasks("test", 30)}
    b = BargainingGame()
    for d, lv in bargaining.LEVELS.items():
        for t in b.tasks("dev", 10, difficulty=d):
            assert lv.rounds[0] <= t.params["max_rounds"] <= lv.rounds[1]
            assert t.params["complete_information"] in lv.complete
            assert t.params["messages_allowed"] in lv.messages
    for t in PersuasionGame().tasks("dev", 10, difficulty=3):
        assert len(t.params["qualities"]) == t.params["rounds"] == 20 and not t.params["seller_knows_values"]


# ---- theory ----------------------------------------------------------------------------------------
def test_spe_by_backward_induction_on_a_hand_computed_example() -> None:
    # M = 100, T = 3, delta_A = 0.9, delta_B = 0.8. Round 3 (Alice proposes): Alice keeps 100.
    # Round 2 (Bob proposes): Alice accepts y >= 0.9 * 100 = 90, so Bob keeps 10.
    # Round 1 (Alice proposes): Bob accepts y >= 0.8 * 10 = 8, so Alice keeps 92.
    d = {"alice": Fraction(9, 10), "bob": Fraction(4, 5)}
    assert spe_keeps(100, 3, d) == [92, 10, 100]
    assert spe_accepts(100, 3, 1, d, 8) and not spe_accepts(100, 3, 1, d, 7)  # ties are accepted
    assert spe_accepts(100, 3, 2, d, 90) and not spe_accepts(100, 3, 2, d, 89)
    assert spe_accepts(100, 3, 3, d, 0)  # the last round is an ultimatum
    assert spe_keeps(100, 1, d) == [100]
    one = {"alice": Fraction(1), "bob": Fraction(1)}
    assert spe_keeps(100, 2, one) == [0, 100]  # no discounting: the last proposer takes everything
    # whole amounts: 0.95 * 100 = 95 exactly, 0.85 * 33 = 28.05 rounds up to 29
    assert spe_keeps(100, 2, {"alice": Fraction(1), "bob": Fraction(19, 20)}) == [5, 100]
    assert spe_keeps(33, 2, {"alice": Fraction(1), "bob": Fraction(17, 20)}) == [4, 33]
    share = rubinstein_share(0.9, 0.8)
    assert share is not None and share == pytest.approx(0.2 / 0.28)
    assert rubinstein_share(1.0, 1.0) is None


def test_metrics_on_hand_made_outcomes() -> None:
    m = split_metrics(100, 60, 3, 0.9, 0.5)  # Alice 60%, agreed in round 3
    assert m.self_gain == {"alice": pytest.approx(0.6 * 0.81), "bob": pytest.approx(0.4 * 0.25)}
    assert m.efficiency == pytest.approx(0.486 + 0.1) and m.fairness == pytest.approx(1 - 4 * 0.01)
    assert split_metrics(100, 50, 1, 0.8, 0.8).fairness == 1.0
    none = split_metrics(100, None, 5, 0.9, 0.9)
    assert (none.self_gain, none.efficiency, none.fairness) == ({"alice": 0.0, "bob": 0.0}, 0.0, 0.0)

    t = trade_metrics(100, 80, 120, 110)  # seller value 0.8, buyer 1.2, price 1.1
    assert t.self_gain == {"alice": pytest.approx(0.3), "bob": pytest.approx(0.1)}
    assert t.efficiency == 1.0 and t.fairness == pytest.approx(1 - 4 * 0.01)
    assert trade_metrics(100, 80, 120, None).efficiency == 0.0  # a deal was there to be had
    assert (
        trade_metrics(100, 120, 80, None).efficiency == 1.0
        and trade_metrics(100, 120, 80, None).fairness == 1
    )
    assert trade_metrics(100, 120, 80, 100).efficiency == 0.0  # a trade that destroys value
    assert trade_metrics(100, 100, 100, 100).efficiency == 1.0
    assert trade_metrics(100, 80, 150, 300).fairness == 0.0  # clipped at 0

    q = [True, True, False, False, False]
    b = [True, False, True, False, False]
    pm = persuasion_metrics(q, b, v=3.0, c=0.0)
    assert (pm.sales, pm.high, pm.high_sold, pm.low_sold) == (2, 2, 1, 1)
    assert pm.efficiency == 0.5 and pm.fairness == pytest.approx(2 / 3)
    assert pm.self_gain == {"alice": 0.4, "bob": pytest.approx((1 * 2 + 1 * -1) / 5)}
    short = persuasion_metrics(q[:2], b[:2], v=3.0, c=0.0, total=5)  # a forfeit after round 2
    assert short.self_gain == {"alice": 0.2, "bob": pytest.approx(2 / 5)} and short.fairness is None

    assert persuasion_low_rate(0.5, 1.25) == pytest.approx(0.25)  # posterior 0.5 / 0.625 = 0.8 = 1 / 1.25
    assert persuasion_low_rate(0.5, 3.0) == 1.0  # the prior already makes buying worth it


# ---- bargaining --------------------------------------------------------------------------------------
def offer(a: int, b: int, message: str | None = None) -> Message:
    args: dict[str, Any] = {"alice_gain": a, "bob_gain": b}
    if message is not None:
        args["message"] = message
    return action("offer", **args)


async def test_bargaining_offers_answers_and_discounting() -> None:
    g = BargainingGame()
    obs = await g.reset(split_task())
    assert g.acting() == ["alice"] and obs["alice"].info["acting"] and not obs["bob"].info["acting"]
    assert [t.name for t in obs["alice"].tools] == ["offer"]
    assert "message" not in obs["alice"].tools[0].parameters["properties"]  # no messages in this game
    assert (
        "For Bob, money is worth 20% less each round (discount factor 0.8)"
        in obs["alice"].messages[0].content
    )
    st = await g.step({"alice": offer(60, 30)})
    assert "must divide exactly $100" in joined(st, "alice") and st["alice"].info["invalid_action"]
    assert "bob" not in st
    st = await g.step({"alice": offer(60, 40, "hi")})
    assert "messages are not allowed" in joined(st, "alice")
    st = await g.step({"bob": action("accept")})
    assert "not your turn" in joined(st, "bob")
    st = await g.step({"alice": action("accept")})
    assert "accept is not available to you now" in joined(st, "alice")
    assert g.invalid_streak["alice"] == 3  # the runner would forfeit alice now
    st = await g.step({"alice": offer(70, 30)})
    assert "Alice offers: Alice gets $70, Bob gets $30." in joined(st, "bob")
    assert g.acting() == ["bob"] and [t.name for t in st["bob"].observation.tools] == ["accept", "reject"]
    st = await g.step({"bob": action("reject")})
    assert texts(st, "bob")[0] == "You rejected the offer."
    assert "Round 2 of 3: you make the offer." in joined(st, "bob")
    assert "Bob rejects your offer." in joined(st, "alice")
    assert "Money is now worth 90% of its round-1 value to you, and 80% to Bob." in joined(st, "alice")
    st = await g.step({"bob": offer(55, 45)})
    assert "Accepting gives you $55, worth $49.5 in round-1 money." in joined(st, "alice")
    st = await g.step({"alice": action("accept")})
    assert g.done and all(s.terminated for s in st.values())
    assert "Agreement in round 2: Alice gets $55, Bob gets $45. The game is over." in joined(st, "bob")
    r = g.result()
    assert r["agreement"] and r["rounds"] == 2 and (r["alice_gain"], r["bob_gain"]) == (55, 45)
    assert r["self_gain"] == {"alice": pytest.approx(0.55 * 0.9), "bob": pytest.approx(0.45 * 0.8)}
    assert r["scores"] == r["self_gain"] and st["alice"].reward == pytest.approx(0.495)
    assert r["efficiency"] == pytest.approx(0.495 + 0.36) and r["fairness"] == pytest.approx(1 - 4 * 0.0025)
    assert r["spe_share"] == 0.92 and r["first_offer_share"] == 0.7 and r["winner"] == "alice"


async def test_bargaining_last_round_messages_and_one_move_per_turn() -> None:
    g = BargainingGame()
    obs = await g.reset(split_task(max_rounds=1, messages_allowed=True, complete_information=False))
    assert "message" in obs["alice"].tools[0].parameters["properties"]
    assert "You do not know how inflation affects Bob" in obs["alice"].messages[0].content
    both = Message(
        role="assistant",
        tool_calls=[
            ToolCall(
                id="1", name="offer", arguments={"alice_gain": 90, "bob_gain": 10, "message": "  take   it "}
            ),
            ToolCall(id="2", name="accept", arguments={}),
        ],
    )
    st = await g.step({"alice": both})
    answers = texts(st, "alice")
    assert (
        answers[0].startswith("You offered") and "not your turn" in answers[1]
    )  # cannot accept its own offer
    bob = joined(st, "bob")
    assert 'Alice\'s message: "take it"' in bob and "This is the last round: if you reject" in bob
    st = await g.step({"bob": action("reject")})
    assert g.done and "No agreement after 1 rounds: both get nothing." in joined(st, "alice")
    r = g.result()
    assert not r["agreement"] and r["scores"] == {"alice": 0.0, "bob": 0.0}
    assert (r["efficiency"], r["fairness"], r["winner"]) == (0.0, 0.0, None)


async def test_spe_bots_play_the_equilibrium() -> None:
    g, _, steps = await play(BargainingGame, split_task(), ["spe", "spe"])
    r = g.result()
    assert steps == 2 and r["rounds"] == 1 and (r["alice_gain"], r["bob_gain"]) == (92, 8)
    assert r["self_gain"] == r["spe_self_gain"] == {"alice": 0.92, "bob": 0.08} and r["efficiency"] == 1.0
    for k, task in enumerate(BargainingGame().tasks("test", 30, difficulty=1)):  # complete information
        g, _, _ = await play(BargainingGame, task, ["spe", "spe"], k)
        r = g.result()
        assert r["rounds"] == 1 and r["share"]["alice"] == r["spe_share"] and r["efficiency"] == 1.0


async def test_bargaining_bots() -> None:
    vs_random: dict[str, list[float]] = defaultdict(list)
    for k, task in enumerate(BargainingGame().tasks("test", 30)):
        for bot in ("spe", "fair"):
            for names in ([bot, "random"], ["random", bot]):
                game, _, _ = await play(BargainingGame, task, names, k)
                for seat, name in zip(game.agents, names, strict=True):
                    vs_random[name if name != "random" else f"random-vs-{bot}"].append(
                        game.result()["self_gain"][seat]
                    )
        game, _, steps = await play(BargainingGame, task, ["fair", "fair"], k)
        r = game.result()
        assert steps == 2 and r["fairness"] == 1.0 and r["efficiency"] == 1.0
        game, _, steps = await play(BargainingGame, task, ["greedy", "fair"], k)
        assert steps == 2 * task.params["max_rounds"] and not game.result()["agreement"]
    for bot in ("spe", "fair"):
        assert statistics.mean(vs_random[bot]) > statistics.mean(vs_random[f"random-vs-{bot}"]) + 0.1


# ---- negotiation -------------------------------------------------------------------------------------
async def test_negotiation_trade_outside_option_and_round_cap() -> None:
    g = NegotiationGame()
    obs = await g.reset(trade_task())
    assert "John, will buy it from you for $80" in obs["alice"].messages[0].content
    assert "The product is worth $120 to Bob" in obs["alice"].messages[0].content
    assert [t.name for t in obs["alice"].tools] == ["offer", "deal_with_john"]
    st = await g.step({"alice": action("offer", price=301)})
    assert "from 0 to $300" in joined(st, "alice")
    st = await g.step({"alice": action("offer", price=130)})
    assert "Alice offers to sell you the product for $130." in joined(st, "bob")
    assert "Accepting leaves you $10 worse off than dealing with John." in joined(st, "bob")
    await g.step({"bob": action("reject")})
    st = await g.step({"bob": action("offer", price=100)})
    assert "Accepting gains you $20 over dealing with John." in joined(st, "alice")
    st = await g.step({"alice": action("accept")})
    assert g.done and "Deal in round 2: Alice sells the product to Bob for $100." in joined(st, "bob")
    r = g.result()
    assert r["agreement"] and r["price"] == 100 and r["rounds"] == 2 and r["relative_price"] == 1.0
    assert r["self_gain"] == {"alice": 0.2, "bob": 0.2} and r["efficiency"] == 1.0 and r["fairness"] == 1.0
    assert r["winner"] is None

    g = NegotiationGame()
    await g.reset(trade_task())
    await g.step({"alice": action("offer", price=119)})
    st = await g.step({"bob": action("deal_with_john")})
    assert g.done and "No deal: Bob ended the negotiation in round 1." in joined(st, "alice")
    r = g.result()
    assert r["walked_away"] == "bob" and r["efficiency"] == 0.0 and r["fairness"] == 1.0
    assert r["scores"] == {"alice": 0.0, "bob": 0.0}

    g = NegotiationGame()
    await g.reset(trade_task(max_rounds=1, seller_value=1.5, buyer_value=1.0))
    await g.step({"alice": action("offer", price=160)})
    st = await g.step({"bob": action("reject")})
    assert g.done and "No deal after 1 round(s)" in joined(st, "bob")
    assert g.result()["efficiency"] == 1.0  # no trade was worth making


async def test_negotiation_bots() -> None:
    means: dict[tuple[str, str], list[float]] = defaultdict(list)
    eff: dict[str, list[float]] = defaultdict(list)
    g = NegotiationGame()
    for d in (1, 2):
        for k, task in enumerate(g.tasks("test", 20, difficulty=d)):
            for pair in (["truthful", "truthful"], ["hard", "truthful"], ["truthful", "hard"]):
                game, _, _ = await play(NegotiationGame, task, pair, k)
                r = game.result()
                for seat, name in zip(game.agents, pair, strict=True):
                    means[(name, "/".join(pair))].append(r["self_gain"][seat])
                eff["/".join(pair)].append(r["efficiency"])
                if "truthful" in pair and r["agreement"]:  # the truthful bot never takes a loss
                    t = game.agents[pair.index("truthful")]
                    assert r["self_gain"][t] >= 0
    assert statistics.mean(eff["truthful/truthful"]) >= 0.9
    hard = statistics.mean(means[("hard", "hard/truthful")] + means[("hard", "truthful/hard")])
    soft = statistics.mean(means[("truthful", "hard/truthful")] + means[("truthful", "truthful/hard")])
    assert hard > soft  # the hard bargainer takes most of the surplus from the truthful one


# ---- persuasion --------------------------------------------------------------------------------------
async def test_persuasion_rounds_scores_and_metrics() -> None:
    g = PersuasionGame()
    obs = await g.reset(advice_task([True, False, False]))
    assert "A high-quality product is worth $200 to Bob" in obs["alice"].messages[0].content
    first = "\n".join(m.content for m in obs["alice"].messages)
    assert "Round 1 of 3: this round's product is HIGH quality (worth $200 to Bob)" in first
    assert [t.name for t in obs["bob"].tools] == ["buy", "decline"]
    st = await g.step({"bob": action("buy")})
    assert "not your turn" in joined(st, "bob")
    st = await g.step({"alice": action("recommend", buy=True)})
    assert "Alice recommends that you buy this round's product (price $100)." in joined(st, "bob")
    assert "HIGH" not in joined(st, "bob")
    st = await g.step({"bob": action("buy")})
    assert "The product was HIGH quality, worth $200 to you: you gained $100." in joined(st, "bob")
    assert "Bob bought the product." in joined(st, "alice")
    await g.step({"alice": action("recommend", buy=True)})
    st = await g.step({"bob": action("buy")})
    assert "you lost $100" in joined(st, "bob")
    await g.step({"alice": action("recommend", buy=False)})
    st = await g.step({"bob": action("decline")})
    assert g.done and "Bob bought 2 of 3 products (1 high quality, 1 low quality)" in joined(st, "alice")
    r = g.result()
    assert r["self_gain"] == {"alice": pytest.approx(2 / 3), "bob": pytest.approx(0.0)}
    assert r["efficiency"] == 1.0 and r["fairness"] == 0.5 and r["honesty"] == pytest.approx(2 / 3)
    assert r["trust"] == 1.0 and r["sales"] == 2 and r["winner"] == "alice"


async def test_persuasion_messages_go_to_the_other_seat_only_when_allowed() -> None:
    g = PersuasionGame()
    await g.reset(advice_task([False, True], seller_messages=True))
    st = await g.step({"alice": action("recommend", buy=True, message="Trust me, it's great.")})
    assert "Alice's message: \"Trust me, it's great.\"" in joined(st, "bob")
    st = await g.step({"bob": action("decline", message="not convinced")})
    assert "messages are not allowed" in joined(st, "bob") and g.acting() == ["bob"]
    st = await g.step({"alice": action("recommend", buy=True, message="x" * 501)})
    assert "not your turn" in joined(st, "alice")
    g2 = PersuasionGame()
    await g2.reset(advice_task([False, True], seller_messages=True))
    st = await g2.step({"alice": action("recommend", buy=True, message="x" * 501)})
    assert "more than the limit of 500" in joined(st, "alice") and g2.acting() == ["alice"]


async def test_persuasion_bots() -> None:
    g = PersuasionGame()
    sold: dict[str, list[float]] = defaultdict(list)
    buyer: dict[str, list[float]] = defaultdict(list)
    for d in (1, 2, 3):
        for k, task in enumerate(g.tasks("test", 12, difficulty=d)):
            for seller, bob in (("honest", "naive"), ("always_high", "naive"), ("always_high", "bayesian")):
                game, _, _ = await play(PersuasionGame, task, [seller, bob], k)
                r = game.result()
                if (seller, bob) == ("honest", "naive"):  # truthful advice, followed: the ideal outcome
                    assert (
                        r["honesty"] == 1.0
                        and r["efficiency"] in (1.0, None)
                        and r["fairness"] in (1.0, None)
                    )
                if (seller, bob) == ("always_high", "naive"):
                    assert r["self_gain"]["alice"] == 1.0 and r["fairness"] in (0.0, None)
                buyer[bob + "/" + seller].append(r["self_gain"]["bob"])
            for seller in ("honest", "strategic"):
                game, _, _ = await play(PersuasionGame, task, [seller, "bayesian"], k)
                sold[seller].append(game.result()["self_gain"]["alice"])
    assert statistics.mean(buyer["bayesian/always_high"]) > statistics.mean(buyer["naive/always_high"]) + 0.1
    assert statistics.mean(sold["strategic"]) > statistics.mean(sold["honest"])


# ---- every family: privacy, determinism, forfeits, whole matches -------------------------------------
LINEUPS = {
    BargainingGame: [["spe", "spe"], ["fair", "greedy"], ["spe", "random"], ["greedy", "spe"]],
    NegotiationGame: [["conceder", "hard"], ["truthful", "conceder"], ["random", "truthful"]],
    PersuasionGame: [["strategic", "bayesian"], ["honest", "naive"], ["always_high", "random"]],
}


async def test_bot_matches_end_within_bounds_and_report_glee_metrics() -> None:
    for cls, lineups in LINEUPS.items():
        g = cls()
        for d in (1, 2, 3):
            for k, task in enumerate(g.tasks("test", 8, difficulty=d)):
                game, _, steps = await play(cls, task, lineups[k % len(lineups)], k)
                r = game.result()
                assert r["family"] == cls.family and set(r["self_gain"]) == {"alice", "bob"}
                assert r["scores"] == r["self_gain"] and not r["forfeited"]
                for key in ("efficiency", "fairness"):
                    assert r[key] is None or 0.0 <= r[key] <= 1.0
                if cls is BargainingGame:
                    assert steps <= 2 * task.params["max_rounds"]
                    assert all(0 <= x <= 1 for x in r["self_gain"].values())


async def test_private_information_never_reaches_the_other_seat() -> None:
    for k, task in enumerate(BargainingGame().tasks("test", 30, difficulty=3)):  # incomplete information
        game, seen, _ = await play(BargainingGame, task, LINEUPS[BargainingGame][k % 4], k)
        for seat in game.agents:
            other = game.other(seat)
            text = "\n".join(seen[seat])
            assert f"your discount factor is {game.delta[seat]:g}" in text
            assert f"For {game.name(other)}, money" not in text and f"% to {game.name(other)}." not in text
    for k, task in enumerate(NegotiationGame().tasks("test", 30, difficulty=3)):
        game, seen, _ = await play(NegotiationGame, task, LINEUPS[NegotiationGame][k % 3], k)
        for seat in game.agents:
            text = "\n".join(seen[seat])
            assert "You do not know the product's value to" in text
            assert f"The product is worth {money(game.value[game.other(seat)])} to" not in text
    for k, task in enumerate(PersuasionGame().tasks("test", 30)):
        game, seen, _ = await play(PersuasionGame, task, LINEUPS[PersuasionGame][k % 3], k)
        bob = "\n".join(seen["bob"])
        assert "this round's product is HIGH" not in bob and "this round's product is LOW" not in bob
        # the quality of round r reaches Bob only after his decision in round r
        decided = [i for i, line in enumerate(seen["bob"]) if line.startswith("assistant|")]
        revealed = [i for i, line in enumerate(seen["bob"]) if "|The product was " in line]
        assert len(decided) == len(revealed) == game.total
        assert all(d < r for d, r in zip(decided, revealed, strict=True))
        assert all(r < d for r, d in zip(revealed, decided[1:], strict=False))
        alice = "\n".join(seen["alice"])
        if not game.seller_knows:
            assert "You do not know how much the products are worth to Bob." in alice
            assert f"worth {money(game.worth(True))} to Bob" not in alice and "(worth $" not in alice


def _twin(task: Task, **changes: Any) -> Task:
    params = json.loads(json.dumps(task.params)) | changes
    return task.model_copy(update={"params": params})


async def test_the_others_private_setup_does_not_change_what_a_seat_sees() -> None:
    """Change only the other seat's private values; a seat's whole transcript is byte-identical when
    the other plays a bot that ignores its values (and differs when information is complete)."""
    for k, task in enumerate(BargainingGame().tasks("test", 10, difficulty=3)):
        names = ["spe", ["fair", "greedy", "random"][k % 3]]
        other = 0.8 if task.params["delta_bob"] != 0.8 else 0.95
        _, seen, _ = await play(BargainingGame, task, names, k)
        _, twin, _ = await play(BargainingGame, _twin(task, delta_bob=other), names, k)
        assert seen["alice"] == twin["alice"]
        _, full, _ = await play(
            BargainingGame, _twin(task, delta_bob=other, complete_information=True), names, k
        )
        _, full0, _ = await play(BargainingGame, _twin(task, complete_information=True), names, k)
        assert full["alice"] != full0["alice"]
    for k, task in enumerate(NegotiationGame().tasks("test", 10, difficulty=3)):
        names = ["conceder", "random"]
        other = 0.8 if task.params["buyer_value"] != 0.8 else 1.5
        _, seen, _ = await play(NegotiationGame, task, names, k)
        _, twin, _ = await play(NegotiationGame, _twin(task, buyer_value=other), names, k)
        assert seen["alice"] == twin["alice"]
    for k, task in enumerate(PersuasionGame().tasks("test", 10, difficulty=3)):
        # the seller does not know v, the buyer may not know p; qualities are Alice's until revealed
        names = ["always_high", "naive"]
        _, seen, _ = await play(PersuasionGame, task, names, k)
        _, twin, _ = await play(
            PersuasionGame, _twin(task, v=4.0 if task.params["v"] != 4.0 else 2.0), names, k
        )
        assert seen["alice"] == twin["alice"]
        flipped = _twin(task, qualities=[not q for q in task.params["qualities"]])
        _, flip, _ = await play(PersuasionGame, flipped, names, k)

        def blind(lines: list[str]) -> list[str]:
            hidden = ("|The product was ", "|Your score", "|The game is over")
            return [x for x in lines if not any(h in x for h in hidden)]

        assert len(seen["bob"]) == len(flip["bob"]) and blind(seen["bob"]) == blind(flip["bob"])


async def test_same_seed_same_moves_same_transcripts() -> None:
    for cls, lineups in LINEUPS.items():
        for k, task in enumerate(cls().tasks("dev", 6)):
            names = lineups[k % len(lineups)]
            g1, first, n1 = await play(cls, task, names, k)
            g2, second, n2 = await play(cls, task, names, k)
            assert first == second and n1 == n2 and g1.result() == g2.result()


async def test_forfeits_end_the_game() -> None:
    g = BargainingGame()
    await g.reset(split_task())
    await g.step({"alice": offer(50, 50)})
    steps = await g.apply_forfeit("bob", "timed out")
    assert g.done and steps["alice"].terminated and "Bob forfeits (timed out)" in joined(steps, "alice")
    r = g.result()
    assert r["scores"] == {"alice": 0.0, "bob": -1.0} and r["forfeited"] == ["bob"] and r["winner"] == "alice"
    assert not r["agreement"] and r["efficiency"] == 0.0

    n = NegotiationGame()
    await n.reset(trade_task())
    n.forfeit("alice", "crashed")
    n.forfeit("bob", "crashed")  # the game is already over: nothing changes
    assert n.done and n.result()["scores"] == {"alice": -1.0, "bob": 0.0}

    p = PersuasionGame()
    await p.reset(advice_task([True, True, False, True]))
    await p.step({"alice": action("recommend", buy=True)})
    await p.step({"bob": action("buy")})
    await p.step({"alice": action("recommend", buy=True)})
    steps = await p.apply_forfeit("alice", "3 illegal moves in a row")
    assert p.done and "Bob keeps what he gained" in joined(steps, "bob")
    r = p.result()
    assert r["scores"] == {"alice": -1.0, "bob": 0.25} and r["rounds_played"] == 1  # (2 - 1) / 4 rounds


async def test_a_runner_match_with_each_family() -> None:
    for cls in FAMILIES:
        task = cls().tasks("test", 1, difficulty=2)[0]
        names = list(cls().bots())
        rec = await play_match(cls(), {0: f"bot:{names[0]}", 1: f"bot:{names[1]}"}, task)
        assert rec.status == "done" and rec.error is None
        assert rec.result["family"] == cls.family and set(rec.scores) == {"alice", "bob"}


def test_persuasion_levels_and_negotiation_levels() -> None:
    for d, lv in persuasion.LEVELS.items():
        for t in PersuasionGame().tasks("dev", 5, difficulty=d):
            assert t.params["rounds"] == lv.rounds and t.params["seller_messages"] in lv.seller_messages
    for d, nlv in negotiation.LEVELS.items():
        for t in NegotiationGame().tasks("dev", 5, difficulty=d):
            assert t.params["max_rounds"] in nlv.rounds and t.params["complete_information"] in nlv.complete
