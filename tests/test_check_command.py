"""`adkit check`: the side-by-side table, expression strings parsed safely, exit status 2
and one line for any bad input. The budget has its own tests in test_expression_budget.py;
hostile expressions run through the command line in tests/faults/."""

import numpy as np
import pytest

from adkit.__main__ import main
from adkit.expression import ExpressionError, compile_expression


def test_table_of_every_mode(capsys):
    assert main(["check", "np.sqrt(x1*x1 + x2*x2)", "--at", "x1=1", "x2=2"]) == 0
    out = capsys.readouterr().out
    assert "value: 2.23606797749979" in out
    row = next(line for line in out.splitlines() if line.startswith("df/dx1"))
    values = [float(v) for v in row.split()[1:]]
    assert len(values) == 4 and np.allclose(values, 1 / np.sqrt(5), rtol=1e-12)
    assert "numeric vs symbolic" in out and "all modes agree" in out


def test_order_two_adds_hessians(capsys):
    assert main(["check", "np.sum(np.sin(x) * x[0])", "--at", "x=0.5,1.5", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "d2f/dx[0]dx[1]" in out and "forward-over-reverse" in out


def test_kink_exits_with_its_own_status(capsys):
    assert main(["check", "np.abs(x)", "--at", "x=0"]) == 3
    assert "kink" in capsys.readouterr().out


@pytest.mark.parametrize("source, token", [
    ("__import__('os').system('ls')", "__import__('os').system"),
    ("x.__class__", "x.__class__"),
    ("open('f')", "open"),
    ("np.load('f')", "np.load"),
    ("(lambda: 1)()", "lambda: 1"),
    ("'text'", "'text'"),
    ("x[y]", "y"),
    ("[t for t in x]", "[t for t in x]"),
    ("np.sum(x, axis=y)", "y"),
    ("z + 1", "z"),
    ("x if x else 1", "x if x else 1"),
])
def test_anything_outside_the_grammar_names_its_token(source, token):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, ["x", "y"])
    assert f"offending token: {token!r}" in str(info.value)


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("adkit check: error: "), captured.err
    return lines[0]


def test_bad_expression_and_point_exit_with_a_message(capsys):
    assert main(["check", "np.sin(x", "--at", "x=1"]) == 2
    assert "cannot parse" in _one_error_line(capsys)
    assert main(["check", "x", "--at", "x=one"]) == 2
    assert "'one' is not a number" in _one_error_line(capsys)
    assert main(["check", "x", "--at", "x"]) == 2
    assert "NAME=VALUE" in _one_error_line(capsys)


@pytest.mark.parametrize("source, at, says", [
    ("9**9**9", "x=1", "OverflowError"),
    ("x/0", "x=1", "ZeroDivisionError"),
    ("x%0", "x=1", "ZeroDivisionError"),
    ("x[5]", "x=1,2", "index 5 is out of bounds"),
    ("np.sum(x, axis=3)", "x=1,2", "axis 3 is out of bounds"),
    ("np.sum(x, foo=1)", "x=1,2", "unexpected keyword argument 'foo'"),
    ("np.linalg.matrix_power(x, 2)", "x=1,2", "LinAlgError"),
])
def test_an_error_in_the_expression_is_bad_input_not_a_disagreement(capsys, source, at, says):
    assert main(["check", source, "--at", at]) == 2     # 1 would mean "the modes disagree"
    line = _one_error_line(capsys)
    assert "evaluating the expression failed" in line and says in line


@pytest.mark.parametrize("source, says", [
    ("x > 0", "value is of dtype bool, which has no derivative"),
    ("np.isnan(x)", "of dtype bool"),
    ("np.copyto(x, x)", "the expression's value is a NoneType"),
    ("np.result_type(x)", "which has no derivative"),
    ("np.linalg.eigh(x, x)", "AttributeError"),
])
def test_a_value_without_a_derivative_is_bad_input(capsys, source, says):
    assert main(["check", source, "--at", "x=0.3,0.7"]) == 2
    assert says in _one_error_line(capsys)


@pytest.mark.parametrize("source", ["np.exp(x, x)", "np.add(x, x, x)"])
def test_a_ufunc_output_argument_is_refused_before_it_overwrites_the_point(source):
    f = compile_expression(source, ["x"])
    x = np.array([0.3, 0.7])
    with pytest.raises(ExpressionError, match="would be its output array"):
        f(x)
    assert x.tolist() == [0.3, 0.7]


def test_a_failure_inside_adkit_has_its_own_status(capsys, monkeypatch):
    from adkit import check_command

    def broken(*args, **kwargs):
        raise ValueError("a rule\nthat broke")
    monkeypatch.setattr(check_command, "check_grads", broken)
    assert main(["check", "np.sin(x)", "--at", "x=0.3"]) == 4   # not 1, "modes disagree"
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("adkit check: internal error: ") and len(err) == 1
    assert "ValueError: a rule that broke" in err[-1] and "bug in adkit" in err[-1]


def test_a_check_past_its_time_limit_is_refused_in_one_line(capsys, monkeypatch):
    import signal
    import time
    from adkit import check_command
    monkeypatch.setattr(check_command, "check_grads", lambda *a, **k: time.sleep(30))
    before = signal.getsignal(signal.SIGALRM)
    started = time.perf_counter()
    assert main(["check", "np.sin(x)", "--at", "x=0.3", "--time-limit", "0.5"]) == 2
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert err.startswith("adkit check: error: the check took longer than its time limit "
                          "of 0.5 s") and err.count("\n") == 1
    assert signal.getsignal(signal.SIGALRM) is before                # the handler is back
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)        # and no timer left


def test_integer_arguments_stay_integers():
    f = compile_expression("np.sum(np.tile(x, 2), 0) + np.repeat(x, 3)[-1]", ["x"])
    assert f(np.array([1.0, 2.0])) == pytest.approx(8.0)


def test_compiled_expression_is_plain_numpy():
    f = compile_expression("np.sum(x ** 2, axis=0) @ w + pi", ["x", "w"])
    x, w = np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0])
    assert f(x, w) == pytest.approx(np.sum(x ** 2, axis=0) @ w + np.pi)
