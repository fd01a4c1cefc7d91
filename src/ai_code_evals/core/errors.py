"""Errors that the CLI turns into one readable line and exit status 1, and the exit statuses."""
from __future__ import annotations

# The process's exit status, for every front end: done, bad input (one line said why), and
# interrupted (finished results are in the log, which ``resume`` completes).
EXIT_OK, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2


class InputError(Exception):
    """Bad input from the user: a missing or malformed file, an unknown id or option value.

    ``str()`` is the whole message, already naming the file and line where that helps:
    ``tasks.yaml:12: 'tests' must be a list``.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ConfigError(InputError):
    """A setting is missing or invalid (for example no OPENAI_API_KEY for --generator openai)."""
