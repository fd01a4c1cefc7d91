"""Inputs of our own to run every version on, so versions can be clustered by behaviour.

Selection without trusted tests needs to see how versions behave. The model's generated tests
give inputs (their expected values may be wrong or placeholders, the inputs are still good
probes); the docstring's ``>>> f(x)`` examples give more; and boundary inputs derived from the
signature (type hints, or the types seen in the other inputs) reach the corners where wrong
versions part ways with right ones: empty lists, zero, one element, a repeated element.

A probe is the source of a Python literal ``(args_tuple, kwargs_dict)``; the checker in the
sandbox evaluates it as a literal and calls the version with it. Values are kept small so that
no right version takes long on them. The same task always gets the same probes, in the same order.
"""
from __future__ import annotations

import ast
import doctest
from collections.abc import Iterable
from typing import Any

from ai_code_evals.core.task import Task

MAX_PROBES = 96  # per task: with 100 versions, about 10,000 cheap calls
MAX_FROM_TESTS = 48  # the model's own inputs come first, boundary inputs fill the rest
MAX_LITERAL_CHARS = 2000  # a longer input is a stress test, not a probe

INT_POOL = [0, 1, 2, 3, 5, 10, -1, 7, 12, 4]  # small: naive recursive versions stay fast
FLOAT_POOL = [0.0, 1.0, 0.5, 2.5, -1.5, 3.75, 10.0]
STR_POOL = ["", "a", "ab", "aba", "abc def", "Hello World", "AbCd", "zzz", "a1b2", "x y  z"]
BOOL_POOL = [True, False]


# --- inputs already written down: generated tests and docstring examples -------------------

def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def call_inputs(source: str, entry_point: str) -> list[tuple[tuple, dict]]:
    """The literal (args, kwargs) of every call to ``entry_point`` in ``source`` (an assert, a
    docstring example): whatever the expected value says, even a ``_____`` placeholder. Calls
    with non-literal arguments are skipped."""
    try:
        tree = ast.parse(source.strip())
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            continue
        try:
            args = tuple(_literal(a) for a in node.args)
            kwargs = {k.arg: _literal(k.value) for k in node.keywords}
        except (ValueError, TypeError, SyntaxError, RecursionError):
            continue
        found.append((args, kwargs))
    return found


def docstring_inputs(prompt: str, entry_point: str) -> list[tuple[tuple, dict]]:
    """Inputs of the ``>>> f(x)`` examples in the prompt."""
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:
        examples = []
    out = []
    for ex in examples:
        out += call_inputs(ex.source, entry_point)
    return out


# --- boundary inputs from the signature -----------------------------------------------------

def _signature(prompt: str, entry_point: str, signature: str | None = None) -> ast.FunctionDef | None:
    """The entry point's ``def`` in a code prompt, or built from a task's ``signature`` line."""
    sources = [prompt, prompt.rstrip() + "\n    pass\n"]  # a prompt may end on a bare ``def`` line
    if signature:
        line = signature.strip().rstrip(":")
        sources.insert(0, (line if line.startswith("def ") else f"def {line}") + ":\n    pass\n")
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == entry_point:
                return node
    return None


def _pool_for_value(value: Any) -> list | None:
    """Boundary values of the same kind as an observed value."""
    if isinstance(value, bool):
        return list(BOOL_POOL)
    if isinstance(value, int):
        return list(INT_POOL)
    if isinstance(value, float):
        return list(FLOAT_POOL)
    if isinstance(value, str):
        return list(STR_POOL)
    if isinstance(value, (list, tuple)):
        inner = next((_pool_for_value(v) for v in value), None) or list(INT_POOL)
        return _sequences(inner, type(value))
    return None


def _sequences(pool: list, kind: type = list) -> list:
    a, b, c = pool[1], pool[2], pool[3]
    seqs = [[], [a], [b, a], [a, b, c], [c, a, b, a], [pool[-1], pool[0], pool[4], pool[0]]]
    return [kind(s) for s in seqs]


def _unparse(hint: ast.expr | None) -> str:
    return ast.unparse(hint).replace("typing.", "").replace(" ", "") if hint is not None else ""


def _pool_for_hint(hint: ast.expr | None) -> list | None:
    if hint is None:
        return None
    text = ast.unparse(hint).replace("typing.", "").replace(" ", "")
    base = {"int": INT_POOL, "float": FLOAT_POOL, "str": STR_POOL, "bool": BOOL_POOL}
    if text in base:
        return list(base[text])
    if text.startswith("Optional[") and text.endswith("]"):
        inner = _pool_for_hint(ast.parse(text[9:-1], mode="eval").body)
        return (inner or []) + [None]
    for prefix, kind in (("List[", list), ("list[", list), ("Tuple[", tuple), ("tuple[", tuple)):
        if text.startswith(prefix) and text.endswith("]"):
            inner_text = text[len(prefix):-1].split(",")[0]
            inner = base.get(inner_text) or INT_POOL
            return _sequences(list(inner), kind)
    return None


def _param_pools(task: Task, seen: list[tuple[tuple, dict]]) -> list[list] | None:
    """One pool of boundary values per positional parameter, or None when some parameter's kind
    cannot be told (no hint and no observed input)."""
    sig = _signature(task.prompt, task.entry_point, task.signature)
    if sig is None:
        return None
    params = [a for a in sig.args.args]
    pools: list[list] = []
    for i, p in enumerate(params):
        pool = _pool_for_hint(p.annotation)
        if pool is None:
            observed = [args[i] for args, _ in seen if len(args) > i]
            pool = next((pl for pl in map(_pool_for_value, observed) if pl), None)
        if pool is None and _unparse(p.annotation) in ("list", "List", "tuple", "Tuple"):
            pool = _sequences(list(INT_POOL))  # nothing says what the elements are: numbers
        if pool is None:
            return None
        pools.append(pool)
    return pools


def boundary_inputs(pools: list[list]) -> list[tuple[tuple, dict]]:
    """Each pool walked in step (the k-th value of every parameter together), then every
    parameter at each of its values with the others at their first non-trivial value."""
    if not pools:
        return [((), {})]
    out = []
    width = max(len(p) for p in pools)
    for k in range(width):
        out.append((tuple(p[k % len(p)] for p in pools), {}))
    if len(pools) > 1:
        anchor = [p[min(1, len(p) - 1)] for p in pools]
        for i, pool in enumerate(pools):
            for v in pool:
                args = list(anchor)
                args[i] = v
                out.append((tuple(args), {}))
    return out


def _mutants(value: Any) -> list:
    """Small neighbours of an observed value: where an off-by-one or a missed case shows."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1] if abs(value) < 10**6 else []
    if isinstance(value, float):
        return [value * 2, -value]
    if isinstance(value, str):
        return [value[:-1], value[::-1], value + value[:1]] if value else ["a"]
    if isinstance(value, (list, tuple)):
        if not value:
            return []
        kind = type(value)
        return [kind(value[:-1]), kind(value[::-1]), kind(list(value) + [value[0]])]
    return []


def mutated_inputs(seen: list[tuple[tuple, dict]]) -> list[tuple[tuple, dict]]:
    out = []
    for args, kwargs in seen:
        for i, v in enumerate(args):
            for m in _mutants(v):
                out.append((args[:i] + (m,) + args[i + 1:], kwargs))
    return out


# --- assembling -----------------------------------------------------------------------------

def probe_source(args: tuple, kwargs: dict) -> str | None:
    """The literal source of one probe, or None when it does not round-trip as a literal."""
    src = repr((tuple(args), dict(kwargs)))
    if len(src) > MAX_LITERAL_CHARS:
        return None
    try:
        back = ast.literal_eval(src)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return src if back == (tuple(args), dict(kwargs)) else None


def _interleave(*lists: list) -> Iterable:
    for i in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if i < len(x):
                yield x[i]


def task_probes(task: Task, generated_tests: list[str] | None = None, limit: int = MAX_PROBES) -> list[str]:
    """The probes of one task: inputs from its generated tests and docstring examples first,
    then boundary inputs from the signature and small neighbours of the seen inputs."""
    seen: list[tuple[tuple, dict]] = docstring_inputs(task.prompt, task.entry_point)
    for test in generated_tests or []:
        seen += call_inputs(test, task.entry_point)
    arity = _arity(task)
    if arity is not None:  # a call with the wrong number of arguments only measures the typo
        seen = [(a, k) for a, k in seen if len(a) + len(k) == arity]
    ordered: list[str] = []

    def add(items: Iterable[tuple[tuple, dict]], cap: int) -> None:
        for args, kwargs in items:
            if len(ordered) >= cap:
                return
            src = probe_source(args, kwargs)
            if src is not None and src not in ordered:
                ordered.append(src)

    add(seen, MAX_FROM_TESTS)
    pools = _param_pools(task, seen)
    extra = boundary_inputs(pools) if pools is not None else []
    add(_interleave(extra, mutated_inputs(seen)), limit)
    return ordered


def _arity(task: Task) -> int | None:
    sig = _signature(task.prompt, task.entry_point, task.signature)
    if sig is None or sig.args.vararg or sig.args.kwarg or sig.args.defaults:
        return None
    return len(sig.args.args)


def probes_for_run(tasks: Iterable[Task], generated: dict[str, list[str]], select: str) -> dict[str, list[str]]:
    """Probes per task id for the tasks whose selection compares behaviour: every task under
    ``agreement``, and tasks without tests under any strategy (``score`` then ranks them by
    agreement). Other tasks get none: probes cost sandbox time that nothing would use."""
    out = {}
    for task in tasks:
        if select == "agreement" or not task.tests:
            probes = task_probes(task, generated.get(task.id))
            if probes:
                out[task.id] = probes
    return out
