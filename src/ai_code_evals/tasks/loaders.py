"""Load tasks from what the user names on the command line.

``load_tasks(spec)`` takes a task file (``.yaml``/``.yml`` with one task or a list,
``.jsonl``/``.jsonl.gz`` with HumanEval, MBPP or task rows), a pack directory, or the name
of a bundled pack (``demo``). Every problem is one InputError naming the file and line.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task
from ai_code_evals.tasks.build import Where, build_task
from ai_code_evals.tasks.files import iter_jsonl, read_text
from ai_code_evals.tasks.packs import is_pack_dir, list_packs, pack_dir, pack_task_dirs
from ai_code_evals.tasks.rows import row_task
from ai_code_evals.tasks.yamlfile import parse_yaml

__all__ = ["list_packs", "load_jsonl", "load_many", "load_pack", "load_tasks", "load_yaml"]

YAML_SUFFIXES = (".yaml", ".yml")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")


def load_tasks(spec: str | Path) -> list[Task]:
    """Tasks from a file, a pack directory or a bundled pack name."""
    path = Path(spec)
    name = str(spec)
    if path.is_dir():
        if not is_pack_dir(path):
            raise InputError("directory holds no tasks (expected <task>/task.yaml files)", path=name)
        return load_pack(path)
    if not path.exists():
        bundled = pack_dir(name)
        if bundled is not None:
            return load_pack(bundled, display=name)
        packs = ", ".join(list_packs()) or "none"
        raise InputError(f"no such task file or pack (bundled packs: {packs})", path=name)
    lower = name.lower()
    if lower.endswith(YAML_SUFFIXES):
        return load_yaml(path)
    if lower.endswith(JSONL_SUFFIXES):
        return load_jsonl(path)
    raise InputError("unknown task file type (expected .yaml, .yml, .jsonl or .jsonl.gz)", path=name)


def load_many(specs: Iterable[str | Path]) -> list[Task]:
    """Tasks from several specs, in order. The same task id twice is an error."""
    tasks: list[Task] = []
    seen: dict[str, Task] = {}
    for spec in specs:
        for task in load_tasks(spec):
            if task.id in seen:
                first = seen[task.id]
                path, _, line = task.source.rpartition(":")
                raise InputError(f"duplicate task id {task.id!r} (also at {first.source})",
                                 path=path or None, line=int(line) if line.isdigit() else None)
            seen[task.id] = task
            tasks.append(task)
    return tasks


def _check_unique(tasks: list[Task]) -> None:
    seen: dict[str, str] = {}
    for t in tasks:
        if t.id in seen:
            path, _, line = t.source.rpartition(":")
            raise InputError(f"duplicate task id {t.id!r} (first at line {seen[t.id].rpartition(':')[2]})",
                             path=path or None, line=int(line) if line.isdigit() else None)
        seen[t.id] = t.source


def load_yaml(path: str | Path, *, display: str | None = None) -> list[Task]:
    """Tasks from a YAML file: each document is one task (a mapping) or a list of tasks."""
    name = display or str(path)
    docs = parse_yaml(read_text(path), name)
    tasks: list[Task] = []
    for doc in docs:
        data = doc.data
        if data is None:
            continue
        if isinstance(data, list):
            for i, raw in enumerate(data):
                where = Where(name=name, line_of=lambda loc, i=i, doc=doc: doc.line((i, *loc)),
                              ordinal=len(tasks) + 1)
                tasks.append(build_task(raw, where))
        else:
            where = Where(name=name, line_of=doc.line, ordinal=len(tasks) + 1)
            tasks.append(build_task(data, where))
    if not tasks:
        raise InputError("no tasks in file", path=name)
    _check_unique(tasks)
    return tasks


def load_jsonl(path: str | Path, *, display: str | None = None) -> list[Task]:
    """Tasks from JSON Lines (optionally gzip): HumanEval, MBPP or task rows, one per line."""
    name = display or str(path)
    tasks = [row_task(row, name, line) for line, row in iter_jsonl(path)]
    if not tasks:
        raise InputError("no tasks in file", path=name)
    _check_unique(tasks)
    return tasks


def load_pack(path: Path, *, display: str | None = None) -> list[Task]:
    """Tasks of a pack directory; each task's id must equal its directory's name."""
    tasks: list[Task] = []
    for tdir in pack_task_dirs(path):
        tfile = tdir / "task.yaml"
        shown = f"{display}/{tdir.name}/task.yaml" if display else str(tfile)
        loaded = load_yaml(tfile, display=shown)
        if len(loaded) != 1:
            raise InputError("a pack's task.yaml must hold exactly one task", path=shown)
        task = loaded[0]
        if task.id != tdir.name:
            raise InputError(f"task id {task.id!r} differs from its directory name {tdir.name!r}",
                             path=shown, line=int(task.source.rpartition(":")[2]))
        tasks.append(task)
    if not tasks:
        raise InputError("pack holds no tasks", path=display or str(path))
    _check_unique(tasks)
    return tasks
