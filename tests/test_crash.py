"""kill -9 of the CLI at chosen points of a real run, then `resume`: nothing lost, nothing
duplicated, nothing left running. And Ctrl-C: exit 2, how to resume, nothing left running.

The CLI freezes itself (SIGSTOP) at the chosen line of its log (tests/crash_cli.py), so the kill
lands exactly there while its sandboxes are busy; the test records the CLI's descendants, kills
it with SIGKILL, and checks that every sandbox process dies with it (bubblewrap's
--die-with-parent and pid namespace), then resumes with the real CLI.
"""
import glob
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_util import (
    EXITS,
    RAISES,
    SYNTAX,
    WRONG,
    check_complete_log,
    cli,
    cli_cmd,
    descendants,
    live,
    proc_state,
    result_pairs,
    sandbox_leftovers,
    verdicts,
    wait_until,
    write_samples,
)

from ai_code_evals.runlog.reader import read_record

TASK = """\
id: add
prompt: Add two numbers.
entry_point: add
time_limit_s: 5
tests:
  - {args: [1, 2], expect: 3}
  - {args: [0, 0], expect: 0}
error_cases:
  - {args: ["a", 1], raises: TypeError}
"""
SLOW_GOOD = "import time\ndef add(a, b):\n    time.sleep(0.3)\n    return a + b\n"
SLOW_WRONG = "import time\ndef add(a, b):\n    time.sleep(0.3)\n    return a - b\n"
CODES = [SLOW_GOOD, WRONG, EXITS, RAISES, SYNTAX, SLOW_WRONG]  # one passes: a stable winner
LAST = f"add#{len(CODES) - 1}"
PAIRS = {(f"add#{k}", "default") for k in range(len(CODES))}
HOOK = Path(__file__).with_name("crash_cli.py")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    (tmp / "task.yaml").write_text(TASK)
    write_samples(tmp / "samples.jsonl", CODES)
    return tmp


def run_args(inputs: Path, record: Path) -> list[str]:
    return ["run", str(inputs / "task.yaml"), "--samples", str(inputs / "samples.jsonl"), "--headless",
            "--json", "--jobs", "2", "--record", str(record)]


@pytest.fixture(scope="module")
def uninterrupted(inputs):
    proc = cli(*run_args(inputs, inputs / "whole.jsonl"), cwd=inputs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def sandbox_roots(pid: int) -> list[str]:
    import tempfile

    return glob.glob(os.path.join(tempfile.gettempdir(), f"ace-sbx-{pid}-*"))


def kill_at(inputs: Path, record: Path, stop_at: str, extra_env: dict | None = None, extra_args: tuple = ()):
    """Run the CLI until it freezes at ``stop_at``; return (pid, live descendants) after kill -9."""
    env = {**os.environ, "ACE_TEST_STOP_AT": stop_at, "PYTHONPATH": str(HOOK.parent), **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, str(HOOK), *run_args(inputs, record), *extra_args], cwd=inputs, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stopped = wait_until(lambda: proc_state(proc.pid) == "T" or proc.poll() is not None, timeout=120)
    assert stopped and proc.poll() is None, f"never reached {stop_at}: {proc.stderr.read()!r}"
    busy = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    return proc.pid, busy


@pytest.mark.parametrize("stop_at,sandboxes_busy", [
    ("running:add#0", True),     # during the first candidate
    ("result:3", None),          # mid-run
    (f"running:{LAST}", True),   # during the last candidate
    ("final_report", False),     # while writing the final report (every sandbox already gone)
])
def test_kill_9_then_resume(inputs, uninterrupted, tmp_path, stop_at, sandboxes_busy):
    record = tmp_path / "run.jsonl"
    pid, busy = kill_at(inputs, record, stop_at)
    if sandboxes_busy:
        assert busy, "the kill must land while a sandbox is running"
    if sandboxes_busy is False:
        assert not busy
    # every process the CLI had started dies with it, without anyone cleaning up
    assert wait_until(lambda: not any(live(p) for p in busy)), [p for p in busy if live(p)]
    assert sandbox_leftovers(Path(f"/tmp/ace-sbx-{pid}-")) == []

    cut = read_record(record)
    assert cut.final_report is None
    assert cut.truncated_tail == (stop_at == "final_report")
    done_before = set(result_pairs(cut))

    resumed = cli("resume", str(record), "--headless", "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert ("half-written last line" in resumed.stderr) == (stop_at == "final_report")
    assert verdicts(json.loads(resumed.stdout)) == verdicts(uninterrupted)
    rec = check_complete_log(record, PAIRS)
    start = max(i for i, e in enumerate(rec.events) if e["type"] == "resumed")
    rerun = {(e["data"]["candidate_id"], e["data"]["profile"]) for e in rec.events[start:]
             if e["type"] == "snapshot" and e["data"]["state"] == "starting"}
    assert rerun == PAIRS - done_before
    assert sandbox_roots(pid) == [], "the killed run's sandbox directories are reaped by the next run"


def _other_levels() -> list[str]:
    from ai_code_evals.sandbox import isolation

    host = isolation.default_host()
    return [lv for lv in isolation.LEVELS[1:] if isolation.works(lv, host)]


@pytest.mark.parametrize("level", _other_levels())
def test_kill_9_leaves_nothing_at_the_weaker_isolation_levels(inputs, uninterrupted, tmp_path, level):
    """Without bubblewrap (unshare, or plain rlimits) a kill -9 of the CLI must still take every
    sandbox process with it."""
    record = tmp_path / "run.jsonl"
    unsafe = ("--unsafe-isolation",) if level == "rlimits" else ()  # it cannot contain candidates: accepted here
    pid, busy = kill_at(inputs, record, "running:add#0", {"ACE_ISOLATION": level}, unsafe)
    assert busy
    assert wait_until(lambda: not any(live(p) for p in busy)), [p for p in busy if live(p)]
    assert sandbox_leftovers(Path(f"/tmp/ace-sbx-{pid}-")) == []
    resumed = cli("resume", str(record), "--headless", "--json", *unsafe, cwd=tmp_path, env={"ACE_ISOLATION": level})
    assert resumed.returncode == 0, resumed.stderr
    assert verdicts(json.loads(resumed.stdout)) == verdicts(uninterrupted)


def test_kill_9_at_an_unprepared_moment(inputs, uninterrupted, tmp_path):
    """No hook at all: the plain CLI, killed as soon as its first result is on disk."""
    record = tmp_path / "plain.jsonl"
    proc = subprocess.Popen(cli_cmd(*run_args(inputs, record)), cwd=inputs, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    assert wait_until(lambda: record.exists() and b'"type": "result"' in record.read_bytes(), timeout=120)
    busy = descendants(proc.pid)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not any(live(p) for p in busy))
    assert sandbox_leftovers(Path(f"/tmp/ace-sbx-{proc.pid}-")) == []
    resumed = cli("resume", str(record), "--headless", "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert verdicts(json.loads(resumed.stdout)) == verdicts(uninterrupted)
    check_complete_log(record, PAIRS)


def test_ctrl_c_stops_cleanly_and_resumes(inputs, uninterrupted, tmp_path):
    """SIGINT while a sandbox is busy (the CLI frozen there, interrupted, then let go)."""
    record = tmp_path / "sigint.jsonl"
    env = {**os.environ, "ACE_TEST_STOP_AT": "running:add#0", "PYTHONPATH": str(HOOK.parent)}
    proc = subprocess.Popen([sys.executable, str(HOOK), *run_args(inputs, record)], cwd=inputs, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: proc_state(proc.pid) == "T" or proc.poll() is not None, timeout=120)
    busy = descendants(proc.pid)
    assert busy, "the interrupt must land while a sandbox is running"
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert f"ai-code-evals resume {record}" in err and "Traceback" not in err
    # nothing left running, and the CLI removed its sandboxes itself (their directories are gone)
    assert [p for p in busy if live(p)] == []
    assert sandbox_leftovers(Path(f"/tmp/ace-sbx-{proc.pid}-")) == [] and sandbox_roots(proc.pid) == []
    cut = read_record(record)
    assert cut.final_report is None and not cut.truncated_tail
    assert cut.of_type("run_finished")[-1]["data"]["interrupted"] is True
    resumed = cli("resume", str(record), "--headless", "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert verdicts(json.loads(resumed.stdout)) == verdicts(uninterrupted)
    check_complete_log(record, PAIRS)


def test_two_apps_with_different_tmpdirs_never_share_a_sandbox_uid(tmp_path):
    """Sandbox uids are claimed with a lock file: both apps must look in the same place, or one
    app would take (and, reaping 'unheld' uids, kill) the other's sandboxes."""
    code = ("import sys\nfrom ai_code_evals.sandbox import uidslots\nslot = uidslots.claim()\n"
            "print(slot.uid, flush=True)\nsys.stdin.read()\n")
    procs, uids = [], []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp_path / name)},
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            uids.append(proc.stdout.readline().strip())
    finally:
        for proc in procs:
            proc.communicate("")
    assert uids[0] and uids[1] and uids[0] != uids[1]


@pytest.mark.slow
def test_kill_9_of_the_whole_demo_then_resume(tmp_path):
    """The default `demo` pack (offline generator), killed in the middle of its run."""
    whole = cli("run", "demo", "--headless", "--json", "--record", str(tmp_path / "whole.jsonl"), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    summary = json.loads(whole.stdout)
    pairs = {(c["id"], "default") for t in summary["tasks"] for c in t["candidates"]}
    record = tmp_path / "cut.jsonl"
    env = {**os.environ, "ACE_TEST_STOP_AT": f"result:{len(pairs) // 2}", "PYTHONPATH": str(HOOK.parent)}
    proc = subprocess.Popen([sys.executable, str(HOOK), "run", "demo", "--headless", "--record", str(record)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: proc_state(proc.pid) == "T", timeout=300)
    busy = descendants(proc.pid)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not any(live(p) for p in busy))
    resumed = cli("resume", str(record), "--headless", "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert verdicts(json.loads(resumed.stdout), winners=False) == verdicts(summary, winners=False)
    check_complete_log(record, pairs)
