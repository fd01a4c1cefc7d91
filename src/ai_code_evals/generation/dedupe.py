"""Near-duplicate versions: the same program up to names, docstrings, comments and annotations.

Two versions that differ only in how they name their variables behave identically, so the engine
runs the first and copies its verdict to the others (``duplicate_of``). Agreement selection still
counts every copy: several independent samples converging on one program is evidence for it.
"""
from __future__ import annotations

import ast
import hashlib

from ai_code_evals.generation.base import Candidate


class _Normalise(ast.NodeTransformer):
    """Drops docstrings and annotations; renames each function's arguments and locals to
    v0, v1, ... in order of first appearance. Globals, attributes and called builtins keep
    their names, because renaming those would change behaviour."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, str]] = []

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _drop_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        # bare constant statements (stray strings, `...`) do nothing
        body = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        return body or [ast.Pass()]

    def _local_names(self, node: ast.AST, args: ast.arguments) -> dict[str, str]:
        declared = {n for s in ast.walk(node) if isinstance(s, (ast.Global, ast.Nonlocal)) for n in s.names}
        order: list[str] = []
        for a in [*args.posonlyargs, *args.args, *([args.vararg] if args.vararg else []),
                  *args.kwonlyargs, *([args.kwarg] if args.kwarg else [])]:
            order.append(a.arg)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                order.append(sub.id)
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                order.append(sub.name)
        mapping: dict[str, str] = {}
        for name in order:
            if name not in mapping and name not in declared:
                mapping[name] = f"v{len(mapping)}"
        return mapping

    def _rename(self, name: str) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return name

    # -- visitors --------------------------------------------------------------------------
    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._drop_docstring(node.body)
        self.generic_visit(node)
        return node

    def _function(self, node):
        node.body = self._drop_docstring(node.body)
        node.returns = None
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self.scopes.append(self._local_names(node, node.args))
        node.args = self.visit(node.args)
        node.body = [self.visit(s) for s in node.body]
        self.scopes.pop()
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.scopes.append(self._local_names(node, node.args))
        self.generic_visit(node)
        self.scopes.pop()
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.body = self._drop_docstring(node.body)
        self.generic_visit(node)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._rename(node.id)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.Pass()
        return ast.Assign(targets=[self.visit(node.target)], value=self.visit(node.value), lineno=0)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self._rename(node.name)
        self.generic_visit(node)
        return node


def fingerprint(code: str) -> str | None:
    """A hash of the normalised program, or None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    tree = _Normalise().visit(tree)
    dump = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()[:20]


class Deduper:
    """Marks each candidate equal to an earlier one (per task) with ``duplicate_of``."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], str] = {}

    def mark(self, cand: Candidate) -> Candidate:
        if cand.error or cand.duplicate_of:
            return cand
        fp = fingerprint(cand.code)
        if fp is None:
            return cand
        original = self.first.setdefault((cand.task_id, fp), cand.id)
        if original == cand.id:
            return cand
        return cand.model_copy(update={"duplicate_of": original})


def mark_duplicates(candidates: list[Candidate]) -> list[Candidate]:
    """The list with later equal versions marked (samples files, offline packs)."""
    deduper = Deduper()
    return [deduper.mark(c) for c in candidates]
