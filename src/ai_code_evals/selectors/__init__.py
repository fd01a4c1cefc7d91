"""Selection strategies beyond plain scoring: which version of a task to trust when the
tests alone cannot say. Each module is one strategy and registers itself with the engine's
registry (``engine.selection.register``) on import; importing this package registers them all.

A new strategy is one module here that ends with ``register("name", select_by_name)``, plus its
import line below. Front ends take ``get_selector`` from here, so every strategy is registered
before a name is looked up.
"""
from ai_code_evals.engine.selection import get_selector
from ai_code_evals.selectors import agreement, codet, judge

__all__ = ["agreement", "codet", "get_selector", "judge"]
