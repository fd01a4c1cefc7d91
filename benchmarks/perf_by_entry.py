"""Where the machine's CPU goes during a run, by process and by how it entered the kernel.

Runs our CLI under ``perf record -a -g`` (root, or a ``perf_event_paranoid`` that allows it) and
sorts every sample of the whole machine into: the sandboxed processes (the warm server and the
commands it forks, ``python3.11`` here) split by what they were doing (their own code in user space; page
faults; ``exit``; ``clone``/``fork``; any other system call, by name), the app (``python``), the
kernel's threads and idle. By default the run is the floor of ``bench_ceiling.py`` (N empty
versions of a one-assert task), so the table says what a version's fixed cost is made of.

    sudo uv run python benchmarks/perf_by_entry.py                 # 2,339 empty versions
    sudo uv run python benchmarks/perf_by_entry.py --real ../shared/data/codet-humaneval-dev   # 3,280 real samples
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ceiling import FLOOR_TASK, floor_samples
from bench_humaneval import cli_env, ours_command, problems_and_samples, write_inputs

ENTRIES = {"asm_exc_page_fault": "page faults", "ret_from_fork": "fork return", "ret_from_fork_asm": "fork return"}
SYSCALL_PREFIXES = ("__x64_sys_", "__do_sys_", "__arm64_sys_")
NAMED = {"exit_group": "exit", "clone": "clone/fork", "clone3": "clone/fork", "vfork": "clone/fork"}


def entry(frames: list[str]) -> str:
    """How a sample's call chain (innermost first) entered the kernel, or "user space"."""
    for name in reversed(frames):  # outermost first
        if name in ENTRIES:
            return ENTRIES[name]
        for prefix in SYSCALL_PREFIXES:
            if name.startswith(prefix):
                call = name[len(prefix):]
                return NAMED.get(call, "system call " + call)
        if name.startswith(("asm_sysvec", "asm_common_interrupt")):
            return "interrupts"
    return "user space"


def group(comm: str, sandboxed: str, app: str) -> str:
    if comm == sandboxed:
        return "sandboxed"
    if comm == app:
        return "app"
    if comm == "swapper":
        return "idle"
    if comm.startswith(("kworker", "ksoftirqd", "rcu", "migration", "kthreadd", "kcompactd")):
        return "kernel threads"
    return "other"


def classify(script: str, sandboxed: str = "python3.11", app: str = "python") -> tuple[Counter, int]:
    """``perf script -F comm,ip,sym`` output -> samples per (group, what), and the total."""
    counts: Counter = Counter()
    total = 0
    comm, frames = None, []

    def flush() -> None:
        nonlocal total
        if comm is None:
            return
        total += 1
        kind = group(comm, sandboxed, app)
        counts[(kind, entry(frames) if kind in ("sandboxed", "app") else "")] += 1

    for line in script.splitlines():
        if not line.strip():
            flush()
            comm, frames = None, []
        elif not line[0].isspace():
            flush()
            comm, frames = line.split()[0], []
        else:
            parts = line.split()
            frames.append(parts[1] if len(parts) > 1 else "")
    flush()
    return counts, total


def report(counts: Counter, total: int, top: int = 12) -> str:
    by_group: Counter = Counter()
    for (kind, _), n in counts.items():
        by_group[kind] += n
    lines = ["| where | share of the machine's CPU |", "|---|---|"]
    for kind, n in by_group.most_common():
        lines.append(f"| {kind} | {100 * n / total:.1f}% |")
        if kind in ("sandboxed", "app"):
            whats = Counter({what: m for (k, what), m in counts.items() if k == kind})
            for what, m in whats.most_common(top):
                if 100 * m / total >= 0.5:
                    lines.append(f"| &nbsp;&nbsp;{what} | {100 * m / total:.1f}% |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--floor", type=int, default=2339, help="empty versions to run (default 2,339: as many "
                    "as ran of the 3,280 real samples before local names were made canonical)")
    ap.add_argument("--real", metavar="DIR", help="run the first --per-task real samples of each task instead")
    ap.add_argument("--per-task", type=int, default=40)
    args = ap.parse_args()
    if not shutil.which("perf"):
        print("perf is not installed (Debian: apt-get install linux-perf)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="perf-by-entry-"))
    try:
        if args.real:
            problem_file, sample_file = write_inputs(work, *problems_and_samples(164, args.real, args.per_task))
        else:
            problem_file, sample_file = write_inputs(work, [FLOOR_TASK], floor_samples(args.floor))
        data = work / "perf.data"
        cmd = ["perf", "record", "-q", "-a", "-g", "-F", "999", "-o", str(data), "--", sys.executable,
               *ours_command(problem_file, sample_file, work / "run.jsonl", None)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=cli_env())
        if proc.returncode != 0:
            print(f"perf record failed ({proc.returncode}): {proc.stderr[-1500:]}")
            return 1
        script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,sym"],
                                capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts, total = classify(script, sandboxed=f"python{sys.version_info[0]}.{sys.version_info[1]}",
                             app=Path(sys.executable).name)
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {total} samples of the whole machine")
    print(report(counts, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
