"""`agreement` selection on constructed results: behaviour clusters, model tests, functional
overlap, the reason it gives, thin evidence, and tasks where nothing ran. The engine path (probes
run in the sandboxes) is in test_selection_engine.py."""
from __future__ import annotations

import asyncio

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.task import Task, TestCase, Weights
from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.engine.scoring import score_task
from ai_code_evals.engine.selection import SelectionContext
from ai_code_evals.generation.behaviour import Version, rank_by_behaviour
from ai_code_evals.selectors import get_selector
from ai_code_evals.selectors.agreement import select_by_agreement

TASK = Task(id="t", entry_point="f", prompt="def f(xs: list) -> int:\n    '''largest element'''\n")


def row(cid: str, outputs: list[str] | None, passed: list[int] = (), status: str = "unchecked",
        dup: str | None = None, tests_passed: int = 0, tests_total: int = 0, reason: str = "",
        generated_total: int = 4) -> CandidateResult:
    r = CandidateResult(candidate_id=cid, task_id="t", status=status, generated_passed=list(passed),
                        generated_total=generated_total, duplicate_of=dup, tests_passed=tests_passed, tests_total=tests_total,
                        reason=reason)
    r.__dict__["probe_outputs"] = outputs  # the engine fills this field
    return r


def ctx_for(rows, task=TASK, n_tests=4):
    score_task(rows, Weights())
    cands = {r.candidate_id: Candidate(id=r.candidate_id, task_id="t", code="x") for r in rows}
    return SelectionContext(task=task, results=rows, candidates=cands, generated_tests=["assert f([1]) == 1"] * n_tests)


def pick(ctx):
    return asyncio.run(select_by_agreement(ctx))


RIGHT = ["v:3", "v:5", "v:1"]
RIGHT_EMPTY_ERR = ["v:3", "v:5", "e:ValueError"]  # right, differs only on the empty list
WRONG = ["v:1", "v:2", "v:0"]


def test_overlap_lets_right_versions_split_on_an_edge_input_beat_a_larger_wrong_cluster():
    rows = [row("t#0", RIGHT, [0, 1]), row("t#1", RIGHT, [0, 1]),
            row("t#2", RIGHT_EMPTY_ERR, [0, 1]), row("t#3", RIGHT_EMPTY_ERR, [0, 1]),
            row("t#4", WRONG, [0, 1]), row("t#5", WRONG, [0, 1]), row("t#6", WRONG, [0, 1])]
    without = rank_by_behaviour([Version(r.candidate_id, tuple(r.__dict__["probe_outputs"]),
                                         frozenset(r.generated_passed)) for r in rows], 4, overlap=False)
    assert without.best.members[0].id == "t#4"  # by size alone the wrong trio wins
    sel = pick(ctx_for(rows))
    assert sel.winner == "t#0"
    assert sel.reason == ("t#0: behaviour cluster most backed by similar ones: 2 of 7 versions agree on 3 "
                          "inputs; passes 2/4 model tests; narrow lead: 1.00× the next cluster's support "
                          "(which agrees with it on 2 of 3 inputs)")


def test_model_tests_outweigh_a_slightly_larger_cluster_and_the_reason_says_so():
    rows = [row("t#0", RIGHT, [0, 1, 2]), row("t#1", RIGHT, [0, 1, 2]),
            row("t#2", WRONG, [3]), row("t#3", WRONG, [3]), row("t#4", WRONG, [3])]
    sel = pick(ctx_for(rows))
    assert sel.winner == "t#0"
    assert sel.reason == ("t#0: behaviour cluster passing the most model tests: 2 of 5 versions agree on 3 "
                          "inputs; passes 3/4 model tests, 3 of them disputed; moderate lead: 1.33× the next "
                          "cluster's support (which agrees with it on 0 of 3 inputs)")


def test_disputed_tests_and_duplicates_are_counted():
    rows = [row("t#0", RIGHT, [0, 1, 3]), row("t#1", RIGHT, [0, 1, 3], dup="t#0"), row("t#2", RIGHT, [0, 1, 3]),
            row("t#3", WRONG, [0]), row("t#4", WRONG, [0]), row("t#5", ["v:9", "v:9", "v:9"], [0])]
    sel = pick(ctx_for(rows))
    assert sel.winner == "t#0"  # the program written twice
    assert ("largest behaviour cluster: 3 of 6 versions agree on 3 inputs; passes 3/4 model tests, "
            "2 of them disputed; the same program written 2 times") in sel.reason


def test_thin_evidence_is_said():
    rows = [row("t#0", ["v:1", "v:2"]), row("t#1", ["v:1", "v:3"]), row("t#2", ["v:4", "v:5"])]
    sel = pick(ctx_for(rows, n_tests=0))
    assert sel.winner == "t#0"  # agrees with t#1 on one input of two
    assert "a single version of 3 (no other behaves the same on the 2 inputs)" in sel.reason
    assert sel.reason.endswith("thin evidence: every behaviour cluster has one version (no two versions agree)")


def test_without_probes_the_model_tests_passed_are_the_behaviour():
    rows = [row("t#0", None, [0, 1, 2]), row("t#1", None, [0, 1, 2]), row("t#2", None, [3])]
    sel = pick(ctx_for(rows))
    assert sel.winner == "t#0" and "agree on 4 model tests" in sel.reason


def test_no_version_ran_gives_no_winner_and_why():
    rows = [row("t#0", None, status="error", reason="does not load: SyntaxError: invalid syntax"),
            row("t#1", None, status="error", reason="does not load: SyntaxError: invalid syntax"),
            row("t#2", None, status="error", reason="does not load: NameError: name 'q' is not defined")]
    sel = pick(ctx_for(rows))
    assert sel.winner is None
    assert sel.reason == ("no winner: none of the 3 versions ran (2 does not load: SyntaxError: invalid syntax; "
                          "1 does not load: NameError: name 'q' is not defined)")


def test_nothing_to_compare_on_gives_no_winner_or_score_when_the_task_has_tests():
    rows = [row("t#0", None, generated_total=0), row("t#1", None, generated_total=0)]
    sel = pick(ctx_for(rows, n_tests=0))
    assert sel.winner is None and sel.reason.startswith("no winner: 2 version(s) ran, but there is nothing to tell")
    task = Task(id="t", entry_point="f", tests=[TestCase(args=[[1]], expect=1)])
    rows = [row("t#0", None, generated_total=0, status="failed", tests_total=1),
            row("t#1", None, generated_total=0, status="passed", tests_passed=1, tests_total=1)]
    ctx = ctx_for(rows, task=task, n_tests=0)
    assert pick(ctx).winner == "t#1"
    assert ctx.notices == [("agreement selection found no probe input and no model test to compare versions on; "
                           "selected by score")]


def test_real_tests_come_first_when_the_task_has_them():
    task = Task(id="t", entry_point="f", tests=[TestCase(args=[[1]], expect=1)] * 2)
    rows = [row("t#0", WRONG, [0, 1], status="failed", tests_passed=1, tests_total=2),
            row("t#1", WRONG, [0, 1], status="failed", tests_passed=1, tests_total=2),
            row("t#2", RIGHT, [], status="passed", tests_passed=2, tests_total=2)]
    sel = pick(ctx_for(rows, task=task))
    assert sel.winner == "t#2" and "passes 2/2 tests" in sel.reason


def test_registered_names_and_score_on_a_task_without_tests_ranks_by_agreement():
    assert get_selector("agreement") is select_by_agreement
    rows = [row("t#0", WRONG), row("t#1", RIGHT), row("t#2", RIGHT)]
    ctx = ctx_for(rows, n_tests=0)
    sel = asyncio.run(get_selector("score")(ctx))
    assert sel.winner == "t#1"
    assert ctx.notices[0].startswith("the task has no tests, so score cannot tell right from wrong")


def test_selection_is_deterministic_and_order_breaks_exact_ties():
    rows = [row("t#0", ["v:1"]), row("t#1", ["v:2"])]
    assert {pick(ctx_for(rows)).winner for _ in range(3)} == {"t#0"}


# -- the judge breaks near-ties, when a model is configured (local OpenAI-compatible test double) --

def test_the_judge_breaks_a_near_tie_between_clusters_and_only_then():
    import json

    from openai_server import OpenAITestServer, Reply

    from ai_code_evals.generation.openai_client import ChatClient
    from ai_code_evals.generation.openai_settings import OpenAISettings
    from ai_code_evals.selectors import judge

    tied = [row("t#0", WRONG, [0, 1]), row("t#1", WRONG, [0, 1]), row("t#2", RIGHT, [0, 1]),
            row("t#3", RIGHT, [0, 1])]
    clear = [row("t#0", RIGHT, [0, 1]), row("t#1", RIGHT, [0, 1]), row("t#2", WRONG, [])]
    with OpenAITestServer() as srv:
        settings = OpenAISettings(api_key="sk-test", base_url=srv.base_url, model="judge-m", max_retries=0)
        judge.configure(settings, ChatClient(settings))
        try:
            srv.script(Reply(json.dumps({"winner": "t#2", "reason": "Handles repeats."})))
            sel = pick(ctx_for(tied))
            assert sel.winner == "t#2"
            assert sel.reason.endswith("narrow lead (1.00× the next cluster's support (which agrees with it on 0 "
                                       "of 3 inputs)), the judge broke the tie: judge (judge-m): Handles repeats.")
            [req] = srv.requests
            assert req["response_format"]["json_schema"]["schema"]["properties"]["winner"]["enum"] == ["t#0", "t#2"]
            assert pick(ctx_for(clear)).winner == "t#0" and len(srv.requests) == 1  # no tie: no question
            srv.script(Reply("I cannot decide."))
            ctx = ctx_for(tied)
            assert pick(ctx).winner == "t#0"  # an unusable answer keeps the ranking's pick, with a notice
            assert ctx.notices and ctx.notices[0].startswith("agreement tie-break: judge: the answer is not JSON")
        finally:
            judge.configure(None, None)
