"""A version the infrastructure could not run gets no verdict: status error, reason
"infrastructure: ...", its identical copies do not inherit it, the summary counts it apart,
and ``resume`` runs it again. The real local backend, with one sandbox broken by
``FaultyBackend`` (tests/faulty_backend.py), recorded and resumed through the session functions the
CLI uses."""
from __future__ import annotations

import asyncio
import json

from faulty_backend import FaultyBackend

from ai_code_evals.core.events import EventBus
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.session import (
    Run,
    RunRequest,
    load_resume,
)

TASK = """\
id: add
entry_point: add
prompt: |
  def add(a, b):
      \"\"\"Add two numbers.\"\"\"
time_limit_s: 3.0
tests:
  - {args: [1, 2], expect: 3}
  - {args: [0, 0], expect: 0}
"""
GOOD = "def add(a, b):\n    return a + b\n"
GOOD_TOO = "def add(a, b):\n    return b + a\n"
WRONG = "def add(a, b):\n    return a * b\n"
# add#0 cannot be run (its sandbox fails to start); add#1 is its identical copy
SAMPLES = [GOOD, GOOD, GOOD_TOO, GOOD_TOO, WRONG]


def statuses(summary: dict) -> dict[str, tuple[str, str]]:
    return {c["id"]: (c["status"], c["reason"]) for t in summary["tasks"] for c in t["candidates"]}


def test_infrastructure_error_is_no_verdict_and_resume_runs_it_again(tmp_path):
    (tmp_path / "task.yaml").write_text(TASK)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": "add", "code": c}) + "\n" for c in SAMPLES))
    req = RunRequest(tasks=[str(tmp_path / "task.yaml")], samples=str(samples), backend="local", jobs=2,
                     record=str(tmp_path / "run.jsonl"))
    env: dict[str, str] = {}
    run = Run.start(req, env)
    config = run.config
    config.backend = FaultyBackend(config.backend, {"add#0": "create_fails"})
    try:
        summary = asyncio.run(run.execute())
    finally:
        run.close()
    first = statuses(summary)
    assert first["add#0"][0] == "error" and first["add#0"][1].startswith("infrastructure: ")
    # the copy is not given the original's non-verdict as a verdict of its own code
    assert first["add#1"][0] == "error" and first["add#1"][1].startswith("infrastructure: not run")
    assert first["add#2"][0] == first["add#3"][0] == "passed"
    assert first["add#4"][0] == "failed"
    assert summary["infrastructure_errors"] == 2
    # pass@1 over the three versions that were judged (2 of 3 pass), not over all five
    assert summary["pass_at_k"]["1"] == round(2 / 3, 4)

    state = load_resume(config.record)
    assert {cid for cid, _ in state.finished} == {"add#2", "add#3", "add#4"}
    rerun = Run.resume(state, env)  # the plain local backend: the fault is gone
    try:
        resumed = asyncio.run(rerun.execute())
    finally:
        rerun.close()
    second = statuses(resumed)
    assert {cid: s for cid, (s, _) in second.items()} == {
        "add#0": "passed", "add#1": "passed", "add#2": "passed", "add#3": "passed", "add#4": "failed"}
    assert resumed["infrastructure_errors"] == 0
    assert read_record(config.record).final_report["infrastructure_errors"] == 0


class SlowToStart:
    """The local backend, but each sandbox takes a second before it runs its command (an
    overloaded host): the runner cannot say hello in time."""

    name = "slow"

    def __init__(self, inner) -> None:
        self.inner = inner

    async def create(self, spec):
        sandbox = await self.inner.create(spec)
        run = sandbox.exec

        async def slow_exec(argv, *, on_line, timeout_s):
            await asyncio.sleep(1.0)
            return await run(argv, on_line=on_line, timeout_s=timeout_s)

        sandbox.exec = slow_exec
        return sandbox

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_runner_that_never_started_is_an_infrastructure_error_not_a_timeout(tmp_path, monkeypatch):
    from ai_code_evals.core.candidate import Candidate
    from ai_code_evals.core.task import Task, TestCase
    from ai_code_evals.engine import job as job_mod
    from ai_code_evals.engine.run import RunConfig, run_evaluation
    from ai_code_evals.sandbox.local import LocalBackend

    monkeypatch.setattr(job_mod, "STARTUP_GRACE_S", 0.3)
    task = Task(id="add", entry_point="add", prompt="Add.", time_limit_s=3.0, tests=[TestCase(args=[1, 2], expect=3)])
    backend = SlowToStart(LocalBackend(temp_dir=str(tmp_path)))

    async def go():
        try:
            return await run_evaluation(RunConfig(tasks=[task], backend=backend, jobs=1, check_reference=False,
                                                  candidates=[Candidate(id="add#0", task_id="add", code=GOOD)]),
                                        EventBus())
        finally:
            await backend.aclose()

    (row,) = asyncio.run(go())["tasks"][0]["candidates"]
    assert row["status"] == "error"
    assert row["reason"] == "infrastructure: the runner did not start within 0.3s (the sandbox is too slow or overloaded)"
