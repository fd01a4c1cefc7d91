"""The in-sandbox runner (checker + candidate child), driven as a real subprocess exactly as a
sandbox runs it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ai_code_evals.engine.calls import generated_calls, probe_wire
from ai_code_evals.sandbox.runner import MARK

RUNNER = Path(__file__).resolve().parents[1] / "src" / "ai_code_evals" / "sandbox" / "runner.py"
NONCE = "n0nce"


def run_job(tmp_path, program, tests=(), error_cases=(), perf=(), generated=(), limit=1.0, timeout=30,
            probes=(), context=None):
    job = {"nonce": NONCE, "entry_point": "f", "program": program, "tests": list(tests),
           "error_cases": list(error_cases), "perf": list(perf),
           "generated_tests": generated_calls(list(generated), "f"), "probes": [probe_wire(p) for p in probes],
           "context": context, "time_limit_s": limit, "limits": {"memory_mb": 1024, "cpu_s": 20}}
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, "-I", str(RUNNER), "job.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)
    events, output = [], []
    for line in proc.stdout.splitlines():
        if line.startswith(MARK + NONCE + ":"):
            event = json.loads(line[len(MARK + NONCE) + 1:])
            if event["ev"] == "out":
                output.append(event["t"])
            else:
                events.append(event)
        else:
            output.append(line)
    assert not (tmp_path / "job.json").exists(), "the runner must delete its job file"
    return events, output, proc


def verdict(events):
    found = [e for e in events if e["ev"] == "verdict"]
    return found[0] if found else None


def test_cases_code_and_raises(tmp_path):
    program = "def f(x):\n    if x < 0:\n        raise ValueError('neg')\n    return [x, x]\n"
    tests = [{"kind": "case", "args": [1], "expect": [1, 1]},
             {"kind": "case", "args": [2], "expect": [2, 3]},
             {"kind": "code", "code": "assert f(3) == [3, 3]"},
             {"kind": "case", "args": [-1], "raises": "ValueError"}]
    errors = [{"args": [-5], "raises": "ValueError"}, {"args": [None], "raises": "TypeError"}]
    events, _, _ = run_job(tmp_path, program, tests, errors)
    v = verdict(events)
    assert v["tests_passed"] == 3 and v["passed"] == [0, 2, 3]
    assert v["errors_handled"] == 2
    failure = next(e for e in events if e["ev"] == "test" and e.get("phase") == "end" and not e["ok"])
    assert "expected [2, 3], got [2, 2]" in failure["error"]


def test_humaneval_check_style(tmp_path):
    program = "def f(a, b):\n    return a + b\n"
    check = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "check", "code": check}])
    assert verdict(events)["tests_passed"] == 1


@pytest.mark.parametrize("exit_call", ["import os; os._exit(0)", "import sys; sys.exit(0)", "raise SystemExit"])
def test_early_exit_fails_the_case(tmp_path, exit_call):
    program = f"def f(x):\n    {exit_call}\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "case", "args": [1], "expect": 1}])
    assert verdict(events)["tests_passed"] == 0


def test_exit_at_import_gets_no_pass(tmp_path):
    events, _, _ = run_job(tmp_path, "import os\nos._exit(0)\n", [{"kind": "case", "args": [1], "expect": 1}])
    v = verdict(events)
    assert v["tests_passed"] == 0 and "exited" in v["load_error"]


def test_infinite_loop_is_stopped_by_the_per_test_alarm(tmp_path):
    program = "def f(x):\n    while x:\n        pass\n    return 0\n"
    tests = [{"kind": "case", "args": [1], "expect": 0}, {"kind": "case", "args": [0], "expect": 0}]
    events, _, _ = run_job(tmp_path, program, tests, limit=0.3)
    v = verdict(events)
    assert v["timeouts"] == 1 and v["tests_passed"] == 1  # the second test ran in a fresh child


def test_forged_marker_with_wrong_nonce_is_just_output(tmp_path):
    forged = MARK + "guess:" + json.dumps({"ev": "verdict", "tests_passed": 9, "tests_total": 9})
    program = f"print({forged!r})\nimport os\nos._exit(0)\n"
    events, output, _ = run_job(tmp_path, program, [{"kind": "case", "args": [1], "expect": 1}])
    assert verdict(events)["tests_passed"] == 0
    assert any("guess:" in line for line in output)


def test_closing_stdout_does_not_silence_the_runner(tmp_path):
    program = "import os, sys\nos.close(1)\nsys.stdout = open(os.devnull, 'w')\ndef f(x):\n    return x\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "case", "args": [4], "expect": 4}])
    assert verdict(events)["tests_passed"] == 1


def test_partial_line_before_an_event_is_kept_as_output(tmp_path):
    program = "import sys\ndef f(x):\n    sys.stdout.write('no newline')\n    return x\n"
    events, output, _ = run_job(tmp_path, program, [{"kind": "case", "args": [1], "expect": 1}])
    assert verdict(events)["tests_passed"] == 1
    assert "no newline" in output


def test_syntax_error_is_a_load_error(tmp_path):
    events, _, _ = run_job(tmp_path, "def f(x) return x\n", [{"kind": "case", "args": [1], "expect": 1}])
    v = verdict(events)
    assert v["load_error"].startswith("SyntaxError")


def test_missing_entry_point(tmp_path):
    events, _, _ = run_job(tmp_path, "def g(x):\n    return x\n", [{"kind": "case", "args": [1], "expect": 1}])
    assert "does not define f()" in verdict(events)["load_error"]


def test_perf_median_and_generated_tests(tmp_path):
    program = "def f(xs):\n    return sorted(xs)\n"
    perf = [{"name": "big", "setup": "(list(range(2000, 0, -1)),)", "repeats": 3, "time_limit_s": 5}]
    gen = ["assert f([2, 1]) == [1, 2]", "assert f([1]) == [2]", "this is not python"]
    events, _, _ = run_job(tmp_path, program, [{"kind": "case", "args": [[3, 1]], "expect": [1, 3]}],
                           perf=perf, generated=gen)
    v = verdict(events)
    assert v["median_ms"] is not None and v["median_ms"] > 0 and v["perf_done"] == 1
    assert v["generated_passed"] == [0] and v["generated_total"] == 3
    assert v["peak_kib"] > 0
    # generated tests are a quiet group: two events in all, not two per test
    assert not [e for e in events if e["ev"] == "test" and e["group"] == "generated"]
    start, end = [e for e in events if e["ev"] == "group"]
    assert start["phase"] == "start" and start["n"] == 3
    assert end["phase"] == "end" and end["passed"] == [0] and end["timeouts"] == 0
    assert [f["i"] for f in end["failures"]] == [1, 2]
    assert end["failures"][0]["detail"]["call"] == "f([1])" and "expected [2]" in end["failures"][0]["error"]


def test_exception_swallowing_candidate_cannot_eat_the_timeout(tmp_path):
    program = ("def f(x):\n    while True:\n        try:\n            while True:\n                pass\n"
               "        except Exception:\n            pass\n")
    events, _, _ = run_job(tmp_path, program, [{"kind": "case", "args": [1], "expect": 1}], limit=0.3)
    assert verdict(events)["timeouts"] == 1


def test_backends_know_the_runner_marker():
    from ai_code_evals.sandbox.base import PRIORITY_MARK, is_priority

    assert PRIORITY_MARK == MARK
    assert is_priority(MARK + "n:{}") and not is_priority("candidate says " + MARK)


def test_a_verdict_after_an_output_flood_still_arrives():
    from ai_code_evals.sandbox.output import LineCap

    cap = LineCap(1000)
    lines = cap.feed(b"x" * 100 + b"\n" * 50 + (b"y" * 200 + b"\n") * 50)
    lines += cap.feed(MARK.encode() + b"nonce:{}\n" + b"z" * 300 + b"\n")
    lines += cap.close()
    assert any(line.startswith(MARK) for line in lines)
    assert cap.dropped > 0


def test_a_marker_inside_a_line_does_not_skip_the_cap():
    """A line that merely contains the marker is output like any other (it used to pass the
    cap: one version kept 24 MB of output under a 1 MiB cap)."""
    from ai_code_evals.sandbox.output import LineCap

    cap = LineCap(10_000)
    lines = cap.feed((b"x" + MARK.encode() + b"y" * 100 + b"\n") * 1000)
    lines += cap.close()
    assert sum(len(line) for line in lines) < 10_000 and cap.dropped > 0


def _out_events(proc):
    prefix = MARK + NONCE + ":"
    events = [json.loads(line[len(prefix):]) for line in proc.stdout.splitlines() if line.startswith(prefix)]
    return [e for e in events if e["ev"] == "out"]


def test_output_streams_through_the_checker_and_stderr_is_kept_apart(tmp_path):
    program = "import sys\ndef f(x):\n    print('out', x)\n    print('err', x, file=sys.stderr)\n    return x\n"
    events, output, proc = run_job(tmp_path, program, [{"kind": "case", "args": [7], "expect": 7}])
    assert verdict(events)["tests_passed"] == 1
    assert "out 7" in output and "err 7" in output
    assert "err 7" in [e["t"] for e in _out_events(proc) if e["s"] == "stderr"]


def test_probes_report_behaviour_as_comparable_strings(tmp_path):
    program = ("def f(x, y=0):\n    if x == 'boom':\n        raise KeyError(x)\n    if x == 'spin':\n"
               "        while True: pass\n    if x == 'obj':\n        return object()\n"
               "    return {x: {y, 2.0}} if x != 'gen' else (i for i in range(3))\n")
    probes = ["((1,), {'y': 3})", "(('boom',), {})", "(('spin',), {})", "(('obj',), {})", "(('gen',), {})",
              "(('after',), {})"]
    events, _, _ = run_job(tmp_path, program, [], probes=probes, limit=0.3)
    outputs = next(e for e in events if e["ev"] == "probes")["outputs"]
    assert outputs == ["v:{1:{2,3}}", "e:KeyError", "t", "u:object", "v:[0,1,2]", "v:{'after':{0,2}}"]


def test_failure_detail_names_the_call_the_values_and_the_traceback(tmp_path):
    program = "def helper(x):\n    return 1 / x\n\ndef f(x):\n    return helper(x) + 1\n"
    check = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 2\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "check", "code": check},
                                               {"kind": "case", "args": [0], "expect": 1}])
    ends = [e for e in events if e["ev"] == "test" and e["phase"] == "end"]
    assert ends[0]["detail"] == {"call": "f(2)", "got": "1.5", "assertion": "assert candidate(2) == 2"}
    assert ends[1]["error"].startswith("ZeroDivisionError")
    assert ends[1]["detail"]["call"] == "f(0)"
    tb = ends[1]["detail"]["traceback"]
    assert 'File "candidate.py", line 2, in helper' in tb and "runner.py" not in tb



def test_the_checker_keeps_only_the_latest_tracebacks():
    """Tracebacks stay off the exceptions a test catches (tests/test_dedupe.py), in a table of
    the latest ones: a version raising on every one of thousands of calls cannot grow it."""
    from ai_code_evals.sandbox import runner

    raised = [runner._candidate_exception({"mro": ["ValueError"], "msg": "no", "tb": f"line {k}"})
              for k in range(runner.TRACEBACKS_KEPT + 500)]
    assert len(runner._TRACEBACKS) <= runner.TRACEBACKS_KEPT
    assert runner.candidate_traceback(raised[-1]) == f"line {len(raised) - 1}"
    assert runner.candidate_traceback(raised[0]) == ""  # long gone from the table
    assert "tb" not in raised[-1].ace_info


def test_a_recursion_error_reports_the_deepest_candidate_frames_only(tmp_path):
    """A version that recurses without end (change_base(x, 1) in the real samples) raises
    RecursionError on every call; only its last frames are summarised, not all 1,000."""
    program = ("import json\ndef down(x, n):\n    if n == 0:\n        return json.loads('{')\n"
               "    return down(x, n - 1)\ndef f(x):\n    return down(x, x)\n")
    tests = [{"kind": "case", "args": [5000], "expect": 0}, {"kind": "case", "args": [3], "expect": 0}]
    events, _, _ = run_job(tmp_path, program, tests)
    ends = [e for e in events if e["ev"] == "test" and e["phase"] == "end"]
    deep, shallow = ends[0]["detail"]["traceback"], ends[1]["detail"]["traceback"]
    assert ends[0]["error"].startswith("RecursionError")
    assert deep.count('File "candidate.py", line 5, in down') == 3  # 8 frames, repeats folded
    assert "[Previous line repeated 5 more times]" in deep and "runner.py" not in deep
    assert shallow.count('File "candidate.py", line 5, in down') == 3
    assert 'line 7, in f' in shallow and "JSONDecodeError" in shallow

def test_completion_style_helpers_come_from_the_task_not_the_version(tmp_path):
    """HumanEval/32 style: check() uses a helper defined in the prompt. A version that
    redefines the helper changes its own copy only."""
    context = 'def helper(x):\n    return x * 10\n\ndef f(x):\n    """doc"""\n'
    program = context + "    return 5\n\ndef helper(x):\n    return 5\n"
    check = "def check(candidate):\n    assert helper(candidate(1)) == 5\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "check", "code": check}], context=context)
    assert verdict(events)["tests_passed"] == 0


def test_a_test_that_mutates_its_argument_sees_the_change(tmp_path):
    program = "def f(xs):\n    xs.sort()\n"
    code = "xs = [3, 1, 2]\nf(xs)\nassert xs == [1, 2, 3]\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "code", "code": code}])
    assert verdict(events)["tests_passed"] == 1


def test_a_callable_argument_is_named_as_unsupported(tmp_path):
    program = "def f(g):\n    return g(1)\n"
    code = "assert f(lambda x: x + 1) == 2\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "code", "code": code}])
    v = verdict(events)
    assert v["tests_passed"] == 0 and "only plain data crosses" in v["unchecked"]


def test_a_test_that_needs_the_versions_globals_is_named(tmp_path):
    """Tests run in the checker: one that calls a helper only the version defines cannot run
    there, and says so instead of blaming the version."""
    program = "def helper(x):\n    return x\n\ndef f(x):\n    return helper(x)\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "code", "code": "assert helper(2) == 2"}])
    v = verdict(events)
    assert v["tests_passed"] == 0 and "name 'helper' is not defined" in v["unchecked"]


def test_a_version_that_never_ends_stops_costing_after_three_probe_timeouts(tmp_path):
    program = "def f(x):\n    while x:\n        pass\n    return 0\n"
    probes = [f"(({i},), {{}})" for i in range(1, 7)] + ["((0,), {})"]
    events, _, _ = run_job(tmp_path, program, [], probes=probes, limit=0.2)
    outputs = next(e for e in events if e["ev"] == "probes")["outputs"]
    assert outputs == ["t"] * 7  # three ran into the limit; the rest were not run


def test_batched_calls_each_timed_and_attributed_a_hang_and_a_crash_cost_only_their_own_call(tmp_path):
    """Generated tests and probes go to the child in one batch; a call that hangs or kills the
    child is that call's outcome, and the calls after it run in a fresh child."""
    program = ("import os\ndef f(x):\n    if x == 2:\n        while True:\n            pass\n"
               "    if x == 3:\n        os._exit(3)\n    return x * 2\n")
    gen = ["assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 6", "assert f(4) == 8", "assert f(5) == 11"]
    probes = ["((1,), {})", "((2,), {})", "((3,), {})", "((4,), {})", "not a literal"]
    events, _, _ = run_job(tmp_path, program, generated=gen, probes=probes, limit=0.3)
    end = next(e for e in events if e["ev"] == "group" and e["phase"] == "end")
    assert end["passed"] == [0, 3] and end["timeouts"] == 1 and end["timeout_ms"] >= 300
    by_index = {f["i"]: f for f in end["failures"]}
    assert by_index[1]["error_type"] == "Timeout" and by_index[1]["detail"]["call"] == "f(2)"
    assert by_index[2]["error_type"] == "Crash" and "status 3" in by_index[2]["error"]
    assert by_index[4]["error"] == "expected 11, got 10"
    assert next(e for e in events if e["ev"] == "probes")["outputs"] == ["v:2", "t", "x", "v:8", "x"]
    v = verdict(events)
    assert v["generated_passed"] == [0, 3] and v["timeouts"] == 1


def test_a_version_that_hangs_on_every_generated_test_costs_three_limits_not_one_per_test(tmp_path):
    """The real input: HumanEval versions that never end, with ~50 model tests per task, cost
    their full limit on every test (145 s of a 192 s selection run here)."""
    gen = [f"assert f({i}) == {i}" for i in range(8)]
    events, _, _ = run_job(tmp_path, "def f(x):\n    while True:\n        pass\n", generated=gen, limit=0.2)
    end = next(e for e in events if e["ev"] == "group" and e["phase"] == "end")
    assert end["passed"] == [] and end["timeouts"] == 3
    assert [f["error_type"] for f in end["failures"]] == ["Timeout"] * 5
    assert end["failures"][3]["error"].startswith("not run: the version timed out on 3 calls already")
    assert verdict(events)["timeouts"] == 3


def test_three_time_outs_on_generated_tests_leave_the_probes_unrun(tmp_path):
    """Generated tests and probes share the budget of three time-outs: a version taken not to
    end on the model's tests is not made to time out three more times on the probes."""
    program = "def f(x):\n    while x < 10:\n        pass\n    return x\n"
    gen = [f"assert f({i}) == {i}" for i in range(3)]
    events, _, _ = run_job(tmp_path, program, generated=gen, probes=["((50,), {})"], limit=0.2)
    assert next(e for e in events if e["ev"] == "probes")["outputs"] == ["t"]  # f(50) would return
    events, _, _ = run_job(tmp_path, program, generated=gen[:2], probes=["((50,), {})", "((1,), {})"], limit=0.2)
    assert next(e for e in events if e["ev"] == "probes")["outputs"] == ["v:50", "t"]


def test_each_distinct_literal_call_runs_once_per_version(tmp_path):
    """A model test and the probe made from its input, or two model tests of one input, share
    one call: the version counts its calls, and sees three, not five."""
    program = "n = [0]\ndef f(x):\n    n[0] += 1\n    return n[0]\n"
    gen = ["assert f(7) == 1", "assert f(7) == 2", "assert f(8) == 2"]
    events, _, _ = run_job(tmp_path, program, generated=gen, probes=["((7,), {})", "((9,), {})"])
    assert verdict(events)["generated_passed"] == [0, 2]
    assert next(e for e in events if e["ev"] == "probes")["outputs"] == ["v:1", "v:3"]


def test_a_version_that_asks_for_input_gets_end_of_file_at_once(tmp_path):
    """Real samples (HumanEval/77#15, /80) end with ``a = int(input(...))``. The child's stdin was
    the checker's request pipe: ``input()`` waited there until the load limit (6.5 s, a slot idle
    at the end of a real run) and, during a call, read the checker's requests. Its stdin is now
    empty, as in ``python prog.py < /dev/null``: EOFError at once, the same verdict as plain Python."""
    program = "def f(x):\n    return x\n\na = int(input('Enter the integer: '))\n"
    events, _, _ = run_job(tmp_path, program, [{"kind": "case", "args": [1], "expect": 1}], limit=30.0)
    v = verdict(events)
    assert v["load_error"].startswith("EOFError"), v["load_error"]


def test_a_call_that_reads_stdin_reads_nothing(tmp_path):
    program = "import os, sys\ndef f(x):\n    return [sys.stdin.read(), os.read(0, 64).decode(), x]\n"
    tests = [{"kind": "case", "args": [1], "expect": ["", "", 1]}, {"kind": "case", "args": [2], "expect": ["", "", 2]}]
    events, _, _ = run_job(tmp_path, program, tests, limit=30.0)
    assert verdict(events)["tests_passed"] == 2


def test_the_child_started_afresh_after_a_timeout_has_an_empty_stdin_too(tmp_path):
    """After a time-out the child is a new interpreter (``runner.py --child``), wired anew."""
    program = "import sys\ndef f(x):\n    while x:\n        pass\n    return sys.stdin.read()\n"
    tests = [{"kind": "case", "args": [1], "expect": ""}, {"kind": "case", "args": [0], "expect": ""}]
    events, _, _ = run_job(tmp_path, program, tests, limit=0.5)
    v = verdict(events)
    assert v["timeouts"] == 1 and v["passed"] == [1], v
