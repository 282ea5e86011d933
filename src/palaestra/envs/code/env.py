"""Code: write a Python function from a statement; it is graded on hidden tests in a sandbox."""

from __future__ import annotations

from typing import Any

from palaestra import Env, EnvSpec, Task, ToolError, tool
from palaestra.envs.code.expert import ReferenceSubmitter
from palaestra.envs.code.grading import grade
from palaestra.envs.code.tasks import LEVELS, Problem, generate, problem, task_key
from palaestra.sandbox import run_python

MAX_STEPS = 20
OUTPUT_CHARS = 4000
"""How much of each output stream ``execute_python`` shows (the rest is cut with a marker)."""

INSTRUCTIONS = f"""\
You are a Python programmer. The task describes one function to write. Each reply you make is one \
turn; you have {MAX_STEPS} turns.
Tools:
  execute_python(code)  run a Python script and see its exit code, standard output and standard error. \
Every call starts from scratch in a fresh, empty directory (nothing is kept between calls); only the \
standard library is available, there is no network, and a run is stopped after {{timeout:g}} s. Use it \
to try your function on the examples and on cases you make up: define the function and print results.
  submit(code)  hand in your solution: the complete source that defines the function (with its \
imports and helpers). It is run on the hidden tests and the episode ends; you can submit once. \
The reward is the share of hidden tests passed; the task counts as solved when all pass.
Test your code with execute_python before you submit."""


class CodeEnv(Env):
    spec = EnvSpec(
        name="code",
        description="Write a Python function from its description; it is graded on hidden tests.",
        max_steps=MAX_STEPS,
        difficulties=LEVELS,
        metrics=("tests_passed", "executions"),
        tags=("coding", "sandbox"),
    )

    problem: Problem
    executions: int
    passed: float | None

    def __init__(self, timeout: float = 5.0, test_timeout: float = 10.0, per_test: float = 2.0) -> None:
        self.timeout = timeout
        self.test_timeout = test_timeout
        self.per_test = per_test

    generate = staticmethod(generate)

    def task_key(self, params: dict[str, Any]) -> str:
        return task_key(params)

    def setup(self, task: Task) -> str:
        self.problem = problem(task.params)
        self.executions = 0
        self.passed = None
        return self.problem.statement

    def instructions(self) -> str:
        return INSTRUCTIONS.format(timeout=self.timeout)

    @tool
    async def execute_python(self, code: str) -> str:
        """Run a Python script in a fresh sandbox and show its exit code, stdout and stderr.

        Args:
            code: the complete script to run (print what you want to see).
        """
        if not code.strip():
            raise ToolError("the code is empty; send a complete Python script.")
        self.executions += 1
        result = await run_python(code, timeout=self.timeout)
        parts = [f"exit code: {result.exit_code}"]
        stop = result.describe_limit(self.timeout)
        if stop:
            parts.append(stop)
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text:
                if len(text) > OUTPUT_CHARS:
                    text = text[:OUTPUT_CHARS] + f"\n[... {len(text) - OUTPUT_CHARS} more characters cut ...]"
                parts.append(f"{name}:\n{text.rstrip()}")
        if not result.stdout and not result.stderr:
            parts.append("(no output)")
        return "\n".join(parts)

    @tool
    async def submit(self, code: str) -> str:
        """Hand in the solution: it is run on the hidden tests and the episode ends.

        Args:
            code: the complete source that defines the function, with its imports and helpers.
        """
        if not code.strip():
            raise ToolError("the code is empty; submit the complete source of your function.")
        mark = f"@@palaestra-{self.task.seed:x}@@"
        result = await grade(self.problem, code, mark=mark, timeout=self.test_timeout, per_test=self.per_test)
        self.passed = result.fraction
        self.finish(success=result.passed == result.total, reward=result.fraction)
        return result.report

    def step_info(self) -> dict[str, Any]:
        return {"tests_passed": self.passed or 0.0, "executions": self.executions}

    def progress(self) -> float:
        """The share of hidden tests passed (0 until the submission)."""
        return self.passed or 0.0

    expert_policy = ReferenceSubmitter
