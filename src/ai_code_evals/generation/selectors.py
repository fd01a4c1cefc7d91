"""Registers the generation layer's selection strategies with the engine on import.

``engine.selection.get_selector`` imports this module the first time it is asked for a name it
does not know, so the engine never depends on the LLM code unless a run asks for it.
"""
from __future__ import annotations

from ai_code_evals.engine.selection import register
from ai_code_evals.generation.agreement import select_by_codet
from ai_code_evals.generation.behaviour_select import select_by_agreement
from ai_code_evals.generation.judge import select_by_judge

register("agreement", select_by_agreement)
register("codet", select_by_codet)
register("judge", select_by_judge)

__all__ = ["select_by_agreement", "select_by_codet", "select_by_judge"]
