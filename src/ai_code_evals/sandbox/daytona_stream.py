"""Turns the output chunks of a Daytona command into lines, from the live stream or from polls.

The live log stream and the polled logs deliver the same text; the sink remembers how much
of each stream it has seen, so when polling takes over from a broken stream (or a final poll
checks a finished one) only the missing tail is delivered: every line exactly once.
"""
from __future__ import annotations

import inspect

from ai_code_evals.sandbox.base import PRIORITY_CAP, OnLine, Stream, is_priority

MAX_LINE_CHARS = 64 * 1024  # a newline-less flood is cut into pieces this long


class CallbackFailed(Exception):
    """The caller's on_line raised: not a stream failure, so it must not trigger polling."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class LineSink:
    """Per-stream line splitting, an output cap, and a count of what was seen."""

    def __init__(self, on_line: OnLine, cap_bytes: int) -> None:
        self.on_line = on_line
        self.cap_bytes = cap_bytes
        self.seen: dict[Stream, int] = {"stdout": 0, "stderr": 0}  # characters received
        self.kept: dict[Stream, int] = {"stdout": 0, "stderr": 0}  # bytes delivered
        self.priority_bytes = 0  # runner-event bytes delivered past the cap
        self.dropped: dict[Stream, int] = {"stdout": 0, "stderr": 0}  # bytes past the cap
        self._partial: dict[Stream, str] = {"stdout": "", "stderr": ""}

    async def stdout(self, text: str) -> None:
        await self.feed("stdout", text)

    async def stderr(self, text: str) -> None:
        await self.feed("stderr", text)

    async def feed(self, stream: Stream, text: str) -> None:
        if not text:
            return
        self.seen[stream] += len(text)
        buf = self._partial[stream] + text
        *lines, rest = buf.split("\n")
        for line in lines:
            await self._emit(stream, line)
        while len(rest) > MAX_LINE_CHARS:
            await self._emit(stream, rest[:MAX_LINE_CHARS])
            rest = rest[MAX_LINE_CHARS:]
        self._partial[stream] = rest

    async def catch_up(self, stream: Stream, full_text: str | None) -> bool:
        """Deliver what ``full_text`` (the whole output so far) has beyond what was seen;
        True when there was something."""
        if full_text and len(full_text) > self.seen[stream]:
            await self.feed(stream, full_text[self.seen[stream]:])
            return True
        return False

    async def flush(self) -> None:
        """The command ended: a last line without a newline is still a line."""
        for stream in ("stdout", "stderr"):
            rest, self._partial[stream] = self._partial[stream], ""
            if rest:
                await self._emit(stream, rest)

    async def _emit(self, stream: Stream, line: str) -> None:
        size = len(line.encode("utf-8", "replace")) + 1
        if is_priority(line) and self.priority_bytes + size <= PRIORITY_CAP:
            self.priority_bytes += size  # runner events are delivered past the output cap
        else:
            if self.kept[stream] + size > self.cap_bytes:
                self.dropped[stream] += size
                return
            self.kept[stream] += size
        try:
            result = self.on_line(stream, line)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise CallbackFailed(exc) from exc
