"""A pure-Python wheel written by hand: no build backend, no network (for uv to install from a
local folder in tests and benchmarks of task requirements)."""
from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

TOY = "VALUE = 42\n\ndef double(x):\n    return 2 * x\n"


def write_wheel(folder: Path, name: str = "acetoy", version: str = "0.1", source: str = TOY) -> Path:
    """``folder/<name>-<version>-py3-none-any.whl`` holding one module, ``<name>/__init__.py``."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": source.encode(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ace-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}

    def record(path: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{path},sha256={digest},{len(data)}"

    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{dist}/RECORD", "\n".join([record(p, d) for p, d in files.items()] + [f"{dist}/RECORD,,"]) + "\n")
    return wheel
