"""Turn one raw task mapping (from YAML or a JSONL row) into a validated Task.

Friendly shorthands are expanded first (a test given as a string is an assert block, a
single ``perf`` mapping is a list of one); then pydantic validates, and its first error is
turned into one line naming the file, the line and the field:
``tasks.yaml:12: task 'x': tests.0.args: Input should be a valid list (got 5)``.
"""
from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task
from ai_code_evals.tasks.docstring import with_docstring_tests

_EXC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class Where:
    """Where a raw task came from: the file name and how to find the line of a field."""

    name: str
    line_of: Callable[[tuple[Any, ...]], int]
    ordinal: int = 1  # 1-based position of the task in its file, for tasks without an id

    def error(self, raw: Any, message: str, loc: tuple[Any, ...] = ()) -> InputError:
        return InputError(f"{_label(raw, self.ordinal)}: {message}", path=self.name, line=self.line_of(loc))


def _label(raw: Any, ordinal: int) -> str:
    tid = raw.get("id") if isinstance(raw, dict) else None
    return f"task {tid!r}" if isinstance(tid, str) and tid else f"task #{ordinal}"


def _loc_str(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(task)"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _norm_test(t: Any) -> Any:
    if isinstance(t, str):
        return {"kind": "code", "code": t}
    if isinstance(t, dict) and "kind" not in t and "code" in t:
        return {**t, "kind": "code"}
    return t


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Expand the shorthands of the YAML format into the model's shape."""
    d = dict(raw)
    for key in ("tests", "error_cases"):
        items = d.get(key)
        if isinstance(items, str):
            d[key] = [_norm_test(items)]
        elif isinstance(items, list):
            d[key] = [_norm_test(t) for t in items]
        elif items is None and key in d:
            d[key] = []
    perf = d.get("perf")
    if isinstance(perf, dict):
        d["perf"] = [perf]
    elif perf is None and "perf" in d:
        d["perf"] = []
    return d


def _json_problem(value: Any) -> str | None:
    """Why ``value`` cannot travel to the sandbox as JSON, or None when it can."""
    stack = [value]
    while stack:
        v = stack.pop()
        if v is None or isinstance(v, (bool, int, str)):
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                return f"{v!r} is not a finite number; use a 'code' test"
            continue
        if isinstance(v, list):
            stack.extend(v)
            continue
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    return f"mapping key {k!r} is not a string; use a 'code' test"
                stack.append(item)
            continue
        return f"{_short(v)} is a {type(v).__name__}, not a JSON value; quote it or use a 'code' test"
    return None


def build_task(raw: Any, where: Where, *, source_line: int | None = None) -> Task:
    """Validate one raw task; every problem is an InputError with file and line."""
    if not isinstance(raw, dict):
        got = "null" if raw is None else type(raw).__name__
        raise InputError(f"expected a task (a mapping with id, prompt, entry_point, ...), got {got}",
                         path=where.name, line=where.line_of(()))
    data = normalize(raw)
    line = source_line if source_line is not None else where.line_of(())
    data["source"] = f"{where.name}:{line}"
    try:
        task = Task.model_validate(data)
    except ValidationError as e:
        errs = e.errors(include_url=False)
        first = errs[0]
        loc = tuple(first.get("loc", ()))
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        if first.get("type") not in ("missing", "extra_forbidden", "value_error") and "input" in first:
            msg += f" (got {_short(first['input'])})"
        if len(errs) > 1:
            msg += f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})"
        raise where.error(raw, f"{_loc_str(loc)}: {msg}", loc) from None
    _check(task, raw, where)
    return with_docstring_tests(task)


def _check(task: Task, raw: dict[str, Any], where: Where) -> None:
    """Checks the model cannot express: names, JSON-able values, error cases that name an error."""
    if not task.entry_point.isidentifier() or keyword.iskeyword(task.entry_point):
        raise where.error(raw, f"entry_point: {task.entry_point!r} is not a Python function name",
                          ("entry_point",))
    for key in ("tests", "error_cases"):
        for i, t in enumerate(getattr(task, key)):
            loc = (key, i)
            if t.kind == "case":
                for field in ("args", "kwargs", "expect"):
                    problem = _json_problem(getattr(t, field))
                    if problem:
                        raise where.error(raw, f"{key}.{i}.{field}: {problem}", loc + (field,))
            if t.raises is not None and not _EXC_NAME.match(t.raises):
                raise where.error(raw, f"{key}.{i}.raises: {t.raises!r} is not an exception name",
                                  loc + ("raises",))
            if key == "error_cases" and t.kind == "case" and not t.raises:
                raise where.error(raw, f"error_cases.{i}: needs 'raises' (the exception a robust "
                                  "version must raise)", loc)
            if t.kind in ("code", "check") and t.code:
                try:
                    compile(t.code, f"<{key}.{i}>", "exec")
                except SyntaxError as e:
                    raise where.error(raw, f"{key}.{i}.code: syntax error: {e.msg} (line {e.lineno} of "
                                      "the code)", loc + ("code",)) from None
    for i, p in enumerate(task.perf):
        try:
            compile(p.setup, f"<perf.{i}>", "eval")
        except SyntaxError as e:
            raise where.error(raw, f"perf.{i}.setup: not a Python expression: {e.msg}",
                              ("perf", i, "setup")) from None
    if task.reference is not None:
        try:
            compile(task.reference, "<reference>", "exec")
        except SyntaxError as e:
            raise where.error(raw, f"reference: syntax error: {e.msg} (line {e.lineno} of the code)",
                              ("reference",)) from None
