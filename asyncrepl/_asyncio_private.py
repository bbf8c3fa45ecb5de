"""asyncio's private attributes: every one asyncrepl reads or writes, each in
one function here, with why asyncio's public API does not do.

Every function was checked on CPython 3.11.7, 3.12.1, 3.13.0, 3.14.x and
3.15.x (C tasks, asyncio's default; pure-Python tasks too where noted).
The wrappers :mod:`asyncrepl._holders` puts on asyncio's Lock, Semaphore and
Queue while a session runs are one exception: they name the private
methods they wrap there.  The other is ``_attach/remote.py``, the script
``sys.remote_exec`` runs in a program before asyncrepl can be imported there;
its two reads carry a PRIVATE comment.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import contextvars

__all__ = [
    "block_on", "callbacks_of", "condition_lock", "context_of", "coro_of", "current_handle", "enter_task",
    "exception_of", "exception_unretrieved", "gathered_children", "group_parent", "group_tasks", "handle_callback",
    "leave_task", "loop_running", "replace_selector", "running_loop", "selector_of",
    "semaphore_bound", "semaphore_value", "set_current_handle", "set_running_loop", "signal_handlers",
    "source_traceback", "task_callbacks", "unfinished", "waited_on", "waiters_count", "wake_task", "wakeup_of",
]


# -- the running loop and task of this thread ------------------------------------------------
# asyncio._get_running_loop/_set_running_loop are exported by asyncio.events,
# undocumented; asyncio.tasks._enter_task/_leave_task keep the running task per
# loop up to 3.13 and per thread from 3.14, where a task of another loop cannot
# start while one is entered.

running_loop = asyncio._get_running_loop  # the running loop of this thread, or None (no error)


def loop_running() -> bool:
    """Whether a loop runs in this thread (asyncio.get_running_loop() without the exception)."""
    return running_loop() is not None


def set_running_loop(loop) -> None:
    """``asyncio._set_running_loop``: exported by asyncio.events, undocumented."""
    asyncio._set_running_loop(loop)


def enter_task(loop, task) -> None:
    asyncio.tasks._enter_task(loop, task)


def leave_task(loop, task) -> None:
    asyncio.tasks._leave_task(loop, task)


# -- the event loop --------------------------------------------------------------------------


def selector_of(loop):
    """``BaseSelectorEventLoop._selector``, whose ``select(timeout)`` the loop
    calls once in each ``_run_once``; None for a loop without one (uvloop)."""
    selector = getattr(loop, "_selector", None)
    return selector if hasattr(selector, "select") else None


def replace_selector(loop, selector, only_if=None) -> None:
    """Put *selector* in the loop's place for its selector (if *only_if* is
    given: only while the loop's selector is still *only_if*)."""
    if only_if is None or loop._selector is only_if:
        loop._selector = selector


def current_handle(loop):
    """``BaseEventLoop._current_handle``: the handle running now (set in
    ``_run_once`` in debug mode only), or None."""
    return getattr(loop, "_current_handle", None)


def set_current_handle(loop, handle) -> None:
    loop._current_handle = handle


def handle_callback(handle):
    """``Handle._callback``: what the handle calls (a task step's is a bound
    method or C method wrapper whose ``__self__`` is the task)."""
    return getattr(handle, "_callback", None)


def signal_handlers(loop) -> dict | None:
    """``BaseSelectorEventLoop._signal_handlers`` (Unix loops): the table
    ``add_signal_handler`` fills, {signum: Handle}; None where the loop has
    none.  There is no public way to list a loop's signal handlers."""
    table = getattr(loop, "_signal_handlers", None)
    return table if isinstance(table, dict) else None


# -- futures and tasks -----------------------------------------------------------------------


def exception_unretrieved(future: asyncio.Future) -> bool:
    """``Future._log_traceback``: True until someone retrieves the exception;
    asyncio logs it when the future is collected."""
    return bool(future._log_traceback)


def callbacks_of(future: asyncio.Future) -> list:
    """``Future._callbacks``: [(callback, context), ...] (an empty list for
    none, or for a future-like object that is not asyncio's)."""
    return list(getattr(future, "_callbacks", None) or ())


def source_traceback(obj) -> list | None:
    """``Future._source_traceback`` / ``Handle._source_traceback``: where the
    task, future or handle was made (a list of FrameSummary, outermost first),
    recorded in debug mode only; None otherwise."""
    return getattr(obj, "_source_traceback", None)


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


def exception_of(task: asyncio.Task) -> BaseException | None:
    # Future._exception: unlike task.exception(), reading it does not mark the
    # exception retrieved, so asyncio still warns about exceptions nobody retrieves.
    return task._exception


def coro_of(task: asyncio.Task):
    # Task._coro: Task.get_coro() crashes the interpreter on 3.12.0-3.12.1 for
    # an eager task that finished in its first step (its coroutine is cleared);
    # _coro gives None then.
    return task._coro


def waited_on(task: asyncio.Task):
    # Task._fut_waiter: the future the task is blocked on.
    return task._fut_waiter


def gathered_children(future) -> list | None:
    # _GatheringFuture._children: the futures a gather() waits for.
    return getattr(future, "_children", None)


def group_tasks(group: asyncio.TaskGroup):
    # TaskGroup._tasks: the group's pending tasks.
    return getattr(group, "_tasks", ())


def group_parent(group) -> asyncio.Task | None:
    # TaskGroup._parent_task: the task in whose ``async with`` the group is.
    parent = getattr(group, "_parent_task", None)
    return parent if isinstance(parent, asyncio.Task) else None


def waiters_count(primitive) -> int:
    # Lock/Semaphore/Event/Condition._waiters: a deque of futures (None until
    # first contention); a cancelled waiter is on its way out.
    return sum(1 for waiter in (getattr(primitive, "_waiters", None) or ()) if not waiter.cancelled())


def semaphore_value(semaphore: asyncio.Semaphore) -> int:
    # Semaphore._value: the permits free.
    return semaphore._value


def semaphore_bound(semaphore: asyncio.Semaphore) -> int | None:
    # BoundedSemaphore._bound_value: its initial value; None for a Semaphore.
    return getattr(semaphore, "_bound_value", None)


def condition_lock(condition: asyncio.Condition):
    # Condition._lock: the lock ``async with condition`` takes.
    return getattr(condition, "_lock", condition)


def queue_items(queue: asyncio.Queue) -> list:
    # Queue._queue: the items, a deque (a list for PriorityQueue), oldest first.
    return list(getattr(queue, "_queue", ()))


def unfinished(queue: asyncio.Queue) -> int:
    # Queue._unfinished_tasks: items put and not yet task_done().
    return queue._unfinished_tasks


_future_callbacks = asyncio.Future._callbacks.__get__  # the C getter (Future or Task)


def task_callbacks(task: asyncio.Task):
    # Future._callbacks: [(callback, context), ...] or None.  asyncio reads it
    # only to print ``cb=[...]`` in reprs; _ReplTask overrides it to leave the
    # registry's own callback out of them.
    return _future_callbacks(task)


def context_of(task: asyncio.Task) -> contextvars.Context | None:
    get_context = getattr(task, "get_context", None)  # public from 3.12
    return get_context() if get_context is not None else getattr(task, "_context", None)  # Task._context, 3.11
