"""Settings for talking to an OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama).

Read from one str->str mapping (``config.settings_env()``: environment > .env > toml), so the
generator, generated tests and the judge all see the same endpoint.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ai_code_evals.core.config import int_setting, settings_env
from ai_code_evals.core.errors import ConfigError

DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_KEY = "not-needed"  # local servers accept any key; the client library insists on one


@dataclass(frozen=True)
class OpenAISettings:
    api_key: str
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    model_chosen: bool = True  # False: DEFAULT_MODEL stands in (preflight asks a local server instead)
    judge_model: str | None = None  # defaults to model
    concurrency: int = 4  # requests in flight at once
    timeout_s: float = 120.0  # per attempt, whole reply included
    max_retries: int = 4  # retries after the first attempt (429, 5xx, timeouts, connection)
    stream: bool = True
    max_tokens: int | None = None
    tests_per_task: int = 10  # asserts asked for by --generate-tests
    strategies: tuple[str, ...] = field(default_factory=tuple)  # empty: all, in order

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, model: str | None = None,
                 purpose: str = "--generator openai") -> OpenAISettings:
        env = settings_env() if env is None else env
        key = (env.get("OPENAI_API_KEY") or "").strip()
        base_url = (env.get("OPENAI_BASE_URL") or "").strip() or None
        if not key and not base_url:
            raise ConfigError(
                f"{purpose} needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL (for a local server "
                "such as vLLM, llama.cpp or Ollama) set in the environment, .env or ai-code-evals.toml")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"OPENAI_BASE_URL must start with http:// or https://, got {base_url!r}")
        timeout = _float_setting(env, "ACE_OPENAI_TIMEOUT", 120.0)
        max_tokens = int_setting(env, "ACE_OPENAI_MAX_TOKENS", 0, minimum=0) or None
        strategies = tuple(s.strip() for s in (env.get("ACE_STRATEGIES") or "").split(",") if s.strip())
        return cls(
            api_key=key or LOCAL_KEY,
            base_url=base_url,
            model=(model or env.get("ACE_MODEL") or DEFAULT_MODEL).strip(),
            model_chosen=bool((model or env.get("ACE_MODEL") or "").strip()),
            judge_model=(env.get("ACE_JUDGE_MODEL") or "").strip() or None,
            concurrency=int_setting(env, "ACE_OPENAI_CONCURRENCY", 4),
            timeout_s=timeout,
            max_retries=int_setting(env, "ACE_OPENAI_MAX_RETRIES", 4, minimum=0),
            stream=(env.get("ACE_OPENAI_STREAM") or "1").strip().lower() not in ("0", "false", "no", "off"),
            max_tokens=max_tokens,
            tests_per_task=int_setting(env, "ACE_GENERATED_TESTS", 10),
            strategies=strategies,
        )

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"


def _float_setting(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value
