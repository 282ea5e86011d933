"""Arithmetic and statistics on numbers, and a safe evaluator for arithmetic expressions."""

from __future__ import annotations

import ast
import math
import operator
import statistics
from collections.abc import Callable
from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.state import WorldState

Number = int | float


def num(x: float) -> Number:
    """A result as the agent should read it: integers without ".0", others to 10 significant digits."""
    if not math.isfinite(x):
        raise ToolError("the result is not a finite number.")
    if x == int(x) and abs(x) < 1e15:
        return int(x)
    return float(f"{x:.10g}")


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "log": math.log,
    "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
}  # fmt: skip


def evaluate(expression: str) -> float:
    """Evaluate +, -, *, /, //, %, ** (exponent <= 100), parentheses, pi, e and a few functions."""
    if len(expression) > 300:
        raise ToolError("the expression is too long (300 characters at most).")
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError:
        raise ToolError(f"cannot parse {expression!r} as an arithmetic expression.") from None

    def ev(node: ast.AST) -> float:
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in ("pi", "e"):
            return math.pi if node.id == "pi" else math.e
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ToolError("exponents above 100 are not supported.")
            return float(_BINOPS[type(node.op)](left, right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            if node.keywords or not node.args:
                raise ToolError(f"call {node.func.id}() with positional arguments only.")
            return float(_FUNCS[node.func.id](*[ev(a) for a in node.args]))
        raise ToolError(
            f"unsupported element {ast.unparse(node)!r}; use numbers, + - * / // % **, parentheses, "
            f"pi, e and {', '.join(_FUNCS)}."
        )

    try:
        return ev(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero.") from None
    except (OverflowError, ValueError) as e:
        raise ToolError(f"cannot evaluate: {e}.") from None


def _need(numbers: list[float]) -> list[float]:
    if not numbers:
        raise ToolError("give at least one number.")
    if len(numbers) > 1000 or not all(math.isfinite(x) and abs(x) < 1e100 for x in numbers):
        raise ToolError("give at most 1000 numbers, each smaller than 1e100 in size.")
    return numbers


class MathTools(WorldState):
    @tool
    def add(self, a: float, b: float) -> Number:
        """Add two numbers: a + b.

        Args:
            a: first number.
            b: second number.
        """
        return num(a + b)

    @tool
    def subtract(self, a: float, b: float) -> Number:
        """Subtract b from a: a - b.

        Args:
            a: number to subtract from.
            b: number to subtract.
        """
        return num(a - b)

    @tool
    def multiply(self, a: float, b: float) -> Number:
        """Multiply two numbers: a * b.

        Args:
            a: first factor.
            b: second factor.
        """
        return num(a * b)

    @tool
    def divide(self, a: float, b: float) -> Number:
        """Divide a by b: a / b.

        Args:
            a: dividend.
            b: divisor (not zero).
        """
        if b == 0:
            raise ToolError("division by zero.")
        return num(a / b)

    @tool
    def power(self, base: float, exponent: float) -> Number:
        """Raise base to a power: base ** exponent.

        Args:
            base: the base.
            exponent: the exponent.
        """
        try:
            return num(math.pow(base, exponent))
        except (OverflowError, ValueError):
            raise ToolError("the result is too large or not a real number.") from None

    @tool
    def square_root(self, x: float) -> Number:
        """Square root of a non-negative number.

        Args:
            x: the number.
        """
        if x < 0:
            raise ToolError("no real square root of a negative number.")
        return num(math.sqrt(x))

    @tool
    def modulo(self, a: float, b: float) -> Number:
        """Remainder of dividing a by b (a mod b).

        Args:
            a: dividend.
            b: divisor (not zero).
        """
        if b == 0:
            raise ToolError("modulo by zero.")
        return num(math.fmod(a, b) if a * b >= 0 else a % b)

    @tool
    def absolute_value(self, x: float) -> Number:
        """Absolute value |x|.

        Args:
            x: the number.
        """
        return num(abs(x))

    @tool
    def logarithm(self, x: float, base: float = 10) -> Number:
        """Logarithm of x to a base (10 by default; use 2.718281828 for the natural log).

        Args:
            x: a positive number.
            base: the base, positive and not 1.
        """
        if x <= 0 or base <= 0 or base == 1:
            raise ToolError("x and base must be positive and base must not be 1.")
        return num(math.log(x, base))

    @tool
    def percentage_of(self, percent: float, value: float) -> Number:
        """What is percent % of value (e.g. 15 % of 80 = 12).

        Args:
            percent: the percentage.
            value: the whole.
        """
        return num(percent * value / 100)

    @tool
    def percent_change(self, old_value: float, new_value: float) -> Number:
        """Relative change from old_value to new_value in percent (rounded to 2 decimals).

        Args:
            old_value: the starting value (not zero).
            new_value: the new value.
        """
        if old_value == 0:
            raise ToolError("old_value must not be zero.")
        return num(round((new_value - old_value) / abs(old_value) * 100, 2))

    @tool
    def round_number(self, value: float, decimals: int = 0) -> Number:
        """Round a number to a number of decimal places.

        Args:
            value: the number.
            decimals: decimal places to keep (0..10).
        """
        if not 0 <= decimals <= 10:
            raise ToolError("decimals must be between 0 and 10.")
        return num(round(value, decimals))

    @tool
    def sum_numbers(self, numbers: list[float]) -> Number:
        """Sum of a list of numbers.

        Args:
            numbers: the numbers to add up.
        """
        return num(math.fsum(_need(numbers)))

    @tool
    def mean(self, numbers: list[float]) -> Number:
        """Arithmetic mean (average) of a list of numbers.

        Args:
            numbers: the numbers.
        """
        return num(statistics.fmean(_need(numbers)))

    @tool
    def median(self, numbers: list[float]) -> Number:
        """Median (middle value) of a list of numbers.

        Args:
            numbers: the numbers.
        """
        return num(statistics.median(_need(numbers)))

    @tool
    def standard_deviation(self, numbers: list[float]) -> Number:
        """Population standard deviation of a list of numbers.

        Args:
            numbers: the numbers.
        """
        return num(statistics.pstdev(_need(numbers)))

    @tool
    def max_number(self, numbers: list[float]) -> Number:
        """Largest of a list of numbers.

        Args:
            numbers: the numbers.
        """
        return num(max(_need(numbers)))

    @tool
    def min_number(self, numbers: list[float]) -> Number:
        """Smallest of a list of numbers.

        Args:
            numbers: the numbers.
        """
        return num(min(_need(numbers)))

    @tool
    def factorial(self, n: int) -> int:
        """Factorial n! of a whole number (0 <= n <= 50).

        Args:
            n: the number.
        """
        if not 0 <= n <= 50:
            raise ToolError("n must be between 0 and 50.")
        return math.factorial(n)

    @tool
    def greatest_common_divisor(self, a: int, b: int) -> int:
        """Greatest common divisor (GCD) of two whole numbers.

        Args:
            a: first number.
            b: second number.
        """
        return math.gcd(a, b)

    @tool
    def least_common_multiple(self, a: int, b: int) -> int:
        """Least common multiple (LCM) of two whole numbers.

        Args:
            a: first number.
            b: second number.
        """
        result = math.lcm(a, b)
        if result > 10**100:
            raise ToolError("the result is too large (more than 100 digits).")
        return result

    @tool
    def is_prime(self, n: int) -> bool:
        """Whether a whole number (up to 10**12) is prime.

        Args:
            n: the number.
        """
        if n > 10**12:
            raise ToolError("n must be at most 10**12.")
        if n < 2:
            return False
        return all(n % d for d in range(2, math.isqrt(n) + 1))

    @tool
    def evaluate_expression(self, expression: str) -> Number:
        """Evaluate an arithmetic expression such as "(12.5 + 3) * 4 / 2" or "sqrt(2) ** 2".

        Args:
            expression: numbers, + - * / // % ** (or ^), parentheses, pi, e, sqrt, abs, round, min,
                max, log, log10, exp, sin, cos, tan.
        """
        return num(evaluate(expression))
