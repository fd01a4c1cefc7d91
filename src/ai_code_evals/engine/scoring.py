"""Scores, the `score` selection strategy and pass@k (DESIGN §5).

Efficiency is relative: the fastest correct version of a task gets speed 1.0 and the others
fastest/theirs, likewise for memory. A version that does not pass every test gets no speed
or memory credit, so a fast wrong answer never beats a slow right one. Differences under 10% are treated as noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb
from statistics import mean

from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.tasks.model import Weights

NOISE = 1.10  # speed and memory within 10% of the best count as equal: timing on a busy machine jitters


def relative(best: float, value: float | None) -> float:
    """best/value in (0, 1], with differences under NOISE treated as ties."""
    if not value:
        return 0.0
    return 1.0 if value <= best * NOISE else best / value


def score_task(results: list[CandidateResult], weights: Weights) -> None:
    """Fill ``score`` (0–100) and ``score_parts`` of every result of one task and profile."""
    correct = [r for r in results if r.status == "passed"]
    fastest = min((r.median_ms for r in correct if r.median_ms), default=None)
    leanest = min((r.peak_kib for r in correct if r.peak_kib), default=None)
    for r in results:
        parts: dict[str, float] = {}
        parts["correctness"] = r.tests_passed / r.tests_total if r.tests_total else float(r.status == "passed")
        if r.errors_total:
            parts["error_handling"] = r.errors_handled / r.errors_total
        if fastest is not None:
            parts["speed"] = relative(fastest, r.median_ms) if r in correct else 0.0
        if leanest is not None:
            parts["memory"] = relative(leanest, r.peak_kib) if r in correct else 0.0
        total_w = sum(getattr(weights, k) for k in parts)
        value = sum(getattr(weights, k) * v for k, v in parts.items()) / total_w if total_w else 0.0
        r.score = round(100 * value, 2)
        r.score_parts = {k: round(v, 4) for k, v in parts.items()}


def rank_key(r: CandidateResult):
    """Deterministic order: score, tests passed, bad inputs handled, speed, memory, id."""
    return (
        -(r.score or 0.0),
        -r.tests_passed,
        -r.errors_handled,
        r.median_ms if r.median_ms is not None else float("inf"),
        r.peak_kib if r.peak_kib is not None else float("inf"),
        r.candidate_id,
    )


@dataclass
class Selection:
    winner: str | None
    reason: str


def select_by_score(results: list[CandidateResult]) -> Selection:
    """Pick the best-ranked version and say why in one line."""
    ranked = sorted((r for r in results if r.duplicate_of is None), key=rank_key)
    if not ranked or (ranked[0].score or 0) <= 0:
        return Selection(None, "no version passes any test")
    best = ranked[0]
    bits = [f"passes {best.tests_passed}/{best.tests_total}"]
    if best.errors_total:
        bits.append(f"handles {best.errors_handled}/{best.errors_total} bad inputs")
    runner_up = next((r for r in ranked[1:] if r.status == "passed" and r.median_ms), None)
    if best.median_ms and runner_up and runner_up.median_ms > best.median_ms:
        bits.append(f"{runner_up.median_ms / best.median_ms:.1f}× faster than the next ({runner_up.candidate_id})")
    elif best.median_ms:
        bits.append(f"median {best.median_ms:.2f} ms")
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
