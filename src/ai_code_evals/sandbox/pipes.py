"""A running command's stdout and stderr, forwarded line by line to ``on_line``, capped.

Each pipe is read to its end by a pump (``LineCap`` bounds what is kept); a failing ``on_line``
stops the forwarding and the command, while reading goes on so the writer is never blocked.
After the command ends, output may drain for ``EOF_GRACE_S``: a process that escaped and still
holds the pipe (``rlimits`` level, not root) cannot keep the sandbox open.
"""
from __future__ import annotations

import asyncio
import inspect
import os
from dataclasses import dataclass, field

from ai_code_evals.sandbox.base import OnLine, Stream
from ai_code_evals.sandbox.output import LineCap

EOF_GRACE_S = 2.0  # after the command ends, how long output may still drain
READ_CHUNK = 1 << 16


@dataclass
class Output:
    """A running command's output forwarding: caps per stream, the pumps, and the first
    failure of ``on_line`` (which stops the command)."""

    caps: dict[str, LineCap]
    pumps: list[asyncio.Future] = field(default_factory=list)
    failure: list[BaseException] = field(default_factory=list)
    failed: asyncio.Event = field(default_factory=asyncio.Event)


async def _call(on_line: OnLine, stream: Stream, line: str) -> None:
    result = on_line(stream, line)
    if inspect.isawaitable(result):
        await result


def start_output(r_out: int, r_err: int, on_line: OnLine, cap_bytes: int) -> Output:
    """Forward both pipes, capped at ``cap_bytes`` each, to ``on_line`` until they end."""
    loop = asyncio.get_running_loop()
    out = Output(caps={"stdout": LineCap(cap_bytes), "stderr": LineCap(cap_bytes)})
    for fd, name in ((r_out, "stdout"), (r_err, "stderr")):
        pipe = os.fdopen(fd, "rb", buffering=0)
        pump = asyncio.ensure_future(_pump(loop, pipe, name, out.caps[name], on_line, out.failure, out.failed))
        pump.add_done_callback(lambda _, p=pipe: p.close())  # also when cancelled before starting
        out.pumps.append(pump)
    return out


async def _pump(loop: asyncio.AbstractEventLoop, pipe, name: Stream, cap: LineCap,
                on_line: OnLine, failure: list, failed: asyncio.Event) -> None:
    """Read one pipe to its end, forwarding capped lines; a failing ``on_line`` stops the
    forwarding and the command (reading goes on, so the writer is never blocked)."""
    reader = asyncio.StreamReader(limit=READ_CHUNK)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while True:
            chunk = await reader.read(READ_CHUNK)
            lines = cap.feed(chunk) if chunk else cap.close()
            if not failure:
                try:
                    for line in lines:
                        await _call(on_line, name, line)
                except Exception as exc:  # noqa: BLE001 - reported to exec's caller
                    failure.append(exc)
                    failed.set()
            if not chunk:
                return
    finally:
        transport.close()


async def drain(pumps: list[asyncio.Future]) -> None:
    """Let the pumps read what is left, for EOF_GRACE_S at most."""
    _, pending = await asyncio.wait(pumps, timeout=EOF_GRACE_S)
    for p in pending:  # an escaped process still holds the pipe (rlimits level, not root)
        p.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)


async def wait_end(exited: asyncio.Future, out: Output, timeout_s: float) -> bool:
    """Until the command exits, forwarding its output fails, or ``timeout_s`` passes;
    False when the time ran out."""
    watch = asyncio.ensure_future(out.failed.wait())
    try:
        done, _ = await asyncio.wait({exited, watch}, timeout=max(0.0, timeout_s),
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    return bool(done)
