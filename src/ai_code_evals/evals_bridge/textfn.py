"""Any evals ``CompletionFn`` that answers with text, used as the engine's generator.

``oaieval gpt-4o-mini code-evals.humaneval`` hands ``CodeEval`` one of evals' own completion
functions: it is asked N times with the project's code prompt, and the code is taken out of each
reply (fenced blocks, prose, body-only completions) by ``generation.extract``. A reply without
usable code, or a call that raises, becomes a version with status ``error`` that keeps the full
message, so one bad sample never stops the run.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ai_code_evals.core.candidate import Candidate, candidate_id
from ai_code_evals.core.task import Task
from ai_code_evals.generation.dedupe import Deduper
from ai_code_evals.generation.extract import NO_CODE, NoUsableCode, extract_program
from ai_code_evals.generation.prompts import CODE_SYSTEM, task_spec

__all__ = ["NO_CODE", "CompletionFnGenerator", "code_messages"]


def code_messages(task: Task) -> list[dict]:
    return [{"role": "system", "content": CODE_SYSTEM}, {"role": "user", "content": task_spec(task)}]


def describe(fn: Any) -> str:
    model = getattr(fn, "model", None)
    return f"{type(fn).__name__}({model})" if model else type(fn).__name__


class CompletionFnGenerator:
    """Generator protocol over a text completion function. ``recorder`` (evals') is made the
    default recorder around each call, so functions that record their own ``sampling`` events
    (evals' OpenAI ones) can, from the worker thread the call runs in."""

    name = "completion_fn"

    def __init__(self, fn: Any, recorder: Any = None) -> None:
        self.fn = fn
        self.recorder = recorder
        self.label = describe(fn)

    def _call(self, messages: list[dict], sample_id: str) -> list[str]:
        scope = (self.recorder.as_default_recorder(sample_id) if self.recorder is not None
                 else contextlib.nullcontext())
        with scope:
            result = self.fn(messages)
        return [t if isinstance(t, str) else str(t) for t in result.get_completions()]

    def _candidate(self, task: Task, k: int, text: str, messages: list[dict]) -> Candidate:
        base = {"id": candidate_id(task.id, k), "task_id": task.id, "strategy": "completion_fn",
                "origin": "completion_fn", "raw_reply": text,
                "request": {"completion_fn": self.label, "messages": messages}}
        try:
            extracted = extract_program(text, task.entry_point,
                                        prompt=task.prompt if task.completion_style else "",
                                        signature=task.signature)
        except NoUsableCode as exc:
            return Candidate(**base, code="", label=f"{self.label} #{k}", error=str(exc),
                             extraction={"error": str(exc)})
        notes = f"; {', '.join(extracted.notes)}" if extracted.notes else ""
        return Candidate(**base, code=extracted.code, label=f"{self.label} #{k}{notes}",
                         extraction={"notes": extracted.notes})

    async def generate(self, task: Task, n: int):
        messages = code_messages(task)
        deduper = Deduper()
        k = 0
        while k < n:
            try:
                texts = await asyncio.to_thread(self._call, messages, candidate_id(task.id, k))
            except Exception as exc:  # noqa: BLE001 - any failure of the function is this version's error
                texts = None
                error = f"the completion function {self.label} failed: {type(exc).__name__}: {exc}"
            else:
                error = f"the completion function {self.label} returned no completions"
            if not texts:
                yield Candidate(id=candidate_id(task.id, k), task_id=task.id, code="", label=f"{self.label} #{k}",
                                strategy="completion_fn", origin="completion_fn", error=error)
                k += 1
                continue
            for text in texts[: n - k]:
                yield deduper.mark(self._candidate(task, k, text, messages))
                k += 1
