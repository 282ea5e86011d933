"""palaestra evolve: a loop with nothing to learn from stops cleanly; refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clitools import stderr_lines
from palaestra.testing.micro import build_micro_model


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from palaestra.cli import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_nothing_succeeded_stops_with_one_line_and_keeps_iteration_0(tmp_path: Path) -> None:
    micro = build_micro_model(tmp_path / "micro")  # random weights: never solves anything
    work = tmp_path / "loop"
    r = cli(
        "evolve", "guess", "--model", str(micro), "--out", str(work), "--train-tasks", "1",
        "--samples", "1", "--test-tasks", "1", "--difficulty", "1",
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = [line for line in stderr_lines(r.stderr) if not line.startswith("iteration 0")]
    assert len(lines) == 1 and "succeeded on none of 1 train episodes" in lines[0], r.stderr
    record = json.loads((work / "evolve.json").read_text())
    assert [row["iteration"] for row in record["iterations"]] == [0]
    assert record["iterations"][0]["test_mean"] == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evolve", "nope"], "unknown environment 'nope'"),
        (["evolve", "guess", "--iterations", "0"], "--iterations must be at least 1"),
        (["evolve", "guess", "--model", "/no/such/model"], "no local model at '/no/such/model'"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = cli(*args, "--out", str(tmp_path / "w"))
    assert r.returncode == 2 and message in r.stderr and len(stderr_lines(r.stderr)) == 1, r.stderr
    assert not (tmp_path / "w").exists()  # refused before anything was written
