"""Tests from docstring examples, for tasks that come without tests.

``>>> f(2)`` followed by ``4`` becomes ``assert f(2) == 4``; an expected traceback becomes a
check that the named exception is raised; examples without output (``>>> xs = [3, 1]``)
become setup for the examples after them. Examples whose output is not a Python value
(printed text, ``...`` elisions) are skipped rather than guessed at.
"""
from __future__ import annotations

import ast
import doctest
import re
import textwrap

from ai_code_evals.core.task import Task, TestCase

# Expressions that need no parentheses on either side of ``==``.
_ATOMS = (ast.Call, ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Dict, ast.Set,
          ast.ListComp, ast.SetComp, ast.DictComp, ast.JoinedStr)
_QUOTES_END = re.compile(r"(\"\"\"|\'\'\')\s*$")  # a closing docstring quote taken for output
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)\s*(?::|$)")


def _docstrings(prompt: str) -> str:
    """The docstrings of a prompt that is Python code; the prompt itself when it is not."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return prompt
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                docs.append(doc)
    return "\n\n".join(docs)


def _examples(text: str) -> list[doctest.Example]:
    parser = doctest.DocTestParser()
    try:
        return parser.get_examples(text)
    except ValueError:
        pass
    # Inconsistent indentation somewhere: parse paragraph by paragraph, keep what parses.
    found: list[doctest.Example] = []
    for block in re.split(r"\n\s*\n", text):
        try:
            found.extend(parser.get_examples(textwrap.dedent(block)))
        except ValueError:
            continue
    return found


def _expr(src: str) -> ast.expr | None:
    try:
        return ast.parse(src.strip(), mode="eval").body
    except SyntaxError:
        return None


def _side(src: str, node: ast.expr) -> str:
    src = src.strip()
    if isinstance(node, _ATOMS) and "\n" not in src:
        return src
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return src  # -3
    return f"({src})"


def _prints(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


def _exception_name(example: doctest.Example) -> str | None:
    lines = [ln for ln in (example.exc_msg or "").strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _EXC_LINE.match(lines[0].strip())
    return m.group(1).rsplit(".", 1)[-1] if m else None


def _raises_code(src: str, exc: str) -> str:
    body = textwrap.indent(src.strip(), "    ")
    return (
        "try:\n"
        f"{body}\n"
        "except Exception as _exc:\n"
        f"    assert {exc!r} in [c.__name__ for c in type(_exc).__mro__], "
        f"f'expected {exc}, got {{type(_exc).__name__}}'\n"
        "else:\n"
        f"    raise AssertionError('expected {exc}')"
    )


def docstring_tests(prompt: str) -> list[TestCase]:
    """Tests for the ``>>>`` examples in ``prompt`` (possibly none)."""
    tests: list[TestCase] = []
    setup: list[str] = []
    for ex in _examples(_docstrings(prompt)):
        src = ex.source.rstrip("\n")
        if ex.exc_msg is not None:
            exc = _exception_name(ex)
            if exc:
                code = _raises_code(src, exc)
                tests.append(_test(setup, code, len(tests)))
            continue
        want = _QUOTES_END.sub("", ex.want).strip()
        if not want:
            setup.append(src)
            continue
        lhs, rhs = _expr(src), _expr(want)
        if lhs is None or rhs is None or "..." in want or _prints(lhs) or isinstance(rhs, ast.Name):
            continue  # printed output or an elision: not a value we can compare
        code = f"assert {_side(src, lhs)} == {_side(want, rhs)}"
        tests.append(_test(setup, code, len(tests)))
    return tests


def _test(setup: list[str], code: str, index: int) -> TestCase:
    full = "\n".join([*setup, code])
    return TestCase(kind="code", name=f"docstring example {index + 1}", code=full)


def with_docstring_tests(task: Task) -> Task:
    """The task itself when it has tests; otherwise a copy whose tests come from its prompt."""
    if task.tests:
        return task
    tests = docstring_tests(task.prompt)
    if not tests:
        return task
    return task.model_copy(update={"tests": tests, "tests_from_docstring": True})
