"""Why a version failed (`i`): its first failing case, the other failures, stderr, how it ended,
time and memory per environment profile, and its code against the winner's.

Everything comes from the result events (the same fields as the run log and the JSON summary);
the detail fields (`call`, `expected`, `got`, `traceback`, `stderr_tail`, `exit_cause`) are
optional, so a log written before they existed still shows what it has.
"""
from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.screen import ModalScreen
from textual.widgets import Static

from ai_code_evals.tui.model import VERDICT_WORDS, RunModel
from ai_code_evals.tui.widgets.code import DiffTheme, diff_text

MAX_OTHER_FAILURES = 20
LABEL_W = 10


def _mem(kib) -> str:
    return f"{kib / 1024:.1f} MiB" if isinstance(kib, (int, float)) else "–"


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "–"


def _field(label: str, value: str, style: str = "") -> list:
    lines = str(value).splitlines() or [""]
    parts: list = [(f"  {label:<{LABEL_W}}", "bold $text-accent"), (lines[0], style), "\n"]
    for more in lines[1:]:
        parts += [" " * (LABEL_W + 2), (more, style), "\n"]
    return parts


def _heading(text: str) -> list:
    return [("\n" + text + "\n", "bold $text-primary")]


def _failure_line(f: dict) -> str:
    name = f"{f.get('group') or 'tests'} · {f.get('name') or '?'}"
    if f.get("call"):
        name += f": {f['call']}"
    if "expected" in f or "got" in f:
        return f"{name} → expected {f.get('expected', '?')}, got {f.get('got', '?')}"
    return f"{name} → {f.get('error') or 'failed'}"


def detail_content(model: RunModel, cid: str) -> Content:
    """The whole detail view of one version as styled text (plain text for tests: ``.plain``)."""
    task_id = model.task_of(cid)
    task = model.tasks.get(task_id) if task_id else None
    info = task.candidates.get(cid) if task else None
    results = [(p, r) for (c, p), r in (task.results.items() if task else []) if c == cid]
    order = {p: i for i, p in enumerate(model.profiles)}
    results.sort(key=lambda pr: (order.get(pr[0], len(order)), pr[0]))
    parts: list = [(cid, "bold")]
    if info is not None and info.label:
        parts.append(f" · {info.label}")
    parts.append(f" · task {task_id or '?'}")
    if not results:
        parts += ["\n\n", ("Still running: the details come with its result.", "$text-muted")]
        return Content.assemble(*parts)
    statuses = {r.get("status") for _, r in results}
    words = " / ".join(VERDICT_WORDS.get(s, str(s).upper()) for s in sorted(statuses, key=str))
    bad = any(s != "passed" for s in statuses)
    parts += [" · ", (words, "bold $text-error" if bad else "bold $text-success"), "\n"]
    for profile, r in results:
        prefix = f"{profile}: " if len(results) > 1 else ""
        parts.append((f"{prefix}{r.get('reason') or r.get('status')}\n", "$text-muted"))
    if info is not None and info.duplicate_of:
        parts.append((f"same program as {info.duplicate_of} (ran once, shares its verdict)\n", "$text-muted"))

    # the failing cases: of the first profile that has any
    failing = next(((p, r) for p, r in results if r.get("failures")), None)
    if failing is not None:
        profile, r = failing
        failures = [f for f in r["failures"] if isinstance(f, dict)]
        first = failures[0]
        where = f" ({profile})" if len(results) > 1 else ""
        parts += _heading(f"First failing case{where}: {first.get('group') or 'tests'} · {first.get('name') or '?'}")
        if first.get("call"):
            parts += _field("call", first["call"])
        if "expected" in first or "got" in first:
            parts += _field("expected", first.get("expected", "?"), "$text-success")
            parts += _field("got", first.get("got", "?"), "$text-error")
        if first.get("assertion"):  # the failing line of a check(candidate) test
            parts += _field("assertion", first["assertion"], "$text-error")
        if first.get("traceback"):
            parts += _field("Traceback", first["traceback"], "$text-error")
        if not any(k in first for k in ("expected", "got", "traceback", "assertion")):
            parts += _field("error", first.get("error") or "failed", "$text-error")
        others = failures[1:]
        if others:
            parts += _heading(f"Other failures ({len(others)})")
            for f in others[:MAX_OTHER_FAILURES]:
                parts += [f"  {_failure_line(f)}\n"]
            if len(others) > MAX_OTHER_FAILURES:
                parts.append((f"  … and {len(others) - MAX_OTHER_FAILURES} more\n", "$text-muted"))
    elif bad:
        parts += _heading("No failing case recorded") + [
            ("  the version did not get as far as a test (see the reason above)\n", "$text-muted")]

    causes = [(p, r["exit_cause"]) for p, r in results if r.get("exit_cause")]
    if causes:
        parts += _heading("How it ended")
        for p, cause in causes:
            parts += _field(p, cause)
    tails = [(p, r["stderr_tail"]) for p, r in results if r.get("stderr_tail")]
    if tails:
        p, tail = tails[0]
        parts += _heading(f"stderr, last {len(tail)} line(s)" + (f" ({p})" if len(results) > 1 else ""))
        parts += [(f"  {line}\n", "$text-error") for line in tail]

    parts += _heading("Time and memory per environment profile")
    header = f"  {'profile':<14}{'status':<10}{'tests':>8}{'median ms':>12}{'cpu s':>9}{'wall s':>9}{'peak memory':>14}\n"
    parts.append((header, "bold"))
    for p, r in results:
        tests = f"{r.get('tests_passed', 0)}/{r.get('tests_total', 0)}"
        parts.append(f"  {p:<14}{r.get('status')!s:<10}{tests:>8}{_num(r.get('median_ms'), '.3f'):>12}"
                     f"{_num(r.get('cpu_s'), '.2f'):>9}{_num(r.get('duration_s'), '.2f'):>9}"
                     f"{_mem(r.get('peak_kib')):>14}\n")

    winner = task.winner if task else None
    if winner and winner != cid and winner in task.candidates and info is not None:
        parts += _heading(f"Diff against the winner ({winner})")
        text = diff_text(task.candidates[winner].code, info.code, winner, cid)
        return Content.assemble(*parts) + highlight(text, language="diff", theme=DiffTheme)
    if winner == cid:
        parts += _heading("This version is the winner")
    return Content.assemble(*parts)


class DetailScreen(ModalScreen[None]):
    """A scrollable card over the workspace; escape, q or i closes it."""

    BINDINGS: ClassVar = [Binding("escape,q,i", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll { width: 120; max-width: 98%; height: auto; max-height: 95%;
        border: round $accent; border-title-color: $text; background: $surface; padding: 0 1; }
    DetailScreen Static { width: auto; }
    """

    def __init__(self, model: RunModel, candidate_id: str) -> None:
        super().__init__()
        self.model = model
        self.candidate_id = candidate_id
        self.content = detail_content(model, candidate_id)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll") as box:
            box.border_title = Content(f"Why · {self.candidate_id}")
            box.border_subtitle = "↑ ↓ pgup pgdn scroll · esc closes"
            yield Static(self.content, id="detail-text")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()
