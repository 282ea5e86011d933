"""Undercover and Chameleon: secret words, rounds of one-line descriptions, then a vote.

Civilians share a secret word; the spies (undercover agents, or chameleons) have a related word or
none. Each round every player still in describes their word in turn (publicly), then all vote at
once; the most-voted player is eliminated and their role revealed. Civilians win by eliminating every
spy; spies win by reaching parity, by surviving the round cap or, as an eliminated chameleon, by
guessing the civilians' word. See README.md for the full rules.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any, ClassVar

from palaestra import BotFactory, EnvSpec, MultiAgentEnv, Task, ToolError, ToolResult, ToolSpec, tool
from palaestra.envs.undercover import lexicon, rules
from palaestra.envs.undercover.record import Ballot, Guess, Phase, Said, SeatView, VoteState, summary
from palaestra.envs.undercover.rules import MAX_CHARS, Variant, spy_name

_SEAT = re.compile(r"\bplayer\s*(\d+)\b", re.IGNORECASE)


class UndercoverEnv(MultiAgentEnv):
    VARIANT: ClassVar[Variant] = "undercover"
    spec = EnvSpec(
        name="undercover",
        description=(
            "Who is undercover? (MAgIC, SpyGame): civilians share a secret word, the undercover agents "
            "got a related one and do not know it; describe your word in turn, then vote someone out."
        ),
        max_steps=200,
        free_text=True,
        metrics=("winner_side", "civilian_win", "spy_win", "vote_accuracy", "spy_survival", "rounds_played"),
        tags=("multi-agent", "social-deduction", "language", "deception"),
    )

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return rules.generate(rng, difficulty, self.VARIANT)

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        s = self.cfg = rules.read(task.params)
        self.variant: Variant = s.variant
        self.agents = list(s.seats)
        self.role = {p: (spy_name(s.variant).split()[0] if p in s.spies else "civilian") for p in self.agents}
        self.word: dict[str, str | None] = {
            p: (s.spy_word if p in s.spies else s.civilian_word) for p in self.agents
        }
        self.round = 0
        self.phase: Phase = "describe"
        self.to_speak: list[str] = []
        self.prompted: tuple[int, str] | None = None
        self.said: list[Said] = []
        self.vote_state = VoteState()
        self.ballots: list[Ballot] = []
        self.gone: list[tuple[int, str]] = []
        self.guesses: list[Guess] = []
        self.pending_guess: Guess | None = None
        self.winner: str | None = None
        self.end_reason = ""
        self.illegal = {p: 0 for p in self.agents}
        k = len(s.spies)
        intro = f"{len(self.agents)} players: {', '.join(self.agents)}. "
        if self.variant == "undercover":
            intro += f"{k} of you got a different word from the rest ({spy_name(self.variant, k != 1)})."
            intro = f"Undercover. {intro}"
        else:
            intro = (
                f"Chameleon. {intro}{k} of you {'is a chameleon' if k == 1 else 'are chameleons'}. "
                f"Topic: {s.topic}. The secret word is one of the words on this card: {', '.join(s.card)}."
            )
        self.tell(intro)
        for p in self.agents:
            w = self.word[p]
            if self.variant == "undercover":
                self.tell(f'Your secret word is "{w}".', to=p)
            elif w is None:
                self.tell("You are a chameleon: you do not know the secret word.", to=p)
            else:
                self.tell(f'You are a civilian. The secret word is "{w}".', to=p)
        self._start_round()
        self._advance()

    def instructions(self, seat: str) -> str:
        return rules.instructions(self.cfg, seat, self.role[seat] if self.variant == "chameleon" else None)

    # ---- state ---------------------------------------------------------------------------------
    def is_spy(self, seat: str) -> bool:
        return self.role[seat] != "civilian"

    def in_game(self) -> list[str]:
        left = {s for _, s in self.gone} | self.out
        return [s for s in self.agents if s not in left]

    def acting(self) -> list[str]:
        if self.done:
            return []
        if self.phase == "describe":
            return self.to_speak[:1]
        if self.phase == "vote":
            return [s for s in self.in_game() if s not in self.vote_state.votes]
        if self.phase == "guess" and self.pending_guess and self.pending_guess.word is None:
            g = self.pending_guess.seat
            return [] if g in self.out else [g]
        return []

    def tool_specs(self, seat: str) -> list[ToolSpec]:
        if self.done:
            return []
        if self.phase == "guess":
            return _SPECS["guess"] if seat in self.acting() else []
        return _SPECS[self.phase] if seat in self.in_game() else []

    def view(self, seat: str) -> SeatView:
        left = {s for _, s in self.gone} | self.out
        cands = self.vote_state.candidates if self.phase == "vote" else []
        return SeatView(
            seat=seat,
            variant=self.variant,
            players=tuple(self.agents),
            in_game=tuple(self.in_game()),
            revealed={s: self.role[s] for s in self.agents if s in left},
            word=self.word[seat],
            role=self.role[seat] if self.variant == "chameleon" else None,
            topic=self.cfg.topic if self.variant == "chameleon" else None,
            card=tuple(self.cfg.card),
            spies=len(self.cfg.spies),
            round=self.round,
            rounds=self.cfg.rounds,
            phase=self.phase,
            descriptions=tuple(self.said),
            ballots=tuple(self.ballots),
            candidates=tuple(c for c in cands if c != seat),
        )

    # ---- moves ---------------------------------------------------------------------------------
    @tool
    def describe(self, text: str) -> str:
        """Describe your word in one line, on your turn. Everyone sees it.

        Args:
            text: the description: at most 200 characters, without your secret word in any form.
        """
        return self._describe(text)

    @tool
    def vote(self, seat: str) -> str:
        """Vote for the player you think is a spy (undercover agent or chameleon). Votes stay secret
        until every player still in the game has voted.

        Args:
            seat: the player you vote for, e.g. "player3" (not yourself).
        """
        return self._vote(seat)

    @tool
    def guess_word(self, word: str) -> str:
        """As an eliminated chameleon, guess the secret word (one of the card's words).

        Args:
            word: your guess, a word from the card.
        """
        return self._guess(word)

    async def on_text(self, text: str) -> ToolResult:
        try:
            if self.phase == "describe":
                return ToolResult(self._describe(text))
            if self.phase == "vote":
                named = sorted({f"player{m}" for m in _SEAT.findall(text)} & set(self.agents))
                if len(named) != 1:
                    raise ToolError(
                        "it is the vote: call vote(seat), or reply with exactly one player's name"
                    )
                return ToolResult(self._vote(named[0]))
            if self.phase == "guess":
                found = sorted({c for c in self.cfg.card if lexicon.matches(text, (c,))})
                if len(found) != 1:
                    raise ToolError("guess with guess_word(word), or reply with exactly one word of the card")
                return ToolResult(self._guess(found[0]))
        except ToolError as e:
            return ToolResult(f"Error: {e}", invalid=True)
        return ToolResult("Error: the game is over.", invalid=True)

    def _describe(self, text: str) -> str:
        seat = self.seat
        if self.phase != "describe" or not self.to_speak or self.to_speak[0] != seat:
            raise ToolError("it is not your turn to describe")
        line = " ".join(text.split())
        if not line:
            self.illegal[seat] += 1
            raise ToolError("the description is empty: say something about your word in one line")
        if len(line) > MAX_CHARS:
            self.illegal[seat] += 1
            raise ToolError(f"the description has {len(line)} characters; at most {MAX_CHARS} are allowed")
        word = self.word[seat]
        hit = lexicon.mention(line, word) if word else None
        if word and hit:
            self.illegal[seat] += 1
            raise ToolError(
                f'the description says your secret word "{word}" (as "{hit}"); describe it without '
                "the word or any form of it"
            )
        self.said.append(Said(self.round, seat, line))
        self.to_speak.pop(0)
        self.tell(f"{seat}: {line}")
        return "Your description is on the table."

    def _vote(self, target: str) -> str:
        seat, v = self.seat, self.vote_state
        if self.phase != "vote" or seat not in self.in_game():
            raise ToolError("there is no vote now")
        if seat in v.votes:
            raise ToolError(f"you already voted for {v.votes[seat]} in this ballot")
        t = target.strip().lower().replace(" ", "")
        t = f"player{t}" if t.isdigit() else t
        if t not in self.agents:
            raise ToolError(f"unknown player {target!r}; vote for one of: {', '.join(self._legal(seat))}")
        if t == seat:
            raise ToolError(f"you cannot vote for yourself; vote for one of: {', '.join(self._legal(seat))}")
        if t not in v.candidates:
            why = "is out of the game" if t not in self.in_game() else "is not in this revote"
            raise ToolError(f"{t} {why}; vote for one of: {', '.join(self._legal(seat))}")
        v.votes[seat] = t
        return f"You vote for {t}. The votes are revealed when everyone has voted."

    def _legal(self, seat: str) -> list[str]:
        return [c for c in self.vote_state.candidates if c != seat]

    def _guess(self, word: str) -> str:
        g = self.pending_guess
        if self.phase != "guess" or g is None or g.seat != self.seat or g.word is not None:
            raise ToolError("you have no guess to make")
        w = lexicon.normalise(word.strip())
        hit = [c for c in self.cfg.card if w == c or w in lexicon.forms(c)]
        if not hit:
            raise ToolError(f"{word!r} is not on the card; guess one of: {', '.join(self.cfg.card)}")
        g.word = hit[0]
        return f'You guess "{hit[0]}".'

    # ---- the flow ------------------------------------------------------------------------------
    def resolve(self) -> None:
        self._advance()

    def _advance(self) -> None:
        while not self.done:
            if self.phase == "describe":
                if self.to_speak:
                    if self.prompted != (self.round, self.to_speak[0]):
                        self.prompted = (self.round, self.to_speak[0])
                        self.tell(
                            f"Your turn (round {self.round}): give your one-line description.",
                            to=self.to_speak[0],
                        )
                    return
                self._open_vote(self.in_game(), 1)
            elif self.phase == "vote":
                if self.acting():
                    return
                self._close_vote()
            elif self.phase == "guess":
                if self.acting():
                    return
                self._settle_guess()
            else:
                return

    def _start_round(self) -> None:
        self.round += 1
        self.phase = "describe"
        n = len(self.agents)
        start = (self.cfg.first + self.round - 1) % n
        alive = set(self.in_game())
        self.to_speak = [
            self.agents[(start + i) % n] for i in range(n) if self.agents[(start + i) % n] in alive
        ]
        self.tell(
            f"Round {self.round} of {self.cfg.rounds}. Players in the game: {', '.join(self.in_game())}. "
            f"Speaking order: {', '.join(self.to_speak)}."
        )

    def _open_vote(self, candidates: list[str], number: int) -> None:
        self.phase = "vote"
        self.vote_state = VoteState(number, list(candidates))
        target = "an undercover agent" if self.variant == "undercover" else "a chameleon"
        if number == 1:
            self.tell(
                f"Round {self.round} vote: everyone votes at the same time with vote(seat) for the player "
                f"they think is {target}. Candidates: {', '.join(candidates)} (not yourself). The votes "
                "are revealed when all are in."
            )
        else:
            self.tell(
                f"Revote between {', '.join(candidates)}: everyone votes again, for one of them (not "
                "yourself). Another tie eliminates nobody this round."
            )

    def _close_vote(self) -> None:
        v = self.vote_state
        counts = Counter(v.votes.values())
        label = "Revote" if v.number == 2 else f"Round {self.round} votes"
        line = f"{label}: " + "; ".join(f"{s} voted for {v.votes[s]}" for s in self.agents if s in v.votes)
        tally = ", ".join(f"{s} {counts[s]}" for s in sorted(counts, key=lambda s: (-counts[s], s)))
        top = max(counts.values(), default=0)
        tied = [s for s in self.agents if counts.get(s, 0) == top and top > 0]
        out = tied[0] if len(tied) == 1 else None
        self.ballots.append(Ballot(self.round, v.number, dict(v.votes), out))
        if not counts:
            self.tell(f"{label}: no votes were cast; nobody is eliminated this round.")
            self._end_round()
        elif out is not None:
            self.tell(f"{line}. Tally: {tally}.")
            self._eliminate(out, top)
        elif v.number == 1:
            self.tell(f"{line}. Tally: {tally}. Tie.")
            self._open_vote(tied, 2)
        else:
            self.tell(f"{line}. Tally: {tally}. Still tied: nobody is eliminated this round.")
            self._end_round()

    def _role_phrase(self, seat: str) -> str:
        role = self.role[seat]
        return (
            "a civilian"
            if role == "civilian"
            else ("an undercover agent" if role == "undercover" else "a chameleon")
        )

    def _eliminate(self, seat: str, votes: int) -> None:
        self.gone.append((self.round, seat))
        self.tell(
            f"{seat} is eliminated with {votes} vote{'s' * (votes != 1)}. {seat} was {self._role_phrase(seat)}."
        )
        if self.variant == "chameleon" and self.is_spy(seat):
            self.phase = "guess"
            self.pending_guess = Guess(seat)
            self.tell(
                f"{seat} may now guess the secret word with guess_word(word); a right guess wins the game "
                "for the chameleons."
            )
            self.tell(f"Guess the secret word, one of: {', '.join(self.cfg.card)}.", to=seat)
            return
        if not self._check_end():
            self._end_round()

    def _settle_guess(self) -> None:
        g = self.pending_guess
        self.pending_guess = None
        if g is not None and g.word is not None:
            g.correct = g.word == self.cfg.civilian_word
            self.guesses.append(g)
            if g.correct:
                self.tell(f'{g.seat} guesses "{g.word}": right!')
                self._finish("spies", "a chameleon guessed the secret word")
                return
            self.tell(f'{g.seat} guesses "{g.word}": wrong.')
        elif g is not None:
            self.guesses.append(g)
        if not self._check_end():
            self._end_round()

    def _end_round(self) -> None:
        if self.round >= self.cfg.rounds:
            k = len([s for s in self.in_game() if self.is_spy(s)])
            self._finish(
                "spies", f"{k} {spy_name(self.variant, k != 1)} survived all {self.cfg.rounds} rounds"
            )
        else:
            self._start_round()

    def _check_end(self) -> bool:
        alive = self.in_game()
        spies = [s for s in alive if self.is_spy(s)]
        if not alive:
            self._finish(None, "every player left")
        elif not spies:
            self._finish("civilians", f"every {spy_name(self.variant)} was eliminated")
        elif len(spies) >= len(alive) - len(spies):
            self._finish("spies", f"the {spy_name(self.variant, True)} are as many as the civilians")
        return self.done

    def _finish(self, side: str | None, reason: str) -> None:
        self.winner, self.end_reason, self.phase = side, reason, "over"
        won = {s: side is not None and self.is_spy(s) == (side == "spies") for s in self.agents}
        words = f'The civilians\' word was "{self.cfg.civilian_word}"'
        if self.variant == "undercover":
            words += f'; the undercover word was "{self.cfg.spy_word}"'
        roles = ", ".join(f"{s} {self.role[s]}" for s in self.agents)
        head = (
            f"the {side if side == 'civilians' else spy_name(self.variant, True)} win"
            if side
            else "nobody wins"
        )
        self.tell(f"Game over: {head} ({reason}). {words}. Roles: {roles}.")
        self.finish({s: 1.0 if won[s] and s not in self.out else 0.0 for s in self.agents})

    def forfeit(self, seat: str, reason: str) -> None:
        """The seat leaves the game at once and scores 0; its role is revealed. Votes cast for it
        are handed back (those players vote again); a revote left with one candidate, or a guess it
        owed, lapses. Its leaving can end the game (no spy left, or spies as many as civilians)."""
        if self.done or seat in self.out:
            return
        playing = seat in self.in_game()
        self.out.add(seat)
        if not playing:  # already eliminated: only a guess it owed is affected
            self.tell(f"{seat} forfeits ({reason}).")
            self._advance()
            return
        self.tell(f"{seat} forfeits ({reason}) and leaves the game. {seat} was {self._role_phrase(seat)}.")
        if seat in self.to_speak:
            self.to_speak.remove(seat)
        lapsed = False
        if self.phase == "vote":
            v = self.vote_state
            v.votes.pop(seat, None)
            v.candidates = [c for c in v.candidates if c != seat]
            for voter in [s for s, t in v.votes.items() if t == seat]:
                del v.votes[voter]
                self.tell(f"Your vote for {seat} no longer counts because {seat} left; vote again.", to=voter)
            lapsed = v.number == 2 and len(v.candidates) < 2
        if self._check_end():
            return
        if lapsed:
            self.tell("The revote lapses: nobody is eliminated this round.")
            self._end_round()
        self._advance()

    # ---- the record ----------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        return summary(
            variant=self.variant,
            role=self.role,
            word=self.word,
            spies=set(self.cfg.spies),
            ballots=self.ballots,
            gone=self.gone,
            out=self.out,
            winner=self.winner,
            end_reason=self.end_reason,
            scores=self.scores,
            rounds=self.round,
            guesses=self.guesses,
            illegal=self.illegal,
        )

    def bots(self) -> dict[str, BotFactory]:
        from palaestra.envs.undercover.bots import BOTS

        return dict(BOTS)


class ChameleonEnv(UndercoverEnv):
    VARIANT: ClassVar[Variant] = "chameleon"
    spec = EnvSpec(
        name="undercover-chameleon",
        description=(
            "Chameleon (MAgIC): everyone but the chameleon knows the secret word of a public topic card; "
            "describe it in turn without giving it away, vote the chameleon out, who may then guess it."
        ),
        max_steps=200,
        free_text=True,
        metrics=(
            "winner_side",
            "civilian_win",
            "spy_win",
            "vote_accuracy",
            "spy_survival",
            "rounds_played",
            "guesses",
        ),
        tags=("multi-agent", "social-deduction", "language", "deception"),
    )


_SPECS: dict[str, list[ToolSpec]] = {
    name: [t.spec for t in UndercoverEnv._tools.values() if t.name == tool_name]
    for name, tool_name in (("describe", "describe"), ("vote", "vote"), ("guess", "guess_word"), ("over", ""))
}
