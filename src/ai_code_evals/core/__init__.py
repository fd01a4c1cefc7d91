"""The types every layer shares, importing nothing of the project above them: errors and exit
statuses, settings, the task and its candidates (with the generator protocol), the typed events
with the bus that carries them, and terminal-safe text."""
