"""Read a run log back: spec, events, final report, and how it ended.

Tolerates a log cut at any byte: a last line without its newline (or not JSON) is ignored and
reported, never fatal. Anything else malformed is an InputError naming the line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import Event, event_from_record

E = TypeVar("E", bound=Event)


@dataclass
class RunRecord:
    path: Path
    spec: dict
    events: list[dict] = field(default_factory=list)
    final_report: dict | None = None
    truncated_tail: bool = False  # a half-written last line was ignored
    valid_bytes: int = 0  # length of the readable prefix (resume appends after it)

    @property
    def run_id(self) -> str:
        return self.spec.get("run_id", "")

    def of_type(self, *types: str) -> list[dict]:
        return [e for e in self.events if e.get("type") in types]

    def events_of(self, cls: type[E]) -> list[E]:
        """The logged events of one type, parsed back into the type the engine published."""
        parsed = (event_from_record(cls.kind, e.get("data")) for e in self.events if e.get("type") == cls.kind)
        return [ev for ev in parsed if isinstance(ev, cls)]

    @property
    def next_event_id(self) -> int:
        return max((e.get("event_id", -1) for e in self.events), default=-1) + 1


def read_record(path: str | Path) -> RunRecord:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such run log", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the run log: {exc.strerror or exc}", path=str(path)) from None
    lines = raw.split(b"\n")
    record: RunRecord | None = None
    offset = 0
    for number, line in enumerate(lines, start=1):
        is_last = number == len(lines)
        end = offset + len(line) + (0 if is_last else 1)
        if not line.strip():
            offset = end
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if is_last and record is not None:  # cut mid-line by a crash
                record.truncated_tail = True
                break
            if is_last:
                raise InputError("the log ends inside its first line: it was cut before anything was "
                                 "recorded; start the run again", path=str(path), line=number) from None
            raise InputError("not a JSON line of a run log", path=str(path), line=number) from None
        if not isinstance(obj, dict):
            raise InputError("not a line of a run log (expected a JSON object)", path=str(path), line=number)
        if record is None:
            if not isinstance(obj.get("spec"), dict):
                raise InputError("a run log must start with a 'spec' line", path=str(path), line=number)
            record = RunRecord(path=path, spec=obj["spec"])
        elif "final_report" in obj:
            record.final_report = obj["final_report"]
        elif isinstance(obj, dict) and "type" in obj:
            record.events.append(obj)
        offset = end
        record.valid_bytes = offset
    if record is None:
        raise InputError("empty run log", path=str(path))
    return record
