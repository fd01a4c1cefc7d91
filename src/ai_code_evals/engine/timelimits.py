"""Per-test time limits derived from the task's reference solution, as EvalPlus does.

A candidate that never terminates costs the whole per-test limit, so a task author's generous
``time_limit_s`` (say 3 s) makes every ``while True: pass`` cost 3 s of a sandbox. EvalPlus
instead gives each test ``max(floor, factor x T_ref)``, with ``T_ref`` the ground-truth
solution's measured time (its defaults: a 4 s floor, factor 4). Here the limit of a task is

    min(task.time_limit_s, max(floor, factor x T_ref))

with ``T_ref`` the slowest of the reference's own tests and bad-input cases, and its load time
(the runner bounds loading by the same limit). The task's ``time_limit_s`` stays the upper
bound: it is the author's explicit contract.

Why our default floor (0.5 s) is lower than EvalPlus' 4 s: EvalPlus runs hundreds of inputs per
sample under one process-level timeout, so its floor has to absorb start-up, imports and the
noise of many calls; here each test has its own in-process alarm, the interpreter start and the
load are outside the tests (the load is measured on its own), and the reference is measured in
the same run, on the same loaded machine, as the candidates. The floor only has to absorb
scheduling noise around one call.

A model-written test or a probe (the evidence for selection) is one literal call, where a test
(HumanEval's ``check``) makes several (seven on average): each such call gets a tenth of the
per-test limit, at least 0.05 s, and at least twice the reference's slowest test when that was
measured (``call_limit_s``), so that a call as heavy as a whole test of the reference never
times out. A version that never ends used to cost the whole per-test limit (0.5 s) on each of up
to three such calls, then a fifth of it: on 8,200 real versions, waiting on those time-outs was
a fifth of the selection run's sandbox time. A tenth brought the run from about 2× to 1.70–1.83×
the plain run's time with the same top-1 picks (``benchmarks/bench_selection.py --plain-peer``).

Without a usable measurement (no reference, a reference that fails or could not run, the
derivation switched off with factor 0) the task's own limit applies, as before. Perf cases keep
their own limits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ai_code_evals.core.errors import InputError

DEFAULT_MIN_TIME_LIMIT_S = 0.5
DEFAULT_TIME_LIMIT_FACTOR = 4.0
CALLS_PER_TEST = 10  # a test makes several calls; a model-written test or a probe makes one
MIN_CALL_LIMIT_S = 0.05
REFERENCE_CALL_FACTOR = 2  # a call may take twice the reference's slowest whole test


def check_policy(min_time_limit_s: float, factor: float) -> None:
    """One readable line for a floor or factor that cannot work."""
    if not (isinstance(min_time_limit_s, (int, float)) and math.isfinite(min_time_limit_s)
            and min_time_limit_s > 0):
        raise InputError(f"--min-time-limit must be a positive number of seconds, not {min_time_limit_s!r}")
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and (factor == 0 or factor >= 1)):
        raise InputError(f"--time-limit-factor must be 0 (off) or at least 1, not {factor!r} "
                         "(below 1 the reference itself would time out)")


def fmt_ms(ms: float) -> str:
    """2.1ms, 310ms, 1.23s: three significant digits, readable at any scale."""
    if ms >= 1000:
        return f"{ms / 1000:.3g}s"
    return f"{ms:.3g}ms"


def fmt_s(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True)
class TimeLimit:
    """The per-test limit one task's candidates run under, and why it is that value."""

    limit_s: float
    reason: str  # e.g. "limit 0.5s = max(0.5s, 4 x reference 2.1ms)"
    derived: bool = False
    reference_ms: float | None = None  # T_ref: max(load, slowest test) of the reference
    reference_load_ms: float | None = None
    reference_test_ms: float | None = None

    def to_data(self) -> dict:
        """The keys recorded in the reference_check event's ``result`` (resume reads them back)."""
        return {"time_limit_s": self.limit_s, "time_limit_reason": self.reason,
                "time_limit_derived": self.derived, "reference_ms": self.reference_ms,
                "reference_load_ms": self.reference_load_ms, "reference_test_ms": self.reference_test_ms}

    @classmethod
    def from_data(cls, data: dict, task_limit_s: float) -> TimeLimit:
        """Back from a logged reference check. A log written before limits were derived has no
        ``time_limit_s``: its candidates ran under the task's own limit, so that one applies."""
        value = data.get("time_limit_s") if isinstance(data, dict) else None
        if not _is_time(value) or value <= 0:
            return own_limit(task_limit_s, "as in the interrupted run")
        reason = data.get("time_limit_reason")
        return cls(limit_s=float(value),
                   reason=reason if isinstance(reason, str) and reason else f"limit {fmt_s(value)}, as logged",
                   derived=bool(data.get("time_limit_derived")),
                   reference_ms=_time_or_none(data.get("reference_ms")),
                   reference_load_ms=_time_or_none(data.get("reference_load_ms")),
                   reference_test_ms=_time_or_none(data.get("reference_test_ms")))


def call_limit_s(test_limit_s: float, reference_test_ms: float | None = None) -> float:
    """The limit of one model-written test or probe: a tenth of the per-test limit, at least
    0.05 s and at least twice the reference's slowest test (``reference_test_ms``, when
    measured), never above the per-test limit."""
    floor = MIN_CALL_LIMIT_S
    if _is_time(reference_test_ms):
        floor = max(floor, REFERENCE_CALL_FACTOR * reference_test_ms / 1000.0)
    return min(test_limit_s, round(max(floor, test_limit_s / CALLS_PER_TEST), 3))


def call_limit_reason(test_limit: TimeLimit) -> str:
    """Why a model-written test or probe stopped where it did, with the per-test limit's reason."""
    limit = call_limit_s(test_limit.limit_s, test_limit.reference_test_ms)
    reference = (f", {REFERENCE_CALL_FACTOR} x reference test {fmt_ms(test_limit.reference_test_ms)}"
                 if _is_time(test_limit.reference_test_ms) else "")
    return (f"limit {fmt_s(limit)} per call = max({fmt_s(MIN_CALL_LIMIT_S)}, a tenth of the per-test "
            f"limit{reference}), at most the per-test limit; per-test {test_limit.reason}")


def own_limit(task_limit_s: float, because: str) -> TimeLimit:
    """The task's own limit, unchanged (today's behaviour), with the reason it was not derived."""
    return TimeLimit(limit_s=task_limit_s, reason=f"limit {fmt_s(task_limit_s)}: the task's own; {because}")


def derive_limit(task_limit_s: float, load_ms: float | None, test_ms: float | None,
                 min_time_limit_s: float = DEFAULT_MIN_TIME_LIMIT_S,
                 factor: float = DEFAULT_TIME_LIMIT_FACTOR) -> TimeLimit:
    """``min(task limit, max(floor, factor x T_ref))`` from the reference's measured times."""
    measured = [t for t in (load_ms, test_ms) if _is_time(t)]
    if not measured:
        return own_limit(task_limit_s, "the reference's time was not measured")
    ref_ms = max(measured)
    formula = f"max({fmt_s(min_time_limit_s)}, {factor:g} x reference {fmt_ms(ref_ms)})"
    wanted = round(max(min_time_limit_s, factor * ref_ms / 1000.0), 3)
    if wanted >= task_limit_s:
        limit, reason = task_limit_s, (f"limit {fmt_s(task_limit_s)}: the task's own, "
                                       f"not above it: {formula} = {fmt_s(wanted)}")
    else:
        limit, reason = wanted, f"limit {fmt_s(wanted)} = {formula}"
    return TimeLimit(limit_s=limit, reason=reason, derived=True, reference_ms=round(ref_ms, 3),
                     reference_load_ms=None if load_ms is None else round(load_ms, 3),
                     reference_test_ms=None if test_ms is None else round(test_ms, 3))


def _is_time(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


def _time_or_none(value) -> float | None:
    return float(value) if _is_time(value) else None
