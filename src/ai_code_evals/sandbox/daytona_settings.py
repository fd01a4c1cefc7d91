"""Settings of the Daytona backend, read from a str->str mapping (environment, .env, config).

Kept apart from the backend so that reading and checking settings never imports the
Daytona SDK (which is slow to import). Every bad value is one ConfigError sentence.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ai_code_evals.core.config import int_setting
from ai_code_evals.core.errors import ConfigError

# Names of the settings (DAYTONA_* are the SDK's own names).
API_KEY = "DAYTONA_API_KEY"
API_URL = "DAYTONA_API_URL"
TARGET = "DAYTONA_TARGET"


@dataclass(frozen=True)
class DaytonaSettings:
    """Everything the backend needs to talk to Daytona and to stay within its limits.

    From the environment: DAYTONA_API_KEY (required), DAYTONA_API_URL, DAYTONA_TARGET,
    ACE_DAYTONA_SNAPSHOT or ACE_DAYTONA_IMAGE, ACE_DAYTONA_CPU/MEMORY/DISK (GiB; image only),
    ACE_DAYTONA_CONCURRENCY (the default of --jobs), ACE_DAYTONA_CREATES_PER_MINUTE and
    ACE_DAYTONA_CREATE_BURST (the create pacer), ACE_DAYTONA_AUTO_STOP_MINUTES,
    ACE_DAYTONA_BLOCK_NETWORK (1/0), ACE_DAYTONA_CREATE_TIMEOUT (s), ACE_DAYTONA_RETRIES,
    ACE_DAYTONA_BACKOFF_MAX (s), ACE_DAYTONA_REAP (1/0).
    """

    api_key: str = field(repr=False)
    api_url: str | None = None  # None: the SDK's default (Daytona's cloud)
    target: str | None = None  # region; None: the organisation's default
    snapshot: str | None = None  # create from this snapshot ...
    image: str | None = None  # ... or from this image (then cpu/memory/disk apply)
    cpu: int | None = None
    memory_gib: int | None = None
    disk_gib: int | None = None
    concurrency: int = 8  # sandboxes alive at once (--jobs)
    # Daytona's per-minute create limit is 300 (tier 1) to 600 (tier 4). The default is the
    # highest: on a lower tier the first 429s teach the pacer the account's limit (it slows down,
    # never below what the 429s allow), which costs a few refused creates, never a verdict
    creates_per_minute: int = 600
    create_burst: int = 4  # creates that may leave at once before the rate applies
    auto_stop_minutes: int = 15  # a forgotten sandbox stops (and, being ephemeral, is deleted)
    block_network: bool = True  # candidates get no network, as in the local backend
    create_timeout_s: float = 60.0
    # per API call, for 5xx, connection errors and timeouts (429s get 4x as many): with full
    # jitter, about 30 s of retrying on average before a version gets an infrastructure error
    max_attempts: int = 8
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    reap_on_start: bool = True  # delete leftovers of dead runs before the first create
    reap_foreign_after_s: float = 6 * 3600.0  # leftovers from other hosts: only when this old
    poll_interval_s: float = 0.25  # log polling once the live stream broke
    stream_check_s: float = 2.0  # while streaming, how often to check the command has not ended

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DaytonaSettings:
        """Settings from ``env``; with None, the process environment over the project's
        settings (config file, .env), except DAYTONA_API_URL, which like the SDK we take
        only from the process environment: a .env in the working directory must not be
        able to send the API key elsewhere."""
        if env is None:
            env = _default_env()
        key = (env.get(API_KEY) or "").strip()
        if not key:
            raise ConfigError(
                f"{API_KEY} is not set: put your Daytona API key in the environment or in .env "
                "to use --backend daytona")
        snapshot = _text(env, "ACE_DAYTONA_SNAPSHOT")
        image = _text(env, "ACE_DAYTONA_IMAGE")
        if snapshot and image:
            raise ConfigError("set ACE_DAYTONA_SNAPSHOT or ACE_DAYTONA_IMAGE, not both")
        cpu = _int(env, "ACE_DAYTONA_CPU", None)
        memory = _int(env, "ACE_DAYTONA_MEMORY", None)
        disk = _int(env, "ACE_DAYTONA_DISK", None)
        if (cpu or memory or disk) and not image:
            raise ConfigError(
                "ACE_DAYTONA_CPU/MEMORY/DISK need ACE_DAYTONA_IMAGE: a snapshot brings its own resources")
        api_url = _text(env, API_URL)
        if api_url and not api_url.startswith(("http://", "https://")):
            raise ConfigError(f"{API_URL} must be an http(s) URL, got {api_url!r}")
        return cls(
            api_key=key,
            api_url=api_url,
            target=_text(env, TARGET),
            snapshot=snapshot,
            image=image,
            cpu=cpu,
            memory_gib=memory,
            disk_gib=disk,
            concurrency=_int(env, "ACE_DAYTONA_CONCURRENCY", cls.concurrency) or cls.concurrency,
            creates_per_minute=_int(env, "ACE_DAYTONA_CREATES_PER_MINUTE", cls.creates_per_minute)
            or cls.creates_per_minute,
            create_burst=_int(env, "ACE_DAYTONA_CREATE_BURST", cls.create_burst) or cls.create_burst,
            auto_stop_minutes=_int(env, "ACE_DAYTONA_AUTO_STOP_MINUTES", cls.auto_stop_minutes, 0)
            or 0,
            block_network=_bool(env, "ACE_DAYTONA_BLOCK_NETWORK", cls.block_network),
            create_timeout_s=_float(env, "ACE_DAYTONA_CREATE_TIMEOUT", cls.create_timeout_s),
            max_attempts=_int(env, "ACE_DAYTONA_RETRIES", cls.max_attempts) or cls.max_attempts,
            backoff_max_s=_float(env, "ACE_DAYTONA_BACKOFF_MAX", cls.backoff_max_s),
            reap_on_start=_bool(env, "ACE_DAYTONA_REAP", cls.reap_on_start),
        )


def _default_env() -> dict[str, str]:
    from ai_code_evals.core.config import settings_env

    merged = dict(settings_env())
    merged.pop(API_URL, None)
    if os.environ.get(API_URL):
        merged[API_URL] = os.environ[API_URL]
    return merged


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int = 1) -> int | None:
    return int_setting(env, name, default, minimum)  # type: ignore[arg-type]


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")
