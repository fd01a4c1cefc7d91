"""The grid filter typed after `/`, and the natural order of task ids. No Textual import.

Words are ANDed. A plain word matches a task id or a version id (case-insensitive substring);
``status:``, ``task:`` and ``env:`` narrow by field:

- ``status:passed``; ``status:failed`` = finished without passing (failed, error, timeout,
  killed); ``status:error``, ``status:timeout``, ``status:killed``, ``status:skipped`` exactly;
  ``status:running`` = not finished yet.
- ``task:HumanEval/12`` = that task exactly (``*`` and ``?`` work as in file names).
- ``env:low-memory`` = that environment profile.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from ai_code_evals.tui.model import PaneModel, natural_key

__all__ = ["PaneFilter", "natural_key"]

FIELDS = ("status", "task", "env")
EXAMPLES = {"status": "failed", "task": "HumanEval/12", "env": "low-memory"}
NOT_PASSED = {"failed", "error", "timeout", "killed"}
STATUSES = {"passed", "failed", "error", "timeout", "killed", "skipped", "running", "unchecked"}


@dataclass(frozen=True)
class PaneFilter:
    text: str = ""
    words: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    task: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    _task_exact: frozenset = field(default=frozenset(), compare=False)

    @classmethod
    def parse(cls, text: str) -> PaneFilter:
        """Raises ValueError with one readable sentence for an unknown field or status."""
        words, by_field = [], {f: [] for f in FIELDS}
        for token in text.split():
            key, sep, value = token.partition(":")
            if sep and key.lower() in FIELDS:
                if not value:
                    raise ValueError(f"{key}: needs a value, e.g. {key.lower()}:{EXAMPLES[key.lower()]}")
                value = value.lower() if key.lower() != "task" else value
                if key.lower() == "status" and value not in STATUSES:
                    raise ValueError(f"unknown status {value!r}: use one of {', '.join(sorted(STATUSES))}")
                by_field[key.lower()].append(value)
            elif sep and key and key.isalpha() and not value.startswith("/"):
                raise ValueError(f"unknown filter {key}: (use status:, task:, env: or plain words)")
            else:
                words.append(token.lower())
        tasks = tuple(by_field["task"])
        return cls(text=text.strip(), words=tuple(words), status=tuple(by_field["status"]), task=tasks,
                   env=tuple(by_field["env"]),
                   _task_exact=frozenset(t.lower() for t in tasks if not any(c in t for c in "*?[")))

    @property
    def empty(self) -> bool:
        return not (self.words or self.status or self.task or self.env)

    def matches(self, pane: PaneModel) -> bool:
        if self.env and pane.profile.lower() not in self.env:
            return False
        if self.task and not self._task_ok(pane.task_id):
            return False
        if self.status and not any(_status_ok(want, pane.status, pane.result is not None)
                                   for want in self.status):
            return False
        if self.words:
            hay = f"{pane.task_id}\n{pane.candidate_id}".lower()
            return all(w in hay for w in self.words)
        return True

    def _task_ok(self, task_id: str) -> bool:
        low = task_id.lower()
        if low in self._task_exact:
            return True
        return any(fnmatch.fnmatchcase(low, t.lower()) for t in self.task if t.lower() not in self._task_exact)


def _status_ok(want: str, status: str | None, finished: bool) -> bool:
    if want == "running":
        return not finished
    if not finished:
        return False
    if want == "failed":
        return status in NOT_PASSED
    return status == want
