"""The command line as a user runs it: real subprocesses, exit codes, one-line errors, durability."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None, timeout=180, env=None):
    return subprocess.run([sys.executable, "-m", "ai_code_evals", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})


def samples(tmp_path, rows):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = "def add(a, b):\n    return a + b\n"


def test_headless_json_summary_and_log(tmp_path):
    s = samples(tmp_path, [{"task_id": "add", "code": GOOD}, {"task_id": "add", "code": "def add(a, b):\n    return 0\n"}])
    record = tmp_path / "run.jsonl"
    proc = cli("run", str(DATA / "add_task.yaml"), "--samples", str(s), "--headless", "--json", "--record", str(record))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["tasks"][0]["winner"] == "add#0"
    assert summary["record"] == str(record)
    lines = record.read_text().splitlines()
    assert "spec" in json.loads(lines[0]) and "final_report" in json.loads(lines[-1])


def test_table_output_without_json(tmp_path):
    s = samples(tmp_path, [{"task_id": "add", "code": GOOD}])
    proc = cli("run", str(DATA / "add_task.yaml"), "--samples", str(s), "--headless",
               "--record", str(tmp_path / "r.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert "winner" in proc.stdout and "add#0" in proc.stdout


@pytest.mark.parametrize("args,needle", [
    (["run", "missing.yaml", "--headless"], "missing.yaml"),
    (["run", "demo", "--select", "magic", "--headless"], "invalid choice: 'magic'"),
    (["run", "demo", "--env", "moon", "--headless"], "unknown environment profile 'moon'"),
    (["run", "demo", "--jobs", "0", "--headless"], "--jobs must be at least 1"),
    (["replay", "nothing.jsonl"], "no such run log"),
])
def test_bad_input_is_one_line_and_exit_1(tmp_path, args, needle):
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 1
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_malformed_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nentry_point: f\ntests:\n  - {args: [1, expect: 2}\n")
    proc = cli("run", str(bad), "--headless", cwd=tmp_path)
    assert proc.returncode == 1 and "bad.yaml:" in proc.stderr and "Traceback" not in proc.stderr


def test_malformed_samples_line_and_unknown_task(tmp_path):
    s = tmp_path / "s.jsonl"
    s.write_text(json.dumps({"task_id": "add", "code": GOOD}) + "\n{not json\n")
    proc = cli("run", str(DATA / "add_task.yaml"), "--samples", str(s), "--headless", cwd=tmp_path)
    assert proc.returncode == 1 and "s.jsonl:2" in proc.stderr
    s.write_text(json.dumps({"task_id": "nope", "code": GOOD}) + "\n")
    proc = cli("run", str(DATA / "add_task.yaml"), "--samples", str(s), "--headless", cwd=tmp_path)
    assert proc.returncode == 1 and "s.jsonl:1" in proc.stderr and "nope" in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    proc = cli("--debug", "run", "missing.yaml", "--headless", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_explains_every_command():
    proc = cli("--help")
    assert proc.returncode == 0
    for word in ("run", "replay", "resume", "export", "examples:"):
        assert word in proc.stdout
    run_help = cli("run", "--help").stdout
    for opt in ("--samples", "--generated-tests", "--generator", "--backend", "--jobs", "--env", "--select",
                "--record", "--headless", "--json"):
        assert opt in run_help


def test_entry_points_all_work(tmp_path):
    for cmd in ([sys.executable, str(ROOT / "src" / "main.py"), "--version"],
                [sys.executable, "-m", "ai_code_evals", "--version"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "ai-code-evals" in proc.stdout


def test_kill_9_leaves_a_log_readable_to_its_last_complete_line(tmp_path):
    from ai_code_evals.runlog.reader import read_record

    slow = "import time\ndef add(a, b):\n    time.sleep(0.4)\n    return a + b + {k} - {k}\n"
    s = samples(tmp_path, [{"task_id": "add", "code": slow.format(k=k)} for k in range(6)])
    record = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ai_code_evals", "run", str(DATA / "add_task.yaml"),
                             "--samples", str(s), "--headless", "--jobs", "1", "--record", str(record)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if record.exists() and b'"type": "result"' in record.read_bytes():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rec = read_record(record)
    assert rec.final_report is None
    assert rec.of_type("result"), "finished results must be on disk"
    ids = [e["event_id"] for e in rec.events]
    assert ids == sorted(ids)
