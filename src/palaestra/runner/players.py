"""Players of multi-agent games: player specs, and one agent per seat built from them.

A player spec is one of

- ``bot:NAME`` (or just ``NAME``): the game's rule-based player ``NAME`` (see ``game.bots()``);
- ``random``: random legal-looking moves from the seat's own tools;
- ``human``: a person at the terminal;
- ``AGENT:MODEL``: an LLM agent (``tools``, ``react`` or any registered agent that needs a model)
  with a model spec, e.g. ``tools:openai:gpt-4o-mini`` or ``react:mock``.

Agents made for single-agent environments read ``env.spec``, ``env.tool_specs()`` and
``env.valid_actions()``; a :class:`SeatView` answers those for one seat of a game, so every agent
works in any seat unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from palaestra.agents.base import agent_names, agent_needs_model, make_agent
from palaestra.agents.baselines import RandomAgent
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model, get_model
from palaestra.multi import BotFactory, MultiAgentEnv
from palaestra.policy import Agent
from palaestra.tasksource import EnvSpec
from palaestra.types import ToolCall, ToolSpec

if TYPE_CHECKING:
    from palaestra.env import Env

PlayerSpec = str | BotFactory
"""A player spec string, or a factory ``(game, seat, seed) -> Agent`` (for custom players)."""

Kind = Literal["bot", "random", "human", "agent", "custom"]


@dataclass(frozen=True, slots=True)
class Player:
    spec: str
    """The canonical spec (``bot:NAME`` for bots), as stored."""
    kind: Kind
    name: str = ""
    """The bot or agent name."""
    model: str | None = None


def player_help(bots: Iterable[str]) -> str:
    names = ", ".join(sorted(bots)) or "none"
    return f"bot:NAME (this game's bots: {names}), random, human, tools:MODEL, react:MODEL"


def parse_player(spec: str, bots: Collection[str]) -> Player:
    """Parse and check a player spec against the game's bots and the registered agents."""
    text = spec.strip()
    head, sep, rest = text.partition(":")
    if text in ("random", "human"):
        return Player(text, text)  # type: ignore[arg-type]
    if head == "bot" and sep:
        if rest not in bots:
            raise UsageError(f"unknown bot {rest!r} for this game; valid players: {player_help(bots)}")
        return Player(f"bot:{rest}", "bot", rest)
    if not sep and text in bots:
        return Player(f"bot:{text}", "bot", text)
    if sep and head in agent_names() and agent_needs_model(head):
        if not rest:
            raise UsageError(f"player {spec!r} needs a model: {head}:PROVIDER:NAME")
        return Player(text, "agent", head, rest)
    raise UsageError(f"unknown player {spec!r}; valid players: {player_help(bots)}")


def seat_seed(seed: int, match_id: str, seat: str) -> int:
    """The seed of one seat's agent in one match."""
    digest = hashlib.blake2b(f"{seed}/{match_id}/{seat}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class SeatView:
    """What an agent built for a single-agent env sees of a game: one seat's tools and the spec."""

    def __init__(self, game: MultiAgentEnv, seat: str) -> None:
        self.game = game
        self.seat = seat

    @property
    def spec(self) -> EnvSpec:
        return self.game.spec

    def tool_specs(self) -> list[ToolSpec]:
        return self.game.tool_specs(self.seat)

    def valid_actions(self) -> list[ToolCall] | None:
        """The game's ``valid_actions(seat)`` (used by ``random``)."""
        return self.game.valid_actions(self.seat)

    def expert(self) -> None:
        return None


class ModelPool:
    """One shared ``Model`` per model spec, opened on first use and closed together. ``wrap``, when
    given, wraps each model handed out (a run's :class:`~palaestra.runner.run.FatalGuard`)."""

    def __init__(
        self,
        options: dict[str, Any] | None = None,
        models: dict[str, Model] | None = None,
        wrap: Callable[[Model], Model] | None = None,
    ) -> None:
        self.options = options or {}
        self.wrap = wrap or (lambda m: m)
        self.models: dict[str, Model] = {k: self.wrap(m) for k, m in (models or {}).items()}
        self._owned: list[Model] = []

    def get(self, spec: str) -> Model:
        if spec not in self.models:
            model = get_model(spec, **self.options)
            self.models[spec] = self.wrap(model)
            self._owned.append(model)
        return self.models[spec]

    async def close(self) -> None:
        owned, self._owned = self._owned, []
        for m in owned:
            await m.close()


def make_player_agent(
    player: Player,
    factory: BotFactory | None,
    game: MultiAgentEnv,
    seat: str,
    seed: int,
    *,
    model: Model | None = None,
    human: BotFactory | None = None,
    generate: GenerateConfig | None = None,
    agent_options: dict[str, Any] | None = None,
) -> Agent:
    """The agent that plays ``seat`` for ``player`` (``model`` is the seat's recording model)."""
    if factory is not None:
        return factory(game, seat, seed)
    view = cast("Env", SeatView(game, seat))
    if player.kind == "bot":
        return game.bots()[player.name](game, seat, seed)
    if player.kind == "random":
        return RandomAgent(view, seed)
    if player.kind == "human":
        if human is None:
            from palaestra.agents.human import HumanAgent

            return HumanAgent(view)
        return human(game, seat, seed)
    return make_agent(player.name, env=view, model=model, seed=seed, config=generate, **(agent_options or {}))
