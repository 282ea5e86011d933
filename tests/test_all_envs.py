"""Every single-agent environment works through the whole stack: runner, store, CLI play."""

import io

import pytest
from rich.console import Console

from palaestra import Env, RunConfig, Store, env_names, make, run
from palaestra.play import play_terminal

SINGLE = [n for n in env_names() if isinstance(make(n), Env) and n not in ("counter", "slow")]


@pytest.mark.slow  # every env twice through the whole runner: ~6 s idle; CI runs it
async def test_expert_and_random_through_the_runner(tmp_path) -> None:  # type: ignore[no-untyped-def]
    st = Store(tmp_path / "s.db")
    expert = await run(RunConfig(envs=SINGLE, agent="expert", tasks=3, seed=1), st)
    rand = await run(RunConfig(envs=SINGLE, agent="random", tasks=3, seed=1), st)
    se, sr = st.summary(expert), st.summary(rand)
    for name in SINGLE:
        assert se["envs"][name]["errors"] == 0, (name, st.error_examples(expert))
        assert se["envs"][name]["success_rate"] == 1.0, name
        assert sr["envs"][name]["errors"] == 0, (name, st.error_examples(rand))
    assert sr["success_rate"] < se["success_rate"]


@pytest.mark.parametrize("name", SINGLE)
async def test_play_starts_lists_tools_and_quits(name: str) -> None:
    buf = io.StringIO()
    lines = iter(["help", "quit"])
    await play_terminal(name, console=Console(file=buf, width=120), input_fn=lambda _: next(lines))
    text = buf.getvalue()
    assert "Tools:" in text and "type 'help'" in text


def test_envs_import_the_public_api_from_palaestra() -> None:
    """An env is written against ``palaestra``'s public names, never the internal modules that
    define them (the built-in envs are the examples authors copy)."""
    import ast
    from pathlib import Path

    import palaestra

    internal = {"palaestra.env", "palaestra.types", "palaestra.tools", "palaestra.tasksource"}
    internal |= {"palaestra.multi", "palaestra.agents.base", "palaestra.errors"}
    root = Path(palaestra.__file__).parent / "envs"
    bad = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in internal:
                bad += [
                    f"{path.relative_to(root)}: {a.name}" for a in node.names if a.name in palaestra.__all__
                ]
    assert bad == []
