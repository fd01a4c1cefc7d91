"""The run model behind the TUI, built by ingesting (type, data) pairs.

Live engine events (``event.kind, event.to_data()``) and replayed run-log events (``type``,
``data``) go through the same ``RunModel.ingest``, so live and replay show the same thing.
No Textual import: widgets read from here, and time travel is an index into lists kept here,
so a jump costs the same whatever the length of the history.
"""
from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from pydantic import ValidationError

from ai_code_evals.core.events import (
    BackendStatus,
    CandidateAdded,
    CandidateFinished,
    EngineNotice,
    Event,
    GenerationDelta,
    OutputLine,
    RunFinished,
    RunStarted,
    Snapshot,
    TaskSelected,
    event_from_record,
)
from ai_code_evals.core.sanitize import sanitize_data, sanitize_text
from ai_code_evals.core.task import Weights
from ai_code_evals.engine.results import CandidateResult, is_infrastructure_error
from ai_code_evals.engine.scoring import combine_profiles, rank_key, score_task

E = TypeVar("E", bound=Event)

MODEL_LINE_CAP = 10_000  # output lines kept per pane in memory (the run log keeps its own)
VERDICT_WORDS = {
    "passed": "PASSED", "failed": "FAILED", "error": "ERROR", "timeout": "TIMEOUT",
    "killed": "KILLED", "skipped": "SKIPPED", "unchecked": "UNCHECKED",
}

FAILED_STATUSES = frozenset({"failed", "error", "timeout", "killed"})
PaneKey = tuple[str, str]  # (candidate_id, profile)
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key with numbers compared as numbers: HumanEval/2 before HumanEval/10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text))


def terminal_safe(event: E) -> E:
    """The event with every string in it made safe for a terminal (``core.sanitize``); the
    same object when nothing needed it (output lines, the bulk, mostly need nothing)."""
    if type(event) is OutputLine:
        text, cid = sanitize_text(event.text), sanitize_text(event.candidate_id)
        if text is event.text and cid is event.candidate_id and sanitize_text(event.profile) is event.profile:
            return event
    return type(event)(**sanitize_data(event.to_data()))


def format_ts(ts: float | None, start: float | None = None) -> str:
    """A snapshot's timestamp: UTC wall clock and the offset from the start of the run."""
    if ts is None:
        return ""
    clock = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"
    if start is not None:
        return f"{clock} (t+{max(0.0, ts - start):.1f}s)"
    return clock


def _tokens(usage) -> int:
    """Total tokens of a candidate's ``usage`` (0 when the endpoint did not say)."""
    if not isinstance(usage, dict):
        return 0
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    return sum(p for p in parts if isinstance(p, int))


@dataclass
class PaneModel:
    """One sandbox: a (candidate, profile) pair, its snapshots and its output."""

    candidate_id: str
    profile: str
    task_id: str
    snapshots: list[dict] = field(default_factory=list)
    timeline_pos: list[int] = field(default_factory=list)  # global timeline index of each snapshot
    # output, newest last: texts and a parallel stderr flag per line. Plain str and a bytearray,
    # not a tuple per line: no object the garbage collector has to walk (100k lines/s).
    lines: list[str] = field(default_factory=list)
    err: bytearray = field(default_factory=bytearray)
    base: int = 0  # number of oldest lines dropped from ``lines`` (memory cap)
    total: int = 0  # lines received so far
    result: dict | None = None

    @property
    def key(self) -> PaneKey:
        return (self.candidate_id, self.profile)

    @property
    def latest(self) -> dict | None:
        return self.snapshots[-1] if self.snapshots else None

    @property
    def status(self) -> str | None:
        """Final status once finished (result first, then the last snapshot)."""
        if self.result is not None:
            return self.result.get("status")
        snap = self.latest
        return snap.get("status") if snap else None

    def add_line(self, text: str, is_err: bool) -> None:
        self.lines.append(text)
        self.err.append(is_err)
        self.total += 1
        if len(self.lines) > MODEL_LINE_CAP + MODEL_LINE_CAP // 4:  # amortised O(1) trimming
            drop = len(self.lines) - MODEL_LINE_CAP
            del self.lines[:drop]
            del self.err[:drop]
            self.base += drop

    def tail(self, end: int, count: int) -> tuple[list[tuple[str, bool]], int]:
        """The up to ``count`` lines before stream position ``end``, and how many of those
        wanted lines are no longer in memory. O(count), independent of the history length."""
        end = max(0, min(end, self.total))
        want_start = max(0, end - count)
        start = max(self.base, want_start)
        missing = max(0, min(end, self.base) - want_start)
        if end <= start:
            return [], missing
        a, b = start - self.base, end - self.base
        return list(zip(self.lines[a:b], map(bool, self.err[a:b]))), missing

    def snapshot_index_at(self, timeline_index: int) -> int | None:
        """Index of this pane's last snapshot at or before a point of the global timeline."""
        i = bisect.bisect_right(self.timeline_pos, timeline_index) - 1
        return i if i >= 0 else None


@dataclass
class CandidateInfo:
    candidate_id: str
    task_id: str
    code: str = ""
    label: str = ""
    strategy: str = ""
    origin: str = ""
    error: str | None = None
    duplicate_of: str | None = None
    generating: bool = False  # partial text from a model that is still writing
    raw_reply: str | None = None  # the model's whole reply (LLM-generated candidates)
    tokens: int = 0  # total tokens the model spent on this candidate
    pos: int = 0  # length of the run's timeline when the candidate arrived (time travel)


@dataclass
class LeaderRow:
    """One leaderboard row: display cells and a rank; ``cells`` are plain strings."""

    candidate_id: str
    score: float | None
    tests: str
    errors: str
    median_ms: str
    peak_kib: str
    status: str
    pick: str  # "winner", "winner (you)", "engine pick" or ""
    finished: bool


@dataclass
class TaskModel:
    task_id: str
    entry_point: str = ""
    reference: str | None = None  # reference code when known
    has_reference: bool = False
    candidates: dict[str, CandidateInfo] = field(default_factory=dict)
    results: dict[PaneKey, dict] = field(default_factory=dict)
    engine_selection: dict | None = None  # {"winner", "reason", "strategy", "scores"}
    user_selection: dict | None = None  # {"winner", "reason"}
    # Arrival of results and selections on the run's timeline (``len(RunModel.timeline)`` when
    # ingested): results carry no timestamp, and arrival order is what the panes step through.
    result_pos: dict[PaneKey, int] = field(default_factory=dict)
    engine_selection_pos: int = 0
    user_selection_pos: int = 0

    def selections_at(self, at: int | None = None) -> tuple[dict | None, dict | None]:
        """(engine, user) selection as known at timeline point ``at``; None = live."""
        engine = self.engine_selection if arrived(self.engine_selection_pos, at) else None
        user = self.user_selection if arrived(self.user_selection_pos, at) else None
        return engine, user

    def winner_at(self, at: int | None = None) -> str | None:
        """The user's pick when there is one, else the engine's."""
        engine, user = self.selections_at(at)
        if user and user.get("winner"):
            return user["winner"]
        return (engine or {}).get("winner")

    def reason_at(self, at: int | None = None) -> str:
        engine, user = self.selections_at(at)
        if user and user.get("winner"):
            text = f"your pick: {user['winner']}"
            eng = engine or {}
            if eng.get("winner") and eng["winner"] != user["winner"]:
                text += f" · engine picked {eng['winner']}: {eng.get('reason', '')}"
            return text
        if engine:
            return engine.get("reason") or "no winner"
        return "selection when every candidate has finished"

    @property
    def winner(self) -> str | None:
        return self.winner_at(None)

    @property
    def reason(self) -> str:
        return self.reason_at(None)


def arrived(pos: int, at: int | None) -> bool:
    """Whether something ingested at timeline length ``pos`` is known at timeline point ``at``:
    the moment shown lasts from snapshot ``at`` until the next one, so events that came right
    after it (a result after its 'finished' snapshot) count. None = live: everything."""
    return at is None or pos <= at + 1


class RunModel:
    """Everything the TUI shows, with dirty sets that the UI drains on its refresh timer."""

    def __init__(self) -> None:
        self.run_id = ""
        self.backend = ""
        self.isolation = ""
        self.unsafe_isolation = ""
        self.select = ""
        self.profiles: list[str] = []
        self.started_at: float | None = None
        self.finished = False
        self.interrupted = False
        self.summary: dict | None = None
        self.tasks: dict[str, TaskModel] = {}
        self.task_ids: list[str] = []  # task ids in natural order (HumanEval/2 before HumanEval/10)
        self._task_keys: list[tuple] = []
        self._cand_task: dict[str, str] = {}  # candidate id -> task id
        self.panes: dict[PaneKey, PaneModel] = {}
        self.pane_order: list[PaneKey] = []
        self.panes_of: dict[str, list[PaneKey]] = {}  # candidate id -> its panes (one per profile)
        self._order_keys: list[tuple] = []  # sort keys of pane_order: grouped by task, then candidate
        self._cand_ordinal: dict[str, int] = {}
        self.timeline: list[PaneKey] = []  # every snapshot of the run, in arrival order
        self.lines_total = 0
        self.results_done = 0  # panes with a result
        self.results_failed = 0  # of those, finished without passing (failed, error, timeout, killed)
        self.tokens = 0  # tokens the model spent on this run's candidates (as far as reported)
        # change tracking, drained by the UI
        self.version = 0
        self.dirty_panes: set[PaneKey] = set()
        self.dirty_tasks: set[str] = set()
        self.dirty_code: set[str] = set()  # candidate ids whose code changed
        self.notices: list[tuple[str, str]] = []  # (level, message)
        self.backend_status = ""  # the backend's own line (Daytona: sandboxes, create rate, throttling)
        self.infrastructure_failed: set[PaneKey] = set()  # results that are infrastructure errors

    # -- ingest ------------------------------------------------------------------------------
    def ingest_event(self, event: Event) -> None:
        """Apply one engine event (live, or parsed back from a log by ``ingest``)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            # the one door through which untrusted text (candidate output and code, task ids,
            # reasons, notices; live or from a log) reaches the screen: terminal-safe from here on
            handler(self, terminal_safe(event))
            self.version += 1

    def ingest(self, type_: str, data: dict) -> None:
        """Apply one line of a run log: parsed back into the engine's event type. Lines that are
        no engine event (evals' own ``sampling``, ``match`` ...) are ignored, except ``task``;
        missing fields never raise, so a damaged log still shows what it can."""
        if type_ == "task":
            self._on_task(sanitize_data(data if isinstance(data, dict) else {}))
            self.version += 1
            return
        event = event_from_record(type_, data or {})
        if event is not None:
            self.ingest_event(event)

    def ingest_record(self, record) -> None:
        """A ``RunRecord`` from ``runlog.reader.read_record``: events, then the final report."""
        run_config = (record.spec or {}).get("run_config") or {}
        self.run_id = record.spec.get("run_id", "") if record.spec else ""
        for ev in record.events:
            self.ingest(ev.get("type", ""), ev.get("data") or {})
        for task in run_config.get("tasks", []) if isinstance(run_config.get("tasks"), list) else []:
            if isinstance(task, dict) and task.get("id") in self.tasks and task.get("reference"):
                self.tasks[task["id"]].reference = task["reference"]
        report = record.final_report or {}
        if report:
            self.summary = report
            self.finished = True
            for task_id, sel in (report.get("user_selections") or {}).items():
                if task_id in self.tasks and isinstance(sel, dict):
                    self.tasks[task_id].user_selection = dict(sel)
                    self.tasks[task_id].user_selection_pos = len(self.timeline)
                    self.dirty_tasks.add(task_id)
        self.version += 1

    def _task(self, task_id: str) -> TaskModel:
        task = self.tasks.get(task_id)
        if task is None:
            task = self.tasks[task_id] = TaskModel(task_id=task_id)
            key = natural_key(task_id) + (task_id,)
            i = bisect.bisect_right(self._task_keys, key)
            self._task_keys.insert(i, key)
            self.task_ids.insert(i, task_id)
        return task

    def task_position(self, task_id: str) -> int:
        """Index of a known task in ``task_ids`` (natural order), in O(log tasks)."""
        return bisect.bisect_left(self._task_keys, natural_key(task_id) + (task_id,))

    def _on_run_started(self, ev: RunStarted) -> None:
        self.run_id = ev.run_id or self.run_id
        self.backend = ev.backend or ""
        self.isolation = ev.isolation or ""
        self.unsafe_isolation = ev.unsafe_isolation or ""
        self.select = ev.select or ""
        self.profiles = list(ev.profiles or [])
        self.started_at = ev.ts
        for t in [t for t in ev.tasks or [] if isinstance(t, dict)]:
            task = self._task(t.get("task_id", "?"))
            task.entry_point = t.get("entry_point", "")
            ref = t.get("reference")
            task.has_reference = task.has_reference or bool(ref)
            if isinstance(ref, str) and ref:
                task.reference = ref
            if t.get("reference_code"):
                task.reference = t["reference_code"]
                task.has_reference = True
            self.dirty_tasks.add(task.task_id)

    def _on_task(self, d: dict) -> None:
        """The run log's ``task`` line (a Task model dump): entry point and reference code."""
        task = self._task(d.get("id", "?"))
        task.entry_point = d.get("entry_point", task.entry_point)
        if isinstance(d.get("reference"), str) and d["reference"]:
            task.reference = d["reference"]
            task.has_reference = True
        self.dirty_tasks.add(task.task_id)

    def _on_candidate(self, ev: CandidateAdded) -> None:
        cid = ev.candidate_id or "?"
        task = self._task(ev.task_id or "?")
        self._cand_ordinal.setdefault(cid, len(task.candidates))
        self._cand_task[cid] = task.task_id
        task.candidates[cid] = CandidateInfo(
            candidate_id=cid, task_id=task.task_id, code=ev.code or "", label=ev.label or "",
            strategy=ev.strategy or "", origin=ev.origin or "", error=ev.error,
            duplicate_of=ev.duplicate_of, raw_reply=ev.raw_reply,
            tokens=_tokens(ev.usage),
            pos=old.pos if (old := task.candidates.get(cid)) is not None else len(self.timeline))
        self.tokens += task.candidates[cid].tokens - (old.tokens if old is not None else 0)
        self.dirty_tasks.add(task.task_id)
        self.dirty_code.add(cid)

    def _on_generation_delta(self, ev: GenerationDelta) -> None:
        cid = ev.candidate_id or "?"
        task = self._task(ev.task_id or "?")
        info = task.candidates.get(cid)
        if info is None:
            self._cand_task[cid] = task.task_id
            info = task.candidates[cid] = CandidateInfo(cid, task.task_id, generating=True,
                                                        pos=len(self.timeline))
            self.dirty_tasks.add(task.task_id)
        if info.generating:
            if ev.reset:  # the request is being retried: what arrived so far is void
                info.code = ""
            info.code += str(ev.text or "")
            self.dirty_code.add(cid)

    def _pane(self, cid: str, profile: str, task_id: str | None) -> PaneModel:
        key = (cid, profile)
        pane = self.panes.get(key)
        if pane is None:
            if task_id is None:
                task_id = next((t.task_id for t in self.tasks.values() if cid in t.candidates),
                               cid.rsplit("#", 1)[0])
            pane = self.panes[key] = PaneModel(cid, profile, task_id)
            self._insert_ordered(key, task_id)
            self.panes_of.setdefault(cid, []).append(key)
        return pane

    def _insert_ordered(self, key: PaneKey, task_id: str) -> None:
        """Panes are grouped by task (natural order of ids), then candidate (arrival), then profile."""
        sort_key = (natural_key(task_id), task_id, self._cand_ordinal.get(key[0], 1_000_000),
                    self.profiles.index(key[1]) if key[1] in self.profiles else len(self.profiles),
                    len(self.panes))
        i = bisect.bisect_right(self._order_keys, sort_key)
        self._order_keys.insert(i, sort_key)
        self.pane_order.insert(i, key)

    def _on_snapshot(self, ev: Snapshot) -> None:
        pane = self._pane(ev.candidate_id or "?", ev.profile or "default", ev.task_id or None)
        pane.snapshots.append(ev.to_data())  # what the widgets and time travel read
        pane.timeline_pos.append(len(self.timeline))
        self.timeline.append(pane.key)
        self.dirty_panes.add(pane.key)
        if pane.result is None:
            self.dirty_tasks.add(pane.task_id)  # the leaderboard shows progress of unfinished rows

    def _on_stdout(self, ev: OutputLine) -> None:
        key = (ev.candidate_id or "?", ev.profile or "default")
        pane = self.panes.get(key) or self._pane(key[0], key[1], None)
        pane.add_line(str(ev.text), ev.stream == "stderr")
        self.lines_total += 1

    def _on_result(self, ev: CandidateFinished) -> None:
        pane = self._pane(ev.candidate_id or "?", ev.profile or "default", ev.task_id or None)
        result = ev.result if isinstance(ev.result, dict) else {}
        if pane.result is not None:  # a result replaced (resume): count it once
            self.results_done -= 1
            self.results_failed -= pane.result.get("status") in FAILED_STATUSES
        self.results_done += 1
        self.results_failed += result.get("status") in FAILED_STATUSES
        pane.result = result
        if is_infrastructure_error(result):
            self.infrastructure_failed.add(pane.key)
        else:  # a resumed run's new result replaces the failed one
            self.infrastructure_failed.discard(pane.key)
        task = self._task(pane.task_id)
        task.results[pane.key] = result
        task.result_pos[pane.key] = len(self.timeline)
        self.dirty_panes.add(pane.key)
        self.dirty_tasks.add(pane.task_id)

    def _on_selection(self, ev: TaskSelected) -> None:
        task = self._task(ev.task_id or "?")
        sel = {"winner": ev.winner or None, "reason": ev.reason or "",
               "strategy": ev.strategy or "", "scores": ev.scores or {}}
        if ev.by == "user":
            task.user_selection = {"winner": sel["winner"], "reason": sel["reason"]}
            task.user_selection_pos = len(self.timeline)
        else:
            task.engine_selection = sel
            task.engine_selection_pos = len(self.timeline)
        self.dirty_tasks.add(task.task_id)

    def _on_notice(self, ev: EngineNotice) -> None:
        msg = str(ev.message or "")
        if ev.candidate_id and ev.candidate_id not in msg:
            msg = f"{ev.candidate_id}: {msg}"
        self.notices.append((ev.level or "warning", msg))

    def _on_backend_status(self, ev: BackendStatus) -> None:
        self.backend_status = str(ev.text or "")

    def infrastructure_errors(self) -> int:
        """Panes whose result is no verdict because the infrastructure failed."""
        return len(self.infrastructure_failed)

    def _on_run_finished(self, ev: RunFinished) -> None:
        self.finished = True
        self.interrupted = bool(ev.interrupted)
        if ev.summary:
            self.summary = ev.summary

    _handlers: ClassVar[dict] = {
        RunStarted: _on_run_started,
        CandidateAdded: _on_candidate,
        GenerationDelta: _on_generation_delta,
        Snapshot: _on_snapshot,
        OutputLine: _on_stdout,
        CandidateFinished: _on_result,
        TaskSelected: _on_selection,
        EngineNotice: _on_notice,
        RunFinished: _on_run_finished,
        BackendStatus: _on_backend_status,
    }

    # -- queries --------------------------------------------------------------------------
    @property
    def expected_panes(self) -> int:
        """Sandboxes the run will have: every known version under every profile."""
        return max(len(self.panes), len(self._cand_task) * max(1, len(self.profiles)))

    def pane_snapshot(self, key: PaneKey, index: int | None) -> tuple[dict | None, int]:
        """(snapshot, output position) of a pane at snapshot ``index``; None = live."""
        pane = self.panes[key]
        if index is None or not pane.snapshots:
            return pane.latest, pane.total
        index = max(0, min(index, len(pane.snapshots) - 1))
        snap = pane.snapshots[index]
        return snap, int(snap.get("output_lines") or 0)

    def leaderboard(self, task_id: str, at: int | None = None) -> list[LeaderRow]:
        """Rows of one task, best first. Scores are the engine's once it has selected;
        before that a provisional score from the same formula with default weights.
        ``at``: a point of the global timeline (time travel): only the results and selections
        that had arrived by then, unfinished rows in their state of then; None = live."""
        task = self.tasks.get(task_id)
        if task is None:
            return []
        results = task.results if at is None else {
            k: v for k, v in task.results.items() if arrived(task.result_pos.get(k, 0), at)}
        engine_sel, user_sel = task.selections_at(at)
        profiles = self.profiles or sorted({p for (_, p) in results})
        per_profile: dict[str, list[CandidateResult]] = {}
        for (cid, prof), raw in results.items():
            try:
                per_profile.setdefault(prof, []).append(CandidateResult.model_validate(raw))
            except (ValidationError, TypeError):  # a damaged result: show the candidate as an error row
                per_profile.setdefault(prof, []).append(
                    CandidateResult(candidate_id=cid, task_id=task_id, profile=prof, status="error",
                                    reason="unreadable result"))
        for rows in per_profile.values():
            score_task(rows, Weights())
        by_cand: dict[str, list[CandidateResult]] = {}
        for prof in profiles or list(per_profile):
            for r in per_profile.get(prof, []):
                by_cand.setdefault(r.candidate_id, []).append(r)
        for prof, rows in per_profile.items():  # profiles not announced (damaged logs)
            if prof not in profiles:
                for r in rows:
                    by_cand.setdefault(r.candidate_id, []).append(r)
        engine_scores = (engine_sel or {}).get("scores") or {}
        combined = {cid: combine_profiles(rs) for cid, rs in by_cand.items()}
        for cid, r in combined.items():
            if cid in engine_scores and engine_scores[cid] is not None:
                r.score = engine_scores[cid]
        finished = sorted(combined.values(), key=rank_key)
        engine_winner = (engine_sel or {}).get("winner")
        user_winner = (user_sel or {}).get("winner")
        out: list[LeaderRow] = []
        for r in finished:
            out.append(LeaderRow(
                candidate_id=r.candidate_id, score=r.score,
                tests=f"{r.tests_passed}/{r.tests_total}",
                errors=f"{r.errors_handled}/{r.errors_total}" if r.errors_total else "–",
                median_ms=f"{r.median_ms:.3f}" if r.median_ms is not None else "–",
                peak_kib=str(r.peak_kib) if r.peak_kib is not None else "–",
                status=r.status + (" (profiles differ)" if r.reason.startswith("differs") else ""),
                pick=_pick(r.candidate_id, engine_winner, user_winner), finished=True))
        # candidates still running (or generating), in arrival order, after the finished ones
        for cid, info in task.candidates.items():
            if cid in combined or not arrived(info.pos, at):
                continue
            out.append(LeaderRow(
                candidate_id=cid, score=None, tests="", errors="", median_ms="",
                peak_kib="", status="generating" if info.generating else self._state(cid, at),
                pick=_pick(cid, engine_winner, user_winner), finished=False))
        return out

    def _state(self, cid: str, at: int | None = None) -> str:
        """Progress of an unfinished candidate: its most advanced pane's state and step
        (at timeline point ``at``; None = live)."""
        snaps = []
        for k in self.panes_of.get(cid, ()):
            pane = self.panes[k]
            i = len(pane.snapshots) - 1 if at is None else pane.snapshot_index_at(at)
            if i is not None and i >= 0:
                snaps.append(pane.snapshots[i])
        for state in ("running", "scoring", "starting", "queued", "finished"):
            for s in snaps:
                if s.get("state") == state:
                    if state == "running" and s.get("tests_total"):
                        return f"running {s.get('test_index', 0)}/{s['tests_total']}"
                    return state
        return "queued"

    def code_of(self, candidate_id: str) -> str | None:
        task = self.tasks.get(self._cand_task.get(candidate_id, ""))
        info = task.candidates.get(candidate_id) if task else None
        return info.code if info else None

    def task_of(self, candidate_id: str) -> str | None:
        if candidate_id in self._cand_task:
            return self._cand_task[candidate_id]
        keys = self.panes_of.get(candidate_id)
        return self.panes[keys[0]].task_id if keys else None

    def drain(self) -> tuple[set[PaneKey], set[str], set[str], list[tuple[str, str]]]:
        """Take the pending changes (panes, tasks, code, notices) for one UI refresh."""
        out = (self.dirty_panes, self.dirty_tasks, self.dirty_code, self.notices)
        self.dirty_panes, self.dirty_tasks, self.dirty_code, self.notices = set(), set(), set(), []
        return out


def _pick(cid: str, engine_winner: str | None, user_winner: str | None) -> str:
    if user_winner:
        if cid == user_winner:
            return "winner (you)"
        return "engine pick" if cid == engine_winner else ""
    return "winner" if cid == engine_winner else ""
