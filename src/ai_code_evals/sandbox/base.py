"""The sandbox backend interface shared by the local and Daytona backends.

A backend creates sandboxes; a sandbox takes files, runs one command while streaming its
output line by line, reports resource use, and is destroyed on every path out.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Stream = Literal["stdout", "stderr"]

# Lines that start with this marker are the runner's structured events (sandbox/runner.py MARK):
# backends forward them past the output cap, so a flood of output cannot hide a verdict, but
# within a cap of their own (the runner's events are bounded; anything beyond is not the runner).
PRIORITY_MARK = "@@ace:"
PRIORITY_CAP = 16 << 20


def is_priority(line: str | bytes) -> bool:
    return line.startswith(PRIORITY_MARK if isinstance(line, str) else PRIORITY_MARK.encode())
OnLine = Callable[[Stream, str], Awaitable[None] | None]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandbox. Every backend applies ``output_bytes`` (per stream:
    lines past it are dropped and their bytes counted in ExecResult, runner events pass);
    the wall-clock limit is exec's ``timeout_s``. The local backend also applies the rest to
    the command (memory as an address-space limit, set generously: numpy maps a lot, and a
    cgroup where it can; cpu is CPU seconds); a Daytona sandbox has the memory and CPU of its
    own resources. The runner applies them to the candidate on every backend."""

    wall_s: float = 60.0
    cpu_s: int = 30
    memory_mb: int = 1024
    processes: int = 64
    file_size_mb: int = 64
    open_files: int = 256
    output_bytes: int = 1 << 20  # kept per stream; the rest is drained and counted, not kept


@dataclass
class SandboxSpec:
    """What to create: limits and labels (the Daytona backend labels its sandboxes)."""

    limits: SandboxLimits = field(default_factory=SandboxLimits)
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the command


@dataclass
class ExecResult:
    """How a command ended. ``timed_out`` means the wall-clock limit killed it (then
    ``exit_code`` is None, ``signal`` None or SIGKILL); ``signal`` is set when it died from a
    signal (for example SIGKILL on a memory limit), with ``exit_code`` None or, where a shell
    reports the death, 128 + the signal. A command that cannot be started either raises
    SandboxError or exits non-zero (127 from a shell)."""

    exit_code: int | None
    signal: int | None = None
    timed_out: bool = False
    cpu_s: float | None = None
    max_rss_kib: int | None = None
    duration_s: float = 0.0
    stdout_dropped: int = 0  # bytes drained past the output cap
    stderr_dropped: int = 0


class Sandbox(Protocol):
    id: str
    isolation: str  # e.g. "bwrap", "unshare", "rlimits", "daytona"
    info: dict  # backend facts shown in the TUI and the log (daytona id, state, latencies)

    async def upload(self, files: dict[str, bytes]) -> None:
        """Write files (relative paths) into the sandbox's working directory, which the
        command may also write to. A path outside it raises SandboxError."""

    async def exec(self, argv: list[str], *, on_line: OnLine, timeout_s: float) -> ExecResult:
        """Run a command in the working directory, calling ``on_line`` for each output line
        (without the newline) as it arrives, in order per stream; an exception in ``on_line``
        reaches the caller. Kills the whole process tree at ``timeout_s``. Destroying the
        sandbox meanwhile ends the command: exec returns (not timed out) or raises SandboxError.
        Cancelling exec is allowed; the sandbox is destroyed afterwards as on every path."""

    async def metrics(self) -> dict:
        """Latest resource figures (cpu_s, rss_kib, ...); empty when unknown."""

    async def destroy(self) -> None:
        """Remove the sandbox and everything in it. Idempotent, never raises."""


class SandboxBackend(Protocol):
    name: str

    async def create(self, spec: SandboxSpec) -> Sandbox: ...

    async def aclose(self) -> None:
        """Destroy anything still alive (Ctrl-C path)."""


class SandboxError(Exception):
    """A sandbox could not be created or used (not the candidate's fault)."""
