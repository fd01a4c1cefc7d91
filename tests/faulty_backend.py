"""A fault-injecting SandboxBackend wrapper and a faulty Generator: test aids.

They wrap a real backend (the local one in the tests) and a real generator, and break chosen
candidates the way real infrastructure breaks: a sandbox that fails to start or never starts,
dies in the middle of a run, hangs on destroy, returns garbage, or keeps streaming after its
command ended; a generator that raises or stops answering. Everything not named in ``faults``
passes through untouched, so a test can assert that the rest of the run is unaffected.

Test code, kept under tests/ on purpose: no CLI flag or benchmark constructs these. With no
faults named, ``FaultyBackend`` must behave exactly like the backend it wraps; the backend
conformance suite (test_backend_conformance.py) checks that.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.task import Task
from ai_code_evals.sandbox.base import ExecResult, OnLine, SandboxBackend, SandboxError, SandboxSpec
from ai_code_evals.sandbox.runner import MARK

# Sandbox faults, by name:
FAULTS = (
    "create_fails",    # create() raises SandboxError
    "create_hangs",    # create() never returns
    "upload_fails",    # upload() raises SandboxError
    "exec_fails",      # exec() raises SandboxError before running anything
    "dies_mid_run",    # the sandbox is killed after the first test starts; exec() raises
    "garbage",         # malformed runner events (with the right nonce) mixed into the stream
    "noise",           # non-protocol junk lines (binary, NULs, huge, fake markers): harmless
    "late_output",     # output after the verdict; on_line still called after exec() returned
                       # (from destroy and later), including a forged verdict with the right nonce
    "destroy_hangs",   # destroy() never returns (the real sandbox is cleaned up behind it)
    "metrics_hang",    # metrics() never returns
)

GARBAGE_EVENTS = [
    "[1, 2, 3]", '"just a string"', "{not json", "null",
    '{"ev": "test", "phase": "end", "group": "tests", "i": "zero", "ok": "yes"}',
    '{"ev": "verdict", "tests_passed": "all", "tests_total": null, "passed": 7}',
]
NOISE_LINES = [
    "\x00\x01\x02 binary \udcff", MARK + "0" * 32 + ':{"ev": "verdict", "tests_passed": 99}',
    MARK, MARK + "not-a-nonce", "x" * 200_000, "\x1b[2J\x1b[31mred\x1b[0m",
]


async def _forever() -> None:
    await asyncio.Event().wait()


async def _say(on_line: OnLine, stream: str, text: str) -> None:
    result = on_line(stream, text)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result


@dataclass
class FaultLog:
    """What the wrapper did, for assertions."""

    injected: list[tuple[str, str]] = field(default_factory=list)  # (candidate id, fault)
    late_calls: int = 0


class FaultySandbox:
    def __init__(self, inner, fault: str | None, cand: str, log: FaultLog) -> None:
        self.inner, self.fault, self.cand, self.log = inner, fault, cand, log
        self.id = inner.id
        self.isolation = getattr(inner, "isolation", "")
        self.info = dict(getattr(inner, "info", {}) or {}, fault=fault)
        self.nonce = ""

    def _note(self) -> None:
        self.log.injected.append((self.cand, self.fault or ""))

    async def upload(self, files: dict[str, bytes]) -> None:
        with contextlib.suppress(Exception):
            self.nonce = json.loads(files.get("job.json", b"{}")).get("nonce", "")
        if self.fault == "upload_fails":
            self._note()
            raise SandboxError("injected: upload failed (disk full on the sandbox host)")
        await self.inner.upload(files)

    async def exec(self, argv: list[str], *, on_line: OnLine, timeout_s: float) -> ExecResult:
        fault = self.fault
        if fault == "exec_fails":
            self._note()
            raise SandboxError("injected: the sandbox refused the command")
        if fault == "dies_mid_run":
            return await self._dies_mid_run(argv, on_line, timeout_s)
        if fault == "garbage":
            self._note()
            for text in GARBAGE_EVENTS:
                await _say(on_line, "stdout", f"{MARK}{self.nonce}:{text}")
        if fault == "noise":
            self._note()
            for text in NOISE_LINES:
                await _say(on_line, "stdout", text)
                await _say(on_line, "stderr", text)
        result = await self.inner.exec(argv, on_line=on_line, timeout_s=timeout_s)
        if fault == "late_output":
            self._note()
            await _say(on_line, "stdout", "output after the verdict, before the command returned")
            self._late_to = on_line  # destroy() calls it: the stream outlives its command
        return result

    def _late(self, on_line: OnLine) -> None:
        """Called after exec() returned: a stream that outlives its command (a backend bug)."""
        self.log.late_calls += 1
        on_line("stdout", "late line from a sandbox that should be gone")
        forged = {"ev": "verdict", "tests_passed": 3, "tests_total": 3, "passed": [0, 1, 2],
                  "errors_handled": 0, "errors_total": 0}
        on_line("stdout", f"{MARK}{self.nonce}:{json.dumps(forged)}")

    async def _dies_mid_run(self, argv, on_line: OnLine, timeout_s: float) -> ExecResult:
        started = asyncio.Event()

        def watch(stream, text):
            if MARK in text and '"phase": "start"' in text:
                started.set()
            return on_line(stream, text)

        run = asyncio.ensure_future(self.inner.exec(argv, on_line=watch, timeout_s=timeout_s))
        waiter = asyncio.ensure_future(started.wait())
        await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if started.is_set():
            self._note()
            await self.inner.destroy()  # kills everything in it, as a lost VM would
            with contextlib.suppress(BaseException):
                await run
            raise SandboxError("injected: the sandbox died (host lost)")
        return await run

    async def metrics(self) -> dict:
        if self.fault == "metrics_hang":
            self._note()
            await _forever()
        return await self.inner.metrics()

    async def destroy(self) -> None:
        late = getattr(self, "_late_to", None)
        if late is not None:
            self._late(late)
            asyncio.get_running_loop().call_later(0.05, self._late, late)
        if self.fault == "destroy_hangs":
            self._note()
            await self.inner.destroy()  # nothing leaks: only the caller is kept waiting
            await _forever()
        await self.inner.destroy()


class FaultyBackend:
    """Wraps ``inner``; ``faults`` maps candidate id -> fault name (see FAULTS)."""

    def __init__(self, inner: SandboxBackend, faults: dict[str, str]) -> None:
        unknown = set(faults.values()) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        self.inner, self.faults = inner, dict(faults)
        self.name = f"faulty({getattr(inner, 'name', '?')})"
        self.log = FaultLog()

    @property
    def isolation(self) -> str:
        return getattr(self.inner, "isolation", "")

    async def create(self, spec: SandboxSpec) -> FaultySandbox:
        cand = spec.labels.get("candidate", "")
        fault = self.faults.get(cand)
        if fault == "create_fails":
            self.log.injected.append((cand, fault))
            raise SandboxError("injected: the sandbox failed to start (quota exceeded)")
        if fault == "create_hangs":
            self.log.injected.append((cand, fault))
            await _forever()
        return FaultySandbox(await self.inner.create(spec), fault, cand, self.log)

    async def aclose(self) -> None:
        await self.inner.aclose()


class FaultyGenerator:
    """Yields ``inner``'s candidates; for the tasks in ``raise_after`` / ``hang_after`` it raises
    or stops answering after that many candidates."""

    name = "faulty"

    def __init__(self, inner, *, raise_after: dict[str, int] | None = None,
                 hang_after: dict[str, int] | None = None) -> None:
        self.inner = inner
        self.raise_after = raise_after or {}
        self.hang_after = hang_after or {}

    async def generate(self, task: Task, n: int) -> AsyncIterator[Candidate]:
        k = 0
        async for cand in self.inner.generate(task, n):
            if self.raise_after.get(task.id) == k:
                raise RuntimeError("injected: the model endpoint returned HTTP 500 three times")
            if self.hang_after.get(task.id) == k:
                await _forever()
            yield cand
            k += 1
