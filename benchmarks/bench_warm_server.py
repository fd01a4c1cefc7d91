"""The warm server's cost per version: this checkout's ``_warm_server.py`` against an earlier one's.

A version's sandbox on the warm path is a handful of forks of the server's image, and most of
their cost is the kernel's: copying page tables at fork, copy-on-write and file faults after it,
tearing the address space down at exit, making and freeing namespaces. Per-process accounting
misses part of that, so each round counts three ways: the whole tree's CPU (a cpuacct cgroup,
``cgroup_cpu.py``, where available), the machine's busy CPU (/proc/stat: everything, other
users' work too, so read it beside the load average), and the commands' own CPU as the server
reports it (wait4 on each command's tree).

A round is N empty-candidate lifecycles through ``LocalBackend`` (create, upload the runner and
a job with no tests, ``python runner.py job.json``, destroy; ``bench_overhead.py``'s), C at a
time, with a fresh backend using one server or the other. Rounds alternate the two (the order
reversed every other round); medians and the ratios this / before are printed.

    uv run python benchmarks/bench_warm_server.py --before 9580ee2             # 8 rounds of 200, 3 at a time
    uv run python benchmarks/bench_warm_server.py --before 9580ee2 --rounds 4 --n 100
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overhead import empty_files
from bench_sandbox import machine_cpu_ms
from cgroup_cpu import CgroupCpu

from ai_code_evals.sandbox import warm as warm_mod
from ai_code_evals.sandbox.base import SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend

SERVER_PATH = "src/ai_code_evals/sandbox/_warm_server.py"
FIGURES = ("wall ms", "tree cpu ms", "machine cpu ms", "command cpu ms")


def server_at(rev: str, into: Path) -> Path:
    """The warm server's source at a git revision, in a file of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{rev}:{SERVER_PATH}"], cwd=root, capture_output=True, check=True).stdout
    path = into / f"warm_server_{rev}.py"
    path.write_bytes(source)
    return path


def descendants(root: int) -> list[int]:
    """Every live descendant of a process (the warm server inside its bwrap, here)."""
    children: dict[int, list[int]] = {}
    for name in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            ppid = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


async def one_round(server: Path, n: int, concurrency: int) -> tuple[float, ...]:
    """Per lifecycle: wall ms, whole-tree CPU ms (nan where it cannot be counted), machine CPU ms,
    and the commands' CPU ms as the server reported it."""
    warm_mod.SERVER = server
    backend = LocalBackend()
    files, spec = empty_files(), SandboxSpec(env={"PYTHONHASHSEED": "0"})

    async def lifecycle(check_warm: bool = False):
        async with await backend.create(spec) as box:
            await box.upload(files)
            result = await box.exec(["python", "runner.py", "job.json"], on_line=lambda s, t: None, timeout_s=30)
            if check_warm and not box.info.get("warm"):
                raise SystemExit("the warm path is not in use here (it needs bwrap and a fixed hash seed)")
            return result

    gate = asyncio.Semaphore(concurrency)

    async def gated():
        async with gate:
            return await lifecycle()

    try:
        await lifecycle(check_warm=True)  # starts the server: not counted
        tree = CgroupCpu("warm") if CgroupCpu.available() else contextlib.nullcontext(CgroupCpu("warm"))
        machine0, t0 = machine_cpu_ms(), time.perf_counter()
        with tree as acct:
            if acct.seconds is None and CgroupCpu.available():  # the server started above: count it too
                for pid in descendants(os.getpid()):
                    acct.add(pid)
            results = await asyncio.gather(*(gated() for _ in range(n)))
        wall, machine = time.perf_counter() - t0, machine_cpu_ms() - machine0
    finally:
        await backend.aclose()
    failed = [r for r in results if r.exit_code != 0]
    if failed:
        raise SystemExit(f"{len(failed)} lifecycles failed, e.g. {failed[0]}")
    tree_ms = float("nan") if acct.seconds is None else 1000 * acct.seconds / n
    return 1000 * wall / n, tree_ms, machine / n, 1000 * sum(r.cpu_s or 0 for r in results) / n


async def measure(before: Path, rounds: int, n: int, concurrency: int) -> dict[str, list[tuple[float, ...]]]:
    servers = {"this": warm_mod.SERVER, "before": before}
    out: dict[str, list[tuple[float, ...]]] = {name: [] for name in servers}
    for i in range(rounds):
        for name in (list(servers) if i % 2 == 0 else list(servers)[::-1]):
            out[name].append(await one_round(servers[name], n, concurrency))
            print(f"  round {i + 1} {name:6s} " + "  ".join(f"{f} {v:6.2f}" for f, v in zip(FIGURES, out[name][-1])),
                  flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", metavar="REV", required=True, help="git revision of the server to compare with")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--n", type=int, default=200, help="lifecycles per round")
    ap.add_argument("--concurrency", type=int, default=3, help="lifecycles at a time (the CLI's default --jobs here)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp:
        before = server_at(args.before, Path(tmp))
        print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.rounds} rounds of {args.n} empty "
              f"lifecycles, {args.concurrency} at a time; this checkout's warm server vs {args.before}'s")
        res = asyncio.run(measure(before, args.rounds, args.n, args.concurrency))
    med = {name: [statistics.median(col) for col in zip(*rows)] for name, rows in res.items()}
    print(f"medians per lifecycle (load {os.getloadavg()[0]:.2f} at the end):")
    for name, values in med.items():
        print(f"  {name:6s} " + "  ".join(f"{f} {v:6.2f}" for f, v in zip(FIGURES, values)))
    print("  this / before: " + "  ".join(f"{f} {a / b:.3f}x" for f, a, b in zip(FIGURES, med["this"], med["before"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
