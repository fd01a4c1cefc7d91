"""The Textual workspace. Entry points: ``tui.app.run_live`` and ``tui.app.run_replay``.

model.py / travel.py / sanitize.py / amend.py never import Textual (the run model, time
travel, output neutralising, amending a log); widgets/, screens/, themes.py, app.py do.
"""
