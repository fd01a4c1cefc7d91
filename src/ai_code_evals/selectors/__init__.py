"""Selection strategies beyond plain scoring: which version of a task to trust when the tests
alone cannot say. Importing this package registers each strategy with the engine's registry by
name; its module is imported only when a run asks for it (``judge`` pulls in the openai client).

A new strategy is one module here with ``async def select_by_x(ctx: SelectionContext) ->
Selection`` plus one line in ``STRATEGIES``; ``--select x`` and the evals bridge's ``select``
arg then accept it. Front ends take ``get_selector`` from here, so the names are registered
before one is looked up.
"""
from ai_code_evals.engine.selection import get_selector, register, selector_names

# name -> "module:function"
STRATEGIES = {
    "agreement": "ai_code_evals.selectors.agreement:select_by_agreement",
    "codet": "ai_code_evals.selectors.codet:select_by_codet",
    "judge": "ai_code_evals.selectors.judge:select_by_judge",
}
for _name, _target in STRATEGIES.items():
    register(_name, _target)

__all__ = ["STRATEGIES", "get_selector", "selector_names"]
