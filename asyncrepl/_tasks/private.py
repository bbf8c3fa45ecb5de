"""asyncio's insides: every private attribute the task introspection reads,
in this one place.

Each was checked on CPython 3.11.7, 3.12.1, 3.13.0, 3.14.10 and 3.15.2 (C
tasks, asyncio's default).  asyncio has no public way to ask these questions.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import contextvars



def _exception_of(task: asyncio.Task) -> BaseException | None:
    # Future._exception: unlike task.exception(), reading it does not mark the
    # exception retrieved, so asyncio still warns about exceptions nobody retrieves.
    return task._exception


def _coro_of(task: asyncio.Task):
    # Task._coro: Task.get_coro() crashes the interpreter on 3.12.0-3.12.1 for
    # an eager task that finished in its first step (its coroutine is cleared);
    # _coro gives None then.
    return task._coro


def _waiter(task: asyncio.Task):
    # Task._fut_waiter: the future the task is blocked on.
    return task._fut_waiter


def _gathered_children(future) -> list | None:
    # _GatheringFuture._children: the futures a gather() waits for.
    return getattr(future, "_children", None)


def _group_tasks(group: asyncio.TaskGroup):
    # TaskGroup._tasks: the group's pending tasks.
    return getattr(group, "_tasks", ())


def _group_parent(group) -> asyncio.Task | None:
    # TaskGroup._parent_task: the task in whose ``async with`` the group is.
    parent = getattr(group, "_parent_task", None)
    return parent if isinstance(parent, asyncio.Task) else None


def _waiting(primitive) -> int:
    # Lock/Semaphore/Event/Condition._waiters: a deque of futures (None until
    # first contention); a cancelled waiter is on its way out.
    return sum(1 for waiter in (getattr(primitive, "_waiters", None) or ()) if not waiter.cancelled())


def _semaphore_value(semaphore: asyncio.Semaphore) -> int:
    # Semaphore._value: the permits free.
    return semaphore._value


def _unfinished(queue: asyncio.Queue) -> int:
    # Queue._unfinished_tasks: items put and not yet task_done().
    return queue._unfinished_tasks


_future_callbacks = asyncio.Future._callbacks.__get__  # the C getter (Future or Task)


def _callbacks_of(task: asyncio.Task):
    # Future._callbacks: [(callback, context), ...] or None.  asyncio reads it
    # only to print ``cb=[...]`` in reprs; _ReplTask overrides it to leave the
    # registry's own callback out of them.
    return _future_callbacks(task)


def _context_of(task: asyncio.Task) -> contextvars.Context | None:
    get_context = getattr(task, "get_context", None)  # public from 3.12
    return get_context() if get_context is not None else getattr(task, "_context", None)  # Task._context, 3.11
