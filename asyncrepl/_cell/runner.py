"""A cell's second stage: running it on the REPL's loop (terminal and in-process shells).

IPython hands every cell, with or without ``await``, to :class:`CellRunner`
(its runner for cells), so that cell code always runs with the loop running
and ``create_task`` works in any cell.  (In a kernel, ipykernel runs cells on
its own loop, which always runs.)
"""

from __future__ import annotations

import asyncio
import contextvars

from .._hosts import ipython
from .._render.reports import report
from .outcome import cell_stopped
from .statements import cell as resumed
from .transform import may_await

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
                if self._runs_inline(coro):
                    cell = cells.begin(None, name)
                    if pressed:
                        raise self._stopped_before_it_started(coro)
                    task, result = self._run_inline(coro, cell)
                    if task is None:
                        return result
                else:
                    task = session.create_own_task(coro, name=name)
                    cell = cells.begin(task, name)
                    if pressed:
                        cells.interrupt()
                stopping = session.monitor.stop_loop_after(task)
                if not stopping:
                    task.add_done_callback(self._stop_once_done)
                return self._run(task, cell)
            finally:
                if stopping:
                    session.monitor.stop_loop_after(None)
                if cell is not None:
                    cells.end(cell)

    def _runs_inline(self, coro) -> bool:
        """Whether the cell never awaits at its top level (plain IPython runs
        such a cell with no loop at all), and the loop monitor can run it."""
        source = ipython.cell_source(coro)
        return source is not None and not may_await(source) and self.session.monitor.can_run_inline()

    def _run_inline(self, coro, cell):
        """Run a cell that never awaits inside one iteration of the loop, at
        its start, with the loop running and no task (a task, and the two
        iterations it takes, were most of what a trivial cell cost); the tasks
        it starts take their first step in that same iteration, as they did
        after a cell's task.  (None, the cell's result), or raises its error;
        should the cell await after all (another's AST transformer added an
        ``await``), (the task it goes on in, None).
        """
        session, loop = self.session, self.loop
        # As a task would run it: what it sets in context variables stays in the cell.
        context = contextvars.copy_context()
        outcome: dict = {}  # "result", "error" or "moved", as the step ended

        def step() -> None:
            cell.running_inline = True
            try:
                yielded = context.run(coro.send, None)
            except StopIteration as done:
                outcome["result"] = done.value
            except BaseException as error:  # IPython catches the cell's own: this is its own
                outcome["error"] = error
            else:
                outcome["moved"] = session.create_own_task(resumed(coro, yielded), name=cell.name, context=context)
            finally:
                cell.running_inline = False
                cell.ran_inline = True

        session.monitor.run_inline(step)
        try:
            loop.run_forever()  # one iteration: the cell's code, then what became ready
        except (KeyboardInterrupt, SystemExit) as error:
            if cell.ran_inline:
                escaped(error)  # a callback's, after the cell: the REPL goes on
            else:  # Ctrl-C as the loop started, before the cell's code
                raise self._stopped_before_it_started(coro) from None
        finally:
            session.monitor.run_inline(None)
            session.monitor.paused()
        if not cell.ran_inline:  # the loop stopped before its first select (never seen): as a task
            outcome["moved"] = session.create_own_task(coro, name=cell.name, context=context)
        if "error" in outcome:
            raise outcome.pop("error")
        if "moved" in outcome:
            cell.task = outcome["moved"]
            return cell.task, None
        return None, outcome["result"]

    def _stopped_before_it_started(self, coro) -> KeyboardInterrupt:
        """Ctrl-C before a cell's code ran: the cell is not run."""
        coro.close()
        return cell_stopped(self.session.cells.interrupt_name, None)

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
