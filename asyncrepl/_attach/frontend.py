"""``asyncrepl attach PID``: a terminal IPython prompt on a running program.

It is jupyter_console's terminal front end (prompt_toolkit, completion,
history, rich output) on the program's connection file, with what attaching
to a live program needs on top:

* **Ctrl-C interrupts the cell, never the program**: during a cell it sends
  ``interrupt_request`` on the control channel (the program's SIGINT stays
  the program's); at the prompt it clears the line, as IPython does.
* **Ctrl-D detaches** at once (no "really exit?": the program goes on, and
  attaching again is one command); so does a killed front end, whose
  connections the program sees close.
* **The status line** at the bottom is the program's, pushed by it when it
  changes (a comm, ``asyncrepl.status``); the front end asks nothing while
  the prompt is idle, so the program does no work for an idle prompt.
* **A program that exits** ends the front end with one line, at the prompt
  or during a cell: a thread waits for the process's end (a pidfd on Linux,
  no polling of the program).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

from jupyter_console.app import ZMQTerminalIPythonApp
from jupyter_console.ptshell import ZMQTerminalInteractiveShell
from traitlets import Integer, Unicode

from .server import STATUS_TARGET

__all__ = ["attach_terminal"]


class AttachedConsole(ZMQTerminalInteractiveShell):
    """jupyter_console's shell, attached to program ``pid``."""

    pid = Integer(0)
    program = Unicode("")

    def __init__(self, **kwargs):
        self.status_text = ""
        self.program_gone = False
        self.status_comm = uuid.uuid4().hex
        self._front_loop: asyncio.AbstractEventLoop | None = None
        super().__init__(**kwargs)
        self._follow_status_messages()
        self._open_status_comm()
        self._first_status()
        if self.pt_cli is not None and hasattr(self.pt_cli, "bottom_toolbar"):
            self.pt_cli.bottom_toolbar = lambda: self.status_text or None
        threading.Thread(target=self._wait_for_program_exit, name="asyncrepl-attach-watch", daemon=True).start()

    # -- the banner --

    def show_banner(self):
        # The program's banner names Jupyter's Interrupt; here it is Ctrl-C, and Ctrl-D detaches.
        banner = self.kernel_info.get("banner", "")
        banner = banner.replace("Interrupt cancels the cell, never the program", "Ctrl-C cancels the cell, never the program; Ctrl-D detaches")
        print(banner, end="", flush=True)

    # -- the status line, pushed by the program --

    def _open_status_comm(self) -> None:
        data = {"interrupt_name": "Ctrl-C"}
        try:  # so that the program's tables fill this terminal, as they do at a local prompt
            data["columns"] = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, OSError, ValueError):
            pass
        content = {"comm_id": self.status_comm, "target_name": STATUS_TARGET, "data": data}
        self.client.shell_channel.send(self.client.session.msg("comm_open", content))

    def _first_status(self, timeout: float = 10) -> None:
        """Before the first prompt: the program's first status line, and what
        it says on the attach (another front end attached too)."""
        from queue import Empty

        deadline = time.monotonic() + timeout
        while not self.status_text and time.monotonic() < deadline:
            try:
                msg = self.client.iopub_channel.get_msg(timeout=max(0.01, deadline - time.monotonic()))
            except Empty:
                return
            if msg["header"]["msg_type"] == "stream":
                print(msg["content"]["text"], end="", file=sys.stderr, flush=True)

    def _follow_status_messages(self) -> None:
        channel = self.client.iopub_channel
        get_msg = channel.get_msg

        def get_status_or_msg(*args, **kwargs):
            msg = get_msg(*args, **kwargs)
            if msg["header"]["msg_type"] == "comm_msg" and msg["content"].get("comm_id") == self.status_comm:
                text = (msg["content"].get("data") or {}).get("status")
                if isinstance(text, str) and text != self.status_text:
                    self.status_text = text
                    self._redraw()
            return msg

        channel.get_msg = get_status_or_msg

    def _redraw(self) -> None:
        app = getattr(self.pt_cli, "app", None)
        if app is not None and app.is_running:
            app.invalidate()

    async def handle_external_iopub(self, loop=None):
        # Between cells: what the program pushes (the status line, and what
        # the cells' background tasks print) is read from the front end's own
        # socket; the program is never asked anything.
        socket = self.client.iopub_channel.socket
        while self.keep_running:
            if socket.poll(0):
                await self._above_the_prompt(self.handle_iopub)
            await asyncio.sleep(0.1)

    async def _above_the_prompt(self, show) -> None:
        """Run *show* (it prints) with the prompt taken away and drawn again
        below what it printed, as IPython's own terminal prints a background
        task's report; jupyter_console printed it after the prompt's text."""
        from prompt_toolkit.application import run_in_terminal
        from prompt_toolkit.application.current import set_app

        app = getattr(self.pt_cli, "app", None)
        if app is None or not app.is_running:
            show()
            return
        with set_app(app):  # this task was made outside the prompt's context
            await run_in_terminal(show)

    async def _main_task(self):
        self._front_loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(self.interact()), asyncio.create_task(self.handle_external_iopub())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- Ctrl-C: the cell's --

    def interrupt(self) -> None:
        client = self.client
        client.control_channel.send(client.session.msg("interrupt_request", {}))

    # -- the end --

    def _wait_for_program_exit(self) -> None:
        try:
            descriptor = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            descriptor = None
        if descriptor is not None:
            select.select([descriptor], [], [])
            os.close(descriptor)
        else:  # no pidfd (macOS, old kernels): look now and then, from here only
            while _alive(self.pid):
                threading.Event().wait(0.5)
        self.program_gone = True
        self.keep_running = False
        self.client.is_alive = lambda: False  # a cell waiting for its reply stops waiting
        loop = self._front_loop
        app = getattr(self.pt_cli, "app", None)
        if loop is not None and app is not None:
            try:
                loop.call_soon_threadsafe(_exit_prompt, app)
            except RuntimeError:
                pass

    def mainloop(self):
        self.keepkernel = True
        while True:
            try:
                asyncio.run(self._main_task())
                break
            except KeyboardInterrupt:
                continue
        if self.program_gone:
            print(f"asyncrepl: program {self.pid}{self.program} exited", file=sys.stderr, flush=True)
        else:
            print(
                f"asyncrepl: detached from program {self.pid}{self.program}, which goes on "
                f"(asyncrepl attach {self.pid} attaches again)",
                file=sys.stderr,
                flush=True,
            )


def _exit_prompt(app) -> None:
    if app.is_running:
        app.exit(exception=EOFError())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AttachApp(ZMQTerminalIPythonApp):
    name = "asyncrepl-attach"
    description = "asyncrepl attach PID: a terminal prompt on a running program's loop."

    pid = Integer(0)
    program = Unicode("")

    def init_shell(self):
        from jupyter_client.consoleapp import JupyterConsoleApp

        JupyterConsoleApp.initialize(self)
        signal.signal(signal.SIGINT, self.handle_sigint)
        self.shell = AttachedConsole.instance(
            parent=self,
            manager=None,
            client=self.kernel_client,
            confirm_exit=False,
            pid=self.pid,
            program=self.program,
        )
        self.shell.own_kernel = False

    def handle_sigint(self, *args):
        # PRIVATE (jupyter_console 6.6): ZMQTerminalInteractiveShell._executing,
        # True while a cell's reply is awaited; jupyter_console's own
        # handle_sigint reads it the same way.
        if self.shell._executing:
            # The terminal echoed ^C where the cell's output was: what the
            # program says about the interrupt starts on a line of its own.
            print(flush=True)
            self.shell.interrupt()  # the cell's, never the program's
        else:
            raise KeyboardInterrupt

    def init_banner(self):
        self.shell.show_banner()


def attach_terminal(connection_file: Path, pid: int, program: str = "") -> None:
    """Run the terminal front end on *connection_file* until Ctrl-D or the program's end."""
    app = AttachApp.instance(pid=pid, program=program)
    app.initialize(["--existing", str(connection_file)])
    app.start()
