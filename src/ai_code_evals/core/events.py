"""Engine events and the bus that carries them.

The engine publishes; the run log, the CLI progress bar and the TUI subscribe. Nothing here
knows about Textual: the TUI turns these into messages on its own side.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

# Candidate states, in order: queued -> starting -> running -> scoring -> finished.
STATES = ("queued", "starting", "running", "scoring", "finished")
# Final statuses, as the JSON summary and the run log name them.
STATUSES = ("passed", "failed", "error", "timeout", "killed", "skipped")


def now() -> float:
    return time.time()


@dataclass
class Event:
    """Base class. ``kind`` is the run-log event type."""

    kind = "event"
    _names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._names = ()  # filled on first use: @dataclass has not run yet when this is called

    def to_data(self) -> dict[str, Any]:
        """The fields as a dict, one level deep. Not ``dataclasses.asdict``: that deep-copies
        every nested list and dict, and was half of the run log's CPU per event (measured with
        benchmarks/bench_engine.py). Publishers build fresh containers for every event, so the
        nested values are the event's own; readers must not mutate them."""
        names = type(self)._names
        if not names:
            names = type(self)._names = tuple(f.name for f in fields(self))
        return {name: getattr(self, name) for name in names}


@dataclass
class RunStarted(Event):
    kind = "run_started"
    run_id: str
    record: str
    tasks: list[dict]  # [{"task_id", "entry_point", "candidates": [ids], "reference": bool}]
    profiles: list[str]
    backend: str
    isolation: str
    select: str
    ts: float = field(default_factory=now)
    unsafe_isolation: str = ""  # what the isolation level cannot contain (run with --unsafe-isolation)


@dataclass
class CandidateAdded(Event):
    """A candidate entered the run (generated, loaded or streamed from a model)."""

    kind = "candidate"
    candidate_id: str
    task_id: str
    code: str
    label: str = ""
    strategy: str = ""
    origin: str = ""
    error: str | None = None
    duplicate_of: str | None = None
    usage: dict = field(default_factory=dict)  # model, tokens, temperature (LLM-generated only)
    raw_reply: str | None = None  # the model's whole reply (LLM-generated only)
    request: dict = field(default_factory=dict)  # what the model was sent: model, messages, parameters
    extraction: dict = field(default_factory=dict)  # {"notes": [...]} or {"error": why no code}
    ts: float = field(default_factory=now)


@dataclass
class GenerationDelta(Event):
    """Partial text of a candidate while a model is still writing it."""

    kind = "generation_delta"
    candidate_id: str
    task_id: str
    text: str  # the new piece of text (append it to what arrived before)
    reset: bool = False  # True: the request is being retried, discard the text so far


@dataclass
class Snapshot(Event):
    """State of one (candidate, profile) at a transition: what the TUI steps through."""

    kind = "snapshot"
    candidate_id: str
    task_id: str
    profile: str
    state: str  # one of STATES
    seq: int  # index in this candidate/profile's trail, from 0
    test_index: int = 0  # 1-based index of the test running now (0: none yet)
    tests_total: int = 0
    passed: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    cpu_s: float | None = None
    rss_kib: int | None = None
    output_tail: list[str] = field(default_factory=list)
    output_lines: int = 0  # number of output lines seen so far (position in the stream)
    status: str | None = None  # final status once finished
    detail: str = ""  # e.g. "test 3: AssertionError" or the sandbox id
    sandbox: dict = field(default_factory=dict)  # backend facts (isolation, daytona id, ...)
    ts: float = field(default_factory=now)


@dataclass
class OutputLine(Event):
    kind = "stdout"
    candidate_id: str
    profile: str
    stream: str  # stdout | stderr
    text: str
    n: int  # line number within this candidate/profile's output, from 0


@dataclass
class CandidateFinished(Event):
    """The final result of one (candidate, profile). Exactly one per pair in a finished log."""

    kind = "result"
    candidate_id: str
    task_id: str
    profile: str
    result: dict  # CandidateResult.model_dump()


@dataclass
class TaskSelected(Event):
    kind = "selection"
    task_id: str
    winner: str | None
    reason: str
    strategy: str
    by: str = "engine"  # engine | user
    scores: dict = field(default_factory=dict)  # candidate_id -> score


@dataclass
class ReferenceChecked(Event):
    """The task's own reference solution was run against its tests (hidden from the candidates).
    ``error`` is set when it failed: then the task's tests, not its candidates, are suspect."""

    kind = "reference_check"
    task_id: str
    ok: bool
    error: str | None = None
    result: dict = field(default_factory=dict)  # the reference's CandidateResult.model_dump()


@dataclass
class EngineNotice(Event):
    """A readable one-line problem that did not stop the run (shown as a notification)."""

    kind = "notice"
    message: str
    level: str = "warning"  # info | warning | error
    candidate_id: str | None = None


@dataclass
class BackendStatus(Event):
    """How the sandbox backend is doing (Daytona: sandboxes alive, create rate, throttling),
    published when it changes, at most once a second. ``text`` is one line for a header."""

    kind = "backend_status"
    text: str
    data: dict = field(default_factory=dict)


@dataclass
class RunFinished(Event):
    kind = "run_finished"
    summary: dict
    interrupted: bool = False


_ZERO: dict[str, Any] = {"str": "", "int": 0, "float": 0.0, "bool": False, "dict": {}, "list": []}


def event_from_record(type_: str, data: Any) -> Event | None:
    """A run log line's event, parsed back into the type the engine published (the log writes
    ``kind`` as the line's type and ``to_data()`` as its data). None for a line that is not an
    engine event (``task``, ``sampling``, ``match``, ``resumed`` ...). A damaged line still
    parses: unknown fields are dropped, a missing required field gets its type's empty value
    (so a log cut or edited by hand shows what it can)."""
    cls = EVENT_TYPES.get(type_)
    if cls is None or not isinstance(data, dict):
        return None
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            kwargs[f.name] = data[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:  # type: ignore[misc]
            kind = str(f.type).split("[")[0].split("|")[0].strip()
            optional = "None" in str(f.type)
            kwargs[f.name] = type(_ZERO[kind])() if kind in _ZERO and not optional else None
    return cls(**kwargs)


def _event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        found.setdefault(cls.kind, cls)
        stack.extend(cls.__subclasses__())
    return found


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out. Subscribers must be quick (write a line, post a message);
    one failing subscriber is reported once and does not stop the others."""

    def __init__(self) -> None:
        self._subs: tuple[Subscriber, ...] = ()  # replaced, never mutated: publish iterates it as is
        self._broken: set[int] = set()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subs = (*self._subs, fn)

        def unsubscribe() -> None:
            if fn in self._subs:
                subs = list(self._subs)
                subs.remove(fn)
                self._subs = tuple(subs)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for fn in self._subs:
            try:
                fn(event)
            except Exception as exc:  # noqa: BLE001 - a UI bug must not kill the run
                if id(fn) not in self._broken:
                    self._broken.add(id(fn))
                    import sys

                    print(f"ai-code-evals: event subscriber failed: {exc!r}", file=sys.stderr)


EVENT_TYPES: dict[str, type[Event]] = _event_types()  # the log's line type -> the event class
