"""A running program that a front end attached to, as asyncrepl's host.

The loop is the program's own, running in the program's thread; it was
running before the attach and runs on after the detach, and nothing here
stops, closes or replaces it.  Each cell is a task on it (``_attach.server``
makes them); what differs from the terminal and the kernel lives here:

* **Interrupt cancels the cell, never the program.**  It comes on the
  control channel, on the channels' thread, never as a SIGINT (the program's
  SIGINT is the program's).  An awaiting cell is cancelled on the loop.  A
  cell, or a task a cell started, that holds the loop is stopped inside its
  code by a signal the program does not use (SIGURG, whose default is to be
  ignored), sent to the loop's thread only then: its handler, running in
  the held code, looks at what runs there before raising anything (see
  :class:`HeldLoopInterrupts`).  Code of the program's own that holds the
  loop is never interrupted: one line names it.
* **Only a cell's code is a cell's.**  ``loop.stop()`` and ``loop.close()``
  called from a cell (or a task or callback it started) end the cell's own
  ``run_forever()`` as in the terminal; called by the program they do what
  they always do.
* **The status line is pushed**, as a comm message, to the front ends that
  asked for it, when it changes and at most four times a second; an idle
  loop has no iterations, so an idle prompt costs nothing.
* **A cell that holds the loop blocks the program**, and the blocked-loop
  report says so (in a terminal a cell computing is the user's own business).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from contextlib import ExitStack

from .._asyncio_private import running_loop, signal_handlers
from .._diagnostics import report
from .._frames import code_location, frame_location
from .._monitor import Hold, in_debugger
from .._status import StatusLine
from .._tasks import is_repl_machinery
from .base import Host

__all__ = ["AttachedHost", "HELD_FOR"]

# A step must have held the loop this long before Interrupt stops it (as Ctrl-C, see _interrupt).
HELD_FOR = 0.5


class AttachedHost(Host):
    name = "attached"
    interrupt_name = "Interrupt"

    def __init__(self, shell):
        super().__init__(shell)
        self.attachment = shell.attachment  # the _attach.server.Attachment that made the shell
        self.session = None
        self.status: StatusPush | None = None
        self.held: HeldLoopInterrupts | None = None

    def loop_ready(self) -> bool:
        return True

    def loop(self):
        return self.attachment.loop

    def install(self, session, undo: ExitStack) -> None:
        self.session = session
        undo.callback(setattr, self, "session", None)
        session.cells.interrupt_name = self.attachment.interrupt_name
        self._guard_only_cells(session, undo)
        self._report_cells_holding_the_loop(session, undo)
        self.attachment.install_streams(undo)
        self.status = StatusPush(session, self.attachment.push_status, self._holder_name)
        self.status.install(undo)
        self.held = HeldLoopInterrupts.make(session, self.attachment.say)
        if self.held is not None:
            self.held.install(undo)

    def summary(self, session) -> str:
        debug = "on" if session.settings.debug else "off"
        return (
            "each cell runs as a task on the program's loop, which keeps serving; "
            f"Interrupt cancels the cell, never the program; debug mode {debug}"
        )

    def after_cell(self, session) -> None:
        if self.status is not None:
            self.status.new_prompt()

    # -- Interrupt, from the channels' thread ---------------------------------------------------

    def interrupt(self) -> None:
        """The front end's Interrupt (any thread)."""
        session = self.session
        if session is None:
            return
        loop, monitor = session.loop, session.monitor
        lag = monitor.current_lag()
        held = lag >= HELD_FOR
        if held and self.held is not None:
            self.held.request()  # its handler decides, in the held code
            return
        if held:
            self.attachment.say(
                f"{session.cells.interrupt_name}: the program's loop has been busy for "
                f"{lag:.1f} s in a thread other than the main one, where nothing "
                "can stop it from outside; the cell is cancelled when the loop is free"
            )
        try:
            loop.call_soon_threadsafe(session.cells.interrupt)
        except RuntimeError:  # the loop is closed: the program is ending
            pass

    # -- what is a cell's -----------------------------------------------------------------------

    def _holder_name(self, task) -> str | None:
        session = self.session
        if session is not None and task is not None and session.cells.runs_cell_code(task):
            return session.cells.current.name or task.get_name()
        return None

    def _guard_only_cells(self, session, undo: ExitStack) -> None:
        """``loop.stop()``/``loop.close()``: the cell's run only when a cell calls them."""
        guard, loop = session.guard, session.loop
        if not guard.installed:
            return
        from .._attach.streams import in_cell

        real_stop = type(loop).stop.__get__(loop)
        real_close = type(loop).close.__get__(loop)

        def stop() -> None:
            if not in_cell():
                real_stop()
            elif guard.runs:
                guard.runs[-1].stop()
            else:
                report(
                    "loop.stop() on the program's loop from a cell, outside a run_forever() or "
                    "run_until_complete() of the cell's: nothing to stop, the program's loop goes on"
                )

        def close() -> None:
            if not in_cell():
                real_close()
            else:
                report("loop.close() from a cell: the program's loop stays open")

        loop.stop, loop.close = stop, close

        def restore() -> None:
            if vars(loop).get("stop") is stop:
                loop.stop = guard.stop
            if vars(loop).get("close") is close:
                loop.close = guard.close

        undo.callback(restore)

    def _report_cells_holding_the_loop(self, session, undo: ExitStack) -> None:
        """A cell's own code holding the program's loop is reported: the program waits for it."""
        monitor, cells = session.monitor, session.cells

        def on_hold(hold: Hold) -> None:
            task = hold.task
            if task is None or not is_repl_machinery(task) or not session.blocked.enabled or hold.debugger:
                return
            if not cells.ran_cell_code(task):
                return
            line = hold.line
            if line is None:
                return  # IPython's own work for the cell (compiling, history), not the cell's code
            name = task.get_name()
            where = f" at {code_location(line[0], line[1], session.views.cell_namer)}"
            report(f"{name} held the program's loop for {hold.duration:.2f} s{where}: the program waited meanwhile")

        undo.callback(monitor.held.subscribe(on_hold))


class StatusPush:
    """The status line, pushed to the front ends that asked for it.

    Computed on the loop's thread at the end of an iteration that may have
    changed it (:class:`~asyncrepl._status.StatusLine`'s signature), at most
    ``1 / INTERVAL`` times a second (the last change is always sent); while a
    step holds the loop, the monitor's thread sends the holding mark itself.
    Nothing runs while nobody listens, nor while the loop is idle.
    """

    INTERVAL = 0.25
    HELD_EVERY = 0.5

    def __init__(self, session, push, holder_name):
        self.session = session
        self.loop = session.loop
        self.monitor = session.monitor
        self.status = StatusLine(session.registry)
        self.push = push  # push(text): to every front end listening
        self.holder_name = holder_name
        self.listening = False
        self._signature = None
        self._last_check = 0.0
        self._trailing: asyncio.TimerHandle | None = None
        self._held_sent = 0.0
        self._text_sent = None
        self._unsubscribe: list = []

    def install(self, undo: ExitStack) -> None:
        undo.callback(self.stop)

    def start(self) -> None:
        """A front end listens: follow the loop (on the loop's thread)."""
        if not self.listening:
            self.listening = True
            self._unsubscribe = [self.monitor.iteration_ended.subscribe(self._iteration), self.monitor.sampled.subscribe(self._sample)]
        self.send_now()

    def stop(self) -> None:
        self.listening = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None

    def new_prompt(self) -> None:
        self.status.new_prompt()
        if self.listening:
            self.send_now()

    def send_now(self) -> None:
        self._last_check = time.monotonic()
        self._signature = self.status.signature()
        self.status.refresh()
        self._send(self.status.text)

    def _send(self, text: str) -> None:
        if text != self._text_sent:
            self._text_sent = text
            self.push(text)

    # -- on the loop's thread --

    def _iteration(self, start: float, end: float) -> None:
        self.status.iteration(start, end)
        signature = self.status.signature()
        if signature == self._signature:
            if self._text_sent is not None and self._text_sent != self.status.text:
                self._send(self.status.text)  # the holding mark is over
            return
        now = time.monotonic()
        due = self._last_check + self.INTERVAL
        if now >= due:
            self.send_now()
        elif self._trailing is None:
            self._trailing = self.loop.call_at(self.loop.time() + (due - now), self._trailing_check)

    def _trailing_check(self) -> None:
        self._trailing = None
        if self.listening and self.status.signature() != self._signature:
            self.send_now()

    # -- on the monitor's thread, while a step holds the loop --

    def _sample(self, hold: Hold) -> None:
        if hold.debugger:
            return
        now = time.monotonic()
        held = now - hold.start
        if held < self.monitor.threshold or now - self._held_sent < self.HELD_EVERY:
            return
        self._held_sent = now
        task = hold.task
        name = self.holder_name(task)
        if name is None:
            if task is not None and is_repl_machinery(task):
                return
            name = self.status.who(task)
        self._send(self.status.while_held(name, held))


class HeldLoopInterrupts:
    """Stops the cell's code, or a task a cell started, that holds the loop.

    Only where the loop runs in the main thread (signal handlers run there):
    the channels' thread sends ``SIGNAL`` to the process, and the handler,
    running in the held code between two bytecodes, decides, as
    ``_interrupt.Interrupter`` does for Ctrl-C: it raises CancelledError
    only into a step that is still the one holding the loop and that is a
    cell's, else it cancels the cell on the loop as soon as it is free.

    SIGURG is used because a program does not (it reports urgent data on
    sockets that asked for it) and its default action is to be ignored: a
    signal still on its way when the handler is taken back at the detach is
    dropped, never fatal.  A program that handles SIGURG itself keeps it,
    and only an awaiting cell can then be interrupted.
    """

    SIGNAL = getattr(signal, "SIGURG", None)

    def __init__(self, session, say):
        self.session = session
        self.say = say  # one line to the front end
        self.loop = session.loop
        self._requested = False
        self._lock = threading.Lock()
        self._installed = False

    @classmethod
    def make(cls, session, say) -> HeldLoopInterrupts | None:
        if cls.SIGNAL is None or threading.current_thread() is not threading.main_thread():
            return None
        if signal.getsignal(cls.SIGNAL) not in (signal.SIG_DFL, None):
            return None  # the program's
        if cls.SIGNAL in (signal_handlers(session.loop) or {}):
            return None
        return cls(session, say)

    def install(self, undo: ExitStack) -> None:
        signal.signal(self.SIGNAL, self)
        self._installed = True
        undo.callback(self.uninstall)

    def uninstall(self) -> None:
        with self._lock:
            self._installed = False
            self._requested = False
            if signal.getsignal(self.SIGNAL) is self:
                signal.signal(self.SIGNAL, signal.SIG_DFL)

    def request(self) -> None:
        """From the channels' thread: interrupt what holds the loop."""
        import os

        with self._lock:
            if not self._installed:
                return
            self._requested = True
            os.kill(os.getpid(), self.SIGNAL)  # to the process: only the main thread handles it

    def __call__(self, signum, frame) -> None:
        __tracebackhide__ = True
        if not self._requested:
            return
        self._requested = False
        session, loop = self.session, self.loop
        cells = session.cells
        by = cells.interrupt_name
        if running_loop() is not loop:
            loop.call_soon_threadsafe(cells.interrupt)
            return
        task = asyncio.current_task(loop)
        held = session.monitor.holding(task, frame, HELD_FOR)
        if held is None or in_debugger(frame):
            loop.call_soon_threadsafe(cells.interrupt)  # it let go meanwhile: the cell as usual
            return
        where = frame_location(frame, session.views.cell_namer)
        cell = cells.current
        if task is not None and cell is not None and cell.runs(task):
            if cell.stopped_by is None:
                cell.stopped_by, cell.waited_at = by, where
            raise asyncio.CancelledError(by)
        if task is not None and _a_cells(task, session.registry):
            label = session.registry.label(task)
            session.registry.note_cancel_by(task, by)
            session.interrupter.stopped.add(task)
            self.say(f"{by} cancelled task {label}, which held the program's loop at {where}")
            if cell is not None:
                loop.call_soon_threadsafe(cells.interrupt)
            raise asyncio.CancelledError(by)
        who = "a callback" if task is None else f"task {session.registry.label(task)}"
        self.say(
            f"{by}: the program's own {who} holds the loop at {where}; Interrupt stops only "
            "what cells started, never the program"
        )
        if cell is not None:
            loop.call_soon_threadsafe(cells.interrupt)


def _a_cells(task, registry) -> bool:
    """Whether *task* was started from a cell (it runs in a context a cell's code made)."""
    from .._attach.streams import CELL

    context = registry.context_of(task)
    return context is not None and context.get(CELL) is not None
