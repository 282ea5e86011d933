"""TextArena bridge: TextArena's own games, played as Palaestra MultiAgentEnvs (match, tournament)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from clitools import PALAESTRA
from palaestra.env import make
from palaestra.policy import action

pytest.importorskip("textarena", reason="the TextArena bridge needs textarena (the dev extra)")

from palaestra.adapters.textarena import game_class, make_game


def test_a_game_is_registered_under_its_own_id() -> None:
    cls = game_class("TicTacToe-v0")
    assert cls.players == 2 and cls.spec.name == "textarena-TicTacToe-v0"
    assert isinstance(make("textarena-TicTacToe-v0"), cls)
    with pytest.raises(AttributeError, match="no game"):
        game_class("NoSuchGame-v0")


async def test_textarena_judges_the_moves_and_scores_the_winner() -> None:
    game = make_game("TicTacToe-v0")
    task = game.tasks("test", 1, seed=0)[0]
    obs = await game.reset(task)
    assert game.acting() == ["0"] and "Tic Tac Toe" in obs["0"].messages[-1].content
    for cell in (0, 3, 1, 4, 2):  # player 0 takes the top row
        seat = game.acting()[0]
        steps = await game.step({seat: action("move", action=f"[{cell}]")})
        assert not steps[seat].info["invalid_action"]
    assert game.done and game.scores == {"0": 1.0, "1": -1.0}


@pytest.mark.slow
def test_a_tournament_of_textarena_games_from_the_cli(tmp_path: Path) -> None:
    cmd = [
        *PALAESTRA,
        "tournament",
        "palaestra.adapters.textarena:TicTacToe-v0",
        "--players",
        "random",
        "bot:first-listed",
        "--rounds",
        "2",
        "--json",
        "--store",
        str(tmp_path / "t.db"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    rows = {row["player"]: row for row in report["players"]}
    assert set(rows) == {"random", "bot:first-listed"}, report
    assert (
        rows["bot:first-listed"]["invalid_actions"] == 0
        and rows["bot:first-listed"]["mu"] > rows["random"]["mu"]
    )
