"""What a terminal shows while a run's inputs are read, before the progress bar exists.

A samples file of 100,000 rows takes seconds to read and fingerprint; until then the screen
was blank. The real CLI runs here with its stderr on a pseudo-terminal, then on a pipe.
"""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

SPINNER = b"reading tasks and samples"


def write_inputs(tmp_path):
    task = tmp_path / "task.jsonl"
    task.write_text(json.dumps({"task_id": "T/0", "prompt": "def f(xs):\n", "entry_point": "f",
                                "canonical_solution": "    return sum(xs)\n",
                                "test": "def check(candidate):\n    assert candidate([1, 2]) == 3\n"}) + "\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": "T/0", "completion": f"    return sum(xs) + {k} * 0\n"}) + "\n"
                               for k in range(300)))
    return [sys.executable, "-m", "ai_code_evals", "run", str(task), "--samples", str(samples), "--headless",
            "--record", str(tmp_path / "run.jsonl")]


def test_a_terminal_sees_what_the_run_is_doing_before_its_progress_bar(tmp_path):
    command = write_inputs(tmp_path)
    main, tty = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=tty, stdin=subprocess.DEVNULL, env=env)
    os.close(tty)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end closed: the process is gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0
    assert SPINNER in seen
    assert b"evaluating" in seen or b"run " in seen  # then the progress bar took over


def test_a_pipe_gets_no_spinner(tmp_path):
    proc = subprocess.run(write_inputs(tmp_path), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert SPINNER not in proc.stderr
    assert b"evaluated 300 candidate runs" in proc.stderr
