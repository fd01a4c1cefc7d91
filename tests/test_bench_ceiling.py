"""benchmarks/bench_ceiling.py: the floor it measures must be versions that all run and all pass,
through our real CLI, and its ratios must say what the README says they say."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_ceiling
from bench_humaneval import run_ours, write_inputs

from ai_code_evals.generation.dedupe import fingerprint


def test_no_two_floor_versions_are_duplicates_so_every_one_runs_and_passes(tmp_path):
    floor = bench_ceiling.floor_samples(4)
    prompt = bench_ceiling.FLOOR_TASK["prompt"]
    assert len({fingerprint(prompt + s.completion) for s in floor}) == 4

    problems, samples = write_inputs(tmp_path, [bench_ceiling.FLOOR_TASK], floor)
    ours = run_ours(problems, samples, floor, tmp_path, jobs=None, tag="floor")
    assert [r["status"] for r in ours["results"]] == ["passed"] * 4
    assert ours["duplicates"] == 0
    assert ours["log"]["ran"] == 5  # the four and the task's reference, run first


def test_the_ceiling_is_the_peers_time_over_the_floors():
    row = bench_ceiling.ceiling(human_eval_s=60.0, ours_s=25.0, floor_s=20.0)
    assert row["ratio"] == 2.4  # as run
    assert row["ceiling"] == 3.0  # if every version cost only the fixed part
    assert row["floor_share"] == 0.8
