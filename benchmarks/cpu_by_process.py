"""Who uses the machine during a run of our CLI, and does the run keep every core busy.

Runs the CLI on real samples (or the project's mix) and, while it runs, reads two things:

- the machine's busy cores each second (/proc/stat): a run that leaves cores idle, at its start,
  in its middle or at its end, shows here (a real sample's ``input()`` waiting 6.5 s at the end
  of a run was found this way);
- every process's CPU over a window in the middle of the run (/proc/PID/stat, its own and its
  reaped children's), grouped: the sandboxed commands (the warm server's children: checkers and
  candidates), the app (the CLI's process), the warm server itself (the clone that makes each
  command's namespaces runs in it), the kernel's threads, and everything else.

Printed as shares of the machine's busy CPU in the window, beside the busy cores per second.
This is a profile, not a comparison: it has no peer, so read its shares, not its seconds.

    uv run python benchmarks/cpu_by_process.py --real ../shared/data/codet-humaneval-dev
    uv run python benchmarks/cpu_by_process.py --real ../shared/data/codet-humaneval-dev --per-task 100 --window 30
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_humaneval as bh
import samples_mix
from bench_sandbox import machine_cpu_ms

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
GROUPS = ("sandboxed commands", "app", "warm server", "kernel threads", "other")
KTHREADD = 2


@dataclass(frozen=True)
class Proc:
    pid: int
    comm: str
    ppid: int
    own_ms: float  # user + system of the process itself
    reaped_ms: float  # of the children it has waited for
    started: int  # clock ticks after boot: a pid reused by a later process starts later


def read_procs() -> dict[int, Proc]:
    """Every process now, from /proc (processes that end while it reads are skipped)."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        procs[int(name)] = Proc(int(name), comm, int(fields[1]), (int(fields[11]) + int(fields[12])) * TICK_MS,
                                (int(fields[13]) + int(fields[14])) * TICK_MS, int(fields[19]))
    return procs


def is_server(proc: Proc, procs: dict[int, Proc]) -> bool:
    """The warm server: a Python process whose parent is bubblewrap (``sandbox/warm.py``)."""
    parent = procs.get(proc.ppid)
    return proc.comm.startswith("python") and parent is not None and parent.comm == "bwrap"


def group_of(pid: int, procs: dict[int, Proc], app: int) -> str:
    """Which group a process's own CPU belongs to: the nearest of its ancestors decides."""
    seen = 0
    while pid in procs and seen < 64:
        proc, seen = procs[pid], seen + 1
        if pid == app:
            return "app" if seen == 1 else "other"  # bwrap and other helpers of the app
        if is_server(proc, procs):
            return "warm server" if seen == 1 else "sandboxed commands"
        if pid == KTHREADD or proc.ppid == KTHREADD:
            return "kernel threads"
        pid = proc.ppid
    return "other"


def cpu_by_group(before: dict[int, Proc], after: dict[int, Proc], app: int) -> dict[str, float]:
    """CPU milliseconds per group between two readings. A process's own CPU counts from the first
    reading (or its start); a warm server's reaped children count as sandboxed commands."""
    totals = dict.fromkeys(GROUPS, 0.0)
    for pid, proc in after.items():
        earlier = before.get(pid)
        if earlier is not None and earlier.started != proc.started:
            earlier = None  # the pid was reused
        group = group_of(pid, after, app)
        totals[group] += proc.own_ms - (earlier.own_ms if earlier else 0.0)
        if group == "warm server":
            totals["sandboxed commands"] += proc.reaped_ms - (earlier.reaped_ms if earlier else 0.0)
    return totals


def busy_cores_each_second(stop: threading.Event, out: list[float]) -> None:
    last, t = machine_cpu_ms(), time.monotonic()
    while not stop.wait(1.0):
        now, t2 = machine_cpu_ms(), time.monotonic()
        out.append((now - last) / (1000 * (t2 - t)))
        last, t = now, t2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", metavar="DIR", help="real model samples (DIR/samples.jsonl); default: the project's mix")
    ap.add_argument("--per-task", type=int, default=None, help="samples per task (default 40 real, 19 mix)")
    ap.add_argument("--tasks", type=int, default=164, help="first N HumanEval tasks")
    ap.add_argument("--jobs", type=int, default=None, help="our --jobs (default: the CLI's own)")
    ap.add_argument("--skip", type=float, default=3.0, help="seconds of the run before the window (start-up)")
    ap.add_argument("--window", type=float, default=10.0, help="seconds of the window the groups are read over")
    args = ap.parse_args()

    per_task = args.per_task or (40 if args.real else samples_mix.DEFAULT_PER_TASK)
    problems, samples = bh.problems_and_samples(args.tasks, args.real, per_task)
    work = Path(tempfile.mkdtemp(prefix="cpu-by-process-"))
    atexit.register(shutil.rmtree, work, True)
    problem_file, sample_file = bh.write_inputs(work, problems, samples)
    bh.warm_up(problem_file, samples, work)
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {len(samples)} samples over {len(problems)} tasks")

    timeline: list[float] = []
    stop = threading.Event()
    ticker = threading.Thread(target=busy_cores_each_second, args=(stop, timeline), daemon=True)
    ticker.start()
    t0 = time.monotonic()
    cmd = [sys.executable, *bh.ours_command(problem_file, sample_file, work / "run.jsonl", args.jobs)]
    err_file = (work / "stderr.txt").open("wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file, env=bh.cli_env())
    groups, window = None, None
    if not _ended_within(proc, args.skip):
        before, m0, w0 = read_procs(), machine_cpu_ms(), time.monotonic()
        ended = _ended_within(proc, args.window)
        after, m1, w1 = read_procs(), machine_cpu_ms(), time.monotonic()
        if not ended:
            groups, window = cpu_by_group(before, after, proc.pid), (w1 - w0, m1 - m0)
    proc.wait()
    err_file.close()
    wall = time.monotonic() - t0
    stop.set()
    ticker.join()
    if proc.returncode != 0:
        print(f"our CLI failed ({proc.returncode}): {(work / 'stderr.txt').read_text(errors='replace')[-2000:]}")
        return 1
    print(f"run: {wall:.1f} s; busy cores each second: " + " ".join(f"{c:.2f}" for c in timeline))
    if groups is None:
        print("the run ended before the window did: use a larger sample set or a smaller --skip/--window")
        return 1
    seconds, machine_ms = window
    print(f"\nwindow: {seconds:.1f} s from {args.skip:.0f} s into the run; the machine was busy "
          f"{machine_ms / 1000 / seconds:.2f} of {os.cpu_count()} cores")
    print(f"  {'group':22s} {'share':>7s} {'cores':>6s}")
    for name in GROUPS:
        print(f"  {name:22s} {100 * groups[name] / max(machine_ms, 1):6.1f}% {groups[name] / 1000 / seconds:6.2f}")
    return 0


def _ended_within(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
