"""A sandboxed command as a host process: start it, know when it exited, reap it, say how it ended.

The cold path starts the level's wrapper (bwrap, unshare, the launcher) with ``posix_spawn``: a
new session, default signal handling, stdin from /dev/null, stdout and stderr to pipes, and at
the ``bwrap`` level the descriptors bwrap reads (its JSON status pipe, the seccomp program, the
uploaded files it copies in). The process stays unreaped until we ``wait4`` it, so its pid and
process group stay ours while the rest of its tree is killed; bwrap's status line proves a
sandbox empty without a /proc scan (``init_reaped``).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from ai_code_evals.sandbox import seccomp
from ai_code_evals.sandbox.base import ExecResult
from ai_code_evals.sandbox.output import LineCap

STATUS_FD = 3  # bwrap level: where bwrap writes its JSON status lines (see init_reaped)
SECCOMP_FD = 4  # bwrap level: where bwrap reads the seccomp program (seccomp.py)
SECCOMP = seccomp.program()
FIRST_FILE_FD = 10  # bwrap level: uploaded files are open from here on when bwrap starts
# signals a parent may ignore and a child must not inherit as ignored
_RESET_SIGNALS = {signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD, signal.SIGTSTP,
                  signal.SIGTTIN, signal.SIGTTOU}
_fds_sealed = False


def stop_fd_inheritance() -> None:
    """Descriptors this process inherited (a pipe from ``uv run``, a terminal's extra fds) would
    pass into every sandbox that posix_spawn starts: mark them close-on-exec, once."""
    global _fds_sealed
    if _fds_sealed:
        return
    _fds_sealed = True
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.set_inheritable(fd, False)


def spawn(cmd: list[str], env: dict[str, str], *, bwrap: bool, files: list[str] = (),
          workdir: str = "") -> tuple[int, int, int, int | None]:
    """Start ``cmd``; returns its pid, its stdout and stderr pipes, and (``bwrap``) the read end
    of bwrap's status pipe (non-blocking). ``files`` (bwrap): uploaded files in ``workdir``, open
    from FIRST_FILE_FD on, for bwrap to copy in (ExecPlan.file_fds)."""
    r_out, w_out = os.pipe2(os.O_CLOEXEC)
    r_err, w_err = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, w_out, 1), (os.POSIX_SPAWN_DUP2, w_err, 2)]
    r_status = w_status = seccomp_r = None
    if bwrap:
        r_status, w_status = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(r_status, False)  # the read end only: bwrap's writes stay blocking
        actions.append((os.POSIX_SPAWN_DUP2, w_status, STATUS_FD))
        if SECCOMP:  # a pipe holding the whole program (far below a pipe's capacity)
            r_sc, w_sc = os.pipe2(os.O_CLOEXEC)
            os.write(w_sc, SECCOMP)
            os.close(w_sc)
            seccomp_r = r_sc
            actions.append((os.POSIX_SPAWN_DUP2, r_sc, SECCOMP_FD))
        for i, rel in enumerate(files):
            actions.append((os.POSIX_SPAWN_OPEN, FIRST_FILE_FD + i, os.path.join(workdir, rel),
                            os.O_RDONLY | os.O_NOFOLLOW, 0))
    try:
        pid = os.posix_spawn(cmd[0], cmd, env, file_actions=actions,
                             setsid=True, setsigdef=_RESET_SIGNALS, setsigmask=set())
    except OSError:
        for fd in (r_out, r_err, r_status):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (w_out, w_err, null, w_status, seccomp_r):
            if fd is not None:
                os.close(fd)
    return pid, r_out, r_err, r_status


def init_reaped(fd: int | None) -> bool:
    """Whether bwrap reported, on its status fd, that its child exited.

    With ``--as-pid-1`` that child is the sandbox's pid 1, and bwrap writes ``exit-code`` only
    after it has reaped it; the kernel kills and reaps every process of a pid namespace before
    the namespace's pid 1 is gone. So the sandbox is empty and needs no /proc scan. (bwrap does
    not pass the fd into the sandbox, so the sandbox cannot write this line itself.)"""
    if fd is None:
        return False
    try:
        data = os.read(fd, 1 << 16)  # bwrap has exited: its two short lines are there (or nothing)
    except OSError:  # includes BlockingIOError
        return False
    return b'"exit-code"' in data


def exit_future(loop: asyncio.AbstractEventLoop, pid: int) -> asyncio.Future:
    """Resolves when ``pid`` has exited (it stays unreaped: we reap it with wait4)."""
    fut: asyncio.Future = loop.create_future()
    pidfd = os.pidfd_open(pid)

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(pidfd, ready)

    def done(_: asyncio.Future) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)

    fut.add_done_callback(done)
    return fut


def reap(pid: int) -> tuple[int, object | None]:
    """Collect the exited command (it has exited: this does not block)."""
    try:
        _, status, rusage = os.wait4(pid, 0)  # the pidfd said it exited: no blocking
    except ChildProcessError:  # reaped elsewhere (should not happen): report a kill
        status, rusage = signal.SIGKILL, None
    return status, rusage


def exec_result(status: int, rusage, timed_out: bool, duration: float, caps: dict[str, LineCap], *,
                wrapped: bool) -> ExecResult:
    """How a command ended. ``wrapped``: behind a wrapper (bwrap, unshare) that reports a signal
    death as exit status 128+N."""
    code = os.waitstatus_to_exitcode(status)
    exit_code, sig = (code, None) if code >= 0 else (None, -code)
    if wrapped and exit_code is not None and 128 < exit_code <= 128 + 64:
        exit_code, sig = None, exit_code - 128
    if timed_out:
        sig = sig or signal.SIGKILL
    return ExecResult(
        exit_code=exit_code, signal=sig, timed_out=timed_out,
        cpu_s=round(rusage.ru_utime + rusage.ru_stime, 4) if rusage else None,
        max_rss_kib=rusage.ru_maxrss if rusage else None,
        duration_s=round(duration, 4),
        stdout_dropped=caps["stdout"].dropped, stderr_dropped=caps["stderr"].dropped)
