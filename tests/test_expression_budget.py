"""The budget of `adkit check`: every array sized before it is allocated, each limit one
refusal naming the number, and ordinary expressions untouched."""

import functools

import numpy as np
import pytest

from adkit.__main__ import main
from adkit.expression import ExpressionError, compile_expression
from adkit.expression_budget import (MAX_DEPTH, MAX_DERIVATIVE_WORK, MAX_ELEMENTS,
                                     MAX_POINT_SIZE, MAX_SOURCE_CHARS, MAX_SYMBOLIC_WORK,
                                     MAX_WORK, BudgetError, check_derivative_cost,
                                     predicted_size)

X = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize("source, elements", [
    ("np.ones_like(x, shape=(20000, 20000))", 400_000_000),
    ("np.zeros_like(x, shape=(2000, 2000))", 4_000_000),
    ("np.linspace(0, 1, num=400000000)", 400_000_000),
    ("np.broadcast_to(1.0, shape=(1000, 1001))", 1_001_000),
    ("np.tile(x, (1000, 1000))", None),
    ("np.repeat(x, 10000000)", 30_000_000),
    ("np.resize(x, (5000, 5000))", 25_000_000),
    ("np.pad(x, 1000000)", 2_000_003),
    ("np.fft.fft(x, n=100000000)", 300_000_000),
    ("np.outer(np.tile(x, 400), np.tile(x, 400))", 1_440_000),
    ("np.kron(np.tile(x, 400), np.tile(x, 400))", 1_440_000),
    ("np.meshgrid(x, np.tile(x, 200), np.tile(x, 200))", 1_080_000),
    ("np.diag(np.tile(x, 400))", 1_440_000),
    ("np.bincount(np.argmax(x, 0), minlength=100000000)", 100_000_000),
])
def test_a_result_too_large_is_refused_with_its_size(source, elements):
    f = compile_expression(source, ["x"])
    with pytest.raises(BudgetError) as info:
        f(X)
    message = str(info.value)
    assert f"over the limit of {MAX_ELEMENTS:,} per array" in message and "\n" not in message
    if elements is not None:
        assert f"{elements:,} elements" in message


@pytest.mark.parametrize("source", ["np.ones_like(x, shape=(2000, 2000))",
                                    "np.ones_like(x, shape=(10, 10))"])
def test_the_refused_call_never_runs(monkeypatch, source):
    from adkit import expression
    calls = []

    @functools.wraps(np.ones_like)
    def spy(*args, **kwargs):
        calls.append(kwargs["shape"])
        return np.ones_like(*args, **kwargs)
    functions = {**expression.allowed_functions(), "np.ones_like": spy}
    monkeypatch.setattr(expression, "allowed_functions", lambda: functions)
    f = compile_expression(source, ["x"])
    if "2000" in source:
        with pytest.raises(BudgetError):
            f(X)
        assert calls == []
    else:
        assert f(X).shape == (10, 10) and calls == [(10, 10)]


@pytest.mark.parametrize("name, args, kwargs, expected", [
    ("+", [np.ones((3, 1)), np.ones((1, 4))], {}, 12),
    ("@", [np.ones((5, 3, 2)), np.ones((2, 7))], {}, 105),
    ("@", [np.ones(3), np.ones(3)], {}, 1),
    ("np.broadcast_to", [np.ones(3)], {"shape": (4, 3)}, 12),
    ("np.linspace", [0.0, 1.0], {"num": 50}, 50),
])
def test_predictions_are_exact_for_broadcasting_matmul_and_shapes(name, args, kwargs, expected):
    function = {"+": None, "@": None, "np.broadcast_to": np.broadcast_to,
                "np.linspace": np.linspace}[name]
    assert predicted_size(name, function, args, kwargs) == expected


def test_the_elements_of_one_evaluation_are_bounded_in_all():
    f = compile_expression(" + ".join(["np.sum(np.tile(x, 300000))"] * 20), ["x"])
    with pytest.raises(BudgetError, match=f"more than {MAX_WORK:,} array elements in all"):
        f(np.ones(3))
    assert MAX_WORK < f.last_work <= MAX_WORK + MAX_ELEMENTS


def test_ordinary_expressions_count_their_work():
    f = compile_expression("np.sum(np.outer(x, x)) + x[0]", ["x"])
    assert f(X) == pytest.approx(37.0)
    assert f.last_work == 3 + 9 + 1 + 1       # x, the outer product, its sum, the addition


def test_length_and_depth_are_refused_before_parsing():
    with pytest.raises(ExpressionError, match=f"over the limit of {MAX_SOURCE_CHARS:,}"):
        compile_expression("x+" * MAX_SOURCE_CHARS + "x", ["x"])
    with pytest.raises(ExpressionError, match=f"nested more than {MAX_DEPTH} levels"):
        compile_expression("-" * (MAX_DEPTH + 1) + "x", ["x"])
    assert compile_expression("-" * (MAX_DEPTH - 2) + "x", ["x"])(1.0) == 1.0
    with pytest.raises(ExpressionError, match="nested too deeply to parse"):
        compile_expression("-" * (MAX_SOURCE_CHARS - 1) + "x", ["x"])


def test_derivative_cost_names_the_cheaper_modes():
    check_derivative_cost(100, 10, 1, 1, ["forward", "symbolic"])       # 1,100
    with pytest.raises(BudgetError, match="--modes forward reverse numeric"):
        check_derivative_cost(MAX_SYMBOLIC_WORK, 1, 1, 1, ["forward", "reverse", "numeric",
                                                           "symbolic"])
    check_derivative_cost(MAX_SYMBOLIC_WORK, 1, 1, 1, ["forward", "reverse"])
    with pytest.raises(BudgetError, match=f"over the limit of {MAX_DERIVATIVE_WORK:,}"):
        check_derivative_cost(MAX_DERIVATIVE_WORK // 4, 2, 1, 2, ["reverse"])


def test_the_point_is_bounded(capsys):
    point = "x=" + ",".join(["1"] * (MAX_POINT_SIZE + 1))
    assert main(["check", "np.sum(x)", "--at", point]) == 2
    assert f"more than {MAX_POINT_SIZE:,} numbers" in capsys.readouterr().err


def test_help_states_every_limit(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for number in (MAX_SOURCE_CHARS, MAX_POINT_SIZE, MAX_ELEMENTS, MAX_WORK,
                   MAX_DERIVATIVE_WORK, MAX_SYMBOLIC_WORK):
        assert f"{number:,}" in text
    assert f"{MAX_DEPTH} levels" in text and "2 bad input" in text and "1 two modes" in text
    assert "4 adkit itself failed" in text


def test_the_readme_states_the_same_limits():
    from pathlib import Path
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    for stated in (f"over {MAX_SOURCE_CHARS:,} characters", f"or {MAX_DEPTH} levels deep",
                   f"over {MAX_POINT_SIZE:,} numbers", f"over {MAX_ELEMENTS:,} elements",
                   f"more than 10^{len(str(MAX_DERIVATIVE_WORK)) - 1} element-derivatives",
                   f"(2·10^{len(str(MAX_SYMBOLIC_WORK // 2)) - 1} with SymPy)"):
        assert stated in readme, stated
    from adkit.check_command import DEFAULT_TIME_LIMIT
    assert f"runs past {DEFAULT_TIME_LIMIT:g} seconds (`--time-limit`)" in readme
