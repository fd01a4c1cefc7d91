"""TEST DOUBLE of the OpenAI chat-completions API: a local OpenAI-compatible HTTP server.

The test machines cannot reach OpenAI (or any LLM), so the generator, generated tests and the
judge are tested against this server, driven by the unmodified ``openai`` client over real HTTP.
It implements ``POST /v1/chat/completions`` (JSON and streaming SSE, with usage) and
``GET /v1/models`` when given a model list (without one it has no such route, like a minimal
server, and accepts any model name); it answers a one-token request (the CLI's preflight probe)
itself, kept apart in ``probes``, so scripted replies are not consumed. It can demand an API key (401 otherwise), refuse unknown models (404, as vLLM
and OpenAI do) and hold a stream half-way until a test lets it go. It can be scripted per test: a queue of replies consumed in order, then a responder function. Replies can
be 429 with Retry-After, 5xx, slow, malformed JSON, cut-off streams, replies without code, and
judge answers of any shape.

Runs stdlib ``ThreadingHTTPServer`` in a daemon thread, so it works from sync and async tests
alike and needs no dependency.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Reply:
    """What the server sends for one request."""

    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""  # message of an error body (status != 200)
    delay_s: float = 0.0  # wait before answering (a slow or hung server)
    malformed: bool = False  # a body (or an SSE chunk) that is not JSON
    cut_after: int | None = None  # stream: close the connection after this many chunks
    usage: bool = True  # report token usage
    chunk_chars: int = 16  # stream: characters per SSE chunk
    hold: threading.Event | None = None  # stream: wait for this after half the chunks


Responder = Callable[[dict], Reply]


def code_reply(code: str, prose: bool = True) -> Reply:
    """A typical chatty model reply: a sentence, a python block, a sentence."""
    text = f"```python\n{code.strip()}\n```\n"
    if prose:
        text = "Here is an implementation.\n\n" + text + "\nIt handles the cases described.\n"
    return Reply(text)


def user_text(request: dict) -> str:
    return "\n".join(m.get("content") or "" for m in request.get("messages", []) if m.get("role") == "user")


class OpenAITestServer:
    """``with OpenAITestServer() as srv: ... srv.base_url``; ``srv.requests`` has every body."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or (lambda req: Reply("```python\ndef f(x):\n    return x\n```"))
        self.queue: deque[Reply] = deque()
        self.requests: list[dict] = []
        self.reject_stream_options = False  # an older server: 400 when stream_options is sent
        self.reject_response_format = False  # a server without structured output
        self.reject_temperature = False  # a reasoning model: only the default temperature
        self.model = "test-double-model"
        self.models: list[str] | None = None  # served models, listed by GET /v1/models; None: any, no route
        self.probes: list[dict] = []  # one-token requests (preflight), answered without the script
        self.api_key: str | None = None  # when set, any other key gets 401
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Replies for the next requests, in order; afterwards the responder answers."""
        with self._lock:
            self.queue.extend(replies)

    def _next(self, request: dict) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.queue:
                return self.queue.popleft()
        return self.responder(request)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> OpenAITestServer:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes handlers sleeping in a slow reply
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server_owner: OpenAITestServer
    protocol_version = "HTTP/1.0"  # one request per connection; SSE ends when we close

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    # -- helpers -------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: dict | str, headers: dict[str, str] | None = None) -> None:
        body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_exceeded"}.get(status, "server_error")
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}},
                        headers)

    def _refused_key(self) -> bool:
        owner = self.server_owner
        if owner.api_key is not None and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
            self._error(401, "Incorrect API key provided")
            return True
        return False

    # -- the endpoints ---------------------------------------------------------------------------
    def do_GET(self) -> None:
        owner = self.server_owner
        if self._refused_key():
            return
        if self.path.rstrip("/") != "/v1/models" or owner.models is None:
            self._error(404, f"no route {self.path}")
            return
        self._send_json(200, {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "test-double"} for name in owner.models]})

    def do_POST(self) -> None:
        owner = self.server_owner
        if self._refused_key():
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "the request body is not JSON")
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        if owner.models is not None and request.get("model") not in owner.models:
            self._error(404, f"The model `{request.get('model')}` does not exist.")
            return
        if request.get("max_tokens") == 1 and not request.get("stream"):
            with owner._lock:
                owner.probes.append(request)
            self._send_json(200, self._completion(request, Reply("ok")))
            return
        if owner.reject_stream_options and "stream_options" in request:
            with owner._lock:
                owner.requests.append(request)
            self._error(400, "Unrecognized request argument supplied: stream_options")
            return
        if owner.reject_response_format and "response_format" in request:
            with owner._lock:
                owner.requests.append(request)
            self._error(400, "response_format is not supported by this server")
            return
        if owner.reject_temperature and "temperature" in request:
            with owner._lock:
                owner.requests.append(request)
            self._error(400, "Unsupported value: 'temperature' does not support 0.2 with this model. "
                             "Only the default (1) value is supported.")
            return
        reply = owner._next(request)
        if reply.delay_s and owner._stop.wait(reply.delay_s):
            return
        try:
            if reply.status != 200:
                self._error(reply.status, reply.error or f"scripted status {reply.status}", reply.headers)
            elif request.get("stream"):
                self._stream(request, reply)
            elif reply.malformed:
                self._send_json(200, '{"id": "chatcmpl-broken", "choices": [', reply.headers)
            else:
                self._send_json(200, self._completion(request, reply), reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to do

    def _usage(self, request: dict, text: str) -> dict:
        prompt = sum(len((m.get("content") or "").split()) for m in request.get("messages", []))
        completion = len(text.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, request: dict, reply: Reply) -> dict:
        owner = self.server_owner
        out = {
            "id": f"chatcmpl-{next(owner._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model") or owner.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": "stop", "logprobs": None}],
        }
        if reply.usage:
            out["usage"] = self._usage(request, reply.text)
        return out

    def _stream(self, request: dict, reply: Reply) -> None:
        owner = self.server_owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        cid = f"chatcmpl-{next(owner._ids)}"
        model = request.get("model") or owner.model
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True):
            body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
                    if choices else []}
            if usage is not None:
                body["usage"] = usage
            self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
            self.wfile.flush()

        pieces = [reply.text[i:i + reply.chunk_chars] for i in range(0, len(reply.text), reply.chunk_chars)]
        chunk({"role": "assistant", "content": ""})
        for n, piece in enumerate(pieces):
            if reply.cut_after is not None and n >= reply.cut_after:
                return  # connection closes without a finish reason or [DONE]
            if reply.malformed and n == len(pieces) // 2:
                self.wfile.write(b'data: {"id": "broken", "choices": [\n\n')
                self.wfile.flush()
                return
            if reply.hold is not None and n == len(pieces) // 2:
                reply.hold.wait(30)
            chunk({"content": piece})
        chunk({}, finish="stop")
        if reply.usage and (request.get("stream_options") or {}).get("include_usage"):
            chunk({}, usage=self._usage(request, reply.text), choices=False)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
