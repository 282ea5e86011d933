"""Model and environment text reaches the terminal literally: no Rich markup, no escape sequences."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from clitools import PALAESTRA
from palaestra import Store
from palaestra.records import EpisodeRecord, StepRecord
from palaestra.types import Message, Task, ToolCall

HOSTILE = [
    "closing [/] tag",
    "[link=file:///etc/passwd]click me[/link]",
    "[bold red]loud[/]",
    "title \x1b]0;pwned\x07 change",
    "clear \x1b[2J\x1b[H screen",
    "bell \x07 back\x08space cr\r end",
]


def _hostile_store(path: Path) -> None:
    st = Store(path)
    st.create_run("r1", {"envs": ["guess"], "agent": "react"})
    task = Task(env="guess", id="t[/]1", split="test", seed=1)
    rec = EpisodeRecord(
        id="guess/t[/]1/0", task=task, agent="react", model="m", status="error", error="boom [/] \x1b[2J"
    )
    rec.steps.append(
        StepRecord(
            0,
            [Message(role="user", content="\n".join(HOSTILE), name="[/]")],
            Message(
                role="assistant",
                content="line one\n\tindented [/]",
                tool_calls=[ToolCall(id="c", name="say", arguments={"text": "[link=x]\x1b[31m"})],
            ),
            0.0,
            {},
        )
    )
    st.write_episode("r1", rec)
    st.set_run_status("r1", "finished", st.summary("r1"))
    st.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300", "TERM": "xterm-256color"}
    return subprocess.run([*PALAESTRA, *args], capture_output=True, text=True, timeout=120, env=env)


def test_show_prints_model_and_env_text_literally(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _hostile_store(db)
    r = _cli("show", "r1", "--episode", "guess/t[/]1/0", "--store", str(db))
    assert r.returncode == 0, r.stderr
    shown = r.stdout
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown and "\x08" not in shown
    for text in ("closing [/] tag", "[link=file:///etc/passwd]click me[/link]", "[bold red]loud[/]"):
        assert text in shown
    assert "title \\x1b]0;pwned\\x07 change" in shown and "clear \\x1b[2J\\x1b[H screen" in shown
    assert "cr\\x0d end" in shown
    assert "user [[/]]:" in shown and "guess/t[/]1/0" in shown
    assert (
        "line one\n        indented [/]" in shown and "\\x09" not in shown
    )  # newline, tab kept (tab expanded)
    assert "boom [/] \\x1b[2J" in shown


def test_show_run_table_prints_ids_literally(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _hostile_store(db)
    r = _cli("show", "r1", "--store", str(db))
    assert r.returncode == 0, r.stderr
    assert "guess/t[/]1/0" in r.stdout


def test_runs_prints_names_from_the_command_line_literally(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    st = Store(db)
    st.create_run("r[/]2", {"envs": ["guess"], "agent": "[bold]react", "model": "openai:[/]m\x1b[2J"})
    st.close()
    r = _cli("runs", "--store", str(db))
    assert r.returncode == 0, r.stderr
    assert "r[/]2" in r.stdout and "[bold]react" in r.stdout and "openai:[/]m\\x1b[2J" in r.stdout
    assert "\x1b" not in r.stdout


def test_show_match_prints_seats_and_moves_literally(tmp_path: Path) -> None:
    from palaestra.records import MatchRecord, SeatRecord

    db = tmp_path / "s.db"
    st = Store(db)
    st.create_run("m", {"kind": "match", "game": "werewolf"})
    task = Task(env="werewolf", id="t1", split="test", seed=1)
    said = Message(role="assistant", content="[/] \x1b]0;x\x07 vote [link=file:///etc/passwd]me[/link]")
    seat = SeatRecord(seat="p[/]1", player="bot:x", steps=[StepRecord(0, [], said, 0.0, {})])
    st.write_match(
        "m", MatchRecord(id="m1", task=task, seats={"p[/]1": seat}, status="error", error="[/]\x1b[2J")
    )
    st.close()
    r = _cli("show", "m", "--episode", "m1", "--store", str(db))
    assert r.returncode == 0, r.stderr
    assert "── seat p[/]1 ──" in r.stdout and "\x1b" not in r.stdout
    assert "[/] \\x1b]0;x\\x07 vote [link=file:///etc/passwd]me[/link]" in r.stdout
    assert "error: [/]\\x1b[2J" in r.stdout
