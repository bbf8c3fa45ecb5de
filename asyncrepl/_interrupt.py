"""What Ctrl-C does: everything about SIGINT lives here.

The :class:`Interrupter` is the SIGINT handler while the REPL's loop is driven
by the terminal (the cell runner and the prompt hook).  It decides by what
holds the main thread; see its docstring.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import sys
import weakref
from collections import deque
from contextlib import contextmanager

try:
    import termios
except ImportError:  # Windows: no terminal modes; Ctrl-C at a frozen prompt is not caught
    termios = None

from ._diagnostics import report
from ._frames import frame_location
from ._tasks import TaskRegistry

# Frames inside these files mean the loop itself is running, between callbacks
# or waiting for events, rather than user code.
_LOOP_FILES = frozenset(
    os.path.normcase(os.path.abspath(module.__file__))
    for module in (
        selectors,
        sys.modules["asyncio.base_events"],
        sys.modules["asyncio.selector_events"],
        sys.modules["asyncio.unix_events"] if sys.platform != "win32" else selectors,
    )
)


def _in_loop_machinery(frame) -> bool:
    return frame is not None and os.path.normcase(frame.f_code.co_filename) in _LOOP_FILES


class Interrupter:
    """The SIGINT handler while the REPL's loop is driven by the terminal.

    What Ctrl-C should do depends on what holds the main thread:

    * the loop waits for events and a cell awaits something: cancel the cell's
      task, so the awaited coroutine gets CancelledError and unwinds;
    * the cell's own code runs: KeyboardInterrupt, as in plain Python;
    * another task runs without awaiting (``while True: pass``): raise
      CancelledError inside it, which cancels just that task; a task that
      swallows that gets KeyboardInterrupt the next time;
    * a plain callback holds the loop: KeyboardInterrupt, which the runner or
      the prompt hook catches;
    * the loop is idle at the prompt: hand Ctrl-C to the prompt, as a key.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, registry: TaskRegistry, cell_namer=None):
        self.loop = loop
        self.cell_namer = cell_namer
        self.registry = registry
        self.cell_task: asyncio.Task | None = None
        self.cell_interrupted = False
        self.forward_to_prompt = None  # set by PromptHook while it runs the loop
        self._cancelled_by_us: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()
        self.stopped_names: deque[str] = deque(maxlen=8)  # for _MachineryFilter

    def __call__(self, signum, frame) -> None:
        loop = self.loop
        if not loop.is_running():
            raise KeyboardInterrupt
        task = asyncio.current_task(loop)
        if task is None:
            if _in_loop_machinery(frame):
                if self.cell_task is not None:
                    loop.call_soon_threadsafe(self.interrupt_cell)
                elif self.forward_to_prompt is not None:
                    self.forward_to_prompt()
                return
            loop.call_soon(
                report,
                f"Ctrl-C stopped a callback that held the loop at "
                f"{frame_location(frame, self.cell_namer)}",
            )
            raise KeyboardInterrupt
        if task is self.cell_task:
            raise KeyboardInterrupt
        where = frame_location(frame, self.cell_namer)
        self.stopped_names.append(task.get_name())
        if self.cell_task is not None:
            loop.call_soon(self.interrupt_cell)
        if task in self._cancelled_by_us:
            loop.call_soon(
                report,
                f"Ctrl-C stopped task {self.registry.label(task)} at {where} with KeyboardInterrupt: "
                "it caught CancelledError and kept the loop busy",
            )
            raise KeyboardInterrupt
        self._cancelled_by_us.add(task)
        self.registry.note_cancel_by(task, "Ctrl-C")
        loop.call_soon(
            report, f"Ctrl-C cancelled task {self.registry.label(task)}, which held the loop at {where}"
        )
        raise asyncio.CancelledError

    def interrupt_cell(self) -> None:
        task = self.cell_task
        if task is not None and not task.done():
            self.cell_interrupted = True
            task.cancel("KeyboardInterrupt")


@contextmanager
def sigint_handler(handler):
    previous = signal.signal(signal.SIGINT, handler)
    # prompt_toolkit's loop listens for SIGINT on its wakeup fd and would turn
    # it into an exception out of the prompt; the hook answers SIGINT alone.
    wakeup = signal.set_wakeup_fd(-1)
    try:
        yield
    finally:
        signal.set_wakeup_fd(wakeup)
        signal.signal(signal.SIGINT, previous)


@contextmanager
def ctrl_c_raises_sigint(fd: int | None):
    """Let the terminal turn Ctrl-C (and no other key) into SIGINT.

    The prompt puts the terminal in raw mode, where Ctrl-C is just a byte in
    the input, which nobody reads while a task keeps the loop busy.
    """
    if fd is None or termios is None:
        yield
        return
    try:
        before = termios.tcgetattr(fd)
        disabled = os.fpathconf(fd, "PC_VDISABLE")
    except (termios.error, OSError, ValueError):
        yield
        return
    attrs = [*before[:6], list(before[6])]
    attrs[3] |= termios.ISIG
    off = bytes([disabled & 0xFF])
    attrs[6][termios.VINTR] = b"\x03"
    attrs[6][termios.VQUIT] = off
    attrs[6][termios.VSUSP] = off
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, before)
