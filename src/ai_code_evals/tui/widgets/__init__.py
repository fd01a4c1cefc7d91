"""Widgets of the workspace: sandbox panes and their grid, code panel, leaderboard."""
