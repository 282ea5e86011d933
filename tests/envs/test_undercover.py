"""The undercover games: word list, rules, ties and round caps, the chameleon's guess, forfeits,
privacy over many bot matches, determinism, and good voters against random voters."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from palaestra import Agent, action
from palaestra.env import env_factory
from palaestra.envs.undercover import ChameleonEnv, UndercoverEnv, lexicon
from palaestra.envs.undercover.bots import BOTS, TEMPLATE_WORDS, TEMPLATES
from palaestra.envs.undercover.rules import LEVELS, MAX_CHARS
from palaestra.types import Message, Task


def hand(
    variant: str = "undercover",
    players: int = 4,
    spies: Sequence[int] = (2,),
    civ: str = "coffee",
    spy: str | None = "tea",
    card: Sequence[str] = (),
    rounds: int = 3,
    first: int = 0,
) -> Task:
    params = {
        "variant": variant,
        "players": players,
        "spy_seats": list(spies),
        "topic": "drinks",
        "civilian_word": civ,
        "spy_word": spy if variant == "undercover" else None,
        "card": list(card),
        "rounds": rounds,
        "first": first,
    }
    return Task(env="undercover", id="hand", split="test", difficulty=1, seed=7, params=params)


CARD = ("coffee", "tea", "milk", "cream", "beer", "wine")


def describe(text: str) -> Message:
    return action("describe", text=text)


def vote(seat: str) -> Message:
    return action("vote", seat=seat)


def texts(steps: dict[str, Any], seat: str) -> list[str]:
    return [m.content for m in steps[seat].observation.messages] if seat in steps else []


def told(steps: dict[str, Any], seat: str) -> str:
    return "\n".join(texts(steps, seat))


def render(m: Message) -> str:
    calls = [(c.name, c.arguments) for c in m.tool_calls]
    return f"{m.role}|{m.name}|{m.content}|{json.dumps(calls, sort_keys=True)}"


async def start(task: Task, cls: type[UndercoverEnv] = UndercoverEnv) -> tuple[UndercoverEnv, dict[str, str]]:
    g = cls()
    obs = await g.reset(task)
    return g, {s: "\n".join(m.content for m in o.messages) for s, o in obs.items()}


async def play(
    cls: type[UndercoverEnv],
    task: Task,
    civ: str,
    spy: str,
    seed: int = 0,
    one_at_a_time: bool = False,
) -> tuple[UndercoverEnv, dict[str, list[str]], int]:
    """A whole bot match (``civ`` bots on civilian seats, ``spy`` bots on the spies'); every seat's
    transcript and the step count. ``one_at_a_time`` sends simultaneous votes one seat per step."""
    g = cls()
    obs = await g.reset(task)
    agents: dict[str, Agent] = {}
    for i, s in enumerate(g.agents):
        agents[s] = BOTS[spy if s in g.cfg.spies else civ](g, s, seed * 100 + i)
        await agents[s].reset(task)
    seen = {s: [render(m) for m in o.messages] for s, o in obs.items()}
    last = dict(obs)
    steps = 0
    while not g.done:
        acting = g.acting()
        assert acting, "a live game always has a seat to move"
        movers = acting[:1] if one_at_a_time else acting
        moves = {s: await agents[s].act(last[s]) for s in movers}
        for s, m in moves.items():
            seen[s].append(render(m))
        ballot_open = g.phase == "vote" and len(movers) < len(acting)
        out = await g.step(moves)
        steps += 1
        assert steps <= g.spec.max_steps
        for s, st in out.items():
            last[s] = st.observation
            news = [render(m) for m in st.observation.messages]
            if ballot_open:  # a vote stays secret until every seat has voted
                assert not any("voted for" in n for n in news)
                assert s in moves or not news
            seen[s] += news
    return g, seen, steps


# ---- the game's registration, tasks and word list -------------------------------------------------
def test_registered_with_bots_and_levelled_disjoint_tasks() -> None:
    assert env_factory("undercover") is UndercoverEnv
    assert env_factory("undercover-chameleon") is ChameleonEnv
    for cls in (UndercoverEnv, ChameleonEnv):
        g = cls()
        assert set(g.bots()) == {"reasoner", "suspicious", "random"} and g.spec.free_text
        for d, lv in LEVELS.items():
            tasks = g.tasks("train", 15, seed=4, difficulty=d)
            assert [t.params for t in tasks] == [t.params for t in g.tasks("train", 15, seed=4, difficulty=d)]
            for t in tasks:
                p = t.params
                assert json.loads(json.dumps(p)) == p and p["variant"] == cls.VARIANT
                assert (p["players"], len(p["spy_seats"]), p["rounds"]) == (lv.players, lv.spies, lv.rounds)
                pair = lexicon.by_word()[p["civilian_word"]]
                if cls is UndercoverEnv:
                    assert pair.other(p["civilian_word"]) == p["spy_word"] and p["card"] == []
                else:
                    assert p["spy_word"] is None and len(set(p["card"])) == lv.card
                    assert pair.a in p["card"] and pair.b in p["card"]
                    assert set(p["card"]) <= set(lexicon.topics()[pair.topic])
        train = {t.id for t in g.tasks("train", 60)}
        assert train.isdisjoint(t.id for t in g.tasks("test", 30))
    words = [t.params["civilian_word"] for t in UndercoverEnv().tasks("train", 200, difficulty=1)]
    assert len(set(words)) > 120  # the tasks spread over the list, both words of a pair


def test_the_shipped_word_pairs() -> None:
    pairs = lexicon.pairs()
    assert len(pairs) >= 150 and len(lexicon.topics()) >= 10
    assert all(len(ws) >= 10 for ws in lexicon.topics().values())  # enough words for a 10-word card
    for p in pairs:
        for attr in (*p.shared, *p.only_a, *p.only_b):
            assert not TEMPLATE_WORDS & lexicon.forms(attr)
        for attr in p.attributes(p.a) + p.own(p.b):
            for t in TEMPLATES:  # no bot description ever says either word of its pair
                line = t.format(a=attr)
                assert not lexicon.mentions(line, p.a) and not lexicon.mentions(line, p.b)
    with pytest.raises(ValueError, match="says the word"):
        lexicon.parse("x\tcat\tdog\tcats,pet\tmeow\tbark")
    with pytest.raises(ValueError, match="already in line"):
        lexicon.parse("x\tcat\tdog\tpet\tmeow\tbark\nx\tcat\tcow\tpet\tmeow\tmoo")
    with pytest.raises(ValueError, match="one lowercase word"):
        lexicon.parse("x\tice cream\tsorbet\tcold\tmilk\tfruit")


@pytest.mark.parametrize(
    ("text", "word", "hit"),
    [
        ("I love Pianos", "piano", "pianos"),
        ("a pianist", "piano", "pianist"),
        ("T-E-A time", "tea", "tea"),
        ("t e a", "tea", "tea"),
        ("wolves howl", "wolf", "wolves"),
        ("two mice", "mouse", "mice"),
        ("berries", "berry", "berries"),
        ("even hotter", "hot", "hotter"),
        ("a sunflower", "flower", "sunflower"),
        ("CAFÉ culture", "cafe", "cafe"),
        ("steam rises", "tea", None),
        ("I ate a cake", "tea", None),
        ("breakfast", "bread", None),
    ],
)
def test_what_counts_as_saying_the_word(text: str, word: str, hit: str | None) -> None:
    assert lexicon.mention(text, word) == hit


# ---- rules ---------------------------------------------------------------------------------------
async def test_a_round_descriptions_then_a_secret_vote() -> None:
    g, first = await start(hand())
    p1, p2, p3, p4 = g.agents
    assert 'Your secret word is "coffee"' in first[p1] and '"tea"' not in first[p1]
    assert 'Your secret word is "tea"' in first[p3] and '"coffee"' not in first[p3]
    assert "Nobody is told their role" in first[p3] and "undercover agent" not in first[p3].split("\n")[-1]
    assert g.acting() == [p1] and [t.name for t in g.tool_specs(p1)] == ["describe"]
    assert "Your turn (round 1)" in first[p1] and "Your turn" not in first[p2]
    st = await g.step({p2: describe("hot")})
    assert "not your turn" in texts(st, p2)[0] and st[p2].info["invalid_action"]
    for bad, why in [
        ("I drink coffee daily", 'says your secret word "coffee" (as "coffee")'),
        ("COFFEES!", '(as "coffees")'),
        ("c o f f e e", '(as "coffee")'),
        ("   ", "empty"),
        ("x" * (MAX_CHARS + 1), f"at most {MAX_CHARS}"),
    ]:
        st = await g.step({p1: describe(bad)})
        assert why in texts(st, p1)[0] and st[p1].info["invalid_action"] and set(st) == {p1}
    assert g.illegal[p1] == 5 and g.invalid_streak[p1] == 5 and g.acting() == [p1]
    st = await g.step({p1: describe("dark   beans,\nroasted")})
    assert all(f"{p1}: dark beans, roasted" in texts(st, s) for s in g.agents)
    assert "Your turn (round 1)" in texts(st, p2)[-1] and g.acting() == [p2]
    await g.step({p2: describe("espresso")})
    st = await g.step({p3: describe("Not coffee... kettle")})  # the spy may say the civilians' word
    assert f"{p3}: Not coffee... kettle" in texts(st, p1)
    st = await g.step({p4: Message(role="assistant", content="A morning roast")})  # plain text works
    assert "Round 1 vote" in texts(st, p1)[-1] and set(g.acting()) == set(g.agents)
    assert [t.name for t in g.tool_specs(p1)] == ["vote"]
    st = await g.step({p1: vote(p1)})
    assert "cannot vote for yourself" in texts(st, p1)[0]
    st = await g.step({p1: vote("player9")})
    assert "unknown player 'player9'" in texts(st, p1)[0]
    st = await g.step({p1: vote("Player 3")})
    assert texts(st, p1) == ["You vote for player3. The votes are revealed when everyone has voted."]
    assert set(st) == {p1}  # nobody else learns anything yet
    st = await g.step({p1: vote(p4)})
    assert "not your turn" in texts(st, p1)[0]
    st = await g.step({p2: vote(p3), p3: vote(p1), p4: Message(role="assistant", content="I vote player3")})
    news = texts(st, p2)[1:]  # after p2's own answer
    assert (
        "Round 1 votes: player1 voted for player3; player2 voted for player3; player3 voted for player1; player4 voted for player3"
        in news[0]
    )
    assert "player3 is eliminated with 3 votes. player3 was an undercover agent." in news
    assert news[-1].startswith("Game over: the civilians win (every undercover agent was eliminated)")
    assert g.done and g.scores == {p1: 1.0, p2: 1.0, p3: 0.0, p4: 1.0}
    assert all(s.terminated for s in st.values()) and st[p3].reward == 0.0 and st[p1].reward == 1.0
    r = g.result()
    assert r["winner_side"] == "civilians" and r["winners"] == [p1, p2, p4]
    assert (r["civilian_win"], r["spy_win"]) == (1.0, 0.0) and r["vote_accuracy"] == 1.0
    assert r["vote_accuracy_by_seat"][p3] == 0.0 and r["spy_survival"] == 0.0 and r["rounds_played"] == 1
    assert r["roles"][p3] == "undercover" and r["words"][p3] == "tea" and r["illegal_descriptions"][p1] == 5


async def test_a_tie_gets_one_revote_and_the_round_cap_ends_the_game() -> None:
    g, _ = await start(hand(rounds=2))
    p1, p2, p3, p4 = g.agents
    for s, w in zip(g.agents, ["beans", "espresso", "kettle", "roast"], strict=True):
        await g.step({s: describe(w)})
    st = await g.step({p1: vote(p2), p2: vote(p1), p3: vote(p4), p4: vote(p3)})
    assert "Tally: player1 1, player2 1, player3 1, player4 1. Tie." in told(st, p1)
    assert "Revote between player1, player2, player3, player4" in told(st, p1)
    st = await g.step({p1: vote(p2), p2: vote(p1), p3: vote(p1), p4: vote(p2)})
    assert "Still tied: nobody is eliminated this round." in told(st, p1)
    assert "Round 2 of 2" in told(st, p1) and g.acting() == [p2]  # the next speaker opens
    for s in [p2, p3, p4, p1]:
        await g.step({s: describe("hot")})
    st = await g.step({p1: vote(p2), p2: vote(p1), p3: vote(p2), p4: vote(p1)})
    assert "Revote between player1, player2" in told(st, p3)
    st = await g.step({p3: vote(p4)})
    assert "player4 is not in this revote" in told(st, p3)
    st = await g.step({p1: vote(p2), p2: vote(p1), p3: vote(p1), p4: vote(p2)})
    assert "1 undercover agent survived all 2 rounds" in told(st, p1)
    assert g.done and g.winner == "spies" and g.scores[p3] == 1.0 and g.scores[p1] == 0.0
    r = g.result()
    assert (
        r["rounds_played"] == 2 and r["ballots"] == 4 and r["eliminated"] == [] and r["spy_survival"] == 1.0
    )


async def test_spies_win_when_as_many_as_the_civilians() -> None:
    g, _ = await start(hand(players=5, spies=(0, 3), rounds=4))
    p1, p2, p3, p4, p5 = g.agents
    for s in g.agents:
        await g.step({s: describe("warm")})
    st = await g.step({p1: vote(p2), p2: vote(p1), p3: vote(p2), p4: vote(p2), p5: vote(p2)})
    assert "player2 is eliminated with 4 votes. player2 was a civilian." in told(st, p1)
    assert "the undercover agents are as many as the civilians" in told(st, p1)
    assert g.winner == "spies" and g.scores == {p1: 1.0, p2: 0.0, p3: 0.0, p4: 1.0, p5: 0.0}
    assert g.result()["vote_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    g, _ = await start(hand())
    p1, p2, p3, p4 = g.agents
    for s in g.agents:
        await g.step({s: describe("warm")})
    st = await g.step({p1: vote(p2), p2: vote(p1), p3: vote(p1), p4: vote(p1)})
    assert "player1 was a civilian." in told(st, p2) and not g.done
    assert "Round 2 of 3" in told(st, p2) and g.acting() == [p2]
    for s in [p2, p3, p4]:
        await g.step({s: describe("warm")})
    st = await g.step({p2: vote(p4), p3: vote(p4), p4: vote(p3)})
    assert g.winner == "spies" and "the undercover agents are as many as the civilians" in told(st, p3)
    assert g.result()["eliminated"] == [
        {"round": 1, "seat": p1, "role": "civilian"},
        {"round": 2, "seat": p4, "role": "civilian"},
    ]


async def test_the_eliminated_chameleon_guesses_the_word() -> None:
    for guess, winner in (("Coffee", "spies"), ("milk", "civilians")):
        g, first = await start(hand("chameleon", card=CARD), ChameleonEnv)
        p1, p2, p3, p4 = g.agents
        assert "Topic: drinks" in first[p3] and "coffee, tea, milk" in first[p3]
        assert "You are a chameleon" in first[p3] and "CHAMELEON" in first[p3]
        assert 'The secret word is "coffee"' in first[p1] and "You are a CIVILIAN" in first[p1]
        for s, w in zip(g.agents, ["beans", "espresso", "coffee, hot", "roast"], strict=True):
            st = await g.step({s: describe(w)})
            assert not st[s].info["invalid_action"]  # no forbidden word for the chameleon
        st = await g.step({p1: vote(p3), p2: vote(p3), p3: vote(p1), p4: vote(p3)})
        assert "player3 was a chameleon." in told(st, p1) and g.acting() == [p3]
        assert [t.name for t in g.tool_specs(p3)] == ["guess_word"] and g.tool_specs(p1) == []
        assert "Guess the secret word, one of: coffee, tea" in texts(st, p3)[-1]
        st = await g.step({p3: action("guess_word", word="juice")})
        assert "'juice' is not on the card" in told(st, p3) and set(st) == {p3}
        st = await g.step({p3: action("guess_word", word=guess)})
        assert g.done and g.winner == winner
        r = g.result()
        assert r["guesses"] == [{"seat": p3, "word": guess.lower(), "correct": winner == "spies"}]
        assert r["words"][p3] is None and r["roles"][p3] == "chameleon"
    g, _ = await start(hand("chameleon", players=5, spies=(1, 2), card=CARD), ChameleonEnv)
    for s in g.agents:
        await g.step({s: describe("hot")})
    await g.step({s: vote("player2" if s != "player2" else "player1") for s in g.agents})
    st = await g.step({"player2": Message(role="assistant", content="It must be milk.")})
    assert 'player2 guesses "milk": wrong.' in told(st, "player3")
    assert not g.done and "Round 2 of 3" in told(st, "player3")  # the other chameleon plays on


async def test_free_text_votes_must_name_one_player() -> None:
    g, _ = await start(hand())
    for s in g.agents:
        await g.step({s: Message(role="assistant", content="Something warm")})
    st = await g.step({"player1": Message(role="assistant", content="player2 or player3?")})
    assert "exactly one player's name" in texts(st, "player1")[0] and st["player1"].info["invalid_action"]
    st = await g.step({"player1": Message(role="assistant", content="My vote: PLAYER2.")})
    assert texts(st, "player1")[0].startswith("You vote for player2")


# ---- forfeits ------------------------------------------------------------------------------------
async def test_forfeits_reveal_the_role_and_keep_the_game_going() -> None:
    g, _ = await start(hand(players=5, spies=(4,)))
    p1, p2, p3, p4, p5 = g.agents
    st = await g.apply_forfeit(p1, "timed out")  # the speaker leaves: the next one speaks
    assert "player1 forfeits (timed out) and leaves the game. player1 was a civilian." in told(st, p2)
    assert "Your turn (round 1)" in texts(st, p2)[-1] and g.acting() == [p2] and st[p1].terminated
    for s in [p2, p3, p4, p5]:
        await g.step({s: describe("warm")})
    await g.step({p2: vote(p3), p4: vote(p3), p5: vote(p2)})
    st = await g.apply_forfeit(p3, "crashed")  # votes for the leaver are handed back
    assert "Your vote for player3 no longer counts" in texts(st, p2)[-1]
    assert sorted(g.acting()) == [p2, p4] and p5 not in g.acting()
    st = await g.step({p2: vote(p5), p4: vote(p5)})
    assert "player5 was an undercover agent." in told(st, p2) and g.winner == "civilians"
    assert g.scores == {p1: 0.0, p2: 1.0, p3: 0.0, p4: 1.0, p5: 0.0}  # a forfeiting civilian scores 0
    assert g.result()["forfeited"] == [p1, p3]


async def test_a_spy_forfeiting_ends_the_game_and_a_lapsed_revote() -> None:
    g, _ = await start(hand())
    st = await g.apply_forfeit("player3", "3 illegal moves in a row")
    assert g.done and g.winner == "civilians" and st["player1"].reward == 1.0 and st["player3"].reward == 0.0
    g, _ = await start(hand(players=5, spies=(4,)))
    for s in g.agents:
        await g.step({s: describe("warm")})
    await g.step(
        {
            "player1": vote("player2"),
            "player2": vote("player1"),
            "player3": vote("player1"),
            "player4": vote("player2"),
            "player5": vote("player3"),
        }
    )
    assert g.vote_state.number == 2 and g.vote_state.candidates == ["player1", "player2"]
    st = await g.apply_forfeit("player1", "timed out")
    assert "The revote lapses: nobody is eliminated this round." in told(st, "player2")
    assert "Round 2 of 3" in told(st, "player2") and not g.done
    g, _ = await start(hand("chameleon", card=CARD), ChameleonEnv)
    for s in g.agents:
        await g.step({s: describe("warm")})
    await g.step(
        {
            "player1": vote("player3"),
            "player2": vote("player3"),
            "player3": vote("player1"),
            "player4": vote("player3"),
        }
    )
    assert g.acting() == ["player3"]
    g.forfeit("player3", "timed out")  # an eliminated chameleon leaving owes no guess any more
    assert (
        g.done
        and g.winner == "civilians"
        and g.result()["guesses"] == [{"seat": "player3", "word": None, "correct": False}]
    )


# ---- privacy, determinism and the bots -----------------------------------------------------------
_LEFT = re.compile(r"(player\d+) (?:is eliminated|forfeits)")
_ROLE = re.compile(r"(player\d+) was an? ")


@pytest.mark.parametrize("cls", [UndercoverEnv, ChameleonEnv])
async def test_no_seat_ever_sees_another_seats_word_role_or_vote(cls: type[UndercoverEnv]) -> None:
    n = 0
    for d in LEVELS:
        for i, task in enumerate(cls().tasks("test", 12, seed=9, difficulty=d)):
            kinds = ["reasoner", "suspicious", "random"]
            g, seen, _ = await play(cls, task, kinds[i % 3], kinds[(i + 1) % 3], seed=i, one_at_a_time=True)
            spies = set(g.cfg.spies)
            for seat, lines in seen.items():
                # what the seat was told (its own moves aside)
                contents = [
                    line.split("|", 2)[2].rsplit("|", 1)[0]
                    for line in lines
                    if not line.startswith(("assistant|", "tool|"))
                ]
                before_end = [c for c in contents if not c.startswith("Game over:")]
                assert len(before_end) == len(contents) - 1  # the words and roles are told at the end
                body = "\n".join(before_end)
                mine = g.word[seat]
                for w in {g.cfg.civilian_word, g.cfg.spy_word} - {mine, None}:
                    for c in before_end:
                        if "on this card" in c or c.startswith("Guess the secret word, one of"):
                            continue  # the chameleon game's public card, and the guesser's copy of it
                        if c.endswith('": right!'):
                            continue  # a right guess ends the game
                        if any(c.startswith(f"{s}: ") for s in spies) and cls is ChameleonEnv:
                            continue  # a chameleon may say any word; it does not know the secret one
                        assert not lexicon.mentions(c, w), (seat, w, c)
                assert body.count('secret word is "') == (mine is not None)
                left: set[str] = set()
                for c in before_end:  # a role is told only when its seat leaves the game
                    left |= set(_LEFT.findall(c))
                    assert set(_ROLE.findall(c)) <= left, c
                if cls is UndercoverEnv:
                    assert not re.search(r"You are (a|an|the) ", body)  # nobody is told their role
                else:
                    assert ("You are a chameleon" in body) == (seat in spies)
            n += 1
    assert n == 36


async def test_same_task_and_bots_give_identical_transcripts() -> None:
    for cls in (UndercoverEnv, ChameleonEnv):
        task = cls().tasks("test", 1, seed=2, difficulty=3)[0]
        a = await play(cls, task, "reasoner", "reasoner", seed=5)
        b = await play(cls, task, "reasoner", "reasoner", seed=5)
        assert a[1] == b[1] and a[0].result() == b[0].result()
        c = await play(cls, task, "random", "random", seed=6)
        assert c[1] != a[1]


async def test_bot_views_hold_only_what_the_seat_knows() -> None:
    g, _ = await start(hand(players=5, spies=(1,)))
    for s in g.agents:
        v = g.view(s)
        assert v.word == g.word[s] and v.role is None and v.revealed == {} and v.card == ()
        assert ("tea" in repr(v)) == (s == "player2")
    g, _ = await start(hand("chameleon", card=CARD), ChameleonEnv)
    v = g.view("player3")
    assert v.word is None and v.role == "chameleon" and v.topic == "drinks" and v.card == CARD


async def _rates(cls: type[UndercoverEnv], civ: str, n: int) -> tuple[float, float]:
    wins, acc = [], []
    for d in LEVELS:
        for i, task in enumerate(cls().tasks("test", n, seed=21, difficulty=d)):
            g, _, _ = await play(cls, task, civ, "reasoner", seed=i)
            r = g.result()
            wins.append(r["winner_side"] == "civilians")
            if r["vote_accuracy"] is not None:
                acc.append(r["vote_accuracy"])
    return statistics.mean(wins), statistics.mean(acc)


async def test_good_voters_beat_random_voters() -> None:
    win, acc = await _rates(UndercoverEnv, "reasoner", 30)
    rwin, racc = await _rates(UndercoverEnv, "random", 30)
    assert win >= rwin + 0.15 and acc >= racc + 0.15, (win, rwin, acc, racc)
    win, acc = await _rates(ChameleonEnv, "reasoner", 30)
    rwin, racc = await _rates(ChameleonEnv, "random", 30)
    assert win >= rwin + 0.1 and acc >= racc + 0.1, (win, rwin, acc, racc)
