"""The workspace at real scale: 3,280 real versions (the first 40 of each of the 82 tasks of
../shared/data/codet-humaneval-dev, CodeGen-16B samples) through the real engine and the
real local backend, with the TUI open, and the same files headless as the peer.

Four runs in one process, in this order (same loader, same engine): headless, the TUI watched
(nobody presses a key), the TUI with a key every 300 ms, headless again. The peer of each TUI
run is the mean of the two headless runs around them (the machine's load drifts). Measures:
- the TUI runs' wall time against the headless runs' (ratios): watched is what opening the TUI
  costs a run; with keys adds what a user paging through it all the time costs;
- first frame: from the start of loading the files to the app's first frame, and to the first
  frame that shows panes;
- key latency while the sandboxes run: keys sent through the driver like real input every
  300 ms (pgdn, pgup, a pane digit, z, z, s, arrows, / and g opening and esc closing), timed from the key entering
  the app to the first frame showing its effect; median and worst, keys lost;
- the app's main-thread CPU in each TUI run, and per key (the keys' run minus the watched one);
- the app's peak RSS during the TUI runs (sampled from /proc/self/status).

No thresholds: the figures and the ratios are the result. Run:
    uv run python benchmarks/bench_tui_scale.py [--per-task 40] [--tasks 82]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from textual import events
from textual.screen import ModalScreen

from ai_code_evals.core.settings import Settings
from ai_code_evals.session import Run, RunRequest
from ai_code_evals.tui.app import WorkspaceApp

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "codet-humaneval-dev"
SIZE = (160, 48)
KEY_EVERY_S = 0.3
KEY_GIVE_UP_S = 5.0
CHARS = {"slash": "/"}


def make_samples(per_task: int, tasks: int, out: Path) -> tuple[Path, int]:
    """The first ``per_task`` samples of the first ``tasks`` tasks, in file order."""
    task_rows = [json.loads(line) for line in (DATA / "tasks_with_tests.jsonl").read_text().splitlines() if line]
    keep = {r["task_id"] for r in task_rows[:tasks]}
    (out / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in task_rows if r["task_id"] in keep))
    seen: dict[str, int] = defaultdict(int)
    rows = []
    with (DATA / "samples.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            if row["task_id"] in keep and seen[row["task_id"]] < per_task:
                seen[row["task_id"]] += 1
                rows.append(row)
    path = out / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, len(rows)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request(tmp: Path, samples: Path, name: str) -> RunRequest:
    return RunRequest(tasks=[str(tmp / "tasks.jsonl")], samples=str(samples), record=str(tmp / f"{name}.jsonl"))


async def headless_run(tmp: Path, samples: Path, name: str = "headless") -> float:
    t0 = time.perf_counter()
    req = request(tmp, samples, name)
    run = Run.start(req, Settings.load())
    try:
        await run.execute()
    finally:
        run.close()
    return time.perf_counter() - t0


class KeyProbe:
    """Sends keys through the driver; a key is answered at the first frame whose state differs
    from the state before it (page, focus, zoom, task, filter)."""

    KEYS = ("pagedown", "3", "z", "z", "s", "right", "4", "down", "slash", "escape", "g", "escape", "pagedown",
            "pageup")  # each changes what is shown (pageup after pagedown: never on the first page)

    def __init__(self, app: WorkspaceApp) -> None:
        self.app = app
        self.pending: tuple[float, tuple, str] | None = None
        self.latencies: list[tuple[str, float]] = []
        self.lost = 0
        self.lost_keys: list[str] = []
        self.sent = 0

    def state(self) -> tuple:
        app = self.app
        return (app.workspace.page, id(app.focused), app.screen.maximized is not None, app.leaderboard.task_id,
                type(app.screen).__name__)

    def on_frame(self) -> None:
        if self.pending is None:
            return
        t0, before, key = self.pending
        if self.state() != before:
            self.latencies.append((key, time.perf_counter() - t0))
            self.pending = None

    async def run(self, until) -> None:
        while not until() and not (self.app.workspace.laid_out and self.app.workspace.pages > 2):
            await asyncio.sleep(0.05)  # a page key before there are pages to turn would do nothing
        i = 0
        while not until():
            if self.pending is not None and time.perf_counter() - self.pending[0] > KEY_GIVE_UP_S:
                self.lost += 1
                self.lost_keys.append(self.pending[2])
                self.pending = None
                if isinstance(self.app.screen, ModalScreen):  # leave no box open behind a lost key
                    self.app.pop_screen()
            if self.pending is None:
                key = self.KEYS[i % len(self.KEYS)]
                i += 1
                event = events.Key(key, CHARS.get(key, key if len(key) == 1 else None))
                event.set_sender(self.app)
                self.pending = (time.perf_counter(), self.state(), key)
                self.app._driver.send_message(event)
                self.sent += 1
            await asyncio.sleep(KEY_EVERY_S)


class MeasuredApp(WorkspaceApp):
    probe: KeyProbe | None = None
    first_frame: float | None = None  # the first frame showing panes
    first_any: float | None = None  # the first frame at all (the app on screen, answering keys)
    t0 = 0.0
    peak_rss = 0

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is None:
            return
        if self.first_any is None:
            self.first_any = time.perf_counter() - self.t0
        if self.first_frame is None and self.workspace.slots and self.workspace.slots[0].key is not None:
            self.first_frame = time.perf_counter() - self.t0
        if self.probe is not None:
            self.probe.on_frame()


async def tui_run(tmp: Path, samples: Path, keys: bool = True) -> dict:
    t0 = time.perf_counter()
    cpu0 = time.thread_time()
    req = request(tmp, samples, "tui-keys" if keys else "tui")
    run = Run.start(req, Settings.load())  # as the CLI does: files read, checked, de-duplicated
    load_s = time.perf_counter() - t0

    app = MeasuredApp(run=run, gc_freeze=True)
    app.t0 = t0

    def finished() -> bool:
        return app.run_done or app.engine_error is not None

    try:
        async with app.run_test(size=SIZE) as pilot:
            probe = app.probe = KeyProbe(app)

            async def sample_rss():
                while not finished():
                    app.peak_rss = max(app.peak_rss, rss_kib())
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample_rss())
            pressing = asyncio.create_task(probe.run(finished) if keys else asyncio.sleep(0))
            while not finished():
                await asyncio.sleep(0.02)
            run_s = time.perf_counter() - t0
            main_cpu_s = time.thread_time() - cpu0
            await pressing
            await sampler
            app.flush()
            await pilot.pause()
            done = app.model.results_done
            panes = len(app.model.pane_order)
            slots = len(app.workspace.slots)
    finally:
        run.close()
    return {"run_s": run_s, "main_cpu_s": main_cpu_s, "first_frame_s": app.first_frame, "first_any_s": app.first_any, "load_s": load_s,
            "latencies": probe.latencies, "lost": probe.lost, "lost_keys": probe.lost_keys, "sent": probe.sent,
            "peak_rss_mib": app.peak_rss / 1024, "finished": done, "panes": panes, "slots": slots,
            "error": app.engine_error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-task", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=82)
    args = parser.parse_args(argv)
    if not (DATA / "samples.jsonl").exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-tui-scale-") as tmp_s:
        tmp = Path(tmp_s)
        samples, n = make_samples(args.per_task, args.tasks, tmp)
        print(f"{n} versions of {args.tasks} tasks ({args.per_task} each), local backend, default jobs")
        first_s = asyncio.run(headless_run(tmp, samples))
        print(f"headless run: {first_s:.1f} s  (load {os.getloadavg()[0]:.1f})")
        watched = asyncio.run(tui_run(tmp, samples, keys=False))
        print(f"TUI watched:  {watched['run_s']:.1f} s  (load {os.getloadavg()[0]:.1f})")
        tui = asyncio.run(tui_run(tmp, samples, keys=True))
        print(f"TUI, keys:    {tui['run_s']:.1f} s  (load {os.getloadavg()[0]:.1f})")
        last_s = asyncio.run(headless_run(tmp, samples, "headless-again"))
        print(f"headless run: {last_s:.1f} s  (load {os.getloadavg()[0]:.1f})")
    headless_s = (first_s + last_s) / 2
    lat = [s for _, s in tui["latencies"]]
    by_key: dict[str, list[float]] = defaultdict(list)
    for key, s in tui["latencies"]:
        by_key[key].append(s)
    print(f"TUI watched:  {watched['run_s'] / headless_s:.2f}x the headless runs' mean ({headless_s:.1f} s); "
          f"app main thread {watched['main_cpu_s']:.1f} s CPU ({watched['finished']}/{watched['panes']} finished)")
    print(f"TUI, keys:    {tui['run_s'] / headless_s:.2f}x; app main thread {tui['main_cpu_s']:.1f} s CPU, "
          f"{1000 * (tui['main_cpu_s'] - watched['main_cpu_s']) / max(1, tui['sent']):.0f} ms per key "
          f"({tui['finished']}/{tui['panes']} finished, {tui['slots']} panes drawn)")
    for one in (watched, tui):
        if one["error"]:
            print(f"the engine failed: {one['error']}")
    print(f"first frame:  {watched['first_any_s']:.2f} s after loading started ({watched['load_s']:.2f} s reading, checking "
          f"and de-duplicating the files, as headless does); first panes at {watched['first_frame_s']:.2f} s")
    if lat:
        print(f"key latency while sandboxes run: median {statistics.median(lat) * 1000:.0f} ms, "
              f"worst {max(lat) * 1000:.0f} ms over {len(lat)} keys ({tui['lost']} lost of {tui['sent']}"
              + (f": {', '.join(tui['lost_keys'])}" if tui["lost_keys"] else "") + ")")
        for key, values in sorted(by_key.items()):
            print(f"  {key:<9} median {statistics.median(values) * 1000:6.0f} ms  worst {max(values) * 1000:6.0f} ms"
                  f"  ({len(values)})")
    print(f"app peak RSS during the TUI runs: {max(watched['peak_rss_mib'], tui['peak_rss_mib']):.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
