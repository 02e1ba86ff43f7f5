import ast
import builtins
import contextlib
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.tools.calculator import CalculatorError, evaluate, format_number


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("12*7", 84),
        ("2**10 % 7", 2),
        ("7 // 2", 3),
        ("-3 - -4", 1),
        ("1/4", 0.25),
        ("3 \u00d7 4", 12),
    ],
)
def test_calculator_evaluates_arithmetic(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "(1).__class__",
        "x + 1",
        "[1, 2]",
        "lambda: 1",
        "9**9**9",
        "10**1000",
        "1/0",
        "5 % 0",
        "(-8) ** 0.5",
        "1e308 * 10",
        "",
        "1" * 300,
        "(" * 100 + "1" + ")" * 100,
    ],
)
def test_calculator_refuses_what_is_not_bounded_arithmetic(expression):
    with pytest.raises(CalculatorError):
        evaluate(expression)


def test_format_number_drops_a_whole_floats_point():
    assert (format_number(84.0), format_number(1 / 3), format_number(7)) == (
        "84",
        "0.3333333333",
        "7",
    )


numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
)
operators = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])


@st.composite
def arithmetic(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        return draw(numbers)
    left, right = draw(arithmetic(depth=depth - 1)), draw(arithmetic(depth=depth - 1))
    return f"({left} {draw(operators)} {right})"


@settings(max_examples=400, deadline=None)
@given(arithmetic())
def test_calculator_fuzz_arithmetic_returns_a_number_or_a_calculator_error(expression):
    try:
        value = evaluate(expression)
    except CalculatorError:
        return
    assert isinstance(value, int | float)


def _executed(*args, **kwargs):
    raise AssertionError("the calculator executed code")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_calculator_fuzz_any_text_returns_or_refuses_and_never_executes(text):
    # ast.parse compiles to a tree only; eval and exec must never be reached.
    with (
        patch.object(builtins, "eval", _executed),
        patch.object(builtins, "exec", _executed),
        contextlib.suppress(CalculatorError),
    ):
        evaluate(text)


@given(st.sampled_from(["__import__", "open", "exec", "eval", "globals", "getattr"]), st.text())
def test_calculator_fuzz_names_and_calls_are_refused(name, argument):
    with pytest.raises(CalculatorError):
        evaluate(f"{name}({argument!r})")


def test_calculator_walks_only_the_parsed_tree():
    # The walker sees a Call node and refuses it: nothing is looked up or run.
    assert isinstance(ast.parse("f(1)", mode="eval").body, ast.Call)
    with pytest.raises(CalculatorError, match="only numbers"):
        evaluate("f(1)")
