"""The engine's own thread: result, failure, cancellation that waits for the cleanup, and the
inbox that carries its events to the app's thread."""
from __future__ import annotations

import asyncio
import threading

import pytest

from ai_code_evals.core.events import EngineNotice, EventBus
from ai_code_evals.tui.engine_thread import EngineThread, EventInbox


async def test_the_engine_runs_on_another_thread_and_its_result_comes_back():
    bus = EventBus()
    inbox = EventInbox()
    bus.subscribe(inbox.put)
    app_thread = threading.get_ident()
    seen = {}

    async def engine(b: EventBus) -> dict:
        seen["thread"] = threading.get_ident()
        for i in range(3):
            b.publish(EngineNotice(f"n{i}"))
            await asyncio.sleep(0)
        return {"ok": True}

    assert await EngineThread(engine, bus).run() == {"ok": True}
    assert seen["thread"] != app_thread
    assert [e.message for e in inbox.take_all()] == ["n0", "n1", "n2"]
    assert inbox.take_all() == []


async def test_an_engine_failure_is_raised_to_the_awaiting_side():
    async def engine(_bus: EventBus) -> dict:
        raise ValueError("broken engine")

    with pytest.raises(ValueError, match="broken engine"):
        await EngineThread(engine, EventBus()).run()


async def test_cancelling_waits_until_the_engine_has_cleaned_up_even_when_cancelled_twice():
    started = threading.Event()
    state = {"cancelled": False, "cleaned": False}

    async def engine(_bus: EventBus) -> dict:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            state["cancelled"] = True
            await asyncio.sleep(0.2)  # like destroying sandboxes
            state["cleaned"] = True
            raise
        return {}

    runner = EngineThread(engine, EventBus())
    task = asyncio.ensure_future(runner.run())
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # e.g. the app's shutdown cancelling its workers again
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state == {"cancelled": True, "cleaned": True}
    runner.thread.join(5)
    assert not runner.running


async def test_call_soon_runs_on_the_engine_thread_while_it_runs():
    release = threading.Event()
    ran_on = []

    async def engine(_bus: EventBus) -> dict:
        while not release.is_set():
            await asyncio.sleep(0.005)
        return {}

    runner = EngineThread(engine, EventBus())
    task = asyncio.ensure_future(runner.run())
    while not runner.call_soon(lambda: ran_on.append(threading.get_ident())):
        await asyncio.sleep(0.01)
    while not ran_on:
        await asyncio.sleep(0.01)
    release.set()
    await task
    assert ran_on[0] == runner.thread.ident
    assert not runner.call_soon(lambda: None)  # over: the caller does it itself
