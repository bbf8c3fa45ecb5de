"""A deadline for a cell: cancel what it awaits after so many seconds, and say where it waited.

``%%timeout`` runs a cell's code with :func:`run_with_deadline`; the
``AsyncRepl.cell_timeout`` setting cancels every awaiting cell the same way
(see ``_cell.lifecycle``).  Either way the cell's ``finally`` blocks run,
background tasks are left alone, and the user sees one line, a TimeoutError.
A cell that has not ended :data:`GRACE` seconds after its deadline refuses to
stop: it is let go of, and goes on in the background.
Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import _tasks
from ._asyncio_private import waited_on

if TYPE_CHECKING:
    from ._tasks import Link

__all__ = ["GRACE", "run_with_deadline", "waiting_at"]

#: Seconds a cell cancelled at its deadline has to end before it is let go of.
GRACE = 1.0


def waiting_at(task: asyncio.Task) -> Link | None:
    """The innermost frame of the user's own code in *task*'s await chain,
    or in that of the task it awaits, and so on (a ``%%timeline`` cell's
    code runs in a task of its own, which the cell's task awaits)."""
    found = None
    for _ in range(8):  # a bound: tasks awaiting tasks, not a cycle to follow for ever
        users = [link for link in _tasks.await_chain(task) if link.users]
        found = users[-1] if users else found
        awaited = waited_on(task)
        if not isinstance(awaited, asyncio.Task) or awaited.done():
            break
        task = awaited
    return found


async def run_with_deadline(
    awaitable,
    seconds: float,
    describe: Callable[[Link | None], str | None],
    timed_out: Callable[[float, str | None], BaseException],
    let_go: Callable[[asyncio.Task, float, str | None], BaseException],
    grace: float = GRACE,
    name: str | None = None,
    cancelling: Callable[[asyncio.Task], None] | None = None,
):
    """Await *awaitable* (as a task of its own, named *name*) for at most
    *seconds*; then cancel it (``cancelling(task)`` just before), let it
    unwind, and raise ``timed_out(seconds, where)`` naming where it waited
    (``describe(link)``).  If it has not ended *grace* seconds later, raise
    ``let_go(task, seconds, where)`` and leave it running.  Cancelling the
    caller cancels it too."""
    __tracebackhide__ = True
    task = asyncio.ensure_future(awaitable)
    if name is not None:
        task.set_name(name)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task})
        raise
    if task in done:
        return task.result()
    where = describe(waiting_at(task))
    if cancelling is not None:
        cancelling(task)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)  # its finally blocks run
    if task not in done:
        raise let_go(task, seconds, where)
    if not task.cancelled():
        task.exception()  # a finally that raised: the timeout is what the user asked about
    raise timed_out(seconds, where)
