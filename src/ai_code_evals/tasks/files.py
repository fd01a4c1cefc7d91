"""Reading user input files safely: size caps, gzip, UTF-8, JSON Lines with line numbers.

Every failure becomes an InputError naming the file (and the line when there is one), so a
truncated download, a mislabelled gzip or a stray binary file never ends in a traceback.
"""
from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ai_code_evals.core.errors import InputError

# Input files larger than this (on disk, or once decompressed) are refused: task and samples
# files are text written by people or models, so anything bigger is almost surely a mistake.
MAX_INPUT_BYTES = 64 * 1024 * 1024

GZIP_MAGIC = b"\x1f\x8b"


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB"


def _too_big(path: str, what: str) -> InputError:
    return InputError(
        f"{what} is larger than the {_mib(MAX_INPUT_BYTES)} limit for input files "
        "(split it into smaller files)",
        path=path,
    )


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (by its magic number, whatever its name)."""
    p = Path(path)
    name = str(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=name) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=name) from None
    if p.is_dir():
        raise InputError("is a directory, expected a file", path=name)
    if st.st_size > MAX_INPUT_BYTES:
        raise _too_big(name, f"file ({_mib(st.st_size)})")
    try:
        with open(p, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == GZIP_MAGIC:
                return _gunzip(f, name)
            if name.endswith(".gz"):
                raise InputError("not a gzip file (it has a .gz name but no gzip header)", path=name)
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=name) from None
    if len(data) > MAX_INPUT_BYTES:  # grew while we read it
        raise _too_big(name, "file")
    return data


def _gunzip(f: Any, name: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        with gzip.GzipFile(fileobj=f, mode="rb") as gz:
            while True:
                chunk = gz.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_INPUT_BYTES:
                    raise _too_big(name, "decompressed content")
                chunks.append(chunk)
    except EOFError:
        raise InputError("truncated gzip data (the file was cut short)", path=name) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise InputError(f"corrupt gzip data: {e}", path=name) from None
    return b"".join(chunks)


def read_text(path: str | Path) -> str:
    """The file as text. Not UTF-8 -> an error naming the line and column of the first bad byte."""
    data = read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        byte = data[e.start : e.start + 1].hex()
        raise InputError(
            f"not valid UTF-8 (byte 0x{byte} at column {col}); save the file as UTF-8",
            path=str(path),
            line=line,
        ) from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON Lines file.

    Lines are split on ``\\n`` only (``str.splitlines`` would also split on characters that
    JSON allows inside strings, such as U+2028).
    """
    name = str(path)
    text = read_text(path)
    lines = text.split("\n")
    last = len(lines)
    while last and not lines[last - 1].strip():
        last -= 1
    for i, raw in enumerate(lines[:last], start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            hint = ""
            if i == last and not text.endswith("\n"):
                hint = " (the last line looks cut short: is the file truncated?)"
            raise InputError(f"invalid JSON: {e.msg} (column {e.colno}){hint}", path=name, line=i) from None
        except RecursionError:
            raise InputError("invalid JSON: nested too deeply", path=name, line=i) from None
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=name, line=i)
        yield i, obj

