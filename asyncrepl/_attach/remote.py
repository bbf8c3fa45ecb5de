"""Starting ``asyncrepl.serve()`` inside a program that never imported asyncrepl (Python 3.14+).

``sys.remote_exec(pid, script)`` (PEP 768) has the program's main thread run
a file at its next safe point, as it runs a signal handler.  The script
here finds the program's running loop (the main thread's, else the one
loop running in another thread), imports asyncrepl on a thread of its own
(so that the program's main thread is back at once), and schedules
``serve()`` onto that loop with ``call_soon_threadsafe``; it reports each
step, or why it cannot, back to ``asyncrepl attach`` over a loopback
connection, since ``sys.remote_exec`` itself says nothing.

A main thread asleep in ``select()`` (an idle loop waiting for its next
event) runs the script only when it wakes.  Stopping and continuing the
process (SIGSTOP, SIGCONT) wakes it on Linux, where ``epoll_wait`` returns
early after a stop; that is done at once for a program that is not in a
terminal's foreground (a service), and only on request (``--wake``) for
one that is, since its shell would then take the terminal back.

Where it cannot work, :func:`why_not` gives the one line that says why and
what to do.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["RemoteStart", "why_not"]

_SCRIPT = r'''
def _asyncrepl_attach(port, token):
    import json, socket, sys, threading

    connection = socket.create_connection(("127.0.0.1", port), timeout=10)

    def say(**what):
        what["token"] = token
        try:
            connection.sendall(json.dumps(what).encode() + b"\n")
        except OSError:
            pass

    def done():
        try:
            connection.close()
        except OSError:
            pass

    try:
        import asyncio

        # PRIVATE (3.14-3.15: asyncio._get_running_loop, exported, undocumented;
        # this script runs in the program, before asyncrepl is importable there)
        loop = asyncio._get_running_loop()  # the main thread's, if it runs one
        thread = "the main thread"
        if loop is None:
            import gc

            loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]
            if not loops:
                say(error="no asyncio loop is running in the program (asyncrepl attaches to a running loop)")
                return done()
            if len(loops) > 1:
                say(error=f"{len(loops)} asyncio loops are running in the program; asyncrepl attach serves one: "
                          "call asyncrepl.serve() on the loop to attach to")
                return done()
            loop = loops[0]
            owner = getattr(loop, "_thread_id", None)  # PRIVATE (3.14-3.15: BaseEventLoop._thread_id; as above)
            names = {t.ident: t.name for t in threading.enumerate()}
            thread = f"thread {names.get(owner, owner)!r}"
        say(event="found", thread=thread)

        def start_serving(asyncrepl):
            try:
                server = asyncrepl.serve()
            except BaseException as error:
                say(error=f"asyncrepl.serve() failed in the program: {type(error).__name__}: {error}")
                return done()

            def when_ready():
                server.ready.wait(60)
                if server.error is not None:
                    say(error=f"asyncrepl.serve() failed in the program: {server.error}")
                else:
                    say(event="serving", connection_file=str(server.connection_file))
                done()

            threading.Thread(target=when_ready, name="asyncrepl-bootstrap", daemon=True).start()

        def load():
            try:
                import asyncrepl
            except BaseException as error:
                say(error=f"asyncrepl is not importable in the program ({sys.executable}): {error}")
                return done()
            try:
                loop.call_soon_threadsafe(start_serving, asyncrepl)
            except RuntimeError as error:
                say(error=f"the program's loop is closing: {error}")
                return done()

        threading.Thread(target=load, name="asyncrepl-bootstrap", daemon=True).start()
    except BaseException as error:
        say(error=f"{type(error).__name__}: {error}")
        done()


_asyncrepl_attach({port}, {token!r})
del _asyncrepl_attach
'''


class AttachError(Exception):
    """One line for the user: why the attach cannot go on, and what to do."""


def python_version_of(pid: int) -> str | None:
    """The major.minor Python that process *pid* runs, from its memory maps (Linux)."""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            text = maps.read()
    except OSError:
        return None
    versions = set(re.findall(r"(?:libpython|/python)(3\.\d+)", text))
    return versions.pop() if len(versions) == 1 else None


def ptrace_scope() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return None


def why_not(pid: int) -> str | None:
    """The reason ``sys.remote_exec`` cannot start serve() in *pid*, if one is known beforehand."""
    here = ".".join(map(str, sys.version_info[:2]))
    if not hasattr(sys, "remote_exec"):
        return (
            f"program {pid} is not serving: add asyncrepl.serve() to it (at the start of its main coroutine); "
            f"asyncrepl attach starts it from outside only on Python 3.14+ (this is {here})"
        )
    there = python_version_of(pid)
    if there is not None and there != here:
        return (
            f"program {pid} runs Python {there} and this asyncrepl runs on {here}: sys.remote_exec needs the same "
            f"version; run asyncrepl attach with Python {there} (its own environment's asyncrepl), or add asyncrepl.serve() to it"
        )
    return None


def explain(pid: int, error: BaseException) -> str:
    """One line for what ``sys.remote_exec`` raised."""
    text = str(error)
    if isinstance(error, PermissionError) or getattr(error, "errno", None) in (1, 13):
        scope = ptrace_scope()
        why = "another user's process" if _owner(pid) not in (None, os.geteuid()) else "the system restricts ptrace"
        yama = f" (kernel.yama.ptrace_scope is {scope})" if scope else ""
        return (
            f"the system does not let this process attach to program {pid}: {why}{yama}; run asyncrepl attach as the "
            "program's user, with ptrace allowed (sudo sysctl kernel.yama.ptrace_scope=0, or CAP_SYS_PTRACE), "
            "or add asyncrepl.serve() to the program"
        )
    if "not enabled" in text:
        return (
            f"program {pid} runs with remote debugging disabled (PYTHON_DISABLE_REMOTE_DEBUG or -X disable-remote-debug): "
            "restart it without, or add asyncrepl.serve() to it"
        )
    return f"sys.remote_exec could not reach program {pid}: {text}; add asyncrepl.serve() to it instead"


def _owner(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def in_terminal_foreground(pid: int) -> bool:
    """Whether *pid* is in the foreground process group of its terminal (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return True  # unknown: do not stop it
    process_group, tty, terminal_group = int(fields[2]), int(fields[4]), int(fields[5])
    return tty != 0 and terminal_group == process_group


class RemoteStart:
    """Start serve() in program *pid* with ``sys.remote_exec``; :meth:`run`
    returns the connection file, or raises AttachError with the line to show."""

    NOTICE_AFTER = 1.0  # seconds of silence before saying that the program sleeps

    def __init__(self, pid: int, say: Callable[[str], None], wake: bool = False, timeout: float | None = None):
        self.pid = pid
        self.say = say
        self.wake = wake
        self.timeout = timeout

    def run(self) -> Path:
        reason = why_not(self.pid)
        if reason is not None:
            raise AttachError(reason)
        token = os.urandom(16).hex()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        with tempfile.TemporaryDirectory(prefix="asyncrepl-attach-") as directory:
            os.chmod(directory, 0o711)  # the program may run as another user with our permission (root)
            script = Path(directory) / "attach.py"
            script.write_text(_SCRIPT.replace("{port}", str(port)).replace("{token!r}", repr(token)))
            os.chmod(script, 0o644)
            try:
                sys.remote_exec(self.pid, str(script))
            except Exception as error:  # noqa: BLE001 - every refusal becomes one line
                raise AttachError(explain(self.pid, error)) from None
            try:
                return self._wait(listener, token)
            finally:
                listener.close()  # the script is read by now, or never will be: the directory may go

    def _wait(self, listener: socket.socket, token: str) -> Path:
        import selectors

        started = time.monotonic()
        said_asleep = woke = False
        woke_at = 0.0
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        buffer = b""
        connection = None
        while True:
            if self.timeout is not None and time.monotonic() - started > self.timeout:
                raise AttachError(f"program {self.pid} did not run the attach script within {self.timeout:g} s")
            if not os.path.exists(f"/proc/{self.pid}") and sys.platform.startswith("linux"):
                raise AttachError(f"program {self.pid} exited")
            for key, _ in selector.select(timeout=0.2):
                if key.fileobj is listener:
                    connection, _ = listener.accept()
                    selector.unregister(listener)
                    selector.register(connection, selectors.EVENT_READ)
                else:
                    data = connection.recv(65536)
                    if not data:
                        raise AttachError(f"program {self.pid} ran the attach script, which stopped without a word")
                    buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("token") != token:
                    continue
                if "error" in message:
                    raise AttachError(message["error"])
                if message.get("event") == "found" and message.get("thread") != "the main thread":
                    self.say(f"the program's loop runs in {message['thread']}: cells run there")
                if message.get("event") == "serving":
                    return Path(message["connection_file"])
            if connection is None:
                waited = time.monotonic() - started
                may_wake = self.wake or not in_terminal_foreground(self.pid)
                if not woke and may_wake and waited > self.NOTICE_AFTER:
                    woke, woke_at = True, waited
                    self._wake()
                elif not said_asleep and waited > (woke_at if woke else 0.0) + self.NOTICE_AFTER:
                    said_asleep = True
                    self.say(self._asleep(woke))

    def _asleep(self, woke: bool) -> str:
        if woke:
            return (
                f"program {self.pid} has not run the attach script yet: its main thread runs no Python code now "
                "(a long call in C, or a lock), and runs it when that returns; Ctrl-C gives up"
            )
        return (
            f"program {self.pid} has not run the attach script yet: its main thread is asleep, waiting for its "
            "next event (a request, a timer), and runs it then; Ctrl-C gives up. "
            f"asyncrepl attach --wake {self.pid} wakes it now (it is in a terminal's foreground, whose shell "
            "would take the terminal back: fg returns it)"
        )

    def _wake(self) -> None:
        # Linux: a stopped and continued process returns from epoll_wait/select
        # (signal(7)), runs the pending script, and goes back to waiting.
        try:
            os.kill(self.pid, signal.SIGSTOP)
            os.kill(self.pid, signal.SIGCONT)
        except OSError:
            pass
