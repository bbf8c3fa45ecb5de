"""The task registry: short ids, creation and cancel sites, asyncrepl's own
tasks apart from the user's.

A :class:`TaskRegistry` installs a task factory on one loop (composing with
any factory already there) to give every task a short id in creation order,
remember where the user's code made it and who cancelled it.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
import weakref
from collections.abc import Iterable

from .code import _adopted, _cancel_origin, _frames_from_source, _is_machinery_coro, _kind_of_code
from .._hooks import Hook
from .factory import TaskFactory, TaskInfo
from .history import EndedTasks
from .naming import _short_repr, coroutine_name, task_label
from .._asyncio_private import coro_of, exception_of, group_parent, source_traceback


def id_order(ident) -> tuple[int, int]:
    """Sort key of ids: the user's 1, 2, ... then the REPL's r1, r2, ..."""
    return (0, ident) if isinstance(ident, int) else (1, int(ident[1:]))


class TaskRegistry:
    """Short ids, creation sites, cancel sites, finished history and kept
    failures for one loop's tasks.

    The user's tasks get ids 1, 2, 3... in creation order, never reused.  The
    REPL's own tasks (IPython's, ipykernel's, prompt_toolkit's, asyncrepl's:
    see :meth:`is_own`) get ``r1``, ``r2``... from a count of their own, so
    they never use up the user's ids; they are left out of listings, the
    history, failure reports and the status line's count.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, history_size: int = 100, clock=time.monotonic):
        self.loop = loop
        self.clock = clock
        self.ended = EndedTasks(history_size)  # what became of the user's tasks
        self._info: weakref.WeakKeyDictionary[asyncio.Task, TaskInfo] = weakref.WeakKeyDictionary()
        self._next_id = 1
        self._next_own_id = 1
        # id(code) -> weak reference, for own_code(): a code object hashes its
        # whole body, an id is free.
        self._own_codes: dict[int, weakref.ref] = {}
        # Each user task that ends, as it ends (the diagnostics' failed-task reports).
        self.task_finished = Hook("task_finished")
        # Each coroutine a task is made for: (coroutine) -> (coroutine to run,
        # callback(task) or None) (%%timeline's recording).
        self.wrapping = Hook("wrapping")
        self.factory = TaskFactory(self)

    # -- the factory --

    def install(self) -> None:
        """Put the registry's task factory on the loop, around any factory already there."""
        self.factory.install()
        tasks = sorted(asyncio.all_tasks(self.loop), key=id)
        # Tasks a registry of before made (asyncrepl reloaded) keep their ids:
        # new ones come after them, so that no two tasks share an id.
        for task in tasks:
            carried = getattr(task, "_asyncrepl_info", None)
            if carried is None:
                continue
            if isinstance(carried.id, int):
                self._next_id = max(self._next_id, carried.id + 1)
            elif isinstance(carried.id, str) and carried.id[1:].isdigit():
                self._next_own_id = max(self._next_own_id, int(carried.id[1:]) + 1)
        for task in tasks:
            self.info(task)  # tasks from before: ids now, sites unknown

    def uninstall(self) -> None:
        self.factory.uninstall()

    def let_go_of(self, tasks) -> None:
        """Take the registry's done callback off *tasks* (a program's, when a
        front end detaches), so that none of them keeps the registry alive."""
        for task in tasks:
            task.remove_done_callback(self._finished)

    def adopt_task_factory(self) -> str | None:
        """See :meth:`TaskFactory.adopt_task_factory`."""
        return self.factory.adopt_task_factory()

    def create_own_task(
        self, coro, *, name: str | None = None, context: contextvars.Context | None = None, site: bool = True
    ) -> asyncio.Task:
        """See :meth:`TaskFactory.create_own_task`."""
        return self.factory.create_own_task(coro, name=name, context=context, frame=sys._getframe(1), site=site)

    def _new_id(self, own: bool) -> int | str:
        if own:
            self._next_own_id += 1
            return f"r{self._next_own_id - 1}"
        self._next_id += 1
        return self._next_id - 1

    def _take_back_id(self, ident: int | str) -> None:
        """No task was made with *ident* (Task refused the coroutine): the
        next task gets it, unless another took an id since."""
        if ident == self._next_id - 1:
            self._next_id -= 1
        elif ident == f"r{self._next_own_id - 1}":
            self._next_own_id -= 1

    def _is_own_coro(self, coro) -> bool:
        code = getattr(coro, "cr_code", None)
        if code is None:
            return False
        if self._own_codes:
            ref = self._own_codes.get(id(code))
            if ref is not None and ref() is code:
                return True
        return _kind_of_code(code) == "repl"

    # -- asyncrepl's own tasks --

    def adopt(self, task: asyncio.Task) -> int:
        """Make *task* the user's from now on: it gets the next user id,
        ``%tasks`` lists it under its name, the status line counts it, and it
        enters the history (and failure reports) when it ends.  For a task
        made by :meth:`create_own_task` (a cell that refuses to stop, left
        running in the background) or a REPL task of any kind.  Its new id.
        """
        info = self.info(task)
        if not info.own:
            return info.id
        info.own = False
        info.id = self._new_id(False)
        _adopted.add(task)
        task.add_done_callback(self._finished)  # at once if it is done already
        return info.id

    def own_code(self, code) -> None:
        """Tasks whose coroutine runs *code* (a code object) are asyncrepl's
        own, as if made by :meth:`create_own_task`: for harness code that the
        user's code makes tasks of (``%timeit_async -c``'s ``_one()``).  The
        code object is held weakly."""
        key = id(code)

        def gone(ref, key=key) -> None:
            if self._own_codes.get(key) is ref:
                del self._own_codes[key]

        self._own_codes[key] = weakref.ref(code, gone)

    def is_own(self, task: asyncio.Task) -> bool:
        """Whether *task* is the REPL's own (IPython's, ipykernel's,
        prompt_toolkit's, asyncrepl's), rather than the user's."""
        info = self._known(task)
        return (info if info is not None else self.info(task)).own

    # -- cancellations --

    def _known(self, task: asyncio.Task) -> TaskInfo | None:
        return getattr(task, "_asyncrepl_info", None) or self._info.get(task)

    def _note_cancel(self, task: asyncio.Task, frame) -> None:
        from .cancelling import _snapshot, _users_site  # at the first cancel, not at %load_ext

        info = self._known(task)
        if info is None or task.done():
            return
        # Where the task stands as the cancellation reaches it: if it goes on
        # anyway, this tells which frame caught CancelledError (still_running()).
        info.cancel_chain = _snapshot(task)
        if info.cancelled_at is not None:
            return
        site, who, group, failed = _cancel_origin(frame)
        if who == "its TaskGroup":
            if isinstance(failed, asyncio.Task) and failed is not task:
                who = f"its TaskGroup (task {self.info(failed).id} failed)"
            parent = group_parent(group)
            if site is None and parent is not None:
                # From a child's done callback: no user frame on the stack.
                # The group's place is where its parent task is now, inside
                # (or at the end of) the ``async with`` block.
                site = _users_site(parent)
        info.cancelled_at = site
        if info.cancelled_by is None:
            info.cancelled_by = who

    def cancel(self, tasks: Iterable[asyncio.Task], who: str, message=None) -> None:
        """Cancel *tasks* on behalf of *who* (``%cancel``), noting who and the
        user's line once for all of them: 100,000 tasks take no longer than 100,000 cancel() calls."""
        site = _cancel_origin(sys._getframe(1))[0]
        for task in tasks:
            info = self.info(task)
            if info.cancelled_by is None:
                info.cancelled_by, info.cancelled_at = who, site
            task.cancel(message)

    def note_cancel_by(self, task: asyncio.Task, who: str) -> None:
        """Say who is about to cancel *task* (``%cancel``, ``Ctrl-C``), for the history."""
        info = self.info(task)
        if info.cancelled_by is None:
            info.cancelled_by = who

    # -- reading --

    def info(self, task: asyncio.Task) -> TaskInfo:
        info = self._known(task)
        if info is None:
            delegated = self.factory.delegated
            if delegated is not None and coro_of(task) is delegated[0]:
                # Made by the user's factory, and running its first (eager)
                # step inside it: the factory's info is for this task.
                info = self._info[task] = delegated[1]
            else:
                # Made before the registry, or without the loop's task factory:
                # asyncio.Task(..., eager_start=True), as aiohttp makes its
                # tasks on 3.12 and 3.13.  Debug mode has noted where.
                own = _is_machinery_coro(coro_of(task))
                info = self._info[task] = TaskInfo(
                    self._new_id(own), None, _frames_from_source(source_traceback(task)), own=own
                )
                if not own and not task.done():
                    task.add_done_callback(self._finished)
        return info

    def pending(self, include_machinery: bool = False) -> list[asyncio.Task]:
        """The loop's pending tasks in creation order (the user's, then the
        REPL's own); the REPL's own only if asked."""
        known = self._known
        infos = [(known(task) or self.info(task), task) for task in asyncio.all_tasks(self.loop)]
        if not include_machinery:
            infos = [pair for pair in infos if not pair[0].own]
        infos.sort(key=lambda pair: id_order(pair[0].id))
        return [task for _, task in infos]

    def label(self, task: asyncio.Task) -> str:
        """``3 'worker-1' (fetch())``: how asyncrepl names a task everywhere."""
        info = self.info(task)
        return task_label(info.id, self.name_of(task), coroutine_name(task, info.coro))

    def name_of(self, task: asyncio.Task) -> str:
        """The task's name.  Python 3.13's loop.create_task renames a task that
        a user's task factory made to 'None' when no name was given (CPython
        gh-130033; asyncrepl's own tasks refuse it, see _ReplTask.set_name):
        such a task keeps the name it was made with, as without a factory."""
        name = task.get_name()
        if name == "None":
            info = self._info.get(task)
            if info is not None and info.made_as is not None:
                return info.made_as
        return name

    def context_of(self, task: asyncio.Task) -> contextvars.Context | None:
        return self.info(task).context

    def age(self, task: asyncio.Task) -> float | None:
        created = self.info(task).created
        return None if created is None else self.clock() - created

    # -- history and failures --

    def _finished(self, task: asyncio.Task) -> None:
        # Runs for every task that ends: keep what is needed, and make the
        # Finished record only when someone looks.
        info = getattr(task, "_asyncrepl_info", None) or self.info(task)
        if info.own:
            return
        if self.task_finished.has_subscribers():
            self.task_finished(task)
        info.cancel_chain = None
        cancelled = task.cancelled()
        error = None if cancelled else exception_of(task)
        result = None if cancelled or error is not None else task.result()
        self.ended.add((info, self.name_of(task), info.coro or coro_of(task), cancelled, error, result, self.clock()))


def chained(wrap):
    """A subscriber of :attr:`TaskRegistry.wrapping` made of *wrap*, which
    takes a coroutine and returns (the coroutine to run, a callback for the
    task made, or None): it chains with the subscribers before it."""

    def subscriber(pair):
        coro, before = pair
        coro, after = wrap(coro)
        if before is None or after is None:
            return coro, before or after
        return coro, lambda task: (before(task), after(task))

    return subscriber


def outcome(task: asyncio.Task) -> str:
    """How a done task ended: "cancelled", "raised" or "returned"."""
    if task.cancelled():
        return "cancelled"
    return "returned" if exception_of(task) is None else "raised"


def ending(task: asyncio.Task) -> tuple[str, str]:
    """How a done task ended: ("cancelled", ""), ("returned", repr) or ("raised", "Type: message")."""
    ended = outcome(task)
    if ended == "cancelled":
        return ended, ""
    if ended == "returned":
        return ended, _short_repr(task.result())
    error = exception_of(task)
    return ended, f"{type(error).__name__}: {error}".rstrip(": ")
