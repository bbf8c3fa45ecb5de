"""The Jupyter kernel (ipykernel) as asyncrepl's host.

ipykernel's loop runs forever and ipykernel runs each cell itself (an await
cell as a task of its own); asyncrepl follows each cell from IPython's
``pre_execute`` to ``post_execute`` events, and puts its Interrupter in front
of ipykernel's SIGINT handling.  Every touch of ipykernel's private
attributes is in this module.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from contextlib import ExitStack, contextmanager

from . import ipython
from .base import Host
from .._asyncio_private import loop_running


def _nothing() -> None:
    pass


class KernelHost(Host):
    name = "kernel"
    interrupt_name = "Interrupt"

    def loop_ready(self) -> bool:
        # Loaded from the kernel's config, before ipykernel starts its loop:
        # the loop to use is the one the first cell runs on.
        return loop_running()

    def install(self, session, undo: ExitStack) -> None:
        shell, cells = self.shell, session.cells

        ipython.on_event(undo, shell, "pre_execute", lambda *_: cells.begin(asyncio.current_task()))
        ipython.on_event(undo, shell, "post_execute", lambda *_: cells.end())
        kernel = getattr(shell, "kernel", None)
        if kernel is not None and KernelInterrupts.fits(kernel) and threading.current_thread() is threading.main_thread():
            interrupts = KernelInterrupts(kernel, session.interrupter, session.loop, cells)
            interrupts.install()
            undo.callback(interrupts.uninstall)
        _shut_down_from_any_thread(undo, shell, session.loop)

    def summary(self, session) -> str:
        debug = "on" if session.settings.debug else "off"
        return f"asyncio debug mode {debug}; asyncio.run() works in cells"


class KernelInterrupts:
    """Puts the Interrupter in front of ipykernel's own SIGINT handling.

    ipykernel ignores SIGINT while idle (SIG_IGN, restored after every message
    from ``Kernel.saved_sigint_handler``) and, during an await cell, installs
    a handler that cancels the cell (``IPythonKernel._cancel_on_sigint``).
    Neither can stop a background task that holds the loop, nor a cell that
    refuses to stop, so the kernel freezes.  The Interrupter goes first in
    both states and passes on to ipykernel's handler what is not a held loop;
    pressed again while the cell is still cancelling, Interrupt lets go of
    the cell (see ``_cell.state``) instead of asking ipykernel again.

    PRIVATE (ipykernel 6.29-7.4): ``Kernel.saved_sigint_handler`` and
    ``IPythonKernel._cancel_on_sigint``, both replaced on the kernel instance
    only, and put back by :meth:`uninstall`.
    """

    def __init__(self, kernel, interrupter, loop, cells):
        self.kernel = kernel
        self.interrupter = interrupter
        self.loop = loop
        self.cells = cells
        self._saved = None
        self._had_own_cancel = False
        self._routed = ExitStack()  # the "instead" route while installed

    @classmethod
    def fits(cls, kernel) -> bool:
        return hasattr(kernel, "saved_sigint_handler") and hasattr(kernel, "_cancel_on_sigint")

    def install(self) -> None:
        kernel, interrupter, cells, loop = self.kernel, self.interrupter, self.cells, self.loop
        self._saved = kernel.saved_sigint_handler
        self._routed = ExitStack()
        self._routed.enter_context(interrupter.routed("instead", self._idle))
        # post_handler_hook puts this back when the current message is done.
        kernel.saved_sigint_handler = interrupter
        self._had_own_cancel = "_cancel_on_sigint" in vars(kernel)
        original = kernel._cancel_on_sigint

        @contextmanager
        def cancel_on_sigint(future):
            with original(future):
                theirs = signal.getsignal(signal.SIGINT)

                def cancel_the_cell(signum, frame):
                    cell = cells.current
                    if cell is not None and cell.stopped_by is not None and cell.awaiting() is not None:
                        loop.call_soon_threadsafe(cells.interrupt)  # pressed again: let go of the cell
                        return
                    # Noted first (who, and where the cell waits), then ipykernel cancels it.
                    loop.call_soon_threadsafe(cells.noted_interrupt)
                    theirs(signum, frame)
                    # Theirs schedules the cancel with plain call_soon (tornado's
                    # add_callback on the loop's thread), which does not wake
                    # the loop: the cell would be cancelled only at the loop's
                    # next timer or message.  Wake it now.
                    loop.call_soon_threadsafe(_nothing)

                with interrupter.routed("instead", cancel_the_cell):
                    signal.signal(signal.SIGINT, interrupter)
                    try:
                        yield
                    finally:
                        signal.signal(signal.SIGINT, theirs)

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
        self._routed.close()


def _shut_down_from_any_thread(undo: ExitStack, shell, loop) -> None:
    """Shutdown and restart stay as fast as without asyncrepl.

    ipykernel answers ``shutdown_request`` on its control thread and sets
    ``shell.exit_now`` there; the shell's observer of that trait calls
    ``loop.call_later`` on the main loop, which debug mode refuses from
    another thread ("Non-thread-safe operation"): no ``shutdown_reply``,
    and a restart waits for the frontend's timeout.  That one observer
    now runs on the loop's thread.

    PRIVATE (ipykernel 6.29.5 and 7.4.0): the observer is
    ``ZMQInteractiveShell._update_exit_now``, an ``@observe("exit_now")``
    handler; it is swapped on this shell instance only.
    """
    handler = getattr(type(shell), "_update_exit_now", None)
    if handler is None:
        return
    try:
        shell.unobserve(handler, names="exit_now")
    except ValueError:
        return  # not observing: a different ipykernel

    def on_loop_thread(change) -> None:
        update = shell._update_exit_now
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None or running is loop or loop.is_closed():
            update(change)
        else:
            loop.call_soon_threadsafe(update, change)

    shell.observe(on_loop_thread, names="exit_now")

    def restore() -> None:
        shell.unobserve(on_loop_thread, names="exit_now")
        shell.observe(handler, names="exit_now")

    undo.callback(restore)
