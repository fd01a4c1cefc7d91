"""Scores, tie-breaks, reasons and pass@k."""
import pytest

from ai_code_evals.core.task import Weights
from ai_code_evals.engine.results import CandidateResult, decide_status
from ai_code_evals.engine.scoring import (
    combine_profiles,
    pass_at_k,
    pass_at_k_table,
    score_task,
    select_by_score,
)


def result(cid, status="passed", passed=4, total=4, handled=2, errors=2, ms=1.0, kib=1000, profile="default"):
    return CandidateResult(candidate_id=cid, task_id="t", status=status, tests_passed=passed, tests_total=total,
                           errors_handled=handled, errors_total=errors, median_ms=ms, peak_kib=kib, profile=profile)


def test_fast_wrong_never_beats_slow_right():
    rows = [result("t#0", ms=100.0), result("t#1", status="failed", passed=3, ms=0.1)]
    score_task(rows, Weights())
    assert rows[0].score > rows[1].score
    assert rows[1].score_parts["speed"] == 0.0
    assert select_by_score(rows).winner == "t#0"


def test_speed_is_relative_and_reason_says_how_much_faster():
    rows = [result("t#0", ms=10.0), result("t#1", ms=1.0), result("t#2", ms=2.5)]
    score_task(rows, Weights())
    assert rows[1].score_parts["speed"] == 1.0 and rows[0].score_parts["speed"] == pytest.approx(0.1)
    sel = select_by_score(rows)
    assert sel.winner == "t#1"
    assert "passes 4/4" in sel.reason and "handles 2/2 bad inputs" in sel.reason and "2.5× faster" in sel.reason


def test_ties_are_broken_deterministically_by_id():
    rows = [result("t#3"), result("t#1"), result("t#2")]
    score_task(rows, Weights())
    assert select_by_score(rows).winner == "t#1"
    assert select_by_score(list(reversed(rows))).winner == "t#1"


def test_weights_change_the_pick():
    robust_slow = result("t#0", ms=10.0, handled=2)
    fragile_fast = result("t#1", ms=1.0, handled=0)
    score_task([robust_slow, fragile_fast], Weights(correctness=1, error_handling=1, speed=0, memory=0))
    assert select_by_score([robust_slow, fragile_fast]).winner == "t#0"
    score_task([robust_slow, fragile_fast], Weights(correctness=1, error_handling=0, speed=1, memory=0))
    assert select_by_score([robust_slow, fragile_fast]).winner == "t#1"


def test_no_winner_when_nothing_passes_anything():
    rows = [result("t#0", status="error", passed=0, handled=0, ms=None, kib=None)]
    score_task(rows, Weights())
    assert select_by_score(rows).winner is None


def test_profiles_disagreeing_are_flagged():
    a = result("t#0", profile="default")
    b = result("t#0", status="failed", passed=3, profile="hash-seed")
    score_task([a], Weights())
    score_task([b], Weights())
    combined = combine_profiles([a, b])
    assert combined.status == "failed" and "hash-seed=failed" in combined.reason


def test_pass_at_k_matches_the_closed_form():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 1, 2) == pytest.approx(1 - (4 * 3) / (5 * 4))
    assert pass_at_k_table([(10, 3), (2, 1)]) == {"1": pytest.approx((0.3 + 0.5) / 2), "10": 1.0}


def test_status_needs_an_explicit_verdict():
    assert decide_status(None, exit_code=0, sig=None, timed_out=False, stalled_in=None)[0] == "error"
    assert decide_status(None, exit_code=None, sig=9, timed_out=False, stalled_in=None)[0] == "killed"
    assert decide_status(None, exit_code=None, sig=9, timed_out=True, stalled_in=None)[0] == "timeout"
    ok = {"tests_passed": 2, "tests_total": 2}
    assert decide_status(ok, exit_code=0, sig=None, timed_out=False, stalled_in=None)[0] == "passed"
    assert decide_status({"tests_passed": 1, "tests_total": 2, "timeouts": 1}, exit_code=0, sig=None,
                         timed_out=False, stalled_in=None)[0] == "timeout"


def timed(cid, runs, kib=1000, lines=None):
    r = result(cid, ms=sorted(runs)[len(runs) // 2], kib=kib)
    r.perf_runs_ms = list(runs)
    r.code_lines = lines
    return r


def test_close_timings_are_a_tie_within_noise_and_identical_runs_pick_the_same_winner():
    """Was: merge_intervals #2 vs #0 flipped between two identical runs, each time with a
    confident "N× faster". Two runs of the same pair whose repeat ranges overlap, medians swapped."""
    run1 = [timed("m#0", [1.00, 1.02, 1.05, 1.30, 1.10], lines=6), timed("m#2", [0.98, 1.01, 1.04, 1.20, 1.07], lines=4)]
    run2 = [timed("m#0", [0.97, 1.00, 1.03, 1.20, 1.06], lines=6), timed("m#2", [1.01, 1.03, 1.06, 1.30, 1.12], lines=4)]
    picks = []
    for rows in (run1, run2):
        score_task(rows, Weights())
        assert rows[0].score_parts["speed"] == rows[1].score_parts["speed"] == 1.0
        sel = select_by_score(rows)
        picks.append(sel.winner)
        assert "tied within noise on speed with m#0" in sel.reason and "faster" not in sel.reason
        assert "fewer lines" in sel.reason and "5 runs" in sel.reason
    assert picks == ["m#2", "m#2"]  # the simpler one, both times


def test_faster_is_claimed_only_when_repeat_ranges_do_not_overlap():
    rows = [timed("t#0", [2.0, 2.1, 2.2, 2.3, 2.4]), timed("t#1", [0.9, 1.0, 1.0, 1.1, 1.2])]
    score_task(rows, Weights())
    assert rows[1].score_parts["speed"] == 1.0 and rows[0].score_parts["speed"] < 1.0
    sel = select_by_score(rows)
    assert sel.winner == "t#1"
    assert "2.2× faster than the next (t#0): 1 ms (0.9–1.2, 5 runs) vs 2.2 ms (2–2.4, 5 runs)" in sel.reason
    # one slow outlier of the winner makes the ranges overlap: no claim
    rows = [timed("t#0", [2.0, 2.1, 2.2, 2.3, 2.4]), timed("t#1", [0.9, 1.0, 1.0, 1.1, 2.1])]
    score_task(rows, Weights())
    assert "tied within noise" in select_by_score(rows).reason


def test_memory_within_noise_is_a_tie():
    rows = [timed("t#0", [1, 1, 1], kib=10_000, lines=3), timed("t#1", [1, 1, 1], kib=10_200, lines=3)]
    score_task(rows, Weights())
    assert rows[0].score_parts["memory"] == rows[1].score_parts["memory"] == 1.0
    rows = [timed("t#0", [1, 1, 1], kib=10_000), timed("t#1", [1, 1, 1], kib=20_000)]
    score_task(rows, Weights())
    assert rows[1].score_parts["memory"] == 0.5
    assert "uses the least memory" in select_by_score(rows).reason


def test_repeat_totals_sum_the_cases_per_repeat():
    from ai_code_evals.engine.results import repeat_totals

    assert repeat_totals([[1.0, 2.0, 3.0], [0.5, 0.5]]) == [1.5, 2.5]
    assert repeat_totals([[], []]) == []
