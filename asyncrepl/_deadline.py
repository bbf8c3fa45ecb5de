"""A deadline for a cell: cancel what it awaits after so many seconds, and say where it waited.

``%%timeout`` runs a cell's code with :func:`run_with_deadline`; the
``AsyncRepl.cell_timeout`` setting cancels every awaiting cell's task the same
way (see ``_loop``).  Either way the cell's ``finally`` blocks run, background
tasks are left alone, and the user sees one line, :class:`CellTimeout`.
Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._tasks import Link, await_chain

__all__ = ["CellTimeout", "run_with_deadline", "waiting_at"]


class CellTimeout(TimeoutError):
    """The cell was cancelled at its deadline; shown as one line."""

    def __init__(self, seconds: float, where: str | None):
        waited = f"; it was waiting at {where}" if where else ""
        super().__init__(f"the cell was cancelled after {seconds:g} s{waited}")

    def _render_traceback_(self) -> list[str]:  # IPython's hook: this line instead of a traceback
        return [f"TimeoutError: {self}"]


def waiting_at(task: asyncio.Task) -> Link | None:
    """The innermost frame of the user's own code in *task*'s await chain."""
    users = [link for link in await_chain(task) if link.users]
    return users[-1] if users else None


async def run_with_deadline(awaitable, seconds: float, describe: Callable[[Link | None], str | None]):
    """Await *awaitable* (as a task of its own) for at most *seconds*; then
    cancel it, let it unwind, and raise :class:`CellTimeout` naming where it
    waited (``describe(link)``).  Cancelling the caller cancels it too."""
    __tracebackhide__ = True
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task})
        raise
    if task in done:
        return task.result()
    where = describe(waiting_at(task))
    task.cancel()
    await asyncio.wait({task})  # its finally blocks run
    if not task.cancelled():
        task.exception()  # a finally that raised: the timeout is what the user asked about
    raise CellTimeout(seconds, where)
