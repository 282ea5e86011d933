"""The auction game: English-auction rules, budgets, scoring, privacy, determinism, forfeits, bots."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

import pytest

from palaestra import Agent, action
from palaestra.env import env_factory
from palaestra.envs.auction import AuctionEnv
from palaestra.envs.auction.bots import BOTS
from palaestra.envs.auction.tasks import LEVELS, ROUND_CAP
from palaestra.types import Message, Observation, Task, ToolCall

KINDS = ["truthful", "conservative", "budget_planner", "aggressive", "random"]


def hand(items: list[tuple[int, int]], bidders: list[tuple[int, list[int]]], **kw: Any) -> Task:
    """A hand-made task: items as (start, estimate), bidders as (budget, values)."""
    desires = kw.pop("desires", ["profit"] * len(bidders))
    params = {
        "items": [
            {"name": f"Lot {chr(65 + i)}", "start": s, "increment": s // 10, "estimate": e}
            for i, (s, e) in enumerate(items)
        ],
        "bidders": [
            {"budget": b, "desire": d, "values": v} for (b, v), d in zip(bidders, desires, strict=True)
        ],
        **kw,
    }
    return Task(env="auction", id="hand", split="test", difficulty=1, seed=7, params=params)


def bid(n: int) -> Message:
    return action("bid", amount=n)


def withdraw() -> Message:
    return action("withdraw")


def texts(steps: dict[str, Any], seat: str) -> list[str]:
    return [m.content for m in steps[seat].observation.messages] if seat in steps else []


def render(m: Message) -> str:
    calls = [(c.name, c.arguments) for c in m.tool_calls]
    return f"{m.role}|{m.name}|{m.content}|{json.dumps(calls, sort_keys=True)}"


class NoteTaker:
    """Wraps a bot: writes a private note carrying a marker before every first move on an item."""

    def __init__(self, inner: Agent, game: AuctionEnv, seat: str) -> None:
        self.inner, self.game, self.seat, self.noted = inner, game, seat, -1

    async def reset(self, task: Task) -> None:
        await self.inner.reset(task)

    async def act(self, observation: Observation) -> Message:
        move = await self.inner.act(observation)
        if self.noted == self.game.item:
            return move
        self.noted = self.game.item
        call = ToolCall(id="n", name="note", arguments={"text": f"SECRET-NOTE-{self.seat}-{self.game.item}"})
        return Message(role="assistant", tool_calls=[call, *move.tool_calls])


async def play(
    task: Task, names: list[str], seed: int = 0, notes: bool = False
) -> tuple[AuctionEnv, dict[str, list[str]], int]:
    """Play a whole match with bots; return the game, every seat's transcript and the step count."""
    g = AuctionEnv()
    obs = await g.reset(task)
    agents: dict[str, Agent] = {}
    for i, (seat, name) in enumerate(zip(g.agents, names, strict=False)):
        agent = BOTS[name](g, seat, seed * 100 + i)
        agents[seat] = NoteTaker(agent, g, seat) if notes else agent
        await agents[seat].reset(task)
    seen = {s: [render(m) for m in o.messages] for s, o in obs.items()}
    last = dict(obs)
    steps = 0
    while not g.done:
        acting = g.acting()
        assert acting, "a live game always has a seat to move"
        moves = {s: await agents[s].act(last[s]) for s in acting}
        for s, m in moves.items():
            seen[s].append(render(m))
        out = await g.step(moves)
        steps += 1
        assert steps <= g.spec.max_steps
        for s, st in out.items():
            last[s] = st.observation
            seen[s] += [render(m) for m in st.observation.messages]
    return g, seen, steps


def lineup(k: int, n: int) -> list[str]:
    return [KINDS[(k + i) % len(KINDS)] for i in range(n)]


# ---- tasks -------------------------------------------------------------------------------------
def test_tasks_are_seeded_levelled_and_disjoint() -> None:
    g = AuctionEnv()
    assert env_factory("auction") is AuctionEnv
    for d, lv in LEVELS.items():
        tasks = g.tasks("train", 20, seed=3, difficulty=d)
        assert [t.params for t in tasks] == [t.params for t in g.tasks("train", 20, seed=3, difficulty=d)]
        for t in tasks:
            p = t.params
            assert json.loads(json.dumps(p)) == p
            assert len(p["items"]) == lv.items and len(p["bidders"]) == lv.bidders
            assert p["round_cap"] == ROUND_CAP
            assert sum(b["desire"] == "items" for b in p["bidders"]) == lv.item_seekers
            assert all(it["increment"] == it["start"] // 10 for it in p["items"])
            assert all(b["budget"] >= max(it["start"] for it in p["items"]) for b in p["bidders"])
    train = {t.id for t in g.tasks("train", 60)}
    test = {t.id for t in g.tasks("test", 30)}
    assert not train & test


# ---- rules -------------------------------------------------------------------------------------
async def test_an_english_auction_round_by_round() -> None:
    g = AuctionEnv()
    task = hand([(1000, 2000)], [(5000, [2100]), (5000, [1900]), (5000, [1500])])
    obs = await g.reset(task)
    a, b, c = g.agents
    assert g.acting() == [a, b, c] and all(o.info["acting"] for o in obs.values())
    assert "ascending-price" in obs[a].messages[0].content
    first = "\n".join(m.content for m in obs[a].messages)
    assert "starting price 1000, estimated value 2000, minimum raise 100" in first
    assert "your budget is 5000" in first and "Lot A: 2100" in first
    st = await g.step({a: bid(900), b: bid(6000)})
    assert "too low: the minimum bid is 1000 (the starting price of Lot A)" in texts(st, a)[0]
    assert "more than your money left (5000)" in texts(st, b)[0]
    assert st[a].info["invalid_action"] and st[b].info["invalid_action"] and c not in st
    assert g.acting() == [a, b, c]  # illegal moves do not count as moves
    st = await g.step({a: withdraw(), b: bid(1000), c: bid(1200)})
    report = texts(st, a)[-1]
    assert "Round 1 on Lot A: bidder1 withdrew; bidder2 bid 1000; bidder3 bid 1200." in report
    assert "Highest bid: 1200 by bidder3. Still in: bidder2. Next minimum bid: 1300." in report
    assert g.acting() == [b]  # a withdrew for good; c holds the highest bid and waits
    assert "Round 2 on Lot A: the highest bid is 1200 by bidder3" in texts(st, b)[-1]
    st = await g.step({a: bid(1300)})
    assert "not your turn" in texts(st, a)[0]
    st = await g.step({b: bid(1350)})
    assert "minimum bid is 1300" not in " ".join(texts(st, b))
    assert g.acting() == [c] and g.min_bid() == 1450
    st = await g.step({c: withdraw()})
    assert g.done and all(s.terminated for s in st.values())
    assert any("SOLD: Lot A to bidder2 for 1350." in t for t in texts(st, a))
    assert any("You won Lot A for 1350 (your value 1900, profit 550)" in t for t in texts(st, b))
    r = g.result()
    assert r["profit"] == {a: 0, b: 550, c: 0} and r["items_won"] == {a: 0, b: 1, c: 0}
    assert r["money_left"] == {a: 5000, b: 3650, c: 5000}
    assert r["budget_violations"] == {a: 0, b: 1, c: 0} and r["low_bids"] == {a: 1, b: 0, c: 0}
    assert r["scores"][b] == pytest.approx(550 / 5000) and r["winner"] == b
    assert st[b].reward == pytest.approx(550 / 5000) and r["revenue"] == 1350
    assert r["efficiency"] == round(1900 / 2100, 4)


async def test_ties_unsold_items_and_one_move_per_round() -> None:
    task = hand([(1000, 2000), (500, 900)], [(3000, [1500, 400]), (3000, [1500, 400])])
    runs = []
    for _ in range(2):
        g = AuctionEnv()
        await g.reset(task)
        a, b = g.agents
        two = Message(
            role="assistant",
            tool_calls=[
                ToolCall(id="1", name="bid", arguments={"amount": 1000}),
                ToolCall(id="2", name="withdraw"),
            ],
        )
        st = await g.step({a: two, b: bid(1000)})
        answers = texts(st, a)
        assert answers[0].startswith("You bid 1000") and "already bid 1000 in this round" in answers[1]
        assert st[a].info["invalid_action"]
        assert "Tie at 1000 between bidder1, bidder2, broken at random." in answers[-2]
        runs.append(g.standing)
        holder = g.standing[0] if g.standing else ""
        other = b if holder == a else a
        await g.step({other: withdraw()})
        assert g.item == 1 and g.wins[holder] == [(0, 1000)]
        st = await g.step({a: withdraw(), b: withdraw()})
        assert g.done and any("UNSOLD: nobody bid the starting price for Lot B." in t for t in texts(st, a))
        assert g.result()["items_sold"] == 1
    assert runs[0] == runs[1]  # the tie-break is drawn from the task seed


async def test_round_cap_sells_at_the_standing_bid() -> None:
    g = AuctionEnv()
    await g.reset(hand([(1000, 2000)], [(9000, [3000]), (9000, [3000])], round_cap=2))
    a, b = g.agents
    await g.step({a: bid(1000), b: bid(1100)})
    st = await g.step({a: bid(1200)})
    assert g.done and any(
        "last round (2)" in t and "SOLD: Lot A to bidder1 for 1200." in t for t in texts(st, b)
    )
    assert g.result()["capped_items"] == 1


async def test_unaffordable_bidders_are_withdrawn_and_budgets_bind() -> None:
    g = AuctionEnv()
    task = hand([(1000, 2000), (1000, 2000)], [(1500, [2000, 2000]), (5000, [2000, 2000])])
    await g.reset(task)
    a, b = g.agents
    await g.step({a: bid(1400), b: bid(1000)})
    st = await g.step({b: bid(1500)})  # a cannot pay 1600: withdrawn without a move
    assert any(
        "You cannot afford the minimum bid of 1600 on Lot A (money left 1500)" in t for t in texts(st, a)
    )
    assert any("Round 3 on Lot A: bidder1 withdrew." in t for t in texts(st, b))
    assert g.wins[b] == [(0, 1500)] and g.acting() == [a, b]
    await g.step({a: bid(1500), b: withdraw()})  # a bid may spend the whole budget, not more
    assert g.done and g.money_left(a) == 0 and g.result()["money_left"] == {a: 0, b: 3500}


async def test_item_seekers_score_items_won() -> None:
    g = AuctionEnv()
    task = hand(
        [(1000, 2000), (1000, 2000)],
        [(9000, [900, 900]), (9000, [2000, 2000])],
        desires=["items", "profit"],
    )
    obs = await g.reset(task)
    a, b = g.agents
    assert "win as many items as possible" in obs[a].messages[0].content
    assert "maximise your total profit" in obs[b].messages[0].content
    for _ in range(2):
        await g.step({a: bid(2500), b: withdraw()})
    r = g.result()
    assert r["scores"] == {a: 1.0, b: 0.0} and r["profit"][a] == -3200 and r["overpaid"][a] == 2
    assert r["winner_by_objective"] == {"profit": b, "items": a} and r["winner"] == a


async def test_notes_are_private_limited_and_not_moves() -> None:
    g = AuctionEnv()
    task = hand([(1000, 2000), (1000, 2000)], [(9000, [1500, 1500]), (9000, [1500, 1500])])
    await g.reset(task)
    a, b = g.agents
    st = await g.step({a: action("note", text="plan: save for Lot B")})
    assert "A note is not a move" in texts(st, a)[0] and not st[a].info["invalid_action"] and b not in st
    assert g.acting() == [a, b]
    await g.step({a: action("note", text="x")})
    await g.step({a: action("note", text="y" * 1001)})
    st = await g.step({a: action("note", text="third")})
    st = await g.step({a: action("note", text="fourth")})
    assert "already wrote 3 notes on this item" in texts(st, a)[0]
    st = await g.step({a: withdraw(), b: bid(1000)})  # Lot A sold; Lot B opens
    assert any("Your latest note: third" in t for t in texts(st, a))
    assert not any("note" in t.lower() for t in texts(st, b)) and g.result()["notes"] == {a: 3, b: 0}


async def test_forfeits() -> None:
    g = AuctionEnv()
    task = hand([(1000, 2000), (1000, 2000)], [(9000, [1500, 1500])] * 3)
    await g.reset(task)
    a, b, c = g.agents
    await g.step({a: bid(1000), b: bid(1100)})
    g.forfeit(c, "timed out")  # c had not moved: it withdraws and the round closes without it
    assert g.acting() == [a] and g.standing == (b, 1100)
    g.forfeit(b, "crashed")  # b holds the highest bid: still binding
    assert g.acting() == [a]
    await g.step({a: withdraw()})
    assert g.wins[b] == [(0, 1100)] and g.acting() == [a]
    await g.step({a: bid(1000)})
    r = g.result()
    assert g.done and r["forfeited"] == [b, c] and r["items_won"] == {a: 1, b: 1, c: 0}
    assert r["scores"] == {a: round(500 / 9000, 6), b: -1.0, c: -1.0}
    g2 = AuctionEnv()
    await g2.reset(task)
    for s in g2.agents:
        g2.forfeit(s, "left")
    assert g2.done and set(g2.result()["scores"].values()) == {-1.0}


# ---- whole matches with bots --------------------------------------------------------------------
async def test_bot_matches_keep_budgets_and_end_in_time() -> None:
    g = AuctionEnv()
    for d in LEVELS:
        for k, task in enumerate(g.tasks("test", 20, difficulty=d)):
            game, _, _ = await play(task, lineup(k, len(task.params["bidders"])), seed=k)
            r = game.result()
            for s, b in game.cfg.items():
                assert 0 <= r["money_left"][s] == b.budget - sum(p for _, p in game.wins[s])
            assert set(r["budget_violations"].values()) == {0}  # bots never try an illegal bid
            assert r["items_sold"] + sum(1 for w, _ in game.sales if w is None) == len(game.lots)
            assert r["capped_items"] == 0


async def test_truthful_beats_random_and_aggressive_overpays() -> None:
    g = AuctionEnv()
    score: dict[str, list[float]] = defaultdict(list)
    overpaid: dict[str, int] = defaultdict(int)
    for d in (1, 2):
        for k, task in enumerate(g.tasks("test", 30, difficulty=d)):
            names = lineup(k, len(task.params["bidders"]))
            game, _, _ = await play(task, names, seed=k)
            r = game.result()
            for s, name in zip(game.agents, names, strict=False):
                score[name].append(r["scores"][s])
                overpaid[name] += r["overpaid"][s]
    mean = {n: statistics.mean(v) for n, v in score.items()}
    assert mean["truthful"] > mean["random"] + 0.1
    assert mean["truthful"] > mean["conservative"] and mean["truthful"] > mean["aggressive"]
    assert mean["budget_planner"] > mean["random"]
    assert overpaid["truthful"] == overpaid["conservative"] == overpaid["budget_planner"] == 0
    assert overpaid["aggressive"] > 0 and overpaid["random"] > 0


async def test_same_seed_same_moves_same_transcripts() -> None:
    g = AuctionEnv()
    for k, task in enumerate(g.tasks("dev", 6)):
        names = lineup(k, len(task.params["bidders"]))
        _, first, n1 = await play(task, names, seed=k, notes=True)
        _, second, n2 = await play(task, names, seed=k, notes=True)
        assert first == second and n1 == n2


async def test_private_information_never_reaches_other_seats() -> None:
    g = AuctionEnv()
    for k, task in enumerate(g.tasks("test", 24)):
        game, seen, _ = await play(task, lineup(k, len(task.params["bidders"])), seed=k, notes=True)
        for seat, lines in seen.items():
            text = "\n".join(lines)
            assert f"Private to {seat}: your budget is {game.cfg[seat].budget}." in text
            assert f"SECRET-NOTE-{seat}-0" in text
            for other in game.agents:
                if other != seat:
                    assert f"Private to {other}" not in text and f"SECRET-NOTE-{other}" not in text
            won = [line for line in lines if line.startswith("user|None|You won ")]
            assert len(won) == len(game.wins[seat])


async def test_other_seats_private_setup_does_not_change_what_a_seat_sees() -> None:
    """Change every other bidder's values and objective: bidder1's transcript is byte-identical
    (the others play ``random``, which does not look at its values)."""
    g = AuctionEnv()
    for k, task in enumerate(g.tasks("test", 12, difficulty=3)):
        names = ["truthful"] + ["random"] * (len(task.params["bidders"]) - 1)
        params = json.loads(json.dumps(task.params))
        for other in params["bidders"][1:]:
            other["values"] = [v * 3 + 7 for v in other["values"]]
            other["desire"] = "profit" if other["desire"] == "items" else "items"
        twin = task.model_copy(update={"params": params})
        _, seen, _ = await play(task, names, seed=k)
        _, seen_twin, _ = await play(twin, names, seed=k)
        assert seen["bidder1"] == seen_twin["bidder1"]
        assert seen["bidder2"] != seen_twin["bidder2"]
