"""Bad input everywhere, through the CLI: one clear line naming the file (and line), exit 1, no
traceback unless --debug. Plus tasks whose own tests are broken (a task error, found by running
the task's reference), an unwritable record path, and a disk that fills up mid-run.

Parse errors never start a sandbox, so most cases call the CLI's ``main`` in this process; the
cases that run sandboxes or need a separate process go through a real subprocess.
"""
import gzip
import json
import os
import subprocess

import pytest
from reliability_util import ADD_TASK, GOOD, WRONG, cli, result_pairs, write_samples

from ai_code_evals.cli import main
from ai_code_evals.runlog.reader import read_record


def he_row(**over):
    row = {"task_id": "H/0", "prompt": "def f(x):\n", "entry_point": "f", "canonical_solution": "    return x\n",
           "test": "def check(c):\n    assert c(1) == 1\n"}
    return json.dumps({**row, **over})


# name -> (file name, content as bytes, expected words in the error, line number or None)
TASK_FILES = {
    "malformed yaml": ("t.yaml", b"id: t\nentry_point: f\ntests:\n  - {args: [1, expect: 2}\n", "invalid YAML", 4),
    "truncated yaml": ("t.yaml", b"id: t\nentry_point: f\ntests:\n  - {args: [1], exp", "invalid YAML", None),
    "tests is a number": ("t.yaml", b"id: t\nentry_point: f\ntests: 5\n", "tests", 3),
    "args is a string": ("t.yaml", b"id: t\nentry_point: f\ntests:\n  - {args: 7, expect: 1}\n", "args", 4),
    "time limit is text": ("t.yaml", b"id: t\nentry_point: f\ntime_limit_s: fast\n", "time_limit_s", 3),
    "entry point is a number": ("t.yaml", b"id: t\nentry_point: 3\n", "entry_point", 2),
    "unknown field": ("t.yaml", b"id: t\nentry_point: f\nteste: []\n", "teste", 3),
    "duplicate key": ("t.yaml", b"id: t\nentry_point: f\nid: u\n", "duplicate key", 3),
    "a list of numbers": ("t.yaml", b"- 1\n- 2\n", "expected a task", 1),
    "non-utf8 yaml": ("t.yaml", b"id: t\nentry_point: f\nprompt: caf\xe9\n", "not valid UTF-8", 3),
    "binary file": ("t.yaml", bytes(range(256)) * 4, "UTF-8", None),
    "empty file": ("t.yaml", b"", "no tasks", None),
    "alias bomb": ("t.yaml", b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(7)),
        "expand to more than", None),
    "syntax error in a test": ("t.yaml", b"id: t\nentry_point: f\ntests:\n  - code: 'assert f(1) =='\n",
                               "syntax error", 4),
    "malformed jsonl": ("t.jsonl", (he_row() + "\n" + he_row(task_id="H/1") + "\n{oops\n").encode(),
                        "invalid JSON", 3),
    "truncated jsonl": ("t.jsonl", (he_row() + "\n" + he_row(task_id="H/1")[:40]).encode(), "cut short", 2),
    "wrong type in a row": ("t.jsonl", (he_row() + "\n" + he_row(task_id="H/1", prompt=5) + "\n").encode(),
                            "'prompt' must be a string", 2),
    "row is a list": ("t.jsonl", b"[1, 2]\n", "expected a JSON object", 1),
    "not a task row": ("t.jsonl", b'{"hello": 1}\n', "not a task", 1),
    "deeply nested json": ("t.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n", "JSON", 1),
    "non-utf8 jsonl": ("t.jsonl", he_row().encode() + b"\n" + b'{"task_id": "\xff"}\n', "not valid UTF-8", 2),
    "gzip that is not gzip": ("t.jsonl.gz", (he_row() + "\n").encode(), "not a gzip file", None),
    "truncated gzip": ("t.jsonl.gz", gzip.compress((he_row() + "\n").encode() * 50)[:60], "gzip", None),
    "unknown suffix": ("t.txt", b"id: t\n", "unknown task file type", None),
}


def run_main(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", list(TASK_FILES))
def test_bad_task_file(case, tmp_path, capsys):
    name, content, words, line = TASK_FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run_main(capsys, "run", str(path), "--headless", "--record", str(tmp_path / "r.jsonl"))
    assert code == 1, (case, err)
    assert out == ""
    assert words in err, (case, err)
    assert f"{path}:{line}:" in err if line else str(path) in err, (case, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "r.jsonl").exists(), "no log for a run that never started"


def test_enormous_files_are_refused_without_reading_them(tmp_path, capsys):
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:  # sparse: 65 MiB on paper, nothing on disk
        fh.truncate(65 * 1024 * 1024)
    code, _, err = run_main(capsys, "run", str(huge), "--headless")
    assert code == 1 and f"{huge}:" in err and "larger than" in err
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(b" " * (70 * 1024 * 1024), compresslevel=1))
    code, _, err = run_main(capsys, "run", str(bomb), "--headless")
    assert code == 1 and f"{bomb}:" in err and "decompressed content is larger than" in err


SAMPLES = {
    "unknown task": (json.dumps({"task_id": "add", "code": GOOD}) + "\n" + json.dumps({"task_id": "nope", "code": GOOD}),
                     "unknown task id 'nope'", 2),
    "code is a number": (json.dumps({"task_id": "add", "code": 5}), "'code' must be a string", 1),
    "no code": (json.dumps({"task_id": "add"}), "neither 'completion' nor 'code'", 1),
    "not json": ("{task_id: add}", "invalid JSON", 1),
    "no task id": (json.dumps({"code": GOOD}), "no 'task_id'", 1),
}


@pytest.mark.parametrize("case", list(SAMPLES))
def test_bad_samples_file(case, tmp_path, capsys):
    text, words, line = SAMPLES[case]
    path = tmp_path / "s.jsonl"
    path.write_text(text + "\n")
    code, _, err = run_main(capsys, "run", str(ADD_TASK), "--samples", str(path), "--headless")
    assert code == 1 and words in err and f"{path}:{line}:" in err, err
    assert "Traceback" not in err


def test_non_utf8_samples_and_generated_tests(tmp_path, capsys):
    s = tmp_path / "s.jsonl"
    s.write_bytes(json.dumps({"task_id": "add", "code": GOOD}).encode() + b"\n\x80\x81\n")
    code, _, err = run_main(capsys, "run", str(ADD_TASK), "--samples", str(s), "--headless")
    assert code == 1 and f"{s}:2:" in err and "UTF-8" in err
    g = tmp_path / "g.jsonl"
    g.write_text(json.dumps({"task_id": "add", "tests": "assert add(1, 1) == 2"}) + "\n")
    code, _, err = run_main(capsys, "run", str(ADD_TASK), "--generated-tests", str(g), "--headless")
    assert code == 1 and f"{g}:1:" in err and "must be a list" in err


@pytest.mark.parametrize("record,words", [
    ("{tmp}/file.txt/run.jsonl", "cannot write the run log"),       # parent is a file
    ("/proc/ace-test/run.jsonl", "cannot write the run log"),        # a read-only filesystem
    ("{tmp}/exists.jsonl", "already exists"),                        # never overwrite a record
])
def test_unwritable_record_path(tmp_path, capsys, record, words):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "exists.jsonl").write_text("keep me\n")
    samples = write_samples(tmp_path / "s.jsonl", [GOOD])
    path = record.format(tmp=tmp_path)
    code, out, err = run_main(capsys, "run", str(ADD_TASK), "--samples", str(samples), "--headless",
                              "--json", "--record", path)
    assert code == 1 and words in err and path in err and out == "", err
    assert (tmp_path / "exists.jsonl").read_text() == "keep me\n"


def test_resume_of_things_that_are_not_run_logs(tmp_path, capsys):
    code, _, err = run_main(capsys, "resume", str(ADD_TASK), "--headless")
    assert code == 1 and str(ADD_TASK) in err and "Traceback" not in err
    log = tmp_path / "damaged.jsonl"
    log.write_text('{"spec": {"run_id": "x", "run_config": {"request": {"tasks": []}}}}\n{not json\n'
                   '{"run_id": "x", "event_id": 1, "type": "notice", "data": {}}\n')
    code, _, err = run_main(capsys, "resume", str(log), "--headless")
    assert code == 1 and f"{log}:2:" in err
    other = tmp_path / "other.jsonl"
    other.write_text('{"spec": {"run_id": "x"}}\n')
    code, _, err = run_main(capsys, "resume", str(other), "--headless")
    assert code == 1 and "not written by `ai-code-evals run`" in err


def test_debug_shows_a_traceback(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("id: t\nentry_point: 3\n")
    plain = cli("run", str(bad), "--headless", cwd=tmp_path)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr and f"{bad}:2:" in plain.stderr
    debug = cli("--debug", "run", str(bad), "--headless", cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


BROKEN_TASKS = """\
- id: wrong_expectation
  entry_point: add
  reference: "def add(a, b):\\n    return a + b\\n"
  tests:
    - {args: [1, 2], expect: 3}
    - {name: two plus two, args: [2, 2], expect: 5}
- id: wrong_error_case
  entry_point: add
  reference: "def add(a, b):\\n    return a + b\\n"
  tests:
    - {args: [1, 2], expect: 3}
  error_cases:
    - {args: ["a", 1], raises: KeyError}
- id: sound
  entry_point: add
  reference: "def add(a, b):\\n    return a + b\\n"
  tests:
    - {args: [1, 2], expect: 3}
"""


def test_broken_task_tests_are_a_task_error_not_the_candidates(tmp_path):
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(BROKEN_TASKS)
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "code": c}) + "\n"
                               for t in ("wrong_expectation", "wrong_error_case", "sound") for c in (GOOD, WRONG)))
    humaneval = tmp_path / "he.jsonl"
    humaneval.write_text(he_row(test="def check(c):\n    assert c(1) == 2\n") + "\n")
    he_samples = tmp_path / "he_s.jsonl"
    he_samples.write_text(json.dumps({"task_id": "H/0", "completion": "    return x\n"}) + "\n")
    record = tmp_path / "r.jsonl"
    proc = cli("run", str(tasks), "--samples", str(samples), "--headless", "--json", "--record", str(record),
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    by_task = {t["task_id"]: t for t in json.loads(proc.stdout)["tasks"]}
    err = by_task["wrong_expectation"]["error"]
    assert "reference solution does not pass its own tests" in err and "two plus two" in err
    assert "error cases are probably wrong" in by_task["wrong_error_case"]["error"]
    assert by_task["sound"]["error"] is None
    assert "wrong_expectation: the task's reference" in proc.stderr  # the notice
    # the reference is hidden: no candidate row, no result line for it
    assert all(not c["id"].endswith("#reference") for t in by_task.values() for c in t["candidates"])
    rec = read_record(record)
    assert all("reference" not in cid for cid, _ in result_pairs(rec))
    assert {e["data"]["task_id"]: e["data"]["ok"] for e in rec.of_type("reference_check")} == {
        "wrong_expectation": False, "wrong_error_case": False, "sound": True}
    # HumanEval rows: the canonical solution is the reference; a broken check() is the task's fault
    proc = cli("run", str(humaneval), "--samples", str(he_samples), "--headless", "--json",
               "--record", str(tmp_path / "he.jsonl.log"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    task = json.loads(proc.stdout)["tasks"][0]
    assert "reference solution does not pass" in task["error"]


def mount_small_disk(path, size_kib: int) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)],
                          capture_output=True, check=False)
    return done.returncode == 0


def test_a_full_disk_stops_the_run_cleanly_and_resume_finishes_it(tmp_path):
    """Decided behaviour (session.RecordingSubscriber): when the log cannot be written the run
    stops at once (every sandbox destroyed), says so in one line with the resume command, and
    exits 1; the log stays readable to its last complete line and resumes once there is room."""
    disk = tmp_path / "disk"
    if not mount_small_disk(disk, 1024):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        samples = write_samples(tmp_path / "s.jsonl", [GOOD, WRONG] * 6)
        filler = disk / "filler"
        with open(filler, "wb") as fh:  # leave about 40 KiB: the log outgrows it mid-run
            fh.write(b"\0" * (1024 - 40) * 1024)
        record = disk / "run.jsonl"
        proc = cli("run", str(ADD_TASK), "--samples", str(samples), "--headless", "--json", "--jobs", "2",
                   "--record", str(record), cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and "No space left on device" in errors[0], proc.stderr
        assert f"ai-code-evals resume {record}" in errors[0] and "Traceback" not in proc.stderr
        assert proc.stdout == ""
        cut = read_record(record)
        assert cut.final_report is None and 0 < len(result_pairs(cut)) < 12
        os.unlink(filler)
        resumed = cli("resume", str(record), "--headless", "--json", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        statuses = [c["status"] for c in json.loads(resumed.stdout)["tasks"][0]["candidates"]]
        assert statuses == ["passed", "failed"] * 6
        assert set(result_pairs(read_record(record)).values()) == {1}
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
