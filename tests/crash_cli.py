"""The real CLI, made to freeze at a chosen point of its run log so a test can kill -9 it there.

``ACE_TEST_STOP_AT`` says where; the process sends itself SIGSTOP right after writing that
line (its sandboxes keep running), and the test then kills it with SIGKILL:

- ``running:<candidate id>``  the candidate's first snapshot inside a test (its sandbox is busy)
- ``result:<k>``              the k-th result line
- ``final_report``            half of the final report line (a write cut by the crash)

Everything else is the unmodified ``ai_code_evals.cli.main``.
"""
import json
import os
import signal
import sys

from ai_code_evals.cli import main
from ai_code_evals.runlog import writer

STOP_AT = os.environ.get("ACE_TEST_STOP_AT", "")
_seen = {"result": 0}


def _freeze() -> None:
    os.kill(os.getpid(), signal.SIGSTOP)


def _hit(obj: dict) -> bool:
    kind, _, arg = STOP_AT.partition(":")
    if kind == "running" and obj.get("type") == "snapshot":
        d = obj["data"]
        return d["candidate_id"] == arg and d["state"] == "running" and d["test_index"] >= 1
    if kind == "result" and obj.get("type") == "result":
        _seen["result"] += 1
        return _seen["result"] == int(arg)
    return False


_original = writer.RunLog._write


def _write(self, obj: dict) -> None:
    if STOP_AT == "final_report" and "final_report" in obj and self._fh is not None:
        line = json.dumps(obj, default=str, ensure_ascii=False)
        self._fh.write(line[: len(line) // 2])
        self._fh.flush()
        _freeze()
    _original(self, obj)
    if _hit(obj):
        _freeze()


writer.RunLog._write = _write

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
