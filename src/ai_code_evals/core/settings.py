"""Every setting of the app in one validated object, read once by the front end and passed down.

Sources, highest first: the process environment, the project's ``.env`` (read into the object,
never into ``os.environ``, so nothing in it can reach a sandbox), then the ``[env]`` table of
``ai-code-evals.toml`` (or of the file ``ACE_CONFIG`` names). pydantic-settings reads and types
them; a bad value is one ConfigError naming the variable. Field names are the variables' names
in lower case (``ace_openai_timeout`` is ``ACE_OPENAI_TIMEOUT``); `.env.example` lists them all.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ai_code_evals.core.errors import ConfigError


class Settings(BaseSettings):
    """The settings. Empty values count as unset; unknown variables are ignored."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore",
                                      case_sensitive=False, frozen=True)

    ace_config: str | None = None  # the toml file whose [env] table is the lowest source
    # the model endpoint (OpenAI, or a local server through its OpenAI-compatible API)
    openai_api_key: str | None = Field(None, repr=False)
    openai_base_url: str | None = None
    ace_model: str | None = None
    ace_judge_model: str | None = None
    ace_openai_concurrency: int = Field(4, ge=1)
    ace_openai_timeout: float = Field(120.0, gt=0)
    ace_openai_max_retries: int = Field(4, ge=0)
    ace_openai_stream: bool = True
    ace_openai_max_tokens: int = Field(0, ge=0)  # 0: the server's default
    ace_generated_tests: int = Field(10, ge=1)
    ace_strategies: str = ""  # comma-separated; empty: every strategy, in order
    # the local sandboxes
    ace_isolation: str | None = None  # None: the strongest level that works here
    ace_warm: bool = True
    ace_cgroups: bool = True
    # Daytona (DAYTONA_* are the SDK's own names)
    daytona_api_key: str | None = Field(None, repr=False)
    daytona_api_url: str | None = None  # taken from the process environment only (see ``load``)
    daytona_target: str | None = None
    ace_daytona_snapshot: str | None = None
    ace_daytona_image: str | None = None
    ace_daytona_cpu: int | None = Field(None, ge=1)
    ace_daytona_memory: int | None = Field(None, ge=1)
    ace_daytona_disk: int | None = Field(None, ge=1)
    ace_daytona_concurrency: int = Field(8, ge=1)
    ace_daytona_creates_per_minute: int = Field(600, ge=1)
    ace_daytona_create_burst: int = Field(4, ge=1)
    ace_daytona_auto_stop_minutes: int = Field(15, ge=0)
    ace_daytona_block_network: bool = True
    ace_daytona_create_timeout: float = Field(60.0, gt=0)
    ace_daytona_retries: int = Field(8, ge=1)
    ace_daytona_backoff_max: float = Field(30.0, gt=0)
    ace_daytona_reap: bool = True
    # the TUI
    ace_theme: str | None = None
    ace_theme_dir: str | None = None  # os.pathsep-separated directories of theme files
    ace_clipboard: str | None = None  # osc52 | file; unset: guessed from the terminal

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return init_settings, env_settings, dotenv_settings, TomlEnvTable(settings_cls)

    @classmethod
    def load(cls) -> Settings:
        """The settings of a run started in the working directory. DAYTONA_API_URL is taken from
        the process environment only, like the SDK does: a .env or toml in a checked-out
        directory must not be able to send the Daytona key elsewhere."""
        import os

        settings = _validated(cls)
        if settings.daytona_api_url and not os.environ.get("DAYTONA_API_URL"):
            settings = settings.model_copy(update={"daytona_api_url": None})
        return settings

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from ``values`` alone (variable names as keys): no environment, no files."""
        return _validated(_Only, **{k.lower(): v for k, v in values.items() if v not in ("", None)})

    def with_model(self, model: str | None) -> Settings:
        """These settings with ``--model`` in place of ACE_MODEL (when given)."""
        return self.model_copy(update={"ace_model": model}) if model else self

    @property
    def strategies(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.ace_strategies.split(",") if s.strip())


class _Only(Settings):
    """Settings from the given values only (tests, embedding): no other source."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)


def as_settings(values: Settings | Mapping[str, Any] | None) -> Settings:
    """``values`` as Settings: given ones as they are, a mapping validated alone, None loaded."""
    if values is None:
        return Settings.load()
    return values if isinstance(values, Settings) else Settings.of(values)


class TomlEnvTable(PydanticBaseSettingsSource):
    """The ``[env]`` table of ai-code-evals.toml (or the file ACE_CONFIG names)."""

    def get_field_value(self, field, field_name: str) -> tuple[Any, str, bool]:  # unused: __call__ reads all
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        from ai_code_evals.core.config import file_config

        table = file_config().get("env", {})
        if not isinstance(table, Mapping):
            return {}
        fields = self.settings_cls.model_fields
        return {k.lower(): v for k, v in table.items() if k.lower() in fields and v not in ("", None)}


_PHRASES = {
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "bool_parsing": "must be 1 or 0 (or true/false, on/off)",
    "greater_than_equal": "must be at least {ge}", "greater_than": "must be more than {gt}",
}


def _validated(cls: type[Settings], **values: Any) -> Settings:
    try:
        return cls(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err.get("loc") else "a setting"
        phrase = _PHRASES.get(err["type"], err["msg"]).format(**(err.get("ctx") or {}))
        raise ConfigError(f"{name} {phrase}, got {err.get('input')!r}") from None
