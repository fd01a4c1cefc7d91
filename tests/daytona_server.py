"""A test double of Daytona's API, for running the Daytona backend offline.

This is NOT Daytona. It serves, over real HTTP and WebSocket on 127.0.0.1, the control-plane
and toolbox endpoints that the unmodified ``daytona`` SDK calls (DESIGN §4.4), and runs each
sandbox's commands as local subprocesses in a temporary directory of its own. Every response
body it sends is checked against the SDK's own generated models (``daytona_api_client_async``
and ``daytona_toolbox_api_client_async``, the versions in uv.lock): a missing field, a field
the SDK does not know or an enum value it does not know is recorded in ``drift`` and answered
with a 500, so this double cannot silently drift from the SDK.

Fault knobs (for tests): ``fail_next_creates`` (429 or another status), ``slow_start`` (state
'starting' for a while), ``hang_next_creates`` (the sandbox is made but the response comes
after the SDK's timeout), ``drop_next_log_streams`` (the log WebSocket breaks mid-stream),
``fail_next_requests`` (any endpoint answers a 5xx, before or after doing its work),
``create_latency`` (each create takes a drawn time), ``limit_creates`` (a strict sliding-window
create limit answered with 429 and Retry-After), and ``chaos`` (each of those at random, from
a seed, for benchmarks). It also knows its regions and snapshots (for the backend's preflight).
Inspection: ``live_sandboxes()``, ``create_requests``, ``created``/``deleted``, ``drift``,
``accepted_creates_all`` (when each create was let through), ``rate_limited``, ``injected``.

Run it by hand with ``uv run python tests/daytona_server.py`` (prints DAYTONA_API_URL).
"""
from __future__ import annotations

import argparse
import asyncio
import enum
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from aiohttp import WSMsgType, web
from daytona_api_client_async.models import CreateSandbox, ListSandboxesResponse, SandboxListItem
from daytona_api_client_async.models import Sandbox as SandboxModel
from daytona_toolbox_api_client_async.models import (
    Command as CommandModel,
)
from daytona_toolbox_api_client_async.models import (
    CreateSessionRequest,
    ErrorResponse,
    ExecuteRequest,
    ExecuteResponse,
    Session,
    SessionCommandLogsResponse,
    SessionExecuteRequest,
    SessionExecuteResponse,
    SystemMetrics,
    UploadFilesResponse,
    WorkDirResponse,
)
from pydantic import BaseModel

from ai_code_evals.sandbox.daytona_settings import DaytonaSettings

STDOUT_PREFIX = b"\x01\x01\x01"
STDERR_PREFIX = b"\x02\x02\x02"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _wire_keys(model: type[BaseModel]) -> set[str]:
    return {f.serialization_alias or name for name, f in model.model_fields.items()
            if name != "additional_properties"}


SANDBOX_KEYS = _wire_keys(SandboxModel)
LIST_ITEM_KEYS = _wire_keys(SandboxListItem)


class Drift(Exception):
    """A response this double was about to send does not match the SDK's models."""


def _unknowns(obj: Any, where: str = "") -> list[str]:
    """Fields the model did not know, and enum values it only accepted as 'unknown'."""
    found: list[str] = []
    if isinstance(obj, BaseModel):
        extra = getattr(obj, "additional_properties", None) or {}
        found += [f"{where}{key} (unknown field)" for key in extra]
        for name in type(obj).model_fields:
            if name != "additional_properties":
                found += _unknowns(getattr(obj, name), f"{where}{name}.")
    elif isinstance(obj, enum.Enum):
        if str(obj.value) == "unknown_default_open_api":
            found.append(f"{where.rstrip('.')} (unknown enum value)")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            found += _unknowns(item, f"{where}{i}.")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            found += _unknowns(item, f"{where}{key}.")
    return found


def check(model: type[BaseModel], payload: Any) -> Any:
    """Parse ``payload`` with the SDK model the SDK will use for it; raise Drift on any mismatch."""
    try:
        parsed = model.from_dict(payload)  # type: ignore[attr-defined]
    except Exception as exc:
        raise Drift(f"{model.__name__}: {exc}") from exc
    problems = _unknowns(parsed)
    if problems:
        raise Drift(f"{model.__name__}: {', '.join(problems)}")
    return payload


# -- state ---------------------------------------------------------------------------------
class Cmd:
    """One session command: a local process group and its output, in arrival order."""

    def __init__(self, command: str) -> None:
        self.id = uuid.uuid4().hex
        self.command = command
        self.proc: asyncio.subprocess.Process | None = None
        self.chunks: list[tuple[str, bytes]] = []
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.exit_code: int | None = None
        self.finished = False  # the process ended (a session command may still have no exit code)
        self.exit_file: Path | None = None
        self.changed = asyncio.Event()

    def notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    def text(self, stream: str) -> str:
        return bytes(self.out[stream]).decode("utf-8", "replace")


@dataclass
class Box:
    """One fake sandbox."""

    id: str
    name: str
    labels: dict[str, str]
    env: dict[str, str]
    root: Path
    snapshot: str | None
    target: str
    cpu: int
    memory: int
    disk: int
    network_block_all: bool
    auto_stop: int | None
    auto_delete: int | None
    created_at: str
    start_at: float  # monotonic time it becomes 'started'
    sessions: dict[str, dict[str, Cmd]] = field(default_factory=dict)
    cpu_sample: tuple[float, int] = (0.0, 0)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def state(self) -> str:
        return "started" if time.monotonic() >= self.start_at else "starting"

    def commands(self) -> list[Cmd]:
        return [c for s in self.sessions.values() for c in s.values()]


@dataclass
class RequestFault:
    """The next ``remaining`` requests matching ``pattern`` ("METHOD /path") get ``status``;
    with ``after`` the request does its work first (the reply is lost, the work is done)."""

    pattern: re.Pattern
    remaining: int
    status: int
    after: bool


@dataclass
class Chaos:
    """Faults at random, from a seed: what a real cloud does now and then."""

    rng: random.Random
    error_rate: float = 0.0  # any API or toolbox request (not a log stream) answers a 5xx
    error_after_rate: float = 0.0  # of those, the share that did their work before failing
    hang_rate: float = 0.0  # a create makes its sandbox but answers too late
    hang_s: float = 5.0
    drop_rate: float = 0.0  # a log stream closes with 1011 after its first frame


@dataclass
class Faults:
    create_failures: list[tuple[int, float | None]] = field(default_factory=list)
    hangs: list[float] = field(default_factory=list)
    slow_start_s: float = 0.0
    drops: list[tuple[int, str]] = field(default_factory=list)
    requests: list[RequestFault] = field(default_factory=list)
    create_latency: Callable[[], float] | None = None
    create_limit: tuple[int, float] | None = None  # (creates, per window_s)
    chaos: Chaos | None = None


class DaytonaTestServer:
    """The test double. ``await start()``, point DaytonaConfig(api_url=server.api_url,
    api_key=server.api_key) at it, ``await close()`` (kills every process it started)."""

    def __init__(self, api_key: str = "test-key", *, target: str = "local") -> None:
        self.api_key = api_key
        self.target = target
        self.organization_id = "org-test-double"
        self.faults = Faults()
        self.boxes: dict[str, Box] = {}
        self.created = 0
        self.deleted = 0
        self.create_requests: list[dict] = []
        self.drift: list[str] = []
        self.requests: list[tuple[str, str, int]] = []
        self.log_streams_opened = 0
        self.peak_live = 0  # most sandboxes alive at once
        self.regions = [target]
        self.snapshots = {"daytona-default", "ai-code-evals-python"}
        self.accepted_creates: deque[float] = deque()  # creates let through within the limit's window
        self.accepted_creates_all: list[float] = []  # monotonic time of every create let through
        self.rate_limited = 0  # creates refused by the create limit
        self.injected: dict[str, int] = {}  # fault kind -> how many were injected
        self.creating = 0  # creates being answered now
        self.peak_creating = 0  # most creates being answered at once
        self._tmp = Path(tempfile.mkdtemp(prefix="daytona-double-"))
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- knobs -------------------------------------------------------------------------
    def fail_next_creates(self, n: int = 1, status: int = 429, retry_after_s: float | None = None) -> None:
        """The next ``n`` creates are answered with ``status`` (429: rate limited)."""
        self.faults.create_failures += [(status, retry_after_s)] * n

    def hang_next_creates(self, n: int = 1, seconds: float = 5.0) -> None:
        """The next ``n`` creates make their sandbox but answer only after ``seconds``."""
        self.faults.hangs += [seconds] * n

    def slow_start(self, seconds: float) -> None:
        """Sandboxes created from now on stay 'starting' for ``seconds``."""
        self.faults.slow_start_s = seconds

    def drop_next_log_streams(self, n: int = 1, after_frames: int = 1, mode: str = "error") -> None:
        """The next ``n`` log WebSockets break after ``after_frames`` frames: ``error`` closes
        with code 1011, ``abort`` cuts the TCP connection without a close frame, ``close``
        closes normally (code 1000) although the command is still running, ``stall`` stops
        sending but keeps the connection open until the client goes away."""
        assert mode in ("error", "abort", "close", "stall")
        self.faults.drops += [(after_frames, mode)] * n

    def fail_next_requests(self, pattern: str, n: int = 1, status: int = 502, *, after: bool = False) -> None:
        """The next ``n`` requests whose "METHOD /path" matches ``pattern`` (a regex searched in
        it) are answered with ``status``; ``after``: only once the request did its work."""
        self.faults.requests.append(RequestFault(re.compile(pattern), n, status, after))

    def create_latency(self, draw: Callable[[], float] | None) -> None:
        """Each create from now on takes ``draw()`` seconds before it answers (None: instant)."""
        self.faults.create_latency = draw

    def limit_creates(self, creates: int, window_s: float = 60.0) -> None:
        """A strict limit: at most ``creates`` accepted in any ``window_s`` seconds; beyond it,
        429 with Retry-After (whole seconds, rounded up) until the oldest leaves the window."""
        self.faults.create_limit = (creates, window_s)

    def chaos(self, seed: int = 0, **rates: float) -> None:
        """Random faults from ``seed``: error_rate, error_after_rate, hang_rate, hang_s, drop_rate."""
        self.faults.chaos = Chaos(random.Random(seed), **rates)

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    # -- inspection --------------------------------------------------------------------
    def live_sandboxes(self) -> list[dict]:
        return [{"id": b.id, "labels": dict(b.labels), "state": b.state} for b in self.boxes.values()]

    def seed_sandbox(self, labels: dict[str, str], *, age_s: float = 0.0) -> str:
        """Put a sandbox on the server directly (as if made by another run, ``age_s`` ago)."""
        sid = str(uuid.uuid4())
        (self._tmp / sid / "home").mkdir(parents=True)
        created = datetime.fromtimestamp(time.time() - age_s, UTC).isoformat().replace("+00:00", "Z")
        self._add(Box(id=sid, name=sid, labels=dict(labels), env={}, root=self._tmp / sid,
                      snapshot="daytona-default", target=self.target, cpu=1, memory=1, disk=3,
                      network_block_all=True, auto_stop=15, auto_delete=0, created_at=created,
                      start_at=0.0))
        return sid

    def _add(self, box: Box) -> None:
        self.boxes[box.id] = box
        self.created += 1
        self.peak_live = max(self.peak_live, len(self.boxes))

    def running_processes(self) -> int:
        return sum(1 for b in self.boxes.values() for c in b.commands() if not c.finished)

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def toolbox_url(self) -> str:
        return f"{self.base_url}/toolbox"

    async def start(self, port: int = 0) -> DaytonaTestServer:
        app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024 * 1024)
        r = app.router
        r.add_post("/api/sandbox", self.create_sandbox)
        r.add_get("/api/sandbox", self.list_sandboxes)
        r.add_get("/api/sandbox/{sid}", self.get_sandbox)
        r.add_delete("/api/sandbox/{sid}", self.delete_sandbox)
        r.add_get("/api/sandbox/{sid}/toolbox-proxy-url", self.toolbox_proxy_url)
        r.add_get("/api/regions", self.list_regions)
        r.add_get("/api/snapshots/{name}", self.get_snapshot)
        t = "/toolbox/{sid}"
        r.add_get(t + "/work-dir", self.work_dir)
        r.add_get(t + "/user-home-dir", self.work_dir)
        r.add_post(t + "/files/bulk-upload", self.bulk_upload)
        r.add_post(t + "/process/execute", self.execute)
        r.add_post(t + "/process/session", self.create_session)
        r.add_get(t + "/process/session/{sess}", self.get_session)
        r.add_delete(t + "/process/session/{sess}", self.delete_session)
        r.add_post(t + "/process/session/{sess}/exec", self.session_exec)
        r.add_get(t + "/process/session/{sess}/command/{cid}", self.get_command)
        r.add_get(t + "/process/session/{sess}/command/{cid}/logs", self.command_logs)
        r.add_get(t + "/system/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for box in list(self.boxes.values()):
            await self._destroy(box)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if "/socket.io/" in request.path:  # no notification gateway here: the SDK falls back to polling
            resp: web.StreamResponse = web.json_response({"statusCode": 404, "message": "no gateway"}, status=404)
        elif request.headers.get("Authorization") != f"Bearer {self.api_key}":
            resp = web.json_response(
                {"statusCode": 401, "message": "Invalid credentials", "error": "Unauthorized"}, status=401)
        else:
            fault = self._request_fault(request)
            if fault is not None and not fault[1]:
                resp = self._api_error(fault[0], "test double: injected failure")
            else:
                try:
                    resp = await handler(request)
                except Drift as exc:
                    self.drift.append(str(exc))
                    resp = web.json_response({"statusCode": 500, "message": f"test double drift: {exc}"},
                                             status=500)
                if fault is not None and not isinstance(resp, web.WebSocketResponse):
                    resp = self._api_error(fault[0], "test double: injected failure after doing the work")
        self.requests.append((request.method, request.path, resp.status))
        return resp

    def _request_fault(self, request: web.Request) -> tuple[int, bool] | None:
        """(status, after) when this request is to fail; log streams are dropped elsewhere."""
        if request.query.get("follow") == "true":
            return None
        line = f"{request.method} {request.path}"
        for fault in self.faults.requests:
            if fault.remaining > 0 and fault.pattern.search(line):
                fault.remaining -= 1
                self._count(f"{fault.status}{' after' if fault.after else ''}")
                return fault.status, fault.after
        chaos = self.faults.chaos
        if chaos is not None and chaos.error_rate and chaos.rng.random() < chaos.error_rate:
            status = chaos.rng.choice((500, 502, 503))
            after = chaos.rng.random() < chaos.error_after_rate
            self._count(f"5xx{' after' if after else ''}")
            return status, after
        return None

    def _json(self, model: type[BaseModel], payload: Any, status: int = 200,
              headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(check(model, payload), status=status, headers=headers)

    def _api_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        reasons = {400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
                   503: "Service Unavailable"}
        return web.json_response({"statusCode": status, "message": message, "error": reasons.get(status, "")},
                                 status=status, headers=headers)

    def _toolbox_error(self, request: web.Request, status: int, message: str) -> web.Response:
        return self._json(ErrorResponse, {"message": message, "path": request.path, "method": request.method,
                                          "statusCode": status, "timestamp": _now_iso()}, status=status)

    def _dto(self, box: Box, state: str | None = None) -> dict:
        dto = {
            "id": box.id, "organizationId": self.organization_id, "name": box.name, "snapshot": box.snapshot,
            "user": "daytona", "env": dict(box.env), "labels": dict(box.labels), "public": False,
            "networkBlockAll": box.network_block_all, "kvm": False, "target": box.target,
            "cpu": box.cpu, "gpu": 0, "memory": box.memory, "disk": box.disk,
            "state": state or box.state, "desiredState": "destroyed" if state == "destroyed" else "started",
            "autoStopInterval": box.auto_stop, "autoArchiveInterval": 10080,
            "autoDeleteInterval": box.auto_delete, "createdAt": box.created_at, "updatedAt": _now_iso(),
            "toolboxProxyUrl": self.toolbox_url, "runnerId": "local-runner", "daemonVersion": "test-double",
        }
        return {k: v for k, v in dto.items() if k in SANDBOX_KEYS and v is not None}

    def _box(self, request: web.Request) -> Box | None:
        return self.boxes.get(request.match_info["sid"])

    # -- control plane -------------------------------------------------------------------
    async def create_sandbox(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            check(CreateSandbox, body)
        except Drift as exc:
            return self._api_error(400, f"invalid create request: {exc}")
        self.create_requests.append(body)
        if self.faults.create_failures:
            status, retry_after = self.faults.create_failures.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return self._api_error(status, "test double: injected create failure", headers)
        limited = self._over_create_limit()
        if limited is not None:
            return limited
        target = body.get("target") or self.target
        if target not in self.regions:
            return self._api_error(400, f"Region {target} not found")
        if body.get("snapshot") and body["snapshot"] not in self.snapshots:
            return self._api_error(404, f"Snapshot {body['snapshot']} not found")
        if self.faults.create_latency is not None:
            self.creating += 1
            self.peak_creating = max(self.peak_creating, self.creating)
            try:
                await asyncio.sleep(max(0.0, self.faults.create_latency()))
            finally:
                self.creating -= 1
        sid = str(uuid.uuid4())
        root = self._tmp / sid
        (root / "home").mkdir(parents=True)
        box = Box(
            id=sid, name=body.get("name") or sid, labels=dict(body.get("labels") or {}),
            env=dict(body.get("env") or {}), root=root, snapshot=body.get("snapshot") or "daytona-default",
            target=body.get("target") or self.target, cpu=body.get("cpu") or 1, memory=body.get("memory") or 1,
            disk=body.get("disk") or 3, network_block_all=bool(body.get("networkBlockAll")),
            auto_stop=body.get("autoStopInterval"), auto_delete=body.get("autoDeleteInterval"),
            created_at=_now_iso(), start_at=time.monotonic() + self.faults.slow_start_s)
        self._add(box)
        if self.faults.hangs:
            self._count("create hang")
            await asyncio.sleep(self.faults.hangs.pop(0))
        elif self.faults.chaos is not None and self.faults.chaos.hang_rate \
                and self.faults.chaos.rng.random() < self.faults.chaos.hang_rate:
            self._count("create hang")
            await asyncio.sleep(self.faults.chaos.hang_s)
        return self._json(SandboxModel, self._dto(box))

    def _over_create_limit(self) -> web.Response | None:
        """The strict create limit: a 429 with Retry-After, or None and the create counts."""
        now = time.monotonic()
        if self.faults.create_limit is not None:
            creates, window_s = self.faults.create_limit
            while self.accepted_creates and now - self.accepted_creates[0] >= window_s:
                self.accepted_creates.popleft()
            if len(self.accepted_creates) >= creates:
                self.rate_limited += 1
                wait = self.accepted_creates[0] + window_s - now
                return self._api_error(429, "test double: too many sandbox creates",
                                       {"Retry-After": str(max(1, math.ceil(wait)))})
        self.accepted_creates.append(now)
        self.accepted_creates_all.append(now)
        return None

    async def list_regions(self, request: web.Request) -> web.Response:
        from daytona_api_client_async.models import Region

        regions = [{"id": name, "name": name, "organizationId": self.organization_id, "regionType": "shared",
                    "createdAt": _now_iso(), "updatedAt": _now_iso()} for name in self.regions]
        for item in regions:
            check(Region, item)
        return web.json_response(regions)

    async def get_snapshot(self, request: web.Request) -> web.Response:
        from daytona_api_client_async.models import SnapshotDto

        name = request.match_info["name"]
        if name not in self.snapshots:
            return self._api_error(404, f"Snapshot with ID or name {name} not found")
        return self._json(SnapshotDto, {
            "id": name, "organizationId": self.organization_id, "general": True, "name": name,
            "imageName": "python:3.11", "state": "active", "size": 1.0, "entrypoint": None, "cpu": 1, "gpu": 0,
            "mem": 1, "disk": 3, "errorReason": None, "createdAt": _now_iso(), "updatedAt": _now_iso(),
            "lastUsedAt": None, "sourceSandboxId": None})

    async def get_sandbox(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._api_error(404, f"Sandbox with ID or name {request.match_info['sid']} not found")
        return self._json(SandboxModel, self._dto(box))

    async def list_sandboxes(self, request: web.Request) -> web.Response:
        wanted = json.loads(request.query.get("labels") or "{}")
        limit = int(request.query.get("limit") or 100)
        offset = int(request.query.get("cursor") or 0)
        boxes = [b for b in self.boxes.values() if all(b.labels.get(k) == v for k, v in wanted.items())]
        page = boxes[offset:offset + limit]
        items = [{k: v for k, v in self._dto(b).items() if k in LIST_ITEM_KEYS} for b in page]
        more = offset + limit < len(boxes)
        return self._json(ListSandboxesResponse,
                          {"items": items, "nextCursor": str(offset + limit) if more else None})

    async def delete_sandbox(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._api_error(404, f"Sandbox with ID or name {request.match_info['sid']} not found")
        await self._destroy(box)
        self.deleted += 1
        return self._json(SandboxModel, self._dto(box, state="destroyed"))

    async def toolbox_proxy_url(self, request: web.Request) -> web.Response:
        from daytona_api_client_async.models import ToolboxProxyUrl

        return self._json(ToolboxProxyUrl, {"url": self.toolbox_url})

    async def _destroy(self, box: Box) -> None:
        self.boxes.pop(box.id, None)
        await self._kill(box.commands())
        shutil.rmtree(box.root, ignore_errors=True)

    async def _kill(self, cmds: list[Cmd]) -> None:
        for c in cmds:
            if c.proc is not None and not c.finished:
                try:
                    os.killpg(c.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for c in cmds:
            if c.proc is not None:
                try:
                    await asyncio.wait_for(c.proc.wait(), 5)
                except TimeoutError:
                    pass

    # -- toolbox ---------------------------------------------------------------------------
    async def work_dir(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._toolbox_error(request, 404, "sandbox not found")
        return self._json(WorkDirResponse, {"dir": str(box.home)})

    def _inside(self, box: Box, dest: str) -> Path | None:
        path = Path(dest) if dest.startswith("/") else box.home / dest
        path = Path(os.path.normpath(path))
        return path if path == box.root or box.root in path.parents else None

    async def bulk_upload(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._toolbox_error(request, 404, "sandbox not found")
        # as the daemon does: a files[i].path part must come before its files[i].file part
        reader = await request.multipart()
        paths: dict[str, str] = {}
        written: list[dict] = []
        errors: list[str] = []
        async for part in reader:
            name = part.name or ""
            if name.endswith(".path"):
                paths[name[: -len(".path")]] = (await part.text()).strip()
            elif name.endswith(".file"):
                key = name[: -len(".file")]
                data = await part.read()
                dest = paths.get(key)
                target = self._inside(box, dest) if dest else None
                if dest is None:
                    errors.append(f"{key}: missing .path metadata")
                elif target is None:  # the daemon writes anywhere; this double stays in its sandbox
                    errors.append(f"{dest}: outside the test double's sandbox")
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    written.append({"path": dest, "bytes": len(data)})
        if errors:
            return self._json(UploadFilesResponse, {"errors": errors, "files": written}, status=400)
        return self._json(UploadFilesResponse, {"files": written})

    def _session(self, request: web.Request) -> tuple[Box | None, dict[str, Cmd] | None]:
        box = self._box(request)
        if box is None:
            return None, None
        return box, box.sessions.get(request.match_info["sess"])

    async def create_session(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._toolbox_error(request, 404, "sandbox not found")
        body = check(CreateSessionRequest, await request.json())
        sess = body["sessionId"]
        if sess in box.sessions:
            return self._toolbox_error(request, 409, f"session {sess} already exists")
        box.sessions[sess] = {}
        return web.Response(status=201)

    async def get_session(self, request: web.Request) -> web.Response:
        _, sess = self._session(request)
        if sess is None:
            return self._toolbox_error(request, 404, "session not found")
        return self._json(Session, {"sessionId": request.match_info["sess"],
                                    "commands": [self._cmd_json(c) for c in sess.values()]})

    async def delete_session(self, request: web.Request) -> web.Response:
        box, sess = self._session(request)
        if box is None or sess is None:
            return self._toolbox_error(request, 404, "session not found")
        box.sessions.pop(request.match_info["sess"], None)
        await self._kill(list(sess.values()))
        return web.Response(status=204)

    @staticmethod
    def _cmd_json(c: Cmd) -> dict:
        d = {"id": c.id, "command": c.command, "exitCode": c.exit_code}
        return {k: v for k, v in d.items() if v is not None}

    async def _spawn(self, box: Box, command: str, cwd: Path | None = None,
                     env: dict[str, str] | None = None, session: bool = False) -> Cmd:
        """Run ``command`` under /bin/sh. A session command runs as Daytona's daemon runs it:
        inside a command group of the session's shell, followed by writing ``$?`` to an exit
        code file, so a command that replaces that shell (``exec ...``) never gets an exit code."""
        cmd = Cmd(command)
        script = command
        if session:
            cmd.exit_file = box.root / ".daytona" / f"{cmd.id}.exit"
            cmd.exit_file.parent.mkdir(exist_ok=True)
            script = f"{{ {command.strip()}; }}\necho \"$?\" > {shlex.quote(str(cmd.exit_file))}\n"
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(box.home),
                    "LANG": "C.UTF-8", **box.env, **(env or {})}
        cmd.proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", script, cwd=str(cwd or box.home), env=full_env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        asyncio.ensure_future(self._pump(cmd))
        return cmd

    async def _pump(self, cmd: Cmd) -> None:
        assert cmd.proc is not None

        async def read(stream: str, pipe: asyncio.StreamReader) -> None:
            while chunk := await pipe.read(65536):
                cmd.chunks.append((stream, chunk))
                cmd.out[stream] += chunk
                cmd.notify()

        await asyncio.gather(read("stdout", cmd.proc.stdout), read("stderr", cmd.proc.stderr))  # type: ignore[arg-type]
        rc = await cmd.proc.wait()
        if cmd.exit_file is None:
            cmd.exit_code = rc if rc >= 0 else 128 - rc  # as a shell reports a signal death
        elif cmd.exit_file.exists():
            cmd.exit_code = int(cmd.exit_file.read_text().strip())
        cmd.finished = True
        cmd.notify()

    async def session_exec(self, request: web.Request) -> web.Response:
        box, sess = self._session(request)
        if box is None or sess is None:
            return self._toolbox_error(request, 404, "session not found")
        body = check(SessionExecuteRequest, await request.json())
        cmd = await self._spawn(box, body["command"], session=True)
        sess[cmd.id] = cmd
        if body.get("runAsync") or body.get("async"):
            return self._json(SessionExecuteResponse, {"cmdId": cmd.id}, status=202)
        await self._finished(cmd)
        reply = {"cmdId": cmd.id, "exitCode": cmd.exit_code, "stdout": cmd.text("stdout"),
                 "stderr": cmd.text("stderr"), "output": cmd.text("stdout") + cmd.text("stderr")}
        return self._json(SessionExecuteResponse, {k: v for k, v in reply.items() if v is not None})

    async def execute(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._toolbox_error(request, 404, "sandbox not found")
        body = check(ExecuteRequest, await request.json())
        cwd = self._inside(box, body["cwd"]) if body.get("cwd") else None
        cmd = await self._spawn(box, body["command"], cwd=cwd, env=body.get("envs"))
        try:
            await asyncio.wait_for(self._finished(cmd), body.get("timeout") or 10)
        except TimeoutError:
            await self._kill([cmd])
            return self._toolbox_error(request, 408, "command timed out")
        return self._json(ExecuteResponse, {"exitCode": cmd.exit_code,
                                            "result": cmd.text("stdout") + cmd.text("stderr")})

    @staticmethod
    async def _finished(cmd: Cmd) -> None:
        while not cmd.finished:
            await cmd.changed.wait()

    def _command(self, request: web.Request) -> Cmd | None:
        _, sess = self._session(request)
        return (sess or {}).get(request.match_info["cid"])

    async def get_command(self, request: web.Request) -> web.Response:
        cmd = self._command(request)
        if cmd is None:
            return self._toolbox_error(request, 404, "command not found")
        return self._json(CommandModel, self._cmd_json(cmd))

    async def command_logs(self, request: web.Request) -> web.StreamResponse:
        cmd = self._command(request)
        if cmd is None:
            return self._toolbox_error(request, 404, "command not found")
        if request.query.get("follow") != "true":
            return self._json(SessionCommandLogsResponse, {
                "output": cmd.text("stdout") + cmd.text("stderr"),
                "stdout": cmd.text("stdout"), "stderr": cmd.text("stderr")})
        return await self._follow(request, cmd)

    async def _follow(self, request: web.Request, cmd: Cmd) -> web.WebSocketResponse:
        """Binary frames, each chunk prefixed with its stream marker; close 1000 at the end."""
        ws = web.WebSocketResponse()
        try:
            await ws.prepare(request)
        except ConnectionResetError:  # the client went away first (its command had ended)
            return ws
        self.log_streams_opened += 1
        drop = self.faults.drops.pop(0) if self.faults.drops else None
        chaos = self.faults.chaos
        if drop is None and chaos is not None and chaos.drop_rate and chaos.rng.random() < chaos.drop_rate:
            drop = (1, "error")
        if drop is not None:
            self._count(f"log stream {drop[1]}")
        sent = 0
        reader = asyncio.ensure_future(self._drain_client(ws))
        try:
            while not ws.closed:
                changed = cmd.changed
                if sent < len(cmd.chunks):
                    if drop is not None and sent >= drop[0]:
                        if drop[1] == "abort":
                            assert request.transport is not None
                            request.transport.abort()
                        elif drop[1] == "close":
                            await ws.close(code=1000)
                        elif drop[1] == "stall":
                            await reader
                        else:
                            await ws.close(code=1011, message=b"test double: stream dropped")
                        return ws
                    stream, data = cmd.chunks[sent]
                    sent += 1
                    await ws.send_bytes((STDOUT_PREFIX if stream == "stdout" else STDERR_PREFIX) + data)
                    continue
                if cmd.exit_code is not None:
                    await ws.close(code=1000)
                    break
                await asyncio.wait({asyncio.ensure_future(changed.wait()), reader},
                                   return_when=asyncio.FIRST_COMPLETED)
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            reader.cancel()
        return ws

    @staticmethod
    async def _drain_client(ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    async def metrics(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self._toolbox_error(request, 404, "sandbox not found")
        groups = {c.proc.pid for c in box.commands() if c.proc is not None and not c.finished}
        ticks = rss_pages = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) in groups:  # field 5: process group
                ticks += int(fields[11]) + int(fields[12])
                rss_pages += int(fields[21])
        now = time.monotonic()
        last_t, last_ticks = box.cpu_sample
        pct = 0.0
        if last_t and now > last_t and ticks >= last_ticks:
            pct = min(100.0, (ticks - last_ticks) / CLK_TCK / (now - last_t) / box.cpu * 100)
        box.cpu_sample = (now, ticks)
        disk = sum(f.stat().st_size for f in box.root.rglob("*") if f.is_file())
        return self._json(SystemMetrics, {
            "cpuCount": box.cpu, "cpuUsedPct": round(pct, 2), "memUsed": rss_pages * PAGE,
            "memTotal": box.memory << 30, "memCache": 0, "diskUsed": disk, "diskTotal": box.disk << 30,
            "diskFree": (box.disk << 30) - disk, "timestamp": _now_iso(), "timestampUnix": int(time.time())})


class ServerThread:
    """The double on its own event loop in a thread, for synchronous callers (benchmarks,
    tests that run the CLI as a subprocess)."""

    @staticmethod
    async def _cancel_pending() -> None:
        """Handlers still sleeping (an injected create hang) end with the loop, quietly."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __init__(self, **kwargs: Any) -> None:
        self.server = DaytonaTestServer(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> DaytonaTestServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(30)
        asyncio.run_coroutine_threadsafe(self._cancel_pending(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Daytona API test double on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args()

    async def serve() -> None:
        server = await DaytonaTestServer(args.api_key).start(args.port)
        try:
            print(f"DAYTONA_API_URL={server.api_url} DAYTONA_API_KEY={server.api_key}", flush=True)
            await asyncio.Event().wait()
        finally:
            await server.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()



def settings_for(srv: DaytonaTestServer, **kw) -> DaytonaSettings:
    """Backend settings for ``srv``, with short back-offs (the faults are injected, not real)."""
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return DaytonaSettings(api_key=srv.api_key, api_url=srv.api_url, target="local", **kw)
