"""Where the app's own process spends its time, by section: result handling, logging, selection.

Each version's phases (engine/job.py) say where its wall time goes in and around its sandbox;
these sections say what the app itself spends on the way, so that ``benchmarks/bench_phases.py``
profiles a run from both sides. A section wraps synchronous code only (never an ``await``), and a
section entered inside another pauses it: the totals are exclusive and add up. The clock is
process-wide (one app, one process); a run reports the difference of two ``totals()``. It costs
two ``perf_counter`` calls per section entered.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

F = TypeVar("F", bound=Callable)

_totals: dict[str, float] = {}
_open: list[list] = []  # [name, started] of the sections entered and not left, innermost last


def _enter(name: str) -> None:
    now = time.perf_counter()
    if _open:
        outer = _open[-1]
        _totals[outer[0]] = _totals.get(outer[0], 0.0) + now - outer[1]
    _open.append([name, now])


def _leave() -> None:
    now = time.perf_counter()
    name, started = _open.pop()
    _totals[name] = _totals.get(name, 0.0) + now - started
    if _open:
        _open[-1][1] = now  # the outer section goes on from here


@contextmanager
def section(name: str):
    """Count the block's wall time under ``name`` (minus the sections inside it)."""
    _enter(name)
    try:
        yield
    finally:
        _leave()


def timed(name: str) -> Callable[[F], F]:
    """Decorator: every call of a synchronous function counts under ``name``."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            _enter(name)
            try:
                return fn(*args, **kwargs)
            finally:
                _leave()
        return inner  # type: ignore[return-value]
    return wrap


def totals() -> dict[str, float]:
    """Seconds per section so far, this process (open sections up to their last pause)."""
    return dict(_totals)


def since(before: dict[str, float]) -> dict[str, float]:
    """Seconds per section since ``before`` (an earlier ``totals()``), rounded to the ms."""
    return {name: round(total - before.get(name, 0.0), 3) for name, total in sorted(_totals.items())}
