"""docs/add-an-environment.md cannot drift from the code: every Python block of the guide is in the
guess environment or its test (or, where it is in neither, runs), and every ``>>>`` example gives
the output the guide shows."""

import ast
import re
from pathlib import Path
from typing import Any

import pytest

import palaestra
from palaestra.envs.guess import GuessEnv

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "add-an-environment.md"
SOURCES = [
    ROOT / "src/palaestra/envs/guess/env.py",
    ROOT / "src/palaestra/envs/guess/__init__.py",
    ROOT / "src/palaestra/envs/maze/env.py",
    ROOT / "tests/envs/test_guess.py",
]


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


CODE = [b for b in _blocks() if not b.startswith(">>>")]
EXAMPLES = [b for b in _blocks() if b.startswith(">>>")]


def _in_sources(block: str) -> bool:
    """Whether each paragraph of the block is verbatim in one of the sources (a block may join
    parts of a file, as the constants and the method that uses them)."""
    code = "\n".join(s.read_text() for s in SOURCES)
    paragraphs = [
        p.strip("\n")
        for p in re.split(r"\n\s*\n", block.split("\n", 1)[1] if block.startswith("# ") else block)
    ]
    return all(p in code for p in paragraphs if p.strip())


@pytest.mark.parametrize("block", CODE, ids=lambda b: b.splitlines()[0][:40])
def test_each_code_block_is_the_real_code_or_runs(block: str) -> None:
    if not _in_sources(block):
        exec(compile(block, str(GUIDE), "exec"), {})  # a usage snippet: it must run as written


def _examples(block: str) -> list[tuple[str, str]]:
    """``(source, expected output)`` of each ``>>>`` line of a block (comments dropped)."""
    out: list[tuple[str, str]] = []
    for line in block.splitlines():
        if line.startswith(">>> "):
            out.append((line[4:].split("  #")[0].strip(), ""))
        elif out:
            out[-1] = (out[-1][0], f"{out[-1][1]}\n{line}".strip())
    return out


async def _run(source: str, ns: dict[str, Any]) -> Any:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        code = compile(source, str(GUIDE), "eval", flags=flags)
    except SyntaxError:
        code = compile(source, str(GUIDE), "exec", flags=flags)
    value = eval(code, ns)
    if code.co_flags & 0x80:  # CO_COROUTINE: the line awaits
        value = await value
    return value


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.splitlines()[0][4:44])
async def test_each_example_gives_the_output_the_guide_shows(block: str) -> None:
    ns: dict[str, Any] = {**{n: getattr(palaestra, n) for n in palaestra.__all__}, "GuessEnv": GuessEnv}
    for source, expected in _examples(block):
        value = await _run(source, ns)
        if expected:
            assert value == ast.literal_eval(expected), (source, value)
