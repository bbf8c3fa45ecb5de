"""The status line under the prompt: what the loop is doing, in one line.

``asyncio: 3 tasks · lag 0.4 ms · 1 failed (%tasks --done) · debug on``

:class:`StatusLine` computes that text from the task registry, the loop's
iterations (as :class:`~asyncrepl._monitor.LoopMonitor` reports them) and the
loop's debug flag, and says whether it changed, so that the prompt is
redrawn only then.  Plain asyncio; nothing here knows IPython or
prompt_toolkit (the adapter is ``_hosts.terminal.StatusBar``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from ._tasks import TaskRegistry

__all__ = ["Status", "StatusLine", "short_seconds"]

SEPARATOR = " · "
HOLDING_MARK = "⚠"


def short_seconds(seconds: float) -> str:
    """A duration in a few characters: ``0 ms``, ``0.04 ms``, ``3 ms``, ``45 ms``, ``1.2 s``.

    One significant digit below 10 ms, so that the figure changes (and the
    line is redrawn) only when the lag does in a way one would notice.
    """
    milliseconds = seconds * 1e3
    if milliseconds <= 0:
        return "0 ms"
    if milliseconds < 9.5:
        return f"{milliseconds:.1g} ms"
    if milliseconds < 999.5:
        return f"{milliseconds:.0f} ms"
    return f"{seconds:.1f} s"


class Status(NamedTuple):
    """What the status line says, as plain values.

    *tasks*: the user's pending tasks (never IPython's or asyncrepl's own);
    *lag*: the longest the loop was busy in one go while this prompt waited,
    in seconds (what a timer or a reply could have waited for it);
    *failed*: failed tasks reported and not looked at yet; *debug*: asyncio
    debug mode; *holding*: who holds the loop right now (``task 3
    'spin'``), and *held* for how many seconds, else None.
    """

    tasks: int
    lag: float
    failed: int
    debug: bool
    holding: str | None = None
    held: float = 0.0

    def __str__(self) -> str:
        parts = [f"asyncio: {self.tasks} task{'' if self.tasks == 1 else 's'}"]
        if self.holding is not None:
            parts.append(f"{HOLDING_MARK} {self.holding} holds the loop {short_seconds(self.held)} (Ctrl-C stops it)")
        else:
            parts.append(f"lag {short_seconds(self.lag)}")
        if self.failed:
            parts.append(f"{self.failed} failed (%tasks --done)")
        parts.append(f"debug {'on' if self.debug else 'off'}")
        return SEPARATOR.join(parts)


class StatusLine:
    """The status line's text over one loop's registry, and whether it changed.

    Feed it the loop's iterations while the prompt waits (:meth:`iteration`),
    start each prompt with :meth:`new_prompt`, and call :meth:`refresh` to
    recompute: it returns True when the text is not what it was.
    :meth:`signature` is a cheap token that changes whenever the text may
    have: compare it at every iteration, and refresh only when it moved.
    """

    def __init__(self, registry: TaskRegistry, debug: Callable[[], bool] | None = None):
        self.registry = registry
        self._debug = debug if debug is not None else registry.loop.get_debug
        self.lag = 0.0  # the longest iteration since the prompt appeared
        self._lag_text = short_seconds(0.0)
        self.status: Status | None = None
        self.text = ""

    def new_prompt(self) -> None:
        self.lag, self._lag_text = 0.0, short_seconds(0.0)

    def iteration(self, start: float, end: float) -> None:
        """The loop was busy from *start* to *end* (seconds) while the prompt waited."""
        duration = end - start
        if duration > self.lag:
            self.lag = duration
            self._lag_text = short_seconds(duration)

    def signature(self) -> tuple:
        """Changes whenever the text may: a task made or ended, a failure
        reported or seen, the lag's figure, debug mode.  Cheap (no task walk)."""
        registry = self.registry
        return (
            registry._next_id,
            registry.ended.count,
            len(registry.ended.unseen_failures),
            self._lag_text,
            self._debug(),
        )

    def current(self) -> Status:
        registry = self.registry
        tasks = 0
        for task in asyncio.all_tasks(registry.loop):
            if not registry.is_own(task):  # IPython's, asyncrepl's, %timeit_async's...
                tasks += 1
        return Status(tasks, self.lag, len(self.registry.ended.unseen_failures), bool(self._debug()))

    def refresh(self) -> bool:
        """Recompute the text; True if it changed."""
        status = self.current()
        text = str(status)
        changed = text != self.text
        self.status, self.text = status, text
        return changed

    def while_held(self, holding: str, held: float) -> str:
        """The text while *holding* has held the loop for *held* seconds: the
        last counts (the loop is stuck: they cannot have changed), and the mark."""
        status = self.status or Status(0, self.lag, len(self.registry.ended.unseen_failures), False)
        return str(Status(status.tasks, status.lag, status.failed, status.debug, holding, held))

    def who(self, task: asyncio.Task | None) -> str:
        """How the mark names what holds the loop; reads only (the monitor's thread calls it)."""
        if task is None:
            return "a callback"
        info = self.registry._known(task)
        return f"task {info.id}" if info is not None else f"task {task.get_name()!r}"
