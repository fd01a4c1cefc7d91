"""Publishing what a sandbox backend says about itself, for the progress line and the TUI.

A backend with a ``status()`` method (Daytona: sandboxes alive, the effective and the allowed
create rate, creates waiting for their turn, 429s and retries) gets polled once a second; a
changed line goes on the bus as a BackendStatus event. Backends without one cost nothing.
"""
from __future__ import annotations

import asyncio
import logging

from ai_code_evals.core.events import BackendStatus, EventBus

log = logging.getLogger(__name__)
EVERY_S = 1.0


def status_line(s: dict) -> str:
    """One short line: ``12/32 sandboxes · creates 410/min (limit 480) · throttled: 6 waiting``."""
    bits = []
    if "alive" in s:
        bits.append(f"{s['alive']}/{s.get('jobs', '?')} sandboxes")
    if "creates_per_min" in s:
        limit = s.get("limit_per_min")
        configured = s.get("configured_per_min")
        shown = f"limit {limit:g}" + (f" of {configured:g}" if configured and limit and limit < configured else "")
        bits.append(f"creates {s['creates_per_min']:g}/min ({shown})")
    throttle = []
    if s.get("paused_s"):
        throttle.append(f"paused {s['paused_s']:g}s by a 429")
    if s.get("waiting"):
        throttle.append(f"{s['waiting']} waiting")
    if s.get("rate_limited"):
        throttle.append(f"{s['rate_limited']}x 429")
    if throttle:
        bits.append("throttled: " + ", ".join(throttle))
    if s.get("retries"):
        bits.append(f"{s['retries']} retries")
    return " · ".join(bits)


async def publish_backend_status(backend, bus: EventBus, every_s: float = EVERY_S) -> None:
    """Until cancelled: publish the backend's status line whenever it changed."""
    status = getattr(backend, "status", None)
    if status is None:
        return
    last = None
    while True:
        await asyncio.sleep(every_s)
        try:
            data = status()
            text = status_line(data)
        except Exception as exc:  # noqa: BLE001 - a status is for show: never stop a run for it
            log.debug("backend status: %s", exc)
            continue
        if text != last:
            last = text
            bus.publish(BackendStatus(text=text, data=data))
