"""Which of a function's local variables a read may find unbound.

Python names the variable in the error such a read raises ("cannot access local variable 'total'
where it is not associated with a value", and "... free variable ..." from a nested function), and
a task's test can read that message. So a local that may be read unbound keeps its name in the
duplicate fingerprint (``local_names.py``): an eighth red team had twins ``total`` and ``acc``
share a verdict that a test of the message told apart.

Such a name keeps its name everywhere in the program (``local_names._unsafe_names``): an outer
function's renaming covers its nested scopes, where the same name may be their own local (a ninth
red team's find). The answer over-approximates, as a fingerprint needs: a name is safe only when every read comes
after an assignment on every path through the body (the branches of an ``if`` meet; a loop's or
a ``try`` body's assignments do not count after it or in its handlers; a ``return``, ``raise``,
``break`` or ``continue`` ends a path), reads in nested functions and lambdas count at their
definition, and a name deleted anywhere is never safe.
"""
from __future__ import annotations

import ast

ENDS_PATH = (ast.Return, ast.Raise, ast.Break, ast.Continue)


def unbound_reads(body: list[ast.stmt], local: set[str]) -> set[str]:
    """The names in ``local`` (names the function binds) some read in ``body`` may find unbound."""
    deletes = [d for statement in body for d in ast.walk(statement) if isinstance(d, ast.Delete)]
    risky = {n.id for d in deletes for target in d.targets for n in ast.walk(target) if isinstance(n, ast.Name)} & local

    def reads(node: ast.AST | None, assigned: frozenset[str]) -> None:
        if node is not None:
            risky.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                         and n.id in local and n.id not in assigned)

    def flow(statements: list[ast.stmt], assigned: frozenset[str] | None) -> frozenset[str] | None:
        for statement in statements:
            if assigned is None:
                return None
            assigned = step(statement, assigned)
        return assigned

    def step(s: ast.stmt, a: frozenset[str]) -> frozenset[str] | None:
        if isinstance(s, ENDS_PATH):
            reads(s, a)
            return None
        if isinstance(s, ast.Assign):
            reads(s.value, a)
            for target in s.targets:
                reads(target, a)  # the loads inside a target: xs[i] = ...
            return a | _stored(s.targets)
        if isinstance(s, ast.AugAssign):
            reads(s.value, a)
            reads(ast.Name(s.target.id, ast.Load()) if isinstance(s.target, ast.Name) else s.target, a)
            return a | _stored([s.target])
        if isinstance(s, ast.AnnAssign):
            reads(s.value, a)
            reads(s.target, a)
            return a | _stored([s.target]) if s.value is not None else a
        if isinstance(s, (ast.For, ast.AsyncFor)):
            reads(s.iter, a)
            reads(s.target, a)
            flow(s.body, a | _stored([s.target]))
            flow(s.orelse, a)
            return a
        if isinstance(s, ast.While):
            reads(s.test, a)
            flow(s.body, a)
            flow(s.orelse, a)
            return a
        if isinstance(s, ast.If):
            reads(s.test, a)
            return _meet(flow(s.body, a), flow(s.orelse, a))
        if isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                reads(item.context_expr, a)
                if item.optional_vars is not None:
                    reads(item.optional_vars, a)
                    a = a | _stored([item.optional_vars])
            return flow(s.body, a)
        if isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            for handler in s.handlers:
                reads(handler.type, a)
            after = _meet(flow(s.orelse, flow(s.body, a)), *(flow(h.body, a) for h in s.handlers))
            done = flow(s.finalbody, a)
            return None if after is None or done is None else after | done
        if isinstance(s, ast.Match):
            reads(s.subject, a)
            for case in s.cases:
                reads(case.pattern, a)
                reads(case.guard, a)
                flow(case.body, a)
            return a
        reads(s, a)  # expressions, asserts, deletes, nested functions and classes (read at definition)
        return a

    flow(body, frozenset())
    return risky


def _stored(targets: list[ast.AST]) -> frozenset[str]:
    return frozenset(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))


def _meet(*paths: frozenset[str] | None) -> frozenset[str] | None:
    """What is assigned after branches join: on every branch that goes on (None: none does)."""
    going_on = [p for p in paths if p is not None]
    return frozenset.intersection(*going_on) if going_on else None


def comprehension_unbound_reads(node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> set[str]:
    """Its loop variables some part reads before their generator assigns them
    (``[1 for a in xs if total for total in xs]``, a ninth red team's find)."""
    targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    assigned: set[str] = set()
    risky: set[str] = set()

    def reads(part: ast.AST) -> None:
        risky.update(n.id for n in ast.walk(part) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                     and n.id in targets and n.id not in assigned)

    for i, generator in enumerate(node.generators):
        if i:  # the first iterable is evaluated outside, before any of them
            reads(generator.iter)
        reads(generator.target)  # xs[total] in a target is read before total is assigned
        assigned.update(n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)
                        and isinstance(n.ctx, ast.Store))
        for condition in generator.ifs:
            reads(condition)
    for part in (getattr(node, f) for f in ("elt", "key", "value") if hasattr(node, f)):
        reads(part)
    return risky
