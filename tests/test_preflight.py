"""Endpoints that fail fast and clearly: the CLI checks the endpoint before any sandbox starts.

Real CLI subprocesses against the OpenAI test double (tests/openai_server.py) over real HTTP.
Before the preflight, an unknown model made the run exit 0 with every version in status error,
and with OPENAI_BASE_URL set and no --model, ``gpt-4o-mini`` was sent to local servers."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from openai_server import OpenAITestServer, Reply, code_reply, user_text

TASK_YAML = """\
- id: clamp
  prompt: "clamp(x, lo, hi): x limited to the closed range [lo, hi]."
  entry_point: clamp
  tests:
    - {args: [5, 0, 3], expect: 3}
"""
GOOD = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"
OTHER = "def clamp(x, lo, hi):\n    return sorted((lo, x, hi))[1]\n"


def answer(request: dict) -> Reply:
    if "shipped" in user_text(request):  # the judge
        return Reply(json.dumps({"winner": "clamp#0", "reason": "it is correct."}))
    return code_reply(GOOD if "simplest" in user_text(request) else OTHER)


def cli(tmp_path, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ACE_"))}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "ai_code_evals", *args], check=False, capture_output=True,
                          text=True, timeout=240, cwd=tmp_path, env=full_env)


def run_args(record, *extra):
    return ("run", "tasks.yaml", "--generator", "openai", "-n", "2", "--headless", "--json",
            "--record", str(record), *extra)


@pytest.fixture
def server():
    with OpenAITestServer(answer) as srv:
        srv.models = ["qwen2.5-coder-test", "another-model"]
        yield srv


def test_no_model_uses_the_first_model_the_server_lists_for_generation_and_judge(tmp_path, server):
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    record = tmp_path / "run.jsonl"
    proc = cli(tmp_path, *run_args(record, "--select", "judge"), env={"OPENAI_BASE_URL": server.base_url})
    assert proc.returncode == 0, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if "using model" in x]
    assert line == (f"ai-code-evals: using model qwen2.5-coder-test, the first of 2 listed by "
                    f"{server.base_url} (choose another with --model)")
    assert {r["model"] for r in server.requests} == {"qwen2.5-coder-test"}  # versions and the judge
    task = json.loads(proc.stdout)["tasks"][0]
    assert "judge (qwen2.5-coder-test)" in task["reason"]
    spec = json.loads(record.read_text().splitlines()[0])["spec"]
    assert spec["run_config"]["request"]["model"] == "qwen2.5-coder-test"  # resume asks the same model


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("case", ["unknown model", "refused key", "refused connection", "wrong URL",
                                  "unknown judge model"])
def test_a_bad_endpoint_stops_the_run_in_one_line_before_any_sandbox(tmp_path, server, case):
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    record = tmp_path / "run.jsonl"
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-right"}
    args = run_args(record, "--model", "qwen2.5-coder-test")
    server.api_key = "sk-right"
    if case == "unknown model":
        args = run_args(record, "--model", "gpt-4o-mini")
        want = (f"endpoint {server.base_url}, model gpt-4o-mini: the server does not serve this model (it lists: "
                "qwen2.5-coder-test, another-model); choose one of those with --model or ACE_MODEL")
    elif case == "refused key":
        env["OPENAI_API_KEY"] = "sk-wrong"
        want = (f"endpoint {server.base_url}, model qwen2.5-coder-test: the API key was refused (HTTP 401); "
                "set a valid OPENAI_API_KEY")
    elif case == "refused connection":
        env["OPENAI_BASE_URL"] = url = closed_port_url()
        want = f"endpoint {url}, model qwen2.5-coder-test: cannot connect ("
    elif case == "wrong URL":
        env["OPENAI_BASE_URL"] = url = server.base_url.removesuffix("/v1") + "/api"
        want = (f"endpoint {url}, model qwen2.5-coder-test: no such model or no chat endpoint at this URL "
                "(HTTP 404); check OPENAI_BASE_URL (it usually ends in /v1)")
    else:
        env["ACE_JUDGE_MODEL"] = "gpt-4o"
        args = run_args(record, "--model", "qwen2.5-coder-test", "--select", "judge")
        want = f"endpoint {server.base_url}, model gpt-4o: the server does not serve this model"
    proc = cli(tmp_path, *args, env=env)
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("ai-code-evals: error: " + want), line
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not record.exists()  # stopped before the run log, so before any sandbox
    assert server.requests == []  # no version was asked for


def test_a_server_without_a_model_list_is_probed_with_one_token(tmp_path, server):
    """llama.cpp-style servers may not list models: one 1-token request checks model and key."""
    server.models = None
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    proc = cli(tmp_path, *run_args(tmp_path / "run.jsonl", "--model", "local"),
               env={"OPENAI_BASE_URL": server.base_url})
    assert proc.returncode == 0, proc.stderr
    assert [p["model"] for p in server.probes] == ["local"] and server.probes[0]["max_tokens"] == 1
    assert {r["model"] for r in server.requests} == {"local"}


def test_headless_retries_are_notices_on_stderr_and_in_the_log(tmp_path, server):
    """The generator publishes on the run's bus: a retried request is a line on stderr and a
    ``notice`` in the run log (before, the log never heard of it)."""
    server.script(Reply(status=429, error="Rate limit reached", headers={"retry-after": "0"}))
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    record = tmp_path / "run.jsonl"
    proc = cli(tmp_path, *run_args(record, "--model", "qwen2.5-coder-test", "-n", "1"),
               env={"OPENAI_BASE_URL": server.base_url})
    assert proc.returncode == 0, proc.stderr
    assert "clamp#0: HTTP 429: Rate limit reached; attempt 2 of 5 in 0.0s" in proc.stderr
    notices = [json.loads(line)["data"]["message"] for line in record.read_text().splitlines()
               if '"type": "notice"' in line]
    assert notices == ["clamp#0: HTTP 429: Rate limit reached; attempt 2 of 5 in 0.0s"]
