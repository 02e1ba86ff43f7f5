"""A safe calculator: an AST walker over numbers and + - * / // % **. It never calls eval.

Anything outside that grammar, and any result too large to be useful, is a `CalculatorError`.
"""

import ast
import math
import operator
from collections.abc import Callable

MAX_EXPRESSION_CHARS = 200
MAX_DEPTH = 30
MAX_EXPONENT = 100
MAX_MAGNITUDE = 10**100

Number = int | float


class CalculatorError(ValueError):
    """The expression is not arithmetic we evaluate, or its result is out of bounds."""


BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression such as `12*7` or `(2**10) % 7`."""
    text = expression.strip().replace("\u00d7", "*").replace("\u00f7", "/").replace("^", "**")
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"an expression is 1 to {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculatorError(f"{expression!r} is not arithmetic") from None
    return _checked(_walk(tree.body, 0))


def _walk(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalculatorError("the expression is nested too deeply")
    # `type(...) is`, not isinstance: True and False are ints, and are not numbers here.
    if isinstance(node, ast.Constant) and (type(node.value) is int or type(node.value) is float):
        return _checked(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_walk(node.operand, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _walk(node.left, depth + 1), _walk(node.right, depth + 1)
        return _checked(_apply(type(node.op), left, right))
    raise CalculatorError("only numbers and + - * / // % ** are allowed")


def _apply(op: type[ast.operator], left: Number, right: Number) -> Number:
    if op is ast.Pow and (abs(right) > MAX_EXPONENT or (left == 0 and right < 0)):
        raise CalculatorError(f"exponents are limited to ±{MAX_EXPONENT}, and 0 to a negative")
    try:
        return BINARY[op](left, right)
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except (OverflowError, ValueError):
        raise CalculatorError("the result is out of range") from None


def _checked(value: Number) -> Number:
    if isinstance(value, complex):
        raise CalculatorError("the result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("the result is out of range")
    if abs(value) > MAX_MAGNITUDE:
        raise CalculatorError("the result is out of range")
    return value


def format_number(value: Number) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
