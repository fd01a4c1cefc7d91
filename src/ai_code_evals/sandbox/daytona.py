"""The Daytona backend: each candidate runs in its own Daytona sandbox, driven by the official
async SDK (``daytona``).

Life of a sandbox: created from a snapshot or an image (labelled with the app, run id,
candidate and owning process; ephemeral, with an auto-stop interval), files uploaded, the
command started as an async session command whose stdout/stderr stream live through the
SDK's log websocket (polling the logs when the stream breaks), and deleted on every path out.
The backend caps sandboxes alive at once (``--jobs``), paces creates to the account's create
limit (daytona_pace), retries every call that fails for an infrastructure reason (5xx, 429,
timeouts, dropped connections) with capped exponential backoff and full jitter, idempotently:
a create that failed is looked up and its leftovers deleted before the next try, a command
whose start failed is looked up in its session before it is started again. It reaps leftovers
of dead runs at start, and deletes everything it created on ``aclose()`` (the Ctrl-C path).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Self, TypeVar

from ai_code_evals.sandbox.base import ExecResult, OnLine, SandboxError, SandboxSpec
from ai_code_evals.sandbox.daytona_owner import CREATE, SESSION, age_s, owner_alive, owner_labels
from ai_code_evals.sandbox.daytona_pace import CreatePacer
from ai_code_evals.sandbox.daytona_settings import DaytonaSettings

if TYPE_CHECKING:
    from daytona import AsyncDaytona, AsyncSandbox

__all__ = ["APP", "DaytonaBackend", "DaytonaSandbox", "DaytonaSettings", "make_daytona_backend"]

log = logging.getLogger(__name__)
T = TypeVar("T")

APP = "ai-code-evals"
WORK_SUBDIR = "ace-run"  # under the sandbox's working directory
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def make_daytona_backend(env: Mapping[str, str] | None = None, concurrency: int | None = None) -> DaytonaBackend:
    """The backend the CLI uses for ``--backend daytona``. ``env`` is the settings mapping;
    None reads the environment and the project's settings (see DaytonaSettings.from_env).
    ``concurrency`` (``--jobs``) is how many sandboxes may be alive at once; None keeps the
    settings' own (ACE_DAYTONA_CONCURRENCY, else 8).
    Raises ConfigError (one sentence) when the API key is missing or a setting is bad."""
    settings = DaytonaSettings.from_env(env)
    if concurrency:
        settings = dataclasses.replace(settings, concurrency=concurrency)
    return DaytonaBackend(settings)


class DaytonaBackend:
    """Creates Daytona sandboxes within the configured limits and cleans up after them."""

    name = "daytona"
    isolation = "daytona"

    def __init__(self, settings: DaytonaSettings) -> None:
        self.settings = settings
        self.session_id = uuid.uuid4().hex[:16]  # labels everything this backend creates
        self._owner = {**owner_labels(), SESSION: self.session_id}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self.pacer = CreatePacer(settings.creates_per_minute, settings.create_burst)
        self.retries: dict[str, int] = {}  # what was retried (create, start, upload ...) -> how often
        self._client: AsyncDaytona | None = None
        self._start: asyncio.Task | None = None
        self._closed = False
        self._live: dict[str, DaytonaSandbox] = {}
        self._background: set[asyncio.Task] = set()
        self._late_sweeps: set[asyncio.Task] = set()  # delayed leftover checks after create timeouts
        self.reaped: list[str] = []  # ids deleted by reap_stale, for the log and tests

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency

    @property
    def start_timeout_s(self) -> float:
        """How long the engine lets create + upload take: a create may wait for its turn at the
        pacer (a 429's Retry-After can be a minute) and retry a timed-out create a few times."""
        s = self.settings
        return max(120.0, 60.0 + min(s.max_attempts, 4) * (s.create_timeout_s + s.backoff_max_s))

    # -- the SDK client ----------------------------------------------------------------
    def client(self) -> AsyncDaytona:
        """The SDK client, always from an explicit config (the SDK reads a .env otherwise)."""
        if self._client is None:
            from daytona import AsyncDaytona, DaytonaConfig

            s = self.settings
            self._client = AsyncDaytona(DaytonaConfig(
                api_key=s.api_key, api_url=s.api_url, target=s.target,
                connection_pool_maxsize=max(32, 4 * s.concurrency)))
        return self._client

    async def _retry(self, op: Callable[[], Awaitable[T]], what: str, kind: str = "",
                     before_retry: Callable[[BaseException], Awaitable[None]] | None = None,
                     **kw: Any) -> T:
        from ai_code_evals.sandbox.daytona_retry import retry

        kind = kind or what.split(" ")[0]

        async def counted(exc: BaseException) -> None:
            self.retries[kind] = self.retries.get(kind, 0) + 1
            if before_retry is not None:
                await before_retry(exc)

        s = self.settings
        return await retry(op, what=what, attempts=s.max_attempts, base_s=s.backoff_base_s,
                           max_s=s.backoff_max_s, before_retry=counted, **kw)

    def status(self) -> dict:
        """How the backend is doing, for the progress line and the TUI header: sandboxes alive,
        the create rate (effective and allowed), creates waiting for their turn, 429s, retries."""
        return {**self.pacer.status(), "alive": len(self._live), "jobs": self.settings.concurrency,
                "retries": sum(self.retries.values())}

    async def preflight(self) -> None:
        """Check the settings against the API before any version starts (see daytona_preflight)."""
        from ai_code_evals.sandbox.daytona_preflight import preflight

        await preflight(self.settings)

    # -- start and reaping ---------------------------------------------------------------
    async def start(self) -> None:
        """Connect and, once, reap leftovers of dead runs. ``create`` calls it."""
        if self._start is None:
            self._start = asyncio.ensure_future(self._starting())
        await asyncio.shield(self._start)

    async def _starting(self) -> None:
        self.client()
        if self.settings.reap_on_start:
            try:
                await self.reap_stale()
            except Exception as exc:  # noqa: BLE001 - reaping is housekeeping: never block a run on it
                log.warning("daytona: could not reap leftover sandboxes: %s", exc)

    async def reap_stale(self, alive_run_ids: Iterable[str] = ()) -> list[str]:
        """Delete sandboxes labelled app=ai-code-evals whose run is not alive; returns their ids.

        Alive: the run id is in ``alive_run_ids``, or the sandbox is this backend's, or its
        owning process still runs on this host (see daytona_owner). Sandboxes of other hosts
        count as dead only when older than ``reap_foreign_after_s``."""
        alive = set(alive_run_ids)
        found = await self._find({"app": APP})
        stale = [sb for sb in found if self._is_stale(sb, alive)]
        await asyncio.gather(*(self._delete_sdk(sb) for sb in stale), return_exceptions=True)
        ids = [sb.id for sb in stale]
        if ids:
            log.info("daytona: reaped %d sandbox(es) of dead runs: %s", len(ids), ", ".join(ids))
        self.reaped.extend(ids)
        return ids

    def _is_stale(self, sb: AsyncSandbox, alive_runs: set[str]) -> bool:
        labels = dict(sb.labels or {})
        if labels.get("run_id") in alive_runs or labels.get(SESSION) == self.session_id:
            return False
        alive = owner_alive(labels)
        if alive is not None:
            return not alive
        age = age_s(getattr(sb, "created_at", None))
        return age is not None and age > self.settings.reap_foreign_after_s

    async def _find(self, labels: dict[str, str]) -> list[AsyncSandbox]:
        from daytona import ListSandboxesQuery

        async def listing() -> list[AsyncSandbox]:
            return [sb async for sb in self.client().list(ListSandboxesQuery(labels=labels))]

        return await self._retry(listing, "list sandboxes")

    async def _delete_sdk(self, sb: AsyncSandbox) -> None:
        from daytona import DaytonaNotFoundError

        async def delete() -> None:
            try:
                await sb.delete(timeout=30)
            except DaytonaNotFoundError:
                pass

        await self._retry(delete, f"delete sandbox {sb.id}")

    async def _delete_leftovers(self, create_id: str, sandbox_id: str | None, settle_s: float = 0) -> None:
        """Delete what a failed or interrupted create may have left: found by its create label."""
        if settle_s:
            await asyncio.sleep(settle_s)
        found = {sb.id: sb for sb in await self._find({"app": APP, CREATE: create_id})}
        if sandbox_id and sandbox_id not in found:
            from daytona import DaytonaNotFoundError

            try:
                found[sandbox_id] = await self.client().get(sandbox_id)
            except DaytonaNotFoundError:
                pass
        for sb in found.values():
            log.info("daytona: deleting sandbox %s left by a failed create", sb.id)
            await self._delete_sdk(sb)

    async def _late_sweep(self, create_id: str) -> None:
        """After a create timed out, look for its sandbox again a while later (the API may still
        have been making it), twice: an orphan costs money until the run ends otherwise."""
        wait = self.settings.create_timeout_s
        for settle_s in (wait, 2 * wait):
            await self._delete_leftovers(create_id, None, settle_s=settle_s)

    # -- create --------------------------------------------------------------------------
    async def create(self, spec: SandboxSpec) -> DaytonaSandbox:
        if self._closed:
            raise SandboxError("the Daytona backend is closed")
        await self.start()
        queued = time.monotonic()
        await self._slots.acquire()  # held until the sandbox is destroyed
        try:
            sdk_sandbox, t0, attempts = await self._create_sdk_sandbox(spec)
        except BaseException:
            self._slots.release()
            raise
        info = {
            "daytona_id": sdk_sandbox.id,
            "state": _state(sdk_sandbox),
            "create_ms": round((time.monotonic() - t0) * 1000, 1),
            "start_ms": None,
            "queued_ms": round((t0 - queued) * 1000, 1),
            "attempts": attempts,
            "target": getattr(sdk_sandbox, "target", None),
        }
        sandbox = DaytonaSandbox(self, sdk_sandbox, spec, info)
        self._live[sandbox.id] = sandbox
        try:
            await sandbox._prepare(t0)
        except BaseException as exc:
            await sandbox.destroy()
            if isinstance(exc, Exception) and not isinstance(exc, SandboxError):
                raise SandboxError(f"Daytona sandbox {sandbox.id} did not become ready: {exc}") from exc
            raise
        return sandbox

    def _labels(self, spec: SandboxSpec, create_id: str) -> dict[str, str]:
        labels = {str(k): str(v) for k, v in spec.labels.items()}
        labels.update(self._owner)
        labels.update({"app": APP, CREATE: create_id})
        labels.setdefault("run_id", "unknown")
        labels.setdefault("candidate", "unknown")
        return labels

    def _params(self, labels: dict[str, str]) -> Any:
        from daytona import CreateSandboxFromImageParams, CreateSandboxFromSnapshotParams, Resources

        s = self.settings
        common: dict[str, Any] = {
            "language": "python", "labels": dict(labels), "ephemeral": True,
            "auto_stop_interval": s.auto_stop_minutes, "network_block_all": s.block_network}
        # no env vars here: a warm pool serves only creates without them (env goes per command)
        if s.image:
            resources = None
            if s.cpu or s.memory_gib or s.disk_gib:
                resources = Resources(cpu=s.cpu, memory=s.memory_gib, disk=s.disk_gib)
            return CreateSandboxFromImageParams(image=s.image, resources=resources, **common)
        return CreateSandboxFromSnapshotParams(snapshot=s.snapshot, **common)

    async def _create_sdk_sandbox(self, spec: SandboxSpec) -> tuple[AsyncSandbox, float, int]:
        from daytona import DaytonaAuthenticationError, DaytonaTimeoutError

        from ai_code_evals.sandbox.daytona_retry import describe, is_rate_limited, retry_after_s

        # each attempt labels its sandbox with an id of its own, so what a failed attempt left
        # (even one that appears later) can be deleted without touching the next attempt's
        create_id = uuid.uuid4().hex[:16]
        attempts = 0
        t0 = time.monotonic()

        async def once() -> AsyncSandbox:
            nonlocal attempts, t0, create_id
            attempts += 1
            create_id = uuid.uuid4().hex[:16]
            labels = self._labels(spec, create_id)
            await self.pacer.acquire()
            t0 = time.monotonic()
            made = await self.client().create(self._params(labels), timeout=self.settings.create_timeout_s)
            self.pacer.succeeded()
            return made

        async def clean_up(exc: BaseException) -> None:
            if isinstance(exc, DaytonaTimeoutError):  # its sandbox may appear only later
                self._late_sweeps.add(self._spawn(self._late_sweep(create_id)))
            await self._delete_leftovers(create_id, getattr(exc, "sandbox_id", None))

        async def before_retry(exc: BaseException) -> None:
            if is_rate_limited(exc):  # a 429 created nothing; everyone waits for Retry-After
                self.pacer.rate_limited(retry_after_s(exc))
            else:
                await clean_up(exc)

        def delay_for(exc: BaseException, n: int) -> float | None:
            return 0.0 if is_rate_limited(exc) else None  # the pacer does the waiting

        try:
            sdk_sandbox = await self._retry(once, "create sandbox", before_retry=before_retry,
                                            delay_for=delay_for)
        except asyncio.CancelledError:
            # the create request may have reached Daytona: find and delete what it made
            self._spawn(self._delete_leftovers(create_id, None, settle_s=1.0))
            raise
        except Exception as exc:
            if not is_rate_limited(exc):
                try:
                    await clean_up(exc)
                except Exception as cleanup_exc:  # noqa: BLE001 - report the create's error, not this
                    log.warning("daytona: cleanup after a failed create failed: %s", cleanup_exc)
            if isinstance(exc, DaytonaAuthenticationError):
                raise SandboxError(f"Daytona rejected the API key: {exc}") from exc
            raise SandboxError(
                f"Daytona could not create a sandbox after {attempts} attempt(s): {describe(exc)}") from exc
        return sdk_sandbox, t0, attempts

    # -- bookkeeping -----------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        self._late_sweeps.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("daytona: background cleanup failed: %s", task.exception())

    def _forget(self, sandbox: DaytonaSandbox) -> None:
        if self._live.pop(sandbox.id, None) is not None:
            self._slots.release()

    async def aclose(self) -> None:
        """Delete every sandbox this backend created, including ones whose create was
        interrupted (found by this backend's session label), then close the client."""
        self._closed = True
        try:
            if self._start is not None and not self._start.done():
                self._start.cancel()  # reaping can wait for the next run
                await asyncio.gather(self._start, return_exceptions=True)
            await asyncio.gather(*(sb.destroy() for sb in list(self._live.values())),
                                 return_exceptions=True)
            for sweep in list(self._late_sweeps):  # the sweep by session label below covers them
                sweep.cancel()
            while self._background:
                await asyncio.wait(set(self._background), timeout=60)
            if self._client is not None:
                try:
                    leftovers = await self._find({"app": APP, SESSION: self.session_id})
                    await asyncio.gather(*(self._delete_sdk(sb) for sb in leftovers), return_exceptions=True)
                except Exception as exc:  # noqa: BLE001 - the Ctrl-C path must finish
                    log.warning("daytona: could not sweep this run's sandboxes: %s", exc)
        finally:
            if self._client is not None:
                client, self._client = self._client, None
                try:
                    await client.close()
                except Exception as exc:  # noqa: BLE001 - closing is best effort
                    log.debug("daytona: closing the client: %s", exc)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class DaytonaSandbox:
    """One Daytona sandbox: files go to ``<work dir>/ace-run``; commands run there."""

    isolation = "daytona"

    def __init__(self, backend: DaytonaBackend, sdk_sandbox: AsyncSandbox, spec: SandboxSpec,
                 info: dict) -> None:
        self.id: str = sdk_sandbox.id
        self.info = info
        self._backend = backend
        self._sdk = sdk_sandbox
        self._spec = spec
        self._workdir = ""
        self._session: str | None = None
        self._destroying: asyncio.Task | None = None
        self._gone = asyncio.Event()  # set by destroy(): a running exec() stops waiting

    async def _call(self, op: Callable[[], Awaitable[T]], what: str, **kw: Any) -> T:
        try:
            return await self._backend._retry(op, f"{what} in {self.id}", kind=what, **kw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _callback_failure(exc) is not None:
                raise
            from ai_code_evals.sandbox.daytona_retry import describe

            raise SandboxError(f"Daytona sandbox {self.id}: could not {what}: {describe(exc)}") from exc

    async def _prepare(self, t0: float) -> None:
        home = await self._call(self._sdk.get_work_dir, "read the working directory")
        self._workdir = str(PurePosixPath(home or "/tmp") / WORK_SUBDIR)
        self.info["start_ms"] = round((time.monotonic() - t0) * 1000, 1)
        self.info["state"] = _state(self._sdk)

    def _path(self, rel: str) -> str:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise SandboxError(f"file path must be relative and inside the sandbox: {rel!r}")
        return str(PurePosixPath(self._workdir) / p)

    async def upload(self, files: dict[str, bytes]) -> None:
        from daytona import FileUpload

        self._check_alive()
        paths = {self._path(rel): data for rel, data in files.items()}
        if not paths:
            return
        await self._call(lambda: self._sdk.fs.upload_files(
            [FileUpload(source=bytes(data), destination=dest) for dest, data in paths.items()]),
            "upload files")

    def _command(self, argv: list[str]) -> str:
        prog = "python3" if argv[0] == "python" else argv[0]
        bad = [k for k in self._spec.env if not _ENV_KEY.match(k)]
        if bad:
            raise SandboxError(f"invalid environment variable name {bad[0]!r}")
        env = " ".join(shlex.quote(f"{k}={v}") for k, v in self._spec.env.items())
        run = shlex.join([prog, *argv[1:]])
        if env:
            run = f"env {env} {run}"
        wd = shlex.quote(self._workdir)
        # A subshell: Daytona runs session commands inside the session's own shell and then
        # records $?, so a bare `exec` would replace that shell and the exit code never comes.
        return f"(mkdir -p {wd} && cd {wd} && exec {run} < /dev/null)"

    async def exec(self, argv: list[str], *, on_line: OnLine, timeout_s: float) -> ExecResult:
        from ai_code_evals.sandbox.daytona_stream import LineSink

        self._check_alive()
        if not argv:
            raise SandboxError("empty command")
        command = self._command(argv)
        sink = LineSink(on_line, self._spec.limits.output_bytes)
        started = time.monotonic()
        exit_code: int | None = None
        timed_out = False
        deadline = asyncio.timeout(timeout_s)
        try:
            try:
                async with deadline:
                    exit_code = await self._unless_destroyed(self._run(command, sink))
            except TimeoutError:
                if not deadline.expired():
                    raise
                timed_out = True
                self.info["state"] = "killed (wall-clock limit)"
                await self.destroy()  # the only kill that reaches every process in it
            await sink.flush()
        except Exception as exc:
            failed = _callback_failure(exc)
            if failed is not None:
                raise failed.original from None
            raise
        sig = exit_code - 128 if exit_code is not None and 128 < exit_code < 128 + 65 else None
        return ExecResult(
            exit_code=exit_code, signal=sig, timed_out=timed_out,
            duration_s=round(time.monotonic() - started, 3),
            stdout_dropped=sink.dropped["stdout"], stderr_dropped=sink.dropped["stderr"])

    async def _unless_destroyed(self, work: Awaitable[T]) -> T:
        """``work``, unless the sandbox is destroyed first: its command died with it, and the
        calls that follow it (logs, exit code) would only fail until the wall-clock limit."""
        run = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait({run, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not run.done():
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
        if run.cancelled():
            raise SandboxError(f"Daytona sandbox {self.id} was destroyed while its command ran")
        return run.result()

    async def _run(self, command: str, sink: Any) -> int:
        from daytona import DaytonaConflictError, DaytonaRateLimitError, SessionExecuteRequest

        proc = self._sdk.process
        if self._session is None:
            session = f"ace-{uuid.uuid4().hex[:12]}"

            async def create_session() -> None:
                try:
                    await proc.create_session(session)
                except DaytonaConflictError:
                    pass  # an earlier try got through

            await self._call(create_session, "create a session")
            self._session = session
        session = self._session
        # Starting a command is not idempotent: the command carries a token of its own, and
        # before each new try the session is searched for it (the failed try may have started it).
        token = f"ace-start-{uuid.uuid4().hex[:12]}"
        command = f": {token} && {command}"
        cmd_id: str | None = None

        async def start() -> str:
            nonlocal cmd_id
            if cmd_id is None:
                started = await proc.execute_session_command(
                    session, SessionExecuteRequest(command=command, run_async=True))
                cmd_id = started.cmd_id
            return cmd_id

        async def look_up(exc: BaseException) -> None:
            nonlocal cmd_id
            if isinstance(exc, DaytonaRateLimitError):
                return  # nothing started
            found = await self._call(lambda: proc.get_session(session), "look up the command")
            for cmd in found.commands or []:
                if token in (cmd.command or ""):
                    log.info("daytona: the command in %s had started despite the error; following it", self.id)
                    cmd_id = cmd.id
                    return

        cmd_id = await self._call(start, "start the command", before_retry=look_up)
        await self._stream(session, cmd_id, sink)
        # the exit code, and whatever output the stream did not deliver
        delay = 0.05
        while True:
            cmd = await self._call(lambda: proc.get_session_command(session, cmd_id), "read the command")
            logs = await self._call(lambda: proc.get_session_command_logs(session, cmd_id), "read the output")
            caught = await sink.catch_up("stdout", logs.stdout)
            caught = await sink.catch_up("stderr", logs.stderr) or caught
            if caught and self.info.get("log_stream") == "live":
                self.info["log_stream"] = "live, completed by polling"
            if cmd.exit_code is not None:
                return cmd.exit_code
            await asyncio.sleep(delay)
            delay = min(self._backend.settings.poll_interval_s, delay * 2)

    async def _stream(self, session: str, cmd_id: str, sink: Any) -> None:
        """Live output through the SDK's log websocket, best effort: it may break (then the
        caller polls) or stay open after the command ended (checked every stream_check_s)."""
        proc = self._sdk.process
        stream = asyncio.ensure_future(
            proc.get_session_command_logs_async(session, cmd_id, sink.stdout, sink.stderr))
        check_s = self._backend.settings.stream_check_s
        try:
            while not (await asyncio.wait({stream}, timeout=check_s))[0]:
                try:
                    ended = (await proc.get_session_command(session, cmd_id)).exit_code is not None
                except Exception as exc:  # noqa: BLE001 - a failed check is retried at the next one
                    log.debug("daytona: checking %s: %s", self.id, exc)
                    continue
                if ended and not (await asyncio.wait({stream}, timeout=check_s))[0]:
                    log.info("daytona: live logs of %s stayed open after the command ended; polling", self.id)
                    self.info["log_stream"] = "stalled, polled"
                    return
            stream.result()
            self.info["log_stream"] = "live"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _callback_failure(exc) is not None:
                raise
            log.info("daytona: live logs of %s broke (%s); polling instead", self.id, exc)
            self.info["log_stream"] = "polled"
        finally:
            if not stream.done():
                stream.cancel()
                await asyncio.gather(stream, return_exceptions=True)

    async def metrics(self) -> dict:
        """Daytona's latest sample for the whole sandbox: cpu_pct (of its CPU limit), rss_kib
        (memory in use), mem_total_kib, cpu_count, disk_used_kib. Empty when unavailable."""
        if self._destroying is not None:
            return {}
        try:
            m = await self._sdk.get_metrics_latest()
        except Exception as exc:  # noqa: BLE001 - metrics are optional; the caller shows nothing
            log.debug("daytona: metrics of %s: %s", self.id, exc)
            return {}
        return {"cpu_pct": round(float(m.cpu_used_pct), 1), "cpu_count": m.cpu_count,
                "rss_kib": int(m.mem_used) // 1024, "mem_total_kib": int(m.mem_total) // 1024,
                "disk_used_kib": int(m.disk_used) // 1024}

    def _check_alive(self) -> None:
        if self._destroying is not None:
            raise SandboxError(f"Daytona sandbox {self.id} was already destroyed")

    async def destroy(self) -> None:
        """Delete the sandbox. Idempotent, never raises; a cancelled caller leaves the
        delete running in the background, and the backend's aclose() waits for it."""
        if self._destroying is None:
            self._gone.set()
            self._destroying = self._backend._spawn(self._delete())
        try:
            await asyncio.shield(self._destroying)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - destroy never raises; _delete already logged it
            log.debug("daytona: destroy %s: %s", self.id, exc)

    async def _delete(self) -> None:
        try:
            await self._backend._delete_sdk(self._sdk)
            self.info["state"] = "destroyed"
        except Exception as exc:  # noqa: BLE001 - logged; aclose() sweeps again by label
            self.info["state"] = "delete failed"
            log.warning("daytona: could not delete sandbox %s: %s", self.id, exc)
        finally:
            self._backend._forget(self)


def _state(sdk_sandbox: Any) -> str:
    state = getattr(sdk_sandbox, "state", None)
    return str(getattr(state, "value", state) or "unknown")


def _callback_failure(exc: BaseException) -> Any:
    """The CallbackFailed inside ``exc`` (the SDK wraps whatever a callback raised)."""
    from ai_code_evals.sandbox.daytona_stream import CallbackFailed

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, CallbackFailed):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def make_backend_from_settings(env: Mapping[str, str], jobs: int | None, unsafe: bool) -> DaytonaBackend:
    """``--backend daytona`` (sandbox/registry.py). The backend reads its own settings, never
    ``env``: DAYTONA_API_URL is taken from the real environment only, so a .env in a checked-out
    directory cannot send the key elsewhere. ``unsafe`` has no meaning here (Daytona's sandboxes
    are VMs)."""
    return make_daytona_backend(None, concurrency=jobs)
