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

try:
    import termios
except ImportError:  # Windows: no terminal modes; Ctrl-C at a frozen prompt is not caught
    termios = None

from ._diagnostics import StoppedByCtrlC, report
from ._frames import frame_location
from ._monitor import LoopMonitor, in_debugger
from ._tasks import TaskRegistry, is_repl_machinery

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
        cell_namer=None,
    ):
        self.loop = loop
        self.registry = registry
        self.monitor = monitor
        self.cell_namer = cell_namer
        self.cell_task: asyncio.Task | None = None  # the cell running now
        self.cell_interrupted = False  # Ctrl-C cancelled the cell: show one line
        # While the cell runner or the prompt hook sets up or tears down, what
        # Ctrl-C does instead of raising (cancel the cell, press Ctrl-C at the prompt).
        self.in_window: Callable[[], None] | None = None
        self.forward_to_prompt: Callable[[], None] | None = None  # while the prompt hook runs the loop
        # In a kernel: the handler ipykernel would have had (SIG_IGN while idle,
        # its own cancel-the-cell handler during an await cell).
        self.otherwise: Callable | None = None
        self.stopped: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()  # named already: keep quiet
        self._cancelled: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()  # got CancelledError from us

    def __call__(self, signum, frame) -> None:
        __tracebackhide__ = True
        loop = self.loop
        if not loop.is_running():
            if self.in_window is not None:
                self.in_window()
            elif self.otherwise is not None:
                self.otherwise(signum, frame)
            else:
                signal.default_int_handler(signum, frame)  # IPython's own code: as plain IPython
            return
        task = asyncio.current_task(loop)
        if task is not None and task is self.cell_task:
            raise KeyboardInterrupt  # the cell's own code, as plain Python (see without_handler_frames)
        if in_debugger(frame):
            signal.default_int_handler(signum, frame)  # pdb's prompt: pdb says --KeyboardInterrupt--
        held = self.monitor.holding(task, frame, _HELD_FOR)
        if held is None or (task is not None and is_repl_machinery(task)):
            self._not_held(signum, frame)
            return
        where = frame_location(frame, self.cell_namer)
        self._also_interrupt_the_cell(signum, frame)
        if task is None:
            self._say(f"Ctrl-C stopped a callback that held the loop at {where}")
            raise StoppedByCtrlC("Ctrl-C")
        label = self.registry.label(task)
        self.stopped.add(task)
        if task in self._cancelled:
            self._say(f"Ctrl-C stopped task {label} at {where}: it caught CancelledError and kept the loop busy", task)
            raise StoppedByCtrlC("Ctrl-C")
        self._cancelled.add(task)
        self.registry.note_cancel_by(task, "Ctrl-C")
        self._say(f"Ctrl-C cancelled task {label}, which held the loop at {where}", task)
        raise asyncio.CancelledError("Ctrl-C")

    def _say(self, message: str, task: asyncio.Task | None = None) -> None:
        # Now, not on the loop: a task that swallows the CancelledError and
        # spins on would keep the loop from ever printing it.
        context = self.registry.context_of(task) if task is not None else None
        try:
            report(message, context)
        except RuntimeError:  # the interrupted code was printing: say it when the loop runs
            self.loop.call_soon(report, message, context)

    def _not_held(self, signum, frame) -> None:
        if self.otherwise is not None:
            self.otherwise(signum, frame)
        elif self.cell_task is not None:
            self.loop.call_soon_threadsafe(self.interrupt_cell)
        elif self.forward_to_prompt is not None:
            self.forward_to_prompt()

    def _also_interrupt_the_cell(self, signum, frame) -> None:
        # Ctrl-C asks for the prompt back: an awaiting cell is cancelled too.
        if self.otherwise is not None:
            self.otherwise(signum, frame)
        elif self.cell_task is not None:
            self.loop.call_soon(self.interrupt_cell)

    def interrupt_cell(self, task: asyncio.Task | None = None) -> None:
        """Cancel the cell's task (*task*, or the cell running now) as Ctrl-C does."""
        task = task or self.cell_task
        if task is not None and task is self.cell_task and not task.done():
            self.cell_interrupted = True
            task.cancel("KeyboardInterrupt")


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


# -- in a kernel ---------------------------------------------------------------------------------


def _nothing() -> None:
    pass



class KernelInterrupts:
    """Puts the Interrupter in front of ipykernel's own SIGINT handling.

    ipykernel ignores SIGINT while idle (SIG_IGN, restored after every message
    from ``Kernel.saved_sigint_handler``) and, during an await cell, installs
    a handler that cancels the cell (``IPythonKernel._cancel_on_sigint``).
    Neither can stop a background task that holds the loop, so the kernel
    freezes.  The Interrupter goes first in both states and passes on to
    ipykernel's handler what is not a held loop.

    PRIVATE (ipykernel 6.29-7.4): ``Kernel.saved_sigint_handler`` and
    ``IPythonKernel._cancel_on_sigint``, both replaced on the kernel instance
    only, and put back by :meth:`uninstall`.
    """

    def __init__(self, kernel, interrupter: Interrupter):
        self.kernel = kernel
        self.interrupter = interrupter
        self._saved = None
        self._had_own_cancel = False

    @classmethod
    def fits(cls, kernel) -> bool:
        return hasattr(kernel, "saved_sigint_handler") and hasattr(kernel, "_cancel_on_sigint")

    def install(self) -> None:
        kernel, interrupter = self.kernel, self.interrupter
        self._saved = kernel.saved_sigint_handler
        interrupter.otherwise = self._idle
        # post_handler_hook puts this back when the current message is done.
        kernel.saved_sigint_handler = interrupter
        self._had_own_cancel = "_cancel_on_sigint" in vars(kernel)
        original = kernel._cancel_on_sigint

        @contextmanager
        def cancel_on_sigint(future):
            with original(future):
                theirs = signal.getsignal(signal.SIGINT)
                previous_otherwise = interrupter.otherwise

                def cancel_the_cell(signum, frame):
                    interrupter.cell_interrupted = True
                    theirs(signum, frame)
                    # Theirs schedules the cancel with plain call_soon (tornado's
                    # add_callback on the loop's thread), which does not wake
                    # the loop: the cell would be cancelled only at the loop's
                    # next timer or message.  Wake it now.
                    interrupter.loop.call_soon_threadsafe(_nothing)

                interrupter.otherwise = cancel_the_cell
                signal.signal(signal.SIGINT, interrupter)
                try:
                    yield
                finally:
                    signal.signal(signal.SIGINT, theirs)
                    interrupter.otherwise = previous_otherwise

        kernel._cancel_on_sigint = cancel_on_sigint

    def _idle(self, signum, frame) -> None:
        saved = self._saved
        if callable(saved):
            saved(signum, frame)
        # SIG_IGN (ipykernel's while idle) or SIG_DFL: nothing to do in Python.

    def uninstall(self) -> None:
        kernel = self.kernel
        if kernel.saved_sigint_handler is self.interrupter:
            kernel.saved_sigint_handler = self._saved
        if signal.getsignal(signal.SIGINT) is self.interrupter:
            signal.signal(signal.SIGINT, self._saved if self._saved is not None else signal.SIG_IGN)
        if not self._had_own_cancel:
            vars(kernel).pop("_cancel_on_sigint", None)
        self.interrupter.otherwise = None
