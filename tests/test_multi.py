"""The MultiAgentEnv engine on a small sealed-bid game: turns, privacy, rewards, forfeits."""

import random
from typing import Any

from palaestra import EnvSpec, Message, MultiAgentEnv, Task, ToolCall, ToolError, tool


class SealedBid(MultiAgentEnv):
    """Each seat holds a private card; all bid at once; the highest bid wins the round."""

    spec = EnvSpec(name="sealed-bid-test", description="Bid with your card.", max_steps=10)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"cards": [rng.randrange(1000) for _ in range(3)]}

    def setup(self, task: Task) -> None:
        self.agents = ["a", "b", "c"]
        self.card = dict(zip(self.agents, task.params["cards"], strict=True))
        self.bids: dict[str, int] = {}
        for s in self.agents:
            self.tell(f"Your secret card is {self.card[s]}.", to=s)
        self.tell("Round 1: everyone bids.")

    def acting(self) -> list[str]:
        return [s for s in self.alive() if s not in self.bids]

    @tool
    def bid(self, amount: int) -> str:
        """Bid an amount no larger than your card.

        Args:
            amount: the bid.
        """
        if amount > self.card[self.seat]:
            raise ToolError("you cannot bid more than your card")
        self.bids[self.seat] = amount
        return f"you bid {amount}"

    def resolve(self) -> None:
        if not self.acting():
            winner = max(self.bids, key=lambda s: (self.bids[s], s))
            self.tell(f"{winner} wins with {self.bids[winner]}.")
            self.finish({s: 1.0 if s == winner else 0.0 for s in self.agents})


def _bid(n: int) -> Message:
    return Message(role="assistant", tool_calls=[ToolCall(id="c", name="bid", arguments={"amount": n})])


async def test_private_information_reaches_only_its_seat() -> None:
    g = SealedBid()
    task = g.tasks("test", 1)[0]
    obs = await g.reset(task)
    cards = task.params["cards"]
    for i, seat in enumerate(g.agents):
        text = "\n".join(m.content for m in obs[seat].messages)
        assert f"secret card is {cards[i]}" in text
        assert all(f"secret card is {c}" not in text for j, c in enumerate(cards) if j != i)
        assert obs[seat].info["acting"]
    steps = await g.step({"a": _bid(cards[0] + 1)})  # illegal: answered to a only
    assert (
        steps["a"].info["invalid_action"] and "cannot bid more" in steps["a"].observation.messages[0].content
    )
    assert "b" not in steps and "c" not in steps  # nothing happened that b or c may see
    assert g.invalid_streak["a"] == 1
    steps = await g.step({s: _bid(c) for s, c in zip(g.agents, cards, strict=True)})
    winner = g.agents[max(range(3), key=lambda i: (cards[i], g.agents[i]))]
    assert all(st.terminated for st in steps.values())
    assert steps[winner].reward == 1.0 and sum(st.reward for st in steps.values()) == 1.0
    for seat, st in steps.items():  # the result is public; others' bid answers are not
        texts = [m.content for m in st.observation.messages]
        assert any("wins with" in t for t in texts)
        assert [t for t in texts if t.startswith("you bid")] == [f"you bid {g.bids[seat]}"]


async def test_moves_out_of_turn_are_refused_and_forfeit_ends_the_game() -> None:
    g = SealedBid()
    await g.reset(g.tasks("test", 1)[0])
    await g.step({"a": _bid(0)})
    steps = await g.step({"a": _bid(0)})  # a already moved this round
    assert steps["a"].info["invalid_action"] and "not your turn" in steps["a"].observation.messages[0].content
    g.forfeit("b", "timed out")
    g.forfeit("c", "crashed")
    assert g.done and g.scores["a"] == 1.0 and g.scores["b"] == 0.0


async def test_apply_forfeit_delivers_rewards_and_news_like_a_step() -> None:
    g = SealedBid()
    await g.reset(g.tasks("test", 1)[0])
    first = await g.apply_forfeit("b", "timed out")
    assert "b" in first and first["b"].terminated and not g.done
    assert any("b forfeits" in m.content for m in first["a"].observation.messages)
    last = await g.apply_forfeit("c", "crashed")
    assert g.done and last["a"].reward == 1.0 and last["a"].terminated and last["c"].reward == 0.0


async def test_the_runner_contract_names_who_moves_and_who_is_over_the_invalid_limit() -> None:
    g = SealedBid()
    await g.reset(g.tasks("test", 1)[0])
    await g.apply_forfeit("b", "timed out")
    assert g.to_move() == ["a", "c"]  # b is out of the game
    for _ in range(g.max_invalid - 1):
        await g.step({"a": _bid(10**6)})
    assert g.over_invalid_limit() == []
    await g.step({"a": _bid(10**6)})
    assert g.over_invalid_limit() == ["a"]
    assert g.over_invalid_limit() == []  # the count starts again
    assert g.valid_actions("a") is None


class RoundRobin(MultiAgentEnv):
    """Three seats pass in turn; the game ends after six passes."""

    spec = EnvSpec(name="round-robin-test", description="Pass in turn.", max_steps=20)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"n": rng.randrange(10**9)}

    def setup(self, task: Task) -> None:
        self.agents = ["x", "y", "z"]
        self.passes = 0

    def acting(self) -> list[str]:
        return [self.alive()[self.passes % len(self.alive())]]

    @tool
    def pass_turn(self) -> str:
        """Pass."""
        self.passes += 1
        if self.passes == 6:
            self.finish()
        return "passed"


async def test_a_forfeit_is_told_to_the_other_seats_before_their_next_move() -> None:
    from palaestra import Observation
    from palaestra.runner.match import play_match
    from test_match import Crasher  # imported here: test_match imports this module

    seen: list[str] = []

    class Passer:
        async def reset(self, task: Task) -> None:
            pass

        async def act(self, observation: Observation) -> Message:
            seen.append(observation.text)
            return Message(role="assistant", tool_calls=[ToolCall(id="p", name="pass_turn", arguments={})])

    g = RoundRobin()
    crash = lambda game, seat, seed: Crasher()  # noqa: E731
    passer = lambda game, seat, seed: Passer()  # noqa: E731
    rec = await play_match(g, {"x": crash, "y": passer, "z": passer}, g.tasks("test", 1)[0])
    assert rec.status == "done" and rec.seats["x"].forfeit
    assert "x forfeits" in seen[0]  # y's first move comes after x crashed
