"""asyncio's private attributes that asyncrepl touches outside the task
registry's reads, each in one function here, with the versions it was checked on.

asyncio has no public way to do these things.  Every function was checked on
CPython 3.11.7, 3.12.1, 3.13.0, 3.14.x and 3.15.x (C tasks, asyncio's
default; pure-Python tasks too where noted).
"""

from __future__ import annotations

import asyncio

__all__ = ["block_on", "callbacks_of", "set_running_loop", "wake_task", "wakeup_of"]


def set_running_loop(loop) -> None:
    """``asyncio._set_running_loop``: exported by asyncio.events, undocumented."""
    asyncio._set_running_loop(loop)


def callbacks_of(future: asyncio.Future) -> list:
    """``Future._callbacks``: [(callback, context), ...] (an empty list for none)."""
    return list(future._callbacks or ())


def wakeup_of(task: asyncio.Task, future: asyncio.Future) -> tuple | None:
    """The callback by which *future* resumes *task*, which waits on it (to
    call with a done future to resume the task), and the context it runs in
    (the task's); or None.

    A task waits on a future by adding its bound wakeup method as the
    future's done callback (``Task.task_wakeup`` in C, ``Task.__wakeup`` in
    Python); removing it is public (``remove_done_callback``), finding it is
    not.
    """
    for callback, context in callbacks_of(future):
        if getattr(callback, "__self__", None) is task:
            return callback, context
    return None


def wake_task(task: asyncio.Task, wakeup: tuple, error: BaseException) -> None:
    """Resume *task* (whose *wakeup*, from :func:`wakeup_of`, was taken off
    what it waited on) with *error* raised where it waits, at the loop's next
    iteration, in the task's own context, as if the future it waited on had
    failed with it."""
    callback, context = wakeup
    loop = task.get_loop()
    failed = loop.create_future()
    failed.set_exception(error)
    loop.call_soon(callback, failed, context=context)


def block_on(future: asyncio.Future) -> asyncio.Future:
    """*future*, ready to be yielded to a task again (as ``Future.__await__``
    yields it): ``_asyncio_future_blocking`` is the flag by which a task knows
    a yielded future is one to wait on (set by ``__await__``, cleared by the
    task that took it)."""
    future._asyncio_future_blocking = True
    return future
