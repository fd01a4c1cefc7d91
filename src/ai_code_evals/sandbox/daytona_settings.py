"""Settings of the Daytona backend, taken from the app's settings (environment, .env, config).

Kept apart from the backend so that reading and checking settings never imports the
Daytona SDK (which is slow to import). Every bad value is one ConfigError sentence.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.core.settings import Settings, as_settings

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
    def from_env(cls, env: Settings | Mapping[str, str] | None = None) -> DaytonaSettings:
        """From the app's settings; None loads them (then DAYTONA_API_URL, like the SDK, comes only
        from the process environment: a .env in the working directory must not be able to send
        the API key elsewhere); a mapping of variables is validated alone."""
        s = as_settings(env)
        key = (s.daytona_api_key or "").strip()
        if not key:
            raise ConfigError(
                f"{API_KEY} is not set: put your Daytona API key in the environment or in .env "
                "to use --backend daytona")
        snapshot, image = _text(s.ace_daytona_snapshot), _text(s.ace_daytona_image)
        if snapshot and image:
            raise ConfigError("set ACE_DAYTONA_SNAPSHOT or ACE_DAYTONA_IMAGE, not both")
        if (s.ace_daytona_cpu or s.ace_daytona_memory or s.ace_daytona_disk) and not image:
            raise ConfigError(
                "ACE_DAYTONA_CPU/MEMORY/DISK need ACE_DAYTONA_IMAGE: a snapshot brings its own resources")
        api_url = _text(s.daytona_api_url)
        if api_url and not api_url.startswith(("http://", "https://")):
            raise ConfigError(f"{API_URL} must be an http(s) URL, got {api_url!r}")
        return cls(
            api_key=key,
            api_url=api_url,
            target=_text(s.daytona_target),
            snapshot=snapshot,
            image=image,
            cpu=s.ace_daytona_cpu,
            memory_gib=s.ace_daytona_memory,
            disk_gib=s.ace_daytona_disk,
            concurrency=s.ace_daytona_concurrency,
            creates_per_minute=s.ace_daytona_creates_per_minute,
            create_burst=s.ace_daytona_create_burst,
            auto_stop_minutes=s.ace_daytona_auto_stop_minutes,
            block_network=s.ace_daytona_block_network,
            create_timeout_s=s.ace_daytona_create_timeout,
            max_attempts=s.ace_daytona_retries,
            backoff_max_s=s.ace_daytona_backoff_max,
            reap_on_start=s.ace_daytona_reap,
        )


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None
