"""Matches in the runner: any player in any seat, forfeits, round caps, per-seat records, resume."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from palaestra import (
    EnvSpec,
    Message,
    ModelError,
    MultiAgentEnv,
    Observation,
    Store,
    UsageError,
    action,
    register,
    tool,
)
from palaestra.models.mock import MockModel
from palaestra.play import play_game_terminal
from palaestra.policy import Agent, Policy
from palaestra.records import MatchRecord, placings, winners
from palaestra.runner.match import play_match
from palaestra.runner.players import parse_player
from palaestra.runner.tournament import MatchConfig, TournamentConfig, run_matches
from palaestra.types import Task
from test_multi import SealedBid


class Honest(Policy):
    """Bids its whole card: wins whenever it holds the highest card among honest bidders."""

    def __init__(self, game: Any, seat: str) -> None:
        self.game, self.seat = game, seat

    def choose(self, observation: Observation) -> Message:
        return action("bid", amount=self.game.card[self.seat])


class Low(Policy):
    def choose(self, observation: Observation) -> Message:
        return action("bid", amount=0)


class BotBid(SealedBid):
    """The tiny sealed-bid game of test_multi with two bots."""

    spec = EnvSpec(name="sealed-bid-bots-test", description="Bid with your card.", max_steps=10)

    def bots(self) -> dict[str, Any]:
        return {"honest": lambda g, s, seed: Honest(g, s), "low": lambda g, s, seed: Low()}


class Endless(MultiAgentEnv):
    """Two seats take turns passing forever: only the round cap ends it."""

    spec = EnvSpec(name="endless-test", description="Pass.", max_steps=7)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"n": rng.randrange(10**9)}

    def setup(self, task: Task) -> None:
        self.agents = ["x", "y"]
        self.moves = 0

    def acting(self) -> list[str]:
        return [self.agents[self.moves % 2]]

    def resolve(self) -> None:
        self.moves += 1

    @tool
    def pass_turn(self) -> str:
        """Pass."""
        return "passed"

    def bots(self) -> dict[str, Any]:
        return {"passer": lambda g, s, seed: _Passer()}


class _Passer(Policy):
    def choose(self, observation: Observation) -> Message:
        return action("pass_turn")


register(BotBid)
register(Endless)
GAME = "sealed-bid-bots-test"


class Crasher:
    async def reset(self, task: Task) -> None:
        pass

    async def act(self, observation: Observation) -> Message:
        raise RuntimeError("boom")


class Sleeper:
    async def reset(self, task: Task) -> None:
        pass

    async def act(self, observation: Observation) -> Message:
        await asyncio.sleep(30)
        return action("bid", amount=0)


class Cheater:
    """Always bids more than its card: every move is illegal."""

    async def reset(self, task: Task) -> None:
        pass

    async def act(self, observation: Observation) -> Message:
        return action("bid", amount=10**6)


def _factory(cls: type) -> Any:
    def make(game: MultiAgentEnv, seat: str, seed: int) -> Agent:
        return cls()  # type: ignore[no-any-return]

    return make


def _task(n: int = 0) -> Task:
    return BotBid().tasks("test", n + 1)[n]


async def test_bots_and_random_in_seats_by_name_and_index() -> None:
    task = _task()
    rec = await play_match(BotBid(), {"a": "bot:honest", 1: "low", "c": "random"}, task)
    assert rec.status == "done" and rec.rounds == 1
    assert rec.lineup == "a=bot:honest b=bot:low c=random"
    assert rec.seats["b"].steps[0].action.tool_calls[0].arguments == {"amount": 0}
    assert sum(rec.scores.values()) == 1.0
    assert sum(s.won for s in rec.seats.values()) == 1.0
    for s in rec.seats.values():  # each seat's step rewards add up to its score
        assert sum(st.reward for st in s.steps) == s.score


async def test_unnamed_seats_get_the_default_and_bad_names_are_usage_errors() -> None:
    rec = await play_match(BotBid(), {}, _task())
    assert [s.player for s in rec.seats.values()] == ["bot:honest"] * 3  # the game's first bot
    with pytest.raises(UsageError, match="unknown seat 'z'"):
        await play_match(BotBid(), {"z": "random"}, _task())
    with pytest.raises(UsageError, match=r"unknown player 'nope'.*honest, low"):
        await play_match(BotBid(), {"a": "nope"}, _task())
    with pytest.raises(UsageError, match="needs a model"):
        parse_player("tools:", {})


async def test_crashing_seat_forfeits_and_the_match_completes() -> None:
    rec = await play_match(BotBid(), {"a": _factory(Crasher), "b": "honest", "c": "honest"}, _task())
    assert rec.status == "done"
    a = rec.seats["a"]
    assert a.forfeit is not None and "crashed: RuntimeError: boom" in a.forfeit
    assert a.score == 0.0 and a.steps == []
    assert rec.seats["b"].score + rec.seats["c"].score == 1.0
    assert any("a forfeits" in m.content for m in rec.seats["b"].final + rec.seats["b"].steps[0].observation)


async def test_timing_out_seat_forfeits_within_the_move_limit() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    rec = await play_match(
        BotBid(), {"b": _factory(Sleeper), "a": "honest", "c": "honest"}, _task(), move_timeout=0.2
    )
    assert loop.time() - t0 < 5
    assert rec.status == "done" and rec.seats["b"].forfeit == "timed out after 0.2s"
    assert rec.seats["b"].score == 0.0


async def test_illegal_move_streak_forfeits() -> None:
    rec = await play_match(BotBid(), {"a": _factory(Cheater), "b": "low", "c": "low"}, _task())
    a = rec.seats["a"]
    assert rec.status == "done" and rec.rounds == 3
    assert a.forfeit == "3 illegal moves in a row" and a.invalid_actions == 3 and len(a.steps) == 3
    assert all(st.info["invalid_action"] for st in a.steps)
    assert "cannot bid more" in a.steps[1].observation[0].content  # the answer reached the seat


async def test_round_cap_truncates_a_game_that_never_ends() -> None:
    game = Endless()
    rec = await play_match(game, {}, game.tasks("test", 1)[0])
    assert rec.status == "truncated" and rec.rounds == 7
    assert len(rec.seats["x"].steps) == 4 and len(rec.seats["y"].steps) == 3
    rec = await play_match(Endless(), {}, game.tasks("test", 1)[0], max_steps=2)
    assert rec.rounds == 2


async def test_pending_messages_reach_a_seat_in_one_observation() -> None:
    """A turn-based seat gets everything it was told while the other moved, at its next move."""
    game = Endless()
    seen: list[Observation] = []

    class Spy(_Passer):
        def choose(self, observation: Observation) -> Message:
            seen.append(observation)
            return super().choose(observation)

    def spy(g: MultiAgentEnv, s: str, seed: int) -> Agent:
        return Spy()

    await play_match(game, {"y": spy}, game.tasks("test", 1)[0], max_steps=4)
    assert [m.role for m in seen[0].messages] == ["system"]
    assert all(o.info == {"acting": True, "seat": "y"} for o in seen)
    assert [m.content for m in seen[1].messages] == ["passed"]  # y's own answer, and nothing of x's


async def test_llm_agent_in_a_seat_via_mock_model(tmp_path: Path) -> None:
    prompts: list[list[Message]] = []

    def script(messages: list[Message], tools: Any) -> dict[str, Any]:
        prompts.append(messages)
        assert tools and tools[0].name == "bid"
        return {"tool": "bid", "arguments": {"amount": 1}}

    models = {"mock:bidder": MockModel(script)}
    config = MatchConfig(game=GAME, seats={"a": "tools:mock:bidder", "b": "react:mock:x"}, tasks=2)
    react = MockModel(['Thought: low\nAction: bid({"amount": 0})'], cycle=True)
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st, models={**models, "mock:x": react})
        ms = st.matches(rid)
        assert len(ms) == 2 and all(m["status"] == "done" for m in ms)
        seats = {s["seat"]: s for s in ms[0]["seats"]}
        assert seats["a"]["player"] == "tools:mock:bidder" and seats["a"]["model_calls"] == 1
        assert seats["b"]["model_calls"] == 1 and seats["c"]["model_calls"] == 0
        ep = st.match(rid, ms[0]["id"])
        assert ep["model"] == "mock:bidder,mock:x"
        assert sorted(c["seat"] for c in ep["calls"]) == ["a", "b"]
        card_a = ep["steps"][0]["observation"][1]["content"]
        assert card_a in [m.content for m in prompts[0]]  # the seat's agent saw its own card


async def test_stored_seats_see_only_their_own_private_information(tmp_path: Path) -> None:
    config = MatchConfig(game=GAME, seats={"a": "random", "b": "low"}, default="honest", tasks=3)
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st)
        for m in st.matches(rid):
            ep = st.match(rid, m["id"])
            cards = dict(zip(["a", "b", "c"], ep["task"]["params"]["cards"], strict=True))
            by_seat: dict[str, list[str]] = {s: [] for s in cards}
            for step in ep["steps"]:
                by_seat[step["seat"]] += [msg["content"] for msg in step["observation"]]
            for seat in ep["seats"]:
                by_seat[seat["seat"]] += [msg["content"] for msg in seat["final"]]
            for seat, texts in by_seat.items():
                text = "\n".join(texts)
                assert f"Your secret card is {cards[seat]}." in text
                for other, card in cards.items():
                    if other != seat:
                        assert f"secret card is {card}." not in text
                assert "wins with" in text  # the public result reached everyone
            assert ep["result"] == {"scores": {s["seat"]: s["score"] for s in ep["seats"]}}
            assert [s["idx"] for s in ep["seats"]] == [0, 1, 2]


async def test_match_run_resume_plays_only_missing_matches(tmp_path: Path) -> None:
    config = MatchConfig(game=GAME, seats={"a": "random"}, tasks=6, concurrency=1)
    played: list[str] = []

    class Stop(Exception):
        pass

    def stop_after_two(rec: MatchRecord, stats: Any) -> None:
        played.append(rec.id)
        if len(played) == 2:
            raise Stop

    with Store(tmp_path / "s.db") as st:
        with pytest.raises(Stop):
            await run_matches(config, st, run_id="r1", on_match=stop_after_two)
        assert len(st.finished_episode_ids("r1")) == 2
        again: list[str] = []
        await run_matches(config, st, run_id="r1", resume=True, on_match=lambda r, s: again.append(r.id))
        assert len(again) == 4 and not set(again) & set(played)
        assert len(st.matches("r1")) == 6 and st.run("r1")["status"] == "finished"


def test_winners_and_placings() -> None:
    assert winners({}, {"a": 1.0, "b": 0.0}) == {"a": 1.0, "b": 0.0}
    assert winners({}, {"a": 1.0, "b": 1.0}) == {"a": 0.5, "b": 0.5}  # a draw
    assert winners({}, {"a": 1.0, "b": 1.0, "c": 0.0}) == {"a": 0.5, "b": 0.5, "c": 0.0}  # shared top
    assert winners({"winners": ["b", "c"]}, {"a": 5.0, "b": 0.0, "c": 0.0}) == {"a": 0, "b": 1, "c": 1}
    assert winners({"winner": "a"}, {"a": 0.0, "b": 3.0}) == {"a": 1.0, "b": 0.0}  # the game's word
    assert winners({"winner": None}, {"a": 0.0, "b": 3.0}) == {"a": 0.0, "b": 1.0}  # none named: scores
    assert winners({"winner": "wolves"}, {"a": 1.0, "b": 0.0}) == {"a": 1.0, "b": 0.0}  # not a seat
    scores = {"a": 0.0, "b": 5.0, "c": 5.0, "d": 1.0}
    assert placings({"a": 1.0}, scores) == {"a": 0, "b": 1, "c": 1, "d": 2}


async def test_a_person_plays_a_seat_from_the_terminal() -> None:
    from rich.console import Console

    task = BotBid().tasks("train", 1)[0]
    lines = iter(["help", "fly", "bid 0"])
    console = Console(record=True, width=200)
    rec = await play_game_terminal(
        GAME, "b", against="low", console=console, input_fn=lambda prompt: next(lines)
    )
    text = console.export_text()
    assert rec.status == "done" and rec.task.id == task.id
    assert rec.seats["b"].player == "human" and rec.seats["b"].forfeit is None
    assert f"Your secret card is {task.params['cards'][1]}." in text
    assert "bid(amount: integer)" in text and "unknown command 'fly'" in text
    assert "wins with" in text

    quitting = iter(["quit"])
    rec = await play_game_terminal(
        GAME, "0", console=Console(record=True), input_fn=lambda prompt: next(quitting)
    )
    assert rec.seats["a"].forfeit == "left the game" and rec.status == "done"


def test_cli_match_and_tournament_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from palaestra.cli import app

    db = str(tmp_path / "s.db")
    runner = CliRunner()
    r = runner.invoke(
        app, ["match", GAME, "--seat", "a=random", "--seat", "1=low", "-n", "3", "--store", db, "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["kind"] == "match" and out["matches"] == 3 and set(out["seats"]) == {"a", "b", "c"}
    r = runner.invoke(
        app,
        [
            "tournament",
            GAME,
            "--players",
            "honest",
            "low",
            "random",
            "--rounds",
            "2",
            "--store",
            db,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["matches"] == 6 and out["players"][0]["player"] == "bot:honest"
    rid = out["run_id"]
    r = runner.invoke(app, ["tournament", "--resume", rid, "--store", db, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["matches"] == 6
    r = runner.invoke(app, ["tournament", GAME, "--players", "honest", "--store", db])
    assert r.exit_code != 0 and "at least two players" in str(r.exception)
    assert TournamentConfig.model_validate(Store(tmp_path / "s.db").run(rid)["config"]).rounds == 2


def test_a_schema_1_store_migrates_and_keeps_its_episodes(tmp_path: Path) -> None:
    import sqlite3

    from palaestra.store.schema import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
    con.execute("PRAGMA user_version=1")
    con.execute("INSERT INTO runs VALUES ('r', 0, 0, 'finished', '{}', NULL)")
    row = ("r", "e", "guess", "t", "test", 1, 0, "expert", "", "done", 1.0, 1, 1.0, 1, 0, 0, 0, 0, 0.0)
    con.execute(
        f"INSERT INTO episodes VALUES ({','.join('?' * 25)})", (*row, None, 0.1, None, "{}", "[]", 0.0)
    )
    con.execute(
        "INSERT INTO model_calls VALUES ('r', 'e', 0, 1, 2, 0.1, 0, NULL, NULL, NULL, NULL, NULL, NULL)"
    )
    con.commit()
    con.close()
    with Store(path) as st:
        assert [e["id"] for e in st.episodes("r")] == ["e"] and st.matches("r") == []
        assert st.model_calls("r", "e")[0]["output_tokens"] == 2
        assert st.con.execute("SELECT seat FROM model_calls").fetchone() == ("",)


async def test_a_model_seat_is_reset_without_the_tasks_hidden_params(tmp_path: Path) -> None:
    from palaestra import register_agent
    from palaestra.agents.tools import ChatAgent

    seen: list[Any] = []

    class Spy(ChatAgent):
        async def reset(self, task: Any) -> None:
            seen.append(task)
            await super().reset(task)

    register_agent("seat-spy-test", lambda *, env, model, seed, **kw: Spy(model), needs_model=True)
    bids = MockModel([{"tool": "bid", "arguments": {"amount": 0}}], cycle=True)
    config = MatchConfig(game=GAME, seats={"a": "seat-spy-test:mock:b"}, tasks=1)
    with Store(tmp_path / "s.db") as st:
        await run_matches(config, st, models={"mock:b": bids})
    assert len(seen) == 1 and seen[0].params == {}  # the cards of every seat are in the params


async def test_a_seats_unstorable_reply_is_an_invalid_move_not_a_failed_match(tmp_path: Path) -> None:
    """What a model sends in a match is cleaned where it enters, as in single-agent runs: a react
    Action nested too deep and a lone surrogate leave a stored, finished match."""
    deep = '{"amount": ' + "[" * 600 + "]" * 600 + "}"
    react = MockModel([f"Thought: \ud83d\nAction: bid({deep})"], cycle=True)
    config = MatchConfig(game=GAME, seats={"b": "react:mock:x"}, tasks=1)
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st, models={"mock:x": react})
        (m,) = st.matches(rid)
        assert m["status"] == "done", m
        seat = {s["seat"]: s for s in m["seats"]}["b"]
        assert seat["invalid_actions"] >= 1
        action_ = next(s["action"] for s in st.match(rid, m["id"])["steps"] if s["seat"] == "b")
        assert (
            action_["content"].startswith("Thought: \ufffd")
            and "deeper than" in action_["tool_calls"][0]["parse_error"]
        )


async def test_a_match_whose_model_server_failed_is_an_error_that_resume_plays_again(tmp_path: Path) -> None:
    """A seat that forfeits because its model server failed (after retries) did not play badly: the
    match is stored as an error of the server's, counts for no rating, and --resume plays it again."""
    server = {"up": False}

    def bidder(messages: list[Message], tools: Any) -> Any:
        if not server["up"]:
            return ModelError("HTTP 503: overloaded", status=503, retries=6)
        return {"tool": "bid", "arguments": {"amount": 1}}

    config = MatchConfig(game=GAME, seats={"a": "tools:mock:x"}, tasks=2, concurrency=1)
    with Store(tmp_path / "s.db") as st:
        rid = await run_matches(config, st, models={"mock:x": MockModel(bidder)})
        first = st.matches(rid)
        assert [m["status"] for m in first] == ["error", "error"]
        assert all(m["error"].startswith("model: seat a: HTTP 503") for m in first)
        assert st.finished_episode_ids(rid) == set()
        server["up"] = True
        await run_matches(config, st, run_id=rid, resume=True, models={"mock:x": MockModel(bidder)})
        after = st.matches(rid)
        assert [m["id"] for m in after] == [m["id"] for m in first]
        assert [m["status"] for m in after] == ["done", "done"]
        assert all({s["seat"]: s for s in m["seats"]}["a"]["forfeit"] is None for m in after)
