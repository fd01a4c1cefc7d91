"""Settings for talking to an OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama).

Read from the app's one settings object (``core.settings``: environment > .env > toml), so the
generator, generated tests and the judge all see the same endpoint.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.core.settings import Settings, as_settings

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
    def from_env(cls, env: Settings | Mapping[str, str] | None = None, *, model: str | None = None,
                 purpose: str = "--generator openai") -> OpenAISettings:
        """From the app's settings (a mapping of variables is validated alone; None: loaded)."""
        s = as_settings(env)
        key = (s.openai_api_key or "").strip()
        base_url = (s.openai_base_url or "").strip() or None
        if not key and not base_url:
            raise ConfigError(
                f"{purpose} needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL (for a local server "
                "such as vLLM, llama.cpp or Ollama) set in the environment, .env or ai-code-evals.toml")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"OPENAI_BASE_URL must start with http:// or https://, got {base_url!r}")
        chosen = (model or s.ace_model or "").strip()
        return cls(
            api_key=key or LOCAL_KEY,
            base_url=base_url,
            model=chosen or DEFAULT_MODEL,
            model_chosen=bool(chosen),
            judge_model=(s.ace_judge_model or "").strip() or None,
            concurrency=s.ace_openai_concurrency,
            timeout_s=s.ace_openai_timeout,
            max_retries=s.ace_openai_max_retries,
            stream=s.ace_openai_stream,
            max_tokens=s.ace_openai_max_tokens or None,
            tests_per_task=s.ace_generated_tests,
            strategies=s.strategies,
        )

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

