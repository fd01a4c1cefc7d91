"""RunnerEvents: the runner's event lines (as sandbox/runner.py writes them) read into state.

The whole path (real runner, real sandbox) is covered by test_engine, test_forging and
test_faults; these pin the reader's own rules: what it counts, what it keeps, and that a
malformed event is either ignored or remembered as a protocol error, never raised.
"""
from __future__ import annotations

import json

from ai_code_evals.core.task import PerfCase, Task, TestCase
from ai_code_evals.engine.runner_events import MAX_FAILURES_KEPT, RunnerEvents
from ai_code_evals.sandbox.runner import MARK

NONCE = "ab" * 16
TASK = Task(id="add", entry_point="add", tests=[TestCase(args=[1, 2], expect=3), TestCase(args=[0, 0], expect=0)],
            perf=[PerfCase(setup="((1, 2), {})", repeats=3)])


def reader(n_probes: int = 0):
    seen: dict[str, list] = {"output": [], "progress": []}
    events = RunnerEvents(TASK, NONCE, n_probes, lambda *line: seen["output"].append(line),
                          seen["progress"].append)
    return events, seen


def say(events: RunnerEvents, **ev) -> None:
    events.on_line("stdout", f"{MARK}{NONCE}:{json.dumps(ev)}")


def test_a_run_adds_up_to_counts_failures_perf_times_and_the_verdict():
    events, seen = reader()
    say(events, ev="hello", pid=1)
    say(events, ev="load", ok=True)
    say(events, ev="test", phase="start", group="tests", i=0, name="test 1")
    say(events, ev="out", s="stdout", t="printed by the version")
    say(events, ev="test", phase="end", group="tests", i=0, name="test 1", ok=True, ms=1.5, rss_kib=900)
    say(events, ev="test", phase="start", group="tests", i=1, name="test 2")
    say(events, ev="test", phase="end", group="tests", i=1, name="test 2", ok=False, error="wrong answer",
        timeout=False, ms=2.5, detail={"call": "add(0, 0)", "expected": "0", "got": "1", "extra": "dropped"})
    say(events, ev="test", phase="start", group="perf", i=0, name="perf")
    say(events, ev="test", phase="end", group="perf", i=0, name="perf", ok=True, runs_ms=[1.0, True, -1, 2.0])
    say(events, ev="verdict", tests_passed=1)
    assert (events.passed, events.failed, events.step) == (1, 1, 3)
    assert events.ok_tests == {"tests": {0}, "perf": {0}}
    assert events.failures == [{"group": "tests", "name": "test 2", "error": "wrong answer",
                                "call": "add(0, 0)", "expected": "0", "got": "1"}]
    assert events.perf_runs == [[1.0, 2.0]]
    assert (events.max_test_ms, events.rss_kib, events.verdict["tests_passed"]) == (2.5, 900, 1)
    assert set(events.marks) == {"hello", "load", "verdict"} and events.load_ms is not None
    assert seen["output"] == [("stdout", "printed by the version", 0)]
    assert seen["progress"] == ["running", "running", "running", "scoring"]
    assert (events.detail, events.protocol_error) == ("scoring", None)


def test_lines_without_the_nonce_are_output_and_lines_after_the_end_are_dropped():
    events, seen = reader()
    forged = f"{MARK}{'cd' * 16}:" + json.dumps({"ev": "verdict"})  # another job's nonce
    events.on_line("stdout", forged)
    events.on_line("stderr", "x" * 500)
    events.closed = True
    events.on_line("stdout", "late")
    assert events.verdict is None and events.late_lines == 1
    assert seen["output"] == [("stdout", forged, 0), ("stderr", "x" * 400 + "…", 1)]
    assert list(events.stderr_tail) == ["x" * 400 + "…"]


def test_unknown_or_odd_events_are_ignored_and_malformed_ones_are_remembered_once():
    events, _ = reader(n_probes=1)
    say(events, ev=["not", "a", "kind"])
    say(events, ev="test", phase=["start"])
    say(events, ev="something new")
    assert events.protocol_error is None and events.step == 0
    say(events, ev="test", phase="end", group="tests", i="0", ok=True)
    say(events, ev="probes", outputs=["a", "b"])
    events.on_line("stdout", f"{MARK}{NONCE}:[1, 2]")
    assert events.protocol_error == "ValueError: a test event needs an integer 'i' and a boolean 'ok'"
    assert events.probe_outputs is None


def test_only_the_first_failures_are_kept_and_a_second_verdict_is_malformed():
    events, _ = reader()
    failures = [{"name": f"generated test {i + 1}", "error": "wrong", "timeout": False} for i in range(9)]
    say(events, ev="group", phase="start", group="generated", n=9)
    say(events, ev="group", phase="end", group="generated", n=9, failures=failures, timeout_ms=3.0)
    say(events, ev="verdict")
    say(events, ev="verdict")
    assert len(events.failures) == MAX_FAILURES_KEPT and events.step == 9 and events.timeout_ms == 3.0
    assert events.protocol_error == "ValueError: a second verdict"
