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
