"""Model-written tests as literal calls: the only form in which they reach the checker.

A generated test is untrusted text (the model that wrote the versions wrote it too), so it is
never executed. ``assert f(<literals>) == <literal>`` (either side, ``is`` for None/True/False)
becomes a call the checker makes with plain data and a value it compares with the reply.
Anything else is dropped, and counted.

Each call also goes to the checker in the wire form it forwards to the candidate (the runner's
tagged JSON, ``encode``), made once per task here: parsing and encoding three literals per test
per version in the checker was a third of its CPU in a selection run.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from ai_code_evals.sandbox.runner import Unsupported, encode


@dataclass(frozen=True)
class GeneratedCall:
    args_src: str  # a Python literal: the tuple of positional arguments
    kwargs_src: str  # a Python literal: the dict of keyword arguments
    expect_src: str  # a Python literal: the expected value
    wire: dict | None = None  # {"call": [args, kwargs], "want": expected} encoded; None if not data

    def to_job(self) -> dict:
        job = {"args": self.args_src, "kwargs": self.kwargs_src, "expect": self.expect_src}
        return {**job, **self.wire} if self.wire else job


def wire_call(args: tuple, kwargs: dict) -> list | None:
    """A call as the checker sends it to the candidate, or None when a value is not plain data
    (the checker then says so for that call)."""
    try:
        return [encode(list(args)), encode(dict(kwargs))]
    except Unsupported:
        return None


@functools.lru_cache(maxsize=1 << 14)
def probe_wire(source: str) -> list | str:
    """A probe (``((args), {kwargs})`` source) in wire form, once per task and not per version;
    the source itself where it is not plain data."""
    try:
        args, kwargs = ast.literal_eval(source)
        return wire_call(tuple(args), dict(kwargs)) or source
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return source


def _literal(node: ast.AST) -> tuple[object, str] | None:
    """(value, source) when the node is a literal (what ``ast.literal_eval`` accepts), else None."""
    try:
        return ast.literal_eval(node), ast.unparse(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


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
    args_src = "(" + "".join(f"{src}, " for _, src in args) + ")"
    kwargs_src = "{" + ", ".join(f"{k!r}: {src}" for k, (_, src) in kwargs.items()) + "}"
    call = wire_call(tuple(v for v, _ in args), {k: v for k, (v, _) in kwargs.items()})
    try:
        wire = {"call": call, "want": encode(expect[0])} if call is not None else None
    except Unsupported:
        wire = None
    return GeneratedCall(args_src, kwargs_src, expect[1], wire)


def generated_calls(tests: list[str], entry_point: str) -> list[dict | None]:
    """Each test as the checker's job entry, None where it cannot run (kept, so indices hold)."""
    calls = (parse_generated_test(t, entry_point) if isinstance(t, str) else None for t in tests)
    return [c.to_job() if c else None for c in calls]
