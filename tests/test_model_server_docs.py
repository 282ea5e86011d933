"""docs/model-servers.md: every `palaestra` line parses, and each server's recipe works against the
fake server imitating that server (offline)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from palaestra.cli import app
from palaestra.models.base import get_model
from palaestra.testing import FakeOpenAIServer

DOC = Path(__file__).parents[1] / "docs" / "model-servers.md"
_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
_URL = re.compile(r"@http://127\.0\.0\.1:\d+/v1")


def palaestra_lines() -> list[str]:
    blocks = _BLOCK.findall(DOC.read_text(encoding="utf-8"))
    return [line for block in blocks for line in block.splitlines() if line.startswith("palaestra ")]


def test_the_doc_has_a_recipe_per_server() -> None:
    text = DOC.read_text(encoding="utf-8")
    for server in ("## vLLM", "## SGLang", "## llama.cpp server", "### llama-cpp-python", "## Ollama"):
        assert server in text
    assert len(palaestra_lines()) >= 6


@pytest.mark.parametrize("line", palaestra_lines())
def test_every_command_in_the_doc_parses(line: str) -> None:
    group = typer.main.get_command(app)
    name, *args = shlex.split(line)[1:]
    command = group.get_command(group.make_context("palaestra", [name]), name)  # type: ignore[attr-defined]
    assert command is not None, line
    ctx = command.make_context(name, args, resilient_parsing=False)  # unknown options raise
    model = ctx.params.get("model")
    if model:
        get_model(model, **({"tool_role": ctx.params["tool_role"]} if ctx.params.get("tool_role") else {}))


# What each recipe's server does that matters to Palaestra, imitated by the fake server.
QUIRKS = {
    ":8000/v1 --max-context-tokens 30000": [],  # vLLM
    ":30000/v1": [],  # SGLang
    ":8080/v1": ["drop_tool_role"],  # llama.cpp: template from /props
    "--tool-role user": ["tools_need_choice", "drop_tool_role"],  # llama-cpp-python
    ":11434/v1": [],  # Ollama
}


@pytest.mark.parametrize("marker", list(QUIRKS))
def test_each_recipe_runs_against_its_imitation(tmp_path: Path, marker: str) -> None:
    (line,) = [x for x in palaestra_lines() if marker in x and "--json" not in x]

    def responder(req: dict[str, object]) -> dict[str, object]:
        tools = req.get("tools")
        assert isinstance(tools, list) and tools, "the tools must reach the model"
        return {"tool_calls": [{"name": tools[0]["function"]["name"], "arguments": {}}]}

    with FakeOpenAIServer(responder, quirks=QUIRKS[marker], slots=1, max_seconds=60) as srv:
        args = shlex.split(_URL.sub(f"@{srv.base_url}", line))[1:]
        args += ["-n", "1", "--max-steps", "3", "--store", str(tmp_path / "s.db"), "--json"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert srv.ok == 3 and srv.last_request is not None
        assert srv.last_request["tool_choice"] == "auto"
        if "drop_tool_role" in QUIRKS[marker]:  # the env's answers reach the model as user text
            assert all(m["role"] != "tool" for m in srv.last_request["messages"])
