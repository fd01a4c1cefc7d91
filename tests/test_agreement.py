"""`codet` selection (the baseline kept beside `agreement`): CodeT-style grouping on constructed
results, then end to end through the engine and the real local backend on a task that has no
tests at all."""
from __future__ import annotations

import asyncio

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import EngineNotice, EventBus
from ai_code_evals.core.task import Task, TestCase, Weights
from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.engine.scoring import score_task, select_by_score
from ai_code_evals.engine.selection import SelectionContext
from ai_code_evals.generation.dedupe import mark_duplicates
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.selectors import get_selector
from ai_code_evals.selectors.codet import agreement_groups, select_by_codet

NO_TESTS = Task(id="clamp", entry_point="clamp", prompt="clamp(x, lo, hi): x limited to [lo, hi].")


def row(cid: str, passed: list[int], total: int = 6, status: str = "passed", dup: str | None = None,
        tests_passed: int = 0, tests_total: int = 0) -> CandidateResult:
    return CandidateResult(candidate_id=cid, task_id="t", status=status, generated_passed=passed,
                           generated_total=total, duplicate_of=dup, tests_passed=tests_passed,
                           tests_total=tests_total)


def ctx_for(rows, task=NO_TESTS, generated=6, candidates=None):
    score_task(rows, Weights())
    cands = candidates or {r.candidate_id: Candidate(id=r.candidate_id, task_id="t", code="x") for r in rows}
    return SelectionContext(task=task, results=rows, candidates=cands, generated_tests=["assert 1"] * generated)


def pick(ctx):
    return asyncio.run(select_by_codet(ctx))


def test_groups_score_size_times_tests_and_count_duplicates():
    rows = [row("t#0", [0, 1, 2, 3, 4]),  # alone passing a wrong test too
            row("t#1", [0, 1, 2, 3]), row("t#2", [0, 1, 2, 3]), row("t#3", [0, 1, 2, 3], dup="t#1"),
            row("t#4", [5]), row("t#5", [], status="error")]
    groups = agreement_groups(rows)
    assert [(g.weight, len(g.tests), g.score) for g in groups][:2] == [(3, 4, 12), (1, 5, 5)]
    ctx = ctx_for(rows)
    sel = pick(ctx)
    assert sel.winner == "t#1"  # t#3 is its duplicate: the original is picked, ties go by rank then id
    assert sel.reason == ("t#1: 3 of 6 versions agree on 4/6 generated tests (group score 12, next 1×5=5); "
                          "2 of them are this same program")
    assert ctx.notices == []


def test_without_duplicates_the_lone_version_loses_to_the_pair():
    rows = [row("t#0", [0, 1, 2, 3, 4]), row("t#1", [0, 1, 2, 3]), row("t#2", [0, 1, 2, 3])]
    assert pick(ctx_for(rows)).winner == "t#1"
    rows = [row("t#0", [0, 1, 2, 3, 4, 5]), row("t#1", [0, 1]), row("t#2", [0, 1])]
    assert pick(ctx_for(rows)).winner == "t#0"  # 1×6 beats 2×2


def test_multiplicity_of_a_candidate_counts():
    rows = [row("t#0", [0, 1, 2]), row("t#1", [0, 1, 2, 3])]
    cands = {"t#0": Candidate(id="t#0", task_id="t", code="x", multiplicity=3),
             "t#1": Candidate(id="t#1", task_id="t", code="y")}
    assert pick(ctx_for(rows, candidates=cands)).winner == "t#0"  # 3×3 beats 1×4


def test_ground_truth_tests_come_first_when_the_task_has_them():
    task = Task(id="t", entry_point="f", tests=[TestCase(args=[1], expect=1)] * 2)
    rows = [row("t#0", [0, 1, 2], status="failed", tests_passed=1, tests_total=2),
            row("t#1", [0, 1, 2], status="failed", tests_passed=1, tests_total=2),
            row("t#2", [0], tests_passed=2, tests_total=2)]
    sel = pick(ctx_for(rows, task=task))
    assert sel.winner == "t#2" and sel.reason.endswith("passes 2/2 tests")


def test_falls_back_to_score_with_a_notice():
    rows = [row("t#0", [], total=0, status="failed"), row("t#1", [], total=0)]
    ctx = ctx_for(rows, generated=0)
    sel = pick(ctx)
    assert ctx.notices == [("codet selection needs generated tests and this task has none "
                           "(use --generate-tests or --generated-tests); selected by score")]
    assert sel == select_by_score(rows) and sel.winner == "t#1"

    ctx = ctx_for([row("t#0", []), row("t#1", [])])
    pick(ctx)
    assert ctx.notices == ["no version passes any generated test; selected by score"]


def test_registered_with_the_engine():
    assert get_selector("codet") is select_by_codet


# -- end to end: engine + local sandboxes, no ground-truth tests ----------------------------------

VERSIONS = [
    "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",                      # correct
    "def clamp(x, lo, hi):\n    # the same program, laid out differently\n    return max(lo,  min(x, hi))\n",
    "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n",
    "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n",                      # wrong way round
    "def clamp(x, lo, hi):\n    return x if lo < x < hi else lo\n",                  # drops the top edge
    "def clamp(x, lo, hi)\n    return x\n",                                         # does not load
]
GENERATED = [
    "assert clamp(5, 0, 10) == 5", "assert clamp(-3, 0, 10) == 0", "assert clamp(12, 0, 10) == 10",
    "assert clamp(0, 0, 10) == 0", "assert clamp(10, 0, 10) == 10",
    "assert clamp(7, 0, 10) == 0",  # a wrong generated test
]


def test_end_to_end_on_a_task_without_tests():
    cands = mark_duplicates([Candidate(id=f"clamp#{k}", task_id="clamp", code=code, origin="samples")
                             for k, code in enumerate(VERSIONS)])
    assert cands[1].duplicate_of == "clamp#0"
    bus, events = EventBus(), []
    bus.subscribe(events.append)
    config = RunConfig(tasks=[NO_TESTS], backend=LocalBackend(), candidates=cands, jobs=2, select="codet",
                       generated_tests={"clamp": GENERATED})
    summary = asyncio.run(run_evaluation(config, bus))
    task = summary["tasks"][0]
    # clamp#0, its copy clamp#1 and clamp#2 agree; within the group the program written twice wins
    assert task["winner"] == "clamp#0"
    assert task["reason"] == ("clamp#0: 3 of 6 versions agree on 5/6 generated tests (group score 15, "
                              "next 1×3=3); 2 of them are this same program")
    rows = {c["id"]: c for c in task["candidates"]}
    assert rows["clamp#1"]["duplicate_of"] == "clamp#0" and rows["clamp#5"]["status"] == "error"
    assert not [e for e in events if isinstance(e, EngineNotice)]


def test_cli_samples_and_generated_tests_file_on_tasks_without_tests(tmp_path):
    """DESIGN §3.3/§3.4 files through the real command line: winners on tasks with no tests."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "tasks.yaml").write_text(
        "- {id: clamp, entry_point: clamp, prompt: 'clamp(x, lo, hi)'}\n"
        "- {id: inc, entry_point: inc, prompt: 'inc(x): x plus one'}\n")
    rows = [{"task_id": "clamp", "code": code} for code in VERSIONS]
    rows += [{"task_id": "inc", "code": "def inc(x):\n    return x + 1\n"},
             {"task_id": "inc", "code": "def inc(x):\n    return x - 1\n"},
             {"task_id": "inc", "code": "def inc(y):\n    return 1 + y\n"}]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tests = [{"task_id": "clamp", "tests": GENERATED},
             {"task_id": "inc", "tests": ["assert inc(1) == 2", "assert inc(-1) == 0", "assert inc(0) == -1"]}]
    (tmp_path / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ACE_"))}
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", "tasks.yaml", "--samples", "samples.jsonl",
                           "--generated-tests", "gen.jsonl", "--select", "codet", "--headless", "--json",
                           "--record", "run.jsonl"], check=False, capture_output=True, text=True, timeout=240,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    tasks = {t["task_id"]: t for t in json.loads(proc.stdout)["tasks"]}
    assert tasks["clamp"]["winner"] in ("clamp#0", "clamp#1", "clamp#2")
    assert "3 of 6 versions agree on 5/6 generated tests" in tasks["clamp"]["reason"]
    assert tasks["inc"]["winner"] in ("inc#0", "inc#2")
    assert "2 of 3 versions agree on 2/3 generated tests" in tasks["inc"]["reason"]
