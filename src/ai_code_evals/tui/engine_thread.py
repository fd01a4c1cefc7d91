"""The engine on a thread of its own, with its own event loop, beside the app's.

Why: on the app's loop the engine waited behind every frame the app drew, and a frame of a
big screen takes longer than running a sandbox on a loaded machine. With 3,280 real versions
(benchmarks/bench_tui_scale.py) the TUI run took 1.5-2x the headless run's time; on its own
thread the engine is scheduled while the app draws (Python switches threads every few
milliseconds), as headless.

Events cross over through an ``EventInbox``: the engine's thread appends, the app's refresh
timer takes them all and feeds its model, so the model and the widgets are touched by the
app's thread only, and ingestion costs O(events) per frame, whatever the size of the run.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable

from ai_code_evals.core.events import Event, EventBus

EngineFn = Callable[[EventBus], Awaitable[dict]]


class EventInbox:
    """Events waiting for the app's thread. ``put`` from any thread, ``take_all`` from the app's
    (deque appends and pops are atomic)."""

    def __init__(self) -> None:
        self._events: deque[Event] = deque()

    def put(self, event: Event) -> None:
        self._events.append(event)

    def take_all(self) -> list[Event]:
        events = self._events
        out = []
        while events:
            out.append(events.popleft())
        return out

    def __len__(self) -> int:
        return len(self._events)


class EngineThread:
    """Runs ``engine(bus)`` to its end on a new thread and event loop.

    ``await run()`` from the app's loop returns the engine's result or raises its exception.
    Cancelling that await cancels the engine on its thread and waits until the engine has
    finished (the engine destroys its sandboxes when cancelled), then re-raises.
    """

    def __init__(self, engine: EngineFn, bus: EventBus, name: str = "ai-code-evals engine") -> None:
        self._engine = engine
        self._bus = bus
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._cancel_requested = False
        self.thread: threading.Thread | None = None

    async def run(self) -> dict:
        app_loop = asyncio.get_running_loop()
        done: asyncio.Future = app_loop.create_future()

        def settle(result=None, error: BaseException | None = None) -> None:  # on the app's loop
            if done.done():
                return
            if isinstance(error, asyncio.CancelledError):
                done.cancel()
            elif error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        def main() -> None:
            try:
                result = asyncio.run(self._main())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                outcome = (None, exc)
            else:
                outcome = (result, None)
            with contextlib.suppress(RuntimeError):  # the app's loop is gone: nobody waits
                app_loop.call_soon_threadsafe(settle, *outcome)

        self.thread = threading.Thread(target=main, name=self._name, daemon=True)
        self.thread.start()
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            self.cancel()
            while not done.done():  # the engine destroys its sandboxes before it returns;
                with contextlib.suppress(BaseException):  # a second cancel does not skip that
                    await asyncio.shield(done)
            raise

    async def _main(self) -> dict:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            if self._cancel_requested:
                raise asyncio.CancelledError
        return await self._engine(self._bus)

    def cancel(self) -> None:
        """Ask the engine to stop (from any thread); ``run`` returns once it has."""
        with self._lock:
            self._cancel_requested = True
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # its loop already closed: it ended
                    self._loop.call_soon_threadsafe(self._task.cancel)

    def call_soon(self, fn: Callable[..., object], *args) -> bool:
        """Call ``fn(*args)`` on the engine's thread (e.g. publish a pick, so that the run log has
        one writer); False when the engine's loop is not running (then call it yourself)."""
        with self._lock:
            loop = self._loop
        if loop is None or not self.running:
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # closed meanwhile
            return False
        return True

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()
