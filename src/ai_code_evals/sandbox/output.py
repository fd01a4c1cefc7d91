"""Turning a byte stream into bounded lines.

A candidate may print gigabytes, or one enormous line without a newline. ``LineCap`` splits
chunks into lines (a line longer than ``MAX_LINE`` is cut into pieces, never in the middle of
a UTF-8 character), forwards lines live until the stream's byte cap is nearly reached, then
keeps only a small tail (the last lines, where a runner's final verdict usually is) and counts
everything else as dropped. Memory stays bounded by ``MAX_LINE`` + the tail.
"""
from __future__ import annotations

from collections import deque

from ai_code_evals.sandbox.base import PRIORITY_CAP, is_priority

MAX_LINE = 64 * 1024
TAIL_MAX = 64 * 1024


def _cut(buf: bytes, limit: int) -> int:
    """An index <= limit that does not split a UTF-8 sequence (unless the data is not UTF-8)."""
    for back in (1, 2, 3):
        i = limit - back
        if i < 0:
            break
        b = buf[i]
        if b < 0x80:
            return limit
        if b >= 0xC0:  # the lead byte of a multi-byte character
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return i if back < need else limit
    return limit


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class LineCap:
    """Per-stream splitter and cap. ``feed()`` and ``close()`` return the lines to forward now."""

    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.tail_budget = min(TAIL_MAX, self.cap // 4)
        self.live_budget = self.cap - self.tail_budget
        self.forwarded = 0
        self.dropped = 0
        self._partial = b""
        self._tail: deque[tuple[bytes, int]] = deque()
        self._tail_bytes = 0
        self._overflowed = False
        self.priority_bytes = 0

    def feed(self, chunk: bytes) -> list[str]:
        out: list[str] = []
        data = self._partial + chunk if self._partial else chunk
        start = 0
        while True:
            nl = data.find(b"\n", start, start + MAX_LINE + 1)
            if nl >= 0:
                self._take(data[start:nl], 1, out)
                start = nl + 1
                continue
            if len(data) - start > MAX_LINE:
                cut = start + _cut(data[start:start + MAX_LINE], MAX_LINE)
                if cut <= start:
                    cut = start + MAX_LINE
                self._take(data[start:cut], 0, out)
                start = cut
                continue
            break
        self._partial = data[start:]
        return out

    def close(self) -> list[str]:
        """End of stream: the unterminated last line, then the kept tail."""
        out: list[str] = []
        if self._partial:
            self._take(self._partial, 0, out)
            self._partial = b""
        out.extend(decode(line) for line, _ in self._tail)
        self.forwarded += self._tail_bytes
        self._tail.clear()
        self._tail_bytes = 0
        return out

    def _take(self, line: bytes, newline: int, out: list[str]) -> None:
        size = len(line) + newline
        if is_priority(line) and self.priority_bytes + size <= PRIORITY_CAP:
            self.priority_bytes += size  # a runner event: delivered past the output cap
            out.append(decode(line))
            return
        if not self._overflowed and self.forwarded + size <= self.live_budget:
            self.forwarded += size
            out.append(decode(line))
            return
        self._overflowed = True  # from now on only the tail is kept, so order is preserved
        if size > self.tail_budget:
            self.dropped += size
            return
        self._tail.append((line, size))
        self._tail_bytes += size
        while self._tail_bytes > self.tail_budget:
            _, old = self._tail.popleft()
            self._tail_bytes -= old
            self.dropped += old
