"""The engine's events written through an evals recorder, in the shapes our own run log uses.

``RecorderLog`` reuses ``RunLog.on_event`` (which event becomes which line, and the evals
``sampling``/``match`` pair for each candidate and result) and only replaces where a line goes:
evals' recorder, with ``record_sampling``/``record_match`` for evals' own types. So a log written
by ``oaieval`` holds the same ``candidate``/``snapshot``/``result``/``selection`` events as one
written by ``ai-code-evals run``, and replay reads either.

Two things evals does not do are added here: an ``error`` event with the full message for every
version that ends in status ``error`` and every engine error (evals' ``record_error`` keeps only
the exception's text), and a flush after each result (evals buffers events for 10 s).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ai_code_evals.core.events import CandidateFinished, EngineNotice, Event, TaskSelected
from ai_code_evals.engine.results import is_infrastructure_error
from ai_code_evals.runlog.writer import RunLog


def plain(data: Any) -> Any:
    """JSON-safe copy, serialised as our writer does (``default=str``): evals' encoder fails on
    types it does not know, and it fails at flush time, far from the cause."""
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


class RecorderLog(RunLog):
    """Subscribe ``on_event`` to the engine's bus. evals' recorder owns the log: every line goes
    there through ``record``, and RunLog's own file is the null device."""

    def __init__(self, recorder: Any) -> None:
        super().__init__(Path(os.devnull), recorder.run_spec.run_id, append=True)
        self.recorder = recorder
        self.errors: list[dict] = []

    def record(self, type_: str, sample_id: str, data: dict) -> None:
        data = plain(data)
        if type_ == "sampling":
            self.recorder.record_sampling(data.pop("prompt"), data.pop("sampled"), sample_id=sample_id, **data)
        elif type_ == "match":
            self.recorder.record_match(bool(data.pop("correct")), expected=data.pop("expected", None),
                                       picked=data.pop("picked", None), sample_id=sample_id, **data)
        else:
            self.recorder.record_event(type_, data, sample_id=sample_id)
        self.event_id += 1

    def record_error(self, sample_id: str, kind: str, message: str, **extra: Any) -> None:
        data = {"type": kind, "message": message, **extra}
        self.errors.append(data)
        self.record("error", sample_id, data)

    def on_event(self, event: Event) -> None:
        super().on_event(event)
        if isinstance(event, CandidateFinished):
            r = event.result
            if r.get("status") == "error":
                kind = "SandboxFailure" if is_infrastructure_error(r) else "CandidateError"
                self.record_error(event.candidate_id, kind, r.get("reason") or "error without a reason",
                                  candidate_id=event.candidate_id, task_id=event.task_id,
                                  profile=event.profile, failures=r.get("failures") or [])
            self.flush()
        elif isinstance(event, EngineNotice) and event.level == "error":
            self.record_error(event.candidate_id or "", "EngineError", event.message)
        elif isinstance(event, TaskSelected):
            self.flush()

    def flush(self) -> None:
        self.recorder.flush_events()

    def close(self, final_report: dict | None = None) -> None:
        """Flush what is left; evals writes the final report itself, after ``Eval.run`` returns."""
        self.flush()
        super().close()


def token_counts(usage: Any) -> dict[str, int]:
    """The ``*_tokens`` counts of a usage record (a dict, or the openai client's usage object)."""
    if hasattr(usage, "model_dump"):
        usage = usage.model_dump()
    if not isinstance(usage, dict):
        return {}
    return {k: v for k, v in usage.items()
            if k.endswith("_tokens") and isinstance(v, int) and not isinstance(v, bool)}


def normalise_usage(recorder: Any) -> None:
    """Make the in-memory ``sampling`` usages summable, after they are written to the log.

    After ``Eval.run`` oaieval adds up ``usage`` over all sampling events, key by key, taking
    the keys of the first one; it fails on a model name (our generator's usage records one), on
    the nested ``*_tokens_details`` objects newer openai clients report (evals' own OpenAI
    completion functions record those), and on a key the first usage lacks. Keeping only the
    token counts, with the same keys everywhere, lets it report ``usage_total_tokens`` instead.
    """
    events = [e for e in recorder.get_events("sampling") if isinstance(e.data, dict) and "usage" in e.data]
    counts = [token_counts(e.data["usage"]) for e in events]
    keys = sorted({k for c in counts for k in c})
    for event, count in zip(events, counts):
        event.data["usage"] = {k: count.get(k, 0) for k in keys}
