"""The run log writer: OpenAI Evals' record format, one line per event, flushed at once.

evals' own recorder buffers for seconds; here every line reaches the kernel as it happens, so
kill -9 loses at most the line being written, and the reader skips that half line.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import IO

from ai_code_evals.engine.events import (
    CandidateAdded,
    CandidateFinished,
    Event,
    GenerationDelta,
    OutputLine,
    RunFinished,
)
from ai_code_evals.errors import InputError

CREATED_BY = "ai-code-evals"
MAX_LOGGED_LINES = 400  # per (candidate, profile); the rest is counted in the result


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

    def _write(self, obj: dict) -> None:
        if self._fh is None:
            return
        line = json.dumps(obj, default=str, ensure_ascii=False)
        try:
            self._fh.write(line + "\n")
            self._fh.flush()
        except OSError as exc:  # a full disk: stop logging and say why (the session stops the run)
            fh, self._fh = self._fh, None
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
        self.record(event.kind, sample_id, event.to_data())
        # evals' own event types, so evals tooling reads the log
        if isinstance(event, CandidateAdded):
            sampling = {"prompt": event.task_id, "sampled": [event.code], "strategy": event.strategy}
            if event.usage:  # LLM-generated: model, tokens, temperature, attempts
                sampling["usage"] = event.usage
            if event.raw_reply is not None:  # no usable code: keep what the model said
                sampling["sampled"] = [event.raw_reply]
            self.record("sampling", event.candidate_id, sampling)
        elif isinstance(event, CandidateFinished):
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
