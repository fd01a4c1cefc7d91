"""Where the app's own process spends its time, by section: result handling, logging, selection.

Each version's phases (engine/job.py) say where its wall time goes in and around its sandbox;
these sections say what the app itself spends on the way, so that ``benchmarks/bench_phases.py``
profiles a run from both sides. A section is a synchronous function marked ``@timed`` (never a
coroutine: an ``await`` would count other work), and a section entered inside another pauses
it: the totals are exclusive and add up. Each thread keeps its own open sections (the TUI's
thread may write the run log while the engine's thread is in a section); ``totals()`` adds
every thread's up. The clock is process-wide (one app, one process): a run reports the
difference of two ``totals()``. It costs two ``perf_counter`` calls per section entered.
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

_threads: list[dict[str, float]] = []  # each thread's totals, in seconds per section
_local = threading.local()


def _state() -> tuple[list[list], dict[str, float]]:
    """This thread's open sections ([name, started], innermost last) and its totals."""
    try:
        return _local.state
    except AttributeError:
        _local.state = ([], {})
        _threads.append(_local.state[1])
        return _local.state


def _enter(name: str) -> None:
    now = time.perf_counter()
    open_, totals_ = _state()
    if open_:
        outer = open_[-1]
        totals_[outer[0]] = totals_.get(outer[0], 0.0) + now - outer[1]
    open_.append([name, now])


def _leave() -> None:
    now = time.perf_counter()
    open_, totals_ = _state()
    name, started = open_.pop()
    totals_[name] = totals_.get(name, 0.0) + now - started
    if open_:
        open_[-1][1] = now  # the outer section goes on from here


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
    """Seconds per section so far, all threads of this process (open sections up to their last
    pause)."""
    out: dict[str, float] = {}
    for per_thread in _threads:
        for name, seconds in list(per_thread.items()):  # a copy: its thread may add a name meanwhile
            out[name] = out.get(name, 0.0) + seconds
    return out


def since(before: dict[str, float]) -> dict[str, float]:
    """Seconds per section since ``before`` (an earlier ``totals()``), rounded to the ms."""
    return {name: round(total - before.get(name, 0.0), 3) for name, total in sorted(totals().items())}
