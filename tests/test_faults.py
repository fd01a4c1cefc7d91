"""Fault injection: broken sandboxes and generators cost their own candidates, never the run.

The real local backend, wrapped by ``FaultyBackend`` (tests/faulty_backend.py), breaks chosen
candidates the way infrastructure breaks; everything else must come out as if nothing happened.
"""
import asyncio

import pytest
from faulty_backend import FaultyBackend, FaultyGenerator
from reliability_util import processes_under

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import CandidateFinished, EngineNotice, EventBus, OutputLine
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine import job as job_mod
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.sandbox.local import LocalBackend

TASK = Task(id="add", entry_point="add", prompt="Add two numbers.", time_limit_s=3.0,
            tests=[TestCase(args=[1, 2], expect=3), TestCase(args=[0, 0], expect=0),
                   TestCase(kind="code", code="assert add(-1, 1) == 0")])
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a * b\n"
SLOW_GOOD = "import time\ndef add(a, b):\n    time.sleep(0.6)\n    return a + b\n"

# candidate -> (code, fault or None, expected status, words the reason must contain)
PLAN = {
    "add#0": (GOOD, None, "passed", "passes 3/3"),
    "add#1": (GOOD, "create_fails", "error", "failed to start"),
    "add#2": (GOOD, "create_hangs", "error", "did not start within"),
    "add#3": (GOOD, "upload_fails", "error", "upload failed"),
    "add#4": (GOOD, "exec_fails", "error", "refused the command"),
    "add#5": (SLOW_GOOD, "dies_mid_run", "error", "sandbox died"),
    "add#6": (GOOD, "garbage", "error", "malformed runner event"),
    "add#7": (GOOD, "noise", "passed", "passes 3/3"),
    "add#8": (WRONG, "late_output", "failed", "passes 1/3"),
    "add#9": (GOOD, "destroy_hangs", "passed", "passes 3/3"),
    "add#10": (SLOW_GOOD, "metrics_hang", "passed", "passes 3/3"),
    "add#11": (WRONG, None, "failed", "passes 1/3"),
}


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    mp = pytest.MonkeyPatch()
    mp.setattr(job_mod, "SANDBOX_START_TIMEOUT_S", 4.0)
    mp.setattr(job_mod, "DESTROY_TIMEOUT_S", 2.0)
    inner = LocalBackend(temp_dir=str(tmp))
    backend = FaultyBackend(inner, {cid: fault for cid, (_, fault, _, _) in PLAN.items() if fault})
    cands = [Candidate(id=cid, task_id="add", code=code) for cid, (code, *_rest) in PLAN.items()]
    bus, events = EventBus(), []
    bus.subscribe(events.append)

    async def go():
        config = RunConfig(tasks=[TASK], backend=backend, candidates=cands, jobs=3)
        try:
            return await run_evaluation(config, bus)
        finally:
            await backend.aclose()

    try:
        summary = asyncio.run(go())
    finally:
        mp.undo()
    return summary, events, backend, tmp


def test_each_fault_costs_only_its_own_candidate(faulty_run):
    summary, _, backend, _ = faulty_run
    rows = {c["id"]: c for c in summary["tasks"][0]["candidates"]}
    assert set(rows) == set(PLAN)
    for cid, (_, fault, status, words) in PLAN.items():
        assert rows[cid]["status"] == status, (cid, fault, rows[cid]["reason"])
        assert words in rows[cid]["reason"], (cid, rows[cid]["reason"])
    injected = {fault for _, fault in backend.log.injected}
    assert injected == {f for _, f, _, _ in PLAN.values() if f}, "every fault must actually have fired"
    assert summary["tasks"][0]["winner"] in {cid for cid, p in PLAN.items() if p[2] == "passed"}


def test_exactly_one_result_per_candidate(faulty_run):
    _, events, _, _ = faulty_run
    finished = [e.candidate_id for e in events if isinstance(e, CandidateFinished)]
    assert sorted(finished) == sorted(PLAN)


def test_output_after_the_command_ended_is_dropped(faulty_run):
    """A backend that keeps streaming (even a forged verdict with the right nonce) after exec
    returned changes nothing and publishes nothing after the candidate's result."""
    _, events, backend, _ = faulty_run
    assert backend.log.late_calls >= 1
    done_at = next(i for i, e in enumerate(events) if isinstance(e, CandidateFinished) and e.candidate_id == "add#8")
    late = [e for e in events[done_at:] if isinstance(e, OutputLine) and e.candidate_id == "add#8"]
    assert late == []


def test_a_hanging_destroy_is_reported_not_waited_for(faulty_run):
    summary, events, _, _ = faulty_run
    notices = [e.message for e in events if isinstance(e, EngineNotice)]
    assert any("add#9" in m and "did not finish within" in m for m in notices), notices
    assert summary["interrupted"] is False


def test_nothing_left_behind(faulty_run):
    _, _, _, tmp = faulty_run
    assert processes_under(tmp) == []
    assert list(tmp.iterdir()) == []


class ListGenerator:
    """A generator that yields fixed versions (what the offline generator does for a pack)."""

    name = "list"

    def __init__(self, codes: dict[str, list[str]]) -> None:
        self.codes = codes

    async def generate(self, task, n):
        for k, code in enumerate(self.codes[task.id][:n]):
            yield Candidate(id=f"{task.id}#{k}", task_id=task.id, code=code, origin="offline")


def test_generator_that_raises_or_hangs(tmp_path):
    tasks = [TASK.model_copy(update={"id": tid}) for tid in ("boom", "stuck", "fine")]
    gen = FaultyGenerator(ListGenerator({t.id: [GOOD, WRONG, GOOD] for t in tasks}),
                          raise_after={"boom": 1}, hang_after={"stuck": 2})
    backend = LocalBackend(temp_dir=str(tmp_path))
    bus, events = EventBus(), []
    bus.subscribe(events.append)

    async def go():
        config = RunConfig(tasks=tasks, backend=backend, generator=gen, n=3, jobs=2, generation_timeout_s=2.0)
        try:
            return await run_evaluation(config, bus)
        finally:
            await backend.aclose()

    summary = asyncio.run(go())
    by_task = {t["task_id"]: t for t in summary["tasks"]}
    assert [c["status"] for c in by_task["boom"]["candidates"]] == ["passed"]
    assert "generation failed: RuntimeError: injected" in by_task["boom"]["error"]
    assert [c["status"] for c in by_task["stuck"]["candidates"]] == ["passed", "failed"]
    assert "generation stopped: no candidate within 2s" in by_task["stuck"]["error"]
    assert [c["status"] for c in by_task["fine"]["candidates"]] == ["passed", "failed", "passed"]
    assert by_task["fine"]["error"] is None
    notices = [e.message for e in events if isinstance(e, EngineNotice) and e.level == "error"]
    assert any(m.startswith("boom: generation failed") for m in notices)
    assert processes_under(tmp_path) == []
