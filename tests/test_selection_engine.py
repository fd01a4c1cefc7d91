"""`--select agreement` end to end: HumanEval rows without tests, real model-style samples and
generated tests (some wrong, some unparseable, one calling another function, one that hangs),
through the command line, the engine and local sandboxes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ai_code_evals.engine.results import decide_status

PROMPT = '''from typing import List


def second_largest(xs: List[int]) -> int:
    """The second largest distinct value of xs, or None when there is none."""
'''
RIGHT_A = "    s = sorted(set(xs))\n    return s[-2] if len(s) > 1 else None\n"
RIGHT_B = ("    best = second = None\n    for x in set(xs):\n        if best is None or x > best:\n"
           "            best, second = x, best\n        elif second is None or x > second:\n"
           "            second = x\n    return second\n")
WRONG_DUPES = "    s = sorted(xs)\n    return s[-2] if len(s) > 1 else None\n"  # ignores repeats
WRONG_MIN = "    return min(xs) if xs else None\n"
BROKEN = "    return sorted(set(xs)[-2]\n"
HANGS = "    while True:\n        pass\n"
SAMPLES = [RIGHT_A, WRONG_DUPES, RIGHT_B, WRONG_DUPES, RIGHT_A, WRONG_MIN, BROKEN, HANGS]
GENERATED = [
    "assert second_largest([1, 2, 3]) == 2",
    "assert second_largest([5, 5, 4]) == 4",
    "assert second_largest([3, 3]) is None",
    "assert second_largest([1, 2]) == 1",
    "assert second_largest([7, 7, 7, 1]) == 7",  # wrong: the model's own mistake
    "assert _______ == second_largest([9, 8, 9])",  # placeholder: its input is still a probe
    "assert second_largest([1, 2] == 1",  # does not parse
    "assert largest([1, 2]) == 2",  # calls another function
]


def test_a_task_without_tests_gives_unchecked_versions():
    assert decide_status({"tests_passed": 0, "tests_total": 0}, exit_code=0, sig=None, timed_out=False,
                         stalled_in=None) == ("unchecked", "loads and runs; the task has no test to decide correctness")


@pytest.fixture(scope="module")
def agreement_run(tmp_path_factory):
    """One real run through the command line, shared by the checks below."""
    tmp_path = tmp_path_factory.mktemp("agreement")
    row = {"task_id": "S/0", "prompt": PROMPT, "entry_point": "second_largest"}
    nothing_runs = {"task_id": "S/1", "prompt": "def half(x: int) -> int:\n", "entry_point": "half"}
    (tmp_path / "tasks.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(nothing_runs) + "\n")
    samples = [{"task_id": "S/0", "completion": c} for c in SAMPLES]
    samples += [{"task_id": "S/1", "completion": "    return x //\n"}, {"task_id": "S/1", "completion": "    return (x\n"}]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    (tmp_path / "gen.jsonl").write_text(json.dumps({"task_id": "S/0", "tests": GENERATED}) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ACE_"))}
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", "tasks.jsonl", "--samples", "samples.jsonl",
                           "--generated-tests", "gen.jsonl", "--select", "agreement", "--headless", "--json",
                           "--record", "run.jsonl"], check=False, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["pass_at_k"] == {}  # nothing here can be checked: no pass@k rather than 0%
    return tmp_path, summary["tasks"][0], summary["tasks"][1]


def test_cli_agreement_on_humaneval_rows_without_tests(agreement_run):
    tmp_path, task, nothing_ran = agreement_run
    status = {c["id"]: c["status"] for c in task["candidates"]}
    assert status["S/0#0"] == status["S/0#2"] == status["S/0#1"] == "unchecked"
    assert status["S/0#6"] == "error"
    assert task["winner"] in ("S/0#0", "S/0#2"), task
    assert "versions agree on 24 inputs" in task["reason"], task["reason"]  # probes ran in the sandboxes
    assert "/5 model tests" in task["reason"] and "(3 of 8 dropped: not a literal call)" in task["reason"]
    assert task["generated_tests"] == {"given": 8, "usable": 5, "dropped": 3} and task["probes"] == 24
    assert status["S/0#7"] == "timeout"  # hangs: costs its own time, nobody else's
    assert nothing_ran["winner"] is None
    assert nothing_ran["reason"].startswith("no winner: none of the 2 versions ran (")
    assert "does not load" in nothing_ran["reason"]
    log = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    selection = [e for e in log if e.get("type") == "selection" and e["data"].get("task_id") == "S/0"]
    assert selection and selection[0]["data"]["winner"] == task["winner"]
    # generated tests report as one group, and still say which of them a version failed and why
    results = {e["data"]["result"]["candidate_id"]: e["data"]["result"] for e in log if e.get("type") == "result"}
    dupes = results["S/0#1"]
    assert dupes["generated_passed"] == [0, 3, 4] and dupes["generated_total"] == 8
    failed = [f for f in dupes["failures"] if f["group"] == "generated"]
    assert failed[0]["name"] == "generated test 2" and failed[0]["call"] == "second_largest([5, 5, 4])"
    assert "expected 4, got 5" in failed[0]["error"]


async def test_tui_replay_shows_unchecked_versions_and_the_agreement_reason(agreement_run):
    """The log of that run opened in the TUI: panes say UNCHECKED, the leaderboard shows the
    winner and what decided it."""
    from ai_code_evals.tui.app import WorkspaceApp

    tmp_path, _, _ = agreement_run
    app = WorkspaceApp(record=tmp_path / "run.jsonl", export_dir=tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.flush()
        await pilot.pause()
        pane = next(s for s in app.workspace.slots if s.key and s.key[0] == "S/0#1")
        assert pane.has_class("-unchecked") and pane.border_subtitle == "UNCHECKED"
        reason = str(app.leaderboard.reason.render())
        assert "winner S/0#" in reason and "versions agree on 24 inputs" in reason
