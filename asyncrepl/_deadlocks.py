"""Deadlocks reported by themselves: a wait-for cycle that lasts is reported
once, as a blocked loop is.

The watch costs nothing while no task waits on a lock, semaphore, queue,
event, condition or barrier: it is woken only when a task is about to wait
on one (:func:`asyncrepl._holders.on_contention`), and then looks a second
later (or after ``slow_callback_duration``, if longer) for cycles in the
wait-for graph (:mod:`asyncrepl._why`).  A cycle seen at two looks in a row
is reported; while none is new, the watch sleeps until the next contention:
an idle loop gets no wakeups from it.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import _holders
from ._render.reports import report
from ._tasks import TaskRegistry

if TYPE_CHECKING:  # imported when a cycle is looked for: not at %load_ext
    from . import _why
    from ._render.why import Place

__all__ = ["DeadlockWatch"]

#: Seconds a cycle must last before it is reported, at least.
PERSISTS = 1.0

_log = logging.getLogger("asyncrepl")


class DeadlockWatch:
    """Reports each wait-for cycle among *registry*'s tasks once, when it
    has lasted :data:`PERSISTS` seconds (or *threshold()*, if longer).
    *place* names a code place as the user knows it (``Views.place``)."""

    def __init__(self, registry: TaskRegistry, place: Place, threshold: Callable[[], float] = lambda: PERSISTS, emit=report):
        self.registry = registry
        self.loop = registry.loop
        self.place = place
        self.threshold = threshold
        self.enabled = True
        self.emit = emit
        self._handle: asyncio.TimerHandle | None = None
        self._candidates: set[frozenset] = set()  # cycles seen at the last look, not reported yet
        self._reported: set[frozenset] = set()  # cycles reported, while they last
        self.reports = 0

    def install(self) -> Callable[[], None]:
        """Start watching; returns what stops it."""
        stop_listening = _holders.on_contention(self.loop, self._contended)

        def stop() -> None:
            stop_listening()
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None

        return stop

    def _contended(self, primitive) -> None:
        # In the step of a task about to wait: only arm a timer, once.
        if self._handle is None and self.enabled:
            self._handle = self.loop.call_later(max(PERSISTS, self.threshold()), self._look)

    def _look(self) -> None:
        self._handle = None
        if not self.enabled:
            return
        try:
            from . import _why

            analysis = _why.analyse(self.registry)
            cycles = {frozenset(map(id, cycle)): cycle for cycle in analysis.cycles()}
            self._reported &= set(cycles)
            new = set()
            for key, cycle in cycles.items():
                if key in self._reported:
                    continue
                if key in self._candidates:
                    self._report(analysis, cycle)
                    self._reported.add(key)
                else:
                    new.add(key)
            self._candidates = new
        except Exception:  # never into the loop's callbacks
            _log.exception("asyncrepl: the deadlock watch failed")
            return
        if self._candidates:  # look again: reported if it is still there
            self._handle = self.loop.call_later(max(PERSISTS, self.threshold()), self._look)

    def _report(self, analysis: _why.Analysis, cycle: list) -> None:
        users = [task for task in cycle if not self.registry.is_own(task)] or cycle
        first = min(users, key=lambda task: _order(self.registry.info(task).id))
        start = cycle.index(first)
        cycle = cycle[start:] + cycle[:start]
        from ._render.why import deadlock_line

        line = deadlock_line(analysis, cycle, self.place)
        task_id = self.registry.info(first).id
        self.reports += 1
        self.emit(f"deadlock: {line}\n  %why {task_id} shows the chain", self.registry.context_of(first))


def _order(ident) -> tuple:
    return (0, ident) if isinstance(ident, int) else (1, str(ident))
