"""Which version won each task of a recorded run (a user's pick beats the engine's), with its code."""
from __future__ import annotations

from pathlib import Path

from ai_code_evals.runlog.reader import read_record


def winners(path: str | Path) -> dict[str, tuple[str | None, str]]:
    """task_id -> (winning candidate id or None, its code)."""
    record = read_record(path)
    code = {e["data"]["candidate_id"]: e["data"]["code"] for e in record.of_type("candidate")}
    engine: dict[str, str | None] = {}
    user: dict[str, str | None] = {}
    for e in record.of_type("selection"):  # in order: the latest pick of each kind wins
        d = e["data"]
        (user if d.get("by") == "user" else engine)[d["task_id"]] = d.get("winner")
    for task_id, sel in ((record.final_report or {}).get("user_selections") or {}).items():
        user[task_id] = sel.get("winner")
    picked = {**engine, **user}
    return {t: (w, code.get(w, "") if w else "") for t, w in picked.items()}
