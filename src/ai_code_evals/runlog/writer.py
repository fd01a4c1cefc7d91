"""The run log writer: OpenAI Evals' record format, one line per event.

evals' own recorder buffers for seconds; here a line that matters reaches the kernel before the
call that wrote it returns: a result (and its ``match``), a selection (the engine's or the
user's), a reference check, the end of the run, the spec and the final report. A kill -9 then
loses none of them, and the reader skips a half-written last line. The rest (snapshots, output
lines, candidates, notices) is flushed together at most ``BATCH_DELAY_S`` later, or with the
next line that matters, whichever comes first: one write per batch instead of one per line was
most of the log's cost per candidate (benchmarks/bench_engine.py). Lines keep their order.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import IO

from ai_code_evals.core.appclock import timed
from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import (
    CandidateAdded,
    CandidateFinished,
    Event,
    GenerationDelta,
    OutputLine,
    RunFinished,
)

CREATED_BY = "ai-code-evals"
MAX_LOGGED_LINES = 400  # per (candidate, profile); the rest is counted in the result
# written and flushed before ``on_event``/``record`` returns (see the module docstring)
FLUSH_AT_ONCE = frozenset({"result", "match", "selection", "reference_check", "run_finished", "resumed",
                           "task", "generated_tests"})
# flushed at the end of the current event-loop tick: a model's candidate costs money to make again
FLUSH_THIS_TICK = frozenset({"candidate", "sampling", "notice", "run_started"})
BATCH_DELAY_S = 0.05  # the longest any other line waits in the buffer (snapshots, output lines)
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # = json.dumps(obj, default=str, ensure_ascii=False)


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class RunLog:
    """Subscribe ``RunLog.on_event`` to the bus; call ``close()`` once the run is over.

    The ``final_report`` is written by ``close()`` so that a user's pick in the TUI after the
    run finished still lands before it; a log without ``final_report`` is resumable.
    """

    def __init__(self, path: Path, run_id: str, spec: dict | None = None, *, append: bool = False,
                 next_event_id: int = 0) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.event_id = next_event_id
        self.summary: dict | None = None
        self.user_selections: dict[str, dict] = {}
        self._lines: dict[tuple[str, str], int] = {}
        self._fh: IO[str] | None = None
        self._flush_handle: asyncio.Handle | None = None  # a pending batch's flush
        self._flush_due = 0.0  # loop time at which it runs
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        self._deferred_error: InputError | None = None  # a batch flush failed: raised by the next write
        self._hold = False  # True while writing a result: its ``match`` line, next, flushes both
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot write the run log: {exc.strerror or exc}", path=str(self.path)) from None
        try:
            self._fh = open(self.path, "a" if append else "x", encoding="utf-8")  # noqa: SIM115 - open for the whole run
        except FileExistsError:
            raise InputError("the record file already exists; choose another --record path",
                             path=str(self.path)) from None
        except OSError as exc:
            raise InputError(f"cannot write the run log: {exc.strerror or exc}", path=str(self.path)) from None
        if not append:
            self._write({"spec": {"run_id": run_id, "eval_name": "ai-code-evals.run",
                                  "completion_fns": [], "run_config": {}, "created_by": CREATED_BY,
                                  "created_at": iso_now(), **(spec or {})}})

    @timed("logging")
    def _write(self, obj: dict) -> None:
        """Buffer one line; flush now, at the end of this loop tick or within BATCH_DELAY_S,
        by the line's type. Outside a running event loop every line is flushed at once."""
        if self._fh is None:
            if self._deferred_error is not None:
                error, self._deferred_error = self._deferred_error, None
                raise error
            return
        line = _ENCODER.encode(obj)
        try:
            self._fh.write(line + "\n")
        except OSError as exc:
            self._fail(exc)
        if self._hold:
            return
        kind = obj.get("type")
        if kind is None or kind in FLUSH_AT_ONCE:  # spec, final report, results...
            self._flush_now()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush_now()
            return
        self._flush_later(loop, 0.0 if kind in FLUSH_THIS_TICK else BATCH_DELAY_S)

    def _flush_later(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        due = loop.time() + delay
        if self._flush_handle is not None:
            if self._flush_loop is loop and self._flush_due <= due:
                return  # an earlier flush already covers this line
            self._flush_handle.cancel()
        self._flush_loop, self._flush_due = loop, due
        self._flush_handle = (loop.call_soon(self._flush_batch) if delay <= 0
                              else loop.call_later(delay, self._flush_batch))

    def _flush_batch(self) -> None:
        self._flush_handle = None
        try:
            self._flush_now()
        except InputError as exc:  # no caller to raise to: the next write raises it
            self._deferred_error = exc

    @timed("logging")
    def _flush_now(self) -> None:
        """Push every buffered line to the kernel now. (Not ``flush``: evals_bridge's RecorderLog
        has its own ``flush``, which flushes evals' recorder.)"""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._fh is None:
            return
        try:
            self._fh.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        """A full disk: stop logging and say why (the session stops the run)."""
        fh, self._fh = self._fh, None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()  # else the buffered half line fails again, noisily, at garbage collection
        raise InputError(f"cannot write the run log: {exc.strerror or exc}", path=str(self.path)) from None

    def record(self, type_: str, sample_id: str, data: dict) -> None:
        self._write({"run_id": self.run_id, "event_id": self.event_id, "sample_id": sample_id,
                     "type": type_, "data": data, "created_by": CREATED_BY, "created_at": iso_now()})
        self.event_id += 1

    def on_event(self, event: Event) -> None:
        if isinstance(event, GenerationDelta):
            return  # the finished candidate is recorded; partial text is UI-only
        if isinstance(event, OutputLine):
            key = (event.candidate_id, event.profile)
            n = self._lines.get(key, 0)
            self._lines[key] = n + 1
            if n >= MAX_LOGGED_LINES:
                return
        if isinstance(event, RunFinished):
            if not event.interrupted:
                self.summary = event.summary
            self.record("run_finished", "", {"interrupted": event.interrupted})
            return
        sample_id = getattr(event, "candidate_id", None) or getattr(event, "task_id", None) or ""
        finished = isinstance(event, CandidateFinished)
        self._hold = finished
        try:
            self.record(event.kind, sample_id, event.to_data())
        finally:
            self._hold = False
        # evals' own event types, so evals tooling reads the log
        if isinstance(event, CandidateAdded):
            # evals' meaning: the prompt sent (the exact messages, for a model) and what came back
            prompt = event.request.get("messages") if event.request else None
            sampling = {"prompt": prompt or event.task_id, "sampled": [event.code], "strategy": event.strategy}
            if event.usage:  # LLM-generated: model, tokens, temperature, attempts
                sampling["usage"] = event.usage
            if event.raw_reply is not None and event.error:  # no usable code: what the model said
                sampling["sampled"] = [event.raw_reply]
            self.record("sampling", event.candidate_id, sampling)
        elif finished:
            r = event.result
            self.record("match", event.candidate_id,
                        {"correct": r.get("status") == "passed", "expected": "all tests pass",
                         "picked": r.get("status"), "profile": event.profile})

    def note_user_selection(self, task_id: str, winner: str, reason: str) -> None:
        self.user_selections[task_id] = {"winner": winner, "reason": reason}

    def close(self, final_report: dict | None = None) -> None:
        """Write the final report (when the run finished) and close. Idempotent."""
        if self._fh is None:
            return
        self._flush_now()  # what the batch holds goes before the final report
        report = final_report or self.summary
        if report is not None:
            report = dict(report)
            if self.user_selections:
                report["user_selections"] = self.user_selections
            self._write({"final_report": report, "run_id": self.run_id})
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass
        self._fh.close()
        self._fh = None
