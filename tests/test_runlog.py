"""The run log: evals record format, flushed per event, readable when cut at any byte."""
import json

import pytest

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import CandidateAdded, CandidateFinished, OutputLine, RunFinished, Snapshot
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.runlog.writer import MAX_LOGGED_LINES, RunLog


def write_small_log(path, finish=True):
    log = RunLog(path, "run-1", {"run_config": {"x": 1}})
    log.on_event(CandidateAdded(candidate_id="t#0", task_id="t", code="def f(): pass", label="ok"))
    log.on_event(Snapshot(candidate_id="t#0", task_id="t", profile="default", state="running", seq=0))
    log.on_event(CandidateFinished(candidate_id="t#0", task_id="t", profile="default",
                                   result={"status": "passed"}))
    if finish:
        log.on_event(RunFinished(summary={"run_id": "run-1", "tasks": []}))
    log.close()
    return log


def test_format_spec_events_final_report(tmp_path):
    path = tmp_path / "run.jsonl"
    write_small_log(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert "spec" in lines[0] and lines[0]["spec"]["run_id"] == "run-1"
    assert "final_report" in lines[-1] and lines[-1]["run_id"] == "run-1"
    events = lines[1:-1]
    assert [e["event_id"] for e in events] == list(range(len(events)))
    for e in events:
        assert set(e) == {"run_id", "event_id", "sample_id", "type", "data", "created_by", "created_at"}
    types = [e["type"] for e in events]
    assert {"candidate", "sampling", "snapshot", "result", "match"} <= set(types)


def test_each_event_is_on_disk_before_the_next_is_written(tmp_path):
    path = tmp_path / "run.jsonl"
    log = RunLog(path, "run-1")
    log.on_event(CandidateAdded(candidate_id="t#0", task_id="t", code="x"))
    # no close(): what a kill -9 would leave
    record = read_record(path)
    assert record.final_report is None and len(record.events) == 2


def test_cut_at_any_byte_is_readable_up_to_the_last_complete_line(tmp_path):
    full = tmp_path / "full.jsonl"
    write_small_log(full)
    data = full.read_bytes()
    first_newline = data.index(b"\n") + 1
    for cut in range(first_newline, len(data) + 1):
        part = tmp_path / "cut.jsonl"
        part.write_bytes(data[:cut])
        record = read_record(part)
        lines = data[:cut].split(b"\n")
        tail = lines[-1]
        tail_is_whole = bool(tail) and _parses(tail)
        expected = len(lines) - 1 + tail_is_whole
        assert 1 + len(record.events) + (record.final_report is not None) == expected
        assert record.truncated_tail == (bool(tail) and not tail_is_whole)
        assert record.valid_bytes == (cut if tail_is_whole else data[:cut].rfind(b"\n") + 1)


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
        return True
    except ValueError:
        return False


def test_output_is_capped_per_candidate(tmp_path):
    path = tmp_path / "run.jsonl"
    log = RunLog(path, "r")
    for n in range(MAX_LOGGED_LINES + 50):
        log.on_event(OutputLine(candidate_id="t#0", profile="default", stream="stdout", text="x", n=n))
    log.close()
    assert len(read_record(path).of_type("stdout")) == MAX_LOGGED_LINES


def test_bad_logs_are_named_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "a spec"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1: a run log must start"):
        read_record(bad)
    bad.write_text('{"spec": {}}\nnot json\n{"type": "x"}\n')
    with pytest.raises(InputError, match="bad.jsonl:2"):
        read_record(bad)
    with pytest.raises(InputError, match="no such run log"):
        read_record(tmp_path / "missing.jsonl")


def test_existing_record_is_not_overwritten(tmp_path):
    path = tmp_path / "run.jsonl"
    write_small_log(path)
    with pytest.raises(InputError, match="already exists"):
        RunLog(path, "other")


def test_unwritable_record_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write the run log"):
        RunLog(blocker / "run.jsonl", "r")
