"""Checking the Daytona settings against the API before any version starts.

A wrong key, a wrong API URL, an unknown target or snapshot would otherwise fail every
sandbox of the run, one infrastructure error at a time. Here they stop the run at once, in one
ConfigError line that names the setting and the fix. Uses a client of its own (closed before
returning), so it can run on any event loop, before the run's.
"""
from __future__ import annotations

import asyncio

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.sandbox.daytona_settings import API_KEY, API_URL, TARGET, DaytonaSettings

CLOUD_URL = "https://app.daytona.io/api"
PREFLIGHT_TIMEOUT_S = 30.0


async def preflight(settings: DaytonaSettings) -> None:
    """Raise ConfigError when the key, URL, target or snapshot cannot work."""
    from daytona import AsyncDaytona, DaytonaConfig

    client = AsyncDaytona(DaytonaConfig(api_key=settings.api_key, api_url=settings.api_url,
                                        target=settings.target))
    try:
        async with asyncio.timeout(PREFLIGHT_TIMEOUT_S):
            await _check_access(client, settings)
            if settings.target:
                await _check_target(client, settings.target)
            if settings.snapshot:
                await _check_snapshot(client, settings.snapshot)
    except TimeoutError:
        raise ConfigError(f"{API_URL} {_url(settings)} did not answer within {PREFLIGHT_TIMEOUT_S:g}s: "
                          f"check the URL (or unset it to use Daytona's cloud) and your network") from None
    finally:
        try:
            await client.close()
        except Exception:  # noqa: BLE001, S110 - closing a checking client is best effort
            pass


def _url(settings: DaytonaSettings) -> str:
    return settings.api_url or CLOUD_URL


async def _check_access(client, settings: DaytonaSettings) -> None:
    from daytona import DaytonaAuthenticationError, DaytonaError, DaytonaForbiddenError, ListSandboxesQuery

    try:
        async for _ in client.list(ListSandboxesQuery(labels={"app": "ai-code-evals"})):
            break
    except (DaytonaAuthenticationError, DaytonaForbiddenError):
        raise ConfigError(f"{API_KEY} was refused by {_url(settings)}: create a key in the Daytona "
                          f"dashboard (Keys) and set {API_KEY} to it") from None
    except DaytonaError as exc:
        status = exc.status_code
        if status is not None and status < 500 and status != 429:
            raise ConfigError(f"{API_URL} {_url(settings)} does not answer like Daytona's API (HTTP {status}): "
                              f"it usually ends in /api; unset it to use Daytona's cloud") from None
        if status is None:
            raise ConfigError(f"{API_URL} {_url(settings)} cannot be reached ({_first_line(exc)}): "
                              f"check the URL (or unset it to use Daytona's cloud) and your network") from None
        # a 5xx or a 429 says the API is there: the run's own retries deal with the rest


async def _check_target(client, target: str) -> None:
    """Only when the organisation's regions can be listed; otherwise the create says it."""
    from daytona_api_client_async import OrganizationsApi

    api_client = getattr(client, "_api_client", None)
    if api_client is None:
        return
    try:
        regions = await OrganizationsApi(api_client).list_available_regions()
    except Exception:  # noqa: BLE001 - an API without the listing: nothing to check here
        return
    names = sorted({r.name for r in regions} | {r.id for r in regions})
    if names and target not in names:
        raise ConfigError(f"{TARGET} {target!r} is not a region of this organisation: set it to one of "
                          f"{', '.join(names)}, or unset it to use the organisation's default")


async def _check_snapshot(client, snapshot: str) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError

    try:
        await client.snapshot.get(snapshot)
    except DaytonaNotFoundError:
        raise ConfigError(f"ACE_DAYTONA_SNAPSHOT {snapshot!r} does not exist in this organisation: set it to "
                          "a snapshot listed in the Daytona dashboard (Snapshots), or unset it for the "
                          "default one") from None
    except DaytonaError as exc:
        if exc.status_code in (400, 404):
            raise ConfigError(f"ACE_DAYTONA_SNAPSHOT {snapshot!r} is not usable ({_first_line(exc)}): set it "
                              "to a snapshot listed in the Daytona dashboard, or unset it") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
