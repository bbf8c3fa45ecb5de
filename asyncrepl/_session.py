"""A Session: asyncrepl on one running loop, its parts built and wired once.

The extension (``asyncrepl/__init__``) makes a Session as soon as the loop
it works on exists (at load, or at a kernel's first cell), and the magics
receive it.  :meth:`Session.start` installs every part on the loop and the
shell, registering how to undo each; :meth:`Session.stop` undoes them all, in
reverse order, leaving the loop and the shell as they were.

The parts (plain code over asyncio, see each module):

* ``registry`` (``_tasks``): ids, creation sites and history of tasks;
* ``monitor`` (``_monitor``): which step holds the loop, and its lag; its
  ``blocked`` reporter says so;
* ``unawaited``, ``failed_tasks`` (``_diagnostics``): the classic mistakes;
* ``cells`` (``_cell.state``): the cell running now and how to stop it;
* ``interrupter`` (``_interrupt``): what Ctrl-C does;
* ``entry`` (``_scripts``): the stand-ins for asyncio.run() and friends;
* ``views`` (``_render``): how places and tasks are named for the user.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import ExitStack

from . import _holders, _scripts
from ._cell.lifecycle import CellLifecycle
from ._cell.state import Cells
from ._deadline import waiting_at
from ._deadlocks import DeadlockWatch
from ._diagnostics import FailedTasks, UnawaitedCoroutines
from ._hosts import ipython
from ._interrupt import Interrupter
from ._monitor import BlockedLoopReporter, LoopMonitor, _MachineryFilter
from ._render import Views
from ._tasks import TaskRegistry, is_repl_machinery

__all__ = ["Session"]

_SETTINGS = (
    "debug", "slow_callback_duration", "task_history", "report_blocking", "warn_unawaited", "report_task_errors", "report_deadlocks",
)


class Session:
    """asyncrepl on *loop*, for *shell*, in *host*."""

    def __init__(self, shell, loop: asyncio.AbstractEventLoop, settings, host):
        self.shell = shell
        self.loop = loop
        self.settings = settings
        self.host = host
        namer = ipython.cell_namer(shell)
        self.views = Views(namer)
        self.registry = TaskRegistry(loop, settings.task_history)
        self.cell_context = None  # the running cell's context, where reports about callbacks print
        self.monitor = LoopMonitor(loop, self.slow_step_threshold, describe=self._who_held)
        self.blocked = BlockedLoopReporter(loop, self.registry, namer, lambda: self.cell_context)
        self.monitor.held.subscribe(self.blocked)
        self.unawaited = UnawaitedCoroutines(namer)
        self.failed_tasks = FailedTasks(loop, self.registry, namer)
        self.deadlocks = DeadlockWatch(self.registry, self.views.place, self.slow_step_threshold)
        self.cells = Cells(
            self.registry,
            place=self.views.place,
            cell_name=lambda: f"In [{ipython.running_cell_number(shell)}]",
            interrupt_name=host.interrupt_name,
        )
        self.interrupter = Interrupter(loop, self.registry, self.monitor, self.cells, namer)
        self.blocked.named_elsewhere.subscribe(self.interrupter.stopped.__contains__)  # Ctrl-C named those
        self.guard = _scripts.LoopGuard(loop)
        self.entry = _scripts.LoopEntry(loop, self.guard, self.registry.context_of, self.monitor.elsewhere, self.cells)
        self.lifecycle = CellLifecycle(self, shell)
        self._undo = ExitStack()

    # -- installing -------------------------------------------------------------------------

    def start(self) -> None:
        undo = self._undo
        try:
            self.registry.install()
            undo.callback(self.registry.uninstall)
            self.unawaited.install()
            undo.callback(self.unawaited.uninstall)
            self.failed_tasks.install()
            undo.callback(self.failed_tasks.uninstall)
            self.monitor.start()
            undo.callback(self.monitor.stop)
            undo.callback(_holders.install())  # who holds locks and permits (%why)
            undo.callback(self.deadlocks.install())
            # loop.stop() and loop.close() in user code end the user's run,
            # never the REPL's loop; the stand-ins work on this loop from now on.
            if self.guard.install():
                undo.callback(self.guard.uninstall)
            _scripts.sessions[self.loop] = self
            undo.callback(_scripts.sessions.pop, self.loop, None)
            ipython.run_magic_as_script(undo, self.shell, _scripts.script_mode)
            self._keep_loop_settings()
            self._apply_settings()
            self.settings.observe(self._apply_settings, names=list(_SETTINGS))
            undo.callback(self.settings.unobserve, self._apply_settings, names=list(_SETTINGS))
            machinery_filter = _MachineryFilter(self.interrupter.stopped, self._asyncio_timed_slow_step)
            logger = logging.getLogger("asyncio")
            logger.addFilter(machinery_filter)
            undo.callback(logger.removeFilter, machinery_filter)
            ipython.on_event(undo, self.shell, "pre_run_cell", self.lifecycle.before)
            ipython.on_event(undo, self.shell, "post_run_cell", self.lifecycle.after)
            undo.callback(self.lifecycle.stop)
            self.host.install(self, undo)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._undo.close()

    # -- tasks of asyncrepl's own -----------------------------------------------------------

    def create_own_task(self, coro, *, name: str | None = None, context=None) -> asyncio.Task:
        """A task of asyncrepl's own (a cell's): never the user's."""
        return self.registry.create_own_task(coro, name=name, context=context, site=False)

    # -- settings -----------------------------------------------------------------------------

    def _keep_loop_settings(self) -> None:
        loop = self.loop
        debug, slow = loop.get_debug(), loop.slow_callback_duration

        def restore() -> None:
            if not loop.is_closed():
                loop.set_debug(debug)
                loop.slow_callback_duration = slow

        self._undo.callback(restore)

    def _apply_settings(self, change=None) -> None:
        settings, loop = self.settings, self.loop
        loop.set_debug(settings.debug)
        loop.slow_callback_duration = settings.slow_callback_duration
        self.blocked.enabled = settings.report_blocking
        self.unawaited.enabled = settings.warn_unawaited
        self.failed_tasks.enabled = settings.report_task_errors
        self.deadlocks.enabled = settings.report_deadlocks
        if self.registry.ended.size != settings.task_history:
            self.registry.ended.resize(settings.task_history)

    def _who_held(self, task: asyncio.Task, hold) -> str:
        """How %asyncdebug names a task that held the loop: the REPL's task
        running a cell is that cell (ipykernel runs cells in its shell_main
        task: the user's import was blamed on 'Kernel.shell_main()'); if no
        sample found the cell's lines running, IPython held it around them
        (drawing a long traceback after the cell's error, or its output)."""
        # The iteration that held may end after the cell did (ipykernel's
        # shell_main task goes on to its next step): the cell that ended last.
        cell = self.cells.current or self.cells.last
        if cell is not None and is_repl_machinery(task):
            name = self.cells.name_of(cell)  # a kernel's cell is named when first asked
            if hold.line is None:
                return f"{name} (IPython's code around it: showing its error or output)"
            return f"{name} (the cell's own code)"
        return self.registry.label(task)

    def _asyncio_timed_slow_step(self, task: asyncio.Task | None, seconds: float, callback: str | None) -> bool:
        """asyncio's debug mode is about to log that a step of *task* (None: a
        callback) took *seconds*: whether asyncrepl reports it instead.  A
        step the loop monitor's samples missed (its thread did not get to run
        on a loaded machine) is reported from asyncio's timing, so that none
        goes unreported and each report reaches the cell of the task."""
        if not self.settings.report_blocking:
            return False
        if not self.monitor.saw_holding(task):
            self.blocked.report_unseen(task, seconds, callback)
        return True

    def slow_step_threshold(self) -> float:
        """How long a step may hold the loop: the loop's ``slow_callback_duration``,
        which is AsyncRepl.slow_callback_duration unless code set the loop's own."""
        value = self.loop.slow_callback_duration
        if isinstance(value, (int, float)) and 0.001 <= value < float("inf"):
            return float(value)
        return self.settings.slow_callback_duration

    def follow_loop_threshold(self) -> None:
        # One setting: code that set loop.slow_callback_duration (as books
        # show) changed AsyncRepl.slow_callback_duration too.
        value = self.slow_step_threshold()
        if value != self.settings.slow_callback_duration:
            self.settings.slow_callback_duration = value

    # -- naming ---------------------------------------------------------------------------------

    def waiting_at(self, task: asyncio.Task) -> str | None:
        """Where *task* waits, as the user knows the place (``In [5] line 3: ...``)."""
        link = waiting_at(task)
        return self.views.place(link) if link is not None else None
