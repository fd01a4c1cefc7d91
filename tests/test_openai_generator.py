"""The openai generator against the local OpenAI-compatible test double, over real HTTP with the
unmodified openai client: distinct versions per strategy, streaming deltas, retries, timeouts,
malformed and code-less replies, and settings."""
from __future__ import annotations

import re

import pytest
from openai_server import OpenAITestServer, Reply, code_reply, user_text

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.core.events import EngineNotice, EventBus, GenerationDelta
from ai_code_evals.core.task import Task
from ai_code_evals.generation.openai_client import ChatClient
from ai_code_evals.generation.openai_gen import NO_CODE, OpenAIGenerator, make_openai_generator
from ai_code_evals.generation.openai_settings import LOCAL_KEY, OpenAISettings
from ai_code_evals.generation.strategies import STRATEGIES

TASK = Task(id="add", prompt="Write add(a, b) that returns the sum of two integers.", entry_point="add")

# One genuinely different program per strategy title, as a model would write them.
PROGRAMS = {
    "simplest correct version": "def add(a, b):\n    return a + b\n",
    "fastest for large inputs": "import operator\n\ndef add(a, b):\n    return operator.add(a, b)\n",
    "most defensive about bad input": (
        "def add(a, b):\n    if not isinstance(a, int) or not isinstance(b, int):\n"
        "        raise TypeError('integers only')\n    return a + b\n"),
    "a different algorithm than the obvious one": "def add(a, b):\n    return sum((a, b))\n",
}


def by_strategy(request: dict) -> Reply:
    title = re.search(r"Strategy for this version \(([^)]*)\)", user_text(request)).group(1)
    return code_reply(PROGRAMS.get(title, "def add(a, b):\n    return b + a\n"))


@pytest.fixture
def server():
    with OpenAITestServer(by_strategy) as srv:
        yield srv


def settings_for(srv: OpenAITestServer, **kw) -> OpenAISettings:
    return OpenAISettings(api_key="sk-test", base_url=srv.base_url, model="m-test", **kw)


class Sleeps:
    """Records the waits the client asks for instead of sleeping (no timing in tests)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def generate(srv, n=4, bus=None, sleeps=None, **kw):
    settings = settings_for(srv, **kw)
    gen = OpenAIGenerator(settings, bus, client=ChatClient(settings, sleep=sleeps or Sleeps()))
    try:
        return [c async for c in gen.generate(TASK, n)]
    finally:
        await gen.aclose()


async def test_versions_differ_by_strategy_and_stream_to_the_bus(server):
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    cands = sorted(await generate(server, n=4, bus=bus), key=lambda c: c.id)
    assert [c.id for c in cands] == ["add#0", "add#1", "add#2", "add#3"]
    assert [c.strategy for c in cands] == [s.name for s in STRATEGIES[:4]]
    assert len({c.code for c in cands}) == 4 and all(c.error is None for c in cands)
    assert all(c.origin == "openai" and "def add" in c.code and "Here is" not in c.code for c in cands)
    # each request carried its own strategy and temperature
    temps = sorted(r["temperature"] for r in server.requests)
    assert temps == sorted(s.temperature for s in STRATEGIES[:4])
    assert all(r["stream"] is True and r["stream_options"] == {"include_usage": True} for r in server.requests)
    for c in cands:
        assert c.usage["completion_tokens"] > 0 and c.usage["prompt_tokens"] > 0
        assert c.usage["model"] == "m-test" and c.usage["attempts"] == 1
        streamed = "".join(e.text for e in events if isinstance(e, GenerationDelta) and e.candidate_id == c.id)
        assert streamed == c.raw_reply and len([e for e in events if isinstance(e, GenerationDelta)
                                                and e.candidate_id == c.id]) > 3


async def test_same_program_twice_is_marked_duplicate(server):
    server.responder = lambda req: code_reply("def add(a, b):\n    return (a + b)\n")
    server.script(code_reply("def add(a, b):\n    # the sum\n    return a  +  b\n"))
    cands = await generate(server, n=3)
    originals = [c for c in cands if c.duplicate_of is None]
    assert len(originals) == 1
    assert all(c.duplicate_of == originals[0].id for c in cands if c is not originals[0])


async def test_429_waits_for_retry_after_then_succeeds(server):
    sleeps = Sleeps()
    server.script(Reply(status=429, headers={"Retry-After": "7"}, error="Rate limit reached"))
    [cand] = await generate(server, n=1, sleeps=sleeps)
    assert cand.error is None and cand.usage["attempts"] == 2
    assert sleeps.delays == [7.0]
    assert len(server.requests) == 2


async def test_500_backs_off_with_jitter_and_gives_up_after_max_retries(server):
    sleeps = Sleeps()
    server.script(Reply(status=500), Reply(status=503))
    [cand] = await generate(server, n=1, sleeps=sleeps)
    assert cand.error is None and cand.usage["attempts"] == 3
    assert 0.25 <= sleeps.delays[0] <= 0.5 and 0.5 <= sleeps.delays[1] <= 1.0

    server.responder = lambda req: Reply(status=502, error="bad gateway")
    [cand] = await generate(server, n=1, max_retries=2)
    assert cand.error == "generation failed: HTTP 502: bad gateway after 3 attempts"
    assert cand.code == ""


async def test_bad_key_is_not_retried(server):
    server.responder = lambda req: Reply(status=401, error="Incorrect API key provided")
    [cand] = await generate(server, n=1)
    assert "HTTP 401" in cand.error and "OPENAI_API_KEY" in cand.error
    assert len(server.requests) == 1


async def test_slow_reply_times_out_and_is_retried(server):
    server.script(Reply(text="never sent", delay_s=60))
    [cand] = await generate(server, n=1, timeout_s=1.0)
    assert cand.error is None and cand.usage["attempts"] == 2

    server.responder = lambda req: Reply(text="late", delay_s=60)
    [cand] = await generate(server, n=1, timeout_s=0.5, max_retries=1)
    assert cand.error == "generation failed: no complete reply within 0.5s after 2 attempts"


@pytest.mark.parametrize("stream", [True, False])
async def test_malformed_reply_is_retried_then_reported(server, stream):
    server.script(Reply(text="```python\ndef add(a, b):\n    return a + b\n```", malformed=True))
    [cand] = await generate(server, n=1, stream=stream)
    assert cand.error is None and cand.usage["attempts"] == 2

    server.responder = lambda req: Reply(text="x" * 64, malformed=True)
    [cand] = await generate(server, n=1, stream=stream, max_retries=0)
    assert cand.error.startswith("generation failed: malformed reply from the endpoint")


async def test_cut_stream_resets_the_partial_text_and_retries(server):
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    server.script(Reply(text="```python\ndef add(a, b):\n    return a + b\n```", cut_after=2))
    [cand] = await generate(server, n=1, bus=bus)
    assert cand.error is None and cand.usage["attempts"] == 2
    deltas = [e for e in events if isinstance(e, GenerationDelta)]
    resets = [i for i, e in enumerate(deltas) if e.reset]
    assert len(resets) == 1
    assert "".join(e.text for e in deltas[resets[0] + 1:]) == cand.raw_reply
    [notice] = [e.message for e in events if isinstance(e, EngineNotice)]
    assert notice.startswith("add#0: the reply stream ended before the model finished; attempt 2 of 5 in ")


async def test_reply_without_code_becomes_an_error_candidate_with_the_reply_kept(server):
    words = "I'm sorry, but I can't help with writing that function."
    server.responder = lambda req: Reply(words)
    [cand] = await generate(server, n=1)
    assert cand.error == f"{NO_CODE}: it holds no Python code" and cand.raw_reply == words and cand.code == ""
    assert cand.strategy == "simplest"


async def test_server_without_stream_options_still_streams(server):
    server.reject_stream_options = True
    cands = await generate(server, n=2)
    assert all(c.error is None for c in cands)
    assert "stream_options" not in server.requests[-1] and server.requests[-1]["stream"] is True
    assert all("completion_tokens" not in c.usage for c in cands)  # not reported without it


async def test_model_without_temperature_support_is_asked_again_without_it(server):
    server.reject_temperature = True
    cands = await generate(server, n=3)
    assert all(c.error is None for c in cands)
    answered = [r for r in server.requests if "temperature" not in r]
    assert len(answered) == 3 and len(server.requests) <= 6


def test_settings_from_env():
    with pytest.raises(ConfigError) as err:
        OpenAISettings.from_env({})
    msg = str(err.value)
    assert "OPENAI_API_KEY" in msg and "OPENAI_BASE_URL" in msg and ". " not in msg and "\n" not in msg

    local = OpenAISettings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"})
    assert local.api_key == LOCAL_KEY and local.model == "gpt-4o-mini"

    full = OpenAISettings.from_env({"OPENAI_API_KEY": "sk-x", "ACE_MODEL": "qwen", "ACE_OPENAI_CONCURRENCY": "2",
                                    "ACE_OPENAI_TIMEOUT": "9.5", "ACE_OPENAI_MAX_RETRIES": "0"}, model="llama")
    assert (full.model, full.concurrency, full.timeout_s, full.max_retries) == ("llama", 2, 9.5, 0)
    assert full.base_url is None

    for bad in ({"ACE_OPENAI_TIMEOUT": "soon"}, {"ACE_OPENAI_CONCURRENCY": "0"},
                {"OPENAI_BASE_URL": "localhost:8000"}, {"ACE_STRATEGIES": "simplest,bogus"}):
        with pytest.raises(ConfigError):
            make_openai_generator({"OPENAI_API_KEY": "k", **bad})


async def test_make_openai_generator_uses_the_env_mapping(server):
    gen = make_openai_generator({"OPENAI_BASE_URL": server.base_url, "ACE_STRATEGIES": "defensive,simplest"},
                                model="from-cli")
    try:
        cands = sorted([c async for c in gen.generate(TASK, 3)], key=lambda c: c.id)
    finally:
        await gen.aclose()
    assert [c.strategy for c in cands] == ["defensive", "simplest", "defensive"]
    assert cands[2].usage["temperature"] > cands[0].usage["temperature"]  # second cycle is hotter
    assert {r["model"] for r in server.requests} == {"from-cli"}
    assert all(c.error is None for c in cands)
