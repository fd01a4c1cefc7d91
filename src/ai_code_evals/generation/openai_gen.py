"""The `openai` generator: N versions of each task from any OpenAI-compatible endpoint.

Each version is asked for with its own variation strategy and temperature (strategies.py), streamed
to the bus as it arrives (GenerationDelta, for the TUI's code panel), extracted into a program
(extract.py) and checked against earlier versions for near-duplicates (dedupe.py). A version whose
request fails or whose reply has no usable code still becomes a candidate, with ``error`` set and
the reply kept, so the run log shows what the model said.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from ai_code_evals.core.candidate import Candidate, candidate_id
from ai_code_evals.core.events import EngineNotice, EventBus, GenerationDelta
from ai_code_evals.core.task import Task
from ai_code_evals.generation.dedupe import Deduper
from ai_code_evals.generation.extract import NO_CODE, NoUsableCode, extract_program
from ai_code_evals.generation.generated_tests import generate_tests, generate_tests_sync
from ai_code_evals.generation.openai_client import ChatClient, ChatError
from ai_code_evals.generation.openai_settings import OpenAISettings
from ai_code_evals.generation.prompts import version_messages
from ai_code_evals.generation.strategies import PlannedVersion, choose, plan

__all__ = [
    "NO_CODE",
    "OpenAIGenerator",
    "OpenAISettings",
    "generate_tests",
    "generate_tests_sync",
    "make_openai_generator",
]



class OpenAIGenerator:
    """Generator protocol (core/candidate.py) over an OpenAI-compatible chat endpoint."""

    name = "openai"

    def __init__(self, settings: OpenAISettings, bus: EventBus | None = None, *,
                 client: ChatClient | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.client = client or ChatClient(settings)
        self.strategies = choose(list(settings.strategies))

    def _publish(self, event) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    async def generate(self, task: Task, n: int) -> AsyncIterator[Candidate]:
        """Yield the versions as they complete (the engine starts running each at once);
        later versions equal to an earlier one come marked ``duplicate_of``."""
        deduper = Deduper()
        jobs = [asyncio.ensure_future(self.one(task, v)) for v in plan(n, self.strategies)]
        try:
            for next_done in asyncio.as_completed(jobs):
                yield deduper.mark(await next_done)
        finally:
            for job in jobs:
                job.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*jobs, return_exceptions=True)

    async def one(self, task: Task, version: PlannedVersion) -> Candidate:
        """One version; never raises (except cancellation)."""
        cid = candidate_id(task.id, version.k)
        base = {"id": cid, "task_id": task.id, "label": version.label, "strategy": version.strategy.name,
                "origin": "openai"}

        def on_text(text: str) -> None:
            self._publish(GenerationDelta(candidate_id=cid, task_id=task.id, text=text))

        def on_reset() -> None:
            self._publish(GenerationDelta(candidate_id=cid, task_id=task.id, text="", reset=True))

        def on_retry(why: str) -> None:
            self._publish(EngineNotice(f"{cid}: {why}", level="info", candidate_id=cid))

        messages = version_messages(task, version)
        try:
            reply = await self.client.chat(messages, temperature=version.temperature,
                                           on_text=on_text, on_reset=on_reset, on_retry=on_retry)
        except ChatError as exc:
            error = f"generation failed: {exc}"
            return Candidate(**base, code="", error=error, extraction={"error": error},
                             request=exc.request or {"model": self.settings.model, "messages": messages},
                             usage={"model": self.settings.model, "temperature": version.temperature})
        usage = {**reply.usage, "model": reply.model or self.settings.model,
                 "temperature": version.temperature, "attempts": reply.attempts,
                 "latency_s": reply.latency_s}
        if reply.finish_reason:
            usage["finish_reason"] = reply.finish_reason
        audit = {"raw_reply": reply.text, "request": reply.request, "usage": usage}
        try:
            extracted = extract_program(reply.text, task.entry_point,
                                        prompt=task.prompt if task.completion_style else "",
                                        signature=task.signature)
        except NoUsableCode as exc:
            return Candidate(**base, **audit, code="", error=str(exc), extraction={"error": str(exc)})
        label = version.label + (f"; {', '.join(extracted.notes)}" if extracted.notes else "")
        return Candidate(**{**base, "label": label}, **audit, code=extracted.code,
                         extraction={"notes": extracted.notes})

    async def aclose(self) -> None:
        await self.client.aclose()


def make_openai_generator(env: Mapping[str, str] | None = None, bus: EventBus | None = None, *,
                          model: str | None = None) -> OpenAIGenerator:
    """What the CLI calls for ``--generator openai``. ``env``: the app settings (None: loaded);
    raises ConfigError (one sentence) when neither a key nor an endpoint is set."""
    return OpenAIGenerator(OpenAISettings.from_env(env, model=model), bus)
