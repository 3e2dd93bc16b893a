"""Expression strings made into functions safely: `"np.sqrt(x1*x1 + x2*x2)"` -> f(x1, x2).

Used by `adkit check`. The string is parsed with Python's own parser, then
every node is checked against a small grammar: numbers, the variables named
at the command line, arithmetic and comparison operators, indexing with
numbers, list/tuple literals, and calls of NumPy functions that adkit's
primitive table covers (np.sin, np.linalg.norm, ...), with numeric keyword
arguments. Nothing is passed to eval(): the checked tree is interpreted
node by node, so no attribute, import or builtin outside the grammar can run.
The text's length and nesting depth are bounded before it is parsed and
checked, and every array it creates is sized before NumPy allocates it
(adkit.expression_budget).
"""

from __future__ import annotations

import ast
import inspect
import operator
from typing import Any, Callable

import numpy as np

from .expression_budget import MAX_DEPTH, MAX_SOURCE_CHARS, EvaluationBudget

__all__ = ["ExpressionError", "compile_expression"]


class ExpressionError(ValueError):
    """An expression string outside the allowed grammar or over its size limits."""


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.MatMult: operator.matmul,
           ast.Mod: operator.mod}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge}
_CONSTANTS = {"pi": np.pi, "e": np.e}


def allowed_functions() -> dict[str, Callable]:
    """'np.sin' -> np.sin (and aliases such as np.abs) for every NumPy function that
    reaches adkit's table."""
    from . import dispatch  # noqa: F401  (fills the table)
    from .table import FUNCTIONS, UFUNC_HANDLERS, UFUNCS
    out = {}
    for prefix, module in (("np.", np), ("np.linalg.", np.linalg), ("np.fft.", np.fft)):
        for name in dir(module):
            obj = getattr(module, name, None)
            try:
                known = obj in FUNCTIONS or obj in UFUNCS or obj in UFUNC_HANDLERS
            except TypeError:  # unhashable
                known = False
            if known:
                out[prefix + name] = obj
    return out


def compile_expression(source: str, variables: list[str]) -> Callable:
    """A function of `variables` (positional, in order) computing the expression.

    Each call sizes every array before creating it and raises BudgetError (an
    ExpressionError) past the limits of adkit.expression_budget; the function's
    `last_work` attribute holds the elements the latest call created.

    >>> f = compile_expression("np.sum(x ** 2)", ["x"])
    >>> float(f(np.array([1.0, 2.0]))), f.last_work
    (5.0, 5)
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"the expression has {len(source):,} characters, over the limit "
                              f"of {MAX_SOURCE_CHARS:,}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse {_shorten(source)!r}: {e.msg} at column "
                              f"{e.offset}") from None
    except (MemoryError, RecursionError):   # CPython's parser stack, on deep nesting
        raise ExpressionError(f"the expression is nested too deeply to parse; the limit is "
                              f"{MAX_DEPTH} levels") from None
    _check_depth(tree)
    functions = allowed_functions()
    _Checker(source, set(variables), functions).visit(tree)
    body = tree.body

    def f(*values: Any) -> Any:
        budget = EvaluationBudget(values)
        try:
            return _evaluate(body, dict(zip(variables, values)), functions, budget)
        finally:
            f.last_work = budget.work  # type: ignore[attr-defined]
    f.__name__ = "expression"
    f.last_work = 0  # type: ignore[attr-defined]
    f.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(v, inspect.Parameter.POSITIONAL_OR_KEYWORD) for v in variables])
    return f


def _shorten(source: str, limit: int = 80) -> str:
    return source if len(source) <= limit else source[:limit - 3] + "..."


def _check_depth(tree: ast.AST) -> None:
    """Refuse nesting past MAX_DEPTH, walking iteratively (the checker and the evaluator
    recurse, so they must never see a deeper tree)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels "
                                  f"deep (at column {getattr(node, 'col_offset', 0) + 1})")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Checker(ast.NodeVisitor):
    def __init__(self, source: str, variables: set, functions: dict) -> None:
        self.source, self.variables, self.functions = source, variables, functions

    def refuse(self, node: ast.AST, what: str) -> ExpressionError:
        token = ast.get_source_segment(self.source, node) or type(node).__name__
        return ExpressionError(
            f"{what} is not allowed in an expression (offending token: {token!r} at column "
            f"{getattr(node, 'col_offset', 0) + 1}). Allowed: numbers, the variables given "
            f"with --at ({', '.join(sorted(self.variables)) or 'none'}), pi, e, operators "
            "+ - * / ** @ % and comparisons, x[i] indexing, [a, b] lists, and calls of "
            "np. functions adkit differentiates (docs/coverage.md)")

    def generic_visit(self, node: ast.AST) -> None:
        raise self.refuse(node, f"the Python construct {type(node).__name__}")

    def visit_Expression(self, node: ast.Expression) -> None:
        self.visit(node.body)

    def visit_Constant(self, node: ast.Constant) -> None:
        if type(node.value) not in (int, float):
            raise self.refuse(node, f"a {type(node.value).__name__} constant")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id not in self.variables and node.id not in _CONSTANTS:
            raise self.refuse(node, f"the name {node.id!r}")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) not in _BINARY:
            raise self.refuse(node, f"the operator {type(node.op).__name__}")
        self.visit(node.left)
        self.visit(node.right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if type(node.op) not in _UNARY:
            raise self.refuse(node, f"the operator {type(node.op).__name__}")
        self.visit(node.operand)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise self.refuse(node, "this comparison")
        self.visit(node.left)
        self.visit(node.comparators[0])

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        index = node.slice
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        for p in parts:
            if not (isinstance(p, ast.Constant) and type(p.value) is int or
                    isinstance(p, ast.UnaryOp) and isinstance(p.op, ast.USub) and
                    isinstance(p.operand, ast.Constant) and type(p.operand.value) is int):
                raise self.refuse(p, "an index other than an integer")

    def visit_List(self, node: ast.List) -> None:
        for e in node.elts:
            self.visit(e)

    visit_Tuple = visit_List

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        if name is None or name not in self.functions:
            raise self.refuse(node.func, f"calling {name}" if name else
                              "a call of anything but an np. function")
        for a in node.args:
            self.visit(a)
        for k in node.keywords:
            if k.arg is None:
                raise self.refuse(node, "**kwargs")
            value = k.value
            if isinstance(value, ast.Tuple):
                for e in value.elts:
                    self._integer(e)
            else:
                self._number(value)

    def _integer(self, node: ast.AST) -> None:
        if not (isinstance(node, ast.Constant) and type(node.value) is int):
            raise self.refuse(node, "a keyword value other than a number")

    def _number(self, node: ast.AST) -> None:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            node = node.operand
        if not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
            raise self.refuse(node, "a keyword value other than a number")


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


_OPERATOR_NAMES = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
                   ast.MatMult: "@", ast.Mod: "%", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                   ast.GtE: ">="}


def _evaluate(node: ast.AST, env: dict, functions: dict, budget: EvaluationBudget) -> Any:
    ev = lambda n: _evaluate(n, env, functions, budget)  # noqa: E731
    if isinstance(node, ast.Constant):
        return float(node.value) if type(node.value) is int else node.value
    if isinstance(node, ast.Name):
        return env[node.id] if node.id in env else _CONSTANTS[node.id]
    if isinstance(node, (ast.BinOp, ast.Compare)):
        op = node.op if isinstance(node, ast.BinOp) else node.ops[0]
        right = node.right if isinstance(node, ast.BinOp) else node.comparators[0]
        table = _BINARY if isinstance(node, ast.BinOp) else _COMPARE
        operands = [ev(node.left), ev(right)]
        return _counted(_OPERATOR_NAMES[type(op)], table[type(op)], None, operands, {}, budget)
    if isinstance(node, ast.UnaryOp):
        return _counted("unary " + ("-" if isinstance(node.op, ast.USub) else "+"),
                        _UNARY[type(node.op)], None, [ev(node.operand)], {}, budget)
    if isinstance(node, ast.Subscript):
        return ev(node.value)[_index(node.slice)]
    if isinstance(node, (ast.List, ast.Tuple)):
        return _counted("a list literal", np.array, None, [[ev(e) for e in node.elts]], {},
                        budget)
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        kwargs = {k.arg: _literal(k.value) for k in node.keywords}
        # A whole-number argument stays an int (np.tile(x, 2), np.sum(x, 0)); in
        # arithmetic, numbers are floats, so 9**9**9 overflows instead of computing.
        args = [_literal(a) if _is_integer_literal(a) else ev(a) for a in node.args]
        return _counted(name, functions[name], functions[name], args, kwargs, budget)
    raise AssertionError(f"unchecked node {type(node).__name__}")  # the checker forbids it


def _counted(name: str, call: Callable, function: Callable | None, args: list, kwargs: dict,
             budget: EvaluationBudget) -> Any:
    """call(*args, **kwargs), sized by the budget before and counted after."""
    if isinstance(function, np.ufunc) and len(args) > function.nin:
        # the extra positional argument is `out`: it would overwrite an input in place
        raise ExpressionError(f"{name} takes {function.nin} argument(s); a further one "
                              "would be its output array, which is not allowed")
    budget.before(name, function, args, kwargs)
    result = call(*args, **kwargs)
    budget.after(name, result)
    return result


def _is_integer_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _index(node: ast.AST) -> Any:
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    return _literal(node)


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)
