"""Rule-based players for the undercover games. Each reads only what its own seat knows
(``UndercoverEnv.view``: the public record, its own word, and its role where the variant tells it).

They know the shipped word pairs and their attributes (``pairs.tsv``), as a person knows what words
mean: a player holding "coffee" knows that the other word of its pair is "tea", but not which of the
two is the civilians' word. They describe with one attribute of a word, and read descriptions by the
attributes they mention.

- ``reasoner``: weighs who sounds like its own word and who like the other word of its pair (seats
  whose role was revealed count more) to work out whether it is the undercover agent. Believing it
  is a civilian it describes with an attribute of its own word only; believing it is the undercover
  it blends in with an attribute of the other word; unsure, it uses an attribute both words share
  (its first description is bold or cautious at random). It votes for the seat whose descriptions
  best match the other word rather than its own. In the chameleon game a civilian describes with an
  attribute the secret word shares with its pair's other word (a decoy on the card) and votes for the
  seat whose descriptions fit the secret word least; a chameleon ranks the card's words by the
  descriptions heard, describes with an unused attribute of the best-ranked ones, and guesses the best.
- ``suspicious``: always cautious (attributes both words share); votes for the seat whose
  descriptions overlap least with its own word's attributes, preferring among equals a seat that
  voted for it. As a chameleon it describes and guesses like ``reasoner`` and votes for the seat
  whose descriptions fit its best-ranked card words least.
- ``random``: describes with a random shared attribute (a chameleon: a random attribute of a random
  card word), votes for a random candidate and guesses a random card word.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from palaestra import Agent, Message, Observation, Policy, Task, action
from palaestra.envs.undercover import lexicon

if TYPE_CHECKING:
    from palaestra import BotFactory, MultiAgentEnv
    from palaestra.envs.undercover.env import UndercoverEnv
    from palaestra.envs.undercover.record import SeatView

TEMPLATES = ("{a}.", "It makes me think of {a}.", "Something to do with {a}.", "{a}, I would say.")
TEMPLATE_WORDS = frozenset(w for t in TEMPLATES for w in lexicon.tokens(t.replace("{a}", "")))
BOLD_OPENING = 0.5
"""How often ``reasoner`` opens with an attribute of its own word only, before any evidence."""
SURE = 2.0
"""Belief score from which ``reasoner`` is sure of its side."""


class UndercoverBot(Policy):
    name: ClassVar[str] = ""

    def __init__(self, game: UndercoverEnv, seat: str, seed: int) -> None:
        self.game = game
        self.seat = seat
        self.seed = seed
        self.rng = random.Random(seed)

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.rng = random.Random(f"{self.seed}:{task.seed}:{self.seat}")

    def choose(self, observation: Observation) -> Message:
        v = self.game.view(self.seat)
        if v.phase == "vote":
            return action("vote", f"call_vote_{v.round}", seat=self.vote(v))
        if v.phase == "guess":
            return action("guess_word", "call_guess", word=self.guess(v))
        return action("describe", f"call_describe_{v.round}", text=self.say(self.describe(v)))

    # ---- what a bot decides --------------------------------------------------------------------
    def describe(self, v: SeatView) -> str:
        raise NotImplementedError

    def vote(self, v: SeatView) -> str:
        raise NotImplementedError

    def guess(self, v: SeatView) -> str:
        return self.pick(card_scores(v), max) if v.card else "?"

    # ---- helpers -------------------------------------------------------------------------------
    def say(self, attribute: str) -> str:
        text = self.rng.choice(TEMPLATES).format(a=attribute)
        return text[0].upper() + text[1:]

    def pick(self, scores: dict[str, float], best: Callable[[Iterable[float]], float] = max) -> str:
        """A key with the best score, ties broken at random."""
        top = best(scores.values())
        return self.rng.choice(sorted(k for k, s in scores.items() if s == top))

    def fresh(self, v: SeatView, options: Iterable[str]) -> str:
        """A random option nobody has said yet (any option when all were said)."""
        opts = sorted(set(options))
        used = said_attributes(v, opts)
        unused = [o for o in opts if o not in used]
        return self.rng.choice(unused or opts) if opts else "something"


def said_attributes(v: SeatView, attributes: Sequence[str]) -> set[str]:
    return {a for d in v.descriptions for a in lexicon.matches(d.text, tuple(attributes))}


def card_scores(v: SeatView) -> dict[str, float]:
    """How well each card word fits what the others said (for a player without the word)."""
    others = [d.text for d in v.descriptions if d.seat != v.seat]
    return {c: float(sum(len(lexicon.matches(t, lexicon.attributes(c))) for t in others)) for c in v.card}


def chameleon_attribute(bot: UndercoverBot, v: SeatView) -> str:
    """An unused attribute held by as many of the best-fitting card words as possible."""
    scores = card_scores(v)
    top = max(scores.values(), default=0.0)
    best = [c for c in v.card if scores[c] == top]
    pool = sorted({a for c in v.card for a in lexicon.attributes(c)})
    if not pool:
        return "something"
    used = said_attributes(v, pool)
    weight = {
        a: (sum(a in lexicon.attributes(c) for c in best), sum(a in lexicon.attributes(c) for c in v.card))
        for a in pool
    }
    options = [a for a in pool if a not in used] or pool
    top_w = max(weight[a] for a in options)
    return bot.rng.choice([a for a in options if weight[a] == top_w])


class Evidence:
    """How each seat's descriptions read to a seat holding ``word`` (undercover variant)."""

    def __init__(self, v: SeatView) -> None:
        self.v = v
        pair = lexicon.by_word().get(v.word or "")
        self.pair = pair
        self.other = pair.other(v.word) if pair and v.word else None
        self.score: dict[str, float] = {s: 0.0 for s in v.players if s != v.seat}
        """> 0: sounds like the other word; < 0: like this seat's own word."""
        self.any_evidence = False
        if pair is None or v.word is None or self.other is None:
            return
        mine, theirs = pair.own(v.word), pair.own(self.other)
        for d in v.descriptions:
            if d.seat == v.seat:
                continue
            e = len(lexicon.matches(d.text, theirs)) - len(lexicon.matches(d.text, mine))
            e += 2 * lexicon.mentions(d.text, self.other) - 2 * lexicon.mentions(d.text, v.word)
            self.score[d.seat] += e
            self.any_evidence |= e != 0

    def belief(self) -> float:
        """> 0: this seat is probably the undercover agent; < 0: probably a civilian."""
        b = 0.0
        for s, e in self.score.items():
            sign = (e > 0) - (e < 0)
            role = self.v.revealed.get(s)
            if role is None:
                b += sign
            else:  # a revealed civilian sounding like the other word: that word is the civilians'
                b += 3 * sign * (1 if role == "civilian" else -1)
        return b


class Reasoner(UndercoverBot):
    name = "reasoner"

    def describe(self, v: SeatView) -> str:
        if v.variant == "chameleon":
            if v.word is None:
                return chameleon_attribute(self, v)
            pair = lexicon.by_word().get(v.word)
            if pair is None:
                return "something"
            return self.fresh(v, pair.shared)  # the decoy on the card fits these as well
        ev = Evidence(v)
        if ev.pair is None or v.word is None or ev.other is None:
            return "something"
        b = ev.belief()
        if b >= SURE:
            return self.fresh(v, ev.pair.own(ev.other))
        if b <= -1 or (not ev.any_evidence and (v.round > 1 or self.rng.random() < BOLD_OPENING)):
            return self.fresh(v, ev.pair.own(v.word))
        return self.fresh(v, ev.pair.shared)

    def vote(self, v: SeatView) -> str:
        if v.variant == "chameleon":
            return self.pick(fit(v, target_attributes(v)), min if v.word else max)
        ev = Evidence(v)
        return self.pick({c: ev.score.get(c, 0.0) for c in v.candidates})


def target_attributes(v: SeatView) -> tuple[str, ...]:
    """The attributes of the secret word as this seat knows it (a chameleon: of the best-fitting
    card words)."""
    if v.word is not None:
        return lexicon.attributes(v.word)
    scores = card_scores(v)
    top = max(scores.values(), default=0.0)
    return tuple(a for c in v.card if scores[c] == top for a in lexicon.attributes(c))


def fit(v: SeatView, attributes: Sequence[str]) -> dict[str, float]:
    """Each candidate's mean number of ``attributes`` per description (0 for one who said nothing)."""
    out: dict[str, float] = {}
    for c in v.candidates:
        texts = [d.text for d in v.descriptions if d.seat == c]
        out[c] = sum(len(lexicon.matches(t, tuple(attributes))) for t in texts) / len(texts) if texts else 0.0
    return out


class Suspicious(UndercoverBot):
    name = "suspicious"

    def describe(self, v: SeatView) -> str:
        if v.word is None:
            return chameleon_attribute(self, v)
        pair = lexicon.by_word().get(v.word)
        return self.fresh(v, pair.shared) if pair else "something"

    def vote(self, v: SeatView) -> str:
        overlap = fit(v, target_attributes(v))
        low = min(overlap.values())
        lowest = [c for c in v.candidates if overlap[c] == low]
        last = v.ballots[-1].votes if v.ballots else {}
        grudges = [c for c in lowest if last.get(c) == self.seat]
        return self.rng.choice(grudges or lowest)


class RandomPlayer(UndercoverBot):
    name = "random"

    def describe(self, v: SeatView) -> str:
        if v.word is None:
            words = [c for c in v.card if lexicon.attributes(c)]
            return self.rng.choice(lexicon.attributes(self.rng.choice(words))) if words else "something"
        pair = lexicon.by_word().get(v.word)
        return self.rng.choice(pair.shared) if pair else "something"

    def vote(self, v: SeatView) -> str:
        return self.rng.choice(v.candidates)

    def guess(self, v: SeatView) -> str:
        return self.rng.choice(v.card) if v.card else "?"


def _factory(cls: type[UndercoverBot]) -> BotFactory:
    def make(game: MultiAgentEnv, seat: str, seed: int) -> Agent:
        from palaestra.envs.undercover.env import UndercoverEnv

        if not isinstance(game, UndercoverEnv):
            raise TypeError(f"{cls.name} plays the undercover games, not {type(game).__name__}")
        return cls(game, seat, seed)

    return make


BOTS: dict[str, BotFactory] = {cls.name: _factory(cls) for cls in (Reasoner, Suspicious, RandomPlayer)}
