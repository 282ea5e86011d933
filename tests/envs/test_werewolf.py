"""Werewolf: night and day rules, votes, win conditions, the day cap, privacy of roles and night
moves, determinism, forfeits, metrics and the strength of the rule-based players."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from palaestra import Agent, action
from palaestra.env import env_factory
from palaestra.envs.werewolf import WerewolfEnv
from palaestra.envs.werewolf.bots import BOTS
from palaestra.envs.werewolf.env import PACK
from palaestra.envs.werewolf.rules import LEVELS, NAMES, SPEECH_CHARS
from palaestra.records import winners
from palaestra.runner.match import play_match
from palaestra.types import Message, Step, Task

# The hand-made village: Alice and Bruno are the werewolves, Chloe the seer, Dmitri the doctor.
SIX = ["werewolf", "werewolf", "seer", "doctor", "villager", "villager"]
A, B, C, D, E, F = NAMES[:6]


def hand(
    roles: list[str] = SIX, *, rounds: int = 1, day_cap: int = 6, orders: list[list[int]] | None = None
) -> Task:
    n = len(roles)
    params = {
        "players": list(NAMES[:n]),
        "roles": roles,
        "speaking_orders": orders or [list(range(n))] * day_cap,
        "discussion_rounds": rounds,
        "day_cap": day_cap,
    }
    return Task(env="werewolf", id="hand", split="test", difficulty=1, seed=7, params=params)


async def start(task: Task | None = None) -> WerewolfEnv:
    g = WerewolfEnv()
    await g.reset(task or hand())
    return g


def texts(steps: dict[str, Step], seat: str) -> list[str]:
    return [m.content for m in steps[seat].observation.messages] if seat in steps else []


def kill(p: str) -> Message:
    return action("kill", player=p)


def vote(p: str | None) -> Message:
    return action("vote", player=p) if p else action("skip")


async def night(g: WerewolfEnv, victim: str, protect: str, inspect: str | None = None) -> dict[str, Step]:
    moves = {w: kill(victim) for w in g.pack(living=True)}
    seer, doctor = g._holder("seer"), g._holder("doctor")
    if seer:
        moves[seer] = action("inspect", player=inspect or next(s for s in g.alive() if s != seer))
    if doctor:
        moves[doctor] = action("protect", player=protect)
    return await g.step(moves)


async def talk(g: WerewolfEnv) -> None:
    while g.phase == "talk" and not g.done:
        (speaker,) = g.acting()
        await g.step({speaker: action("say", text=f"{speaker} has nothing to say.")})


async def day(
    g: WerewolfEnv, ballots: dict[str, str | None] | Callable[[str], str | None]
) -> dict[str, Step]:
    await talk(g)
    pick = ballots if callable(ballots) else ballots.get
    return await g.step({s: vote(pick(s)) for s in g.acting()})


# ---- tasks -------------------------------------------------------------------------------------
def test_tasks_are_seeded_levelled_and_disjoint() -> None:
    g = WerewolfEnv()
    assert env_factory("werewolf") is WerewolfEnv and list(g.bots()) == ["simple", "quiet", "random"]
    for d, lv in LEVELS.items():
        tasks = g.tasks("test", 30, seed=4, difficulty=d)
        assert [t.params for t in tasks] == [t.params for t in g.tasks("test", 30, seed=4, difficulty=d)]
        for t in tasks:
            p = t.params
            assert json.loads(json.dumps(p)) == p and p["players"] == list(NAMES[: lv.players])
            assert sorted(p["roles"]) == sorted(
                ["werewolf"] * lv.werewolves + ["seer", "doctor"] + ["villager"] * lv.villagers
            )
            assert len(p["speaking_orders"]) == lv.day_cap == p["day_cap"]
            assert all(sorted(o) == list(range(lv.players)) for o in p["speaking_orders"])
    assert len(g.tasks("test", 200, seed=1, difficulty=1)) == 200  # the task space is not small
    train = {json.dumps(t.params) for t in g.tasks("train", 100, seed=2)}
    assert not train & {json.dumps(t.params) for t in g.tasks("test", 100, seed=2)}


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError, match="minority"):
        WerewolfEnv().setup(hand(["werewolf", "werewolf", "villager", "villager"]))
    with pytest.raises(ValueError, match="speaking_orders"):
        WerewolfEnv().setup(hand(orders=[[0, 1, 2, 3, 4, 4]] * 6))


# ---- setup and night ---------------------------------------------------------------------------
async def test_each_seat_learns_only_its_own_role_and_the_pack_its_members() -> None:
    g = WerewolfEnv()
    obs = await g.reset(hand())
    for seat, role in zip(NAMES, SIX, strict=False):
        system, *rest = obs[seat].messages
        assert f"You are {seat}" in system.content and f"You are a{'n' if role[0] in 'aeiou' else ''}" in (
            system.content.replace("You are the", "You are a")
        )
        said = "\n".join(m.content for m in rest)
        assert "Roles in play: 2 werewolves, 1 seer, 1 doctor, 2 villagers" in said
        assert said.count("Your role:") == 1 and f"Your role: {role}." in said
        assert ("Your fellow werewolves" in said) == (role == "werewolf")
        assert (PACK in said) == (role == "werewolf")
    assert "Your fellow werewolves: Bruno." in "\n".join(m.content for m in obs[A].messages)
    assert g.acting() == [A, B, C, D]
    assert [t.name for t in obs[A].tools] == ["kill", "say"] and [t.name for t in obs[C].tools] == ["inspect"]
    assert [t.name for t in obs[D].tools] == ["protect"] and obs[E].tools == [] and not obs[E].info["acting"]


async def test_a_night_kill_is_announced_without_the_role_and_night_moves_stay_secret() -> None:
    g = await start()
    st = await g.step(
        {A: kill("Esther"), B: kill(E), C: action("inspect", player=A), D: action("protect", player=D)}
    )
    assert texts(st, C)[0] == "Inspection, night 1: Alice IS a werewolf."
    assert f"{PACK} Alice votes to kill Esther." in texts(st, B)
    assert f"{PACK} Bruno votes to kill Esther." in texts(st, A)
    assert any("the pack attacks Esther (votes: Alice -> Esther, Bruno -> Esther)" in t for t in texts(st, A))
    dawn = "Day 1 dawns. Esther was killed by the werewolves during the night. Their role stays secret."
    for seat in NAMES[:6]:
        assert dawn in texts(st, seat)
    for seat in (C, D, E, F):
        assert not any(PACK in t or "votes to kill" in t for t in texts(st, seat))
    assert not any("Inspection" in t for s in (A, B, D, E, F) for t in texts(st, s))
    assert st[E].terminated and not st[F].terminated and E not in g.alive()
    assert g.phase == "talk" and g.acting() == [A]
    assert "your turn to speak" in texts(st, A)[-1] and "your turn" not in " ".join(texts(st, F))


async def test_the_doctor_saves_the_victim_but_not_the_same_player_two_nights_running() -> None:
    g = await start()
    st = await night(g, victim=E, protect=E)
    assert "Day 1 dawns. Nobody died last night." in texts(st, F) and E in g.alive()
    await day(g, {})
    assert g.phase == "night" and g.day == 2
    st = await g.step({D: action("protect", player="esther")})
    assert st[D].info["invalid_action"]
    assert (
        "you protected Esther last night; you may not protect the same player two nights in a row"
        in texts(st, D)[0]
    )
    st = await night(g, victim=E, protect=F)
    assert "Esther was killed" in " ".join(texts(st, F))
    r = g.result()
    assert r["doctor_saves"] == 1 and r["night_kills"] == 1 and r["nights"] == 2


async def test_pack_votes_plurality_and_ties_go_to_the_first_werewolf() -> None:
    g = await start()
    await g.step({B: kill(F), A: kill(E)})  # Bruno's vote is applied first; Alice sits first
    await g.step({C: action("inspect", player=B), D: action("protect", player=C)})
    assert g.nights[0].victim == E and E not in g.alive()
    nine = [
        "werewolf",
        "villager",
        "werewolf",
        "seer",
        "werewolf",
        "doctor",
        "villager",
        "villager",
        "villager",
    ]
    g = await start(hand(nine))
    wolves = g.pack()
    assert wolves == ["Alice", "Chloe", "Esther"]
    await g.step({wolves[0]: kill("Bruno"), wolves[1]: kill("Hiro"), wolves[2]: kill("Hiro")})
    await g.step({"Dmitri": action("inspect", player="Bruno"), "Farid": action("protect", player="Farid")})
    assert g.nights[0].victim == "Hiro"


async def test_illegal_moves_are_refused_with_a_reason_and_counted() -> None:
    g = await start()
    cases = [
        (A, kill(B), "Bruno is a werewolf like you"),
        (A, kill("Zed"), "there is no player named 'Zed'"),
        (C, action("inspect", player=C), "you cannot choose yourself"),
        (E, vote(A), "it is not your turn"),
        (A, vote(E), "vote is not available to you now. Available: kill, say"),
        (A, action("say", text="   "), "the text is empty"),
        (A, action("say", text="x" * (SPEECH_CHARS + 1)), f"more than the limit of {SPEECH_CHARS}"),
        (D, Message(role="assistant", content="I protect myself"), "no move found"),
    ]
    for seat, move, why in cases:
        st = await g.step({seat: move})
        assert st[seat].info["invalid_action"] and why in texts(st, seat)[0], (seat, texts(st, seat))
        assert set(st) == {seat}  # nobody else hears of it
    assert g.invalid_streak[A] == 5 and g.acting() == [A, B, C, D]
    st = await g.step(
        {A: Message(role="assistant", content="Take  Esther\ntonight.")}
    )  # plain text: pack talk
    assert not st[A].info["invalid_action"] and texts(st, B) == [f'{PACK} Alice says: "Take Esther tonight."']
    st = await g.step({A: action("say", text="again")})
    assert "say is not available to you now" in texts(st, A)[0]
    await g.step(
        {A: kill("esther."), B: kill(E), C: action("inspect", player=A), D: action("protect", player=D)}
    )
    assert g.nights[0].kill_votes == {A: E, B: E} and g.invalid_streak[A] == 0
    st = await g.step({A: action("say", text="hi"), B: kill(F)})
    assert any("not your turn" in t for t in texts(st, B)) and not st[A].info["invalid_action"]
    assert g.acting() == [B]  # Alice spoke; Bruno is next (Esther is dead)
    st = await g.step({B: vote(A)})
    assert "vote is not available to you now" in texts(st, B)[0]


async def test_a_lone_werewolf_has_nobody_to_talk_to_at_night() -> None:
    g = await start()
    await night(g, victim=E, protect=D)
    await day(g, {F: A, C: A, D: A})  # Alice is voted out: Bruno hunts alone
    assert A not in g.alive() and g.phase == "night"
    assert [t.name for t in g.tool_specs(B)] == ["kill"] and g.tool_specs(A) == []
    st = await g.step({B: Message(role="assistant", content="anyone?")})
    assert st[B].info["invalid_action"] and "kill" in texts(st, B)[0]


# ---- day -----------------------------------------------------------------------------------------
async def test_speakers_follow_the_days_order_and_speeches_are_public() -> None:
    orders = [[5, 3, 1, 0, 2, 4], [2, 0, 4, 1, 3, 5]]
    g = await start(hand(rounds=2, day_cap=2, orders=orders))
    await night(g, victim=E, protect=C)
    spoken = []
    while g.phase == "talk":
        (speaker,) = g.acting()
        spoken.append(speaker)
        msg = Message(role="assistant", content=f"I am {speaker}.\n\nTrust me.")
        st = await g.step({speaker: msg})
        assert texts(st, speaker)[0] == "Everyone heard you."
        for seat in NAMES[:6]:
            if seat != speaker:  # the dead doctor hears it too; the speaker does not hear an echo
                assert f'{speaker} says: "I am {speaker}. Trust me."' in texts(st, seat)
    assert spoken == [F, D, B, A, C] * 2
    assert [sp.round for sp in g.speeches] == [1] * 5 + [2] * 5
    assert g.phase == "vote" and g.acting() == [A, B, C, D, F]
    await g.step({s: vote(None) for s in g.acting()})
    await night(g, victim=D, protect=D)
    (first,) = g.acting()
    assert first == C  # day 2's order opens with Chloe (seat index 2)
    assert g.speeches[-1].day == 1


async def test_votes_stay_sealed_until_all_are_in_then_a_clear_plurality_eliminates() -> None:
    g = await start()
    await night(g, victim=E, protect=D)
    await talk(g)
    st = await g.step({A: vote(F), B: vote(F)})
    assert set(st) == {A, B} and "recorded" in texts(st, A)[0]
    st = await g.step({C: vote(C)})
    assert "you cannot choose yourself" in texts(st, C)[0]
    st = await g.step({C: vote(E)})
    assert "Esther is no longer in the game" in texts(st, C)[0]
    st = await g.step({C: vote(A), D: vote(A), F: vote(None)})
    result = "Day 1 votes: Alice -> Farid; Bruno -> Farid; Chloe -> Alice; Dmitri -> Alice; Farid -> skip."
    assert any(
        t.startswith(result) and "Nobody is eliminated: Alice and Farid tie with 2 votes each." in t
        for t in texts(st, E)
    )
    assert g.alive() == [A, B, C, D, F] and g.phase == "night"
    await night(g, victim=F, protect=F)
    st = await day(g, {A: C, B: C, C: A, D: None, F: None})
    assert any("Nobody is eliminated: 2 skips against at most 2 votes." in t for t in texts(st, A))
    await night(g, victim=F, protect=D)  # Farid dies: 2 wolves against Chloe and Dmitri -> wolves win
    assert g.done and g.winner == "werewolves"


async def test_the_village_wins_when_the_last_werewolf_is_voted_out() -> None:
    g = await start()
    await night(g, victim=E, protect=D, inspect=A)
    st = await day(g, {B: C, C: A, D: A, F: A})
    assert any("Alice is eliminated with 3 votes. Their role stays secret." in t for t in texts(st, C))
    assert any("You have been eliminated" in t for t in texts(st, A)) and st[A].terminated
    await night(g, victim=C, protect=C, inspect=B)
    st = await day(g, {B: F, C: B, D: B, F: C})
    assert g.done and g.winner == "village" and all(s.terminated for s in st.values())
    over = texts(st, E)[-1]  # the dead hear the end too
    assert over.startswith(
        "Game over: The village wins: every werewolf is dead. Roles: Alice werewolf, Bruno werewolf"
    )
    assert g.scores == {A: 0.0, B: 0.0, C: 1.0, D: 1.0, E: 1.0, F: 1.0}
    assert st[E].reward == 1.0 and st[A].reward == 0.0
    r = g.result()
    assert r["winner_team"] == "village" and r["winners"] == [C, D, E, F] and r["village_won"]
    assert r["win_by_role"] == {"werewolf": 0.0, "seer": 1.0, "doctor": 1.0, "villager": 1.0}
    assert r["won_as_werewolf"] == {A: 0.0, B: 0.0} and r["won_as_villager"] == {E: 1.0, F: 1.0}
    assert r["days"] == 2 and r["nights"] == 2 and r["doctor_saves"] == 1 and r["night_kills"] == 1
    assert r["seer_inspections"] == 2 and r["seer_wolves_found"] == 2 and r["seer_hit_rate"] == 1.0
    assert r["seer_followed"] == 0.75  # of Dmitri's and Farid's votes, 3 went to a werewolf the seer knew
    assert r["vote_accuracy"] == {C: 1.0, D: 1.0, F: 0.5} and r["village_vote_accuracy"] == 0.833333
    assert r["wolves_eliminated"] == 2 and r["villagers_eliminated"] == 0
    assert r["survived"] == {A: 0.0, B: 0.0, C: 1.0, D: 1.0, E: 0.0, F: 1.0}
    assert r["deaths"][0] == {"day": 1, "seat": E, "cause": "night"}
    assert winners(r, g.scores) == {A: 0.0, B: 0.0, C: 1.0, D: 1.0, E: 1.0, F: 1.0}


async def test_the_werewolves_win_at_parity_right_after_the_vote() -> None:
    g = await start()
    await night(g, victim=E, protect=D)
    st = await day(g, {A: F, B: F, C: A, D: B, F: C})
    assert any("Farid is eliminated" in t for t in texts(st, C))
    assert g.done and g.winner == "werewolves" and g.scores[A] == g.scores[B] == 1.0 and g.scores[C] == 0.0
    assert "werewolves are as many as the other living players" in texts(st, C)[-1]


async def test_the_day_cap_ends_the_game_in_a_draw() -> None:
    g = await start(hand(day_cap=1))
    await night(g, victim=E, protect=E)
    st = await day(g, {})
    assert g.done and g.winner is None and set(g.scores.values()) == {0.0}
    assert "Game over: Draw: day 1 ended with werewolves and village both still standing" in texts(st, A)[-1]
    r = g.result()
    assert r["draw"] and r["winners"] == [] and r["win_by_role"]["werewolf"] == 0.0
    assert winners(r, g.scores) == dict.fromkeys(NAMES[:6], 1 / 6)


# ---- forfeits ------------------------------------------------------------------------------------
async def test_a_forfeiting_speaker_leaves_as_if_dead_and_scores_nothing() -> None:
    g = await start()
    await night(g, victim=E, protect=D)
    assert g.acting() == [A]
    st = await g.apply_forfeit(A, "timed out")
    note = "Alice forfeits (timed out) and leaves the game, as if dead. Their role stays secret."
    assert note in texts(st, F) and st[A].terminated and g.acting() == [B]
    assert "your turn to speak" in texts(st, B)[-1]
    st = await g.apply_forfeit(E, "crashed")  # the dead cannot forfeit
    assert set(st) == {E} and texts(st, E) == [] and g.forfeited == {A}
    await talk(g)
    await g.step({B: vote(C), C: vote(B)})
    await g.apply_forfeit(C, "crashed")  # the seer's cast vote goes with it
    st = await g.step({D: vote(B), F: vote(B)})
    assert any(
        "Day 1 votes: Bruno -> skip; Dmitri -> Bruno; Farid -> Bruno. Bruno is eliminated" in t
        for t in texts(st, D)
    )
    assert g.done and g.winner == "village"
    assert g.scores == {A: 0.0, B: 0.0, C: 0.0, D: 1.0, E: 1.0, F: 1.0}
    r = g.result()
    assert r["forfeited"] == [A, C] and r["winners"] == [D, E, F]
    assert [d["cause"] for d in r["deaths"]] == ["night", "forfeit", "forfeit", "vote"]


async def test_forfeits_at_night_drop_the_seats_moves_and_can_end_the_game() -> None:
    g = await start()
    await g.step({A: kill(E), D: action("protect", player=E)})
    await g.apply_forfeit(D, "crashed")  # the doctor's protection goes with it
    assert g.acting() == [B, C]
    st = await g.step({B: kill(F), C: action("inspect", player=A)})
    assert g.nights[0].victim == E and g.nights[0].protected is None and E not in g.alive()
    assert any("Esther was killed" in t for t in texts(st, F))
    g = await start()
    await g.step({A: kill(E)})
    await g.apply_forfeit(A, "crashed")
    st = await g.apply_forfeit(B, "crashed")
    assert g.done and g.winner == "village" and "every werewolf is dead" in texts(st, F)[-1]
    assert g.scores == {A: 0.0, B: 0.0, C: 1.0, D: 1.0, E: 1.0, F: 1.0}
    assert g.result()["nights"] == 1


# ---- whole matches with bots ---------------------------------------------------------------------
Lineup = dict[str, str]
SIMPLE: Lineup = {"werewolf": "simple", "seer": "simple", "doctor": "simple", "villager": "simple"}


def render(m: Message) -> str:
    calls = [(c.name, c.arguments) for c in m.tool_calls]
    return f"{m.role}|{m.content}|{json.dumps(calls, sort_keys=True)}"


async def play(
    task: Task, lineup: Lineup | Callable[[str, str], str] = SIMPLE, seed: int = 0
) -> tuple[WerewolfEnv, dict[str, list[tuple[int, Message]]]]:
    """A whole bot match; every seat's transcript as (step number, message), its own moves included."""
    g = WerewolfEnv()
    obs = await g.reset(task)
    agents: dict[str, Agent] = {}
    for i, s in enumerate(g.agents):
        name = lineup(s, g.roles[s]) if callable(lineup) else lineup[g.roles[s]]
        agents[s] = BOTS[name](g, s, seed * 100 + i)
        await agents[s].reset(task)
    seen = {s: [(0, m) for m in o.messages] for s, o in obs.items()}
    last = {s: o for s, o in obs.items()}
    n = 0
    while not g.done:
        n += 1
        assert n <= g.spec.max_steps
        moves = {s: await agents[s].act(last[s]) for s in g.acting()}
        for s, m in moves.items():
            seen[s].append((n, m))
        for s, st in (await g.step(moves)).items():
            assert not st.info["invalid_action"], (s, st.observation.messages)
            last[s] = st.observation
            seen[s] += [(n, m) for m in st.observation.messages]
    return g, seen


def mixed(k: int) -> Callable[[str, str], str]:
    kinds = ["simple", "random", "quiet"]
    return lambda seat, role: kinds[(k + NAMES.index(seat)) % 3]


async def test_privacy_roles_seer_results_and_the_pack_channel_over_many_matches() -> None:
    g0 = WerewolfEnv()
    tasks = [t for d in LEVELS for t in g0.tasks("test", 12, seed=9, difficulty=d)]
    checked = 0
    for k, task in enumerate(tasks):
        g, seen = await play(task, SIMPLE if k % 2 else mixed(k), seed=k)
        roles = g.roles
        public: set[str] | None = None
        for seat, msgs in seen.items():
            role = roles[seat]
            death = _step_of_death(seen, seat) if seat in {d.seat for d in g.deaths} else None
            told = [
                (n, m)
                for n, m in msgs
                if m.role in ("user", "tool") and not m.content.startswith("Game over")
            ]
            for n, m in told:
                t = m.content
                checked += 1
                if PACK in t:  # the pack channel reaches living werewolves only
                    assert role == "werewolf" and (death is None or n <= death), (seat, t)
                if "Inspection, night" in t:
                    assert role == "seer" and m.role == "tool"
                if "Your role:" in t:
                    assert t.startswith(f"Your role: {role}.")
                if "fellow werewolves" in t:
                    assert role == "werewolf"
                if role != "seer" and ' says: "' not in t:  # players may claim anything in speeches
                    for other in roles:
                        assert not any(
                            f"{other} {x}" in t for x in ("IS a", "is NOT", "is a were", "is not a")
                        )
            mod = {m.content for _, m in told if m.role == "user" and ' says: "' not in m.content}
            public = mod if public is None else public & mod
        assert public
        for t in public:  # what every seat was told never shows a night move
            assert not any(
                w in t for w in ("votes to kill", "attacks", "protect", "inspect", "Inspection")
            ), t
        for d in g.deaths:  # the dead hear only what everyone hears, and speeches
            after = _step_of_death(seen, d.seat)
            for n, m in seen[d.seat]:
                if n > after and m.role == "user" and not m.content.startswith("Game over"):
                    assert m.content in public or ' says: "' in m.content, (d.seat, m.content)
    assert checked > 5000


def _step_of_death(seen: dict[str, list[tuple[int, Message]]], seat: str) -> int:
    return next(
        n
        for n, m in seen[seat]
        if m.content.startswith(("You are dead", "You have been eliminated", f"{seat} forfeits"))
    )


async def test_plain_villagers_hear_nothing_during_the_night() -> None:
    g0 = WerewolfEnv()
    for k, task in enumerate(g0.tasks("test", 6, seed=3, difficulty=3)):
        g, seen = await play(task, mixed(k), seed=k)
        for seat, msgs in seen.items():
            if g.roles[seat] != "villager":
                continue
            at_night = False
            for _, m in msgs:
                if m.content.startswith("Night "):
                    at_night = True
                elif " dawns. " in m.content or m.content.startswith("Game over"):
                    at_night = False
                else:
                    assert not at_night, (seat, m.content)


async def test_same_task_and_seeds_give_identical_transcripts() -> None:
    task = WerewolfEnv().tasks("test", 1, seed=8, difficulty=3)[0]
    lineup = mixed(1)
    runs = []
    for seed in (5, 5, 6):
        g, seen = await play(task, lineup, seed=seed)
        runs.append((json.dumps({s: [render(m) for _, m in msgs] for s, msgs in seen.items()}), g.result()))
    assert runs[0] == runs[1] and runs[0][0] != runs[2][0]


def test_transcripts_do_not_depend_on_the_hash_seed() -> None:
    script = (
        "import asyncio, hashlib, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_werewolf import WerewolfEnv, mixed, play, render\n"
        "h = hashlib.sha256()\n"
        "for k, t in enumerate(WerewolfEnv().tasks('test', 2, seed=1)):\n"
        "    g, seen = asyncio.run(play(t, mixed(k), seed=k))\n"
        "    for s in sorted(seen):\n"
        "        for _, m in seen[s]: h.update(render(m).encode())\n"
        "print(h.hexdigest())\n"
    )
    here = os.path.dirname(__file__)
    digests = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        r = subprocess.run(
            [sys.executable, "-c", script, here], capture_output=True, text=True, env=env, timeout=120
        )
        assert r.returncode == 0, r.stderr
        digests.append(r.stdout.strip())
    assert digests[0] == digests[1]


def village_win_rate(tasks: list[Task], lineup: Lineup) -> float:
    import asyncio

    async def run() -> float:
        wins = 0
        for k, t in enumerate(tasks):
            g, _ = await play(t, lineup, seed=k)
            wins += g.winner == "village"
        return wins / len(tasks)

    return asyncio.run(run())


def test_role_aware_bots_beat_random_ones() -> None:
    g = WerewolfEnv()
    tasks = [t for d in (1, 2) for t in g.tasks("test", 40, seed=6, difficulty=d)]

    def lineup(village: str, wolves: str = "simple", **roles: str) -> Lineup:
        return {"werewolf": wolves, "seer": village, "doctor": village, "villager": village, **roles}

    simple = village_win_rate(tasks, lineup("simple"))
    rand = village_win_rate(tasks, lineup("random"))
    specials = village_win_rate(tasks, lineup("random", seer="simple", doctor="simple"))
    quiet_seer = village_win_rate(tasks, lineup("simple", seer="quiet"))
    weak_wolves = village_win_rate(tasks, lineup("simple", wolves="random"))
    # a seer who shares what it found, a doctor who guards it and villagers who listen win far more
    assert simple >= rand + 0.2 and simple >= quiet_seer + 0.15
    assert specials > rand  # seer and doctor bots alone already help a random village
    assert weak_wolves >= simple + 0.05  # coordinated werewolves who hunt the seer beat random ones


async def test_a_runner_match_with_bots_and_with_the_generic_random_player() -> None:
    task = WerewolfEnv().tasks("test", 1, seed=2, difficulty=2)[0]
    rec = await play_match(WerewolfEnv(), {}, task)
    assert rec.status == "done" and rec.result["winner_team"] in ("village", "werewolves", None)
    assert {s for s, sr in rec.seats.items() if sr.won == 1.0} == set(
        rec.result["winners"]
    ) or not rec.result["winners"]
    assert all(sr.player == "bot:simple" for sr in rec.seats.values())
    rec = await play_match(WerewolfEnv(), dict.fromkeys(range(7), "random"), task)
    assert rec.status == "done" and all(sr.invalid_actions == 0 for sr in rec.seats.values())


def test_result_is_json_serialisable_mid_game() -> None:
    import asyncio

    async def run() -> dict[str, Any]:
        g = await start()
        await g.step({A: kill(E)})
        return g.result()

    r = asyncio.run(run())
    assert json.loads(json.dumps(r))["nights"] == 1 and r["winner_team"] is None
