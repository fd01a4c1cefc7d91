"""TUI under load: 16 panes receiving a combined 100,000 lines/s for 10 s, through the real app.

Measures, for the workspace (``WorkspaceApp``: model + batched flush 18x/s) and for a peer in
the same run (the naive way: one ``textual.widgets.Log`` per pane, ``Log.write_line`` per line
from the bus handler):

- lines offered and lines accepted per second (the producer shares the loop with the UI, so a
  slow UI slows it down: what it manages to publish is what the UI keeps up with);
- lines rendered per second: lines that reached a visible pane's view;
- frames per second (compositor updates);
- input-to-frame latency of key presses (``1``/``2`` alternately move focus between two panes,
  every 250 ms, sent through the driver like real input): time from the key entering the app to
  the first frame painted with the new focus; median and worst; keys lost;
- memory: lines held in the model and in the views (bounded by the per-pane caps), peak RSS.

No thresholds: the ratios against the peer are the result. Run:
    uv run python benchmarks/bench_tui.py [--seconds 10] [--rate 100000] [--panes 16]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.widgets import Log

from ai_code_evals.core.events import CandidateAdded, EventBus, OutputLine, RunStarted, Snapshot
from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.model import MODEL_LINE_CAP
from ai_code_evals.tui.widgets.output import VIEW_LINE_CAP

SIZE = (160, 48)
KEY_EVERY_S = 0.25
CHUNK = 500  # lines published between two yields to the event loop


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    offered: int = 0
    accepted: int = 0
    rendered: int = 0
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    keys_sent: int = 0
    lines_in_memory: int = 0
    memory_bound: int = 0

    def per_s(self, n: int) -> float:
        return n / self.seconds if self.seconds else 0.0


def setup_events(panes: int) -> list:
    ev: list = [RunStarted(run_id="bench", record="", tasks=[{"task_id": "bench", "entry_point": "f",
                                                                "reference": False}],
                           profiles=["default"], backend="bench", isolation="", select="score")]
    for k in range(panes):
        ev.append(CandidateAdded(candidate_id=f"bench#{k}", task_id="bench", code="def f():\n    pass\n"))
        ev.append(Snapshot(candidate_id=f"bench#{k}", task_id="bench", profile="default", state="running",
                           seq=0, tests_total=1))
    return ev


class Producer:
    """Publishes OutputLine events at ``rate`` lines/s (round robin over the panes) on the loop."""

    def __init__(self, panes: int, rate: int, seconds: float) -> None:
        self.panes, self.rate, self.seconds = panes, rate, seconds
        self.sent = 0
        self.elapsed = 0.0

    async def __call__(self, bus: EventBus) -> dict:
        for ev in setup_events(self.panes):
            bus.publish(ev)
        await asyncio.sleep(0.5)  # let the grid mount
        start = time.perf_counter()
        counters = [0] * self.panes
        while True:
            now = time.perf_counter() - start
            if now >= self.seconds:
                break
            # lines arrive in small batches, as they would from many sandbox pipes, and the
            # producer yields to the loop between batches like any engine callback would
            due = min(int(self.rate * now), self.sent + CHUNK)
            while self.sent < due:
                k = self.sent % self.panes
                n = counters[k]
                counters[k] = n + 1
                bus.publish(OutputLine(candidate_id=f"bench#{k}", profile="default", stream="stdout",
                                       text=f"bench#{k} line {n}: the quick brown fox jumps over the lazy dog",
                                       n=n))
                self.sent += 1
            await asyncio.sleep(0 if self.sent < int(self.rate * (time.perf_counter() - start)) else 0.001)
        self.elapsed = time.perf_counter() - start
        return {}


class KeyProbe:
    """Sends `1`/`2` through the driver and times the first frame that shows the new focus."""

    def __init__(self, app: App, targets) -> None:
        self.app = app
        self.targets = targets  # callable: key -> widget expected to have focus
        self.pending: tuple[float, str] | None = None
        self.latencies: list[float] = []
        self.sent = 0

    def on_frame(self) -> None:
        if self.pending is None:
            return
        t0, key = self.pending
        if self.app.focused is self.targets(key):
            self.latencies.append(time.perf_counter() - t0)
            self.pending = None

    async def run(self, seconds: float) -> None:
        await asyncio.sleep(0.6)
        end = time.perf_counter() + seconds
        key = "1"
        while time.perf_counter() < end:
            if self.pending is None:
                event = events.Key(key, key)
                event.set_sender(self.app)
                self.pending = (time.perf_counter(), key)
                self.app._driver.send_message(event)
                self.sent += 1
                key = "2" if key == "1" else "1"
            await asyncio.sleep(KEY_EVERY_S)


class MeasuredWorkspace(WorkspaceApp):
    probe: KeyProbe | None = None
    frames = 0

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            self.frames += 1
            if self.probe is not None:
                self.probe.on_frame()


class NaiveApp(App):
    """The peer: a Log per pane, Log.write_line for every line, straight from the bus handler."""

    CSS = "Grid { grid-size: 4 4; } Log { border: round $panel; }"
    BINDINGS = [("1", "focus_log(0)"), ("2", "focus_log(1)")]  # noqa: RUF012 - Textual's class API

    def __init__(self, engine, panes: int) -> None:
        super().__init__()
        self.engine, self.panes = engine, panes
        self.bus = EventBus()
        self.logs = [Log(max_lines=VIEW_LINE_CAP) for _ in range(panes)]
        self.index = {f"bench#{k}": log for k, log in enumerate(self.logs)}
        self.rendered = 0
        self.frames = 0
        self.probe: KeyProbe | None = None

    def compose(self) -> ComposeResult:
        with Grid():
            yield from self.logs

    def on_mount(self) -> None:
        gc.collect()
        gc.freeze()  # the same start-up treatment as the workspace gets, for a fair comparison
        self.bus.subscribe(self.handle_bus_event)
        self.run_worker(self.engine(self.bus))

    def handle_bus_event(self, event) -> None:
        if isinstance(event, OutputLine):
            self.index[event.candidate_id].write_line(event.text)
            self.rendered += 1

    def action_focus_log(self, i: int) -> None:
        self.logs[i].focus()

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            self.frames += 1
            if self.probe is not None:
                self.probe.on_frame()


async def measure_workspace(panes: int, rate: int, seconds: float) -> Result:
    producer = Producer(panes, rate, seconds)
    app = MeasuredWorkspace(engine=producer, gc_freeze=True)  # as run_live does
    result = Result("workspace (batched)")
    async with app.run_test(size=SIZE) as pilot:
        probe = app.probe = KeyProbe(app, lambda key: app.workspace.slots[int(key) - 1])
        await pilot.pause()
        written_before = {}
        probe_task = asyncio.create_task(probe.run(seconds))
        await app.workers.wait_for_complete()
        await probe_task
        app.flush()
        await pilot.pause()
        result.seconds = producer.elapsed
        result.offered = int(rate * producer.elapsed)
        result.accepted = producer.sent
        # lines that reached visible views = output positions of the visible slots
        result.rendered = sum(s.written - written_before.get(s.key, 0) for s in app.workspace.slots)
        result.frames = app.frames
        result.latencies = probe.latencies
        result.keys_sent = probe.sent
        result.lines_in_memory = (sum(len(p.lines) for p in app.model.panes.values())
                                  + sum(s.output.line_count for s in app.workspace.slots))
        result.memory_bound = panes * (MODEL_LINE_CAP + MODEL_LINE_CAP // 4) + len(app.workspace.slots) * VIEW_LINE_CAP
        result.name += f", {len(app.workspace.slots)} of {panes} panes visible"
    return result


async def measure_naive(panes: int, rate: int, seconds: float) -> Result:
    producer = Producer(panes, rate, seconds)
    app = NaiveApp(producer, panes)
    result = Result("naive Log.write_line per line, 16 visible")
    async with app.run_test(size=SIZE) as pilot:
        probe = app.probe = KeyProbe(app, lambda key: app.logs[int(key) - 1])
        await pilot.pause()
        probe_task = asyncio.create_task(probe.run(seconds))
        await app.workers.wait_for_complete()
        await probe_task
        await pilot.pause()
        result.seconds = producer.elapsed
        result.offered = int(rate * producer.elapsed)
        result.accepted = producer.sent
        result.rendered = app.rendered
        result.frames = app.frames
        result.latencies = probe.latencies
        result.keys_sent = probe.sent
        result.lines_in_memory = sum(log.line_count for log in app.logs)
        result.memory_bound = panes * VIEW_LINE_CAP
    return result


def ms(values: list[float], fn) -> str:
    return f"{fn(values) * 1000:8.1f}" if values else "     n/a"


def report(results: list[Result]) -> None:
    print(f"{'':44} {'accepted/s':>11} {'rendered/s':>11} {'frames/s':>9} {'key med ms':>10} "
          f"{'key worst':>9} {'keys lost':>9} {'lines held':>11}")
    for r in results:
        print(f"{r.name:44} {r.per_s(r.accepted):11,.0f} {r.per_s(r.rendered):11,.0f} {r.per_s(r.frames):9.1f} "
              f"{ms(r.latencies, statistics.median):>10} {ms(r.latencies, max):>9} "
              f"{r.keys_sent - len(r.latencies):9d} {r.lines_in_memory:>6,}/{r.memory_bound:,}")
    ours, peer = results

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}x" if b else "n/a"

    print()
    print(f"workspace vs naive peer (same run, same machine): "
          f"accepted {ratio(ours.per_s(ours.accepted), peer.per_s(peer.accepted))}, "
          f"rendered {ratio(ours.per_s(ours.rendered), peer.per_s(peer.rendered))}, "
          f"key latency median {ratio(statistics.median(peer.latencies), statistics.median(ours.latencies)) if ours.latencies and peer.latencies else 'n/a'} lower, "
          f"worst {ratio(max(peer.latencies), max(ours.latencies)) if ours.latencies and peer.latencies else 'n/a'} lower")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100_000, help="combined lines per second offered")
    parser.add_argument("--panes", type=int, default=16)
    args = parser.parse_args(argv)
    print(f"offered load: {args.rate:,} lines/s over {args.panes} panes for {args.seconds:g} s, "
          f"terminal {SIZE[0]}x{SIZE[1]} (headless)", flush=True)
    ours = asyncio.run(measure_workspace(args.panes, args.rate, args.seconds))
    peer = asyncio.run(measure_naive(args.panes, args.rate, args.seconds))
    report([ours, peer])
    return 0


if __name__ == "__main__":
    sys.exit(main())
