"""Helpers shared by the reliability tests (resume, crash, bad input, hostile, soak)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ai_code_evals.runlog.reader import read_record

DATA = Path(__file__).parent / "data"
ADD_TASK = DATA / "add_task.yaml"

GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a * b\n"
EXITS = "import os\nos._exit(0)\n"
SYNTAX = "def add(a, b)\n    return a + b\n"
RAISES = "def add(a, b):\n    raise ValueError('no')\n"
NAPS = "import time\ndef add(a, b):\n    time.sleep(0.25)\n    return a * b\n"  # slow and wrong


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ai_code_evals", *args]


def cli(*args: str, cwd=None, env=None, timeout=240, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False,
                          env={**os.environ, **(env or {})}, **kw)


def write_samples(path: Path, codes: list[str], task_id: str = "add") -> Path:
    path.write_text("".join(json.dumps({"task_id": task_id, "code": c}) + "\n" for c in codes))
    return path


def verdicts(summary: dict, *, winners: bool = True) -> dict:
    """What must not change between an interrupted-and-resumed run and an uninterrupted one
    (timings and scores vary from run to run, so they are left out)."""
    out = {}
    for t in summary["tasks"]:
        rows = sorted((c["id"], c["status"], c["tests_passed"], c["tests_total"], c.get("errors_handled"),
                       tuple(sorted((c.get("profiles") or {}).items())))
                      for c in t["candidates"])
        out[t["task_id"]] = {"rows": rows, "error": t.get("error"),
                             **({"winner": t["winner"]} if winners else {})}
    out["pass@k"] = summary.get("pass_at_k")
    return out


def result_pairs(record) -> Counter:
    return Counter((e["data"]["candidate_id"], e["data"]["profile"]) for e in record.of_type("result"))


def check_complete_log(path: Path, expected_pairs: set[tuple[str, str]]):
    """A finished log: readable, ends with a final report, exactly one result per pair,
    increasing event ids, one candidate line per candidate."""
    rec = read_record(path)
    assert rec.final_report is not None, "the log must end with its final_report"
    assert not rec.truncated_tail
    pairs = result_pairs(rec)
    assert set(pairs) == expected_pairs, (set(pairs) ^ expected_pairs)
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    ids = [e["event_id"] for e in rec.events]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    cands = Counter(e["data"]["candidate_id"] for e in rec.of_type("candidate"))
    assert max(cands.values()) == 1
    return rec


def proc_state(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()[0]


def live(pid: int) -> bool:
    return proc_state(pid) not in (None, "Z", "X")


def descendants(root: int) -> set[int]:
    """Live descendants of ``root`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {p for p in found if live(p)}


def sandbox_leftovers(root: Path) -> list[str]:
    """Live processes that belong to sandboxes under ``root`` (the backend's temp dir): their
    working directory or command line mentions it, or they run the runner on a job file there."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        pid = int(name)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if not live(pid):
            continue
        if cwd.startswith(str(root)) or str(root) in cmdline:
            found.append(f"{pid} cwd={cwd} cmd={cmdline[:120]}")
    return found


def wait_until(predicate, timeout: float = 30.0, step: float = 0.05):
    """Poll until ``predicate()`` is truthy (a generous bound for things that happen 'soon':
    never an assertion about speed). Returns the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = predicate()
    return value


def processes_under(root) -> list[int]:
    """Pids whose working directory lies under root (a sandbox left running)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(root)):
                found.append(int(pid))
        except OSError:
            pass
    return found
