"""What goes into a version's sandbox: the runner, its job file, and the command's wall budget.

The job file is everything the checker needs to judge one version under one profile; the
candidate's own process never sees it (it carries the nonce that marks the checker's events).
"""
from __future__ import annotations

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.task import Task
from ai_code_evals.engine.calls import generated_calls, probe_wire
from ai_code_evals.engine.profiles import EnvProfile
from ai_code_evals.engine.timelimits import call_limit_s
from ai_code_evals.sandbox.runner import wall_backstop

STARTUP_GRACE_S = 15.0  # interpreter start inside a cold sandbox
STALL_GRACE_S = 2.0  # beyond a test's wall-clock backstop before the watchdog kills the sandbox


def build_job(task: Task, candidate: Candidate, profile: EnvProfile, nonce: str,
              generated_tests: list[str], load_time_limit_s: float | None = None,
              probes: list[str] | None = None, reference_test_ms: float | None = None) -> dict:
    """The job.json the checker reads (the candidate child never sees it). Loading the
    program may take ``load_time_limit_s`` (default: the per-test limit): a derived per-test
    limit says how long the reference's tests take, not how long a version's imports take.
    A completion-style task's prompt is the checker's ``context``: the helpers its tests use
    come from the task file, never from the version. ``reference_test_ms``: the reference's
    slowest test, measured: a model test's or a probe's call limit is at least twice that."""
    limits = profile.limits
    return {
        "nonce": nonce,
        "entry_point": task.entry_point,
        "program": candidate.code,
        "context": task.prompt if task.completion_style else None,
        "tests": [t.model_dump() for t in task.tests],
        "error_cases": [t.model_dump() for t in task.error_cases],
        "perf": [p.model_dump() for p in task.perf],
        "generated_tests": generated_calls(generated_tests, task.entry_point),
        "probes": [probe_wire(p) for p in probes or []],
        "time_limit_s": task.time_limit_s,
        "call_time_limit_s": call_limit_s(task.time_limit_s, reference_test_ms),
        "load_time_limit_s": load_time_limit_s or task.time_limit_s,
        "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "processes": limits.processes,
                   "file_size_mb": limits.file_size_mb, "open_files": limits.open_files},
    }


def wall_budget(task: Task, n_generated: int, load_time_limit_s: float = 0.0, n_probes: int = 0) -> float:
    """A generous backstop for the whole run; the per-test watchdog usually acts first."""
    per = wall_backstop(task.time_limit_s) + STALL_GRACE_S
    steps = len(task.tests) + len(task.error_cases) + n_generated + n_probes + 1
    perf = sum(wall_backstop(p.time_limit_s) * p.repeats for p in task.perf)
    load_extra = max(0.0, wall_backstop(load_time_limit_s) - wall_backstop(task.time_limit_s))
    return STARTUP_GRACE_S + steps * per + perf + load_extra
