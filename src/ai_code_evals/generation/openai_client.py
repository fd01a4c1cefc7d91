"""One chat call to an OpenAI-compatible endpoint, done carefully.

The ``openai`` client is built with ``max_retries=0``: retries happen here, so that every attempt
counts against our own concurrency limit, honours Retry-After, uses jittered exponential backoff,
and can tell the UI to discard partial streamed text before trying again.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import openai

from ai_code_evals.generation.openai_settings import OpenAISettings

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
RETRY_AFTER_CAP_S = 60.0
RETRYABLE_STATUS = {408, 409, 425, 429}
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class BrokenStream(Exception):
    """The stream ended without a finish reason: the connection dropped mid-reply."""

    def __init__(self, reply: ChatReply) -> None:
        super().__init__("the reply stream ended before the model finished")
        self.reply = reply


class ChatError(Exception):
    """A chat call that failed for good; ``str()`` is one readable line.

    ``response_format_refused``: the server rejected structured output (ask again without it).
    """

    def __init__(self, message: str, *, response_format_refused: bool = False,
                 request: dict | None = None) -> None:
        super().__init__(message)
        self.response_format_refused = response_format_refused
        self.request = request or {}  # what the last attempt sent (see ChatReply.request)


@dataclass
class ChatReply:
    text: str
    usage: dict = field(default_factory=dict)  # prompt/completion/total tokens when reported
    attempts: int = 1
    finish_reason: str | None = None
    model: str = ""
    latency_s: float = 0.0
    request: dict = field(default_factory=dict)  # what was sent: model, messages, parameters


@dataclass
class _Failure:
    message: str
    retryable: bool
    retry_after: float | None = None
    partial: bool = False


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    detail = ""
    if isinstance(body, dict):
        err = body.get("error", body)
        detail = err.get("message", "") if isinstance(err, dict) else str(err)
    elif body:
        detail = str(body)
    detail = " ".join(str(detail).split())[:200]
    return f"HTTP {exc.status_code}" + (f": {detail}" if detail else "")


def classify(exc: BaseException, timeout_s: float) -> _Failure:
    """Which failures are worth another attempt, in one readable line each."""
    if isinstance(exc, BrokenStream):
        return _Failure(str(exc), True)
    if isinstance(exc, (TimeoutError, openai.APITimeoutError)):
        return _Failure(f"no complete reply within {timeout_s:g}s", True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry = status in RETRYABLE_STATUS or status >= 500
        msg = _status_message(exc)
        if status == 401:
            msg += " (check OPENAI_API_KEY)"
        elif status == 404:
            msg += " (check the model name and OPENAI_BASE_URL)"
        return _Failure(msg, retry, parse_retry_after(exc.response.headers) if retry else None)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return _Failure(f"cannot reach the endpoint ({type(cause).__name__}: {cause})"[:240], True)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, TypeError,
                        AttributeError, IndexError)):
        return _Failure(f"malformed reply from the endpoint ({type(exc).__name__}: {exc})"[:240], True)
    if isinstance(exc, openai.OpenAIError):
        return _Failure(f"{type(exc).__name__}: {exc}"[:240], False)
    raise exc  # a bug here, not a network problem


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with jitter: somewhere in [b/2, b] for b = base * 2**(attempt-1)."""
    b = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return rng.uniform(b / 2, b)


def _usage(obj) -> dict:
    if obj is None:
        return {}
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    return {k: data[k] for k in USAGE_KEYS if isinstance(data.get(k), int)}


def _stream_options_refused(exc: BaseException) -> bool:
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422)
            and "stream_options" in json.dumps(exc.body, default=str))


def _temperature_refused(exc: BaseException) -> bool:
    """Reasoning models accept only their default temperature."""
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422)
            and "temperature" in json.dumps(exc.body, default=str))


def _audited(kwargs: dict) -> dict:
    """A request as recorded in the run log: everything sent, the messages copied."""
    return {**kwargs, "messages": [dict(m) for m in kwargs.get("messages", [])]}


def _response_format_refused(exc: BaseException) -> bool:
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422)
            and "response_format" in json.dumps(exc.body, default=str))


TextCallback = Callable[[str], None]
RetryCallback = Callable[[str], None]  # one line: what failed and when the next attempt comes
Sleep = Callable[[float], Awaitable[None]]


class ChatClient:
    """Chat completions with retries, a concurrency limit and optional streaming.

    The underlying ``AsyncOpenAI`` client and the semaphore belong to one event loop; they are
    rebuilt when used from another (the CLI may call ``asyncio.run`` more than once).
    """

    def __init__(self, settings: OpenAISettings, *, sleep: Sleep | None = None,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.sleep = sleep or asyncio.sleep
        self.rng = rng or random.Random()
        self.stream_options_ok = True
        self.temperature_ok = True  # False once the model refused a temperature (reasoning models)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._sem: asyncio.Semaphore | None = None

    def _bind(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._sem is None:
            self._loop = loop
            self._client = openai.AsyncOpenAI(api_key=self.settings.api_key, base_url=self.settings.base_url,
                                              timeout=self.settings.timeout_s, max_retries=0)
            self._sem = asyncio.Semaphore(self.settings.concurrency)
        return self._client, self._sem

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = None

    async def chat(self, messages: list[dict], *, temperature: float | None = None, model: str | None = None,
                   on_text: TextCallback | None = None, on_reset: Callable[[], None] | None = None,
                   response_format: dict | None = None, stream: bool | None = None,
                   on_retry: RetryCallback | None = None) -> ChatReply:
        """The reply's text. Raises ChatError (one line) once retries are spent or on a
        failure that retrying cannot fix (bad key, unknown model, bad request). ``on_retry`` hears
        about every attempt that failed and will be made again."""
        client, sem = self._bind()
        stream = self.settings.stream if stream is None else stream
        model = model or self.settings.model
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            got_text = False
            sent_options = stream and self.stream_options_ok
            sent_temperature = temperature is not None and self.temperature_ok
            kwargs = self._request(messages, model, temperature, response_format, stream)

            def seen(text: str) -> None:
                nonlocal got_text
                got_text = True
                if on_text:
                    on_text(text)

            try:
                async with sem:
                    async with asyncio.timeout(self.settings.timeout_s):
                        reply = await self._once(client, kwargs, seen)
                reply.attempts = attempt
                reply.request = _audited(kwargs)
                reply.latency_s = round(time.monotonic() - started, 3)
                return reply
            except asyncio.CancelledError:
                raise
            except Exception as caught:  # noqa: BLE001 - classified below, bugs re-raised
                exc = caught
                if sent_options and _stream_options_refused(exc):
                    self.stream_options_ok = False  # an older server: ask again without it
                    attempt -= 1
                    continue
                if sent_temperature and _temperature_refused(exc):
                    self.temperature_ok = False  # the model's default temperature it is
                    attempt -= 1
                    continue
                failure = classify(exc, self.settings.timeout_s)
                rf_refused = response_format is not None and _response_format_refused(exc)
            if isinstance(exc, BrokenStream) and attempt > self.settings.max_retries and exc.reply.text:
                # the server may simply never send a finish reason: keep what it sent
                exc.reply.attempts = attempt
                exc.reply.finish_reason = "missing"
                exc.reply.latency_s = round(time.monotonic() - started, 3)
                exc.reply.request = _audited(kwargs)
                return exc.reply
            if got_text and on_reset:
                on_reset()
            if not failure.retryable or attempt > self.settings.max_retries:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise ChatError(failure.message + tries, response_format_refused=rf_refused,
                                request=_audited(kwargs))
            delay = failure.retry_after
            delay = backoff_delay(attempt, self.rng) if delay is None else min(delay, RETRY_AFTER_CAP_S)
            if on_retry is not None:
                on_retry(f"{failure.message}; attempt {attempt + 1} of {self.settings.max_retries + 1} "
                         f"in {delay:.1f}s")
            await self.sleep(delay)

    def _request(self, messages: list[dict], model: str, temperature: float | None,
                 response_format: dict | None, stream: bool) -> dict:
        """The keyword arguments of one attempt (what the endpoint is sent)."""
        kwargs: dict = {"model": model, "messages": messages}
        if temperature is not None and self.temperature_ok:
            kwargs["temperature"] = temperature
        if self.settings.max_tokens:
            kwargs["max_tokens"] = self.settings.max_tokens
        if response_format is not None:
            kwargs["response_format"] = response_format
        if stream:
            kwargs["stream"] = True
            if self.stream_options_ok:
                kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    async def _once(self, client: openai.AsyncOpenAI, kwargs: dict, on_text: TextCallback) -> ChatReply:
        model = kwargs["model"]
        stream = bool(kwargs.get("stream"))
        if not stream:
            resp = await client.chat.completions.create(**kwargs)
            choice = resp.choices[0] if resp.choices else None
            text = (choice.message.content or "") if choice else ""
            if text:
                on_text(text)
            return ChatReply(text, _usage(resp.usage), finish_reason=choice.finish_reason if choice else None,
                             model=resp.model or model)
        resp = await client.chat.completions.create(**kwargs)
        parts: list[str] = []
        usage: dict = {}
        finish: str | None = None
        served = model
        async with resp:
            async for chunk in resp:
                served = chunk.model or served
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices or []:
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        parts.append(piece)
                        on_text(piece)
                    finish = choice.finish_reason or finish
        reply = ChatReply("".join(parts), usage, finish_reason=finish, model=served)
        if finish is None:
            raise BrokenStream(reply)
        return reply

