"""Rule-based werewolf players. Each reads only what its own seat knows (``WerewolfEnv.view``).

Roles are dealt by the task, so every bot plays whichever role its seat gets:

- ``simple``: plays its role by the book.
  - villager: votes for a werewolf named by the first player who claimed to be the seer, else at
    random among the players that claim did not clear (and not the claimant);
  - seer: inspects players it knows nothing about; once it has found a living werewolf it claims
    the seer publicly with all its results and votes for that werewolf;
  - doctor: protects the claimed seer (the first claimant) when it may, else itself, else someone
    at random; talks and votes like a villager;
  - werewolf: first sends the pack its plan, then votes to kill the claimed seer if there is one,
    else the pack's pick (the same for every ``simple`` werewolf); by day it accuses that pick (or
    the seer claimant who exposed a pack member) and votes for it with the rest of the pack.
- ``quiet``: the same night moves, but says nothing useful and ignores what others say: a seer
  votes for the werewolves it found, werewolves vote for the pack's pick, the rest at random.
- ``random``: a uniformly random legal move (speeches are stock lines, a vote may be a skip).

Speeches use plain sentences that the bots also parse: ``I am the seer. Chloe is a werewolf.
Bruno is not a werewolf. Vote Chloe.`` and ``I suspect Chloe.``
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, ClassVar

from palaestra import Agent, Message, Observation, Policy, Task, action

if TYPE_CHECKING:
    from palaestra import BotFactory, MultiAgentEnv
    from palaestra.envs.werewolf.env import WerewolfEnv
    from palaestra.envs.werewolf.records import SeatView

SEER_CLAIM = re.compile(r"\bI am the seer\b", re.IGNORECASE)
RESULT = re.compile(r"\b([A-Z][A-Za-z]*) is (not )?a werewolf\b")


def seer_claim(v: SeatView) -> tuple[str, dict[str, bool]] | None:
    """The first public seer claim: the claimant and every result it announced (player -> wolf)."""
    claimant: str | None = None
    results: dict[str, bool] = {}
    for sp in v.speeches:
        if not SEER_CLAIM.search(sp.text) or (claimant is not None and sp.seat != claimant):
            continue
        claimant = sp.seat
        for name, neg in RESULT.findall(sp.text):
            if name in v.players and name != claimant:
                results[name] = not neg
    return (claimant, results) if claimant is not None else None


def pack_pick(v: SeatView, purpose: str) -> str | None:
    """The pack's agreed target: a pseudo-random living non-werewolf drawn from public facts only,
    so every ``simple`` werewolf draws the same one without having to talk."""
    targets = sorted(s for s in v.alive if s not in v.pack)
    if not targets:
        return None
    return random.Random(f"{purpose}/{v.day}/{','.join(targets)}").choice(targets)


class WerewolfBot(Policy):
    """One seat of a werewolf match, whatever its role."""

    name: ClassVar[str] = ""

    def __init__(self, game: WerewolfEnv, seat: str, seed: int) -> None:
        self.game = game
        self.seat = seat
        self.seed = seed
        self.rng = random.Random(seed)

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        # deterministic per (bot seed, task, seat), different from one task to the next
        self.rng = random.Random(f"{self.seed}:{task.seed}:{self.seat}")

    def choose(self, observation: Observation) -> Message:
        v = self.game.view(self.seat)
        if v.phase == "night":
            return self.night(v)
        if v.phase == "talk":
            return action("say", text=self.speech(v))
        target = self.ballot(v)
        return action("vote", player=target) if target else action("skip")

    # ---- shared helpers --------------------------------------------------------------------------
    def others(self, v: SeatView) -> list[str]:
        return [s for s in v.alive if s != self.seat]

    def pick(self, seats: list[str]) -> str:
        return self.rng.choice(seats)

    def inspect_target(self, v: SeatView) -> str:
        known = {s for _, s, _ in v.inspections}
        fresh = [s for s in self.others(v) if s not in known]
        return self.pick(fresh or self.others(v))

    def protect_target(self, v: SeatView) -> str:
        claim = seer_claim(v)
        allowed = [s for s in v.alive if s != v.last_protected]
        if claim and claim[0] in allowed and claim[0] != self.seat:
            return claim[0]
        if self.seat in allowed:
            return self.seat
        return self.pick(allowed)

    def kill_target(self, v: SeatView) -> str:
        claim = seer_claim(v)
        if claim and claim[0] in v.alive and claim[0] not in v.pack:
            return claim[0]
        pick = pack_pick(v, "kill")
        assert pick is not None  # the game is over once no non-werewolf is left
        return pick

    def night(self, v: SeatView) -> Message:
        if v.role == "werewolf":
            return action("kill", player=self.kill_target(v))
        if v.role == "seer":
            return action("inspect", player=self.inspect_target(v))
        return action("protect", player=self.protect_target(v))

    def speech(self, v: SeatView) -> str:
        raise NotImplementedError

    def ballot(self, v: SeatView) -> str | None:
        raise NotImplementedError


class Simple(WerewolfBot):
    name = "simple"

    def night(self, v: SeatView) -> Message:
        living_pack = [w for w in v.pack if w in v.alive]
        if v.role == "werewolf" and not v.pack_said and len(living_pack) > 1:
            return action("say", text=f"Let us kill {self.kill_target(v)} tonight.")
        return super().night(v)

    def exposed(self, v: SeatView) -> str | None:
        """Werewolves: the seer claimant if its claim names a living pack member."""
        claim = seer_claim(v)
        if not claim or claim[0] not in v.alive or claim[0] in v.pack:
            return None
        named = any(wolf and s in v.pack and s in v.alive for s, wolf in claim[1].items())
        return claim[0] if named else None

    def accused(self, v: SeatView) -> list[str]:
        """Village: the living players the trusted seer claim names as werewolves."""
        claim = seer_claim(v)
        if not claim:
            return []
        return [s for s in v.alive if claim[1].get(s) and s != self.seat]

    def speech(self, v: SeatView) -> str:
        if v.role == "werewolf":
            claimant = self.exposed(v)
            if claimant:
                return f"{claimant} is lying about being the seer. I suspect {claimant}."
            return f"I suspect {pack_pick(v, 'day')}."
        if v.role == "seer":
            wolves = [s for _, s, wolf in v.inspections if wolf and s in v.alive]
            claimed = any(sp.seat == self.seat and SEER_CLAIM.search(sp.text) for sp in v.speeches)
            if wolves or claimed:
                found = " ".join(
                    f"{s} is {'' if wolf else 'not '}a werewolf." for _, s, wolf in v.inspections
                )
                return f"I am the seer. {found}" + (f" Vote {wolves[0]}." if wolves else "")
            return "I have nothing to report yet."
        accused = self.accused(v)
        claim = seer_claim(v)
        if accused and claim:
            return f"I believe {claim[0]}. Let us vote {accused[0]}."
        return "I have no information yet."

    def ballot(self, v: SeatView) -> str | None:
        if v.role == "werewolf":
            return self.exposed(v) or pack_pick(v, "day")
        if v.role == "seer":
            wolves = [s for _, s, wolf in v.inspections if wolf and s in v.alive]
            if wolves:
                return wolves[0]
            cleared = {s for _, s, wolf in v.inspections if not wolf}
            return self.pick([s for s in self.others(v) if s not in cleared] or self.others(v))
        accused = self.accused(v)
        if accused:
            return accused[0]
        claim = seer_claim(v)
        trusted = set() if not claim else {claim[0]} | {s for s, wolf in claim[1].items() if not wolf}
        return self.pick([s for s in self.others(v) if s not in trusted] or self.others(v))


class Quiet(WerewolfBot):
    name = "quiet"

    def speech(self, v: SeatView) -> str:
        return "I have nothing to add."

    def ballot(self, v: SeatView) -> str | None:
        if v.role == "werewolf":
            return pack_pick(v, "day")
        if v.role == "seer":
            wolves = [s for _, s, wolf in v.inspections if wolf and s in v.alive]
            if wolves:
                return wolves[0]
        return self.pick(self.others(v))


class RandomPlayer(WerewolfBot):
    name = "random"

    def choose(self, observation: Observation) -> Message:
        moves = self.game.valid_actions(self.seat)
        if not moves:  # not this seat's turn: a harmless move the game will refuse
            return action("skip")
        return Message(role="assistant", tool_calls=[self.rng.choice(moves)])


def _factory(cls: type[WerewolfBot]) -> BotFactory:
    def make(game: MultiAgentEnv, seat: str, seed: int) -> Agent:
        from palaestra.envs.werewolf.env import WerewolfEnv

        if not isinstance(game, WerewolfEnv):
            raise TypeError(f"{cls.name} plays werewolf, not {type(game).__name__}")
        return cls(game, seat, seed)

    return make


BOTS: dict[str, BotFactory] = {cls.name: _factory(cls) for cls in (Simple, Quiet, RandomPlayer)}
