"""Bad input that used to exit 0 silently, print nine lines of usage or a traceback: now one line
naming the problem, exit status 1 (real CLI subprocesses)."""
import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
GOOD = "def add(a, b):\n    return a + b\n"


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ai_code_evals", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


def one_line_error(proc, *words):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ai-code-evals: error: ")
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_empty_samples_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    proc = cli("run", "demo", "--samples", "empty.jsonl", "--headless", cwd=tmp_path)
    one_line_error(proc, "empty.jsonl", "no versions")
    assert not (tmp_path / "runs").exists()  # nothing started


def test_no_versions_for_any_task(tmp_path):
    proc = cli("run", str(DATA / "add_task.yaml"), "--headless", cwd=tmp_path)
    one_line_error(proc, "no versions for any task", "--samples")


def test_unknown_selector_is_one_line(tmp_path):
    proc = cli("run", "demo", "--select", "nosuch", "--headless", cwd=tmp_path)
    one_line_error(proc, "--select", "'nosuch'", "score")


def test_unwritable_export_out(tmp_path):
    (tmp_path / "s.jsonl").write_text(json.dumps({"task_id": "add", "code": GOOD}) + "\n")
    record = tmp_path / "run.jsonl"
    ran = cli("run", str(DATA / "add_task.yaml"), "--samples", "s.jsonl", "--headless", "--record", str(record),
              cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    (tmp_path / "a_file").write_text("not a directory")
    proc = cli("export", str(record), "--out", "a_file/best.py", cwd=tmp_path)
    one_line_error(proc, "a_file/best.py", "cannot write")
    ok = cli("export", str(record), "--out", "best.py", cwd=tmp_path)
    assert ok.returncode == 0 and (tmp_path / "best.py").read_text() == GOOD
