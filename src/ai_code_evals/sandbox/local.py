"""The local sandbox backend: each sandbox is an isolated process tree on this machine.

``LocalBackend`` detects the strongest isolation level that works here once (see
``isolation.py``), then creates sandboxes: a fresh directory under a private temp root, a
private uid when running as root, and one command at a time run through the level's wrapper.
Output is streamed line by line and capped; the wall-clock limit (``timeout_s``) kills the
whole tree; when a command returns, nothing it started is still running; ``destroy()`` removes
the directory. Exit paths (error, timeout, cancellation, Ctrl-C, interpreter exit) all clean up.

At the ``bwrap`` and ``unshare`` levels the command sees the uploaded files read-only inside a
private, size-limited tmpfs at the working directory's path: what it writes there is private
to that one command. At the ``rlimits`` level it works in the real directory.

Per sandbox the backend itself does little (``benchmarks/bench_sandbox.py`` measures it): the
private uid comes from a pool the backend keeps locked (a sandbox that ended clean hands its uid
to the next without a sweep), small files are written on the event loop, and a command that
ends by itself is proven gone by one /proc scan, or at the ``bwrap`` level by bwrap's own
report (see ``_init_reaped``); timeouts and cancellations kill and scan until nothing is left.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ai_code_evals.core.errors import ConfigError

if TYPE_CHECKING:
    from ai_code_evals.core.settings import Settings
from ai_code_evals.sandbox import cgroups, procs, seccomp, uidslots
from ai_code_evals.sandbox import warm as warm_mod
from ai_code_evals.sandbox.base import ExecResult, OnLine, SandboxError, SandboxLimits, SandboxSpec, Stream
from ai_code_evals.sandbox.isolation import (
    LEVELS,
    SHARED_WRITABLE,
    SMALL_TMPFS,
    ExecPlan,
    Host,
    build_command,
    default_host,
    detect,
    disk_budget,
    gaps,
    rlimit_pairs,
    sandbox_env,
    secret_files,
    warm_server_command,
)
from ai_code_evals.sandbox.output import LineCap

ROOT_PREFIX = "ace-sbx-"
EOF_GRACE_S = 2.0  # after the command ends, how long output may still drain
WARM_EXIT_WAIT_S = 10.0  # after a kill, how long the warm server may take to report the exit
READ_CHUNK = 1 << 16
# Uploads up to this size are written on the event loop: a thread hop costs more than the write.
INLINE_UPLOAD_BYTES = 1 << 20
CGROUP_POOL = 64  # empty per-sandbox cgroups kept for reuse (creating one costs ~1-3 ms)
STATUS_FD = 3  # bwrap level: where bwrap writes its JSON status lines (see _init_reaped)
SECCOMP_FD = 4  # bwrap level: where bwrap reads the seccomp program (seccomp.py)
SECCOMP = seccomp.program()
FIRST_FILE_FD = 10  # bwrap level: uploaded files are open from here on when bwrap starts
# signals a parent may ignore and a child must not inherit as ignored
_RESET_SIGNALS = {signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD, signal.SIGTSTP,
                  signal.SIGTTIN, signal.SIGTTOU}

_backends: weakref.WeakSet[LocalBackend] = weakref.WeakSet()


def _stop_fd_inheritance() -> None:
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


_fds_sealed = False


def _check_level(name: str | None) -> str | None:
    if name in (None, "", "auto"):
        return None
    if name not in LEVELS:
        raise ConfigError(f"unknown isolation level {name!r} (choose from auto, {', '.join(LEVELS)})")
    return name


def _reap_stale_roots(parent: str) -> None:
    """Remove temp roots of app processes that died without cleaning up (kill -9)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(ROOT_PREFIX):
            continue
        pid = name[len(ROOT_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _reap_stale_uids() -> None:
    """Kill processes (and remove /tmp files) of sandbox uids that no live sandbox holds: what a
    killed app left at the rlimits level, where nothing dies with the app but its direct child."""
    for uid in sorted(u for u in procs.uids_with_processes() if uidslots.in_range(u)):
        slot = uidslots.try_claim(uid)
        if slot is None:
            continue  # in use by a live sandbox (of this or another app process)
        try:
            procs.kill_all(None, uid)
            procs.remove_owned(uid, SHARED_WRITABLE)
        finally:
            slot.release()


def _safe_write(workdir: str, rel: str, data: bytes) -> None:
    """Write ``workdir/rel`` without following links a sandboxed process may have planted."""
    parts = PurePosixPath(rel).parts
    fd = os.open(workdir, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            nfd = os.open(part, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        tmp = f".ace-upload-{uuid.uuid4().hex}"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view):]
            os.fchmod(out, 0o644)
        finally:
            os.close(out)
        os.replace(tmp, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def _check_rel(rel: str) -> str:
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or any(part in ("..", "") for part in p.parts) or str(p) in (".",):
        raise SandboxError(f"upload path must be relative and inside the sandbox: {rel!r}")
    return str(p)


def _init_reaped(fd: int | None) -> bool:
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


async def _call(on_line: OnLine, stream: Stream, line: str) -> None:
    result = on_line(stream, line)
    if inspect.isawaitable(result):
        await result


@dataclass
class _Output:
    """A running command's output forwarding: caps per stream, the pumps, and the first
    failure of ``on_line`` (which stops the command)."""

    caps: dict[str, LineCap]
    pumps: list[asyncio.Future] = field(default_factory=list)
    failure: list[BaseException] = field(default_factory=list)
    failed: asyncio.Event = field(default_factory=asyncio.Event)


class LocalBackend:
    """Creates isolated local sandboxes. ``isolation`` is ``None``/``"auto"`` (detect), or one of
    ``bwrap``, ``unshare``, ``rlimits`` (must work, else ConfigError); env ACE_ISOLATION too.
    ``warm`` turns the bwrap level's fast path on or off (default: $ACE_WARM, else on)."""

    name = "local"

    def __init__(self, isolation: str | None = None, *, temp_dir: str | None = None,
                 host: Host | None = None, warm: bool = True, cgroups: bool = True, unsafe: bool = False) -> None:
        self._forced = _check_level(isolation)
        self._host = host or default_host()
        self._temp_parent = temp_dir or tempfile.gettempdir()
        self._level: str | None = None
        self._unsafe = unsafe  # --unsafe-isolation: a level that cannot contain candidates may run
        self.unsafe_isolation = ""  # what the level in use cannot contain (set only when it runs anyway)
        self.isolation_reasons: dict[str, str] = {}  # why stronger levels were skipped
        self._root: str | None = None
        self._root_lock = threading.Lock()
        self._live: set[LocalSandbox] = set()
        self._uids = uidslots.UidPool()  # private uids (as root), kept from sandbox to sandbox
        self._closed = False
        self._subreaper = False
        self._warm: dict[tuple, warm_mod.WarmServer] = {}  # environment -> its warm server
        self._warm_lock: asyncio.Lock | None = None
        _stop_fd_inheritance()
        self._cgroups_on = cgroups  # False: ACE_CGROUPS=0, the per-sandbox uid/userns limits only
        self.cgroups_off: str | None = None  # why sandboxes have no cgroup (None: they have one)
        self._cgroup_pool: list[cgroups.SandboxCgroup] = []  # empty cgroups of clean sandboxes, reused
        # why the warm fast path is not used (None: it is)
        self.warm_off: str | None = None if warm else "turned off (ACE_WARM)"
        _backends.add(self)

    # -- isolation level ---------------------------------------------------------------------
    @property
    def isolation(self) -> str:
        """The level in use; the first read probes the levels (a fraction of a second, once)."""
        if self._level is None:
            self._level, self.isolation_reasons = detect(self._forced, self._host, unsafe=self._unsafe)
            self.unsafe_isolation = gaps(self._level, self._host) or ""
        return self._level

    async def detect(self) -> str:
        if self._level is None:
            await asyncio.to_thread(lambda: self.isolation)
        return self.isolation

    # -- sandboxes ---------------------------------------------------------------------------
    def _private_root(self) -> str:
        """The temp root (created on first use). Call with ``_root_lock`` held."""
        if self._closed:
            raise SandboxError("the local backend is closed")
        if self._root is None:
            _reap_stale_roots(self._temp_parent)
            if self._host.root:
                _reap_stale_uids()
            iface, _ = self._cgroups_available()
            if iface is not None:
                cgroups.reap_stale(iface)
            self._root = tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-", dir=self._temp_parent)
            os.chmod(self._root, 0o711)  # sandbox uids may traverse to their own directory only
        return self._root

    def _new_workdir(self, *, virtual: bool = False) -> str:
        """A working directory under the private root; ``virtual``: only its path (a warm
        command gets it as a tmpfs in its own mount namespace; created on the host if needed)."""
        with self._root_lock:  # never races with aclose() removing the root
            if virtual:
                return os.path.join(self._private_root(), f"w{uuid.uuid4().hex[:10]}")
            return tempfile.mkdtemp(prefix="w", dir=self._private_root())

    # -- the warm fast path (warm.py) -------------------------------------------------------
    def _warm_wanted(self, spec: SandboxSpec, level: str) -> bool:
        """Warm commands need bwrap and a fixed hash seed: the forks of one server share its
        seed, so a per-process random seed would become a shared one."""
        return level == "bwrap" and self.warm_off is None and "PYTHONHASHSEED" in spec.env

    async def warm_server(self, env: dict[str, str]) -> warm_mod.WarmServer | None:
        """The running warm server for ``env`` (started on first use); None when the fast path
        does not work here, with the reason in ``warm_off`` (the ordinary bwrap path is used).

        Only ``PYTHON*`` variables reach the server (the interpreter reads them at start:
        hash seed, bytecode, I/O encoding...); each command gets its whole environment itself."""
        env = {k: v for k, v in env.items() if k.startswith("PYTHON")}
        key = tuple(sorted(env.items()))
        server = self._warm.get(key)
        if server is not None and not server.dead and server.loop is not asyncio.get_running_loop():
            server.close()  # started under another event loop (a second asyncio.run): start anew
        if server is not None and not server.dead:
            return server
        if self._warm_lock is None:
            self._warm_lock = asyncio.Lock()
        async with self._warm_lock:
            server = self._warm.get(key)
            if server is not None and not server.dead:
                return server
            if self.warm_off is not None or self._closed:
                return None
            plan = ExecPlan(level="bwrap", workdir="/", files=[], uid=None, limits=SandboxLimits(),
                            env=dict(env), argv=[])
            try:
                cmd = warm_server_command(self._host, sandbox_env(plan), secret_files(), warm_mod.SERVER.read_text())
                server = warm_mod.WarmServer(cmd, sandbox_env(plan))
                await server.start()
            except (OSError, SandboxError) as exc:
                self.warm_off = f"warm server unavailable: {exc}"
                return None
            self._warm[key] = server
            return server

    def _give_back_cgroup(self, group: cgroups.SandboxCgroup) -> None:
        """Keep an empty cgroup for the next sandbox; otherwise kill what is in it and remove it."""
        with self._root_lock:
            if not self._closed and len(self._cgroup_pool) < CGROUP_POOL and not group.pids():
                self._cgroup_pool.append(group)
                return
        group.remove()  # kills what is left in it (a setsid escapee at rlimits too)

    def _close_cgroups(self) -> None:
        with self._root_lock:
            pool, self._cgroup_pool = self._cgroup_pool, []
        for group in pool:
            with contextlib.suppress(Exception):
                group.remove()

    def _close_warm(self) -> None:
        servers, self._warm = list(self._warm.values()), {}
        for server in servers:
            with contextlib.suppress(Exception):
                server.close()

    def _remove_root(self) -> None:
        with self._root_lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    async def create(self, spec: SandboxSpec) -> LocalSandbox:
        if self._closed:
            raise SandboxError("the local backend is closed")
        level = await self.detect()
        if self._root is not None and (not self._host.root or self._uids.has_free()):
            box = self._create_sync(spec, level)  # a directory and a uid we hold: quicker than a thread hop
        else:  # first use (reaps what dead apps left) or a new uid to claim and sweep
            box = await asyncio.to_thread(self._create_sync, spec, level)
        if self._closed:  # closed while we were creating
            await box.destroy()
            raise SandboxError("the local backend is closed")
        return box

    def _create_sync(self, spec: SandboxSpec, level: str) -> LocalSandbox:
        slot = None
        try:
            if self._host.root:
                slot, fresh = self._uids.take()
                if fresh:  # leftovers of a crashed earlier run of this uid (a reused uid ended clean)
                    procs.kill_all(None, slot.uid)
                    if level == "rlimits":  # the only level where it can write to shared directories
                        procs.remove_owned(slot.uid, SHARED_WRITABLE)
            warm = self._warm_wanted(spec, level)
            workdir = self._new_workdir(virtual=warm)
            group = self._cgroup(spec)
            if level == "rlimits":  # the real directory is the sandbox's working directory
                if slot is not None and not self._subreaper:
                    self._subreaper = procs.become_subreaper()
                os.mkdir(os.path.join(workdir, ".tmp"), 0o700)
                if slot is not None:
                    for path in (workdir, os.path.join(workdir, ".tmp")):
                        os.chown(path, slot.uid, slot.uid)
        except (OSError, SandboxError) as exc:
            if slot is not None:
                self._uids.give_back(slot, clean=False)
            if isinstance(exc, SandboxError):
                raise
            raise SandboxError(f"cannot create a local sandbox: {exc}") from exc
        box = LocalSandbox(self, spec, level, workdir, slot, warm=warm, group=group)
        self._live.add(box)
        return box

    def _cgroups_available(self) -> tuple[cgroups.Backend | None, str]:
        return cgroups.available() if self._cgroups_on else (None, "turned off (ACE_CGROUPS=0)")

    def _cgroup(self, spec: SandboxSpec) -> cgroups.SandboxCgroup | None:
        """The sandbox's own cgroup (cgroups.py); None where none can be made (``cgroups_off``
        says why: the fallback limits then apply)."""
        iface, why = self._cgroups_available()
        self.cgroups_off = why if iface is None else None
        if iface is None:
            return None
        limits = spec.limits
        wanted = cgroups.limits_for(limits.memory_mb, disk_budget(limits), limits.processes)
        try:
            with self._root_lock:
                pooled = self._cgroup_pool.pop() if self._cgroup_pool else None
            if pooled is not None:  # an empty cgroup a clean sandbox gave back: no mkdir, no rmdir
                try:
                    pooled.apply(wanted)
                    return pooled
                except OSError:
                    pooled.remove()
            return iface.create(wanted)
        except OSError as exc:
            self.cgroups_off = f"cannot create a cgroup: {exc}"
            return None

    async def aclose(self) -> None:
        """Destroy every sandbox still alive and remove the private temp root."""
        self._closed = True
        await asyncio.gather(*(box.destroy() for box in list(self._live)), return_exceptions=True)
        self._close_warm()
        self._uids.close()
        await asyncio.to_thread(self._close_cgroups)
        await asyncio.to_thread(self._remove_root)

    def close_sync(self) -> None:
        """Last-resort cleanup at interpreter exit (no event loop needed)."""
        self._closed = True
        for box in list(self._live):
            box.cleanup_sync()
        self._close_warm()
        self._uids.close()
        self._close_cgroups()
        self._remove_root()


@atexit.register
def _cleanup_at_exit() -> None:
    for backend in list(_backends):
        with contextlib.suppress(Exception):
            backend.close_sync()


class LocalSandbox:
    """One sandbox. Runs one command at a time; see ``isolation.py`` for what confines it."""

    def __init__(self, backend: LocalBackend, spec: SandboxSpec, level: str, workdir: str,
                 slot: uidslots.UidSlot | None, *, warm: bool = False,
                 group: cgroups.SandboxCgroup | None = None) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.isolation = level
        self.spec = spec
        self.workdir = workdir
        self.uid = slot.uid if slot else None
        self._backend = backend
        self._slot = slot
        self._cgroup = group  # limits and kills the sandbox as a whole (None: the rlimits fallback)
        self._files: list[str] = []
        self._pid: int | None = None  # the running command, until it is reaped
        # warm sandboxes keep their files in memory (the command gets them in its own tmpfs) and
        # write them to the host directory only if a command takes the ordinary path
        self._warm = warm
        self._mem: dict[str, bytes] | None = {} if warm else None
        self._warm_run: tuple[warm_mod.WarmServer, int] | None = None  # a running warm command
        # True while none of the sandbox's processes can be alive (a fresh or swept uid, or the
        # last command's final scan found nothing): destroy() then needs no scan of its own
        self._clean = True
        self._destroyed = False
        # one cleanup at a time: exec's own call must not hand the uid on while a destroy() in a
        # thread is still killing this uid's processes
        self._cleanup_lock = threading.Lock()
        host = backend._host
        python = host.rlimits_python() if level == "rlimits" else host.python.executable
        self.info: dict = {"isolation": level, "workdir": workdir, "uid": self.uid, "python": python,
                           "limits": asdict(spec.limits)}
        if level == "rlimits":
            self.info["landlock_abi"] = host.landlock_abi
        if backend.isolation_reasons:
            self.info["skipped"] = dict(backend.isolation_reasons)
        if warm:
            self.info["warm"] = True
        self.info["cgroup"] = f"v{group.version}" if group else f"none: {backend.cgroups_off}"

    async def __aenter__(self) -> LocalSandbox:  # noqa: PYI034
        return self

    async def __aexit__(self, *exc) -> None:
        await self.destroy()

    # -- files --------------------------------------------------------------------------------
    async def upload(self, files: dict[str, bytes]) -> None:
        if self._destroyed:
            raise SandboxError("sandbox is destroyed")
        checked = {_check_rel(rel): data for rel, data in files.items()}

        def write() -> None:
            for rel, data in checked.items():
                _safe_write(self.workdir, rel, data)

        if self._mem is not None:
            self._mem.update(checked)
            return
        try:
            if sum(len(data) for data in checked.values()) <= INLINE_UPLOAD_BYTES:
                write()
            else:
                await asyncio.to_thread(write)
        except OSError as exc:
            raise SandboxError(f"upload failed: {exc}") from exc
        self._files.extend(r for r in checked if r not in self._files)

    # -- running ------------------------------------------------------------------------------
    def _command(self, argv: list[str]) -> tuple[list[str], dict[str, str]]:
        host = self._backend._host
        bwrap = self.isolation == "bwrap"
        plan = ExecPlan(level=self.isolation, workdir=self.workdir, files=list(self._files), uid=self.uid,
                        limits=self.spec.limits, env=dict(self.spec.env), argv=list(argv),
                        masks=secret_files(), status_fd=STATUS_FD if bwrap else None,
                        seccomp_fd=SECCOMP_FD if bwrap and SECCOMP else None,
                        file_fds={rel: FIRST_FILE_FD + i for i, rel in enumerate(self._files)} if bwrap else {})
        cmd = build_command(plan, host)
        if self._cgroup is not None and host.sh is not None:  # joined before anything starts
            cmd = self._cgroup.join_argv(host.sh) + cmd
        return cmd, sandbox_env(plan)

    def _spawn(self, cmd: list[str], env: dict[str, str]) -> tuple[int, int, int, int | None]:
        """Start ``cmd``; returns its pid, its stdout and stderr pipes, and (bwrap level) the
        read end of bwrap's status pipe (non-blocking)."""
        r_out, w_out = os.pipe2(os.O_CLOEXEC)
        r_err, w_err = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, w_out, 1), (os.POSIX_SPAWN_DUP2, w_err, 2)]
        r_status = w_status = seccomp_r = None
        if self.isolation == "bwrap":
            r_status, w_status = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(r_status, False)  # the read end only: bwrap's writes stay blocking
            actions.append((os.POSIX_SPAWN_DUP2, w_status, STATUS_FD))
            if SECCOMP:  # a pipe holding the whole program (far below a pipe's capacity)
                r_sc, w_sc = os.pipe2(os.O_CLOEXEC)
                os.write(w_sc, SECCOMP)
                os.close(w_sc)
                seccomp_r = r_sc
                actions.append((os.POSIX_SPAWN_DUP2, r_sc, SECCOMP_FD))
            for i, rel in enumerate(self._files):  # bwrap copies them in (ExecPlan.file_fds)
                actions.append((os.POSIX_SPAWN_OPEN, FIRST_FILE_FD + i, os.path.join(self.workdir, rel),
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

    async def exec(self, argv: list[str], *, on_line: OnLine, timeout_s: float) -> ExecResult:
        """Run ``argv`` (a leading ``"python"`` is the sandbox's interpreter) in the working
        directory. Returns when it has ended and every process it started is gone."""
        if self._destroyed:
            raise SandboxError("sandbox is destroyed")
        if self._pid is not None or self._warm_run is not None:
            raise SandboxError("a command is already running in this sandbox")
        if not argv:
            raise SandboxError("empty command")
        if self._mem is not None:
            if argv[0] == "python" and len(argv) > 1 and argv[1] in self._mem:
                server = await self._backend.warm_server(dict(self.spec.env))
                if server is not None:
                    return await self._exec_warm(server, argv[1:], on_line, timeout_s)
            await self._materialize()
        return await self._exec_cold(argv, on_line, timeout_s)

    async def _materialize(self) -> None:
        """Leave the warm path for good: write the files to the host working directory."""
        files, self._mem = self._mem or {}, None
        self.info.pop("warm", None)
        self._files.extend(r for r in files if r not in self._files)
        try:
            await asyncio.to_thread(self._make_workdir, files)
        except OSError as exc:
            raise SandboxError(f"upload failed: {exc}") from exc

    def _make_workdir(self, files: dict[str, bytes]) -> None:
        os.makedirs(self.workdir, 0o700, exist_ok=True)
        for rel, data in files.items():
            _safe_write(self.workdir, rel, data)

    def _start_output(self, r_out: int, r_err: int, on_line: OnLine) -> _Output:
        """Forward both pipes, capped, to ``on_line`` until they end."""
        loop = asyncio.get_running_loop()
        out = _Output(caps={"stdout": LineCap(self.spec.limits.output_bytes),
                            "stderr": LineCap(self.spec.limits.output_bytes)})
        for fd, name in ((r_out, "stdout"), (r_err, "stderr")):
            pipe = os.fdopen(fd, "rb", buffering=0)
            pump = asyncio.ensure_future(self._pump(loop, pipe, name, out.caps[name], on_line, out.failure,
                                                    out.failed))
            pump.add_done_callback(lambda _, p=pipe: p.close())  # also when cancelled before starting
            out.pumps.append(pump)
        return out

    @staticmethod
    async def _drain(pumps: list[asyncio.Future]) -> None:
        _, pending = await asyncio.wait(pumps, timeout=EOF_GRACE_S)
        for p in pending:  # an escaped process still holds the pipe (rlimits level, not root)
            p.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)

    @staticmethod
    async def _wait_end(exited: asyncio.Future, out: _Output, timeout_s: float) -> bool:
        """Until the command exits, forwarding its output fails, or ``timeout_s`` passes;
        False when the time ran out."""
        watch = asyncio.ensure_future(out.failed.wait())
        try:
            done, _ = await asyncio.wait({exited, watch}, timeout=max(0.0, timeout_s),
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
        return bool(done)

    async def _exec_warm(self, server: warm_mod.WarmServer, argv: list[str], on_line: OnLine,
                         timeout_s: float) -> ExecResult:
        """Run ``python SCRIPT ...`` as a fork of the warm server (see warm.py). Its exit report
        comes after the kernel emptied the command's pid namespace: no /proc scan needed."""
        limits = self.spec.limits
        plan = ExecPlan(level=self.isolation, workdir=self.workdir, files=[], uid=self.uid, limits=limits,
                        env=dict(self.spec.env), argv=argv)
        request = {"uid": self.uid, "workdir": self.workdir, "files": dict(self._mem or {}), "argv": argv,
                   "env": sandbox_env(plan), "keep": self._backend._host.python_dirs(),
                   # as root its own uid, else its own user namespace (made by the server's fork)
                   "rlimits": rlimit_pairs(limits, limits.processes + (0 if self.uid is not None else 2)),
                   "seccomp": SECCOMP or b"", "tmp_size": disk_budget(limits),
                   "small_size": SMALL_TMPFS}
        try:  # the command's holder joins the sandbox's cgroup through these (the server cannot see it)
            joins = self._cgroup.open_procs() if self._cgroup is not None else []
        except OSError as exc:
            raise SandboxError(f"cannot join the sandbox's cgroup: {exc}") from exc
        request["cgroups"] = len(joins)
        r_out, w_out = os.pipe2(os.O_CLOEXEC)
        r_err, w_err = os.pipe2(os.O_CLOEXEC)
        try:
            ident, exited = await server.run(request, w_out, w_err, joins)
        except BaseException:
            os.close(r_out)
            os.close(r_err)
            raise
        finally:
            for fd in (w_out, w_err, *joins):
                os.close(fd)
        self._warm_run = (server, ident)
        self._clean = False
        started = time.monotonic()
        out = self._start_output(r_out, r_err, on_line)
        timed_out = False
        end: warm_mod.Exit | None = None
        try:
            in_time = await self._wait_end(exited, out, timeout_s)
            left = 0
            if not exited.done():
                timed_out = not in_time
                await server.kill(ident)  # its exit report comes once the namespace is empty
                if self.uid is not None:  # and as root, every process of its uid, at once
                    left = await asyncio.to_thread(procs.kill_all, None, self.uid)
            try:
                end = await asyncio.wait_for(asyncio.shield(exited), WARM_EXIT_WAIT_S)
            except (SandboxError, TimeoutError):
                if not timed_out and not out.failure:
                    raise
                left = await asyncio.to_thread(procs.kill_all, None, self.uid) if self.uid is not None else 1
            self._warm_run = None
            self._clean = left == 0
            await self._drain(out.pumps)
        finally:
            if self._warm_run is not None:  # cancelled or failed: kill what is left
                self._warm_run = None
                with contextlib.suppress(BaseException):  # cancelled again: the kill still goes on
                    await asyncio.shield(self._end_warm(server, ident, exited))
                with contextlib.suppress(Exception):
                    self._clean = procs.kill_all(None, self.uid) == 0
            if self._destroyed:
                self.cleanup_sync()
            exited.cancel()
            for p in out.pumps:
                p.cancel()
        if out.failure:
            raise out.failure[0]
        status = end.status if end is not None else signal.SIGKILL
        usage = SimpleNamespace(ru_utime=end.cpu_s, ru_stime=0.0, ru_maxrss=end.max_rss_kib) if end else None
        return self._result(status, usage, timed_out, time.monotonic() - started, out.caps)

    @staticmethod
    async def _end_warm(server: warm_mod.WarmServer, ident: int, exited: asyncio.Future) -> None:
        """Kill a warm command and wait for its exit report, which comes once its pid namespace
        is empty: without root nothing else proves it gone before exec returns."""
        await server.kill(ident)
        await asyncio.wait({exited}, timeout=WARM_EXIT_WAIT_S)

    async def _exec_cold(self, argv: list[str], on_line: OnLine, timeout_s: float) -> ExecResult:
        """Run a command through the level's wrapper (bwrap, unshare, or the launcher)."""
        try:
            cmd, env = self._command(argv)
            pid, r_out, r_err, r_status = self._spawn(cmd, env)
        except OSError as exc:
            raise SandboxError(f"cannot start the command: {exc}") from exc
        self._pid = pid
        self._clean = False
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        out = self._start_output(r_out, r_err, on_line)
        exited = self._exit_future(loop, pid)
        status = rusage = None
        try:
            # timeout_s is the contract (the engine sizes it per task); limits.wall_s is not applied
            timed_out = not await self._wait_end(exited, out, timeout_s)
            # Kill the rest of the tree while the leader is unreaped (its pid and group stay ours).
            # Usually the command ended by itself: then bwrap's report proves the sandbox empty,
            # or else one scan, done right here, finds nothing alive; otherwise kill in a thread
            # until nothing is (that can take many scans).
            if exited.done() and not timed_out and _init_reaped(r_status):
                left = 0
            else:
                left = procs.kill_all(pid, self.uid, rounds=1) if exited.done() else 1
                if left:
                    left = await asyncio.to_thread(procs.kill_all, pid, self.uid)
            await asyncio.shield(exited)
            status, rusage = self._reap(pid)
            if self.uid is not None and self.isolation == "rlimits":
                # we are its subreaper: reap what the leader's death re-parented to us
                left = await asyncio.to_thread(procs.kill_all, None, self.uid)
            self._clean = left == 0
            await self._drain(out.pumps)
        finally:
            if self._pid is not None:  # cancelled or failed: kill and reap synchronously
                self._kill_and_reap_sync()
            if self._destroyed:  # destroyed while running: finish what destroy() could not
                self.cleanup_sync()
            exited.cancel()
            for p in out.pumps:
                p.cancel()
            if r_status is not None:
                os.close(r_status)
        if out.failure:
            raise out.failure[0]
        return self._result(status, rusage, timed_out, time.monotonic() - started, out.caps)

    def _reap(self, pid: int) -> tuple[int, object | None]:
        """Collect the exited command (it has exited: this does not block)."""
        try:
            _, status, rusage = os.wait4(pid, 0)  # the pidfd said it exited: no blocking
        except ChildProcessError:  # reaped elsewhere (should not happen): report a kill
            status, rusage = signal.SIGKILL, None
        self._pid = None
        return status, rusage

    def _result(self, status: int, rusage, timed_out: bool, duration: float, caps: dict) -> ExecResult:
        code = os.waitstatus_to_exitcode(status)
        exit_code, sig = (code, None) if code >= 0 else (None, -code)
        if self.isolation in ("bwrap", "unshare") and exit_code is not None and 128 < exit_code <= 128 + 64:
            exit_code, sig = None, exit_code - 128  # the wrapper reports a signal death as 128+N
        if timed_out:
            sig = sig or signal.SIGKILL
        return ExecResult(
            exit_code=exit_code, signal=sig, timed_out=timed_out,
            cpu_s=round(rusage.ru_utime + rusage.ru_stime, 4) if rusage else None,
            max_rss_kib=rusage.ru_maxrss if rusage else None,
            duration_s=round(duration, 4),
            stdout_dropped=caps["stdout"].dropped, stderr_dropped=caps["stderr"].dropped)

    @staticmethod
    def _exit_future(loop: asyncio.AbstractEventLoop, pid: int) -> asyncio.Future:
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

    async def _pump(self, loop: asyncio.AbstractEventLoop, pipe, name: Stream, cap: LineCap,
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

    def _kill_and_reap_sync(self) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        with contextlib.suppress(Exception):
            procs.kill_all(pid, self.uid)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                break
            time.sleep(0.01)
        if self.uid is not None:
            with contextlib.suppress(Exception):
                procs.kill_all(None, self.uid)

    # -- observing ----------------------------------------------------------------------------
    async def metrics(self) -> dict:
        """CPU seconds and resident memory of the sandbox's live processes (from /proc); empty
        once destroyed (its uid may be another sandbox's by then)."""
        pid = self._pid
        if pid is None and (self.uid is None or self._destroyed):
            return {}
        return await asyncio.to_thread(lambda: procs.usage(procs.sandbox_pids(pid, self.uid)))

    # -- the end ------------------------------------------------------------------------------
    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        if self._mem is not None and self._clean and self._warm_run is None:
            self.cleanup_sync()  # warm and ended clean: nothing on disk, nothing to kill
            return
        if self._warm_run is not None:  # a running warm command: only its server can kill it
            server, ident = self._warm_run  # (without root no uid marks its processes)
            with contextlib.suppress(Exception):
                await server.kill(ident)
        with contextlib.suppress(Exception):  # in a thread: removing a directory can wait on the disk
            await asyncio.to_thread(self.cleanup_sync)

    def cleanup_sync(self) -> None:
        """Kill everything, remove the working directory, give the uid back. Never raises."""
        with self._cleanup_lock:
            self._cleanup_locked()

    def _cleanup_locked(self) -> None:
        self._destroyed = True
        clean = False
        try:
            pid = self._pid  # if a command runs, exec reaps it: kill_all leaves it to exec
            if pid is not None or (self.uid is not None and not self._clean):
                left = procs.kill_all(pid, self.uid)
                if pid is None:  # else exec decides once it has reaped the command
                    self._clean = left == 0
            if self.uid is not None and self.isolation == "rlimits":
                procs.remove_owned(self.uid, SHARED_WRITABLE)
            if self._cgroup is not None and self._pid is None and self._warm_run is None:
                group, self._cgroup = self._cgroup, None
                self._backend._give_back_cgroup(group)
            shutil.rmtree(self.workdir, ignore_errors=True)
            clean = self._clean
        except Exception:  # noqa: BLE001, S110 - destroy never raises; the next claim of this uid sweeps again
            pass
        finally:
            if self._pid is None and self._warm_run is None:  # else the running exec calls us again
                slot, self._slot = self._slot, None
                if slot is not None:  # a uid that did not end clean is unlocked, to be swept
                    self._backend._uids.give_back(slot, clean=clean)
                self._backend._live.discard(self)


def make_local_backend(env: Settings | Mapping[str, str] | None, jobs: int | None, unsafe: bool) -> LocalBackend:
    """``--backend local`` (sandbox/registry.py): level, warm server and cgroups from the app's
    settings, which the sandbox package never reads itself (it stays importable by a bare
    python: the non-root warm test runs it that way)."""
    from ai_code_evals.core.settings import as_settings

    s = as_settings(env)
    return LocalBackend(s.ace_isolation, warm=s.ace_warm, cgroups=s.ace_cgroups, unsafe=unsafe)
