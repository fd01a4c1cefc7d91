"""Selection strategies: which version of a task to trust, with a one-line reason.

Every strategy has the same shape, so the CLI, the engine and the evals bridge can pick one by
name. ``score`` is pure and lives here; the others are the ``ai_code_evals.selectors`` package,
which registers them on import (the front ends import it; the engine never imports upward).
"""
from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the CLI imports this module (for --select's names) at start-up
    from ai_code_evals.core.candidate import Candidate
    from ai_code_evals.core.task import Task
    from ai_code_evals.engine.results import CandidateResult
    from ai_code_evals.engine.scoring import Selection


@dataclass
class SelectionContext:
    task: Task
    results: list[CandidateResult]  # one per candidate (first profile), scored
    candidates: dict[str, Candidate]
    generated_tests: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # strategies append fallbacks here


Selector = Callable[[SelectionContext], Awaitable["Selection"]]


async def _score(ctx: SelectionContext) -> Selection:
    if not ctx.task.tests and ctx.results:
        # nothing to score correctness with: rank by behaviour instead of picking no one
        ctx.notices.append("the task has no tests, so score cannot tell right from wrong; "
                           "ranked by agreement instead")
        return await get_selector("agreement")(ctx)
    from ai_code_evals.engine.scoring import select_by_score

    return select_by_score(ctx.results)


# name -> a selector, or "module:function" imported the first time the name is asked for
SELECTORS: dict[str, Selector | str] = {"score": _score}


def register(name: str, selector: Selector | str) -> None:
    SELECTORS[name] = selector


def selector_names() -> list[str]:
    return list(SELECTORS)


def get_selector(name: str) -> Selector:
    try:
        selector = SELECTORS[name]
    except KeyError:
        from ai_code_evals.core.errors import InputError

        hint = "" if len(SELECTORS) > 1 else "; the others register when ai_code_evals.selectors is imported"
        raise InputError(f"unknown selection strategy {name!r} (choose from {', '.join(SELECTORS)}{hint})") from None
    if isinstance(selector, str):
        module, function = selector.split(":")
        selector = SELECTORS[name] = getattr(importlib.import_module(module), function)
    return selector
