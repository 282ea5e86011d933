"""The one lazy registry behind environments, agents and model providers."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from clitools import PALAESTRA
from palaestra import Store, UsageError, make
from palaestra.agents.base import AGENTS, make_agent
from palaestra.env import ENVS, env_factory
from palaestra.envs import BUILTIN_ENVS
from palaestra.models.base import PROVIDERS, get_model
from palaestra.registry import Registry


def test_listing_the_environments_imports_none_of_them() -> None:
    code = (
        "import sys; from palaestra import env_names; names = env_names(); "
        "print(len(names), sorted(m for m in sys.modules if m.startswith('palaestra.envs.')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(" ", 1) == [str(len(BUILTIN_ENVS)), "[]\n"]


@pytest.mark.parametrize("name", sorted(BUILTIN_ENVS))
def test_every_builtin_entry_names_the_class_with_that_spec(name: str) -> None:
    assert env_factory(name).spec.name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("registry", "use"),
    [
        (ENVS, lambda name: make(name)),
        (AGENTS, lambda name: make_agent(name, env=make("guess"))),
        (PROVIDERS, lambda name: get_model(f"{name}:x")),
    ],
    ids=["envs", "agents", "providers"],
)
def test_a_broken_plugin_is_one_line_and_breaks_only_its_name(
    monkeypatch: pytest.MonkeyPatch, registry: Registry[Any], use: Any
) -> None:
    eps = [
        EntryPoint(name="broken-plugin", value="no_such_module_for_palaestra:Thing", group=registry.group),
        EntryPoint(name="guess", value="no_such_module_for_palaestra:Shadow", group=registry.group),
    ]
    monkeypatch.setattr(
        "palaestra.registry.entry_points", lambda group: eps if group == registry.group else []
    )
    monkeypatch.setattr(registry, "_plugins_read", False)
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    assert "broken-plugin" in registry.names()
    with pytest.raises(UsageError) as e:
        use("broken-plugin")
    message = str(e.value)
    assert "\n" not in message and "broken-plugin" in message and "plugin" in message
    assert "No module named 'no_such_module_for_palaestra'" in message
    if registry is ENVS:  # a plugin never shadows a built-in
        assert make("guess").spec.name == "guess"


ONE_FILE_ENV = '''
import random
from typing import Any
from palaestra import Env, EnvSpec, Task, tool

class Coin(Env):
    spec = EnvSpec(name="coin-flip", description="Call the coin.", max_steps=3)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"side": rng.choice(["heads", "tails"]), "n": rng.randrange(10**9)}

    def setup(self, task: Task) -> str:
        return "Call heads or tails."

    @tool
    def pick(self, side: str) -> str:
        """Call the coin.

        Args:
            side: heads or tails.
        """
        self.finish(side == self.task.params["side"])
        return "it was " + self.task.params["side"]
'''


def test_a_one_file_environment_runs_by_path(tmp_path: Path) -> None:
    (tmp_path / "coin.py").write_text(ONE_FILE_ENV)
    ref = f"{tmp_path / 'coin.py'}:Coin"
    r = subprocess.run(
        [*PALAESTRA, "run", ref, "--agent", "random", "-n", "4", "--store", str(tmp_path / "s.db"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["episodes"] == 4 and summary["errors"] == 0, summary


def test_a_reference_that_is_not_an_env_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("Thing = 3\n")
    with pytest.raises(UsageError, match="is not an environment class"):
        env_factory(f"{tmp_path / 'plain.py'}:Thing")
    with pytest.raises(UsageError, match="no such file"):
        env_factory(f"{tmp_path / 'missing.py'}:Thing")


LABELLED_ENV = ONE_FILE_ENV.replace(
    '    def setup(self, task: Task) -> str:\n        return "Call heads or tails."',
    '    def __init__(self, label: str = "none") -> None:\n        self.label = label\n\n'
    '    def setup(self, task: Task) -> str:\n        return "Call heads or tails, " + self.label + "."',
)


def test_env_args_reach_every_episode_of_an_environment_run_by_path(tmp_path: Path) -> None:
    (tmp_path / "coin.py").write_text(LABELLED_ENV)
    db = tmp_path / "s.db"
    ref = f"{tmp_path / 'coin.py'}:Coin"
    r = subprocess.run(
        [
            *PALAESTRA,
            "run",
            ref,
            "--agent",
            "random",
            "-n",
            "3",
            "--env-arg",
            "label=please",
            "--store",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    st = Store(db, create=False, read_only=True)
    (run,) = st.runs()
    goals = [
        st.episode(run["id"], e["id"])["steps"][0]["observation"][1]["content"]
        for e in st.episodes(run["id"])
    ]
    assert len(goals) == 3 and all(g.startswith("Call heads or tails, please.") for g in goals), goals
