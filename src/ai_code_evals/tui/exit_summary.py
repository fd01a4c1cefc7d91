"""What the terminal shows after the TUI closes: the winners, where the log is, and the exact
command to replay (or resume) the run, so that quitting never leaves a user empty-handed.
No Textual import."""
from __future__ import annotations

import shlex
from pathlib import Path

from ai_code_evals.tui.model import RunModel

MAX_WINNER_LINES = 20


def exit_summary(model: RunModel, record: Path | str | None, *, mode: str, interrupted: bool) -> list[str]:
    lines: list[str] = []
    done = sum(1 for p in model.panes.values() if p.result is not None)
    total = len(model.panes)
    run = f"run {model.run_id}" if model.run_id else "run"
    if interrupted:
        lines.append(f"ai-code-evals: {run} interrupted ({done}/{total} sandboxes finished).")
    elif mode == "replay":
        lines.append(f"ai-code-evals: replayed {run} ({done}/{total} sandboxes).")
    else:
        lines.append(f"ai-code-evals: {run} complete ({done}/{total} sandboxes finished).")
    winners = [(t, model.tasks[t].winner) for t in model.task_ids]
    picked = [(t, w) for t, w in winners if w]
    if picked or not interrupted:
        lines.append(f"winners ({len(picked)} of {len(winners)} tasks):")
        for task_id, winner in winners[:MAX_WINNER_LINES]:
            task = model.tasks[task_id]
            mark = " (your pick)" if task.user_selection and task.user_selection.get("winner") == winner else ""
            lines.append(f"  {task_id}: {winner or 'none'}{mark}")
        if len(winners) > MAX_WINNER_LINES:
            lines.append(f"  … and {len(winners) - MAX_WINNER_LINES} more (ai-code-evals export shows them all)")
    if record:
        path = shlex.quote(str(record))
        lines.append(f"log: {record}")
        if interrupted or (mode == "replay" and not model.finished):
            lines.append(f"resume: ai-code-evals resume {path}")
        lines.append(f"replay: ai-code-evals replay {path}")
        if not interrupted and picked:
            lines.append(f"export: ai-code-evals export {path}")
    return lines
