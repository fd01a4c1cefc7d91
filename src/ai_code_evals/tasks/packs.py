"""Task packs: a directory of tasks, each with hand-written versions of its function.

Layout (the bundled ``demo`` pack lives in ``packs/demo`` next to this module)::

    <pack>/pack.yaml                  optional: description, and the order of the tasks
    <pack>/<task_id>/task.yaml        one task (its id must equal the directory name)
    <pack>/<task_id>/variants/*.py    hand-written versions, in file-name order

A version file starts with header comments that are not part of the code::

    # label: correct, O(n) with a hash map
    # kind: fast
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ai_code_evals.core.errors import InputError
from ai_code_evals.tasks.files import read_text
from ai_code_evals.tasks.yamlfile import parse_yaml

PACKS_DIR = Path(__file__).resolve().parent / "packs"
_HEADER = re.compile(r"^#\s*(label|kind)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Variant:
    """One hand-written version of a task's function."""

    label: str  # what it is, in a few words ("correct, O(n^2) nested loops")
    kind: str  # what it is meant to show: fast, slow, wrong, crash, hang, noisy, memory, fragile, ...
    code: str  # the program, without the header comments
    path: Path


def list_packs() -> list[str]:
    """Names of the bundled packs."""
    if not PACKS_DIR.is_dir():
        return []
    return sorted(p.name for p in PACKS_DIR.iterdir() if p.is_dir() and is_pack_dir(p))


def pack_dir(name: str) -> Path | None:
    """The bundled pack called ``name``, or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    p = PACKS_DIR / name
    return p if p.is_dir() and is_pack_dir(p) else None


def is_pack_dir(path: Path) -> bool:
    return (path / "pack.yaml").is_file() or any(path.glob("*/task.yaml"))


def pack_task_dirs(path: Path) -> list[Path]:
    """The pack's task directories, in the order its pack.yaml gives (else by name)."""
    index = path / "pack.yaml"
    if index.is_file():
        name = str(index)
        docs = parse_yaml(read_text(index), name)
        meta = docs[0].data if docs else None
        order = meta.get("tasks") if isinstance(meta, dict) else None
        if order is not None:
            if not isinstance(order, list) or not all(isinstance(t, str) for t in order):
                raise InputError("'tasks' must be a list of task directory names", path=name,
                                 line=docs[0].line(("tasks",)))
            dirs = []
            for i, t in enumerate(order):
                d = path / t
                if not (d / "task.yaml").is_file():
                    raise InputError(f"task {t!r} has no {t}/task.yaml", path=name, line=docs[0].line(("tasks", i)))
                dirs.append(d)
            return dirs
    return sorted(p.parent for p in path.glob("*/task.yaml"))


def read_variant(path: Path) -> Variant:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read version: {e}", path=str(path)) from None
    meta: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = _HEADER.match(lines[i])
        if not m:
            break
        meta[m.group(1)] = m.group(2)
        i += 1
    code = "".join(lines[i:]).lstrip("\n")
    label = meta.get("label") or path.stem.replace("_", " ")
    return Variant(label=label, kind=meta.get("kind", ""), code=code, path=path)


def task_variants(task_dir: Path) -> list[Variant]:
    vdir = task_dir / "variants"
    if not vdir.is_dir():
        return []
    return [read_variant(p) for p in sorted(vdir.glob("*.py"))]


def pack_variants(task_id: str, packs: list[str | Path] | None = None) -> list[Variant]:
    """Hand-written versions of ``task_id`` from the given packs (names or directories;
    default: every bundled pack). Empty when no pack has that task."""
    dirs: list[Path] = []
    for p in packs if packs is not None else list_packs():
        d = p if isinstance(p, Path) else (pack_dir(p) or Path(p))
        if d.is_dir():
            dirs.append(d)
    for d in dirs:
        tdir = d / task_id
        if "/" not in task_id and (tdir / "task.yaml").is_file():
            return task_variants(tdir)
    return []
