"""`judge` selection against the local OpenAI-compatible test double: a valid verdict, verdicts
naming nothing usable, non-JSON answers, servers without structured output, network failures
and missing configuration (each falls back to `score` with a notice, never a crash)."""
from __future__ import annotations

import json

import pytest
from openai_server import OpenAITestServer, Reply, user_text

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.task import Task, TestCase, Weights
from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.engine.scoring import score_task, select_by_score
from ai_code_evals.engine.selection import SelectionContext
from ai_code_evals.generation.openai_client import ChatClient
from ai_code_evals.generation.openai_settings import OpenAISettings
from ai_code_evals.selectors import get_selector, judge

TASK = Task(id="t", entry_point="mid", prompt="mid(xs): the median of a non-empty list.",
            tests=[TestCase(args=[[1, 2, 3]], expect=2), TestCase(args=[[4, 1]], expect=2.5)])
CODE = {
    "t#0": "def mid(xs):\n    s = sorted(xs)\n    n = len(s)\n    return s[n // 2] if n % 2 else (s[n//2-1] + s[n//2]) / 2\n",
    "t#1": "import statistics\n\ndef mid(xs):\n    return statistics.median(xs)\n",
    "t#2": "def mid(xs):\n    return sorted(xs)[len(xs) // 2]\n",
}


def context() -> SelectionContext:
    rows = [
        CandidateResult(candidate_id="t#0", task_id="t", status="passed", tests_passed=2, tests_total=2,
                        median_ms=0.8, peak_kib=900, generated_passed=[0, 1, 2], generated_total=3),
        CandidateResult(candidate_id="t#1", task_id="t", status="passed", tests_passed=2, tests_total=2,
                        median_ms=2.5, peak_kib=1200, generated_passed=[0, 1, 2], generated_total=3),
        CandidateResult(candidate_id="t#2", task_id="t", status="failed", tests_passed=1, tests_total=2,
                        reason="passes 1/2", generated_passed=[0],
                        failures=[{"group": "tests", "name": "test 2", "error": "AssertionError: got 4"}]),
        CandidateResult(candidate_id="t#3", task_id="t", status="error", reason="no usable code in the reply"),
    ]
    score_task(rows, Weights())
    cands = {cid: Candidate(id=cid, task_id="t", code=code, strategy=s)
             for (cid, code), s in zip(CODE.items(), ["simplest", "idiomatic", "fastest"])}
    cands["t#3"] = Candidate(id="t#3", task_id="t", code="", error="no usable code in the reply")
    return SelectionContext(task=TASK, results=rows, candidates=cands, generated_tests=["assert mid([1]) == 1"] * 3)


@pytest.fixture
def server():
    with OpenAITestServer() as srv:
        settings = OpenAISettings(api_key="sk-test", base_url=srv.base_url, model="judge-m", max_retries=1)

        async def no_wait(_s):
            return None

        judge.configure(settings, ChatClient(settings, sleep=no_wait))
        yield srv
    judge.configure(None, None)


def verdict(winner: str, reason: str = "It passes every test and is the fastest.") -> Reply:
    return Reply(json.dumps({"winner": winner, "reason": reason}))


async def test_valid_verdict_names_the_winner_with_its_reason(server):
    server.script(verdict("t#1", "Uses the standard library;\nclear and correct."))
    ctx = context()
    sel = await judge.select_by_judge(ctx)
    assert sel.winner == "t#1"
    assert sel.reason == "t#1: judge (judge-m): Uses the standard library; clear and correct."
    assert ctx.notices == []
    [req] = server.requests
    schema = req["response_format"]["json_schema"]["schema"]
    assert req["response_format"]["type"] == "json_schema"
    assert schema["properties"]["winner"]["enum"] == ["t#0", "t#1", "t#2"]  # usable versions, by rank
    prompt = user_text(req)
    assert "| t#2 | fastest | failed | 1/2 |" in prompt and "AssertionError: got 4" in prompt
    assert "statistics.median" in prompt and "| 2 |" in prompt  # code and agreement are shown


@pytest.mark.parametrize("answer, why", [
    (verdict("t#9"), "names 't#9', which is not one of the usable versions"),
    (verdict("t#3"), "names 't#3', which is not one of the usable versions"),
    (Reply("I would pick the second one."), "the answer is not JSON with a winner"),
    (Reply('{"best": "t#1"}'), "the answer is not JSON with a winner"),
])
async def test_unusable_answers_fall_back_to_score(server, answer, why):
    server.script(answer)
    ctx = context()
    sel = await judge.select_by_judge(ctx)
    assert sel == select_by_score(ctx.results)
    assert len(ctx.notices) == 1 and why in ctx.notices[0] and ctx.notices[0].endswith("selected by score")


async def test_server_without_structured_output_gets_asked_again_and_json_is_found_in_prose(server):
    server.reject_response_format = True
    server.script(Reply('After comparing them:\n```json\n{"winner": "t#0", "reason": "fastest correct"}\n```'))
    ctx = context()
    sel = await judge.select_by_judge(ctx)
    assert sel.winner == "t#0" and sel.reason.endswith("fastest correct") and ctx.notices == []
    assert "response_format" in server.requests[0] and "response_format" not in server.requests[1]


async def test_network_failure_falls_back(server):
    server.responder = lambda req: Reply(status=500, error="upstream exploded")
    ctx = context()
    sel = await judge.select_by_judge(ctx)
    assert sel == select_by_score(ctx.results)
    assert ctx.notices == ["judge: no answer (HTTP 500: upstream exploded after 2 attempts); selected by score"]


async def test_unconfigured_judge_falls_back_with_the_setting_to_set(monkeypatch, tmp_path):
    judge.configure(None, None)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ACE_CONFIG", "ACE_MODEL", "ACE_JUDGE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    ctx = context()
    sel = await get_selector("judge")(ctx)
    assert sel == select_by_score(ctx.results)
    assert "--select judge needs OPENAI_API_KEY" in ctx.notices[0]


async def test_judge_reads_the_endpoint_from_the_environment(monkeypatch, tmp_path):
    judge.configure(None, None)
    monkeypatch.chdir(tmp_path)
    with OpenAITestServer(lambda req: verdict("t#0")) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("ACE_JUDGE_MODEL", "big-judge")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("ACE_CONFIG", raising=False)
        ctx = context()
        sel = await judge.select_by_judge(ctx)
    assert sel.winner == "t#0" and "judge (big-judge)" in sel.reason
    assert srv.requests[0]["model"] == "big-judge"


async def test_a_single_usable_version_needs_no_judge(server):
    ctx = context()
    ctx.results = [r for r in ctx.results if r.candidate_id in ("t#2", "t#3")]
    sel = await judge.select_by_judge(ctx)
    assert sel.winner == "t#2" and server.requests == []
