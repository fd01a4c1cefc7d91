"""`ai-code-evals resume` finishes an interrupted run from its log, whatever byte it was cut at.

One real run (a CLI subprocess on the local backend) gives a complete log; prefixes of it are
exactly what kill -9 or a power cut at that byte would leave (every line is flushed as it
happens). Each prefix is resumed and must end as the uninterrupted run did: the same verdicts,
exactly one result per (candidate, profile), and finished candidates never run again.
"""
import json
import random
import shutil

import pytest
from reliability_util import (
    ADD_TASK,
    EXITS,
    GOOD,
    NAPS,
    RAISES,
    SYNTAX,
    WRONG,
    check_complete_log,
    cli,
    result_pairs,
    verdicts,
    write_samples,
)

from ai_code_evals.cli import main
from ai_code_evals.runlog.reader import read_record

CODES = [GOOD, WRONG, EXITS, SYNTAX, RAISES, NAPS]
PROFILES = ("default", "hash-seed")
PAIRS = {(f"add#{k}", p) for k in range(len(CODES)) for p in PROFILES}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    samples = write_samples(tmp / "samples.jsonl", CODES)
    record = tmp / "full.jsonl"
    proc = cli("run", str(ADD_TASK), "--samples", str(samples), "--headless", "--json", "--jobs", "2",
               "--env", "default", "--env", "hash-seed", "--record", str(record), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), record.read_bytes(), tmp


def line_bounds(raw: bytes) -> list[int]:
    """Offsets just past each newline."""
    return [i + 1 for i, b in enumerate(raw) if b == 0x0A]


def resume_here(path, capsys):
    """The real CLI entry point, in this process (the sandboxes are real subprocesses)."""
    code = main(["resume", str(path), "--headless", "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def rerun_pairs(record) -> set[tuple[str, str]]:
    """(candidate, profile) pairs that got a sandbox after the last 'resumed' marker."""
    start = max(i for i, e in enumerate(record.events) if e["type"] == "resumed")
    return {(e["data"]["candidate_id"], e["data"]["profile"]) for e in record.events[start:]
            if e["type"] == "snapshot" and e["data"]["state"] == "starting"}


def cut_points(raw: bytes) -> list[tuple[str, int]]:
    bounds = line_bounds(raw)
    rng = random.Random(20240607)
    results = [i for i, b in enumerate(bounds[:-1]) if b'"type": "result"' in raw[bounds[i]:bounds[i + 1]]]
    points = [("spec line only", bounds[0]), ("inside a task line", bounds[0] + 40)]
    for frac in (0.25, 0.5, 0.75):
        i = int(len(bounds) * frac)
        points.append((f"line boundary at {frac:.0%}", bounds[i]))
        points.append((f"mid-line at {frac:.0%}", rng.randrange(bounds[i] + 1, bounds[i + 1] - 1)))
    points.append(("mid result line", bounds[results[0]] + 25))
    points.append(("after the last result", bounds[results[-1] + 1]))
    points.append(("inside the final report", len(raw) - 30))
    return points


def test_every_cut_resumes_to_the_same_verdicts(full_run, capsys, tmp_path):
    summary, raw, _ = full_run
    assert verdicts(summary)["add"]["winner"] == "add#0"
    for label, cut in cut_points(raw):
        path = tmp_path / f"cut-{cut}.jsonl"
        path.write_bytes(raw[:cut])
        before = read_record(path)
        done_before = set(result_pairs(before))
        code, out, err = resume_here(path, capsys)
        assert code == 0, (label, err)
        half_line = cut not in line_bounds(raw)
        assert ("ignored a half-written last line" in err) == half_line, (label, err)
        assert verdicts(json.loads(out)) == verdicts(summary), label
        rec = check_complete_log(path, PAIRS)
        assert rerun_pairs(rec) == PAIRS - done_before, f"{label}: finished work ran again or was skipped"
        assert rec.final_report["tasks"][0]["winner"] == "add#0"


def test_a_cut_inside_the_first_line_is_one_clear_error(full_run, capsys, tmp_path):
    _, raw, _ = full_run
    for cut in (0, 1, 57):
        path = tmp_path / f"early-{cut}.jsonl"
        path.write_bytes(raw[:cut])
        code, _, err = resume_here(path, capsys)
        assert code == 1
        assert str(path) in err and ("empty run log" in err or "cut before anything was recorded" in err)
        assert "Traceback" not in err


def test_every_byte_of_a_log_reads_back_as_a_prefix(full_run):
    """The reader's half of the contract, at every byte of a line, every 7th of the final report
    and every 401st elsewhere."""
    _, raw, tmp = full_run
    full = read_record_bytes(raw, tmp / "whole.jsonl")
    bounds = line_bounds(raw)
    mid = len(bounds) // 2
    dense = set(range(bounds[mid], bounds[mid + 1] + 1)) | set(range(bounds[-2], len(raw) + 1, 7))
    for cut in sorted(dense | set(range(bounds[0], len(raw), 401))):
        rec = read_record_bytes(raw[:cut], tmp / "prefix.jsonl")
        n = len(rec.events)
        assert rec.events == full.events[:n]
        # a half line is left unless the cut falls on a line end (just before or after its newline)
        complete = cut in bounds or raw[cut:cut + 1] == b"\n"
        assert rec.truncated_tail == (not complete)
        assert rec.valid_bytes <= cut


def read_record_bytes(data: bytes, path):
    path.write_bytes(data)
    return read_record(path)


def test_resuming_twice_and_from_another_directory(full_run, tmp_path, capsys):
    """A resume that is itself cut short resumes again; paths in the log are absolute."""
    summary, raw, _ = full_run
    bounds = line_bounds(raw)
    path = tmp_path / "twice.jsonl"
    path.write_bytes(raw[:bounds[len(bounds) // 3] + 7])
    assert resume_here(path, capsys)[0] == 0
    once = path.read_bytes()
    marker = once.index(b'"type": "resumed"')
    path.write_bytes(once[:marker + len(b'"type": "resumed"') + 300])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = cli("resume", str(path), "--headless", "--json", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert verdicts(json.loads(proc.stdout)) == verdicts(summary)
    check_complete_log(path, PAIRS)


def test_a_finished_log_has_nothing_to_resume(full_run, tmp_path, capsys):
    summary, raw, _ = full_run
    path = tmp_path / "done.jsonl"
    path.write_bytes(raw)
    code, out, err = resume_here(path, capsys)
    assert code == 0 and "nothing to resume" in err
    assert verdicts(json.loads(out)) == verdicts(summary)
    assert path.read_bytes() == raw, "a finished log is never touched"


def test_a_resumed_log_replays(full_run, tmp_path, capsys):
    """What `replay` reads: the record and the TUI's model of it (every pane ends with a result)."""
    from ai_code_evals.tui.model import RunModel

    _, raw, _ = full_run
    path = tmp_path / "replay.jsonl"
    path.write_bytes(raw[:line_bounds(raw)[len(line_bounds(raw)) // 2] + 11])
    assert resume_here(path, capsys)[0] == 0
    model = RunModel()
    model.ingest_record(read_record(path))
    assert model.finished and model.summary is not None
    assert {key for key, pane in model.panes.items() if pane.result is not None} == PAIRS


def test_resume_of_a_demo_pack_run(tmp_path, capsys):
    """The default pack through the offline generator: candidates that were never announced
    before the cut come back from the pack."""
    record = tmp_path / "demo.jsonl"
    proc = cli("run", "demo", "-n", "1", "--headless", "--json", "--jobs", "2", "--record", str(record),
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    raw = record.read_bytes()
    pairs = {(c["id"], "default") for t in summary["tasks"] for c in t["candidates"]}
    assert len(pairs) >= 5
    first_candidate = raw.index(b'"type": "candidate"')
    for cut in (raw.index(b"\n", first_candidate) + 1,):  # the other candidates were never announced
        path = tmp_path / f"demo-{cut}.jsonl"
        path.write_bytes(raw[:cut])
        code, out, err = resume_here(path, capsys)
        assert code == 0, err
        assert verdicts(json.loads(out), winners=False) == verdicts(summary, winners=False)
        check_complete_log(path, pairs)


def test_resume_needs_the_samples_it_was_run_with(full_run, tmp_path, capsys):
    """If the inputs are gone and the log cannot say which candidates are missing: one line."""
    _, raw, tmp = full_run
    samples = tmp_path / "samples.jsonl"
    shutil.copy(tmp / "samples.jsonl", samples)
    record = tmp_path / "gone.jsonl"
    text = raw[:line_bounds(raw)[5]].decode().replace(str(tmp / "samples.jsonl"), str(samples))
    record.write_text(text)
    samples.unlink()
    code, _, err = resume_here(record, capsys)
    assert code == 1 and str(samples) in err and "Traceback" not in err


def test_generated_tests_come_back_when_the_cut_lost_them(tmp_path, capsys):
    """Cut right after the task line, before its generated tests were logged: the resumed run
    reloads them from the file the run was given and logs them, so selection sees them."""
    samples = write_samples(tmp_path / "s.jsonl", [GOOD, WRONG])
    generated = tmp_path / "g.jsonl"
    generated.write_text(json.dumps({"task_id": "add", "tests": ["assert add(2, 2) == 4", "assert add(1, 1) == 3"]})
                         + "\n")
    record = tmp_path / "g-run.jsonl"
    proc = cli("run", str(ADD_TASK), "--samples", str(samples), "--generated-tests", str(generated), "--headless",
               "--json", "--record", str(record), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    raw = record.read_bytes()
    task_line_end = raw.index(b"\n", raw.index(b'"type": "task"')) + 1
    record.write_bytes(raw[:task_line_end])
    code, out, err = resume_here(record, capsys)
    assert code == 0, err
    assert verdicts(json.loads(out)) == verdicts(json.loads(proc.stdout))
    rec = check_complete_log(record, {("add#0", "default"), ("add#1", "default")})
    assert [e["data"]["tests"] for e in rec.of_type("generated_tests")] == [
        ["assert add(2, 2) == 4", "assert add(1, 1) == 3"]]
    results = {e["data"]["candidate_id"]: e["data"]["result"] for e in rec.of_type("result")}
    assert results["add#0"]["generated_total"] == 2 and results["add#0"]["generated_passed"] == [0]
