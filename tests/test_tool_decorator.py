from typing import Literal

from palaestra.tools import ToolError, collect_tools, dispatch, tool
from palaestra.types import ToolCall


class Box:
    @tool
    def move(self, direction: Literal["north", "south"], steps: int = 1) -> str:
        """Move the box.

        Args:
            direction: where to go.
            steps: how many cells,
                at most 3.
        """
        if steps > 3:
            raise ToolError("at most 3 steps")
        return f"moved {direction} {steps}"

    @tool(name="explode")
    def _explode(self) -> str:
        """Always fails."""
        raise KeyError("wire")


TOOLS = collect_tools(Box)


def test_schema_from_hints_and_docstring() -> None:
    spec = TOOLS["move"].spec
    assert spec.description == "Move the box."
    props = spec.parameters["properties"]
    assert props["direction"] == {"enum": ["north", "south"], "type": "string", "description": "where to go."}
    assert props["steps"]["type"] == "integer" and props["steps"]["default"] == 1
    assert props["steps"]["description"] == "how many cells, at most 3."
    assert spec.parameters["required"] == ["direction"]
    assert spec.parameters["additionalProperties"] is False
    assert "explode" in TOOLS


async def test_dispatch_valid_and_coerced() -> None:
    res = await dispatch(
        Box(), TOOLS, ToolCall(id="1", name="move", arguments={"direction": "north", "steps": "2"})
    )
    assert res.content == "moved north 2" and not res.invalid


async def test_every_bad_call_is_an_invalid_result_not_an_exception() -> None:
    box = Box()
    cases = {
        "unknown": ToolCall(id="1", name="fly", arguments={}),
        "enum": ToolCall(id="2", name="move", arguments={"direction": "up"}),
        "type": ToolCall(id="3", name="move", arguments={"direction": "north", "steps": "many"}),
        "missing": ToolCall(id="4", name="move", arguments={}),
        "extra": ToolCall(id="5", name="move", arguments={"direction": "north", "speed": 3}),
        "json": ToolCall(id="6", name="move", raw_arguments="{direction:", parse_error="invalid JSON"),
        "toolerror": ToolCall(id="7", name="move", arguments={"direction": "north", "steps": 9}),
        "crash": ToolCall(id="8", name="explode", arguments={}),
    }
    out = {k: await dispatch(box, TOOLS, c) for k, c in cases.items()}
    assert all(r.invalid for r in out.values())
    assert "unknown tool 'fly'" in out["unknown"].content and "move" in out["unknown"].content
    assert "direction" in out["enum"].content
    assert "steps" in out["type"].content
    assert "speed: unexpected argument" in out["extra"].content
    assert "not a valid JSON object" in out["json"].content
    assert out["toolerror"].content == "Error: at most 3 steps"
    assert "KeyError" in out["crash"].content


async def test_model_error_inside_a_tool_is_not_swallowed() -> None:
    import pytest

    from palaestra.errors import ModelError

    class Judge:
        @tool
        def ask(self, question: str) -> str:
            """Ask the judge model."""
            raise ModelError("judge unreachable")

    with pytest.raises(ModelError, match="judge unreachable"):
        await dispatch(
            Judge(), collect_tools(Judge), ToolCall(id="1", name="ask", arguments={"question": "?"})
        )


async def test_a_result_that_cannot_be_stringified_is_an_invalid_result() -> None:
    class Huge:
        @tool
        def big(self) -> int:
            """Return a number too long to print."""
            return 10**5000

    res = await dispatch(Huge(), collect_tools(Huge), ToolCall(id="1", name="big", arguments={}))
    assert res.invalid and "ValueError" in res.content


def test_wrapped_docstring_lines_are_joined_and_paragraphs_kept() -> None:
    class Doc:
        @tool
        def ask(self, question: str) -> str:
            """Ask a question about the
            hidden entity.

            Grammar: "Is it a mammal?" or
            "Is it in Europe?".

            Args:
                question: the question.
            """
            return ""

    spec = collect_tools(Doc)["ask"].spec
    assert (
        spec.description
        == 'Ask a question about the hidden entity.\n\nGrammar: "Is it a mammal?" or "Is it in Europe?".'
    )
    from palaestra.tools import describe_tools

    assert 'Grammar: "Is it a mammal?"' in describe_tools([spec])


def test_tools_text_renders_the_tool_list_from_the_specs() -> None:
    from palaestra import make

    env = make("guess")
    text = env.tools_text()
    assert text.startswith("Tools:\n- guess(number: integer): Guess the hidden number.")
    assert "number: your guess, an integer within the announced range." in text
    assert env.tools_text([]) == "Tools:"
