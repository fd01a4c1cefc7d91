"""The final result of one (candidate, profile) and how a status is decided from runner facts."""
from __future__ import annotations

import signal as _signal

from pydantic import BaseModel, Field


class CandidateResult(BaseModel):
    candidate_id: str
    task_id: str
    profile: str = "default"
    status: str  # passed | failed | error | timeout | killed | skipped | unchecked (no test)
    reason: str = ""  # why this status, one line
    tests_passed: int = 0
    tests_total: int = 0
    errors_handled: int = 0
    errors_total: int = 0
    generated_passed: list[int] = Field(default_factory=list)
    generated_total: int = 0
    median_ms: float | None = None
    peak_kib: int | None = None
    cpu_s: float | None = None
    duration_s: float = 0.0
    # first few failed cases: {"group", "name", "error"} and, where known, "call", "expected",
    # "got", "assertion" (the failing line of a check), "traceback" (the version's frames only)
    failures: list[dict] = Field(default_factory=list)
    stderr_tail: list[str] = Field(default_factory=list)  # the version's last stderr lines
    exit_cause: str | None = None  # how a run that did not pass ended
    probe_outputs: list[str] | None = None  # behaviour on the selection probes (see sandbox/runner.py)
    unchecked: str | None = None  # why some tests could not be run against the version
    phases: dict = Field(default_factory=dict)  # where the wall time went, ms (engine/job.py phases())
    # per repeat of the perf cases, the time of that repeat summed over the cases (ms): the
    # spread that speed claims are checked against (empty: only the median is known)
    perf_runs_ms: list[float] = Field(default_factory=list)
    code_lines: int | None = None  # non-blank lines of the version's code (simplicity tie-break)
    exit_code: int | None = None
    signal: int | None = None
    output_lines: int = 0
    output_dropped: int = 0
    isolation: str = ""
    sandbox: dict = Field(default_factory=dict)
    duplicate_of: str | None = None
    score: float | None = None
    score_parts: dict = Field(default_factory=dict)


def repeat_totals(per_case_runs: list[list[float]]) -> list[float]:
    """``perf_runs_ms`` from the runner's per-case ``runs_ms`` lists: repeat i's time summed over
    the perf cases (as many repeats as the shortest list)."""
    cases = [runs for runs in per_case_runs if runs]
    if not cases:
        return []
    return [round(sum(runs[i] for runs in cases), 4) for i in range(min(len(runs) for runs in cases))]


def signal_name(num: int | None) -> str:
    try:
        return _signal.Signals(num).name if num else ""
    except ValueError:
        return f"signal {num}"


def decide_status(verdict: dict | None, *, exit_code: int | None, sig: int | None,
                  timed_out: bool, stalled_in: str | None) -> tuple[str, str]:
    """(status, reason) from the runner's verdict (None when it never came) and how the
    process ended. Only an explicit verdict can pass a candidate."""
    if verdict is None:
        if stalled_in:
            return "timeout", f"stopped responding in {stalled_in} and was killed"
        if timed_out:
            return "timeout", "hit the sandbox's wall-clock limit and was killed"
        if sig:
            name = signal_name(sig)
            hint = {"SIGKILL": " (memory or process limit, or killed)", "SIGXCPU": " (CPU time limit)",
                    "SIGSEGV": " (crashed in C code)"}.get(name, "")
            return "killed", f"killed by {name}{hint} before reporting a verdict"
        return "error", f"exited before reporting a verdict (exit code {exit_code})"
    if verdict.get("load_error"):
        return "error", f"does not load: {verdict['load_error']}"
    passed, total = verdict.get("tests_passed", 0), verdict.get("tests_total", 0)
    if total == 0:  # a version that never ends on the model's tests is not "loads and runs"
        if verdict.get("timeouts"):
            return "timeout", (f"the task has no test to decide correctness; {verdict['timeouts']} model "
                               "test(s) timed out")
        return "unchecked", "loads and runs; the task has no test to decide correctness"
    if passed == total:
        return "passed", f"passes {passed}/{total}"
    if verdict.get("timeouts"):
        return "timeout", f"passes {passed}/{total}; {verdict['timeouts']} test(s) timed out"
    crash = verdict.get("crash")
    if isinstance(crash, dict):  # the version's process died during a test (a signal, an exit)
        return ("killed" if crash.get("signal") else "error"), f"passes {passed}/{total}; {str(crash.get('text'))[:200]}"
    return "failed", f"passes {passed}/{total}"


# A version that could not be run because the sandbox infrastructure failed (a backend that
# kept failing after its retries, a sandbox that would not start) gets status "error" with a
# reason starting with this: never a verdict on its code. Its duplicates do not copy it, and
# ``resume`` runs it again. Logs written before the name changed said "sandbox failure".
INFRASTRUCTURE = "infrastructure: "
_OLD_PREFIX = "sandbox failure"


def infrastructure_reason(what: str) -> str:
    return INFRASTRUCTURE + what


def is_infrastructure_error(result: CandidateResult | dict) -> bool:
    status = result.get("status") if isinstance(result, dict) else result.status
    reason = (result.get("reason") if isinstance(result, dict) else result.reason) or ""
    return status == "error" and reason.startswith((INFRASTRUCTURE, _OLD_PREFIX))
