"""TextArena's games as Palaestra ``MultiAgentEnv``\\s, through the ``textarena`` package.

    palaestra match palaestra.adapters.textarena:TicTacToe-v0 --seat 0=random --seat 1=random
    palaestra tournament palaestra.adapters.textarena:ConnectFour-v0 --players random tools:openai:gpt-4o-mini

Any TextArena env id works after the colon (``ta.make`` builds it with its default wrappers);
the game is registered as ``textarena-<ID>``. In Python: ``make_game("TicTacToe-v0")`` or
``game_class("TicTacToe-v0")``. Seats are TextArena's player ids (``"0"``, ``"1"``, ...); the
seat to move is the one TextArena's ``get_observation`` names, and it is told that observation.
A move is the ``move(action)`` tool (or plain text): the action string TextArena reads, such as
``[4]``. TextArena judges illegal moves by its own rules; its final rewards are the seats' scores.
A task is a TextArena seed (tasks of every split are distinct seeds; TextArena games have no
difficulty levels of ours, so there is one). Games that need NLTK data download it on first use.
"""

from __future__ import annotations

import random
import re
from functools import cache
from typing import Any

import textarena as ta

from palaestra.env import register
from palaestra.multi import BotFactory, MultiAgentEnv
from palaestra.policy import Agent, Policy, action
from palaestra.tasksource import EnvSpec
from palaestra.tools import ToolResult, tool
from palaestra.types import Message, Observation, Task

PLAYER_COUNTS = (2, 1, 3, 4, 5, 6)


def _players(env_id: str) -> int:
    """The smallest supported player count of a TextArena game (two first: most are duels)."""
    for n in PLAYER_COUNTS:
        try:
            ta.make(env_id=env_id).reset(num_players=n, seed=0)
        except Exception:
            continue
        return n
    raise ValueError(f"TextArena game {env_id!r} takes none of {PLAYER_COUNTS} players")


_LISTED = re.compile(r"(?:Available|Valid) [Mm]oves?:?\s*'?(\[[^\]]*\])")
_BRACKETED = re.compile(r"\[[^\]\s]{1,20}\]")


class FirstListedMove(Policy):
    """A bot that plays the first move the game lists as available (else the first bracketed token
    of the observation, else ``[0]``): legal in games that list their moves, a baseline anywhere."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choose(self, observation: Observation) -> Message:
        text = "\n".join(m.content for m in observation.messages if m.role == "user")
        listed = _LISTED.findall(text)
        if listed:
            return action("move", action=listed[-1])
        tokens = [t for t in _BRACKETED.findall(text) if t.upper() != "[GAME]"]
        return action("move", action=tokens[-1] if tokens else "[0]")


def _first_listed(game: MultiAgentEnv, seat: str, seed: int) -> Agent:
    return FirstListedMove(random.Random(seed))


class TextArenaGame(MultiAgentEnv):
    """A TextArena game; subclasses made by :func:`game_class` set ``env_id`` and ``players``."""

    env_id: str
    players: int

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"seed": rng.randrange(2**31)}

    def setup(self, task: Task) -> None:
        self.game: Any = ta.make(env_id=self.env_id)
        self.game.reset(num_players=self.players, seed=int(task.params["seed"]))
        self.agents = [str(i) for i in range(self.players)]
        self.current = ""
        self._observe()

    def _observe(self) -> None:
        player, observation = self.game.get_observation()
        self.current = str(player)
        self.tell(str(observation), to=self.current)

    def acting(self) -> list[str]:
        return [] if self.done else [self.current]

    def instructions(self, seat: str) -> str:
        return (
            f"You are player {seat} of the TextArena game {self.env_id}. Each turn you are shown the game; "
            "reply with your move by calling move(action) with the exact text the game asks for."
        )

    @tool
    def move(self, action: str) -> str:
        """Make your move.

        Args:
            action: the move exactly as the game asks for it, e.g. [4].
        """
        done, _ = self.game.step(action)
        if done:
            rewards, info = self.game.close()
            self.info = info
            self.finish({str(p): float(r) for p, r in (rewards or {}).items()})
            return "The game is over."
        self._observe()
        return "Move made."

    async def on_text(self, text: str) -> ToolResult:
        return ToolResult(self.move(text))

    def bots(self) -> dict[str, BotFactory]:
        return {"first-listed": _first_listed}

    def result(self) -> dict[str, Any]:
        return {"scores": dict(self.scores), "textarena": getattr(self, "info", None)}


@cache
def game_class(env_id: str) -> type[TextArenaGame]:
    """The ``MultiAgentEnv`` class of TextArena game ``env_id``, registered as ``textarena-<ID>``."""
    if env_id not in ta.envs.registration.ENV_REGISTRY:
        raise AttributeError(f"TextArena has no game {env_id!r}")
    players = _players(env_id)
    name = f"textarena-{env_id}"
    spec = EnvSpec(name=name, description=f"TextArena's {env_id} ({players} players).", max_steps=200)
    cls = type(
        f"TextArena_{env_id.replace('-', '_')}",
        (TextArenaGame,),
        {"spec": spec, "env_id": env_id, "players": players, "__module__": __name__},
    )
    register(cls, name)
    return cls


def make_game(env_id: str) -> TextArenaGame:
    return game_class(env_id)()


def __getattr__(name: str) -> type[TextArenaGame]:
    """``palaestra.adapters.textarena:<TextArena env id>`` names that game's class."""
    if name.startswith("__"):
        raise AttributeError(name)
    return game_class(name)
