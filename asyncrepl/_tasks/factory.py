"""The registry's task factory: every task the loop makes passes through it.

It composes with a factory the user set (asyncio's eager_task_factory, or
one of their own), gives each task its :class:`TaskInfo` before the task's
first step runs, and makes asyncrepl's own tasks apart from the user's.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import TYPE_CHECKING

from .code import Site, _creation_frames, _sites_of, in_task_registry
from .naming import callable_name
from .._asyncio_private import context_of, source_traceback, task_callbacks

if TYPE_CHECKING:
    from .registry import TaskRegistry


class TaskInfo:
    """What the registry knows of one task.

    A plain class with slots: one is made per task, and a dataclass takes a
    millisecond to make at import (``%load_ext`` has a budget of 40).
    """

    __slots__ = ("id", "created", "frames", "own", "cancelled_at", "cancelled_by", "context", "coro", "made_as", "cancel_chain")

    def __init__(self, id: int | str, created: float | None, frames: tuple = (), own: bool = False):
        self.id = id  # the user's 1, 2, ...; "r1", "r2", ... for the REPL's own tasks
        self.created = created  # time.monotonic(), None if made before the registry
        self.frames = frames  # flat (code, lineno, ...) of the user's creating frames
        self.own = own  # the REPL's: no user id, not listed, no history, not counted
        self.cancelled_at: Site | None = None
        self.cancelled_by: str | None = None  # "%cancel", "Ctrl-C", "its TaskGroup"...
        self.context: contextvars.Context | None = None  # the task's, where reports about it are printed
        self.coro: object = None  # the task's coroutine, as the factory got it
        self.made_as: str | None = None  # the name a task made by a user's factory had when it was made
        # (awaitable, frame, lasti, ...) of its await chain when last cancelled,
        # outermost first (see _snapshot); let go when it ends.
        self.cancel_chain: tuple | None = None

    def __repr__(self) -> str:
        return f"<TaskInfo {self.id!r}{' (own)' if self.own else ''}>"

    @property
    def created_at(self) -> tuple[Site, ...]:
        """Where the task was created, innermost frame first."""
        return _sites_of(self.frames)


class _ReplTask(asyncio.Task):
    """The factory's Task: it carries its TaskInfo and remembers who cancelled it.

    Its repr is plain asyncio's: the registry's done callback is left out of
    ``cb=[...]`` (see :func:`task_callbacks`).
    """

    __slots__ = ("_asyncrepl_info",)
    registry: TaskRegistry | None = None  # set per subclass made by a registry

    def cancel(self, msg=None):
        registry = type(self).registry
        if registry is not None:
            registry._note_cancel(self, sys._getframe(1))
        return super().cancel(msg)

    def set_name(self, value) -> None:
        # Python 3.13 (checked on 3.13.0): loop.create_task calls
        # task.set_name(name) after a task factory even when no name was given
        # (CPython gh-130033), which would call every task 'None'.  asyncio
        # without a factory keeps its Task-N name: so do we.
        if value is None and sys._getframe(1).f_code is _LOOP_CREATE_TASK:
            return
        super().set_name(value)

    @property
    def _callbacks(self):
        registry = type(self).registry
        callbacks = task_callbacks(self)
        if registry is None or not callbacks:
            return callbacks
        return [entry for entry in callbacks if entry[0] != registry._finished] or None


_LOOP_CREATE_TASK = asyncio.BaseEventLoop.create_task.__code__


# asyncio.eager_task_factory (3.12+) is Task(..., eager_start=True): the registry
# makes its own Task eagerly instead of calling it, so that eager tasks are
# asyncrepl's tasks too (ids known during their first step, plain reprs).
_EAGER_TASK_FACTORY = getattr(asyncio, "eager_task_factory", None)


class TaskFactory:
    """The task factory of one :class:`~.registry.TaskRegistry`."""

    def __init__(self, registry):
        self.registry = registry
        self.loop = registry.loop
        self._previous_factory = None
        self._installed = False
        # (coroutine, info) while the previous factory makes a task: if it
        # delegates back to asyncrepl's factory (it was there before it), that
        # call makes the Task itself.
        self.delegated: tuple | None = None
        # Named "Task": asyncio prints the class name in reprs and warnings.
        self._task_class = type("Task", (_ReplTask,), {"__slots__": (), "registry": registry, "__qualname__": "Task"})

    def install(self) -> None:
        """Put the registry's task factory on the loop, around any factory already there."""
        self._previous_factory = self.loop.get_task_factory()
        self.loop.set_task_factory(self._factory)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed and not self.loop.is_closed():
            if self.loop.get_task_factory() == self._factory:
                self.loop.set_task_factory(self._previous_factory)
        self._installed = False
        self._task_class.registry = None

    def adopt_task_factory(self) -> str | None:
        """Put asyncrepl's factory back around one that code set since the last
        look (``loop.set_task_factory(asyncio.eager_task_factory)``), so its
        tasks still get ids, creation sites and history; a line saying so, or None.
        """
        current = self.loop.get_task_factory()
        if not self._installed or self.loop.is_closed() or current == self._factory:
            return None
        self._previous_factory = current
        self.loop.set_task_factory(self._factory)
        if current is None:
            return None  # asyncio's default again: nothing of the user's to run
        name = "asyncio.eager_task_factory" if current is _EAGER_TASK_FACTORY else callable_name(current)
        return (
            f"the loop's task factory {name} now runs inside asyncrepl's, so %tasks, "
            "%%timeline and failure reports still see every task"
        )

    def _factory(self, loop, coro, **kwargs):
        # Runs for every task: kept lean.  **kwargs is what this Python's
        # loop.create_task passes: nothing or context= (3.11-3.13), also name=
        # and eager_start= (3.14+, and some 3.13.x releases); all are passed on.
        # IPython leaves this frame out of tracebacks (all but a traceback's
        # last frame: where Task refuses what is not a coroutine, _construct's
        # stays, the one asyncrepl frame in that TypeError's traceback).
        __tracebackhide__ = True
        delegated = self.delegated
        if delegated is not None and delegated[0] is coro:
            # The previous factory handed the coroutine back to this one.
            self.delegated = None
            return self._construct(loop, coro, kwargs, delegated[1])
        registry = self.registry
        own = registry._is_own_coro(coro)
        info = TaskInfo(registry._new_id(own), registry.clock(), _creation_frames(sys._getframe(1)), own=own)
        after = None
        if registry.wrapping.has_subscribers():
            coro, after = registry.wrapping.fold((coro, None))
        previous = self._previous_factory
        try:
            if previous is None:
                task = self._construct(loop, coro, kwargs, info)
            elif previous is _EAGER_TASK_FACTORY:
                kwargs.setdefault("eager_start", True)
                task = self._construct(loop, coro, kwargs, info)
            else:
                task = self._through(previous, loop, coro, kwargs, info)
        except TypeError:  # Task refused what is not a coroutine: no task has this id
            registry._take_back_id(info.id)
            raise
        info.coro = coro
        if after is not None:
            after(task)
        if not own:
            task.add_done_callback(self.registry._finished)
        return task

    def _through(self, previous, loop, coro, kwargs, info):
        """The task made by *previous*, the factory that was on the loop before."""
        __tracebackhide__ = True  # see _factory
        outer, self.delegated = self.delegated, (coro, info)
        try:
            task = previous(loop, coro, **kwargs)
        finally:
            self.delegated = outer
        _trim_creation_stack(task)
        if getattr(task, "_asyncrepl_info", None) is None:  # the user's factory made its own Task
            info.context = kwargs.get("context") or context_of(task)
            info.made_as = task.get_name()  # before 3.13 renames it (see name_of)
            self.registry._info[task] = info
        return task

    def _construct(self, loop, coro, kwargs, info):
        # The context is made here, as Task would make it, to be kept: a report
        # about the task printed in it reaches the cell that made the task
        # (ipykernel reads its parent message from a ContextVar).
        context = kwargs.pop("context", None) or contextvars.copy_context()
        info.context = context
        cls = self._task_class
        # The info is on the task before Task.__init__, which runs an eager
        # task's first step: code in that step already sees the task's id.
        task = cls.__new__(cls)
        task._asyncrepl_info = info
        task.__init__(coro, loop=loop, context=context, **kwargs)
        _trim_creation_stack(task)
        return task


    def create_own_task(
        self, coro, *, name: str | None = None, context: contextvars.Context | None = None, frame=None, site: bool = True
    ) -> asyncio.Task:
        """A task of asyncrepl's own, running *coro* on the loop (as
        ``loop.create_task`` would, but never through a task factory the user set).

        It gets no user id (its id is ``r1``, ``r2``...), ``%tasks`` lists it
        only with ``--all`` (marked ``*``), it never enters the history or
        failure reports, and the status line does not count it.
        :meth:`TaskRegistry.adopt` makes it the user's.  Made while the loop is not running
        (a cell's task, before ``run_until_complete``), it is made with debug
        mode paused: debug mode's "created at" stack of every task is most of
        what a trivial cell costs, and of no use for the REPL's own task.
        *site* False: no creation site is looked for (a cell's task: the
        REPL's code, or whoever runs the shell, made it).
        """
        frames = _creation_frames(frame or sys._getframe(1)) if site else ()
        info = TaskInfo(self.registry._new_id(True), self.registry.clock(), frames, own=True)
        info.coro = coro
        kwargs: dict = {} if context is None else {"context": context}
        if name is not None:
            kwargs["name"] = name
        loop = self.loop
        paused = not loop.is_running() and loop.get_debug()
        if paused:
            loop.set_debug(False)
        try:
            return self._construct(loop, coro, kwargs, info)
        finally:
            if paused:
                loop.set_debug(True)


def _trim_creation_stack(task: asyncio.Task) -> None:
    # Task._source_traceback (debug mode only): asyncio says a task was
    # "created at" the last frame of this list.  Without a factory,
    # loop.create_task deletes its own frame from it; with one, it keeps
    # everything.  Remove asyncrepl's frames, and loop.create_task's where the
    # Task is asyncrepl's own, so that the repr is what plain asyncio prints.
    frames = source_traceback(task)
    if not frames:
        return
    frames[:] = [frame for frame in frames if not in_task_registry(frame.filename)]
    if (
        isinstance(task, _ReplTask)
        and frames
        and frames[-1].name == "create_task"
        and frames[-1].filename == _LOOP_CREATE_TASK.co_filename
    ):
        del frames[-1]
