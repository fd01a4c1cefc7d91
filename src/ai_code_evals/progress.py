"""Headless output: a progress bar on stderr while the run goes, a results table after."""
from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ai_code_evals.core.events import (
    BackendStatus,
    CandidateAdded,
    CandidateFinished,
    EngineNotice,
    RunStarted,
)
from ai_code_evals.core.sanitize import sanitize_data, sanitize_text
from ai_code_evals.engine.results import is_infrastructure_error

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "magenta", "timeout": "yellow",
                "killed": "red", "skipped": "dim", "unchecked": "cyan"}


# Redraws per second in a terminal. Each redraw renders the whole bar (~2 ms of CPU here), from
# rich's own thread: rich's default of 10 cost ~20 ms of CPU per second of the run, a few percent
# of the app's CPU at hundreds of candidates a second (benchmarks/bench_engine.py, peer `tty`).
REFRESH_PER_SECOND = 4


@contextmanager
def preparing(what: str, console: Console | None = None):
    """A spinner on stderr while a run's inputs are read and checked, before its progress bar
    exists: 100,000 samples take seconds to read and fingerprint. In a terminal only; erased
    when done; a pipe gets nothing."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(Text(what)):
        yield


class ProgressReporter:
    """Bus subscriber: one bar over every (candidate, profile) job; notices printed above it."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 transient=False, disable=not self.console.is_terminal,
                                 refresh_per_second=REFRESH_PER_SECOND)
        self.bar = self.progress.add_task("evaluating", total=0)
        self.profiles = 1
        self.total = 0
        self.done = 0
        self.infrastructure_errors = 0  # no verdict because the infrastructure failed
        self.run_title = "evaluating"
        self.backend_line = ""  # the backend's own status (Daytona: sandboxes, create rate, throttling)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        if not self.console.is_terminal:
            extra = (f" ({self.infrastructure_errors} without a verdict: infrastructure errors, "
                     "`resume` runs them again)" if self.infrastructure_errors else "")
            self.console.print(f"evaluated {self.done} candidate runs{extra}")

    def describe(self) -> str:
        """The bar's text: the run, then infrastructure errors and the backend's status."""
        bits = [self.run_title]
        if self.infrastructure_errors:
            bits.append(f"{self.infrastructure_errors} infrastructure error(s)")
        if self.backend_line:
            bits.append(self.backend_line)
        return " · ".join(bits)

    def __call__(self, event) -> None:
        if isinstance(event, RunStarted):
            self.profiles = max(1, len(event.profiles))
            self.run_title = (f"run {event.run_id} ({event.isolation or event.backend}"
                              f"{', UNSAFE' if event.unsafe_isolation else ''})")
            self.progress.update(self.bar, description=self.describe())
        elif isinstance(event, CandidateAdded):
            self.total += self.profiles
            self.progress.update(self.bar, total=self.total)
        elif isinstance(event, CandidateFinished):
            self.done += 1
            if is_infrastructure_error(event.result):
                self.infrastructure_errors += 1
                self.progress.update(self.bar, description=self.describe())
            self.progress.advance(self.bar)
        elif isinstance(event, BackendStatus):
            self.backend_line = escape(sanitize_text(event.text))  # may quote a server's reply
            self.progress.update(self.bar, description=self.describe())
        elif isinstance(event, EngineNotice):  # untrusted text: no escapes, no markup
            self.console.print(Text(f"{event.level}:", style="yellow"), Text(sanitize_text(event.message)))


def results_table(summary: dict, console: Console | None = None) -> None:
    """One table per task, sorted by score, winner marked."""
    console = console or Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    summary = sanitize_data(summary)  # task ids, reasons, labels come from files and candidates
    for task in summary["tasks"]:
        table = Table(title=Text(task["task_id"]), title_justify="left", expand=False)
        for col in ("", "candidate", "status", "tests", "bad inputs", "median ms", "peak KiB", "score"):
            table.add_column(col, no_wrap=True,
                             justify="right" if col in ("tests", "median ms", "peak KiB", "score") else "left")
        table.add_column("about", no_wrap=True, overflow="ellipsis", max_width=60)
        rows = sorted(task["candidates"], key=lambda c: -(c.get("score") or 0))
        for c in rows:
            mark = "winner" if c["id"] == task["winner"] else ""
            style = STATUS_STYLE.get(c["status"], "")
            table.add_row(
                f"[bold green]{mark}[/]" if mark else "", Text(c["id"]), Text(c["status"], style=style),
                f"{c['tests_passed']}/{c['tests_total']}",
                f"{c.get('errors_handled', 0)}/{c.get('errors_total', 0)}" if c.get("errors_total") else "-",
                f"{c['median_ms']:.2f}" if c.get("median_ms") is not None else "-",
                str(c["peak_kib"]) if c.get("peak_kib") else "-",
                f"{c['score']:.1f}" if c.get("score") is not None else "-",
                Text(c.get("label") or c.get("reason", "")))
        console.print(table)
        console.print(Text("  "), Text("winner:", style="bold"), Text(f"{task['reason']}\n"))
    if summary.get("pass_at_k"):
        console.print("pass@k: " + ", ".join(f"pass@{k}={v:.3f}" for k, v in summary["pass_at_k"].items()))
    if summary.get("record"):
        console.print(Text(f"run log: {summary['record']}"))
