"""Checking the runner's verdict before believing it.

The verdict line is the only thing that can pass a candidate, so the engine
checks it against what it knows on its own side: the task's own test counts (not the ones the
runner reports), and the per-test results the runner streamed before it. A candidate that
patches the runner's helpers in its process (``builtins.len``, ``json.dumps``) to inflate the
verdict, or a backend that mangles the stream, gets an ``error`` instead of a pass.
"""
from __future__ import annotations

from ai_code_evals.core.task import Task

REQUIRED = ("tests_passed", "tests_total", "errors_handled", "errors_total")
INT_FIELDS = (*REQUIRED, "timeouts")
NUM_FIELDS = ("median_ms", "cpu_s")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_num(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0)


def check_verdict(verdict: dict | None, task: Task, ok_tests: dict[str, set[int]],
                  n_generated: int) -> tuple[dict | None, str | None]:
    """(verdict, None) when it is well-formed and consistent, else (None, why not).
    ``ok_tests`` maps each group to the indices the runner reported passing."""
    if verdict is None:
        return None, None
    bad = [k for k in INT_FIELDS if (k in verdict or k in REQUIRED) and not _is_int(verdict.get(k))]
    bad += [k for k in NUM_FIELDS if not _is_num(verdict.get(k))]
    if verdict.get("peak_kib") is not None and not _is_int(verdict["peak_kib"]):
        bad.append("peak_kib")
    gen = verdict.get("generated_passed", [])
    if not isinstance(gen, list) or not all(_is_int(i) and i < n_generated for i in gen):
        bad.append("generated_passed")
    for key in ("load_error", "unchecked"):
        if verdict.get(key) is not None and not isinstance(verdict[key], str):
            bad.append(key)
    crash = verdict.get("crash")
    if crash is not None and not (isinstance(crash, dict) and isinstance(crash.get("text"), str)
                                  and (crash.get("signal") is None or isinstance(crash["signal"], str))):
        bad.append("crash")
    if bad:
        return None, f"the runner's verdict is malformed ({', '.join(bad)})"
    checks = [("tests", "tests_passed", "tests_total", len(task.tests)),
              ("error_cases", "errors_handled", "errors_total", len(task.error_cases))]
    for group, passed_key, total_key, total in checks:
        seen = {i for i in ok_tests.get(group, set()) if i < total}
        if verdict[total_key] != total or verdict[passed_key] != len(seen):
            return None, (f"the runner's verdict ({verdict.get(passed_key)}/{verdict.get(total_key)} {group}) "
                          f"does not match the {len(seen)}/{total} it reported test by test: the runner "
                          "was tampered with")
    return verdict, None
