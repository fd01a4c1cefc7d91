"""A scripted engine for TUI tests: a fixed sequence of real engine events with fixed timestamps.

Test double for ``run_evaluation``: it publishes the same event classes on a real EventBus, so
the app, the model and the run log go through their real code paths, and SVG snapshots are
stable (no wall clock, no sandboxes, no scheduling noise).
"""
from __future__ import annotations

import asyncio
import threading

from ai_code_evals.core.events import (
    CandidateAdded,
    CandidateFinished,
    EngineNotice,
    Event,
    EventBus,
    OutputLine,
    RunFinished,
    RunStarted,
    Snapshot,
    TaskSelected,
)
from ai_code_evals.engine.results import CandidateResult

T0 = 1_700_000_000.0
RUN_ID = "20231114-221320-abc123"

SORT_REFERENCE = "def sort_unique(xs):\n    return sorted(set(xs))\n"
CANDIDATES = {
    "sort_unique": [
        ("sort_unique#0", "set + sorted", "def sort_unique(xs):\n    return sorted(set(xs))\n",
         {"status": "passed", "tests_passed": 6, "errors_handled": 2, "median_ms": 0.41, "peak_kib": 9120}),
        ("sort_unique#1", "manual loop",
         ("def sort_unique(xs):\n    out = []\n    for x in sorted(xs):\n        if not out or out[-1] != x:\n"
          "            out.append(x)\n    return out\n"),
         {"status": "passed", "tests_passed": 6, "errors_handled": 1, "median_ms": 0.93, "peak_kib": 9300}),
        ("sort_unique#2", "forgets duplicates", "def sort_unique(xs):\n    return sorted(xs)\n",
         {"status": "failed", "tests_passed": 3, "errors_handled": 2, "median_ms": 0.38, "peak_kib": 9050}),
        ("sort_unique#3", "busy loop", "def sort_unique(xs):\n    while True:\n        pass\n",
         {"status": "timeout", "tests_passed": 0, "errors_handled": 0, "median_ms": None, "peak_kib": 8800}),
    ],
    "to_int": [
        ("to_int#0", "int()", "def to_int(s):\n    return int(s.strip())\n",
         {"status": "passed", "tests_passed": 4, "errors_handled": 1, "median_ms": 0.12, "peak_kib": 8700}),
        ("to_int#1", "syntax error", "def to_int(s)\n    return int(s)\n",
         {"status": "error", "tests_passed": 0, "errors_handled": 0, "median_ms": None, "peak_kib": None}),
    ],
}
TESTS_TOTAL = {"sort_unique": 6, "to_int": 4}
ERRORS_TOTAL = {"sort_unique": 2, "to_int": 1}
SCORES = {"sort_unique#0": 100.0, "sort_unique#1": 83.9, "sort_unique#2": 45.0, "sort_unique#3": 0.0,
          "to_int#0": 100.0, "to_int#1": 0.0}
SELECTIONS = {
    "sort_unique": ("sort_unique#0", ("sort_unique#0: passes 6/6, handles 2/2 bad inputs, "
                                      "2.3× faster than the next (sort_unique#1) (score 100.0)")),
    "to_int": ("to_int#0", "to_int#0: passes 4/4, handles 1/1 bad inputs, median 0.12 ms (score 100.0)"),
}
# What the runner captures about a failure (the call, expected and got, or the traceback;
# stderr's last lines; how the process ended), for the detail view.
FAILURE_FACTS = {
    "sort_unique#2": {
        "failures": [
            {"group": "tests", "name": "test 4", "error": "wrong answer", "call": "sort_unique([3, 1, 3])",
             "expected": "[1, 3]", "got": "[1, 3, 3]"},
            {"group": "tests", "name": "test 5", "error": "wrong answer", "call": "sort_unique([2, 2])",
             "expected": "[2]", "got": "[2, 2]"},
            {"group": "tests", "name": "test 6", "error": "TypeError: '<' not supported between instances "
             "of 'str' and 'int'", "call": "sort_unique([1, 'a'])",
             "traceback": ('  File "candidate.py", line 2, in sort_unique\n    return sorted(xs)\n'
                           "TypeError: '<' not supported between instances of 'str' and 'int'")},
        ],
        "stderr_tail": ["AssertionError: test 4", "AssertionError: test 5", "AssertionError: test 6"],
    },
    "sort_unique#3": {
        "failures": [{"group": "tests", "name": "first", "error": "timed out", "call": "sort_unique([])"}],
        "exit_cause": "timeout; last line printed: [sort_unique#3] test 1 line 1: ok=False",
    },
}
HOSTILE_LINES = ["\x1b[2J\x1b[H screen cleared?", "\x1b]0;pwned title\x07 title set?", "bell\x07 and \r back"]


class _Trail:
    """Snapshots and output lines of one (candidate, profile), numbered as the engine does."""

    def __init__(self, cid: str, tid: str, profile: str, total: int, rss_kib: int | None) -> None:
        self.cid, self.tid, self.profile, self.total, self.rss_kib = cid, tid, profile, total, rss_kib
        self.seq = 0
        self.n = 0

    def snap(self, t: float, state: str, status: str | None = None, step: int = 0, passed: int = 0,
             detail: str = "", elapsed: float = 0.0) -> Snapshot:
        s = Snapshot(candidate_id=self.cid, task_id=self.tid, profile=self.profile, state=state, seq=self.seq,
                     test_index=step, tests_total=self.total, passed=passed, failed=max(0, step - passed),
                     elapsed_s=round(elapsed, 3), cpu_s=round(elapsed * 0.8, 3) if elapsed else None,
                     rss_kib=self.rss_kib, output_lines=self.n, status=status, detail=detail, ts=round(t, 3))
        self.seq += 1
        return s

    def line(self, text: str, stream: str = "stdout") -> OutputLine:
        ev = OutputLine(candidate_id=self.cid, profile=self.profile, stream=stream, text=text, n=self.n)
        self.n += 1
        return ev


def scripted_events(lines_per_candidate: int = 6, profiles: tuple[str, ...] = ("default",)) -> list[Event]:
    """The whole run, in publication order, with fixed timestamps."""
    events: list[Event] = []
    t = T0
    events.append(RunStarted(run_id=RUN_ID, record="runs/test.jsonl",
                             tasks=[{"task_id": tid, "entry_point": tid, "reference": tid == "sort_unique"}
                                    for tid in CANDIDATES],
                             profiles=list(profiles), backend="local", isolation="namespaces",
                             select="score", ts=t))
    results: dict[str, list[CandidateResult]] = {tid: [] for tid in CANDIDATES}
    for tid, cands in CANDIDATES.items():
        for cid, label, code, facts in cands:
            t += 0.01
            events.append(CandidateAdded(candidate_id=cid, task_id=tid, code=code, label=label,
                                         strategy="hand-written", origin="offline", ts=t))
    for tid, cands in CANDIDATES.items():
        total = TESTS_TOTAL[tid]
        for k, (cid, _label, _code, facts) in enumerate(cands):
            for profile in profiles:
                trail = _Trail(cid, tid, profile, total, facts["peak_kib"])
                t += 0.05
                events.append(trail.snap(t, "queued"))
                t += 0.05
                events.append(trail.snap(t, "starting", detail="sandbox ready"))
                passed = step = 0
                for step in range(1, total + 1):
                    t += 0.1
                    ok = step <= facts["tests_passed"]
                    passed += ok
                    for j in range(lines_per_candidate // total + (1 if step == 1 else 0)):
                        events.append(trail.line(f"[{cid}] test {step} line {j}: ok={ok}"))
                    if k == 1 and step == 1:
                        events.extend(trail.line(text) for text in HOSTILE_LINES)
                    if not ok:
                        events.append(trail.line(f"AssertionError: test {step}", "stderr"))
                    events.append(trail.snap(t, "running", step=step, passed=passed,
                                             detail=f"running test {step}", elapsed=step * 0.1))
                    if facts["status"] in ("timeout", "error") and step == 1:
                        break
                t += 0.1
                reason = {"passed": f"passes {total}/{total}", "failed": f"passes {facts['tests_passed']}/{total}",
                          "timeout": "stopped responding in tests 'first' and was killed",
                          "error": "does not load: SyntaxError: expected ':'"}[facts["status"]]
                result = CandidateResult(candidate_id=cid, task_id=tid, profile=profile, status=facts["status"],
                                         reason=reason, tests_passed=facts["tests_passed"], tests_total=total,
                                         errors_handled=facts["errors_handled"], errors_total=ERRORS_TOTAL[tid],
                                         median_ms=facts["median_ms"], peak_kib=facts["peak_kib"],
                                         duration_s=1.0, output_lines=trail.n, **FAILURE_FACTS.get(cid, {}))
                results[tid].append(result)
                events.append(trail.snap(t, "finished", status=facts["status"], step=step,
                                         passed=facts["tests_passed"], detail=reason, elapsed=step * 0.1 + 0.2))
                events.append(CandidateFinished(candidate_id=cid, task_id=tid, profile=profile,
                                                result=result.model_dump()))
        if tid == "sort_unique":
            events.append(EngineNotice("sort_unique#3: stopped responding and was killed", level="warning",
                                       candidate_id="sort_unique#3"))
    tasks_out = []
    for tid, rows in results.items():  # fixed verdicts: the pictures must not follow the formula
        winner, reason = SELECTIONS[tid]
        scores = {r.candidate_id: SCORES[r.candidate_id] for r in rows}
        events.append(TaskSelected(task_id=tid, winner=winner, reason=reason, strategy="score", scores=scores))
        tasks_out.append({"task_id": tid, "winner": winner, "reason": reason,
                          "candidates": [{"id": r.candidate_id, "status": r.status, "score": scores[r.candidate_id]}
                                         for r in rows]})
    summary = {"run_id": RUN_ID, "record": "runs/test.jsonl", "tasks": tasks_out, "pass_at_k": {},
               "interrupted": False}
    events.append(RunFinished(summary=summary))
    return events


class ScriptedEngine:
    """``engine(bus)`` for ``WorkspaceApp``: publishes the script, yielding to the loop between
    events. ``hold`` keeps it 'running' after a prefix of the script until released."""

    def __init__(self, events: list[Event] | None = None, *, pace: float = 0.0, hold_after: int | None = None,
                 cleanup_s: float = 0.0):
        self.events = events if events is not None else scripted_events()
        self.pace = pace
        self.hold_after = hold_after
        self.release = threading.Event()  # set from the test (the app's thread)
        self.published = 0
        self.cancelled = False
        self.cleaned_up = False
        self.cleanup_s = cleanup_s  # how long "destroying sandboxes" takes after a cancel

    async def __call__(self, bus: EventBus) -> dict:
        summary: dict = {}
        try:
            for i, ev in enumerate(self.events):
                if self.hold_after is not None and i == self.hold_after:
                    while not self.release.is_set():  # the engine runs on a thread of its own
                        await asyncio.sleep(0.005)
                if isinstance(ev, RunFinished):
                    summary = ev.summary
                bus.publish(ev)
                self.published += 1
                await asyncio.sleep(self.pace)
        except asyncio.CancelledError:
            self.cancelled = True
            await asyncio.sleep(self.cleanup_s)  # like the engine awaiting every destroy
            raise
        finally:
            self.cleaned_up = True
        return summary


def grid_events(n_candidates: int, lines_each: int = 3, task_id: str = "grid") -> list[Event]:
    """A run with many small candidates of one task (paging, reflow, load)."""
    t = T0
    events: list[Event] = [RunStarted(run_id="grid-run", record="", tasks=[{"task_id": task_id,
                                      "entry_point": "f", "reference": False}], profiles=["default"],
                                      backend="local", isolation="", select="score", ts=t)]
    for k in range(n_candidates):
        cid = f"{task_id}#{k}"
        events.append(CandidateAdded(candidate_id=cid, task_id=task_id, code=f"def f():\n    return {k}\n", ts=t))
        trail = _Trail(cid, task_id, "default", 1, 8000 + k)
        t += 0.01
        events.append(trail.snap(t, "running", step=1, detail="running"))
        events.extend(trail.line(f"{cid} says {j}") for j in range(lines_each))
    return events


async def until(pilot, condition, tries: int = 400) -> None:
    """Wait (polling the app) until ``condition()`` holds; not a timing assertion: a loaded
    machine only makes it poll longer (up to ``tries`` x 50 ms)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition never held")
