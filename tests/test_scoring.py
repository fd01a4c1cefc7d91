"""Scores, tie-breaks, reasons and pass@k."""
import pytest

from ai_code_evals.engine.results import CandidateResult, decide_status
from ai_code_evals.engine.scoring import (
    combine_profiles,
    pass_at_k,
    pass_at_k_table,
    score_task,
    select_by_score,
)
from ai_code_evals.tasks.model import Weights


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
