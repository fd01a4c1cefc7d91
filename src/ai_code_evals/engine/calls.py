"""Model-written tests as literal calls: the only form in which they reach the checker.

A generated test is untrusted text (the model that wrote the versions wrote it too), so it is
never executed. ``assert f(<literals>) == <literal>`` (either side, ``is`` for None/True/False)
becomes a call the checker makes with plain data and a value it compares with the reply.
Anything else is dropped, and counted.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratedCall:
    args_src: str  # a Python literal: the tuple of positional arguments
    kwargs_src: str  # a Python literal: the dict of keyword arguments
    expect_src: str  # a Python literal: the expected value

    def to_job(self) -> dict:
        return {"args": self.args_src, "kwargs": self.kwargs_src, "expect": self.expect_src}


def _literal(node: ast.AST) -> str | None:
    """The node's source when it is a literal (what ``ast.literal_eval`` accepts), else None."""
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return ast.unparse(node)


def _is_entry_call(node: ast.AST, entry_point: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point
            and not any(isinstance(a, ast.Starred) for a in node.args)
            and all(k.arg is not None for k in node.keywords))


@functools.lru_cache(maxsize=1 << 12)
def parse_generated_test(source: str, entry_point: str) -> GeneratedCall | None:
    """The literal call in ``source``, or None when it is not a plain equality assertion on
    ``entry_point`` with literal arguments and expected value. Cached: every version of a task
    gets the same tests, and parsing them again per version was most of the app's time per
    version in a selection run (benchmarks/bench_selection.py)."""
    try:
        tree = ast.parse(source.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, right, op = test.left, test.comparators[0], test.ops[0]
    if not _is_entry_call(left, entry_point):
        left, right = right, left
    if not _is_entry_call(left, entry_point):
        return None
    if isinstance(op, ast.Is):
        if not (isinstance(right, ast.Constant) and right.value in (None, True, False)):
            return None
    elif not isinstance(op, ast.Eq):
        return None
    args = [_literal(a) for a in left.args]
    kwargs = {k.arg: _literal(k.value) for k in left.keywords}
    expect = _literal(right)
    if expect is None or None in args or None in kwargs.values():
        return None
    args_src = "(" + "".join(f"{a}, " for a in args) + ")"
    kwargs_src = "{" + ", ".join(f"{k!r}: {v}" for k, v in kwargs.items()) + "}"
    return GeneratedCall(args_src, kwargs_src, expect)


def generated_calls(tests: list[str], entry_point: str) -> list[dict | None]:
    """Each test as the checker's job entry, None where it cannot run (kept, so indices hold)."""
    calls = (parse_generated_test(t, entry_point) if isinstance(t, str) else None for t in tests)
    return [c.to_job() if c else None for c in calls]
