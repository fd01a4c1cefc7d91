"""JSON Lines rows as tasks: HumanEval, MBPP, or this project's own task mappings.

HumanEval rows (``task_id, prompt, entry_point, canonical_solution, test``) become
completion-style tasks whose one test calls ``check(candidate)``; a row without ``test`` is a
task with no trusted test (its docstring examples, if any, become its tests; otherwise its
versions are ``unchecked`` and only selection without tests can rank them); MBPP rows (``task_id,
text, code, test_list``) become tasks with one assert test per entry of ``test_list``.
"""
from __future__ import annotations

import ast
from typing import Any

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task
from ai_code_evals.tasks.build import Where, build_task

HUMANEVAL_FIELDS = ("task_id", "prompt", "entry_point", "test")
MBPP_FIELDS = ("task_id", "text", "code", "test_list")


def row_kind(row: dict[str, Any]) -> str | None:
    """'humaneval', 'mbpp', 'task' or None when the row is none of them."""
    if "test_list" in row and "text" in row:
        return "mbpp"
    if "task_id" in row and "prompt" in row and ("test" in row or "canonical_solution" in row
                                                 or "entry_point" in row):
        return "humaneval"
    if "id" in row and "entry_point" in row:
        return "task"
    return None


def row_task(row: dict[str, Any], name: str, line: int) -> Task:
    where = Where(name=name, line_of=lambda _loc: line)
    kind = row_kind(row)
    if kind == "humaneval":
        return build_task(humaneval_raw(row, name, line), where)
    if kind == "mbpp":
        return build_task(mbpp_raw(row, name, line), where)
    if kind == "task":
        return build_task(row, where)
    raise InputError(
        "not a task: expected HumanEval fields (task_id, prompt, entry_point[, test]), MBPP fields "
        "(task_id, text, code, test_list) or a task mapping with id and entry_point",
        path=name,
        line=line,
    )


def _need_str(row: dict[str, Any], key: str, what: str, name: str, line: int) -> str:
    if key not in row:
        raise InputError(f"{what} row: missing field {key!r}", path=name, line=line)
    value = row[key]
    if not isinstance(value, str):
        raise InputError(f"{what} row: field {key!r} must be a string, got {type(value).__name__}",
                         path=name, line=line)
    return value


def humaneval_raw(row: dict[str, Any], name: str, line: int) -> dict[str, Any]:
    task_id = _need_str(row, "task_id", "HumanEval", name, line)
    prompt = _need_str(row, "prompt", "HumanEval", name, line)
    entry_point = _need_str(row, "entry_point", "HumanEval", name, line)
    raw: dict[str, Any] = {"id": task_id, "prompt": prompt, "entry_point": entry_point,
                           "completion_style": True, "tests": []}
    if "test" in row:
        raw["tests"] = [{"kind": "check", "name": "check", "code": _need_str(row, "test", "HumanEval", name,
                                                                             line)}]
    if "canonical_solution" in row:
        raw["reference"] = prompt + _need_str(row, "canonical_solution", "HumanEval", name, line)
    return raw


def mbpp_id(task_id: Any) -> str:
    """MBPP numbers its tasks; they become ``MBPP/<n>``."""
    return f"MBPP/{task_id}" if isinstance(task_id, int) and not isinstance(task_id, bool) else str(task_id)


def mbpp_raw(row: dict[str, Any], name: str, line: int) -> dict[str, Any]:
    task_id = row.get("task_id")
    if not isinstance(task_id, (int, str)) or isinstance(task_id, bool) or task_id == "":
        raise InputError("MBPP row: 'task_id' must be a number or a string", path=name, line=line)
    text = _need_str(row, "text", "MBPP", name, line)
    code = _need_str(row, "code", "MBPP", name, line)
    tests = row.get("test_list")
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise InputError("MBPP row: 'test_list' must be a list of strings", path=name, line=line)
    setup = row.get("test_setup_code") or ""
    if not isinstance(setup, str):
        raise InputError("MBPP row: 'test_setup_code' must be a string", path=name, line=line)
    entry_point = _mbpp_entry_point(code, tests)
    if entry_point is None:
        raise InputError("MBPP row: cannot tell the function under test (no function in 'code' is "
                         "called by 'test_list')", path=name, line=line)
    example = f"\n{tests[0]}" if tests else ""
    return {
        "id": mbpp_id(task_id),
        "prompt": f'"""\n{text.strip()}{example}\n"""\n',
        "entry_point": entry_point,
        "tests": [{"kind": "code", "name": f"test {i + 1}", "code": f"{setup}\n{t}" if setup.strip() else t}
                  for i, t in enumerate(tests)],
        "reference": code,
    }


def _mbpp_entry_point(code: str, tests: list[str]) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for t in tests:
        try:
            calls = [n.func.id for n in ast.walk(ast.parse(t))
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        except SyntaxError:
            continue
        for c in calls:
            if c in defined:
                return c
    return defined[-1] if defined else None
