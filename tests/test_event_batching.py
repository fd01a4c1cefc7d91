"""The run log batches its lines inside an event loop, and never at the cost of a result.

A result, a selection and the end of the run are on disk when ``on_event`` returns (with every
line written before them, in order); candidates reach the disk at the end of the loop tick;
snapshots and output lines within ``BATCH_DELAY_S``. A real kill -9 right after a result loses
no result. Plus: the faster ``Event.to_data`` gives what ``dataclasses.asdict`` gave, and a
line is byte for byte what ``json.dumps`` wrote before.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import (
    CandidateAdded,
    CandidateFinished,
    EngineNotice,
    EventBus,
    OutputLine,
    ReferenceChecked,
    RunFinished,
    RunStarted,
    Snapshot,
    TaskSelected,
)
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.runlog.writer import BATCH_DELAY_S, RunLog
from ai_code_evals.session import RecordingSubscriber


def snap(seq: int, cid: str = "t#0") -> Snapshot:
    return Snapshot(candidate_id=cid, task_id="t", profile="default", state="running", seq=seq,
                    output_tail=["é", "x"], sandbox={"isolation": "bwrap", "info": {"id": 1}})


def finished(cid: str = "t#0", status: str = "passed") -> CandidateFinished:
    return CandidateFinished(candidate_id=cid, task_id="t", profile="default",
                             result={"status": status, "failures": [{"name": "t1"}]})


def on_disk(path: Path) -> list[str]:
    return [e["type"] for e in read_record(path).events]


def test_snapshots_wait_for_the_batch_and_a_result_takes_them_along(tmp_path):
    path = tmp_path / "run.jsonl"

    async def main():
        log = RunLog(path, "r")
        log.on_event(snap(0))
        log.on_event(OutputLine(candidate_id="t#0", profile="default", stream="stdout", text="hi", n=0))
        assert on_disk(path) == [], "snapshots and output wait for the batch"
        log.on_event(finished())
        assert on_disk(path) == ["snapshot", "stdout", "result", "match"]
        log.on_event(snap(1))
        assert on_disk(path) == ["snapshot", "stdout", "result", "match"]
        await asyncio.sleep(BATCH_DELAY_S * 4)  # the batch's timer runs first
        assert on_disk(path)[-1] == "snapshot"
        log.close()

    asyncio.run(main())
    ids = [e["event_id"] for e in read_record(path).events]
    assert ids == list(range(len(ids)))


@pytest.mark.parametrize("event", [
    TaskSelected(task_id="t", winner="t#0", reason="user pick", strategy="user", by="user"),
    ReferenceChecked(task_id="t", ok=True),
    RunFinished(summary={"tasks": []}),
], ids=lambda e: e.kind)
def test_selections_reference_checks_and_the_end_are_on_disk_at_once(tmp_path, event):
    path = tmp_path / "run.jsonl"

    async def main():
        log = RunLog(path, "r")
        log.on_event(snap(0))
        log.on_event(event)
        assert on_disk(path) == ["snapshot", event.kind]
        log.close()

    asyncio.run(main())


def test_candidates_and_notices_reach_the_disk_at_the_end_of_the_tick(tmp_path):
    path = tmp_path / "run.jsonl"

    async def main():
        log = RunLog(path, "r")
        log.on_event(snap(0))
        for k in range(3):  # a burst, as a samples file announces them: one flush for all
            log.on_event(CandidateAdded(candidate_id=f"t#{k}", task_id="t", code="def f(): pass"))
        log.on_event(EngineNotice("careful"))
        assert on_disk(path) == []
        await asyncio.sleep(0)
        assert on_disk(path) == ["snapshot"] + ["candidate", "sampling"] * 3 + ["notice"]
        log.close()

    asyncio.run(main())


def test_close_writes_what_the_batch_holds_before_the_final_report(tmp_path):
    path = tmp_path / "run.jsonl"

    async def main():
        log = RunLog(path, "r")
        log.on_event(snap(0))
        log.on_event(snap(1))
        log.close({"tasks": []})

    asyncio.run(main())
    record = read_record(path)
    assert [e["data"]["seq"] for e in record.events] == [0, 1] and record.final_report == {"tasks": []}


def test_a_batch_that_cannot_be_written_fails_the_next_event(tmp_path):
    """/dev/full: the batch's flush fails in a timer callback; the next event raises the one
    readable error, so the recording subscriber stops the run as for any full disk."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full")

    async def main():
        log = RunLog(full, "r", append=True)
        recorder = RecordingSubscriber(log)
        stopped = []
        recorder.on_failure = stopped.append
        recorder(snap(0))
        assert recorder.failure is None
        await asyncio.sleep(BATCH_DELAY_S * 4)
        recorder(snap(1))
        assert recorder.failure is not None and "No space left on device" in str(recorder.failure)
        assert stopped == [recorder.failure]
        log.close()

    asyncio.run(main())


def test_a_result_written_at_once_raises_at_once_on_a_full_disk():
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full")

    async def main():
        log = RunLog(full, "r", append=True)
        log.on_event(snap(0))
        with pytest.raises(InputError, match="No space left on device"):
            log.on_event(finished())

    asyncio.run(main())


CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from ai_code_evals.core.events import CandidateFinished, OutputLine, Snapshot
    from ai_code_evals.runlog.writer import RunLog

    async def main():
        log = RunLog(sys.argv[1], "r")
        for k in range(int(sys.argv[2])):
            cid = f"t#{k}"
            for seq in range(5):
                log.on_event(Snapshot(candidate_id=cid, task_id="t", profile="default", state="running", seq=seq))
                log.on_event(OutputLine(candidate_id=cid, profile="default", stream="stdout", text="x", n=seq))
            await asyncio.sleep(0)
            log.on_event(CandidateFinished(candidate_id=cid, task_id="t", profile="default",
                                           result={"status": "passed"}))
            print(cid, flush=True)  # reported to the user
        log.on_event(Snapshot(candidate_id="t#next", task_id="t", profile="default", state="queued", seq=0))
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


def test_kill_9_right_after_results_loses_no_reported_result(tmp_path):
    """A real SIGKILL of a process writing through the batching log: every result it reported
    is in the log, the batch that was still in memory is simply absent, the log reads."""
    path = tmp_path / "run.jsonl"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), "20"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    reported = proc.stdout.split()
    assert len(reported) == 20
    record = read_record(path)
    assert [e["sample_id"] for e in record.of_type("result")] == reported
    assert "t#next" not in {e["sample_id"] for e in record.events}, "the last batch was never flushed"
    ids = [e["event_id"] for e in record.events]
    assert ids == list(range(len(ids)))
    assert record.final_report is None


EVENTS = [
    RunStarted(run_id="r", record="x", tasks=[{"task_id": "t", "reference": True}], profiles=["default"],
               backend="local", isolation="bwrap", select="score"),
    CandidateAdded(candidate_id="t#0", task_id="t", code="é", usage={"model": "m", "tokens": {"in": 1}}),
    snap(3),
    OutputLine(candidate_id="t#0", profile="default", stream="stderr", text="boom", n=2),
    finished(status="failed"),
    TaskSelected(task_id="t", winner=None, reason="none", strategy="score", scores={"t#0": 1.5}),
    ReferenceChecked(task_id="t", ok=False, error="bad", result={"failures": [{"a": [1, 2]}]}),
    EngineNotice("n", candidate_id="t#0"),
    RunFinished(summary={"tasks": [{"candidates": []}]}, interrupted=True),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_to_data_is_what_asdict_gave(event):
    assert event.to_data() == asdict(event)
    assert list(event.to_data()) == list(asdict(event))


def test_a_line_is_byte_for_byte_what_json_dumps_wrote(tmp_path):
    path = tmp_path / "run.jsonl"
    log = RunLog(path, "r")
    data = {"path": Path("/tmp/é"), "text": "ü\u2028\x00", "n": 1.5, "none": None, "nested": {"a": [1, (2, 3)]}}
    log.record("snapshot", "t#0", data)
    log.close()
    line = path.read_text(encoding="utf-8").split("\n")[1]  # not splitlines: U+2028 is inside a line
    obj = json.loads(line)
    assert line == json.dumps(obj | {"data": data}, default=str, ensure_ascii=False)


def test_bus_unsubscribe_during_publish_and_a_failing_subscriber(capsys):
    bus = EventBus()
    seen: list[str] = []
    unsubscribe = None

    def first(event):
        seen.append("first")
        unsubscribe()

    def broken(event):
        raise RuntimeError("ui bug")

    unsubscribe = bus.subscribe(first)
    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append("last"))
    bus.publish(snap(0))
    bus.publish(snap(1))
    assert seen == ["first", "last", "last"]
    assert capsys.readouterr().err.count("event subscriber failed") == 1
    unsubscribe()  # twice: harmless


def test_run_log_ends_complete_after_a_real_run(tmp_path):
    """The engine, the real local backend, the recording subscriber: every candidate's result
    and every snapshot are in the log once the run is over, in event-id order."""
    from ai_code_evals.session import Run, RunRequest

    task = tmp_path / "task.yaml"
    task.write_text("id: add\nprompt: Add.\nentry_point: add\ntests:\n  - {args: [1, 2], expect: 3}\n")
    samples = tmp_path / "samples.jsonl"
    codes = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    print('hm')\n    return a - b\n"]
    samples.write_text("".join(json.dumps({"task_id": "add", "code": c}) + "\n" for c in codes))
    req = RunRequest(tasks=[str(task)], samples=str(samples), jobs=2, record=str(tmp_path / "run.jsonl"))
    run = Run.start(req, os.environ)
    summary = asyncio.run(run.execute())
    run.close()
    record = read_record(tmp_path / "run.jsonl")
    assert record.final_report == summary
    assert [e["event_id"] for e in record.events] == list(range(len(record.events)))
    results = {e["sample_id"]: e["data"]["result"]["status"] for e in record.of_type("result")}
    assert results == {"add#0": "passed", "add#1": "failed"}
    finals = [e for e in record.of_type("snapshot") if e["data"]["state"] == "finished"]
    assert {e["sample_id"] for e in finals} == {"add#0", "add#1"}
    assert any(e["data"]["text"] == "hm" for e in record.of_type("stdout"))


def test_a_batch_left_by_a_loop_that_ended_goes_out_with_the_next_loops_batch(tmp_path):
    path = tmp_path / "run.jsonl"
    log = RunLog(path, "r")

    async def first():
        log.on_event(snap(0))  # its timer never fires: the loop ends first

    async def second():
        log.on_event(snap(1))
        await asyncio.sleep(BATCH_DELAY_S * 4)

    asyncio.run(first())
    assert on_disk(path) == []
    asyncio.run(second())
    assert [e["data"]["seq"] for e in read_record(path).events] == [0, 1]
    log.close()
