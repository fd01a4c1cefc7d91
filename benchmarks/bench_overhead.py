"""Per-candidate overhead of the local backend for an empty candidate, against the floor.

One lifecycle of ours is what the engine does per candidate, with nothing to judge: create a
sandbox with ``LocalBackend`` (its defaults), upload ``runner.py`` and the ``job.json`` of a
task whose program is ``def f(): pass`` and which has no tests, run
``python runner.py job.json``, destroy the sandbox. Peers, started the same way:

- ``sandboxed python -c pass``: the command line the backend would build for that argv at the
  same isolation level (``isolation.build_command`` on an ``ExecPlan``: same uid handling,
  limits, environment and masks), run with ``subprocess.run`` in a fresh directory: the
  isolation's own floor;
- ``plain python -c pass``: the same interpreter with no sandbox at all;
- ``ours ACE_WARM=0`` (only when the backend has that switch): ours with the warm fork-server
  path turned off, i.e. a fresh bubblewrap sandbox per command.

Rounds interleave every variant (the order reversed every other round) so that load from other
work on the machine hits all alike. Printed: median and 90th percentile wall time per
lifecycle, mean CPU time per lifecycle, and the ratios ours / peer. CPU time counts this process,
every child it reaped, and every live descendant with what it reaped (read from /proc): a warm
server's forked command is its child, not ours, and getrusage alone would miss it.

- ``ours, runner at REV`` (with ``--before REV``): ours with the runner of an earlier commit,
  e.g. the single-process runner before the checker/child split (``--before f32a429``), to show
  what the trusted checker costs per candidate.

    uv run python benchmarks/bench_overhead.py               # 30 rounds
    uv run python benchmarks/bench_overhead.py --rounds 100
    uv run python benchmarks/bench_overhead.py --before f32a429
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_sandbox import PROFILE, cpu_ms

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.task import Task
from ai_code_evals.engine.jobfile import build_job
from ai_code_evals.sandbox import isolation, uidslots
from ai_code_evals.sandbox.base import SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.sandbox.runner_source import runner_source

EMPTY_TASK = Task(id="bench/empty", entry_point="f", tests=[])
EMPTY_CANDIDATE = Candidate(id="bench/empty#0", task_id="bench/empty", code="def f(): pass\n")
OURS = "ours (defaults)"
OURS_COLD = "ours ACE_WARM=0"
SANDBOXED = "sandboxed python -c pass"
PLAIN = "plain python -c pass"
_TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def warm_switch() -> str | None:
    """The env var that turns the backend's warm path off, when the backend has one."""
    try:
        warm = importlib.import_module("ai_code_evals.sandbox.warm")
    except ImportError:
        return None
    return getattr(warm, "ENV_VAR", None)


def empty_files(runner: bytes | None = None) -> dict[str, bytes]:
    job = build_job(EMPTY_TASK, EMPTY_CANDIDATE, PROFILE, "0" * 32, [])
    return {"runner.py": runner or runner_source(), "job.json": json.dumps(job).encode()}


def runner_at(rev: str) -> bytes:
    """runner.py as it was at git revision ``rev``."""
    return subprocess.run(["git", "show", f"{rev}:src/ai_code_evals/sandbox/runner.py"], check=True,
                          capture_output=True, cwd=Path(__file__).resolve().parents[1]).stdout


# -- CPU of the whole process tree ---------------------------------------------------------------
def _descendants_cpu_ms() -> float:
    """utime + stime + cutime + cstime of every live descendant of this process."""
    me = os.getpid()
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        pid = int(name)
        parent[pid] = int(fields[1])
        cpu[pid] = sum(int(x) for x in fields[11:15]) * _TICK_MS
    total = 0.0
    for pid, ticks in cpu.items():
        p, seen = parent.get(pid), 0
        while p and p != me and seen < 64:
            p, seen = parent.get(p), seen + 1
        if p == me:
            total += ticks
    return total


class TreeCpu:
    """CPU of this process tree between ``start()`` and ``stop()``, excluding the /proc scans."""

    def start(self) -> None:
        self.tree0 = _descendants_cpu_ms()
        self.own0 = cpu_ms()

    def stop(self) -> float:
        own = cpu_ms() - self.own0
        return own + _descendants_cpu_ms() - self.tree0


# -- the variants -----------------------------------------------------------------------------
@contextlib.contextmanager
def env_set(name: str | None, value: str):
    if name is None:
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


async def ours(backend: LocalBackend, files: dict[str, bytes]) -> None:
    lines: list[str] = []
    box = await backend.create(SandboxSpec(limits=PROFILE.limits, env=dict(PROFILE.env)))
    try:
        await box.upload(files)
        result = await box.exec(["python", "runner.py", "job.json"],
                                on_line=lambda s, line: lines.append(line), timeout_s=60)
    finally:
        await box.destroy()
    if result.exit_code != 0 or not any('"verdict"' in x for x in lines):
        raise SystemExit(f"ours/{backend.isolation}: the empty candidate failed: {result} {lines[-3:]}")


class Sandboxed:
    """``python -c pass`` on the command line the backend builds, started by hand."""

    def __init__(self, level: str, host: isolation.Host) -> None:
        self.level, self.host = level, host
        self.slot = uidslots.claim() if host.root else None  # claimed like a sandbox's uid
        self.root = tempfile.mkdtemp(prefix="bench-overhead-")
        os.chmod(self.root, 0o711)

    def run(self) -> None:
        work = tempfile.mkdtemp(dir=self.root)
        try:
            if self.slot is not None:
                os.chown(work, self.slot.uid, self.slot.uid)
            plan = isolation.ExecPlan(level=self.level, workdir=work, files=[],
                                      uid=self.slot.uid if self.slot else None, limits=PROFILE.limits,
                                      env=dict(PROFILE.env), argv=["python", "-c", "pass"],
                                      masks=isolation.secret_files())
            cmd = isolation.build_command(plan, self.host)
            proc = subprocess.run(cmd, env=isolation.sandbox_env(plan), stdin=subprocess.DEVNULL,
                                  capture_output=True, start_new_session=True, check=False)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if proc.returncode != 0:
            raise SystemExit(f"sandboxed python -c pass failed ({proc.returncode}): "
                             f"{proc.stderr.decode(errors='replace')[-300:]}")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self.slot is not None:
            self.slot.release()


def plain() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True, stdin=subprocess.DEVNULL)


# -- the measurement ----------------------------------------------------------------------------
def _stats(xs: list[float]) -> dict[str, float]:
    p90 = statistics.quantiles(xs, n=10)[-1] if len(xs) >= 2 else xs[0]
    return {"median_ms": round(statistics.median(xs), 2), "p90_ms": round(p90, 2)}


async def measure(rounds: int = 30, before: str | None = None) -> dict:
    """Interleaved rounds of every variant; returns the figures (also printed by ``report``)."""
    host = isolation.default_host()
    backend = LocalBackend()
    level = await backend.detect()
    switch = warm_switch()
    cold = None
    if switch is not None:
        with env_set(switch, "0"):  # runners before the settings object read ACE_WARM themselves
            cold = LocalBackend(warm=False) if "warm" in inspect.signature(LocalBackend).parameters else LocalBackend()
            await cold.detect()
    sandboxed = Sandboxed(level, host)
    files = empty_files()

    async def run_cold() -> None:
        with env_set(switch, "0"):
            await ours(cold, files)

    variants = {OURS: lambda: ours(backend, files)}
    if before:
        old_files = empty_files(runner_at(before))
        variants[f"ours, runner at {before}"] = lambda: ours(backend, old_files)
    if cold is not None:
        variants[OURS_COLD] = run_cold
    variants[SANDBOXED] = sandboxed.run
    variants[PLAIN] = plain
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    meter = TreeCpu()
    try:
        for fn in variants.values():  # warm up: temp roots, uids, a warm server
            result = fn()
            if asyncio.iscoroutine(result):
                await result
        for r in range(rounds):
            order = list(variants.items())
            if r % 2:
                order.reverse()
            for name, fn in order:
                meter.start()
                t0 = time.perf_counter()
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
                times[name].append((time.perf_counter() - t0) * 1000)
                cpus[name].append(meter.stop())
    finally:
        await backend.aclose()
        if cold is not None:
            await cold.aclose()
        sandboxed.close()
    figures = {name: {**_stats(times[name]), "cpu_ms": round(statistics.mean(cpus[name]), 2)}
               for name in variants}
    ratios = {}
    for mine in [OURS, OURS_COLD] if cold is not None else [OURS]:
        for peer in variants:
            if peer != mine and not (mine == OURS_COLD and peer == OURS):
                ratios[f"{mine} / {peer}"] = {
                    "wall": round(figures[mine]["median_ms"] / figures[peer]["median_ms"], 2),
                    "cpu": round(figures[mine]["cpu_ms"] / max(figures[peer]["cpu_ms"], 1e-9), 2)}
    return {"rounds": rounds, "isolation": level, "warm_switch": switch, "variants": figures, "ratios": ratios}


def print_report(res: dict) -> None:
    print(f"\nper-candidate overhead, empty candidate ({res['rounds']} interleaved rounds, "
          f"isolation {res['isolation']}, load {os.getloadavg()[0]:.2f})")
    for name, f in res["variants"].items():
        print(f"  {name:26s} {f['median_ms']:7.1f} ms (p90 {f['p90_ms']:6.1f}), cpu {f['cpu_ms']:6.1f} ms")
    for name, r in res["ratios"].items():
        print(f"  ratio {name}: wall {r['wall']:.2f}x, cpu {r['cpu']:.2f}x")
    if res["warm_switch"] is None:
        print("  (this backend has no warm-path switch: no ACE_WARM=0 peer)")


def report(rounds: int = 30, before: str | None = None) -> dict:
    """Measure and print; for other benchmarks (bench_humaneval.py ends with this)."""
    res = asyncio.run(measure(rounds, before))
    print_report(res)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--json-out", metavar="FILE", help="write the figures as JSON")
    ap.add_argument("--before", metavar="REV", help="also run the runner of this git revision")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    res = report(args.rounds, args.before)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
