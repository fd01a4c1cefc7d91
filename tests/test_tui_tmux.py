"""The real `ai-code-evals` in a real terminal (tmux, 160x48): what a person sees.

Waits for the demo to finish, reads the screen with capture-pane, finds the leaderboard and its
`winner` row, quits with `q`, and checks that the process exited 0 and left no sandbox process
behind (a sandbox's command line or working directory names ``ace-sbx-<cli pid>-``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

CLI = Path(sys.executable).with_name("ai-code-evals")


def tmux(*args: str) -> str:
    proc = subprocess.run(["tmux", *args], capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f"tmux {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def new_session(*args: str) -> None:
    """tmux new-session, tried again a few times: when the test before killed the server's last
    session, the server is still exiting and refuses the next client ("server exited
    unexpectedly"; seen in CI between the live run and its replay)."""
    for _ in range(10):
        proc = subprocess.run(["tmux", "new-session", *args], capture_output=True, text=True)
        if proc.returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"tmux new-session failed ({proc.returncode}): {proc.stderr.strip()}")


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def sandbox_processes(cli_pid: int) -> list[str]:
    """Processes that belong to a sandbox of this CLI process, wherever they were reparented."""
    marker = f"ace-sbx-{cli_pid}-"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd") if os.access(entry / "cwd", os.R_OK) else ""
        except OSError:
            continue
        if marker in cmdline or marker in cwd:
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def wait_for(predicate, timeout: float, what: str, session: str) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen(session)
        if predicate(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; screen was:\n{text}")


def start(tmp_path, args: list[str], tag: str) -> tuple[str, int, Path]:
    """Open the CLI in a detached 160x48 tmux session; returns (session, cli pid, exit file)."""
    session = f"ace-test-{os.getpid()}-{tag}"
    exit_file = tmp_path / "exit"
    command = " ".join([str(CLI), *args])
    # COLUMNS/LINES (set under pytest) would override the terminal's real size
    shell = f"unset COLUMNS LINES; cd {tmp_path} && {command}; echo $? > {exit_file}; exec sleep 600"
    new_session("-d", "-s", session, "-x", "160", "-y", "48", shell)
    shell_pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = children(shell_pid)
        if kids:
            return session, kids[0], exit_file
        time.sleep(0.1)
    raise AssertionError("the CLI did not start")


def wait_exit(exit_file: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.2)
    return exit_file.read_text().strip()


@pytest.mark.parametrize("args", [
    pytest.param(["run", "demo", "-n", "2"], id="demo-2-versions"),
    pytest.param([], id="full-demo", marks=pytest.mark.slow),
])
def test_real_cli_under_tmux_shows_winner_and_quits_clean(tmp_path, args):
    session, cli_pid, exit_file = start(tmp_path, args, str(len(args)))
    try:
        wait_for(lambda s: "ai-code-evals · LIVE" in s, 60, "the TUI", session)
        text = wait_for(lambda s: "run complete" in s, 300, "the run to finish", session)
        text = wait_for(lambda s: "winner " in s.split("Leaderboard", 1)[-1], 10, "the winner row", session)
        assert "Leaderboard" in text
        board = text.split("Leaderboard", 1)[1]
        rows = [ln for ln in board.splitlines() if "│ winner " in ln]
        assert rows, board
        assert "Score" in board and "Errors handled" in board
        tmux("send-keys", "-t", session, "q")
        assert wait_exit(exit_file) == "0"
        assert not Path(f"/proc/{cli_pid}").exists()
        assert sandbox_processes(cli_pid) == []
        logs = list((tmp_path / "runs").glob("*.jsonl"))
        assert len(logs) == 1
        last = json.loads(logs[0].read_text().splitlines()[-1])
        assert "final_report" in last  # written when the app quit
        # what the terminal shows once the TUI has gone: winners, the log, the commands
        after = wait_for(lambda s: "replay: ai-code-evals replay" in s, 10, "the exit summary", session)
        summary = after[after.index("ai-code-evals: run "):]
        assert "complete" in summary.splitlines()[0]
        winners = last["final_report"]["tasks"]
        for task in winners:
            assert f"  {task['task_id']}: {task['winner'] or 'none'}" in summary, summary
        rel = logs[0].relative_to(tmp_path)
        assert f"log: {rel}" in summary and f"replay: ai-code-evals replay {rel}" in summary
        assert "resume:" not in summary  # nothing to resume after a finished run
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    # the same run, replayed
    exit_file.unlink()
    session, _, exit_file = start(tmp_path, ["replay", str(logs[0])], f"replay{len(args)}")
    try:
        text = wait_for(lambda s: "REPLAY" in s and "│ winner " in s, 60, "the replay", session)
        assert "run complete" in text
        tmux("send-keys", "-t", session, "q")
        assert wait_exit(exit_file) == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_q_in_the_middle_of_a_real_run_destroys_every_sandbox(tmp_path):
    session, cli_pid, exit_file = start(tmp_path, ["run", "demo"], "mid")
    try:
        wait_for(lambda s: "RUNNING" in s, 60, "a running sandbox", session)
        assert sandbox_processes(cli_pid)  # the check below is not vacuous
        tmux("send-keys", "-t", session, "q")
        assert wait_exit(exit_file) == "2"  # interrupted
        assert not Path(f"/proc/{cli_pid}").exists()
        assert sandbox_processes(cli_pid) == []
        log = next((tmp_path / "runs").glob("*.jsonl"))
        assert "final_report" not in log.read_text()  # resumable
        rel = log.relative_to(tmp_path)
        after = wait_for(lambda s: "resume: ai-code-evals resume" in s, 10, "the exit summary", session)
        assert "interrupted" in after and f"resume: ai-code-evals resume {rel}" in after
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
