"""A cell's third stage: what asyncrepl does before and after each cell.

Before (IPython's ``pre_run_cell``): the cell's context is noted (reports
about callbacks print in it, so ipykernel puts them in this cell's output),
a task factory the cell before set is wrapped again, and an awaiting cell
gets its deadline (``AsyncRepl.cell_timeout``).

After (``post_run_cell``): the cell's result says what the user saw (a
stopped cell's one line, see ``outcome``), the host has its say, and what the
cell's tasks and coroutines have to report is said inside the cell
(ipykernel's clients stop listening to a cell once it is idle).
"""

from __future__ import annotations

import asyncio
import contextvars

from .._deadline import GRACE
from .._render.reports import report

__all__ = ["CellLifecycle"]


class CellLifecycle:
    """``before`` and ``after`` each cell, for one session."""

    def __init__(self, session, shell):
        self.session = session
        self.shell = shell
        self._deadline: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        """Unloading (maybe from inside a cell): no deadline fires later."""
        self._cancel_deadline()

    def before(self, info=None) -> None:
        session = self.session
        session.cell_context = contextvars.copy_context()
        session.follow_loop_threshold()
        if (notice := session.registry.adopt_task_factory()) is not None:
            report(notice)
        self._deadline_for(info)

    def after(self, result=None) -> None:
        session = self.session
        self._cancel_deadline()
        cell = session.cells.last
        # What the cell's reply names (ipykernel reads it after this): what the user saw.
        if result is not None and cell is not None and cell.shown is not None:
            if isinstance(result.error_in_exec, asyncio.CancelledError):
                result.error_in_exec = cell.shown
        session.host.after_cell(session)
        session.failed_tasks.flush()
        if result is not None:
            source = getattr(result.info, "transformed_cell", None) or result.info.raw_cell or ""
            session.unawaited.check_cell(source, result.result, self.shell.user_ns)

    # -- AsyncRepl.cell_timeout ----------------------------------------------------------

    def _deadline_for(self, info) -> None:
        seconds = self.session.settings.cell_timeout
        if not seconds or info is None or not self._runs_async(info):
            return
        cell = self.session.cells.current
        if cell is not None:
            self._cancel_deadline()
            self._deadline = self.session.loop.call_later(seconds, self._timed_out, cell, seconds)

    def _runs_async(self, info) -> bool:
        raw = info.raw_cell or ""
        transformed = getattr(info, "transformed_cell", None) or raw
        try:
            return self.shell.should_run_async(raw, transformed_cell=transformed, preprocessing_exc_tuple=None)
        except Exception:
            return False

    def _timed_out(self, cell, seconds: float) -> None:
        cells = self.session.cells
        if cells.time_out(cell, seconds):
            self._deadline = self.session.loop.call_later(GRACE, self._let_go, cell)

    def _let_go(self, cell) -> None:
        self._deadline = None
        if cell is self.session.cells.current and cell.awaiting() is not None:
            self.session.cells.let_go(cell, "timeout")

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
