"""Per-test time limits derived from each task's reference solution (engine/timelimits.py).

The engine runs on the real local backend and the real runner. Asserts are on the recorded
limits and reasons, never on how long anything took: the recorded reference time is checked
against the formula, and the sleeps in slow references only give lower bounds that hold on any
machine (a reference that sleeps 0.15 s per call cannot have a T_ref below 150 ms).
"""
from __future__ import annotations

import asyncio
import json

import pytest
import yaml
from reliability_util import cli

from ai_code_evals.cli import main
from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import CandidateFinished, EventBus, ReferenceChecked
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.engine.timelimits import TimeLimit, call_limit_s, check_policy, derive_limit
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.sandbox.local import LocalBackend

INC_TESTS = [TestCase(args=[1], expect=2), TestCase(args=[-1], expect=0),
             TestCase(kind="code", code="assert inc(41) == 42")]
FAST_REF = "def inc(x):\n    return x + 1\n"
HANG = "def inc(x):\n    while True:\n        pass\n"
WRONG = "def inc(x):\n    return x\n"
SLOW_IMPORT = "import time\ntime.sleep(1.0)  # a heavy import, say\ndef inc(x):\n    return x + 1\n"


def slow(seconds: float) -> str:
    return f"import time\ndef inc(x):\n    time.sleep({seconds})\n    return x + 1\n"


# task limits are generous on purpose: a derivation that does not happen makes HANG cost them
FAST = Task(id="fast", entry_point="inc", tests=INC_TESTS, reference=FAST_REF, time_limit_s=20.0)
NO_REF = Task(id="noref", entry_point="inc", tests=INC_TESTS, time_limit_s=1.0)
SLOW = Task(id="slow", entry_point="inc", tests=INC_TESTS, reference=slow(0.15), time_limit_s=20.0)
CAPPED = Task(id="capped", entry_point="inc", tests=INC_TESTS, reference=slow(0.3), time_limit_s=1.0)


def cands(task: Task, codes: dict[str, str]) -> list[Candidate]:
    return [Candidate(id=f"{task.id}#{k}", task_id=task.id, code=code, label=label)
            for k, (label, code) in enumerate(codes.items())]


def evaluate(tasks: list[Task], candidates: list[Candidate], **kw):
    bus, events = EventBus(), []
    bus.subscribe(events.append)
    config = RunConfig(tasks=tasks, backend=LocalBackend(), candidates=candidates, jobs=2, **kw)
    summary = asyncio.run(run_evaluation(config, bus))
    return summary, events


def rows(summary: dict, task_id: str) -> dict[str, dict]:
    task = next(t for t in summary["tasks"] if t["task_id"] == task_id)
    return {c["label"]: c for c in task["candidates"]}


def task_row(summary: dict, task_id: str) -> dict:
    return next(t for t in summary["tasks"] if t["task_id"] == task_id)


def reference_checks(events) -> dict[str, dict]:
    return {e.task_id: e.result for e in events if isinstance(e, ReferenceChecked)}


def expected_limit(task: Task, ref_ms: float, floor: float = 0.5, factor: float = 4.0) -> float:
    return min(task.time_limit_s, round(max(floor, factor * ref_ms / 1000), 3))


# -- the formula ------------------------------------------------------------------------------------
def test_formula_floor_factor_and_the_tasks_own_limit_as_ceiling():
    floor = derive_limit(3.0, load_ms=0.4, test_ms=2.1)
    assert (floor.limit_s, floor.derived, floor.reference_ms) == (0.5, True, 2.1)
    assert floor.reason == "limit 0.5s = max(0.5s, 4 x reference 2.1ms)"
    factor = derive_limit(3.0, load_ms=310.0, test_ms=200.0, min_time_limit_s=0.5, factor=4)
    assert factor.limit_s == 1.24 and factor.reason == "limit 1.24s = max(0.5s, 4 x reference 310ms)"
    capped = derive_limit(1.0, load_ms=1.0, test_ms=800.0)
    assert capped.limit_s == 1.0 and "the task's own, not above it: max(0.5s, 4 x reference 800ms) = 3.2s" in capped.reason
    unmeasured = derive_limit(3.0, load_ms=None, test_ms=None)
    assert unmeasured.limit_s == 3.0 and not unmeasured.derived


def test_logged_limits_come_back_and_old_logs_keep_the_tasks_own():
    limit = derive_limit(3.0, load_ms=0.4, test_ms=2.1)
    assert TimeLimit.from_data(json.loads(json.dumps(limit.to_data())), 3.0) == limit
    old = TimeLimit.from_data({"status": "passed"}, 3.0)  # a log written before derived limits
    assert old.limit_s == 3.0 and "as in the interrupted run" in old.reason


@pytest.mark.parametrize(("floor", "factor"), [(0, 4), (-1, 4), (float("nan"), 4), (0.5, 0.5), (0.5, -1)])
def test_unusable_policies_are_one_line_errors(floor, factor):
    with pytest.raises(InputError):
        check_policy(floor, factor)


# -- the engine, real backend ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def derived_run():
    codes = {"right": FAST_REF, "hang": HANG, "wrong": WRONG, "slow import": SLOW_IMPORT, "waits": slow(0.8)}
    candidates = (cands(FAST, codes) + cands(NO_REF, {"right": FAST_REF})
                  + cands(SLOW, {"right": slow(0.15)}) + cands(CAPPED, {"right": slow(0.3)}))
    return evaluate([FAST, NO_REF, SLOW, CAPPED], candidates)


def test_a_hang_times_out_at_the_derived_limit_and_says_which(derived_run):
    summary, events = derived_run
    check = reference_checks(events)["fast"]
    assert check["status"] == "passed" and check["time_limit_derived"] is True
    assert check["time_limit_s"] == expected_limit(FAST, check["reference_ms"])
    assert check["time_limit_s"] < FAST.time_limit_s
    assert check["reference_ms"] == max(check["reference_load_ms"], check["reference_test_ms"])
    assert task_row(summary, "fast")["time_limit_s"] == check["time_limit_s"]
    assert task_row(summary, "fast")["time_limit_reason"] == check["time_limit_reason"]
    assert check["time_limit_reason"].startswith(f"limit {check['time_limit_s']:g}s = max(0.5s, 4 x reference ")
    got = rows(summary, "fast")
    assert got["right"]["status"] == "passed" and got["wrong"]["status"] == "failed"
    hang = got["hang"]
    assert hang["status"] == "timeout" and hang["reason"].endswith(f"({check['time_limit_reason']})")
    failure = next(e.result for e in events if isinstance(e, CandidateFinished) and e.candidate_id == "fast#1")
    assert failure["failures"][0]["error"].endswith(f"({check['time_limit_reason']})")


def test_the_limit_is_cpu_time_with_a_wall_clock_backstop(derived_run):
    """0.8 s of waiting per call uses no CPU: within the derived CPU limit (0.5 s here) and the
    wall-clock backstop (2 x limit + 0.5 s); so a loaded machine cannot time out a version that
    is merely waiting its turn, while a spinning one still stops at the limit."""
    summary, events = derived_run
    assert reference_checks(events)["fast"]["time_limit_s"] < 0.8
    got = rows(summary, "fast")
    assert got["waits"]["status"] == "passed" and got["hang"]["status"] == "timeout"


def test_loading_keeps_the_tasks_own_limit(derived_run):
    """The reference's test times say nothing about a version's imports: loading the program
    may take the task's own limit, only the tests get the derived one."""
    summary, events = derived_run
    assert reference_checks(events)["fast"]["time_limit_s"] < 1.0  # the sleep below is longer
    assert rows(summary, "fast")["slow import"]["status"] == "passed"


def test_candidates_start_only_after_their_reference_was_measured(derived_run):
    _, events = derived_run
    order = [(type(e).__name__, getattr(e, "task_id", None)) for e in events
             if isinstance(e, (ReferenceChecked, CandidateFinished))]
    for task_id in ("fast", "slow", "capped"):
        mine = [kind for kind, t in order if t == task_id]
        assert mine[0] == "ReferenceChecked" and mine.count("ReferenceChecked") == 1, (task_id, mine)


def test_a_task_without_reference_keeps_its_own_limit(derived_run):
    summary, events = derived_run
    assert "noref" not in reference_checks(events)
    row = task_row(summary, "noref")
    assert row["time_limit_s"] == NO_REF.time_limit_s and "no reference solution" in row["time_limit_reason"]
    assert rows(summary, "noref")["right"]["status"] == "passed"


def test_a_slow_reference_raises_the_limit_up_to_the_tasks_own(derived_run):
    summary, events = derived_run
    checks = reference_checks(events)
    raised = checks["slow"]
    assert raised["reference_test_ms"] >= 150  # it sleeps 0.15 s per call
    assert raised["time_limit_s"] == expected_limit(SLOW, raised["reference_ms"]) > 0.5
    assert rows(summary, "slow")["right"]["status"] == "passed"
    capped = checks["capped"]
    assert capped["reference_test_ms"] >= 300 and capped["time_limit_s"] == CAPPED.time_limit_s
    assert "the task's own, not above it" in capped["time_limit_reason"]
    assert task_row(summary, "capped")["time_limit_s"] == CAPPED.time_limit_s


def test_factor_zero_keeps_every_tasks_own_limit():
    task = FAST.model_copy(update={"time_limit_s": 1.0})
    summary, events = evaluate([task], cands(task, {"right": FAST_REF, "hang": HANG}), time_limit_factor=0)
    check = reference_checks(events)["fast"]
    assert check["time_limit_s"] == 1.0 and check["time_limit_derived"] is False
    assert "derived limits are off" in task_row(summary, "fast")["time_limit_reason"]
    hang = rows(summary, "fast")["hang"]
    assert hang["status"] == "timeout" and "limit 1s: the task's own; derived limits are off" in hang["reason"]


def test_a_failing_reference_keeps_the_tasks_own_limit():
    task = FAST.model_copy(update={"reference": WRONG, "time_limit_s": 1.0})
    summary, events = evaluate([task], cands(task, {"right": FAST_REF}))
    check = reference_checks(events)["fast"]
    assert check["status"] == "failed" and check["time_limit_s"] == 1.0 and not check["time_limit_derived"]
    assert "does not pass its tests" in task_row(summary, "fast")["time_limit_reason"]


# -- the CLI: flags, the log's spec, resume ---------------------------------------------------------
def test_flags_reach_the_log_and_resume_reuses_the_logged_limits(tmp_path, capsys):
    tasks = [{"id": name, "entry_point": "inc", "reference": FAST_REF, "time_limit_s": 20.0,
              "tests": [{"args": [1], "expect": 2}, {"args": [5], "expect": 6}]} for name in ("one", "two")]
    (tmp_path / "tasks.yaml").write_text(yaml.safe_dump(tasks))
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"task_id": t, "code": c}) + "\n"
                                              for t in ("one", "two") for c in (FAST_REF, HANG)))
    record = tmp_path / "run.jsonl"
    proc = cli("run", "tasks.yaml", "--samples", "s.jsonl", "--headless", "--json", "--jobs", "2",
               "--min-time-limit", "0.6", "--time-limit-factor", "5", "--record", str(record), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = read_record(record)
    request = rec.spec["run_config"]["request"]
    assert (request["min_time_limit_s"], request["time_limit_factor"]) == (0.6, 5.0)
    first = {e["sample_id"]: e["data"]["result"] for e in rec.of_type("reference_check")}
    assert first["one"]["time_limit_reason"].startswith(f"limit {first['one']['time_limit_s']:g}s = max(0.6s, 5 x ")

    # An interruption right before the first result: task one's limit is logged, task two's is not.
    # One's logged limit is changed to a value no derivation gives: resume must take it as it is.
    lines = record.read_text().splitlines(keepends=True)
    kept = []
    for line in lines[:next(i for i, ln in enumerate(lines) if '"type": "result"' in ln)]:
        event = json.loads(line)
        if event.get("type") == "reference_check" and event["sample_id"] == "two":
            continue
        if event.get("type") == "reference_check" and event["sample_id"] == "one":
            event["data"]["result"].update(time_limit_s=0.777, time_limit_reason="limit 0.777s as logged")
            line = json.dumps(event) + "\n"
        kept.append(line)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(kept))
    code = main(["resume", str(cut), "--headless", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert task_row(summary, "one")["time_limit_s"] == 0.777
    hang_one = next(c for c in task_row(summary, "one")["candidates"] if c["id"] == "one#1")
    assert hang_one["status"] == "timeout" and hang_one["reason"].endswith("(limit 0.777s as logged)")
    resumed = read_record(cut)
    again = [e["data"] for e in resumed.of_type("reference_check")]
    assert [d["task_id"] for d in again] == ["one", "two"]  # one: the logged line; two: measured now
    two = again[1]["result"]
    assert two["time_limit_reason"].startswith(f"limit {two['time_limit_s']:g}s = max(0.6s, 5 x ")
    assert task_row(summary, "two")["time_limit_s"] == two["time_limit_s"]


def test_bad_flag_values_are_one_line_errors(tmp_path, capsys):
    assert main(["run", "demo", "--headless", "--time-limit-factor", "0.5", "--record", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--time-limit-factor must be 0 (off) or at least 1" in err


# -- model-written tests and probes: one call each ---------------------------------------------------
def test_a_call_gets_a_tenth_of_the_per_test_limit_at_least_50ms_and_twice_the_reference():
    assert [call_limit_s(t) for t in (0.05, 0.3, 0.5, 2.0, 3.0)] == [0.05, 0.05, 0.05, 0.2, 0.3]
    assert call_limit_s(0.5, reference_test_ms=40.0) == 0.08  # twice the reference's slowest test
    assert call_limit_s(4.0, reference_test_ms=1000.0) == 2.0  # not a tenth (0.4 s): the reference needs 1 s
    assert call_limit_s(1.0, reference_test_ms=800.0) == 1.0  # never above the per-test limit
    assert call_limit_s(0.5, reference_test_ms=None) == 0.05


HEAVY = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"


def test_a_model_test_as_heavy_as_the_references_test_does_not_time_out():
    """The reference's one test is one heavy call (a few million additions): a model test making
    the same call gets twice the reference's measured time, not a tenth of the per-test limit
    (0.05 s here), which the correct version would overrun."""
    n = 3_000_000
    task = Task(id="heavy", entry_point="total", reference=HEAVY, time_limit_s=20.0,
                tests=[TestCase(args=[n], expect=n * (n - 1) // 2)])
    _, events = evaluate([task], cands(task, {"right": HEAVY}),
                         generated_tests={"heavy": [f"assert total({n}) == {n * (n - 1) // 2}"]})
    check = reference_checks(events)["heavy"]
    assert check["reference_test_ms"] > 25  # heavier than a tenth of the 0.5 s floor would allow
    result = next(e.result for e in events if isinstance(e, CandidateFinished))
    assert result["status"] == "passed" and result["generated_passed"] == [0], result["failures"]


SPIN = ("import time\ndef inc(x):\n    start = time.process_time()\n    while x == 5 and time.process_time() - start < 1.0:\n"
        "        pass\n    return x + 1\n")


def test_a_model_written_test_times_out_at_the_call_limit_while_the_tasks_own_test_has_its_own():
    """The same call, 1 s of CPU: the task's own test (limit 2 s) passes, the model-written
    test and the probe (one call each: limit 0.2 s) time out and say at which limit. A version
    that never ends on model tests cost 3 x the per-test limit before; now 3 x the call limit."""
    task = Task(id="spin", entry_point="inc", tests=[TestCase(args=[5], expect=6)], time_limit_s=2.0)
    _, events = evaluate([task], cands(task, {"spins": SPIN}), generated_tests={"spin": ["assert inc(5) == 6"]},
                               probes={"spin": ["((5,), {})", "((1,), {})"]})
    result = next(e.result for e in events if isinstance(e, CandidateFinished))
    assert result["tests_passed"] == 1 and result["generated_passed"] == []
    (failure,) = [f for f in result["failures"] if f["group"] == "generated"]
    assert failure["error"].startswith("timed out: over 0.2s of CPU time")
    assert failure["error"].endswith("(limit 0.2s per call = max(0.05s, a tenth of the per-test limit), at most "
                                     "the per-test limit; per-test limit 2s: the task's own; the task has no "
                                     "reference solution to measure)")
    assert result["probe_outputs"] == ["t", "v:2"]
