"""Task introspection: short ids, where tasks were made and where they wait,
who awaits whom, and what became of the finished ones.

Plain asyncio; nothing here knows IPython.  A :class:`TaskRegistry` installs a
task factory on one loop (composing with any factory already there) to give
every task a short id in creation order, remember where the user's code made
it and who cancelled it, and keep a bounded history of finished tasks.  The
functions below it read a task's await chain and describe what it waits on.
"""

from __future__ import annotations

import asyncio
import contextvars
import fnmatch
import gc
import os
import reprlib
import sys
import sysconfig
import time
import traceback
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "AwaitGraph",
    "Finished",
    "Link",
    "Site",
    "TaskInfo",
    "TaskRegistry",
    "TaskRow",
    "await_chain",
    "awaited_tasks",
    "chain_locals",
    "ending",
    "outcome",
    "task_state",
]

_PACKAGES_OF_THE_REPL = (
    "IPython",
    "ipykernel",
    "prompt_toolkit",
    "tornado",
    "zmq",
    "jupyter_client",
    "anyio",
    "asyncrepl",
)


# -- which code is the user's ----------------------------------------------------


@lru_cache(maxsize=None)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    return tuple(os.path.normcase(os.path.realpath(root)) + os.sep for root in roots)


def _package_dirs(names: tuple[str, ...]) -> tuple[str, ...]:
    # Not cached: a package may be imported later.  _classify_file is cached
    # per file instead, which is safe: a file's code exists only once its
    # package is imported.
    dirs = []
    for name in names:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file:
            dirs.append(os.path.normcase(os.path.realpath(os.path.dirname(file))) + os.sep)
    return tuple(dirs)


@lru_cache(maxsize=4096)
def _classify_file(filename: str) -> str:
    """"user", "repl" (IPython, the kernel, asyncrepl...), "asyncio" or "library"."""
    if filename.startswith("<") and not filename.startswith("<ipython-input-"):
        return "library"  # <frozen ...>, <string>, <timeit_async>...
    path = os.path.normcase(os.path.realpath(filename)) if not filename.startswith("<") else filename
    if path.startswith(_package_dirs(("asyncio",))):
        return "asyncio"
    if path.startswith(_package_dirs(_PACKAGES_OF_THE_REPL)):
        return "repl"
    if path.startswith(_library_roots()):
        return "library"
    return "user"


def _is_users(filename: str) -> bool:
    return _classify_file(filename) == "user"


# id(code) -> (code, kind).  Creating a task asks this for a few frames, and
# hashing a code object hashes its whole body; an id is free.  The code object
# is kept so that its id cannot be reused by another one.
_code_kinds: dict[int, tuple[object, str]] = {}


def _kind_of_code(code) -> str:
    entry = _code_kinds.get(id(code))
    if entry is None or entry[0] is not code:
        entry = _code_kinds[id(code)] = (code, _classify_file(code.co_filename))
    return entry[1]


def is_repl_machinery(task: asyncio.Task) -> bool:
    """True for the tasks of IPython, ipykernel, prompt_toolkit and asyncrepl."""
    return _is_machinery_coro(_coro_of(task))


def _is_machinery_coro(coro) -> bool:
    code = getattr(coro, "cr_code", None)
    return code is not None and _kind_of_code(code) == "repl"


# -- what the registry knows of a task ---------------------------------------------


class Site(NamedTuple):
    """A place in code: file, line and function."""

    filename: str
    lineno: int
    function: str


def _creation_frames(frame, limit: int = 8) -> tuple:
    """The user's frames from *frame* outwards, innermost first, as a flat
    ``(code, lineno, code, lineno, ...)`` tuple; failing those, the first
    frame outside asyncio, so there is always a place.

    This runs for every task created, so it is kept lean: one tuple, and the
    walk ends at the first frame past the user's (below them is IPython or
    the loop).
    """
    found: list = []
    fallback = None
    while frame is not None and len(found) < 2 * limit:
        code = frame.f_code
        entry = _code_kinds.get(id(code))
        kind = entry[1] if entry is not None and entry[0] is code else _kind_of_code(code)
        if kind == "user":
            found += (code, frame.f_lineno)
        elif found:
            break
        elif fallback is None and kind != "asyncio" and code.co_filename != __file__:
            fallback = (code, frame.f_lineno)
        frame = frame.f_back
    if not found and fallback is not None:
        return fallback
    return tuple(found)


def _sites_of(frames: tuple) -> tuple[Site, ...]:
    return tuple(
        Site(code.co_filename, lineno, code.co_qualname) for code, lineno in zip(frames[::2], frames[1::2])
    )


def _sites(frame, limit: int = 8) -> tuple[Site, ...]:
    return _sites_of(_creation_frames(frame, limit))


@dataclass(slots=True)
class TaskInfo:
    id: int
    created: float | None  # time.monotonic(), None if made before the registry
    frames: tuple = ()  # flat (code, lineno, ...) of the user's creating frames
    cancelled_at: Site | None = None
    cancelled_by: str | None = None  # "%cancel", "Ctrl-C"...
    context: contextvars.Context | None = None  # the task's, where reports about it are printed
    coro: object = None  # the task's coroutine, as the factory got it
    made_as: str | None = None  # the name a task made by a user's factory had when it was made

    @property
    def created_at(self) -> tuple[Site, ...]:
        """Where the task was created, innermost frame first."""
        return _sites_of(self.frames)


@dataclass(slots=True)
class Finished:
    """A task as it ended."""

    id: int
    name: str
    coroutine: str
    outcome: str  # "returned", "raised", "cancelled"
    detail: str  # the result's repr, or "ValueError: boom"
    ended: float  # time.monotonic()
    lifetime: float | None
    created_at: tuple[Site, ...]
    traceback: tuple[str, ...] = ()
    cancelled_by: str | None = None  # "%cancel", "Ctrl-C"
    cancelled_at: Site | None = None  # where cancel() was called
    error: BaseException | None = field(default=None, repr=False)  # what it raised


class _ReplTask(asyncio.Task):
    """The factory's Task: it carries its TaskInfo and remembers who cancelled it.

    Its repr is plain asyncio's: the registry's done callback is left out of
    ``cb=[...]`` (see :func:`_callbacks_of`).
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
        callbacks = _callbacks_of(self)
        if registry is None or not callbacks:
            return callbacks
        return [entry for entry in callbacks if entry[0] != registry._finished] or None


_LOOP_CREATE_TASK = asyncio.BaseEventLoop.create_task.__code__
# asyncio.eager_task_factory (3.12+) is Task(..., eager_start=True): the registry
# makes its own Task eagerly instead of calling it, so that eager tasks are
# asyncrepl's tasks too (ids known during their first step, plain reprs).
_EAGER_TASK_FACTORY = getattr(asyncio, "eager_task_factory", None)


class TaskRegistry:
    """Short ids, creation sites, cancel sites and finished history for one loop's tasks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, history_size: int = 100, clock=time.monotonic):
        self.loop = loop
        self.clock = clock
        # (info, name, coroutine, cancelled, exception, result, ended) per task;
        # results are kept alive until they leave this bounded history.
        self._history: deque[tuple] = deque(maxlen=history_size)
        self._info: weakref.WeakKeyDictionary[asyncio.Task, TaskInfo] = weakref.WeakKeyDictionary()
        self._next_id = 1
        self._previous_factory = None
        self._installed = False
        # (coroutine, info) while the previous factory makes a task: if it
        # delegates back to asyncrepl's factory (it was there before it), that
        # call makes the Task itself.
        self._delegated: tuple | None = None
        self.on_finished: Callable[[asyncio.Task], None] | None = None  # diagnostics' hook
        self.finished_count = 0  # of the user's tasks, ever: the status line's cue that one ended
        # Ids of failed tasks reported (_diagnostics.FailedTasks) that the user
        # has not looked at yet (%tasks --done, %tasks ID, %debug_task).
        self.unseen_failures: set[int] = set()
        # %%timeline's hook: (coroutine) -> (coroutine to run, callback(task) or None)
        self.wrap_coroutine: Callable | None = None
        # Named "Task": asyncio prints the class name in reprs and warnings.
        self._task_class = type("Task", (_ReplTask,), {"__slots__": (), "registry": self, "__qualname__": "Task"})

    # -- the factory --

    def install(self) -> None:
        """Put the registry's task factory on the loop, around any factory already there."""
        self._previous_factory = self.loop.get_task_factory()
        self.loop.set_task_factory(self._factory)
        self._installed = True
        for task in sorted(asyncio.all_tasks(self.loop), key=id):
            self.info(task)  # tasks from before: ids now, sites unknown

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
        name = "asyncio.eager_task_factory" if current is _EAGER_TASK_FACTORY else _callable_name(current)
        return (
            f"the loop's task factory {name} now runs inside asyncrepl's, so %tasks, "
            "%%timeline and failure reports still see every task"
        )

    def _factory(self, loop, coro, **kwargs):
        # Runs for every task: kept lean.  **kwargs is what this Python's
        # loop.create_task passes: nothing or context= (3.11-3.13), also name=
        # and eager_start= (3.14+, and some 3.13.x releases); all are passed on.
        delegated = self._delegated
        if delegated is not None and delegated[0] is coro:
            # The previous factory handed the coroutine back to this one.
            self._delegated = None
            return self._construct(loop, coro, kwargs, delegated[1])
        info = TaskInfo(self._next_id, self.clock(), _creation_frames(sys._getframe(1)))
        self._next_id += 1
        after = None
        if self.wrap_coroutine is not None:
            coro, after = self.wrap_coroutine(coro)
        previous = self._previous_factory
        if previous is None:
            task = self._construct(loop, coro, kwargs, info)
        elif previous is _EAGER_TASK_FACTORY:
            kwargs.setdefault("eager_start", True)
            task = self._construct(loop, coro, kwargs, info)
        else:
            outer, self._delegated = self._delegated, (coro, info)
            try:
                task = previous(loop, coro, **kwargs)
            finally:
                self._delegated = outer
            _trim_creation_stack(task)
            if getattr(task, "_asyncrepl_info", None) is None:  # the user's factory made its own Task
                info.context = kwargs.get("context") or _context_of(task)
                info.made_as = task.get_name()  # before 3.13 renames it (see name_of)
                self._info[task] = info
        info.coro = coro
        if after is not None:
            after(task)
        if (self._history.maxlen or self.on_finished is not None) and not _is_machinery_coro(coro):
            task.add_done_callback(self._finished)
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

    def _known(self, task: asyncio.Task) -> TaskInfo | None:
        return getattr(task, "_asyncrepl_info", None) or self._info.get(task)

    def _note_cancel(self, task: asyncio.Task, frame) -> None:
        info = self._known(task)
        if info is not None and info.cancelled_at is None and not task.done():
            sites = _sites(frame, limit=1)
            info.cancelled_at = sites[0] if sites else None

    def cancel(self, tasks: Iterable[asyncio.Task], who: str, message=None) -> None:
        """Cancel *tasks* on behalf of *who* (``%cancel``), noting who and the
        user's line once for all of them: 100,000 tasks take no longer than 100,000 cancel() calls."""
        sites = _sites(sys._getframe(1), limit=1)
        site = sites[0] if sites else None
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

    @property
    def history_size(self) -> int:
        return self._history.maxlen

    def resize_history(self, size: int) -> None:
        self._history = deque(self._history, maxlen=size)

    # -- reading --

    def info(self, task: asyncio.Task) -> TaskInfo:
        info = self._known(task)
        if info is None:
            delegated = self._delegated
            if delegated is not None and _coro_of(task) is delegated[0]:
                # Made by the user's factory, and running its first (eager)
                # step inside it: the factory's info is for this task.
                info = self._info[task] = delegated[1]
            else:  # made before the registry, or by another loop's factory
                info = self._info[task] = TaskInfo(self._next_id, None)
                self._next_id += 1
        return info

    def pending(self, include_machinery: bool = False) -> list[asyncio.Task]:
        """The loop's pending tasks in creation order; the REPL's own only if asked."""
        tasks = [
            task
            for task in asyncio.all_tasks(self.loop)
            if include_machinery or not is_repl_machinery(task)
        ]
        tasks.sort(key=lambda task: self.info(task).id)
        return tasks

    def find(self, patterns: Iterable[str], include_machinery: bool = False):
        """Pending tasks matching any pattern (an id, ``#id``, a name, or a glob
        over names and coroutine names), and the patterns that matched none."""
        tasks = self.pending(include_machinery)
        matched: dict[int, asyncio.Task] = {}
        unmatched = []
        for pattern in patterns:
            hits = [task for task in tasks if self._matches(task, pattern)]
            if not hits:
                unmatched.append(pattern)
            for task in hits:
                matched[self.info(task).id] = task
        return [matched[key] for key in sorted(matched)], unmatched

    def _matches(self, task: asyncio.Task, pattern: str) -> bool:
        wanted = _pattern_id(pattern)
        if wanted is not None:
            return self.info(task).id == wanted
        name, coroutine = self.name_of(task), coroutine_name(task)
        return (
            pattern == name
            or fnmatch.fnmatchcase(name, pattern)
            or fnmatch.fnmatchcase(coroutine, pattern)
            or fnmatch.fnmatchcase(coroutine.rsplit(".", 1)[-1], pattern)
        )

    def finished(self, pattern: str) -> list[Finished]:
        wanted = _pattern_id(pattern)
        return [
            entry
            for entry in self.history
            if entry.id == wanted
            or fnmatch.fnmatchcase(entry.name, pattern)
            or fnmatch.fnmatchcase(entry.coroutine, pattern)
        ]

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

    # -- history --

    def _finished(self, task: asyncio.Task) -> None:
        # Runs for every task that ends: keep what is needed, and make the
        # Finished record only when someone looks (finished_tasks()).
        self.finished_count += 1
        if self.on_finished is not None:
            self.on_finished(task)
        cancelled = task.cancelled()
        error = None if cancelled else _exception_of(task)
        result = None if cancelled or error is not None else task.result()
        info = self.info(task)
        self._history.append((info, self.name_of(task), info.coro or _coro_of(task), cancelled, error, result, self.clock()))

    def looked_at(self, ids: Iterable[int] | None = None) -> None:
        """The user has seen these failed tasks (None: all of them)."""
        if ids is None:
            self.unseen_failures.clear()
        else:
            self.unseen_failures.difference_update(ids)

    @property
    def history(self) -> list[Finished]:
        """The finished tasks remembered, oldest first."""
        return [self._finished_record(*entry) for entry in self._history]

    @staticmethod
    def _finished_record(info, name, coro, cancelled, error, result, ended) -> Finished:
        if cancelled:
            outcome, detail, lines = "cancelled", "", ()
        elif error is not None:
            outcome = "raised"
            detail = f"{type(error).__name__}: {error}".rstrip(": ")
            lines = tuple(traceback.format_exception(type(error), error, error.__traceback__))
        else:
            outcome, detail, lines = "returned", _short_repr(result), ()
        return Finished(
            id=info.id,
            name=name,
            coroutine=getattr(coro, "__qualname__", None) or type(coro).__name__,
            outcome=outcome,
            detail=detail,
            ended=ended,
            lifetime=None if info.created is None else ended - info.created,
            created_at=info.created_at,
            traceback=lines,
            cancelled_by=info.cancelled_by if cancelled else None,
            cancelled_at=info.cancelled_at if cancelled else None,
            error=error,
        )


def outcome(task: asyncio.Task) -> str:
    """How a done task ended: "cancelled", "raised" or "returned"."""
    if task.cancelled():
        return "cancelled"
    return "returned" if _exception_of(task) is None else "raised"


def ending(task: asyncio.Task) -> tuple[str, str]:
    """How a done task ended: ("cancelled", ""), ("returned", repr) or ("raised", "Type: message")."""
    ended = outcome(task)
    if ended == "cancelled":
        return ended, ""
    if ended == "returned":
        return ended, _short_repr(task.result())
    error = _exception_of(task)
    return ended, f"{type(error).__name__}: {error}".rstrip(": ")


def _pattern_id(pattern: str) -> int | None:
    """The task id a pattern names (``3`` or ``#3``), if it names one."""
    bare = pattern[1:] if pattern.startswith("#") else pattern
    return int(bare) if bare.isascii() and bare.isdigit() else None  # not "²", which isdigit() accepts


def _callable_name(function) -> str:
    return getattr(function, "__qualname__", None) or type(function).__qualname__


# -- asyncio's insides: every private attribute asyncrepl reads, in this one place ----------
#
# Each was checked on CPython 3.11.7, 3.12.1, 3.13.0, 3.14.10 and 3.15.2 (C
# tasks, asyncio's default).  asyncio has no public way to ask these questions.


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


_future_callbacks = asyncio.Future._callbacks.__get__  # the C getter (Future or Task)


def _callbacks_of(task: asyncio.Task):
    # Future._callbacks: [(callback, context), ...] or None.  asyncio reads it
    # only to print ``cb=[...]`` in reprs; _ReplTask overrides it to leave the
    # registry's own callback out of them.
    return _future_callbacks(task)


def _context_of(task: asyncio.Task) -> contextvars.Context | None:
    get_context = getattr(task, "get_context", None)  # public from 3.12
    return get_context() if get_context is not None else getattr(task, "_context", None)  # Task._context, 3.11


def _trim_creation_stack(task: asyncio.Task) -> None:
    # Task._source_traceback (debug mode only): asyncio says a task was
    # "created at" the last frame of this list.  Without a factory,
    # loop.create_task deletes its own frame from it; with one, it keeps
    # everything.  Remove asyncrepl's frames, and loop.create_task's where the
    # Task is asyncrepl's own, so that the repr is what plain asyncio prints.
    frames = getattr(task, "_source_traceback", None)
    if not frames:
        return
    frames[:] = [frame for frame in frames if frame.filename != __file__]
    if (
        isinstance(task, _ReplTask)
        and frames
        and frames[-1].name == "create_task"
        and frames[-1].filename == _LOOP_CREATE_TASK.co_filename
    ):
        del frames[-1]


def _awaited_in(frame) -> list:
    # What an asyncio function waits on, by the names of its locals: fut
    # (wait_for on 3.11, shield...), fs (wait, as_completed), self (a TaskGroup).
    local = frame.f_locals
    found = []
    if isinstance(local.get("fut"), asyncio.Future):
        found.append(local["fut"])
    if isinstance(local.get("fs"), (set, frozenset, list)):
        found.extend(local["fs"])
    if isinstance(local.get("self"), asyncio.TaskGroup):
        found.extend(_group_tasks(local["self"]))
    return found


def _timer_in(frame) -> tuple[str, asyncio.TimerHandle] | None:
    # The timer of an asyncio function, by the name of its local: sleep()'s
    # h, or wait_for()'s timeout_handle (3.11; from 3.12 see _timeouts_in).
    for name, kind in (("h", "sleep"), ("timeout_handle", "timeout")):
        handle = frame.f_locals.get(name)
        if isinstance(handle, asyncio.TimerHandle):
            return kind, handle
    return None


def _timeouts_in(awaitable) -> list:
    # asyncio.Timeout objects held by a suspended coroutine: an ``async with
    # asyncio.timeout(...)`` block of the user's, or wait_for's own (3.12+).
    # They are on the frame's value stack, not in its locals; the coroutine's
    # gc referents include that stack (the bound __aexit__ on 3.11-3.13, the
    # Timeout itself on 3.14+).
    found = []
    for referent in gc.get_referents(awaitable):
        owner = getattr(referent, "__self__", referent)
        if isinstance(owner, _TIMEOUT) and owner not in found:
            found.append(owner)
    return found


_TIMEOUT = asyncio.Timeout


_reprs = reprlib.Repr()
_reprs.maxstring = 60
_reprs.maxother = 60


def _short_repr(value) -> str:
    try:
        return _reprs.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def task_label(ident, name: str, coroutine: str) -> str:
    """``3 'worker-1' (fetch())``."""
    return f"{ident} {name!r} ({coroutine}())"


def coroutine_name(task: asyncio.Task, coro=None) -> str:
    """The name of the task's coroutine function; *coro*: its coroutine, if known."""
    coro = coro or _coro_of(task)
    return getattr(coro, "__qualname__", None) or type(coro).__name__


# -- the await chain ------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One coroutine frame of a task's await chain."""

    function: str
    filename: str
    lineno: int

    @property
    def users(self) -> bool:
        return _is_users(self.filename)

    @property
    def in_asyncio(self) -> bool:
        return _classify_file(self.filename) == "asyncio"


# asyncio's own call graph, Python 3.14+: the await chain of a task, and who
# awaits it (recorded by asyncio itself for await, gather, wait, shield and
# TaskGroup).  Before 3.14 both are read from the coroutines and their frames.
_capture_call_graph = getattr(asyncio, "capture_call_graph", None)


def _awaitables(task: asyncio.Task) -> list[tuple]:
    """(coroutine, frame) from the task's coroutine down to where it waits, outermost first."""
    pairs = []
    awaitable = _coro_of(task)
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None) or getattr(
            awaitable, "ag_frame", None
        )
        if frame is None:
            break
        pairs.append((awaitable, frame))
        nxt = None
        for attribute in ("cr_await", "gi_yieldfrom", "ag_await"):
            nxt = getattr(awaitable, attribute, None)
            if nxt is not None:
                break
        if nxt is None or not any(hasattr(nxt, a) for a in ("cr_frame", "gi_frame", "ag_frame")):
            break
        awaitable = nxt
    return pairs


def _frames_of(task: asyncio.Task) -> list:
    """The task's coroutine frames, outermost first."""
    if _capture_call_graph is not None and task is not asyncio.current_task(task.get_loop()):
        # (For the running task the graph is the thread's stack: asyncrepl's own frames.)
        return [entry.frame for entry in reversed(_capture_call_graph(task).call_stack)]
    return [frame for _, frame in _awaitables(task)]


def await_chain(task: asyncio.Task) -> list[Link]:
    """Every coroutine frame from the task's coroutine down to where it waits now."""
    return _links(_frames_of(task))


def _links(frames) -> list[Link]:
    return [Link(f.f_code.co_qualname, f.f_code.co_filename, f.f_lineno) for f in frames]


def task_state(task: asyncio.Task) -> str:
    """"done", "running", "cancelling", "waiting" (on a future) or "ready" (to run)."""
    if task.done():
        return "done"
    if asyncio.current_task(task.get_loop()) is task:
        return "running"
    if task.cancelling():
        return "cancelling"
    return "waiting" if _waiter(task) is not None else "ready"


def _gathered(future) -> list:
    children = _gathered_children(future)
    if children is None:
        return []
    found = []
    for child in children:
        found.extend([child] if isinstance(child, asyncio.Task) else _gathered(child))
    return found


def in_a_pending_gather(task: asyncio.Task, loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a ``gather()`` that a pending task awaits holds *task*: the
    gather takes the task's exception when it ends (with
    ``return_exceptions=True`` only once every child is done)."""
    return any(task in _gathered(_waiter(other)) for other in asyncio.all_tasks(loop) if _waiter(other) is not None)


def _in_asyncio(frame) -> bool:
    return _classify_file(frame.f_code.co_filename) == "asyncio"


def awaited_tasks(task: asyncio.Task, frames=None) -> list[asyncio.Task]:
    """The tasks *task* waits for, read from what it awaits: one task, a
    gather's, a wait()'s, a wait_for()'s (3.11), or a TaskGroup's children.
    *frames*: its _frames_of, if known."""
    waiter = _waiter(task)
    found: list[asyncio.Task] = []
    if isinstance(waiter, asyncio.Task):
        found.append(waiter)
    elif waiter is not None:
        found.extend(_gathered(waiter))
    for frame in reversed(_frames_of(task) if frames is None else frames):
        if not _in_asyncio(frame):
            break
        found.extend(c for c in _awaited_in(frame) if isinstance(c, asyncio.Task))
    unique, seen = [], {id(task)}
    for candidate in found:
        if id(candidate) not in seen and not candidate.done():
            seen.add(id(candidate))
            unique.append(candidate)
    return unique


class AwaitGraph:
    """Who awaits whom among a set of tasks.

    On Python 3.14+ from asyncio's own record (``capture_call_graph``'s
    awaited_by); before, from what each task awaits (:func:`awaited_tasks`).
    """

    def __init__(self, tasks: list[asyncio.Task]):
        # Dicts used as ordered sets: a gather of 100,000 tasks is one waiter
        # with 100,000 targets.
        self._awaits: dict[asyncio.Task, dict[asyncio.Task, None]] = {task: {} for task in tasks}
        self._awaited_by: dict[asyncio.Task, dict[asyncio.Task, None]] = {task: {} for task in tasks}
        if _capture_call_graph is not None:
            for task in tasks:
                for waiter in _capture_call_graph(task, limit=0).awaited_by:
                    self._link(waiter.future, task)
        else:
            for task in tasks:
                for target in awaited_tasks(task):
                    self._link(task, target)

    def _link(self, waiter, target) -> None:
        if waiter in self._awaits and target in self._awaits:
            self._awaits[waiter][target] = None
            self._awaited_by[target][waiter] = None

    def awaits(self, task: asyncio.Task) -> list[asyncio.Task]:
        """The tasks *task* waits for."""
        return list(self._awaits.get(task, ()))

    def awaited_by(self, task: asyncio.Task) -> list[asyncio.Task]:
        """The tasks that wait for *task*."""
        return list(self._awaited_by.get(task, ()))

    def roots(self) -> list[asyncio.Task]:
        """The tasks no task waits for, in the order given."""
        return [task for task, waiters in self._awaited_by.items() if not waiters]


def _ids(tasks: list[asyncio.Task], task_id: Callable[[asyncio.Task], int]) -> str:
    """``5, 6, 7`` or, past five, ``5, 6, 7, 8, 9, +3``."""
    more = f", +{len(tasks) - 5}" if len(tasks) > 5 else ""
    return ", ".join(str(task_id(task)) for task in tasks[:5]) + more


def waits_on(task: asyncio.Task, task_id: Callable[[asyncio.Task], int], loop_time: float, frames=None) -> str:
    """What *task* waits for, in words: ``sleep, 2.4 s left``, ``task 3``,
    ``Event.wait()``..., and when a timeout around it fires.  *frames*: its _frames_of, if known."""
    waiter = _waiter(task)
    if waiter is None:
        return ""
    awaitables = _awaitables(task)
    frames = [frame for _, frame in awaitables] if frames is None else frames
    children = _gathered(waiter) if not isinstance(waiter, asyncio.Task) else []
    if isinstance(waiter, asyncio.Task):
        parts = [f"task {task_id(waiter)}"]
    elif children:
        pending = [child for child in children if not child.done()]
        parts = [f"gather: tasks {_ids(pending, task_id)} ({len(pending)} of {len(children)} pending)"]
    else:
        api = _called_api(frames)
        if api is None:
            parts = [f"future {_short_repr(waiter)}"]
        else:
            parts = ["sleep" if api.f_code.co_name == "sleep" else f"{api.f_code.co_qualname}()"]
            timer = _timer_in(api)
            if timer is not None:
                kind, handle = timer
                left = max(0.0, handle.when() - loop_time)
                parts.append(f"{left:.1f} s left" if kind == "sleep" else f"times out in {left:.1f} s")
            waited = awaited_tasks(task, frames)
            if waited:
                parts.insert(1, f"task{'s' if len(waited) > 1 else ''} {_ids(waited, task_id)}")
    for awaitable, frame in awaitables:
        for timeout in _timeouts_in(awaitable):
            when = timeout.when()
            if when is not None:
                wait_for = frame.f_code.co_name == "wait_for" and _in_asyncio(frame)
                what = "wait_for() times out" if wait_for else "timeout() expires"
                parts.append(f"{what} in {max(0.0, when - loop_time):.1f} s")
    return ", ".join(parts)


def _called_api(frames):
    """The asyncio function the innermost frame outside asyncio is waiting in."""
    for index in range(len(frames) - 1, -1, -1):
        if not _in_asyncio(frames[index]):
            return frames[index + 1] if index + 1 < len(frames) else None
    return frames[0] if frames else None


# -- what a suspended task holds ---------------------------------------------------------


class _BoundedRepr(reprlib.Repr):
    """reprlib's bounded reprs that run no user code but ``__repr__``: containers
    are walked only when they are the builtin types themselves (a dict is not
    sorted: sorting would call the keys' ``__lt__``), and a repr that raises
    says so."""

    _CONTAINERS = {list, tuple, dict, set, frozenset, deque, str, bytes, int, float, complex, bool, type(None)}

    def repr1(self, x, level):
        if type(x) in self._CONTAINERS:
            return super().repr1(x, level)
        return self.repr_instance(x, level)

    def repr_dict(self, x, level):
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pairs = list(x.items())[: self.maxdict]  # x[key] would hash the key: user code
        items = [f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}" for key, value in pairs]
        return "{" + ", ".join(items) + (", ..." if len(x) > self.maxdict else "") + "}"

    def repr_set(self, x, level):
        return self._unsorted(x, level, "{", "}", "set()")

    def repr_frozenset(self, x, level):
        return self._unsorted(x, level, "frozenset({", "})", "frozenset()")

    def _unsorted(self, x, level, left, right, empty):
        if not x:
            return empty
        if level <= 0:
            return left + "..." + right
        items = [self.repr1(item, level - 1) for item in list(x)[: self.maxset]]
        return left + ", ".join(items) + (", ..." if len(x) > self.maxset else "") + right

    def repr_instance(self, x, level):
        try:
            text = repr(x)
        except Exception as error:
            return f"<repr failed: {type(error).__name__}: {error}>"
        if len(text) > self.maxother:
            half = max(0, (self.maxother - 3) // 2)
            text = text[:half] + "..." + text[len(text) - half :]
        return text


_locals_repr = _BoundedRepr()
_locals_repr.maxother = _locals_repr.maxstring = 80


def chain_locals(task: asyncio.Task) -> list[tuple[Link, list[tuple[str, str]]]]:
    """Each frame of the task's await chain, outermost first, with its local
    variables as bounded reprs: what the suspended task holds."""
    chain = []
    for frame in _frames_of(task):
        (link,) = _links([frame])
        variables = [(name, _locals_repr.repr(value)) for name, value in dict(frame.f_locals).items()]
        chain.append((link, variables))
    return chain


# -- rows for %tasks --------------------------------------------------------------------


@dataclass
class TaskRow:
    """One pending task as ``%tasks`` shows it (``%tasks -o`` returns these)."""

    id: int
    name: str
    state: str
    coroutine: str
    suspended_at: Link | None  # the innermost frame outside asyncio
    waits_on: str
    age: float | None
    created_at: Site | None
    machinery: bool = False
    task: asyncio.Task | None = field(default=None, repr=False, compare=False)


def row(registry: TaskRegistry, task: asyncio.Task) -> TaskRow:
    frames = _frames_of(task)
    chain = _links(frames)
    outside = [link for link in chain if not link.in_asyncio]
    info = registry.info(task)
    return TaskRow(
        id=info.id,
        name=registry.name_of(task),
        state=task_state(task),
        coroutine=coroutine_name(task),
        suspended_at=outside[-1] if outside else (chain[-1] if chain else None),
        waits_on=waits_on(task, lambda t: registry.info(t).id, registry.loop.time()),
        age=registry.age(task),
        created_at=info.created_at[0] if info.created_at else None,
        machinery=is_repl_machinery(task),
        task=task,
    )


def summary(tasks: list[asyncio.Task]) -> Counter:
    """Counts by (coroutine, state), cheap enough for 100,000 tasks."""
    return Counter((coroutine_name(task), task_state(task)) for task in tasks)
