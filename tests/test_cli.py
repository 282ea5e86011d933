"""The CLI as a user meets it: exit codes, one-line errors, --json, show, play."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clitools import stderr_lines

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]


def cli(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PALAESTRA, *args], capture_output=True, text=True, input=input, timeout=120, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "unknown environment 'nope'; valid environments: "),
        (["run", "guess", "--agent", "nope"], "unknown agent 'nope'; valid agents: "),
        (["run", "guess", "--agent", "tools", "--model", "nope:x"], "unknown model provider 'nope'; valid"),
        (["run", "guess", "--agent", "tools"], "needs a model"),
        (["run", "guess", "--model", "local:/no/such/model"], "no local model at '/no/such/model'"),
        (["run", "guess", "--split", "val"], "unknown split 'val'"),
        (["run", "guess", "--tasks", "0"], "--tasks must be at least 1"),
        (["show", "no-such-run"], "no store at"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    r = cli(*args, "--store", str(tmp_path / "s.db"))
    assert r.returncode == 2, r.stderr
    lines = stderr_lines(r.stderr)
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_foreign_store_is_refused_untouched(tmp_path: Path) -> None:
    p = tmp_path / "thesis.tex"
    p.write_text("\\documentclass{article}\n")
    r = cli("run", "guess", "--agent", "expert", "--store", str(p))
    assert r.returncode == 2 and "not a SQLite database" in r.stderr
    assert p.read_text() == "\\documentclass{article}\n"


def test_run_json_then_show(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    r = cli("run", "guess", "maze", "--agent", "expert", "-n", "4", "--store", db, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    for key in (
        "run_id",
        "episodes",
        "success_rate",
        "mean_reward",
        "mean_progress",
        "invalid_action_rate",
        "errors",
        "input_tokens",
        "output_tokens",
        "wall_s",
        "envs",
    ):
        assert key in s
    assert s["episodes"] == 8 and s["success_rate"] == 1.0 and set(s["envs"]) == {"guess", "maze"}
    shown = json.loads(cli("show", "last", "--json", "--store", db).stdout)
    assert shown["summary"]["episodes"] == 8
    from palaestra import make

    first = make("guess").tasks("test", 4)[0].id
    ep = cli("show", s["run_id"], "--episode", f"guess/{first}/0", "--store", db)
    assert ep.returncode == 0 and "is correct" in ep.stdout and "guess" in ep.stdout
    missing = cli("show", s["run_id"], "--episode", "guess/nope/0", "--store", db)
    assert missing.returncode == 2 and "no episode" in missing.stderr
    runs = cli("runs", "--store", db)
    assert s["run_id"][:8] in runs.stdout


def test_play_solves_guess_from_stdin() -> None:
    from palaestra import make

    task = make("guess").tasks("train", 1, seed=0)[0]
    r = cli("play", "guess", "--seed", "0", input=f"help\nfly away\nguess {task.params['secret']}\n")
    assert r.returncode == 0, r.stderr
    assert "guess(number: integer)" in r.stdout
    assert "unknown command 'fly'" in r.stdout
    assert "is correct" in r.stdout and "solved in 1 steps" in r.stdout


def test_read_commands_do_not_create_a_store(tmp_path: Path) -> None:
    for cmd in (["show", "last"], ["runs"], ["stats", "last"], ["report", "last"]):
        r = cli(*cmd, "--store", str(tmp_path / "typo.db"))
        assert r.returncode == 2 and "no store at" in r.stderr, (cmd, r.stderr)
    assert not (tmp_path / "typo.db").exists()


def test_store_path_with_uri_characters(tmp_path: Path) -> None:
    from palaestra import Store

    (tmp_path / "q").mkdir()
    Store(tmp_path / "q" / "a?b#c.db").close()
    assert (tmp_path / "q" / "a?b#c.db").exists() and sorted(p.name for p in (tmp_path / "q").iterdir())[
        0
    ] == "a?b#c.db"


def test_unknown_run_in_an_existing_store(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    assert cli("run", "guess", "--agent", "expert", "-n", "1", "--store", db).returncode == 0
    r = cli("show", "no-such-run", "--store", db)
    assert r.returncode == 2 and "no run 'no-such-run'" in r.stderr and "recent runs:" in r.stderr


def test_env_args_reach_the_environment(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    bad = cli("run", "deduction", "--agent", "expert", "--env-arg", "deduction.nope=1", "--store", db)
    assert bad.returncode == 2 and "deduction takes no 'nope'" in bad.stderr and "answerer" in bad.stderr
    bad = cli("run", "guess", "--agent", "expert", "--env-arg", "answerer=mock", "--store", db)
    assert bad.returncode == 2 and "none of guess takes 'answerer'" in bad.stderr
    # a model answerer that fails: the deduction episode ends as an error, guess is unaffected
    script = tmp_path / "down.jsonl"
    script.write_text('{"error": "answerer is down"}\n')
    r = cli(
        "run", "deduction", "guess", "-n", "1", "--agent", "random",
        "--env-arg", f"answerer=mock:{script}", "--env-arg", "deduction.judge_all=true",
        "--store", db, "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["envs"]["guess"]["errors"] == 0 and s["envs"]["deduction"]["errors"] == 1


def test_match_runs_are_shown_as_standings_and_resumed_by_their_own_command(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    r = cli(
        "tournament",
        "matrix-pd",
        "--players",
        "bot:tit-for-tat",
        "bot:always-defect",
        "--store",
        db,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)["run_id"]
    wrong = cli("run", "--resume", rid, "--store", db)
    assert wrong.returncode == 2 and f"palaestra tournament --resume {rid}" in wrong.stderr
    shown = cli("show", rid, "--store", db)
    assert (
        shown.returncode == 0 and "bot:tit-for-tat" in shown.stdout and "--episode MATCH_ID" in shown.stdout
    )
