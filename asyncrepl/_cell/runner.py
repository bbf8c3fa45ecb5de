"""A cell's second stage: running it on the REPL's loop (terminal and in-process shells).

IPython hands every cell, with or without ``await``, to :class:`CellRunner`
(its runner for cells), so that cell code always runs with the loop running
and ``create_task`` works in any cell.  (In a kernel, ipykernel runs cells on
its own loop, which always runs.)
"""

from __future__ import annotations

import asyncio

from .._render.reports import report
from .outcome import cell_stopped

__all__ = ["CellRunner", "escaped"]

_NESTED_CELL_WAITS = (
    "a cell run from inside another cell (%%capture, %rerun, run_cell()) cannot "
    "wait for anything: the loop is busy running the outer cell"
)


class CellRunner:
    """Runs each cell's coroutine as a task on the REPL's loop.

    The cell finishes, fails or is cancelled before the runner returns:
    nothing of it runs later (a statement the cell let go of goes on as a
    task of the user's, see ``state``).
    """

    def __init__(self, session, cell_number):
        self.session = session
        self.loop = session.loop
        self.cell_number = cell_number  # the number of the cell about to run
        # The loop's own stop, taken before any wrapper user code could meet.
        self._stop_loop = type(self.loop).stop.__get__(self.loop)

    def __str__(self) -> str:  # %autoawait shows this
        return "asyncrepl"

    def __call__(self, coro):
        session, loop = self.session, self.loop
        cells, interrupter = session.cells, session.interrupter
        if loop.is_running():
            # A cell run from inside a cell (%%capture, %rerun, run_cell() in
            # user code): the loop is already busy with the outer cell.
            return _run_without_suspending(coro)
        # While the loop is not running, Ctrl-C is remembered, never raised
        # here: the cell is cancelled as soon as the loop runs it.
        pressed: list[bool] = []
        cell = None
        stopping = False  # the loop monitor stops the loop once the cell is done

        def outside_loop() -> None:
            if cell is None:
                pressed.append(True)
            else:
                loop.call_soon_threadsafe(cells.interrupt)

        with interrupter.routed("outside_loop", outside_loop):
            try:
                name = f"In [{self.cell_number()}]"
                task = session.create_own_task(coro, name=name)
                stopping = session.monitor.stop_loop_after(task)
                if not stopping:
                    task.add_done_callback(self._stop_once_done)
                cell = cells.begin(task, name)
                if pressed:
                    cells.interrupt()
                return self._run(task, cell)
            finally:
                if stopping:
                    session.monitor.stop_loop_after(None)
                if cell is not None:
                    cells.end(cell)

    def _run(self, task, cell):
        session, loop = self.session, self.loop
        # As run_until_complete, but a loop stopped by something else (a
        # callback's KeyboardInterrupt) runs on until the cell ends.
        while not task.done():
            try:
                loop.run_forever()  # until the cell's task ends, or until something stops the loop
            except (KeyboardInterrupt, SystemExit) as error:
                if task.done():
                    raise  # the cell's own: IPython shows it
                # A background task or callback raised it and stopped
                # the loop: the cell goes on.
                escaped(error)
            finally:
                session.monitor.paused()
        try:
            return task.result()
        except asyncio.CancelledError:
            if cell.stopped_by is None:
                raise
            # Stopped before it started (Ctrl-C as it was about to run).
            raise cell_stopped(cell.stopped_by, None) from None

    def _stop_once_done(self, task) -> None:
        self._stop_loop()

def _run_without_suspending(coro):
    """Drive a cell's coroutine to its end without returning to the loop.

    A bare ``yield`` (``await asyncio.sleep(0)``) needs nothing from the loop;
    a future does, and the loop cannot run while the outer cell holds it, so
    the user's ``await`` gets an error instead, shown where it stands.
    """
    sending, error = None, None
    while True:
        try:
            yielded = coro.send(sending) if error is None else coro.throw(error)
        except StopIteration as done:
            return done.value
        error = None if yielded is None else RuntimeError(_NESTED_CELL_WAITS)


def escaped(error: BaseException) -> None:
    """An exception that stopped the loop (at the prompt, or while a cell
    awaited): the REPL goes on.  A task's SystemExit is reported as its
    failure (see _diagnostics); a callback's is said here."""
    if isinstance(error, SystemExit) and not _raised_in_a_task(error):
        report(
            f"a callback raised SystemExit({error.code!r}): in a script it would have ended "
            "the program; the REPL goes on (exit leaves it)"
        )


def _raised_in_a_task(error: BaseException) -> bool:
    # A task's step runs its coroutine right below Handle._run; a callback runs
    # a plain function there.
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_flags & 0x80:  # CO_COROUTINE
            return True
        tb = tb.tb_next
    return False
