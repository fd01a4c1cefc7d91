"""One local sandbox: its files, one command at a time, and its end.

A sandbox is created by ``LocalBackend`` (``local.py``) with a working directory under the
backend's private temp root, a private uid when running as root, and its own cgroup where
cgroups can be written. ``exec`` runs a command through the level's wrapper (the cold path:
``process.py`` starts it, ``pipes.py`` forwards its output) or, at the ``bwrap`` level for
``python SCRIPT`` with a fixed hash seed, as a fork of the backend's warm server (``warm.py``).
Output is streamed line by line and capped; the wall-clock limit (``timeout_s``) kills the whole
tree; when a command returns, nothing it started is still running; ``destroy()`` removes the
directory and gives the uid and the cgroup back. Exit paths (error, timeout, cancellation,
Ctrl-C, interpreter exit) all clean up.

At the ``bwrap`` and ``unshare`` levels the command sees the uploaded files read-only inside a
private, size-limited tmpfs at the working directory's path: what it writes there is private
to that one command. At the ``rlimits`` level it works in the real directory. Small uploads are
written on the event loop; a command that ends by itself is proven gone by one /proc scan, or
at the ``bwrap`` level by bwrap's own report (``process.init_reaped``); timeouts and
cancellations kill and scan until nothing is left.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import threading
import time
import uuid
from dataclasses import asdict
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ai_code_evals.sandbox import cgroups, pipes, process, procs, uidslots
from ai_code_evals.sandbox import warm as warm_mod
from ai_code_evals.sandbox import workdir as workdir_mod
from ai_code_evals.sandbox.base import ExecResult, OnLine, SandboxError, SandboxSpec
from ai_code_evals.sandbox.isolation import (
    SHARED_WRITABLE,
    SMALL_TMPFS,
    ExecPlan,
    build_command,
    disk_budget,
    rlimit_pairs,
    sandbox_env,
    secret_files,
)

if TYPE_CHECKING:
    from ai_code_evals.sandbox.local import LocalBackend

WARM_EXIT_WAIT_S = 10.0  # after a kill, how long the warm server may take to report the exit
# Uploads up to this size are written on the event loop: a thread hop costs more than the write.
INLINE_UPLOAD_BYTES = 1 << 20


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
        if spec.packages:
            self.info["packages"] = spec.packages

    async def __aenter__(self) -> LocalSandbox:  # noqa: PYI034
        return self

    async def __aexit__(self, *exc) -> None:
        await self.destroy()

    # -- files --------------------------------------------------------------------------------
    async def upload(self, files: dict[str, bytes]) -> None:
        if self._destroyed:
            raise SandboxError("sandbox is destroyed")
        checked = {workdir_mod.check_rel(rel): data for rel, data in files.items()}

        def write() -> None:
            for rel, data in checked.items():
                workdir_mod.safe_write(self.workdir, rel, data)

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
                        masks=secret_files(), status_fd=process.STATUS_FD if bwrap else None,
                        seccomp_fd=process.SECCOMP_FD if bwrap and process.SECCOMP else None,
                        file_fds={rel: process.FIRST_FILE_FD + i for i, rel in enumerate(self._files)} if bwrap else {},
                        packages=self.spec.packages)
        cmd = build_command(plan, host)
        if self._cgroup is not None and host.sh is not None:  # joined before anything starts
            cmd = self._cgroup.join_argv(host.sh) + cmd
        return cmd, sandbox_env(plan)

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
                server = await self._backend.warm_server(dict(self.spec.env), self.spec.packages)
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
            workdir_mod.safe_write(self.workdir, rel, data)

    async def _exec_warm(self, server: warm_mod.WarmServer, argv: list[str], on_line: OnLine,
                         timeout_s: float) -> ExecResult:
        """Run ``python SCRIPT ...`` as a fork of the warm server (see warm.py). Its exit report
        comes after the kernel emptied the command's pid namespace: no /proc scan needed."""
        limits = self.spec.limits
        plan = ExecPlan(level=self.isolation, workdir=self.workdir, files=[], uid=self.uid, limits=limits,
                        env=dict(self.spec.env), argv=argv, packages=self.spec.packages)
        keep = self._backend._host.python_dirs() + ([self.spec.packages] if self.spec.packages else [])
        request = {"uid": self.uid, "workdir": self.workdir, "files": dict(self._mem or {}), "argv": argv,
                   "env": sandbox_env(plan), "keep": keep,
                   # as root its own uid, else its own user namespace (made by the server's fork)
                   "rlimits": rlimit_pairs(limits, limits.processes + (0 if self.uid is not None else 2)),
                   "seccomp": process.SECCOMP or b"", "tmp_size": disk_budget(limits),
                   "small_size": SMALL_TMPFS}
        try:  # the command's pid 1 joins the sandbox's cgroup through these (the server cannot see it)
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
        out = pipes.start_output(r_out, r_err, on_line, self.spec.limits.output_bytes)
        timed_out = False
        end: warm_mod.Exit | None = None
        try:
            in_time = await pipes.wait_end(exited, out, timeout_s)
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
            await pipes.drain(out.pumps)
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
        return process.exec_result(status, usage, timed_out, time.monotonic() - started, out.caps,
                                   wrapped=self.isolation in ("bwrap", "unshare"))

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
            pid, r_out, r_err, r_status = process.spawn(cmd, env, bwrap=self.isolation == "bwrap",
                                                       files=self._files, workdir=self.workdir)
        except OSError as exc:
            raise SandboxError(f"cannot start the command: {exc}") from exc
        self._pid = pid
        self._clean = False
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        out = pipes.start_output(r_out, r_err, on_line, self.spec.limits.output_bytes)
        exited = process.exit_future(loop, pid)
        status = rusage = None
        try:
            # timeout_s is the contract (the engine sizes it per task); limits.wall_s is not applied
            timed_out = not await pipes.wait_end(exited, out, timeout_s)
            # Kill the rest of the tree while the leader is unreaped (its pid and group stay ours).
            # Usually the command ended by itself: then bwrap's report proves the sandbox empty,
            # or else one scan, done right here, finds nothing alive; otherwise kill in a thread
            # until nothing is (that can take many scans).
            if exited.done() and not timed_out and process.init_reaped(r_status):
                left = 0
            else:
                left = procs.kill_all(pid, self.uid, rounds=1) if exited.done() else 1
                if left:
                    left = await asyncio.to_thread(procs.kill_all, pid, self.uid)
            await asyncio.shield(exited)
            status, rusage = process.reap(pid)
            self._pid = None
            if self.uid is not None and self.isolation == "rlimits":
                # we are its subreaper: reap what the leader's death re-parented to us
                left = await asyncio.to_thread(procs.kill_all, None, self.uid)
            self._clean = left == 0
            await pipes.drain(out.pumps)
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
        return process.exec_result(status, rusage, timed_out, time.monotonic() - started, out.caps,
                                   wrapped=self.isolation in ("bwrap", "unshare"))

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
                procs.remove_shm_owned(self.uid)
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
