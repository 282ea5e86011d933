"""The state of a werewolf match and its night/day engine: who must act, how each phase resolves,
when a team has won. ``WerewolfEnv`` adds the moves, what each seat is told and sees, and the record.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from palaestra import MultiAgentEnv
from palaestra.envs.werewolf.records import Death, NightRecord, Phase, Speech, VoteRecord
from palaestra.envs.werewolf.rules import ROLES, SPEECH_CHARS, Team, team_of

PACK = "[werewolves]"
"""The prefix of every message of the werewolves' private channel."""


class Village(MultiAgentEnv):
    """A werewolf match's state and phase engine (no spec of its own: not a registered game)."""

    def init_state(self, p: dict[str, Any]) -> None:
        """Check the task's params and set up the match's state (night 1 not yet announced)."""
        players, deal = list(p["players"]), list(p["roles"])
        if len(players) != len(deal) or len(set(players)) != len(players):
            raise ValueError("werewolf: 'players' and 'roles' must be lists of the same length, names unique")
        wolves = deal.count("werewolf")
        if any(r not in ROLES for r in deal) or not 0 < wolves < len(deal) - wolves:
            raise ValueError("werewolf: roles must be werewolf/seer/doctor/villager, wolves a minority")
        if deal.count("seer") > 1 or deal.count("doctor") > 1:
            raise ValueError("werewolf: at most one seer and one doctor")
        self.agents = players
        self.roles: dict[str, str] = dict(zip(players, deal, strict=True))
        self.deal = deal
        self.rounds: int = int(p["discussion_rounds"])
        self.day_cap: int = int(p["day_cap"])
        self.orders: list[list[int]] = [list(map(int, o)) for o in p["speaking_orders"]]
        seats = list(range(len(players)))
        if len(self.orders) < self.day_cap or any(sorted(o) != seats for o in self.orders):
            raise ValueError("werewolf: 'speaking_orders' must hold a permutation of the seats for every day")
        self.phase: Phase = "night"
        self.day = 1
        self.days_started = 0
        self.forfeited: set[str] = set()
        self.winner: Team | None = None
        self.end_reason = ""
        self.nights: list[NightRecord] = []
        self.vote_log: list[VoteRecord] = []
        self.speeches: list[Speech] = []
        self.deaths: list[Death] = []
        self.last_protected: str | None = None
        self.night = NightRecord(0)
        self.pack_said: set[str] = set()
        self.speech_round = 0
        self.spoken: set[str] = set()
        self.prompted: str | None = None
        self.votes: dict[str, str | None] = {}

    # ---- state ---------------------------------------------------------------------------------
    def pack(self, living: bool = False) -> list[str]:
        """The werewolves in seat order (only the living ones with ``living=True``)."""
        seats = self.alive() if living else self.agents
        return [s for s in seats if self.roles[s] == "werewolf"]

    def _holder(self, role: str) -> str | None:
        """The living seat with ``role`` (seer or doctor), if any."""
        return next((s for s in self.alive() if self.roles[s] == role), None)

    def _speaker(self) -> str | None:
        for i in self.orders[self.day - 1]:
            s = self.agents[i]
            if s not in self.out and s not in self.spoken:
                return s
        return None

    def _order(self) -> list[str]:
        """Today's speaking order (drawn with the task, a new one every day)."""
        return [self.agents[i] for i in self.orders[self.day - 1]]

    def acting(self) -> list[str]:
        if self.done:
            return []
        if self.phase == "night":
            night = self.night
            return [
                s
                for s in self.alive()
                if (self.roles[s] == "werewolf" and s not in night.kill_votes)
                or (self.roles[s] == "seer" and night.inspected is None)
                or (self.roles[s] == "doctor" and night.protected is None)
            ]
        if self.phase == "talk":
            speaker = self._speaker()
            return [speaker] if speaker else []
        if self.phase == "vote":
            return [s for s in self.alive() if s not in self.votes]
        return []

    def inspections(self) -> list[tuple[int, str, bool]]:
        """The seer's results so far: (night, player, is a werewolf)."""
        nights = list(self.nights)
        if all(n is not self.night for n in nights):
            nights.append(self.night)
        return [(n.night, n.inspected, self.roles[n.inspected] == "werewolf") for n in nights if n.inspected]

    # ---- phases --------------------------------------------------------------------------------
    def resolve(self) -> None:
        self._advance()

    def _advance(self) -> None:
        while not self.done and not self.acting():
            if self.phase == "night":
                self._end_night()
            elif self.phase == "talk":
                if self.speech_round < self.rounds:
                    self._start_round()
                else:
                    self._start_vote()
            elif self.phase == "vote":
                self._end_vote()
            else:
                return
        if not self.done and self.phase == "talk":
            speaker = self._speaker()
            if speaker and speaker != self.prompted:
                self.prompted = speaker
                self.tell(
                    f"Day {self.day}, discussion round {self.speech_round} of {self.rounds}: it is your turn "
                    f"to speak. Call say(text) (at most {SPEECH_CHARS} characters).",
                    to=speaker,
                )

    def _start_night(self) -> None:
        self.phase = "night"
        self.night = NightRecord(self.day)
        self.pack_said = set()
        self.tell(f"Night {self.day} falls. The werewolves, the seer and the doctor make their secret moves.")
        wolves = self.pack(living=True)
        victims = [s for s in self.alive() if self.roles[s] != "werewolf"]
        for w in wolves:
            text = f"{PACK} Night {self.day}: vote for the pack's victim with kill(player). "
            text += f"Living werewolves: {', '.join(wolves)}. Possible victims: {', '.join(victims)}."
            if len(wolves) > 1:
                text += " You may first send the pack one message with say(text)."
            self.tell(text, to=w)
        seer = self._holder("seer")
        if seer:
            known = "; ".join(
                f"{who} {'is a werewolf' if wolf else 'is not a werewolf'}"
                for _, who, wolf in self.inspections()
            )
            others = [s for s in self.alive() if s != seer]
            self.tell(
                f"Night {self.day}: inspect one player with inspect(player): {', '.join(others)}. "
                f"Your results so far: {known or 'none'}.",
                to=seer,
            )
        doctor = self._holder("doctor")
        if doctor:
            allowed = [s for s in self.alive() if s != self.last_protected]
            note = (
                f" (not {self.last_protected}: you protected them last night)" if self.last_protected else ""
            )
            self.tell(
                f"Night {self.day}: protect one player with protect(player): {', '.join(allowed)}{note}.",
                to=doctor,
            )

    def _end_night(self) -> None:
        night = self.night
        alive = set(self.alive())
        wolves = self.pack(living=True)
        ballots = [
            (w, night.kill_votes[w])
            for w in wolves
            if w in night.kill_votes
            and night.kill_votes[w] in alive
            and self.roles[night.kill_votes[w]] != "werewolf"
        ]
        night.kill_votes = dict(ballots)
        if self._holder("doctor") is None:
            night.protected = None  # a doctor who left during the night protects nobody
        count = Counter(t for _, t in ballots)
        if count:
            top = max(count.values())
            tied = {t for t, c in count.items() if c == top}
            night.victim = next(
                t for _, t in ballots if t in tied
            )  # the first werewolf's choice among the tied
        self.nights.append(night)
        self.last_protected = night.protected
        if night.victim is not None and wolves:
            tally = ", ".join(f"{w} -> {t}" for w, t in ballots)
            self.tell(
                f"{PACK} Night {self.day}: the pack attacks {night.victim} (votes: {tally}).", to=wolves
            )
        if night.victim is None or night.saved:
            self.tell(f"Day {self.day} dawns. Nobody died last night.")
        else:
            night.died = night.victim
            self._remove(night.victim, "night")
            self.tell(
                f"Day {self.day} dawns. {night.victim} was killed by the werewolves during the night. "
                "Their role stays secret."
            )
            self.tell(
                "You are dead: you can no longer act or speak. You will still hear the public announcements.",
                to=night.victim,
            )
        if not self._check_win():
            self._start_day()

    def _start_day(self) -> None:
        self.phase = "talk"
        self.days_started += 1
        self.speech_round = 0
        alive = set(self.alive())
        order = [s for s in self._order() if s in alive]
        self.tell(
            f"Day {self.day}: discussion. Living players: {', '.join(self.alive())}. "
            f"Speaking order: {', '.join(order)}."
        )
        self._start_round()

    def _start_round(self) -> None:
        self.speech_round += 1
        self.spoken = set()
        self.prompted = None
        if self.speech_round > 1:
            self.tell(f"Day {self.day}: discussion round {self.speech_round} of {self.rounds}, same order.")

    def _start_vote(self) -> None:
        self.phase = "vote"
        self.votes = {}
        self.tell(
            f"Day {self.day}: the vote. Every living player now votes at the same time: vote(player) to "
            f"eliminate one of {', '.join(self.alive())}, or skip(). The votes are revealed when all are in."
        )

    def _end_vote(self) -> None:
        alive = self.alive()
        votes = {s: self.votes[s] if self.votes[s] in alive else None for s in alive if s in self.votes}
        count = Counter(t for t in votes.values() if t is not None)
        skips = sum(t is None for t in votes.values())
        shown = "; ".join(f"{s} -> {t or 'skip'}" for s, t in votes.items())
        top = max(count.values(), default=0)
        leaders = [s for s in alive if count.get(s, 0) == top and top > 0]
        out: str | None = None
        if len(leaders) == 1 and top > skips:
            out = leaders[0]
            verdict = f"{out} is eliminated with {top} vote{'s' if top > 1 else ''}. Their role stays secret."
        elif len(leaders) > 1:
            verdict = f"Nobody is eliminated: {' and '.join(leaders)} tie with {top} votes each."
        else:
            verdict = (
                f"Nobody is eliminated: {skips} skip{'s' if skips != 1 else ''} against at most {top} votes."
            )
        self.vote_log.append(VoteRecord(self.day, votes, out))
        self.tell(f"Day {self.day} votes: {shown}. {verdict}")
        if out is not None:
            self._remove(out, "vote")
            self.tell(
                "You have been eliminated: you can no longer act or speak. You will still hear the "
                "public announcements.",
                to=out,
            )
        if self._check_win():
            return
        if self.day >= self.day_cap:
            self._end(None, f"day {self.day_cap} ended with werewolves and village both still standing")
            return
        self.day += 1
        self._start_night()

    def _remove(self, seat: str, cause: str) -> None:
        self.out.add(seat)
        self.deaths.append(Death(self.day, seat, cause))  # type: ignore[arg-type]

    def _check_win(self) -> bool:
        wolves = len(self.pack(living=True))
        others = len(self.alive()) - wolves
        if wolves == 0:
            self._end("village", "every werewolf is dead")
        elif wolves >= others:
            self._end("werewolves", "the werewolves are as many as the other living players")
        return self.done

    def _end(self, team: Team | None, why: str) -> None:
        if self.phase == "night" and all(n is not self.night for n in self.nights):
            self.nights.append(self.night)  # ended by a forfeit during the night: keep its moves on record
        self.phase = "over"
        self.winner = team
        self.end_reason = why
        head = {"village": "The village wins", "werewolves": "The werewolves win", None: "Draw"}[team]
        reveal = ", ".join(f"{s} {self.roles[s]}" for s in self.agents)
        self.tell(f"Game over: {head}: {why}. Roles: {reveal}.")
        self.finish(
            {
                s: 1.0
                if team is not None and team_of(self.roles[s]) == team and s not in self.forfeited
                else 0.0
                for s in self.agents
            }
        )
