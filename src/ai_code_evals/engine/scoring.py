"""Scores, the `score` selection strategy and pass@k.

Efficiency is relative: the fastest correct version of a task gets speed 1.0 and the others
fastest/theirs, likewise for memory. A version that does not pass every test gets no speed
or memory credit, so a fast wrong answer never beats a slow right one.

Speed and memory claims are only made when the difference is larger than the noise:

- Speed: every perf case runs several times; a version is *faster* than another only when
  its slowest repeat is quicker than the other's quickest (the repeats' ranges do not overlap,
  with 5 repeats each that happens by chance with probability 1/126). Without repeat timings
  (older logs) a difference under 10% of the median counts as noise.
- Memory: one peak per run; a difference under 10% or 256 KiB counts as noise.

Versions tied within noise get the same speed (memory) credit, and the pick among equal scores
follows a stated rule, never the noisy raw figures: tests passed, bad inputs handled, fewer
lines of code (simplicity), then id. So identical runs pick identical winners.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb
from statistics import mean, median

from ai_code_evals.core.task import Weights
from ai_code_evals.engine.results import CandidateResult

NOISE = 1.10  # without repeat timings: within 10% counts as equal
MEM_NOISE = 1.10
MEM_NOISE_KIB = 256
MIN_REPEATS = 3  # fewer repeats than this bound nothing: fall back to NOISE
TIE_RULE = "tests passed, then bad inputs handled, then fewer lines, then id"


@dataclass(frozen=True)
class Timing:
    median: float
    low: float
    high: float
    repeats: int

    def describe(self) -> str:
        if self.repeats >= MIN_REPEATS:
            return f"{self.median:.3g} ms ({self.low:.3g}–{self.high:.3g}, {self.repeats} runs)"
        return f"{self.median:.3g} ms"


def timing(r: CandidateResult) -> Timing | None:
    runs = [x for x in r.perf_runs_ms if isinstance(x, (int, float)) and x >= 0]
    if len(runs) >= MIN_REPEATS:
        return Timing(r.median_ms if r.median_ms else median(runs), min(runs), max(runs), len(runs))
    if r.median_ms:
        return Timing(r.median_ms, r.median_ms, r.median_ms, len(runs))
    return None


def clearly_faster(a: CandidateResult, b: CandidateResult) -> bool:
    """Whether ``a`` is faster than ``b`` by more than the measured noise."""
    ta, tb = timing(a), timing(b)
    if ta is None or tb is None:
        return False
    if ta.repeats >= MIN_REPEATS and tb.repeats >= MIN_REPEATS:
        return ta.high < tb.low
    return ta.median * NOISE < tb.median


def clearly_leaner(a: CandidateResult, b: CandidateResult) -> bool:
    if not a.peak_kib or not b.peak_kib:
        return False
    return a.peak_kib * MEM_NOISE < b.peak_kib and b.peak_kib - a.peak_kib > MEM_NOISE_KIB


def relative(best: float, value: float | None) -> float:
    """best/value in (0, 1], with differences under NOISE treated as ties (no repeat timings)."""
    if not value:
        return 0.0
    return 1.0 if value <= best * NOISE else best / value


def score_task(results: list[CandidateResult], weights: Weights) -> None:
    """Fill ``score`` (0–100) and ``score_parts`` of every result of one task and profile."""
    correct = [r for r in results if r.status == "passed"]
    timed = [r for r in correct if r.median_ms]
    fastest = min(timed, key=lambda r: (r.median_ms, r.candidate_id), default=None)
    sized = [r for r in correct if r.peak_kib]
    leanest = min(sized, key=lambda r: (r.peak_kib, r.candidate_id), default=None)
    for r in results:
        parts: dict[str, float] = {}
        parts["correctness"] = r.tests_passed / r.tests_total if r.tests_total else float(r.status == "passed")
        if r.errors_total:
            parts["error_handling"] = r.errors_handled / r.errors_total
        if fastest is not None:
            if r.status != "passed" or not r.median_ms:  # (not `r in correct`: quadratic)
                parts["speed"] = 0.0
            else:
                parts["speed"] = fastest.median_ms / r.median_ms if clearly_faster(fastest, r) else 1.0
        if leanest is not None:
            if r.status != "passed" or not r.peak_kib:
                parts["memory"] = 0.0
            else:
                parts["memory"] = leanest.peak_kib / r.peak_kib if clearly_leaner(leanest, r) else 1.0
        total_w = sum(getattr(weights, k) for k in parts)
        value = sum(getattr(weights, k) * v for k, v in parts.items()) / total_w if total_w else 0.0
        r.score = round(100 * value, 2)
        r.score_parts = {k: round(v, 4) for k, v in parts.items()}


def rank_key(r: CandidateResult):
    """Deterministic order: score, tests passed, bad inputs handled, fewer lines, id. Raw times
    and peaks are left out on purpose: they differ from run to run within the noise."""
    return (
        -(r.score or 0.0),
        -r.tests_passed,
        -r.errors_handled,
        r.code_lines if r.code_lines is not None else float("inf"),
        r.candidate_id,
    )


@dataclass
class Selection:
    winner: str | None
    reason: str


def _speed_claim(best: CandidateResult, others: list[CandidateResult]) -> str | None:
    """One clause about speed against the next correct version, or None (no timing)."""
    tb = timing(best)
    if tb is None:
        return None
    rivals = [r for r in others if r.status == "passed" and timing(r) is not None]
    if not rivals:
        return f"median {tb.describe()}"
    tied = [r for r in rivals if not clearly_faster(best, r) and not clearly_faster(r, best)]
    if tied:
        r = min(tied, key=rank_key)
        return (f"tied within noise on speed with {r.candidate_id} ({tb.describe()} vs "
                f"{timing(r).describe()}; ties go by {TIE_RULE})")
    slower = [r for r in rivals if clearly_faster(best, r)]
    if slower:
        nxt = min(slower, key=lambda r: (timing(r).median, r.candidate_id))
        tn = timing(nxt)
        return (f"{tn.median / tb.median:.1f}× faster than the next ({nxt.candidate_id}): "
                f"{tb.describe()} vs {tn.describe()}")
    return f"median {tb.describe()}"


def select_by_score(results: list[CandidateResult]) -> Selection:
    """Pick the best-ranked version and say why in one line."""
    ranked = sorted((r for r in results if r.duplicate_of is None), key=rank_key)
    if not ranked or (ranked[0].score or 0) <= 0:
        return Selection(None, "no version passes any test")
    best = ranked[0]
    bits = [f"passes {best.tests_passed}/{best.tests_total}"]
    if best.errors_total:
        bits.append(f"handles {best.errors_handled}/{best.errors_total} bad inputs")
    claim = _speed_claim(best, ranked[1:]) if best.status == "passed" else None
    if claim:
        bits.append(claim)
    leaner_than = [r for r in ranked[1:] if r.status == "passed" and clearly_leaner(best, r)]
    if leaner_than and len(leaner_than) == sum(1 for r in ranked[1:] if r.status == "passed" and r.peak_kib):
        bits.append("uses the least memory")
    if best.status != "passed":
        bits.append("no version passes every test")
    return Selection(best.candidate_id, f"{best.candidate_id}: " + ", ".join(bits) + f" (score {best.score:.1f})")


def combine_profiles(per_profile: list[CandidateResult]) -> CandidateResult:
    """One row per candidate for the summary: the first profile's facts, the mean score,
    and the worst status when profiles disagree (the reason says where)."""
    first = per_profile[0].model_copy()  # shallow: only score, status and reason are reassigned
    if len(per_profile) == 1:
        return first
    first.score = round(mean(r.score or 0.0 for r in per_profile), 2)
    statuses = {r.profile: r.status for r in per_profile}
    if len(set(statuses.values())) > 1:
        worst = next(r for r in sorted(per_profile, key=lambda r: (r.status == "passed", r.profile)))
        first.status = worst.status
        first.reason = "differs across profiles: " + ", ".join(f"{p}={s}" for p, s in statuses.items())
    return first


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator 1 - C(n-c, k)/C(n, k) (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_at_k_table(counts: list[tuple[int, int]], ks=(1, 10)) -> dict[str, float]:
    """Mean pass@k over tasks with at least k samples; counts are (n, c) per task."""
    table: dict[str, float] = {}
    for k in ks:
        eligible = [pass_at_k(n, c, k) for n, c in counts if n >= k]
        if eligible:
            table[str(k)] = round(mean(eligible), 4)
    return table
