"""Record a user's pick in an existing run log (replay), atomically.

The log stays a valid evals record: the ``selection`` event goes after the last event and before
``final_report``, whose ``user_selections`` is updated. The new file is written next to the old
one and renamed over it, so a crash leaves either the old or the new log, never half of one.
No Textual import.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ai_code_evals.core.errors import InputError
from ai_code_evals.runlog.writer import CREATED_BY, iso_now


def amend_user_selection(path: Path, selection: dict) -> int:
    """Insert a ``selection`` event (``selection`` is ``TaskSelected(by="user").to_data()``) and
    update ``final_report.user_selections``. Returns the new event's id."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the run log: {exc.strerror or exc}", path=str(path)) from None
    lines = raw.split(b"\n")
    if lines and lines[-1].strip():  # a last line without newline: complete JSON or a cut line
        try:
            json.loads(lines[-1])
        except ValueError:
            lines = lines[:-1]  # cut by a crash: the reader ignores it too
    lines = [ln for ln in lines if ln.strip()]
    run_id, next_id, report_at = "", 0, None
    for i, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except ValueError:
            raise InputError("not a JSON line of a run log", path=str(path), line=i + 1) from None
        if i == 0:
            run_id = (obj.get("spec") or {}).get("run_id", "")
        elif "final_report" in obj:
            report_at = i
        elif isinstance(obj.get("event_id"), int):
            next_id = max(next_id, obj["event_id"] + 1)
    event = {"run_id": run_id, "event_id": next_id, "sample_id": selection.get("task_id", ""),
             "type": "selection", "data": selection, "created_by": CREATED_BY, "created_at": iso_now()}
    new_line = json.dumps(event, default=str, ensure_ascii=False).encode()
    if report_at is None:
        lines.append(new_line)
    else:
        report = json.loads(lines[report_at])
        final = dict(report.get("final_report") or {})
        picks = dict(final.get("user_selections") or {})
        picks[selection.get("task_id", "")] = {"winner": selection.get("winner"),
                                               "reason": selection.get("reason", "")}
        final["user_selections"] = picks
        report["final_report"] = final
        lines[report_at] = json.dumps(report, default=str, ensure_ascii=False).encode()
        lines.insert(report_at, new_line)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\n".join(lines) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.chmod(tmp, path.stat().st_mode & 0o777)
        except OSError:
            pass
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot update the run log: {exc.strerror or exc}", path=str(path)) from None
    return next_id
