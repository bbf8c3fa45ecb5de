"""Drivers for the real things: an IPython terminal through a pty, and a kernel.

Other test modules reuse these:

* ``Terminal``: starts ``ipython`` (or ``asyncrepl``) in a pty with a fresh
  IPYTHONDIR, waits for ``In [n]:`` prompts, sends cells as bracketed pastes
  (so prompt_toolkit does not auto-indent them), returns what each printed with
  terminal escapes removed, and sends Ctrl-C.
* ``Kernel``: starts ipykernel through jupyter_client and runs cells, collecting
  stdout, stderr, results and errors, each with the cell it belongs to.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

BIN = Path(sys.executable).parent


def asyncrepl_frames_in(text: str) -> bool:
    """Whether *text* shows a frame of asyncrepl's own code (its package's
    folder; the word alone also appears in paths such as ~/.cache/asyncrepl-pythons)."""
    import asyncrepl

    return str(Path(asyncrepl.__file__).parent) in text

# Code with the mistakes asyncrepl's diagnostics report (the terminal tests
# name its line numbers: blocker's time.sleep is line 11).
DIAGNOSED = """\
import asyncio, time
async def add_one(x):
    return x + 1

async def hello():
    add_one(1)
    return 'hi'

async def blocker():
    await asyncio.sleep(0.3)
    time.sleep(0.4)

async def bad():
    await asyncio.sleep(0.3)
    raise ValueError('boom')
"""
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>]|\r")
# A carriage return then "erase to the end of the line" blanks the whole line
# on the screen: what was written on it before is not there for the user to
# read (the holding mark asyncrepl writes between a cell and its prompt, say).
_ERASED_LINE = re.compile(r"[^\n]*\r\x1b\[0?K")


def strip_escapes(text: str) -> str:
    """*text* as the screen shows it, in lines: escapes removed, erased lines' text gone."""
    return _ESCAPES.sub("", _ERASED_LINE.sub("", text))


_CELLS_IN_A_FRESH_SHELL = """
import contextlib, io, sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("colors", "nocolor")
with contextlib.redirect_stdout(io.StringIO()):
    ip.run_line_magic("load_ext", "asyncrepl")
for cell in sys.argv[1:]:
    ip.run_cell(cell)
"""


def cells_in_a_fresh_shell(*cells: str) -> str:
    """Run *cells* in IPython's in-process shell, in a new process, once
    asyncrepl is loaded (what is imported at first use is imported there);
    what they printed, stdout then stderr."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _CELLS_IN_A_FRESH_SHELL, *cells], capture_output=True, text=True)
    return done.stdout + done.stderr


def fresh_env(ipython_dir: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        IPYTHONDIR=ipython_dir or tempfile.mkdtemp(prefix="asyncrepl-ipython-"),
        TERM="xterm",
        PROMPT_TOOLKIT_NO_CPR="1",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONASYNCIODEBUG", None)
    env.update(extra)
    return env


class Terminal:
    """A real terminal IPython in a pty."""

    def __init__(self, command: str = "ipython", args: tuple[str, ...] = (), env=None, timeout=20):
        self.child = pexpect.spawn(
            str(BIN / command),
            ["--colors=nocolor", "--no-banner", "--TerminalInteractiveShell.term_title=False", *args],
            env=env or fresh_env(),
            encoding="utf-8",
            timeout=timeout,
            dimensions=(50, 160),
        )
        self.transcript: list[str] = []
        self.count = 1
        self._spawned()
        self.startup = self._wait_for_prompt(1)

    def _spawned(self) -> None:
        """Called once the child runs, before anything is read from it."""

    def _wait_for_prompt(self, number: int, timeout: float | None = None) -> str:
        # pexpect reads timeout=None as "forever"; -1 is the Terminal's own timeout.
        self.child.expect(rf"In \[{number}\]:", timeout=-1 if timeout is None else timeout)
        text = strip_escapes(self.child.before)
        self.transcript.append(text)
        return text

    def type(self, code: str) -> None:
        """Send *code* as a paste plus Enter, without waiting for the result."""
        if "\n" in code.strip():
            code = code.rstrip("\n") + "\n"
        self.child.send("\x1b[200~" + code + "\x1b[201~")
        time.sleep(0.05)
        self.child.send("\r")
        if code.startswith("%%"):
            time.sleep(0.05)
            self.child.send("\r")  # a cell magic ends with an empty line

    def run(self, code: str, timeout: float | None = None) -> str:
        """Run one cell; return what it printed (the echo of the input removed)."""
        self.type(code)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> str:
        """Wait for the next prompt; return the output of the cell that ran."""
        self.count += 1
        text = self._wait_for_prompt(self.count, timeout)
        return _without_echo(text)

    def value(self, expression: str) -> str:
        """Run *expression* as a cell; its ``Out[n]:`` text."""
        out = self.run(expression)
        match = re.search(r"Out\[\d+\]: (.*)", out)
        assert match, out
        return match.group(1)

    def ctrl_c(self) -> None:
        self.child.sendintr()

    def read_pending(self, seconds: float) -> str:
        """What the terminal printed during *seconds* without a new prompt."""
        end = time.monotonic() + seconds
        chunks = []
        while time.monotonic() < end:
            try:
                chunks.append(self.child.read_nonblocking(65536, timeout=0.1))
            except pexpect.TIMEOUT:
                continue
        return strip_escapes("".join(chunks))

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendline("exit")
            try:
                self.child.expect(pexpect.EOF, timeout=10)
            except pexpect.TIMEOUT:
                pass
        self.child.close(force=True)


class ScreenTerminal(Terminal):
    """A Terminal whose output also drives a terminal emulator (pyte), so
    that a test can read the screen (``bottom_line``).

    The emulator answers prompt_toolkit's cursor position requests, as every
    real terminal does: without the answer prompt_toolkit does not know how
    far the screen reaches below the prompt, and draws no bottom toolbar.
    """

    ROWS, COLUMNS = 50, 160

    def __init__(self, command: str = "ipython", args: tuple[str, ...] = (), env=None, timeout=20):
        import pyte

        self.screen = pyte.Screen(self.COLUMNS, self.ROWS)
        self.stream = pyte.Stream(self.screen)
        self.screen.write_process_input = self._answer
        self.received = 0  # characters the pty has sent, ever
        env = dict(env or fresh_env())
        env.pop("PROMPT_TOOLKIT_NO_CPR", None)
        super().__init__(command, args, env=env, timeout=timeout)

    def _spawned(self) -> None:
        self.child.logfile_read = self

    # pexpect hands everything it reads to logfile_read.write
    def write(self, data: str) -> None:
        self.received += len(data)
        self.stream.feed(data)

    def flush(self) -> None:
        pass

    def _answer(self, data: str) -> None:
        self.child.send(data)

    def bottom_line(self) -> str:
        return self.screen.display[-1].rstrip()

    def cursor_line(self) -> str:
        return self.screen.display[self.screen.cursor.y].rstrip()

    def settle(self, seconds: float = 0.3) -> None:
        """Read what arrives for *seconds* (the screen follows)."""
        self.read_pending(seconds)

    def wait_for_bottom(self, predicate, timeout: float = 10) -> str:
        """Read until the bottom line satisfies *predicate*; return it."""
        end = time.monotonic() + timeout
        while True:
            line = self.bottom_line()
            if predicate(line):
                return line
            if time.monotonic() > end:
                raise AssertionError(f"bottom line is still {line!r}")
            self.settle(0.1)


def _without_echo(text: str) -> str:
    # prompt_toolkit redraws the input line (and continuation lines) before
    # the output: drop everything up to the last line that starts with a
    # prompt or a continuation marker.
    lines = text.split("\n")
    last_input = -1
    for index, line in enumerate(lines):
        if re.search(r"In \[\d+\]:|^\s*\.\.\.:", line):
            last_input = index
    return "\n".join(lines[last_input + 1 :]).strip("\n")


@dataclass
class Reply:
    """What one executed cell produced in a kernel."""

    status: str
    stdout: str = ""
    stderr: str = ""
    results: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    svg: list[str] = field(default_factory=list)
    error: dict | None = None
    orphans: list[dict] = field(default_factory=list)  # outputs that no cell owns (empty parent)


class Kernel:
    """A real ipykernel, driven through jupyter_client."""

    def __init__(self, env=None, extra_arguments=()):
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env or fresh_env(), extra_arguments=list(extra_arguments))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.late: dict[str, str] = {}  # msg_id -> text that arrived after that cell finished

    def execute(self, code: str, timeout: float = 30, stop_on_error: bool = True) -> Reply:
        return self.finish(self.start(code, stop_on_error), timeout)

    def start(self, code: str, stop_on_error: bool = True) -> str:
        """Send a cell without waiting for it; ``finish`` collects its reply.

        A cell that fails with *stop_on_error* makes ipykernel 6 abort the
        requests that arrive right after it (7 only those already queued)."""
        return self.client.execute(code, stop_on_error=stop_on_error)

    def finish(self, msg_id: str, timeout: float = 30) -> Reply:
        reply = Reply(status="")
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            try:
                msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no reply to {msg_id}") from None
            self._collect(msg, msg_id, reply)
            idle = (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            )
        while True:
            shell_reply = self.client.get_shell_msg(timeout=timeout)
            if shell_reply["parent_header"].get("msg_id") == msg_id:
                break
        reply.status = shell_reply["content"]["status"]
        return reply

    def _collect(self, msg, msg_id, reply: Reply) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind not in ("stream", "execute_result", "error", "display_data"):
            return
        parent = msg["parent_header"].get("msg_id")
        if not parent:
            reply.orphans.append(msg)
            return
        if parent != msg_id:
            self.late[parent] = self.late.get(parent, "") + content.get("text", "")
            return
        if kind == "stream":
            setattr(reply, content["name"], getattr(reply, content["name"]) + content["text"])
        elif kind in ("execute_result", "display_data"):
            reply.results.append(content["data"].get("text/plain", ""))
            if "text/html" in content["data"]:
                reply.html.append(content["data"]["text/html"])
            if "image/svg+xml" in content["data"]:
                reply.svg.append(content["data"]["image/svg+xml"])
        else:
            reply.error = content

    def drain(self, seconds: float) -> list[dict]:
        """Collect output arriving during *seconds* with no cell running; return the orphans."""
        orphans = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg["msg_type"] != "stream":
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent:
                self.late[parent] = self.late.get(parent, "") + msg["content"]["text"]
            else:
                orphans.append(msg)
        return orphans

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
