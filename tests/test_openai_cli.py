"""The command line with `--generator openai` against the local OpenAI-compatible test double:
real subprocesses, real HTTP, the unmodified openai client, real local sandboxes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from openai_server import OpenAITestServer, Reply, code_reply, user_text

TASK_YAML = """\
- id: clamp
  prompt: "clamp(x, lo, hi): x limited to the closed range [lo, hi]."
  entry_point: clamp
"""

# What a model might write for each strategy: three right (two the same program), one wrong.
BY_STRATEGY = {
    "simplest": "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
    "fastest": "def clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n",
    "defensive": "def clamp(x, lo, hi):\n    # same program as 'simplest', other layout\n    return max(lo, min(x,  hi))\n",
    "alternative": "def clamp(x, lo, hi):\n    return sorted((lo, x, hi))[0]\n",
}
TITLES = {"simplest correct version": "simplest", "fastest for large inputs": "fastest",
          "most defensive about bad input": "defensive",
          "a different algorithm than the obvious one": "alternative"}
NO_CODE_REPLY = "Clamping is easy: take the larger of lo and the smaller of x and hi."
ASSERTS = ("Here are some tests:\n```python\nassert clamp(5, 0, 10) == 5\nassert clamp(-1, 0, 10) == 0\n"
           "assert clamp(11, 0, 10) == 10\nassert clamp(3, 3, 3) == 3\nassert clamp(7, 0, 10) == 0\n"
           "this line is not python\n```")


def model(request: dict) -> Reply:
    """The test double's model: code, tests or a verdict depending on what is asked."""
    system = request["messages"][0]["content"]
    if "unit tests" in system:
        return Reply(ASSERTS)
    if "response_format" in request or "shipped" in user_text(request):
        ids = re.findall(r"^\| (clamp#\d+) \|", user_text(request), flags=re.MULTILINE)
        pick = "clamp#2" if "clamp#2" in ids else ids[0]
        return Reply(json.dumps({"winner": pick, "reason": f"{pick} is correct and branch-free."}))
    title = re.search(r"Strategy for this version \(([^)]*)\)", user_text(request)).group(1)
    if title not in TITLES:
        return Reply(NO_CODE_REPLY)
    return code_reply(BY_STRATEGY[TITLES[title]])


def cli(tmp_path, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ACE_"))}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "ai_code_evals", *args], check=False, capture_output=True,
                          text=True, timeout=240, cwd=tmp_path, env=full_env)


@pytest.fixture
def server():
    with OpenAITestServer(model) as srv:
        yield srv


def events(record):
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return [e for e in lines if "type" in e]


@pytest.mark.parametrize("select", ["agreement", "judge"])
def test_openai_generator_end_to_end(tmp_path, server, select):
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    record = tmp_path / "run.jsonl"
    proc = cli(tmp_path, "run", "tasks.yaml", "--generator", "openai", "-n", "5", "--model", "tiny",
               "--generate-tests", "--select", select, "--headless", "--json", "--record", str(record),
               env={"OPENAI_BASE_URL": server.base_url})
    assert proc.returncode == 0, proc.stderr
    task = json.loads(proc.stdout)["tasks"][0]
    assert task["winner"], (task, proc.stderr)
    rows = {c["id"]: c for c in task["candidates"]}
    assert sorted(rows) == ["clamp#0", "clamp#1", "clamp#2", "clamp#3", "clamp#4"]
    assert rows["clamp#4"]["status"] == "error" and rows["clamp#4"]["reason"] == "no usable code in the reply: it holds no Python code"
    # 'defensive' is 'simplest' renamed: whichever of the two arrived first is the original
    original = "clamp#0" if rows["clamp#0"]["duplicate_of"] is None else "clamp#2"
    copy = "clamp#2" if original == "clamp#0" else "clamp#0"
    assert rows[copy]["duplicate_of"] == original and rows[original]["duplicate_of"] is None
    if select == "agreement":
        # the pair and clamp#1 agree; within the group the program written twice wins
        assert task["winner"] == original
        assert task["reason"].startswith(f"{original}: 3 of 5 versions agree on 4/5 generated tests")
    else:
        # the double's judge names clamp#2 (mapped to the original when it is the copy)
        assert task["winner"] == original
        assert task["reason"] == f"{original}: judge (tiny): clamp#2 is correct and branch-free."
    log = events(record)
    added = {e["sample_id"]: e["data"] for e in log if e["type"] == "candidate"}
    assert {d["strategy"] for d in added.values()} == {*BY_STRATEGY, "memory-lean"}
    assert {d["origin"] for d in added.values()} == {"openai"}
    sampling = {e["sample_id"]: e["data"] for e in log if e["type"] == "sampling"}
    assert len(sampling) == 5
    assert sampling["clamp#4"]["sampled"] == [NO_CODE_REPLY]  # the reply is kept
    assert sampling["clamp#0"]["usage"]["model"] == "tiny" and sampling["clamp#0"]["usage"]["completion_tokens"] > 0
    [gen] = [e for e in log if e["type"] == "generated_tests"]
    assert len(gen["data"]["tests"]) == 5  # the prose line was dropped
    assert {r["model"] for r in server.requests} == {"tiny"}


def test_no_key_and_no_endpoint_is_one_clear_line(tmp_path):
    proc = cli(tmp_path, "run", "demo", "--generator", "openai", "--headless")
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "OPENAI_API_KEY" in line and "OPENAI_BASE_URL" in line and "Traceback" not in proc.stderr


# One reply of each bad kind next to a good one, by strategy; the one-line reason each gets.
BAD_REPLIES = {
    "simplest": (code_reply(BY_STRATEGY["simplest"]).text, None),
    "fastest": ("Clamping means limiting a value to a range.",
                "no usable code in the reply: it holds no Python code"),
    "defensive": ("```python\ndef clip(x, lo, hi):\n    return max(lo, min(x, hi))\n```",
                  "no usable code in the reply: the code defines clip, not clamp"),
    "alternative": (("```python\ndef clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n```\nOr:\n"
                    "```python\ndef clamp(x, lo, hi):\n    return sorted((lo, x, hi))[1]\n```"),
                    "ambiguous reply: it holds 2 different versions of clamp; not guessing which one was meant"),
    "memory-lean": ("```python\ndef clamp(x, lo, hi)\n    return max(lo, min(x, hi))\n```",
                    "no usable code in the reply: the code does not parse (line 1: expected ':')"),
}


def bad_replies(request: dict) -> Reply:
    from ai_code_evals.generation.strategies import STRATEGIES

    title = re.search(r"Strategy for this version \(([^)]*)\)", user_text(request)).group(1)
    return Reply(BAD_REPLIES[next(s.name for s in STRATEGIES if s.title == title)][0])


def test_bad_replies_are_one_line_errors_and_every_reply_is_auditable(tmp_path):
    """No code, the wrong function, two versions, a syntax error: each version gets status error
    and its reason in one line (summary and log) and the run goes on; every version's log line
    holds the messages sent, the model, its parameters, the raw reply, what extraction did, the
    tokens and the latency; the summary adds up the tokens."""
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    record = tmp_path / "run.jsonl"
    with OpenAITestServer(bad_replies) as srv:
        proc = cli(tmp_path, "run", "tasks.yaml", "--generator", "openai", "-n", "5", "--model", "tiny",
                   "--headless", "--json", "--record", str(record), env={"OPENAI_BASE_URL": srv.base_url})
        sent = {r["messages"][1]["content"]: r for r in srv.requests}
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    rows = {c["id"]: c for c in summary["tasks"][0]["candidates"]}
    log = events(record)
    added = {e["sample_id"]: e["data"] for e in log if e["type"] == "candidate"}
    by_strategy = {d["strategy"]: d for d in added.values()}
    for strategy, (reply, reason) in BAD_REPLIES.items():
        d = by_strategy[strategy]
        row = rows[d["candidate_id"]]
        if reason is None:
            assert row["status"] == "passed" and d["extraction"] == {"notes": []} and d["error"] is None
        else:
            assert (row["status"], row["reason"]) == ("error", reason)
            assert d["error"] == reason and d["extraction"] == {"error": reason}
            [res] = [e["data"]["result"] for e in log if e["type"] == "result" and e["sample_id"] == d["candidate_id"]]
            assert res["reason"] == reason and "\n" not in reason
        # the audit trail: exactly what was sent and what came back
        assert d["raw_reply"] == reply
        req = d["request"]
        assert req["model"] == "tiny" and req["stream"] is True and isinstance(req["temperature"], float)
        assert sent[req["messages"][1]["content"]]["messages"] == req["messages"]
        assert d["usage"]["total_tokens"] > 0 and d["usage"]["latency_s"] >= 0 and d["usage"]["model"] == "tiny"
    sampling = {e["sample_id"]: e["data"] for e in log if e["type"] == "sampling"}
    assert all(s["prompt"] == added[cid]["request"]["messages"] for cid, s in sampling.items())
    tokens = summary["tokens"]
    assert tokens["versions"] == 5
    assert tokens["total_tokens"] == sum(d["usage"]["total_tokens"] for d in added.values()) > 0
