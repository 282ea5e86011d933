"""The react agent's Action parser is linear in the reply's length, whatever the model writes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from palaestra.agents.react import parse_action

ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "newlines": lambda n: "\n" * n,
    "blank lines with spaces": lambda n: " \n" * (n // 2),
    "many Action lines": lambda n: "Action: x\n" * (n // 10),
    "many Action Input lines": lambda n: "Action Input:\n" * (n // 14),
    "long line": lambda n: "Action: f" + "a" * n,
    "unbalanced parentheses": lambda n: "Action: f" + "(" * n,
    "spaces inside a call": lambda n: "Action: f" + " " * n + "x",
    "stars": lambda n: "*" * n + "\n" + "**Action**" * (n // 10),
}


def _best_of_interleaved(*fns: Callable[[], object], repeat: int = 7) -> list[float]:
    """Each function's best time, measured in turns so that a load spike hits all of them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


@pytest.mark.parametrize("shape", list(ADVERSARIAL))
def test_parse_action_is_linear_on_adversarial_replies(shape: str) -> None:
    make = ADVERSARIAL[shape]
    parse_action(make(200_000), "c")  # completes (the old regex took hours at this size)
    # 8x the input must cost about 8x (64x if quadratic); compared side by side, never to a wall time
    small_text, large_text = make(12_500), make(100_000)
    small, large = _best_of_interleaved(
        lambda: parse_action(small_text, "c"), lambda: parse_action(large_text, "c")
    )
    assert large < 30 * max(small, 1e-5)


def test_parse_action_reads_the_same_forms_as_before() -> None:
    c = parse_action('Thought: a\n\n**Action**:\n\n  `move({"d": "north"})`  \n', "c")
    assert c is not None and c.name == "move" and c.arguments == {"d": "north"}
    c = parse_action("Action: first()\nAction: second()", "c")
    assert c is not None and c.name == "second"
    assert parse_action("Action:", "c") is None
    c = parse_action('Action: guess\nThought: hm\nAction Input:\n  {"number": 3}\n', "c")
    assert c is not None and c.arguments == {"number": 3}
    c = parse_action("Action: f(" + "[" * 5000 + ")", "c")
    assert c is not None and c.parse_error is not None
