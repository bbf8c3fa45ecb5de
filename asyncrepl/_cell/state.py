"""The cell running now, as asyncrepl follows it: its task, the statement it
awaits, and what stopped it (Ctrl-C, a deadline), in one place.

Ctrl-C (``_interrupt``), the cell's deadline (``lifecycle``), the stand-ins for
``loop.run_forever()`` and friends (``_scripts``) and the cell's outcome
(``outcome``) all read and write the cell's state here, and nowhere else.

Stopping a cell is always the same two steps:

1. cancel the cell's task, noting who asked and where the cell was waiting:
   the cell's ``except`` and ``finally`` blocks run, and the cell ends with
   one line saying so;
2. if the cell is still cancelling when asked again (a second Ctrl-C, or a
   moment after its deadline), let go of it: the cell ends at once, and the
   statement that refuses to stop goes on in the background as a task of the
   user's, named after the cell (see ``statements``), with one line naming
   the task that refuses and where it was when cancelled.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable

from .._deadline import waiting_at
from .._tasks import TaskRegistry
from .. import _tasks
from .outcome import CellAbandoned
from .statements import Statement, awaited, awaiting, compile_statement

__all__ = ["Cell", "Cells"]


class Cell:
    """One running cell."""

    def __init__(self, name: str | None, task: asyncio.Task | None):
        self.name = name  # "In [7]"; None until known (see Cells.name_of)
        self.task = task  # the task running the cell's code
        # A cell that never awaits runs inline, inside one loop iteration, without a task (see runner):
        self.running_inline = False  # its code runs inline now
        self.ran_inline = False  # its code ran inline, and has ended
        self.statement: Statement | None = None  # the statement the cell awaits now, if any
        self.stopped_by: str | None = None  # "Ctrl-C", "Interrupt", or "timeout": the cell is being cancelled
        self.waited_at: str | None = None  # where the cell was waiting when it was cancelled
        self.seconds: float | None = None  # the deadline that cancelled it
        self.shown: BaseException | None = None  # what the cell showed as its error, if asyncrepl showed it

    def runs(self, task: asyncio.Task | None) -> bool:
        """Whether *task* runs the cell's own code (None: no task runs, and
        the code running is the cell's, if it runs inline now)."""
        if task is None:
            return self.running_inline
        return task is self.task

    def code_done(self) -> bool:
        """Whether the cell's own code has ended (what it started may run on)."""
        if self.task is not None:
            return self.task.done()
        return self.ran_inline

    def awaiting(self) -> Statement | None:
        """The statement the cell awaits now, unless it has ended."""
        statement = self.statement
        return statement if statement is not None and not statement.done else None


class Cells:
    """Follows the cells as they run: the one running now is :attr:`current`.

    *place* names a place in code as the user knows it (``In [5] line 3:
    await q.get()``); *cell_name* names the cell running now (``In [7]``).
    """

    def __init__(
        self,
        registry: TaskRegistry,
        place: Callable,
        cell_name: Callable[[], str] = lambda: "the cell",
        interrupt_name: str = "Ctrl-C",
    ):
        self.registry = registry
        self.place = place
        self.cell_name = cell_name
        self.interrupt_name = interrupt_name  # what the host calls it: "Ctrl-C", or "Interrupt" in Jupyter
        self._running: list[Cell] = []  # a cell run from inside a cell (run_cell()) on top
        self.last: Cell | None = None  # the cell that ended last, for its outcome
        self._last_task: weakref.ref[asyncio.Task] | None = None  # its task, while something else holds it

    @property
    def current(self) -> Cell | None:
        return self._running[-1] if self._running else None

    def begin(self, task: asyncio.Task | None, name: str | None = None) -> Cell:
        cell = Cell(name, task)
        self._running.append(cell)
        return cell

    def end(self, cell: Cell | None = None) -> Cell | None:
        """The cell ended (the one running now, or *cell*); it, as it ended."""
        if cell is None:
            cell = self._running[-1] if self._running else None
        if cell in self._running:
            self._running.remove(cell)
        if cell is not None:
            # The ended task's result is IPython's ExecutionResult, and with it
            # the cell's value: %reset and %xdel must be able to free it.
            self._last_task = weakref.ref(cell.task) if cell.task is not None else None
            cell.task = cell.statement = None
            self.last = cell
        return cell

    def ran_cell_code(self, task: asyncio.Task | None) -> bool:
        """Whether *task* runs the cell's own code, or ran the cell that ended last."""
        last = self._last_task() if self._last_task is not None else None
        return task is not None and (self.runs_cell_code(task) or task is last)

    def name_of(self, cell: Cell) -> str:
        if cell.name is None:
            cell.name = self.cell_name()
        return cell.name

    def runs_cell_code(self, task: asyncio.Task | None) -> bool:
        cell = self.current
        return cell is not None and cell.runs(task)

    # -- a statement that awaits ----------------------------------------------------

    def statement(self, key: int, frame):
        """The cell's statement kept under *key*, ready to be awaited."""
        value, line = compile_statement(key, frame)
        if not inspect.iscoroutine(value):
            return awaited(value)
        return self.drive(value, (frame.f_code, line))

    def drive(self, awaitable, where: tuple) -> Statement:
        """``await awaitable``, the cell's statement at *where* (its code and
        line), ready to be awaited: as :meth:`statement`, for the awaitable
        the cell's own code made."""
        coro = awaitable if inspect.iscoroutine(awaitable) else awaiting(awaitable)
        statement = Statement(coro, where)
        cell = self.current
        if cell is not None:
            cell.statement = statement
        return statement

    # -- stopping a cell -------------------------------------------------------------

    def interrupt(self, by: str | None = None) -> None:
        """Ctrl-C (or Jupyter's Interrupt) for the cell that awaits: cancel it;
        pressed again while it is still cancelling, let go of it.
        Call on the loop's thread."""
        cell = self.current
        if cell is None or cell.task is None or cell.task.done():
            return
        by = by or self.interrupt_name
        if cell.stopped_by is not None and cell.awaiting() is not None:
            self.let_go(cell, by)
            return
        self._note_stop(cell, by)
        cell.task.cancel("KeyboardInterrupt")

    def noted_interrupt(self, by: str | None = None) -> None:
        """A cancellation of the cell is about to come from elsewhere
        (ipykernel's own interrupt handler): note it as *by*'s."""
        cell = self.current
        if cell is not None and cell.stopped_by is None:
            self._note_stop(cell, by or self.interrupt_name)

    def time_out(self, cell: Cell, seconds: float) -> bool:
        """The cell's deadline: cancel it (True if it was still running)."""
        if cell is not self.current or cell.stopped_by is not None or cell.task is None or cell.task.done():
            return False
        self._note_stop(cell, "timeout")
        cell.seconds = seconds
        cell.task.cancel("cell timeout")
        return True

    def _note_stop(self, cell: Cell, by: str) -> None:
        cell.stopped_by = by
        link = waiting_at(cell.task) if cell.task is not None else None
        cell.waited_at = self.place(link) if link is not None else None

    def take_interrupt(self) -> bool:
        """For a stand-in (``loop.run_forever()``...) that got the cancellation
        of an interrupted cell: True if it was Ctrl-C's (or Interrupt's), which
        the stand-in then raises as KeyboardInterrupt at its call, as a script
        would; the cell is no longer being cancelled, and goes on."""
        cell = self.current
        if cell is None or cell.stopped_by in (None, "timeout"):
            return False
        cell.stopped_by = cell.waited_at = None
        task = cell.task
        if task is not None and task is asyncio.current_task() and task.cancelling():
            task.uncancel()
        return True

    def let_go(self, cell: Cell, by: str, attempts: int = 100) -> None:
        """Stop waiting for the cell's statement: the cell ends now with one
        line, and the statement goes on in the background as a user task."""
        statement = cell.awaiting()
        if statement is None:
            return
        refusing = _tasks.why_still_running(self.registry, cell.task)

        def start_task(coro, context):
            task = self.registry.create_own_task(coro, name=self.name_of(cell), context=context)
            info = self.registry.info(task)
            info.frames = statement.where  # created where the statement stands
            if statement.of_users_coroutine():
                info.coro = statement.coro  # named as the coroutine it goes on with: (fetch()), not (cell())
            self.registry.adopt(task)
            return task

        moved = statement.let_go(start_task, lambda task: self._left_running_error(task, by, cell, refusing))
        if moved is None and attempts > 0:  # between two steps: again at the next iteration
            asyncio.get_running_loop().call_soon(self.let_go, cell, by, attempts - 1)

    def left_running(self, task: asyncio.Task, by: str, waited_at: str | None, seconds: float | None) -> BaseException:
        """*task*, which ran a cell's code (``%%timeout``'s) and refuses to stop,
        goes on in the background as a task of the user's; the error the cell
        ends with, naming the task that refuses."""
        refusing = _tasks.why_still_running(self.registry, task)
        self.registry.adopt(task)
        users = _tasks.users_coroutine(task)
        if users is not None:
            self.registry.info(task).coro = users  # named as the coroutine it goes on with: (deaf()), not (run_with_value())
        return self._left_running_error(task, by, self.current, refusing, waited_at=waited_at, seconds=seconds)

    def _left_running_error(self, task, by, cell, refusing, waited_at=None, seconds=None) -> BaseException:
        refuser = refusing.task if refusing.task is not cell_task(cell) else task
        return CellAbandoned(
            cell=self.name_of(cell) if cell is not None else self.registry.name_of(task),
            by=by,
            task=self.registry.label(task),
            task_id=self.registry.info(task).id,
            refusing=self.registry.label(refuser),
            how=refusing.how,
            where=self.place(refusing.where) if refusing.where is not None else None,
            waited_at=waited_at if waited_at is not None else (cell.waited_at if cell is not None else None),
            seconds=seconds if seconds is not None else (cell.seconds if cell is not None else None),
        )


def cell_task(cell: Cell | None):
    return cell.task if cell is not None else None
