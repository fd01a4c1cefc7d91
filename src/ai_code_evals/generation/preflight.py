"""Check the endpoint once, before any sandbox starts, so a wrong setting fails in seconds.

Without this, a 404 for an unknown model or a refused key only showed up as every version in
status ``error`` at the end of a run that exited 0. One ``GET /models`` (and, when a server has
no such route, one chat request of a single token) tells apart: a connection refused, a wrong
URL, a refused key, a model the server does not serve. Each is one ConfigError naming the
endpoint, the model and the fix. With ``OPENAI_BASE_URL`` set and no model chosen, the first
model the server lists is used (local servers usually serve one), and the caller says which.
"""
from __future__ import annotations

from dataclasses import replace

import openai

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.generation.openai_settings import OpenAISettings

PREFLIGHT_TIMEOUT_S = 5.0
MAX_LISTED = 6  # models named in a message


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(cause).split("\n")[0][:160]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def _fail(settings: OpenAISettings, model: str, what: str, fix: str) -> ConfigError:
    return ConfigError(f"endpoint {settings.endpoint}, model {model}: {what}; {fix}")


def _status_error(settings: OpenAISettings, model: str, exc: openai.APIStatusError) -> ConfigError:
    if exc.status_code in (401, 403):
        return _fail(settings, model, f"the API key was refused (HTTP {exc.status_code})",
                     "set a valid OPENAI_API_KEY (environment, .env or ai-code-evals.toml)")
    if exc.status_code == 404:
        return _fail(settings, model, "no such model or no chat endpoint at this URL (HTTP 404)",
                     "check OPENAI_BASE_URL (it usually ends in /v1) and the model name (--model)")
    return _fail(settings, model, f"the endpoint answered HTTP {exc.status_code}",
                 "check OPENAI_BASE_URL and that the server is healthy")


def _call(settings: OpenAISettings, model: str, fn):
    try:
        return fn()
    except openai.APITimeoutError:
        raise _fail(settings, model, f"no answer within {PREFLIGHT_TIMEOUT_S:g}s",
                    "check OPENAI_BASE_URL and that the server is up") from None
    except openai.APIConnectionError as exc:
        raise _fail(settings, model, f"cannot connect ({_cause(exc)})",
                    "start the server or fix OPENAI_BASE_URL") from None


def check_endpoint(settings: OpenAISettings) -> tuple[OpenAISettings, str | None]:
    """(settings with the model to use, a line to show the user or None); raises ConfigError."""
    client = openai.OpenAI(api_key=settings.api_key, base_url=settings.base_url,
                           timeout=PREFLIGHT_TIMEOUT_S, max_retries=0)
    discover = settings.base_url is not None and not settings.model_chosen
    shown_model = "(none chosen)" if discover else settings.model
    try:
        try:
            ids = [m.id for m in _call(settings, shown_model, client.models.list).data]
        except openai.APIStatusError as exc:
            if exc.status_code not in (403, 404):
                raise _status_error(settings, shown_model, exc) from None
            ids = None  # no /models here (or not for this key): ask for one token instead
        except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError):
            ids = None
        note = None
        if discover:
            if not ids:
                raise _fail(settings, shown_model, "the server lists no model",
                            "choose one with --model or ACE_MODEL")
            settings = replace(settings, model=ids[0], model_chosen=True)
            note = (f"using model {ids[0]}, the first of {len(ids)} listed by {settings.endpoint} "
                    "(choose another with --model)")
        wanted = [settings.model] + ([settings.judge_model] if settings.judge_model else [])
        for model in wanted:
            if ids is not None and model not in ids:
                raise _fail(settings, model, f"the server does not serve this model (it lists: {_listed(ids)})",
                            "choose one of those with --model or ACE_MODEL"
                            + (" / ACE_JUDGE_MODEL" if model == settings.judge_model else ""))
            if ids is None:
                try:
                    _call(settings, model, lambda m=model: client.chat.completions.create(
                        model=m, messages=[{"role": "user", "content": "ping"}], max_tokens=1))
                except openai.APIStatusError as exc:
                    if exc.status_code in (401, 403, 404):  # other refusals: the run will say
                        raise _status_error(settings, model, exc) from None
        return settings, note
    finally:
        client.close()
