"""The connection file of a program that ``asyncrepl.serve()`` made attachable.

It is a Jupyter connection file (transport, ip, five ports, the key that
signs every message, its scheme), written readable by its owner only into
Jupyter's runtime directory (``jupyter --runtime-dir``, ``JUPYTER_RUNTIME_DIR``)
and named after the program's pid, so that ``asyncrepl attach PID`` finds it
and ``jupyter console --existing asyncrepl-PID.json`` works as for any kernel.
An ``asyncrepl`` entry adds what only asyncrepl reads: the pid, the process's
start time (a pid the system reused is not the program), and how the program
was started.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = [
    "connection_file_for",
    "connection_files_for",
    "process_exists",
    "process_start_time",
    "read_connection",
    "runtime_dir",
    "write_connection",
]

PREFIX = "asyncrepl-"


def runtime_dir() -> Path:
    """Jupyter's runtime directory (``JUPYTER_RUNTIME_DIR`` first), made private if new."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        directory = Path(jupyter_runtime_dir())
    except ImportError:  # pragma: no cover - jupyter_client requires jupyter_core
        directory = Path(os.environ.get("JUPYTER_RUNTIME_DIR") or Path.home() / ".local/share/jupyter/runtime")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def connection_file_for(pid: int) -> Path:
    return runtime_dir() / f"{PREFIX}{pid}.json"


def connection_files_for(pid: int) -> list[Path]:
    """Where program *pid*'s connection file can be: in this process's
    runtime directory, then in the one the program's environment names when
    it started with another (``JUPYTER_RUNTIME_DIR``, ``JUPYTER_DATA_DIR``)."""
    paths = [connection_file_for(pid)]
    environment = _environment_of(pid)
    theirs = environment.get("JUPYTER_RUNTIME_DIR") or (
        str(Path(environment["JUPYTER_DATA_DIR"]) / "runtime") if environment.get("JUPYTER_DATA_DIR") else None
    )
    if theirs:
        path = Path(theirs) / f"{PREFIX}{pid}.json"
        if path != paths[0]:
            paths.append(path)
    return paths


def _environment_of(pid: int) -> dict[str, str]:
    """Process *pid*'s environment as it started (Linux; readable by its owner only)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            entries = environ.read().split(b"\0")
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if b"=" in entry)
    return {name: value for name, _, value in pairs}


def process_start_time(pid: int) -> str | None:
    """When process *pid* started, as the system counts it (Linux: clock
    ticks since boot, from /proc); None where that is not known."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # field 22 of stat(5); the two before ")" are gone
    except (OSError, IndexError):
        return None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's: it exists
    return True


def write_connection(path: Path, info: dict) -> None:
    """Write *info* to *path*, readable and writable by its owner only (0600),
    never through a file someone else could have placed there first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(info, file, indent=1)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def read_connection(path: Path) -> dict:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def describe_program() -> dict:
    """The ``asyncrepl`` entry of this process's connection file."""
    return {
        "pid": os.getpid(),
        "start_time": process_start_time(os.getpid()),
        "python": ".".join(map(str, sys.version_info[:3])),
        "executable": sys.executable,
        "argv": list(sys.argv),
    }
