"""Werewolf: hidden roles, secret night moves, public day talk and votes (after Werewolf Arena).

The game alternates nights and days, starting with night 1. At night the living werewolves vote
for a victim (``kill``), the seer inspects a player (``inspect``) and the doctor protects one
(``protect``), all simultaneously and in secret; at dawn the victim dies unless protected. By day
the living players speak in turn (``say`` or plain text), then vote at the same time (``vote`` or
``skip``); a clear plurality eliminates a player. Roles stay secret until the game ends.
"""

from __future__ import annotations

import re
from typing import Any

from palaestra import BotFactory, EnvSpec, Task, ToolCall, ToolError, ToolResult, ToolSpec, tool
from palaestra.envs.werewolf import rules
from palaestra.envs.werewolf.phases import PACK, Village
from palaestra.envs.werewolf.records import SeatView, Speech, metrics
from palaestra.envs.werewolf.rules import SPEECH_CHARS

_PHASE_TOOLS: dict[tuple[str, str], tuple[str, ...]] = {
    ("night", "werewolf"): ("kill", "say"),
    ("night", "seer"): ("inspect",),
    ("night", "doctor"): ("protect",),
    ("talk", "any"): ("say",),
    ("vote", "any"): ("vote", "skip"),
}


class WerewolfEnv(Village):
    spec = EnvSpec(
        name="werewolf",
        description=(
            "Werewolf (Werewolf Arena setting): hidden werewolves kill by night; the village, helped "
            "by a seer and a doctor, talks and votes by day to find and eliminate them."
        ),
        max_steps=600,
        difficulties=(1, 2, 3, 4),
        metrics=(
            "winner_team",
            "village_won",
            "days",
            "doctor_saves",
            "seer_hit_rate",
            "village_vote_accuracy",
        ),
        free_text=True,
        tags=("multi-agent", "social-deduction", "hidden-role", "deception", "communication"),
    )

    generate = staticmethod(rules.generate)

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        self.init_state(task.params)
        players, deal = self.agents, self.deal
        self.tell(
            f"Welcome to Werewolf. Players: {', '.join(players)}. Roles in play: "
            f"{rules.cast_text(deal)}. Each of you has been told your own role in private."
        )
        for s in players:
            text = f"Your role: {self.roles[s]}."
            if self.roles[s] == "werewolf":
                mates = [w for w in self.pack() if w != s]
                text += (
                    f" Your fellow werewolves: {', '.join(mates)}."
                    if mates
                    else " You are the only werewolf."
                )
            self.tell(text, to=s)
        self._start_night()

    def instructions(self, seat: str) -> str:
        return rules.rules(
            seat, self.roles[seat], self.agents, self.deal, self.rounds, self.day_cap, self.max_invalid
        )

    def _tool_names(self, seat: str) -> tuple[str, ...]:
        if self.done or seat not in self.acting():
            return ()
        if self.phase == "night":
            names = _PHASE_TOOLS.get(("night", self.roles[seat]), ())
            if "say" in names and (seat in self.pack_said or len(self.pack(living=True)) < 2):
                names = tuple(n for n in names if n != "say")
            return names
        return _PHASE_TOOLS.get((self.phase, "any"), ())

    def tool_specs(self, seat: str) -> list[ToolSpec]:
        """The moves ``seat`` may make now: none unless it must act (see the README)."""
        return [self._tools[n].spec for n in self._tool_names(seat)]

    def valid_actions(self, seat: str) -> list[ToolCall]:
        """Every legal move of ``seat`` now, with a few stock speeches for the talk (for ``random``).
        A werewolf's message to the pack is not listed: it is not a move."""
        names = self._tool_names(seat)
        others = [s for s in self.alive() if s != seat]
        out: list[ToolCall] = []
        if "kill" in names:
            out += [
                ToolCall(id="kill", name="kill", arguments={"player": s})
                for s in others
                if s not in self.pack()
            ]
        if "inspect" in names:
            out += [ToolCall(id="inspect", name="inspect", arguments={"player": s}) for s in others]
        if "protect" in names:
            out += [
                ToolCall(id="protect", name="protect", arguments={"player": s})
                for s in self.alive()
                if s != self.last_protected
            ]
        if "say" in names and self.phase == "talk":
            lines = ["I have nothing to add.", *(f"I suspect {s}." for s in others)]
            out += [ToolCall(id="say", name="say", arguments={"text": t}) for t in lines]
        if "vote" in names:
            out += [ToolCall(id="vote", name="vote", arguments={"player": s}) for s in others]
            out.append(ToolCall(id="skip", name="skip", arguments={}))
        return out

    def view(self, seat: str) -> SeatView:
        """What ``seat`` is entitled to know now (rule-based players read this)."""
        role = self.roles[seat]
        living = seat not in self.out
        wolf = role == "werewolf" and living
        return SeatView(
            seat=seat,
            role=role,
            phase=self.phase,
            day=self.day,
            players=tuple(self.agents),
            alive=tuple(self.alive()),
            acting=seat in self.acting(),
            speeches=tuple(self.speeches),
            votes=tuple(self.vote_log),
            deaths=tuple(self.deaths),
            pack=tuple(self.pack()) if role == "werewolf" else (),
            pack_votes=tuple(self.night.kill_votes.items()) if wolf and self.phase == "night" else (),
            pack_said=seat in self.pack_said if wolf else False,
            inspections=tuple(self.inspections()) if role == "seer" else (),
            last_protected=self.last_protected if role == "doctor" and living else None,
        )

    # ---- helpers for moves ---------------------------------------------------------------------
    def _player(self, name: str, *, alive: bool = True, other: bool = True) -> str:
        """The seat called ``name`` (case and stray punctuation ignored), checked for the move."""
        key = name.strip().strip(".,;:!?\"'").lower()
        seat = next((s for s in self.agents if s.lower() == key), None)
        if seat is None:
            raise ToolError(f"there is no player named {name!r}; players: {', '.join(self.agents)}")
        if alive and seat in self.out:
            raise ToolError(f"{seat} is no longer in the game; living players: {', '.join(self.alive())}")
        if other and seat == self.seat:
            raise ToolError("you cannot choose yourself for this move")
        return seat

    @staticmethod
    def _clean(text: str) -> str:
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            raise ToolError("the text is empty; say something")
        if len(text) > SPEECH_CHARS:
            raise ToolError(
                f"your text has {len(text)} characters, more than the limit of {SPEECH_CHARS}; nothing was said"
            )
        return text

    # ---- moves ---------------------------------------------------------------------------------
    @tool
    def kill(self, player: str) -> str:
        """Werewolves, at night: vote for the pack's victim tonight (one vote per night). The other
        werewolves see your vote; the victim is the player with the most pack votes.

        Args:
            player: the name of a living player who is not a werewolf.
        """
        target = self._player(player)
        if self.roles[target] == "werewolf":
            raise ToolError(f"{target} is a werewolf like you; choose a victim outside the pack")
        self.night.kill_votes[self.seat] = target
        mates = [w for w in self.pack(living=True) if w != self.seat]
        if mates:
            self.tell(f"{PACK} {self.seat} votes to kill {target}.", to=mates)
        return f"You vote to kill {target} tonight." + (
            " The pack's votes decide the victim at dawn." if mates else ""
        )

    @tool
    def inspect(self, player: str) -> str:
        """Seer, at night: learn whether one other living player is a werewolf (only you learn it).

        Args:
            player: the name of a living player other than you.
        """
        target = self._player(player)
        self.night.inspected = target
        verdict = "IS a werewolf" if self.roles[target] == "werewolf" else "is NOT a werewolf"
        return f"Inspection, night {self.day}: {target} {verdict}."

    @tool
    def protect(self, player: str) -> str:
        """Doctor, at night: protect one living player (yourself allowed) from tonight's attack.
        You may not protect the same player two nights in a row.

        Args:
            player: the name of a living player.
        """
        target = self._player(player, other=False)
        if target == self.last_protected:
            raise ToolError(
                f"you protected {target} last night; you may not protect the same player two nights in a row"
            )
        self.night.protected = target
        return f"You protect {target} tonight."

    @tool
    def say(self, text: str) -> str:
        """By day, when it is your turn: speak to everyone (this is your turn's move). At night,
        werewolves only: send one message to the pack (not a move: you still vote with kill).

        Args:
            text: what you say, at most 500 characters.
        """
        return self._say(text)

    @tool
    def vote(self, player: str) -> str:
        """Day vote: vote to eliminate a living player. Votes are revealed when everyone has voted.

        Args:
            player: the name of a living player other than you.
        """
        self.votes[self.seat] = self._player(player)
        return f"Your vote against {self.votes[self.seat]} is recorded; all votes are revealed when everyone has voted."

    @tool
    def skip(self) -> str:
        """Day vote: abstain (vote for nobody). Skips count against any elimination."""
        self.votes[self.seat] = None
        return "You abstain in today's vote; all votes are revealed when everyone has voted."

    def _say(self, text: str) -> str:
        text = self._clean(text)
        seat = self.seat
        if self.phase == "night":
            mates = [w for w in self.pack(living=True) if w != seat]
            if seat in self.pack_said:
                raise ToolError(
                    "you already messaged the pack tonight (one message per night); now vote with kill"
                )
            self.pack_said.add(seat)
            self.tell(f'{PACK} {seat} says: "{text}"', to=mates)
            return f"Your message went to {', '.join(mates)} only. Now vote for tonight's victim with kill(player)."
        self.speeches.append(Speech(self.day, self.speech_round, seat, text))
        self.spoken.add(seat)
        self.tell(f'{seat} says: "{text}"', to=[s for s in self.agents if s != seat])
        return "Everyone heard you."

    async def on_text(self, text: str) -> ToolResult:
        """Plain text is talk: a day speech on your turn, or a werewolf's message to the pack."""
        if "say" not in self._tool_names(self.seat):
            return await super().on_text(text)
        try:
            return ToolResult(self._say(text))
        except ToolError as e:
            return ToolResult(f"Error: {e}", invalid=True)

    def forfeit(self, seat: str, reason: str) -> None:
        """The seat leaves at once, as if dead (role not revealed), and scores 0 whatever happens;
        a move it made this phase no longer counts. The game goes on if neither team has won."""
        if self.done or seat not in self.agents or seat in self.out:
            return
        self.forfeited.add(seat)
        self._remove(seat, "forfeit")
        self.tell(f"{seat} forfeits ({reason}) and leaves the game, as if dead. Their role stays secret.")
        if not self._check_win():
            self._advance()

    # ---- record --------------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        nights = list(self.nights)
        if self.phase == "night" and all(n is not self.night for n in nights):
            nights.append(self.night)  # a match cut short during the night
        return {
            "scores": dict(self.scores),
            **metrics(
                self.roles, self.winner, self.forfeited, nights, self.vote_log, self.deaths, self.days_started
            ),
            "end_reason": self.end_reason,
        }

    def bots(self) -> dict[str, BotFactory]:
        from palaestra.envs.werewolf.bots import BOTS

        return dict(BOTS)
