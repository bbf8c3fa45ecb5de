"""``asyncrepl attach PID`` and ``asyncrepl ps PID``: finding the program, then the front end.

A program that called ``asyncrepl.serve()`` has a connection file named
after its pid (checked against the process's start time: a pid the system
gave to another process since is not the program).  Without one, Python
3.14+ starts ``serve()`` inside the program with ``sys.remote_exec``
(``remote``); older Pythons say, in one line, to add ``asyncrepl.serve()``.
Every refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

__all__ = ["main"]

USAGE = "asyncrepl attach [--wake] PID | asyncrepl ps PID"


class Refusal(Exception):
    """One line for the user."""


def main(command: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"asyncrepl {command}", description=_DESCRIPTIONS[command])
    parser.add_argument("pid", help="the program's process id, or its connection file")
    if command == "attach":
        parser.add_argument(
            "--wake",
            action="store_true",
            help="Python 3.14+, a program that never called serve(): wake it to run the attach now "
            "even if it is in a terminal's foreground (SIGSTOP + SIGCONT)",
        )
    arguments = parser.parse_args(argv)
    try:
        _need_the_extra()
        connection_file, pid = find_program(arguments.pid, command, wake=getattr(arguments, "wake", False))
        if command == "ps":
            print(snapshot(connection_file), end="")
            return 0
        from .frontend import attach_terminal

        attach_terminal(connection_file, pid, program_name(connection_file))
        return 0
    except Refusal as refusal:
        print(f"asyncrepl {command}: {refusal}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"asyncrepl {command}: given up", file=sys.stderr, flush=True)
        return 130


_DESCRIPTIONS = {
    "attach": "A prompt on a running program's own asyncio loop: each cell runs as a task on it while the "
    "program goes on serving; Ctrl-C interrupts the cell, Ctrl-D detaches.",
    "ps": "The running program's tasks (%tasks), once, from outside.",
}


def _need_the_extra() -> None:
    missing = [name for name in ("zmq", "jupyter_client", "jupyter_console") if importlib.util.find_spec(name) is None]
    if missing:
        raise Refusal(f"needs {', '.join(missing)}: pip install 'asyncrepl[attach]'")


def find_program(target: str, command: str = "attach", wake: bool = False) -> tuple[Path, int]:
    """The connection file of the program *target* names (a pid or a file), and its pid."""
    from .connection import connection_files_for, process_exists, process_start_time, read_connection

    if not target.isdigit():
        path = Path(target)
        if not path.exists():
            raise Refusal(f"{target} is neither a process id nor a connection file")
        pid = int((read_connection(path).get("asyncrepl") or {}).get("pid") or 0)
        return path, pid
    pid = int(target)
    if pid == os.getpid() or not process_exists(pid):
        raise Refusal(f"no process {pid}")
    for path in connection_files_for(pid):
        if path.exists():
            try:
                about = read_connection(path).get("asyncrepl") or {}
            except (OSError, ValueError):
                about = {}
            if about.get("start_time") in (None, process_start_time(pid)):
                return path, pid
            # Left by a program that ended; the pid is another process's now.
    from .remote import AttachError, RemoteStart

    def say(line: str) -> None:
        print(f"asyncrepl {command}: {line}", file=sys.stderr, flush=True)

    try:
        return RemoteStart(pid, say, wake=wake).run(), pid
    except AttachError as error:
        raise Refusal(str(error)) from None


def program_name(connection_file: Path) -> str:
    try:
        argv = (json.loads(connection_file.read_text()).get("asyncrepl") or {}).get("argv") or []
    except (OSError, ValueError):
        return ""
    return f" ({os.path.basename(argv[0])})" if argv and argv[0] else ""


def snapshot(connection_file: Path, timeout: float = 30) -> str:
    """``%tasks`` of the program, as text (attaches for that moment, then detaches)."""
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        parts: list[str] = []

        def keep(msg) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                parts.append(content["text"])
            elif kind in ("display_data", "execute_result"):
                parts.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                parts.append("\n".join(content["traceback"]) + "\n")

        try:
            client.execute_interactive("%tasks", store_history=False, timeout=timeout, output_hook=keep)
        except TimeoutError:
            raise Refusal(f"the program did not answer within {timeout:g} s (is its loop blocked?)") from None
        return "".join(parts)
    finally:
        client.stop_channels()
