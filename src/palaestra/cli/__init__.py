"""The ``palaestra`` command: one Typer app, one module per command group.

``_common`` holds the app, the consoles, the entry point (:func:`main`) and what several commands
share; each group module adds its commands to the app when it is imported here: ``envs``, ``run``
(run, eval), ``sim`` (sim), ``runs`` (runs, rm, show), ``analyse`` (stats, compare, export, report, view),
``games`` (play, match, tournament), ``train`` (train sft|dpo, evolve), ``safety`` (redteam,
attacks) and ``bridges`` (serve, mcp: environments for other frameworks' clients).
"""

from __future__ import annotations

from typer.models import CommandInfo

from palaestra.cli import analyse, bridges, envs, games, run, runs, safety, sim, train
from palaestra.cli._common import app, main

__all__ = ["app", "main"]

COMMAND_MODULES = (envs, run, sim, runs, analyse, games, train, bridges, safety)
"""The modules whose commands make up ``palaestra`` (each registers them on import)."""

_ORDER = (
    "envs",
    "run",
    "runs",
    "rm",
    "show",
    "play",
    "eval",
    "sim",
    "stats",
    "compare",
    "export",
    "report",
    "view",
    "match",
    "tournament",
    "evolve",
    "redteam",
    "attacks",
    "serve",
    "mcp",
)
"""The order ``palaestra --help`` lists the commands in; the modules register them group by group."""


def _position(info: CommandInfo) -> int:
    name = info.name or getattr(info.callback, "__name__", "")
    return _ORDER.index(name) if name in _ORDER else len(_ORDER)


app.registered_commands.sort(key=_position)
