"""How chat models wrap the code they write: six reply styles around one program.

Used by the extraction regression tests (tests/test_reply_styles.py) and by
benchmarks/bench_extraction.py, which wraps real CodeGen completions of HumanEval in each style and
serves them from the OpenAI test double. ``program`` is a whole program (a HumanEval prompt
followed by its completion); ``completion`` is the completion alone.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Underlying:
    """The code a reply is built around."""

    prompt: str  # the function header and docstring the model was given
    completion: str  # what the model wrote after it
    entry_point: str
    example_call: str = ""  # e.g. "add(1, 2)": used for usage blocks and doctest examples
    example_output: str = "..."

    @property
    def program(self) -> str:
        return self.prompt + self.completion


def _fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def fenced_with_prose(u: Underlying) -> str:
    return (f"Here is an implementation of `{u.entry_point}`.\n\n{_fence(u.program)}\n\n"
            "It walks the input once and returns as soon as the answer is known.\n")


def with_docstring_examples(program: str, entry_point: str, call: str, output: str) -> str:
    """The program with a doctest example added at the end of the entry point's docstring."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return program
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == entry_point), None)
    if node is None or not node.body or not isinstance(node.body[0], ast.Expr) \
            or not isinstance(node.body[0].value, ast.Constant) or not isinstance(node.body[0].value.value, str):
        return program
    lines = program.splitlines(keepends=True)
    end = node.body[0].end_lineno - 1  # the line that closes the docstring
    closing = lines[end]
    if closing.strip() not in ('"""', "'''"):
        return program
    indent = closing[: len(closing) - len(closing.lstrip())]
    example = f"{indent}>>> {call}\n{indent}{output}\n"
    return "".join(lines[:end]) + example + "".join(lines[end:])


def fenced_with_doctests(u: Underlying) -> str:
    call = u.example_call or f"{u.entry_point}()"
    code = with_docstring_examples(u.program, u.entry_point, call, u.example_output)
    return f"{_fence(code)}\n"


def code_then_usage(u: Underlying) -> str:
    call = u.example_call or f"{u.entry_point}()"
    return (f"```python\n{u.program.rstrip()}\n```\n\nUsage:\n\n```python\nresult = {call}\n"
            f"print(result)  # {u.example_output}\n```\n")


def bare_code(u: Underlying) -> str:
    return u.program


def main_demo(u: Underlying) -> str:
    call = u.example_call or f"{u.entry_point}()"
    code = f"{u.program.rstrip()}\n\n\nif __name__ == \"__main__\":\n    print({call})\n"
    return f"Sure:\n\n{_fence(code)}\n"


def completion_only(u: Underlying) -> str:
    return u.completion


STYLES: dict[str, Callable[[Underlying], str]] = {
    "fenced+prose": fenced_with_prose,
    "fenced+doctests": fenced_with_doctests,
    "code+usage blocks": code_then_usage,
    "bare code": bare_code,
    "__main__ demo": main_demo,
    "completion only": completion_only,
}


def example_from_test(test: str, entry_point: str) -> tuple[str, str]:
    """(call, expected output) from the first ``candidate(...)`` in a HumanEval ``check``."""
    m = re.search(r"^\s*assert\s+candidate\((.*)\)\s*==\s*(.+?)\s*(?:,\s*[\"'].*)?$", test, re.MULTILINE)
    if m:
        return f"{entry_point}({m.group(1)})", m.group(2)
    m = re.search(r"candidate\(([^()\n]*(?:\([^()\n]*\)[^()\n]*)*)\)", test)
    return (f"{entry_point}({m.group(1)})" if m else f"{entry_point}()"), "..."
