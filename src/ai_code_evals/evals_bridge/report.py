"""The ``final_report`` of a code eval: evals-style flat metrics on top of the engine's summary.

- ``pass@1`` and ``pass@<k>`` (k = versions asked per task), unbiased estimator over every task;
  a task with fewer than k versions counts with all of them (pass@k = "one of them passes"),
  a task without any version counts as failed.
- ``selection_accuracy``: share of tasks whose selected version passes (no winner = wrong);
  ``selection_accuracy_solvable``: the same over tasks where some version passes.
- ``mean_score`` (all scored versions) and ``winner_mean_score``.
- timing: per (version, profile) sandbox time ``duration_s_*``, perf-case medians ``median_ms_*``
  of passing versions, and the run's ``wall_s``.
The summary's own keys (``tasks``, ``pass_at_k``, ...) stay, so replay shows the same summary as
for ``ai-code-evals run``.
"""
from __future__ import annotations

from statistics import mean, median

from ai_code_evals.core.events import CandidateFinished, Event
from ai_code_evals.engine.scoring import pass_at_k


class ResultCollector:
    """Bus subscriber keeping every (version, profile) result dict."""

    def __init__(self) -> None:
        self.results: list[dict] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, CandidateFinished):
            self.results.append(event.result)


def task_pass_at_k(n: int, c: int, k: int) -> float:
    if n == 0:
        return 0.0
    if n < k:
        return 1.0 if c else 0.0
    return pass_at_k(n, c, k)


def _stats(prefix: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {f"{prefix}_mean": round(mean(ordered), 4), f"{prefix}_median": round(median(ordered), 4),
            f"{prefix}_p90": round(p90, 4), f"{prefix}_max": round(ordered[-1], 4)}


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def final_report(summary: dict, results: list[dict], k: int, wall_s: float) -> dict:
    tasks = summary.get("tasks") or []
    ks = sorted({1, max(1, k)})
    per_k: dict[int, list[float]] = {kk: [] for kk in ks}
    selected_ok: list[bool] = []
    solvable_ok: list[bool] = []
    scores: list[float] = []
    winner_scores: list[float] = []
    statuses: dict[str, int] = {}
    for task in tasks:
        cands = task.get("candidates") or []
        status = {c["id"]: c.get("status") for c in cands}
        n, c = len(cands), sum(1 for s in status.values() if s == "passed")
        for kk in ks:
            per_k[kk].append(task_pass_at_k(n, c, kk))
        ok = status.get(task.get("winner")) == "passed"
        selected_ok.append(ok)
        if c:
            solvable_ok.append(ok)
        for cand in cands:
            statuses[cand.get("status") or "?"] = statuses.get(cand.get("status") or "?", 0) + 1
            if cand.get("score") is not None:
                scores.append(cand["score"])
                if cand["id"] == task.get("winner"):
                    winner_scores.append(cand["score"])
    report: dict = dict(summary)
    for kk in ks:
        report[f"pass@{kk}"] = round(mean(per_k[kk]), 4) if per_k[kk] else 0.0
    report.update({
        "k": max(1, k),
        "selection_accuracy": _share(selected_ok),
        "selection_accuracy_solvable": _share(solvable_ok) if solvable_ok else None,
        "mean_score": round(mean(scores), 4) if scores else None,
        "winner_mean_score": round(mean(winner_scores), 4) if winner_scores else None,
        "n_tasks": len(tasks),
        "n_versions": sum(len(t.get("candidates") or []) for t in tasks),
        "statuses": statuses,
        "wall_s": round(wall_s, 3),
    })
    ran = [r for r in results if not r.get("duplicate_of")]  # copies share their original's run
    report.update(_stats("duration_s", [r["duration_s"] for r in ran if r.get("duration_s") is not None]))
    report.update(_stats("median_ms", [r["median_ms"] for r in ran
                                       if r.get("median_ms") is not None and r.get("status") == "passed"]))
    return report
