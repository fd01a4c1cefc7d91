"""The TUI's model layer without Textual: sanitiser, run model, time travel, themes, amending a log."""
from __future__ import annotations

import json

import pytest
from tui_fakes import RUN_ID, scripted_events

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import EventBus, OutputLine, Snapshot, TaskSelected
from ai_code_evals.core.sanitize import sanitize_line
from ai_code_evals.core.settings import Settings
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.tui.amend import amend_user_selection
from ai_code_evals.tui.model import MODEL_LINE_CAP, RunModel
from ai_code_evals.tui.themes import ThemeFileError, load_themes, parse_theme
from ai_code_evals.tui.travel import TimeTravel


# -- sanitiser ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, shown", [
    ("plain text", "plain text"),
    ("\x1b[2J\x1b[H cleared", "^[[2J^[[H cleared"),
    ("\x1b]0;pwned\x07 after", "^[]0;pwned^G after"),
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "^[]8;;http://x^[\\link^[]8;;^[\\"),
    ("\x1b[31mred\x1b[0m", "red"),
    ("50%\r100%", "100%"),
    ("line\r\n", "line"),
    ("a\tb", "a   b"),
    ("bell\x07", "bell^G"),
    ("\x9b2J csi8", "^[2J csi8".replace("^[", "<U+009B>")),
    ("rtl \u202eevil", "rtl <U+202E>evil"),
    ("\x1bPq sixel \x1b\\", "^[Pq sixel ^[\\"),
])
def test_sanitize_neutralises_control_sequences(raw, shown):
    out = sanitize_line(raw)
    assert out == shown
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)


def test_sanitize_caps_long_lines():
    assert len(sanitize_line("x" * 10_000)) <= 2001


# -- model ---------------------------------------------------------------------------------------
def build_model(events=None) -> RunModel:
    model = RunModel()
    for ev in events or scripted_events():
        model.ingest_event(ev)
    return model


def test_a_logged_line_is_the_event_the_engine_published():
    """What the model reads from a log is parsed back into the engine's own types: a model fed
    the events and one fed their log lines end up the same."""
    live, logged = RunModel(), RunModel()
    for ev in scripted_events():
        live.ingest_event(ev)
        logged.ingest(ev.kind, ev.to_data())
    assert logged.pane_order == live.pane_order and logged.summary == live.summary
    assert {k: p.snapshots for k, p in logged.panes.items()} == {k: p.snapshots for k, p in live.panes.items()}
    assert {t: m.engine_selection for t, m in logged.tasks.items()} == \
        {t: m.engine_selection for t, m in live.tasks.items()}


def test_clean_output_is_not_copied_and_hostile_output_is_made_safe():
    from ai_code_evals.tui.model import terminal_safe

    clean = OutputLine(candidate_id="t#0", profile="default", stream="stderr", text="x", n=3)
    assert terminal_safe(clean) is clean
    hostile = OutputLine(candidate_id="t#0", profile="default", stream="stdout", text="\x1b]52;c;aGk=\x07", n=4)
    assert "\x1b" not in terminal_safe(hostile).text


def test_model_builds_panes_tasks_leaderboard_and_selection():
    model = build_model()
    assert model.run_id == RUN_ID
    assert list(model.tasks) == ["sort_unique", "to_int"]
    assert len(model.panes) == 6
    rows = model.leaderboard("sort_unique")
    assert [r.candidate_id for r in rows][:2] == ["sort_unique#0", "sort_unique#1"]
    assert rows[0].pick == "winner" and rows[0].status == "passed"
    assert rows[-1].status == "timeout"
    assert model.tasks["sort_unique"].winner == "sort_unique#0"
    assert model.finished and model.summary["run_id"] == RUN_ID
    _, _, _, notices = model.drain()
    assert any("stopped responding" in m for _, m in notices)


def test_leaderboard_is_provisional_before_selection_and_shows_running_rows():
    events = scripted_events()
    first_result = next(i for i, e in enumerate(events) if e.kind == "result")
    model = build_model(events[: first_result + 1])
    rows = model.leaderboard("sort_unique")
    assert rows[0].finished and rows[0].score is not None  # provisional score from the formula
    assert any(not r.finished and r.status in ("queued", "running", "starting") for r in rows)


def test_user_selection_sits_beside_engine_pick():
    model = build_model()
    sel = TaskSelected(task_id="sort_unique", winner="sort_unique#1", reason="mine", strategy="user", by="user")
    model.ingest(sel.kind, sel.to_data())
    task = model.tasks["sort_unique"]
    assert task.winner == "sort_unique#1"
    assert task.engine_selection["winner"] == "sort_unique#0"
    picks = {r.candidate_id: r.pick for r in model.leaderboard("sort_unique")}
    assert picks["sort_unique#1"] == "winner (you)" and picks["sort_unique#0"] == "engine pick"


def test_model_ignores_unknown_and_damaged_events():
    model = RunModel()
    model.ingest("sampling", {"prompt": "x"})
    model.ingest("match", {})
    model.ingest("snapshot", {})
    model.ingest("result", {"candidate_id": "a#0", "task_id": "a", "result": {"status": 3}})
    model.ingest("stdout", {"candidate_id": "zz#1", "text": "orphan"})
    assert model.leaderboard("a")[0].status == "error"
    assert model.panes[("zz#1", "default")].total == 1


def test_time_travel_reads_output_and_state_at_each_snapshot():
    model = build_model()
    key = ("sort_unique#2", "default")
    pane = model.panes[key]
    for i, snap in enumerate(pane.snapshots):
        shown, end = model.pane_snapshot(key, i)
        assert shown is snap
        lines, missing = pane.tail(end, 1000)
        assert len(lines) == snap["output_lines"] and missing == 0
    travel = TimeTravel(model)
    assert travel.index_for(key) is None
    assert travel.step(key, -1) and travel.index_for(key) == len(pane.snapshots) - 2
    assert travel.step(key, -100) and travel.index_for(key) == 0
    assert not travel.step(key, -1)
    for _ in range(len(pane.snapshots) - 1):
        travel.step(key, 1)
    assert travel.index_for(key) == len(pane.snapshots) - 1
    assert travel.step(key, 1) and travel.index_for(key) is None  # past the last snapshot: live


def test_global_time_travel_places_every_pane_at_the_same_moment():
    model = build_model()
    travel = TimeTravel(model)
    travel.toggle_all()
    assert travel.step(None, -len(model.timeline))  # to the very first snapshot
    assert travel.global_pos == 0
    first = model.timeline[0]
    assert travel.index_for(first) == 0
    others = [k for k in model.pane_order if k != first]
    assert all(travel.index_for(k) == -1 for k in others)  # not started yet at that moment
    travel.step(None, 10)
    ts = travel.global_ts()
    for key in model.pane_order:
        i = travel.index_for(key)
        if i is not None and i >= 0:
            assert model.panes[key].snapshots[i]["ts"] <= ts


def test_history_is_capped_and_jumps_stay_bounded():
    model = RunModel()
    key = ("big#0", "default")
    total = MODEL_LINE_CAP * 3
    for n in range(total):
        if n % 1000 == 0:
            snap = Snapshot(candidate_id="big#0", task_id="big", profile="default", state="running", seq=n // 1000,
                            output_lines=n, ts=float(n))
            model.ingest(snap.kind, snap.to_data())
        model.ingest("stdout", {"candidate_id": "big#0", "profile": "default", "stream": "stdout",
                                "text": f"line {n}", "n": n})
    pane = model.panes[key]
    assert pane.total == total
    assert len(pane.lines) <= MODEL_LINE_CAP + MODEL_LINE_CAP // 4
    lines, missing = pane.tail(total, 50)
    assert [t for t, _ in lines][-1] == f"line {total - 1}" and len(lines) == 50 and missing == 0
    assert len(pane.err) == len(pane.lines)
    early, missing = pane.tail(1000, 50)  # an early snapshot: its lines are gone from memory
    assert early == [] and missing == 50
    _, end = model.pane_snapshot(key, len(pane.snapshots) - 1)
    lines, _ = pane.tail(end, 20)
    assert lines[-1][0] == f"line {end - 1}"


# -- the same model from a run log ---------------------------------------------------------------
def write_log(tmp_path, events=None):
    path = tmp_path / "run.jsonl"
    log = RunLog(path, RUN_ID, {"run_config": {}})
    bus = EventBus()
    bus.subscribe(log.on_event)
    for ev in events or scripted_events():
        bus.publish(ev)
    log.close()
    return path


def test_replayed_log_gives_the_same_leaderboard_as_live(tmp_path):
    live = build_model()
    replayed = RunModel()
    replayed.ingest_record(read_record(write_log(tmp_path)))
    for tid in live.tasks:
        assert [(r.candidate_id, r.status, r.tests) for r in replayed.leaderboard(tid)] == \
               [(r.candidate_id, r.status, r.tests) for r in live.leaderboard(tid)]
    assert {k: len(p.snapshots) for k, p in replayed.panes.items()} == \
           {k: len(p.snapshots) for k, p in live.panes.items()}


def test_amend_inserts_user_selection_before_final_report(tmp_path):
    path = write_log(tmp_path)
    before = read_record(path)
    sel = TaskSelected(task_id="to_int", winner="to_int#1", reason="I like it", strategy="user", by="user")
    new_id = amend_user_selection(path, sel.to_data())
    after = read_record(path)
    assert new_id == before.next_event_id
    assert len(after.events) == len(before.events) + 1
    last = after.events[-1]
    assert last["type"] == "selection" and last["data"]["by"] == "user" and last["event_id"] == new_id
    assert after.final_report["user_selections"]["to_int"]["winner"] == "to_int#1"
    assert json.loads(path.read_text().splitlines()[-1]).keys() >= {"final_report"}
    amend_user_selection(path, {**sel.to_data(), "winner": "to_int#0"})
    again = read_record(path)
    assert again.final_report["user_selections"]["to_int"]["winner"] == "to_int#0"
    assert [e["event_id"] for e in again.events] == sorted(e["event_id"] for e in again.events)
    assert not list(tmp_path.glob(".run.jsonl.*"))  # no temp file left behind


def test_amend_an_interrupted_log_appends_and_drops_a_cut_line(tmp_path):
    path = tmp_path / "cut.jsonl"
    log = RunLog(path, RUN_ID)
    bus = EventBus()
    bus.subscribe(log.on_event)
    for ev in scripted_events()[:20]:
        bus.publish(ev)
    log._fh.close()
    log._fh = None
    with open(path, "a") as fh:
        fh.write('{"run_id": "x", "event_id": 99, "type": "std')  # killed mid-line
    sel = TaskSelected(task_id="sort_unique", winner="sort_unique#0", reason="r", strategy="user", by="user")
    amend_user_selection(path, sel.to_data())
    rec = read_record(path)
    assert rec.final_report is None and not rec.truncated_tail
    assert rec.events[-1]["type"] == "selection"


def test_amend_a_missing_file_is_one_readable_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        amend_user_selection(tmp_path / "nope.jsonl", {"task_id": "t", "winner": "t#0"})


# -- themes --------------------------------------------------------------------------------------
def test_bundled_themes_load_light_dark_high_contrast(monkeypatch):
    monkeypatch.delenv("ACE_THEME_DIR", raising=False)
    themes, problems = load_themes()
    names = {t.name for t in themes}
    assert {"ace-dark", "ace-light", "ace-high-contrast"} <= names and problems == []
    assert any(not t.dark for t in themes) and any(t.dark for t in themes)


@pytest.mark.parametrize("text, message", [
    ('primary = "#fff"', "missing required key 'name'"),
    ('name = "x"', "missing required key 'primary'"),
    ('name = "x"\nprimary = "not-a-colour"', "is not a colour"),
    ('name = "x"\nprimary = "#fff"\nsparkle = true', "unknown key 'sparkle'"),
    ('name = "x"\nprimary = "#fff"\ndark = "yes"', "'dark' must be true or false"),
    ('name = "x"\nprimary = "#fff"\nvariables = 3', "[variables] must be a table"),
    ('name = "x\nprimary', "not valid TOML"),
])
def test_bad_theme_files_give_one_readable_line(text, message):
    with pytest.raises(ThemeFileError) as info:
        parse_theme(text, "my.toml")
    assert message in str(info.value) and str(info.value).startswith("my.toml: ")
    assert "\n" not in str(info.value)


def test_user_theme_dir_from_env_adds_and_reports(tmp_path, monkeypatch):
    (tmp_path / "solar.toml").write_text('name = "solar"\nprimary = "#b58900"\n[variables]\nborder = "#93a1a1"\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\n')
    monkeypatch.setenv("ACE_THEME_DIR", str(tmp_path))
    themes, problems = load_themes(theme_dir_setting=Settings.load().ace_theme_dir)
    assert "solar" in {t.name for t in themes}
    assert len(problems) == 1 and "broken.toml" in problems[0]
    solar = next(t for t in themes if t.name == "solar")
    assert solar.variables == {"border": "#93a1a1"}


def test_panes_are_grouped_by_task_then_candidate_whatever_the_arrival_order():
    events = scripted_events()
    head = [e for e in events if e.kind in ("run_started", "candidate")]
    snaps = [e for e in events if e.kind == "snapshot" and e.state == "queued"]
    model = build_model(head + list(reversed(snaps)))  # to_int's panes arrive first
    assert [k[0] for k in model.pane_order] == ["sort_unique#0", "sort_unique#1", "sort_unique#2",
                                                 "sort_unique#3", "to_int#0", "to_int#1"]
    row = next(r for r in model.leaderboard("sort_unique") if r.candidate_id == "sort_unique#0")
    assert row.status == "queued" and not row.finished


def test_generation_deltas_show_partial_code_until_the_candidate_arrives():
    from ai_code_evals.core.events import CandidateAdded, GenerationDelta

    model = RunModel()
    for text in ("def f(x):\n", "    return x\n"):
        ev = GenerationDelta(candidate_id="t#0", task_id="t", text=text)
        model.ingest(ev.kind, ev.to_data())
    info = model.tasks["t"].candidates["t#0"]
    assert info.generating and info.code == "def f(x):\n    return x\n"
    retry = GenerationDelta(candidate_id="t#0", task_id="t", text="def f(y):\n", reset=True)
    model.ingest(retry.kind, retry.to_data())
    assert info.code == "def f(y):\n"  # a retried request starts the code over
    more = GenerationDelta(candidate_id="t#0", task_id="t", text="    return x\n")
    model.ingest(more.kind, more.to_data())
    assert model.leaderboard("t")[0].status == "generating"
    done = CandidateAdded(candidate_id="t#0", task_id="t", code="def f(x):\n    return x + 0\n")
    model.ingest(done.kind, done.to_data())
    assert not model.tasks["t"].candidates["t#0"].generating
    assert model.code_of("t#0").endswith("x + 0\n")


def test_profiles_give_one_pane_each_and_one_combined_row():
    model = build_model(scripted_events(profiles=("default", "hash-seed")))
    assert len(model.panes) == 12
    assert ("sort_unique#0", "hash-seed") in model.panes
    rows = model.leaderboard("sort_unique")
    assert len(rows) == 4 and rows[0].candidate_id == "sort_unique#0"
