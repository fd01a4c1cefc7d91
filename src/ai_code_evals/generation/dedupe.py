"""Duplicate versions: the same program once comments and layout are dropped, and its local
variables renamed where it cannot see their names (``local_names.py``). A program that could see
them could also read its own line numbers or source (frames, tracebacks, ``open(__file__)``):
there layout counts too, and only the same text is the same program.

Two such versions behave identically under any test, so the engine runs the first and copies its
verdict to the others (``duplicate_of``). Nothing else is ignored: parameter names (a keyword
argument test tells them apart), annotations and docstrings (a program may read them) all count,
and so do local names in a program that could read them, so a version never inherits a verdict
it might not have earned. Agreement selection still counts
every copy: several independent samples converging on one program is evidence for it.

The fingerprint is the app's own Python's reading of the program. Where a version runs under
another Python, the engine keeps a copy only when its text is its original's
(``engine/profiles.py: runs_the_apps_python``).
"""
from __future__ import annotations

import ast
import hashlib

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.generation.local_names import canonical_locals

# Programs longer than this are compared by their text, not parsed here. Python's parser takes
# about 300 bytes of memory per byte of redundant parentheses: a 4.8 MB version with the syntax
# tree of a 24 KB one cost this process 1.5 GB to fingerprint, and fails to load in a 1 GiB
# sandbox where its short twin passes. Real versions are a few KB.
PARSE_AT_MOST = 64 * 1024


def fingerprint(code: str) -> str | None:
    """A hash of the program's syntax tree (comments and layout gone, unobservable local names
    made canonical), of its text when it could observe itself or is longer than
    ``PARSE_AT_MOST``, or None when it does not parse."""
    if len(code) > PARSE_AT_MOST:
        return _text_fingerprint(code)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    try:
        canonical = canonical_locals(tree)
        if canonical is None:  # it could read its own line numbers or source: only its text is it
            return _text_fingerprint(code)
        dump = ast.dump(canonical, annotate_fields=False, include_attributes=False)
    except (ValueError, MemoryError, RecursionError):  # an int literal too long to print, say
        return _text_fingerprint(code)
    return hashlib.sha256(dump.encode()).hexdigest()[:20]


def _text_fingerprint(code: str) -> str:
    return hashlib.sha256(b"text\0" + code.encode(errors="surrogatepass")).hexdigest()[:20]


class Deduper:
    """Marks each candidate equal to an earlier one (per task) with ``duplicate_of``."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], str] = {}
        # the same text has the same fingerprint: a quarter of real samples repeat one exactly
        # (first 40 of each HumanEval task, CodeGen-16B), and parsing is most of loading them
        self._fingerprints: dict[str, str | None] = {}

    def mark(self, cand: Candidate) -> Candidate:
        if cand.error or cand.duplicate_of:
            return cand
        fp = self._fingerprints.get(cand.code, "")
        if fp == "":
            fp = self._fingerprints[cand.code] = fingerprint(cand.code)
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
