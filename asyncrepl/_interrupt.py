"""What Ctrl-C does: everything about SIGINT lives here.

One rule, in the terminal and in a kernel: Ctrl-C stops only what has really
held the loop, as the loop monitor saw it (``_monitor``).  Otherwise it means
"cancel what the cell awaits", or "clear the prompt line", or (in a kernel)
what ipykernel does anyway.  In detail, by what the main thread is doing when
the signal arrives:

* the cell's own code runs: KeyboardInterrupt in it, as in plain Python;
* a task has held the loop (``while True: pass``): CancelledError inside it,
  which cancels just that task, named with its line; a task that swallows
  that is stopped for good the next time (:class:`StoppedByCtrlC`);
* a plain callback has held the loop: it is stopped the same way;
* otherwise (the loop waits, or runs short steps): the cell that awaits is
  cancelled; at the prompt, Ctrl-C goes to the prompt as a key.

The handler never raises while the cell runner or the prompt hook is setting
up or tearing down (a burst of Ctrl-C must not break them), and never into a
healthy task.
"""

from __future__ import annotations

import asyncio
import os
import signal
import weakref
from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._diagnostics import StoppedByCtrlC
from ._render.reports import report
from ._frames import frame_location
from ._hooks import Hook
from ._monitor import LoopMonitor, in_debugger
from ._tasks import TaskRegistry, is_repl_machinery

if TYPE_CHECKING:
    from ._cell.state import Cells

# A step must have run this long before Ctrl-C stops it: a person presses
# Ctrl-C at a frozen prompt after longer than this, and a healthy step does
# not last it.  (The time is wall time: on a loaded machine, where the process
# waits for a CPU, a healthy step of a busy loop in debug mode took 0.1 s.)
_HELD_FOR = 0.5


class Interrupter:
    """The SIGINT handler; see the module's docstring for what it does when."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        registry: TaskRegistry,
        monitor: LoopMonitor,
        cells: Cells,
        cell_namer=None,
    ):
        self.loop = loop
        self.registry = registry
        self.monitor = monitor
        self.cells = cells  # the cell running now, and how to stop it
        self.cell_namer = cell_namer
        self.signalled = Hook("signalled")  # each SIGINT, before anything else (the terminal's echo)
        # Where a Ctrl-C goes instead of the default, set by the hosts for a
        # while with routed() (innermost in force, the outer one back after):
        # "outside_loop": while the prompt hook sets up or tears down (press
        #   Ctrl-C at the prompt);
        # "to_prompt": while the prompt hook runs the loop and nothing holds it;
        # "instead": in a kernel, the handler ipykernel would have had (SIG_IGN
        #   while idle, its own cancel-the-cell handler during an await cell).
        self._routes: dict[str, list[Callable]] = {"outside_loop": [], "to_prompt": [], "instead": []}
        self.stopped: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()  # named already: keep quiet
        self._cancelled: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()  # got CancelledError from us

    def routed(self, route: str, handler: Callable) -> _Routed:
        """Send the Ctrl-Cs of *route* (see __init__) to *handler* while the block runs."""
        return _Routed(self._routes[route], handler)

    def _route(self, route: str) -> Callable | None:
        routes = self._routes[route]
        return routes[-1] if routes else None

    def __call__(self, signum, frame) -> None:
        __tracebackhide__ = True
        if self.signalled:
            self.signalled()
        loop = self.loop
        if not loop.is_running():
            if (outside_loop := self._route("outside_loop")) is not None:
                outside_loop()
            elif (instead := self._route("instead")) is not None:
                instead(signum, frame)
            else:
                signal.default_int_handler(signum, frame)  # IPython's own code: as plain IPython
            return
        task = asyncio.current_task(loop)
        if self.cells.runs_cell_code(task):
            raise KeyboardInterrupt  # the cell's own code, as plain Python (see without_handler_frames)
        if in_debugger(frame):
            signal.default_int_handler(signum, frame)  # pdb's prompt: pdb says --KeyboardInterrupt--
        held = self.monitor.holding(task, frame, _HELD_FOR)
        if held is None or (task is not None and is_repl_machinery(task)):
            self._not_held(signum, frame)
            return
        where = frame_location(frame, self.cell_namer)
        self._also_interrupt_the_cell(signum, frame)
        ctrl_c = self.cells.interrupt_name
        if task is None:
            self._say(f"{ctrl_c} stopped a callback that held the loop at {where}")
            raise StoppedByCtrlC(ctrl_c)
        label = self.registry.label(task)
        self.stopped.add(task)
        if task in self._cancelled:
            self._say(f"{ctrl_c} stopped task {label} at {where}: it caught CancelledError and kept the loop busy", task)
            raise StoppedByCtrlC(ctrl_c)
        self._cancelled.add(task)
        self.registry.note_cancel_by(task, ctrl_c)
        self._say(f"{ctrl_c} cancelled task {label}, which held the loop at {where}", task)
        raise asyncio.CancelledError(ctrl_c)

    def _say(self, message: str, task: asyncio.Task | None = None) -> None:
        # Now, not on the loop: a task that swallows the CancelledError and
        # spins on would keep the loop from ever printing it.
        context = self.registry.context_of(task) if task is not None else None
        try:
            report(message, context)
        except RuntimeError:  # the interrupted code was printing: say it when the loop runs
            self.loop.call_soon(report, message, context)

    def _not_held(self, signum, frame) -> None:
        if (instead := self._route("instead")) is not None:
            instead(signum, frame)
        elif self.cells.current is not None:
            self.loop.call_soon_threadsafe(self.cells.interrupt)
        elif (to_prompt := self._route("to_prompt")) is not None:
            to_prompt()

    def _also_interrupt_the_cell(self, signum, frame) -> None:
        # Ctrl-C asks for the prompt back: an awaiting cell is cancelled too.
        if (instead := self._route("instead")) is not None:
            instead(signum, frame)
        elif self.cells.current is not None:
            self.loop.call_soon(self.cells.interrupt)


def without_handler_frames(tb):
    """The traceback of a KeyboardInterrupt raised by the Interrupter, without
    the Interrupter's own frame at its end: the user's lines only, as plain
    Python shows them.  (A signal handler that raises is always the innermost
    frame; IPython never hides the innermost frame.)"""
    head, last_users = tb, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == __file__:
            if last_users is None:
                return head
            last_users.tb_next = None
            return head
        last_users, tb = tb, tb.tb_next
    return head


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


class _Routed:
    """``with interrupter.routed(...)``: a class, not a generator, as every
    cell enters one (a generator's context manager costs three times more)."""

    __slots__ = ("routes", "handler")

    def __init__(self, routes: list, handler: Callable):
        self.routes, self.handler = routes, handler

    def __enter__(self) -> None:
        self.routes.append(self.handler)

    def __exit__(self, *exc) -> None:
        self.routes.remove(self.handler)


@contextmanager
def ctrl_c_raises_sigint(fd: int | None):
    """Let the terminal turn Ctrl-C (and no other key) into SIGINT.

    The prompt puts the terminal in raw mode, where Ctrl-C is just a byte in
    the input, which nobody reads while a task keeps the loop busy.
    """
    try:
        import termios  # here, not at %load_ext: a kernel never needs it
    except ImportError:  # Windows: no terminal modes; Ctrl-C at a frozen prompt is not caught
        termios = None
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
