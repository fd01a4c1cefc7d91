"""``Run``: one run from start to end, owned in one place.

A run has one configuration, one event bus, one run log and one backend. The headless CLI, the
TUI, ``resume`` and the ``oaieval`` bridge are front ends: they create a ``Run`` (``Run.start``
from a request, ``Run.resume`` from an interrupted log, or ``Run(config, bus, log)`` when they
build the configuration themselves), subscribe to ``run.bus``, and await ``run.execute()``.
Data flows one way: task -> generator -> engine -> backend -> runner -> events -> (log, TUI,
summary).
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import Event, EventBus
from ai_code_evals.core.settings import Settings, as_settings
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.session.recording import RecordingSubscriber, open_run_log
from ai_code_evals.session.request import RunRequest, build_config, preflight_backend
from ai_code_evals.session.resume import ResumeState, resume_config

CLOSE_TIMEOUT_S = 60.0  # a backend (or generator) that does not close within this is left


class Run:
    """Owns a run: ``config`` (tasks, candidates or generator, backend, profiles, selection), the
    one ``bus`` every part publishes on, the ``log`` and the backend's lifetime: opened once,
    closed once, every sandbox destroyed on every path out of ``execute`` (the end, Ctrl-C,
    ``q``, an error). When the log cannot be written the run stops (results that cannot be
    recorded would be lost to ``resume``) and ``execute`` raises one InputError saying so."""

    def __init__(self, config: RunConfig, bus: EventBus, log=None, *,
                 recorder: Callable[[Event], None] | None = None, history: Path | None = None,
                 settings: Settings | None = None) -> None:
        self.config = config
        self.settings = settings  # what the run was built from; a front end reads its own options here
        self.bus = bus
        self.log = log
        self.recorder = recorder if recorder is not None else (RecordingSubscriber(log) if log is not None else None)
        self.history = history  # resume: the log already holds these results (the TUI shows them)
        self.summary: dict | None = None
        self._executed = False
        if self.recorder is not None:  # first subscriber: an event is on disk before it is shown
            self.bus.subscribe(self.recorder)

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def start(cls, request: RunRequest, env: Settings | Mapping[str, str] | None = None) -> Run:
        """A new run: every input checked (one line on bad input, before any sandbox starts), a
        remote backend's settings checked, the log opened with its spec and tasks."""
        env = as_settings(env)  # read once (environment > .env > toml), passed down
        bus = EventBus()  # the generator streams onto it from the start
        config = build_config(request, env, bus)
        preflight_backend(config.backend)
        return cls(config, bus, open_run_log(config, request), settings=env)

    @classmethod
    def resume(cls, state: ResumeState, env: Settings | Mapping[str, str] | None = None, *,
               unsafe: bool = False) -> Run:
        """Finish an interrupted run in its own log: only versions without a result run."""
        env = as_settings(env)
        bus = EventBus()
        config, log = resume_config(state, env, bus, unsafe=unsafe)
        preflight_backend(config.backend)
        known = {c.id for c in state.candidates}  # no second line for a logged candidate
        record = Path(config.record) if config.record else None
        history = record if config.finished and record is not None and record.exists() else None
        return cls(config, bus, log, recorder=RecordingSubscriber(log, known), history=history, settings=env)

    # -- what front ends use ----------------------------------------------------------------------
    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(subscriber)

    @property
    def unsafe_isolation(self) -> str:
        """What the isolation level cannot contain ("" when it contains candidates)."""
        return getattr(self.config.backend, "unsafe_isolation", "") or ""

    def reference_code(self) -> dict[str, str]:
        return {t.id: t.reference for t in self.config.tasks if getattr(t, "reference", None)}

    async def execute(self) -> dict:
        """Evaluate every version; returns the summary (also kept as ``self.summary``). Once."""
        if self._executed:
            raise RuntimeError("a Run executes once")
        self._executed = True
        main = asyncio.current_task()
        if isinstance(self.recorder, RecordingSubscriber) and main is not None:
            self.recorder.on_failure = lambda _exc: main.cancel()
        try:
            self.summary = await run_evaluation(self.config, self.bus)
            return self.summary
        except asyncio.CancelledError:
            failure = getattr(self.recorder, "failure", None)
            if failure is None:
                raise
            raise InputError(f"{failure}; the run stopped. Free some space, then finish it with: "
                             f"ai-code-evals resume {self.config.record}") from None
        finally:
            await asyncio.shield(self._close_owned())

    def close(self) -> None:
        """Close the log (idempotent): after ``execute``, or when a front end gives up before it."""
        if self.log is not None:
            self.log.close()

    async def _close_owned(self) -> None:
        """The backend (every sandbox it still holds) and the generator (its HTTP client), each
        closed once; one that hangs is left after CLOSE_TIMEOUT_S with one line saying so."""
        for owner, what in ((self.config.backend, "backend"), (self.config.generator, "generator")):
            aclose = getattr(owner, "aclose", None)
            if aclose is None:
                continue
            closing = asyncio.ensure_future(aclose())
            done, _ = await asyncio.wait({closing}, timeout=CLOSE_TIMEOUT_S)
            if not done:
                print(f"ai-code-evals: the {getattr(owner, 'name', '?')} {what} did not close within "
                      f"{CLOSE_TIMEOUT_S:g}s; leaving it", file=sys.stderr)
            elif not closing.cancelled() and closing.exception() is not None:
                print(f"ai-code-evals: closing the {what} failed: {closing.exception()}", file=sys.stderr)
