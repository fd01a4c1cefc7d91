"""The bwrap level's fast path: a warm server that forks a freshly confined process per command.

Starting a Python interpreter inside a new bubblewrap sandbox costs tens of milliseconds of CPU
per candidate; most of it is the interpreter and its imports, the same every time. A
``WarmServer`` starts once per hash seed and set of task packages (the seed is read at
interpreter start; a task's ``requirements`` are mounted into the server's view), at most a few
alive at once (the least recently used idle one is closed), inside one long-lived bubblewrap
sandbox. It has imported the runner's modules and the standard modules versions use most, and
receives the runner's source once. Per command it forks: the fork gets new namespaces, fresh
writable directories, its own cgroup, a seccomp filter, no capabilities and rlimits
(``_warm_server.py`` says exactly what); as root its own uid, otherwise its own user namespace.
Used only for ``python SCRIPT ...`` where SCRIPT was uploaded; everything else takes the
ordinary bwrap path. The local backend turns it off when asked (``LocalBackend(warm=False)``,
which the ACE_WARM=0 setting gives).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import marshal
import os
import select
import signal
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from ai_code_evals.sandbox.base import SandboxError
from ai_code_evals.sandbox.runner_source import runner_source

ENV_VAR = "ACE_WARM"
SERVER = Path(__file__).with_name("_warm_server.py")
CONTROL_FD = 3
START_TIMEOUT_S = 30.0
SEND_BUFFER = 4 << 20
CLOSE_WAIT_S = 5.0  # on close, how long the server may take to end its running commands
_ERR_KEEP = 4096
SCRIPTS_MAX = 16  # the server's CACHE_MAX: both forget their script keys at the same point


def _exited_within(pid: int, seconds: float) -> bool:
    """Whether a child of ours exits within ``seconds`` (it is left to be reaped)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


@dataclass
class Exit:
    """How a warm command ended: its wait status and the whole tree's CPU time and peak RSS."""

    status: int
    cpu_s: float
    max_rss_kib: int


class WarmServer:
    """One warm server process (inside bwrap) and the commands it runs for this app."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self._command, self._env = command, env
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        self._err_fd: int | None = None
        self._stderr = b""
        self._buf = b""
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._ready: asyncio.Future | None = None
        self._send_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[bytes, int] = {}  # script source -> its key on the server (sent once)
        self._script_keys = itertools.count(1)
        self.dead: str | None = None  # why it stopped working

    @property
    def busy(self) -> bool:
        """Whether a command of ours is running in it (or starting)."""
        return bool(self._pending)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the server's replies are read on."""
        return self._loop

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        r_err, w_err = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                       (os.POSIX_SPAWN_DUP2, w_err, 2), (os.POSIX_SPAWN_DUP2, theirs.fileno(), CONTROL_FD)]
            self._pid = os.posix_spawn(  # noqa: ASYNC221 - returns at once
                self._command[0], self._command, self._env, file_actions=actions,
                setsid=True, setsigdef={signal.SIGPIPE, signal.SIGINT, signal.SIGTERM})
        except OSError as exc:
            ours.close()
            os.close(r_err)
            raise SandboxError(f"cannot start the warm sandbox server: {exc}") from exc
        finally:
            theirs.close()
            os.close(w_err)
            os.close(null)
        ours.setblocking(False)
        self._sock, self._err_fd = ours, r_err
        os.set_blocking(r_err, False)
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        loop.add_reader(r_err, self._on_stderr)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except TimeoutError:
            self._fail(f"the warm sandbox server did not start within {START_TIMEOUT_S:g}s")
        if self.dead:
            self.close()
            raise SandboxError(self.dead)

    def close(self) -> None:
        """Stop the server and wait for it: closing its socket makes it kill and reap every command
        still running (each reap comes once that command's namespace is empty) and exit, bwrap
        with it. So when this returns nothing of any command is left, which without root (no uid
        of its own to scan for) nothing else could tell. A server that does not exit in time is
        killed, and bwrap takes its sandbox down."""
        if self._loop is not None and not self._loop.is_closed():
            for fd in (self._sock.fileno() if self._sock else None, self._err_fd):
                if fd is not None and fd >= 0:
                    with contextlib.suppress(Exception):
                        self._loop.remove_reader(fd)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._err_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._err_fd)
            self._err_fd = None
        pid, self._pid = self._pid, None
        if pid is not None:
            if not _exited_within(pid, CLOSE_WAIT_S):  # a wedged server: its sandbox dies with bwrap
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        self._fail(self.dead or "the warm sandbox server was closed")

    def _fail(self, why: str) -> None:
        if self.dead is None:
            self.dead = why
        for fut in [self._ready, *self._pending.values()]:
            if fut is not None and not fut.done():
                fut.set_exception(SandboxError(self.dead))
        self._pending.clear()

    # -- replies ------------------------------------------------------------------------------
    def _on_stderr(self) -> None:
        try:
            data = os.read(self._err_fd, 1 << 16) if self._err_fd is not None else b""
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if self._loop is not None and self._err_fd is not None:
                self._loop.remove_reader(self._err_fd)
            return
        self._stderr = (self._stderr + data)[-_ERR_KEEP:]

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(1 << 16) if self._sock else b""
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if self._loop is not None and self._sock is not None:
                self._loop.remove_reader(self._sock.fileno())
            last = self._stderr.decode(errors="replace").strip().splitlines()
            self._fail("the warm sandbox server stopped" + (f": {last[-1][:300]}" if last else ""))
            return
        self._buf += data
        while len(self._buf) >= 4:
            size = struct.unpack("!I", self._buf[:4])[0]
            if len(self._buf) < 4 + size:
                break
            msg = marshal.loads(self._buf[4:4 + size])
            self._buf = self._buf[4 + size:]
            self._dispatch(msg)

    def _dispatch(self, msg: dict) -> None:
        if msg.get("op") == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            return
        fut = self._pending.pop(msg.get("id"), None)
        if fut is None or fut.done():
            return
        if msg["op"] == "exit":
            fut.set_result(Exit(status=msg["status"], cpu_s=msg["cpu"], max_rss_kib=msg["maxrss"]))
        else:
            fut.set_exception(SandboxError(f"the warm sandbox server refused the command: {msg.get('error')}"))

    # -- commands ---------------------------------------------------------------------------
    async def run(self, request: dict, stdout_fd: int, stderr_fd: int,
                  joins: list[int] | None = None) -> tuple[int, asyncio.Future]:
        """Start a command; returns its id and a future of its ``Exit``. The two descriptors
        become the command's stdout and stderr; ``joins`` are ``cgroup.procs`` files its pid 1
        writes itself into (the caller keeps and closes its copies)."""
        if self.dead or self._sock is None or self._loop is None:
            raise SandboxError(self.dead or "the warm sandbox server is not running")
        ident = next(self._ids)
        data = marshal.dumps(dict(self._with_script_key(request), op="run", id=ident))
        frame = struct.pack("!I", len(data)) + data
        fut = self._loop.create_future()
        self._pending[ident] = fut
        passed = [stdout_fd, stderr_fd, *(joins or [])]
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(passed)}i", *passed))]
        async with self._send_lock:
            try:
                while True:
                    try:
                        sent = self._sock.sendmsg([frame], fds)
                        break
                    except BlockingIOError:  # the server is behind: wait until it reads
                        await self._writable()
                if sent < len(frame):
                    await self._loop.sock_sendall(self._sock, frame[sent:])
            except OSError as exc:
                self._pending.pop(ident, None)
                raise SandboxError(f"cannot reach the warm sandbox server: {exc}") from exc
        return ident, fut

    def _with_script_key(self, request: dict) -> dict:
        """The request with its script replaced by a key the server already knows (the first
        time: the key and the source). Mirrors the server's rule for forgetting keys."""
        argv, files = request.get("argv") or [], request.get("files") or {}
        source = files.get(argv[0]) if argv else None
        if not isinstance(source, bytes):
            return request
        key = self._scripts.get(source)
        sent = None
        if key is None:
            if len(self._scripts) >= SCRIPTS_MAX:
                self._scripts.clear()
            key = self._scripts[source] = next(self._script_keys)
            sent = source
        files = {k: v for k, v in files.items() if k != argv[0]}
        # only the app's own runner may have its body run inside the server (see _preload there)
        return dict(request, files=files, script=(key, sent), preload=source == runner_source())

    async def _writable(self) -> None:
        fut = self._loop.create_future()
        fd = self._sock.fileno()
        self._loop.add_writer(fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            self._loop.remove_writer(fd)

    async def kill(self, ident: int) -> None:
        """Ask the server to kill a command's pid 1 (its whole namespace dies with it)."""
        if self.dead or self._sock is None or self._loop is None:
            return
        data = marshal.dumps({"op": "kill", "id": ident})
        async with self._send_lock:
            with contextlib.suppress(OSError):
                await self._loop.sock_sendall(self._sock, struct.pack("!I", len(data)) + data)
