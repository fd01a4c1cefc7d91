"""Getting a runnable program out of a model's reply.

Models wrap code in prose, split it over several fenced blocks, forget imports, append example
calls that crash on load, or (completion models) return only the function body. This module turns
any of those into one program that defines the entry point, or says in one line why there is none
(``NoUsableCode``: no code at all, code for another function, code that does not parse, or several
different versions of the function), so the caller can record a candidate with status ``error``,
keep the reply and go on.
"""
from __future__ import annotations

import ast
import builtins
import re
import textwrap
from dataclasses import dataclass, field

PYTHON_LANGS = {"", "python", "python3", "py", "py3", "pycon", "python-repl"}
CODE_START = re.compile(r"^(?:async\s+def|def|class|import|from\s+\S+\s+import|@)\b")
MAX_TRIM_LINES = 400  # prose trimming is quadratic in lines; replies longer than this are not trimmed

# Names models use without importing them, and the import that provides each.
COMMON_IMPORTS: dict[str, str] = {
    **{m: f"import {m}" for m in (
        "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
        "random", "operator", "statistics", "sys", "json", "fractions", "decimal", "datetime",
        "copy", "hashlib", "typing", "array", "cmath", "time", "textwrap", "unicodedata")},
    **{n: f"from typing import {n}" for n in (
        "List", "Dict", "Tuple", "Optional", "Any", "Set", "FrozenSet", "Union", "Iterable",
        "Iterator", "Callable", "Sequence", "Mapping", "Generator", "Deque", "DefaultDict")},
    **{n: f"from collections import {n}" for n in
       ("Counter", "defaultdict", "deque", "OrderedDict", "namedtuple", "ChainMap")},
    **{n: f"from functools import {n}" for n in
       ("lru_cache", "cache", "reduce", "cmp_to_key", "partial", "wraps")},
    **{n: f"from itertools import {n}" for n in (
        "permutations", "combinations", "combinations_with_replacement", "product",
        "accumulate", "chain", "groupby", "islice", "count", "zip_longest", "starmap", "pairwise")},
    **{n: f"from heapq import {n}" for n in
       ("heappush", "heappop", "heapify", "heappushpop", "heapreplace", "nlargest", "nsmallest")},
    **{n: f"from bisect import {n}" for n in ("bisect_left", "bisect_right", "insort", "bisect")},
    **{n: f"from math import {n}" for n in (
        "gcd", "lcm", "sqrt", "isqrt", "floor", "ceil", "factorial", "comb", "perm", "log",
        "log2", "log10", "prod", "isclose")},
    "Fraction": "from fractions import Fraction",
    "Decimal": "from decimal import Decimal",
}


NO_CODE = "no usable code in the reply"


@dataclass
class Extraction:
    code: str
    notes: list[str] = field(default_factory=list)  # what was repaired, e.g. "added import math"


class NoUsableCode(ValueError):
    """Why a reply gave no program; ``str()`` is one readable line for the pane, summary and log."""


@dataclass
class _Block:
    lang: str
    text: str


def fenced_blocks(reply: str) -> list[_Block]:
    """Fenced blocks (``` or ~~~), including an unclosed last one (a reply cut by max_tokens)."""
    blocks: list[_Block] = []
    fence: str | None = None
    lang = ""
    body: list[str] = []
    for line in reply.splitlines():
        stripped = line.strip()
        if fence is None:
            m = re.match(r"^(`{3,}|~{3,})\s*([\w+.#-]*)", stripped)
            if m:
                fence, lang, body = m.group(1), m.group(2).lower(), []
        elif stripped.startswith(fence) and stripped.strip(fence[0]) == "":
            blocks.append(_Block(lang, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    if fence is not None and body:
        blocks.append(_Block(lang, "\n".join(body)))
    return blocks


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _strip_repl(code: str) -> str:
    """A ``>>>`` REPL transcript -> its code lines (outputs dropped).

    Only a block that is really a transcript (it does not parse as Python and its first line is
    a ``>>>`` prompt) is converted: a function whose docstring holds doctest examples is plain
    code and stays whole. Code followed by a REPL session keeps the code before the session."""
    if _parse(code) is not None:
        return code
    lines = code.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith(">>>"):
        out = []
        for line in lines:
            s = line.lstrip()
            if s.startswith((">>> ", "... ")):
                out.append(s[4:])
            elif s in (">>>", "..."):
                out.append("")
        return "\n".join(out)
    for i, line in enumerate(lines):
        if line.startswith(">>>"):
            head = "\n".join(lines[:i])
            return head if _parse(head) is not None else code
    return code


def _top_defs(tree: ast.Module) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names[t.id] = node
    return names


def _defines(tree: ast.Module, entry_point: str) -> bool:
    return entry_point in _top_defs(tree)


def _trim_prose(text: str) -> str | None:
    """The longest parsable run of lines starting at a line that looks like code."""
    lines = text.splitlines()
    if len(lines) > MAX_TRIM_LINES:
        return None
    for start, line in enumerate(lines):
        if not CODE_START.match(line):
            continue
        for end in range(len(lines), start, -1):
            chunk = "\n".join(lines[start:end])
            if _parse(chunk) is not None:
                return chunk
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _drop_harness(code: str, tree: ast.Module, notes: list[str]) -> str:
    """Remove top-level example calls, prints and asserts and `if __name__ == "__main__"` blocks:
    they are not part of the function and a wrong example would fail the program on load."""
    drop: list[tuple[int, int]] = []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # module docstring
        harness = (isinstance(node, ast.Assert) or _is_main_guard(node)
                   or (isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await)))
                   or (isinstance(node, (ast.For, ast.While)) and _only_prints(node)))
        if harness:
            drop.append((node.lineno, node.end_lineno or node.lineno))
    if not drop:
        return code
    lines = code.splitlines()
    keep = [line for n, line in enumerate(lines, 1) if not any(a <= n <= b for a, b in drop)]
    notes.append("removed example calls")
    return "\n".join(keep).rstrip() + "\n"


def _only_prints(node: ast.stmt) -> bool:
    body = getattr(node, "body", [])
    return bool(body) and all(
        isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and isinstance(s.value.func, ast.Name)
        and s.value.func.id == "print" for s in body)


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the program binds anywhere (crude on purpose: any binding counts)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.MatchAs) and node.name:
            names.add(node.name)
    return names


def free_names(tree: ast.AST) -> set[str]:
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - bound_names(tree) - set(dir(builtins))


def _add_imports(code: str, notes: list[str]) -> str:
    tree = _parse(code)
    if tree is None:
        return code
    missing = sorted({COMMON_IMPORTS[n] for n in free_names(tree) if n in COMMON_IMPORTS})
    if not missing:
        return code
    notes.append("added " + ", ".join(m.replace("from ", "").replace(" import ", ".")
                                      if m.startswith("from ") else m for m in missing))
    return "\n".join(missing) + "\n" + code


def _context_from_prompt(code: str, prompt: str, entry_point: str, notes: list[str]) -> str:
    """HumanEval-style prompts carry imports and helper functions the model may not repeat."""
    ptree = _parse(prompt)
    ctree = _parse(code)
    if ptree is None or ctree is None:
        return code
    have = bound_names(ctree)
    pieces = []
    for node in ptree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = {(a.asname or a.name).split(".")[0] for a in node.names}
            if not names <= have:
                pieces.append(ast.get_source_segment(prompt, node) or "")
        elif (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
              and node.name != entry_point and node.name not in have):
            seg = ast.get_source_segment(prompt, node)
            if seg:
                deco = "".join("@" + (ast.get_source_segment(prompt, d) or "") + "\n"
                               for d in node.decorator_list)
                pieces.append(deco + seg)
    if not pieces:
        return code
    notes.append("kept the task's imports and helpers")
    return "\n".join(pieces) + "\n\n" + code


def _helpers_from_other_blocks(code: str, others: list[ast.Module], sources: list[str],
                               notes: list[str]) -> str:
    """A reply that puts helpers in their own block: bring in the definitions the chosen block
    uses but does not define."""
    tree = _parse(code)
    if tree is None:
        return code
    need = free_names(tree)
    extra = []
    for other, src in zip(others, sources):
        for name, node in _top_defs(other).items():
            if name in need:
                seg = ast.get_source_segment(src, node)
                if seg:
                    extra.append(seg)
                    need.discard(name)
        for node in other.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = {(a.asname or a.name).split(".")[0] for a in node.names}
                if names & need:
                    extra.insert(0, ast.get_source_segment(src, node) or "")
                    need -= names
    if not extra:
        return code
    notes.append("joined helpers from another block")
    return "\n".join(extra) + "\n\n" + code


def _returns_something(func: ast.AST) -> bool:
    """The function itself (not a function nested in it) returns, yields or raises."""
    todo = list(getattr(func, "body", []))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.Raise)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return False


def _as_body(text: str, header: str, entry_point: str) -> str | None:
    """Completion-style reply: the body of a function whose header (and docstring) is ``header``."""
    body = textwrap.dedent(text).strip("\n")
    if not body.strip():
        return None
    indented = textwrap.indent(body, "    ")
    for program in (header.rstrip() + "\n" + indented + "\n", header.rstrip() + "\n" + text.rstrip() + "\n"):
        tree = _parse(program)
        if tree is not None and _defines(tree, entry_point):
            node = _top_defs(tree)[entry_point]
            if _returns_something(node):
                return program
    return None


def extract_code(reply: str, entry_point: str, *, prompt: str = "", signature: str | None = None
                 ) -> Extraction | None:
    """``extract_program``, with None instead of the reason."""
    try:
        return extract_program(reply, entry_point, prompt=prompt, signature=signature)
    except NoUsableCode:
        return None


def extract_program(reply: str, entry_point: str, *, prompt: str = "", signature: str | None = None
                    ) -> Extraction:
    """A program defining ``entry_point`` taken from ``reply``; raises NoUsableCode (one line)
    when there is none.

    ``prompt`` (a HumanEval-style prompt that ends in the function header and docstring) and
    ``signature`` let a body-only reply be completed into a whole function.
    """
    if not reply or not reply.strip():
        raise NoUsableCode(f"{NO_CODE}: the reply is empty")
    blocks = fenced_blocks(reply)
    texts = [_strip_repl(b.text) for b in blocks if b.lang in PYTHON_LANGS]
    if not blocks:
        texts = [reply]
    parsed: list[tuple[str, ast.Module]] = []
    broken: list[tuple[str, SyntaxError | None]] = []  # python text that does not parse, and why
    for text in texts:
        tree = _parse(text)
        if tree is None and not blocks:
            trimmed = _trim_prose(text)
            tree = _parse(trimmed) if trimmed else None
            if tree is None or not _defines(tree, entry_point):
                code_part = _from_first_code_line(text)
                broken.append((code_part, _syntax_error(code_part)))
            text = trimmed or text
        elif tree is None:
            broken.append((text, _syntax_error(text)))
        if tree is not None:
            parsed.append((text, tree))

    _refuse_several_versions(parsed, entry_point)
    notes: list[str] = []
    chosen = next(((t, tree) for t, tree in parsed if _defines(tree, entry_point)), None)
    if chosen is not None:
        code, tree = chosen
        others = [(t, tr) for t, tr in parsed if tr is not tree]
        code = _drop_harness(code, tree, notes)
        code = _helpers_from_other_blocks(code, [tr for _, tr in others], [t for t, _ in others], notes)
    else:
        code = _complete_body(reply, blocks, texts, entry_point, prompt, signature, notes)
        if code is None:
            raise NoUsableCode(_why_not(blocks, parsed, broken, entry_point))
    if prompt:
        code = _context_from_prompt(code, prompt, entry_point, notes)
    code = _add_imports(code, notes)
    tree = _parse(code)
    if tree is None or not _defines(tree, entry_point):
        raise NoUsableCode(f"{NO_CODE}: the repaired program does not define {entry_point}")
    return Extraction(code.rstrip() + "\n", notes)


def _syntax_error(text: str) -> SyntaxError | None:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc
    except ValueError:
        return None
    return None


def _definitions(tree: ast.Module, entry_point: str) -> list[ast.stmt]:
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name == entry_point]


def _shape(node: ast.stmt) -> str:
    """A definition without its docstring, for telling versions apart."""
    body = list(getattr(node, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[])) + ast.dump(node.args)


def _refuse_several_versions(parsed: list[tuple[str, ast.Module]], entry_point: str) -> None:
    """Two different definitions of the function (an "alternative" block, an "improved" one)
    are two candidates in one reply: which one was meant is a guess, so none is taken."""
    shapes: list[str] = []
    for _, tree in parsed:
        for node in _definitions(tree, entry_point):
            shape = _shape(node)
            if shape not in shapes:
                shapes.append(shape)
    if len(shapes) > 1:
        raise NoUsableCode(f"ambiguous reply: it holds {len(shapes)} different versions of {entry_point}; "
                           "not guessing which one was meant")


def _why_not(blocks: list[_Block], parsed: list[tuple[str, ast.Module]],
             broken: list[tuple[str, SyntaxError | None]], entry_point: str) -> str:
    """The one-line reason a reply gave no program."""
    mentions = re.compile(rf"\bdef\s+{re.escape(entry_point)}\b")
    for text, err in broken:
        if mentions.search(text) and err is not None:
            return f"{NO_CODE}: the code does not parse (line {err.lineno}: {err.msg})"
    others = sorted({n.name for _, tree in parsed for n in tree.body
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))})
    if others:
        return f"{NO_CODE}: the code defines {', '.join(others[:4])}, not {entry_point}"
    code_like = [(t, e) for t, e in broken if e is not None and (blocks or _looks_like_code(t))]
    if code_like:
        err = code_like[0][1]
        return f"{NO_CODE}: the code does not parse (line {err.lineno}: {err.msg})"
    if blocks and not any(b.lang in PYTHON_LANGS for b in blocks):
        langs = ", ".join(sorted({b.lang for b in blocks}))
        return f"{NO_CODE}: its code blocks are not Python ({langs})"
    return f"{NO_CODE}: it holds no Python code"


def _looks_like_code(text: str) -> bool:
    return any(CODE_START.match(line) for line in text.splitlines())


def _from_first_code_line(text: str) -> str:
    """Prose before the code is not the code's syntax error."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if CODE_START.match(line)), 0)
    return "\n".join(lines[start:])


def _complete_body(reply: str, blocks: list[_Block], texts: list[str], entry_point: str, prompt: str,
                   signature: str | None, notes: list[str]) -> str | None:
    headers = []
    ptree = _parse(prompt) if prompt else None
    if ptree is not None and _defines(ptree, entry_point):
        headers.append(prompt)
    if signature:
        sig = signature.strip()
        if not sig.startswith(("def ", "async def ")):
            sig = f"def {sig}" if sig.startswith(entry_point) else sig
        headers.append(sig if sig.endswith(":") else sig + ":")
    if not headers:
        return None
    bodies = texts if blocks else [reply]
    for body in bodies:
        for header in headers:
            program = _as_body(body, header, entry_point)
            if program is not None:
                notes.append("completed the function from a body-only reply")
                return program
    return None
