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
import dis
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

from ._frames import is_loop_step

__all__ = [
    "AmbiguousTask",
    "AwaitGraph",
    "Finished",
    "Link",
    "Matches",
    "NoSuchTask",
    "Site",
    "StillRunning",
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

# anyio is not among them: ipykernel (6.29-7.4) does not use it, and a user's
# anyio task runs inside anyio's own wrapper coroutine, which would hide it.
_PACKAGES_OF_THE_REPL = (
    "IPython",
    "ipykernel",
    "prompt_toolkit",
    "tornado",
    "zmq",
    "jupyter_client",
    "asyncrepl",
)


# -- which code is the user's ----------------------------------------------------


@lru_cache(maxsize=None)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    return tuple(os.path.normcase(os.path.realpath(root)) + os.sep for root in roots)


@lru_cache(maxsize=None)
def _launcher_dirs() -> tuple[str, ...]:
    # The environment's bin/: the console scripts that start the REPL
    # (asyncrepl, ipython, jupyter-console).  Their frames are outermost on
    # every stack; they are the REPL's, never the user's.
    scripts = sysconfig.get_paths().get("scripts")
    return (os.path.normcase(os.path.realpath(scripts)) + os.sep,) if scripts else ()


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
    if path.startswith(_package_dirs(_PACKAGES_OF_THE_REPL)) or path.startswith(_launcher_dirs()):
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


# Tasks that TaskRegistry.adopt() made the user's: no longer the REPL's,
# whatever code they run.
_adopted: weakref.WeakSet = weakref.WeakSet()


def is_repl_machinery(task: asyncio.Task) -> bool:
    """True for the tasks that run the code of IPython, ipykernel,
    prompt_toolkit or asyncrepl (a cell's own task), unless adopted: a task
    that holds the loop in such code is the REPL at work, not a user's task
    to report or stop.  (Which tasks ``%tasks`` lists is another question:
    :meth:`TaskRegistry.is_own`.)"""
    if _adopted and task in _adopted:
        return False
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


# Handle._run: where the loop calls each callback, a task's step included.
# Frames outside it are the loop's and whoever runs the loop (the REPL, its
# launcher): nothing there made a task or cancelled one.
_LOOP_STEP = asyncio.events.Handle._run.__code__
assert is_loop_step(_LOOP_STEP)


def _creation_frames(frame, limit: int = 8) -> tuple:
    """Where a task was made, from *frame* (the caller of create_task)
    outwards, as a flat ``(code, lineno, code, lineno, ...)`` tuple,
    innermost first: the user's frames; failing those, the innermost frame
    outside asyncio (a library's, such as aiohttp's ``web_protocol.py``), so
    there is a place whenever one is known.

    The walk never leaves the step that made the task (asyncio's
    ``Handle._run``): past it is the loop, and whoever runs it (IPython, the
    ``asyncrepl`` console script).  This runs for every task created, so it
    is kept lean: one tuple, and the walk ends at the first frame past the
    user's.
    """
    found: list = []
    fallback = None
    while frame is not None and len(found) < 2 * limit:
        code = frame.f_code
        if code is _LOOP_STEP:
            break
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


class _SourceCode(NamedTuple):
    """What a frame of asyncio's debug-mode source traceback tells of its code."""

    co_filename: str
    co_qualname: str


_LOOP_STEP_FILE = os.path.normcase(asyncio.events.__file__)


def _frames_from_source(summaries) -> tuple:
    """:func:`_creation_frames` read from a task's debug-mode
    ``_source_traceback`` (a list of FrameSummary, outermost first), for a
    task made without the loop's task factory."""
    found: list = []
    fallback = None
    for summary in reversed(summaries or ()):
        filename = summary.filename
        if os.path.normcase(filename) == _LOOP_STEP_FILE and summary.name == "_run":
            break
        kind = _classify_file(filename)
        if kind == "user":
            found += (_SourceCode(filename, summary.name), summary.lineno)
        elif found:
            break
        elif fallback is None and kind != "asyncio" and filename != __file__:
            fallback = (_SourceCode(filename, summary.name), summary.lineno)
    if not found and fallback is not None:
        return fallback
    return tuple(found)


# asyncio's own cancellers, by the file of a frame on the way out of
# cancel(): a TaskGroup cancels its children when one fails or its block
# raises; a timeout (and wait_for, which is one from 3.12) cancels what it waits for.
_ASYNCIO_CANCELLERS = {"taskgroups.py": "its TaskGroup", "timeouts.py": "a timeout"}


def _cancel_origin(frame) -> tuple[Site | None, str | None, object, object]:
    """Who called ``cancel()``, from *frame* (its caller) outwards, within the
    step: the user's innermost line (else the innermost line outside
    asyncio); asyncio's part in it (``its TaskGroup``); and, for a
    TaskGroup, the group and the child whose failure made it cancel the others."""
    who = group = failed = None
    fallback = None
    while frame is not None:
        code = frame.f_code
        if code is _LOOP_STEP:
            break
        kind = _kind_of_code(code)
        if kind == "user":
            return Site(code.co_filename, frame.f_lineno, code.co_qualname), who, group, failed
        if kind == "asyncio":
            filename = os.path.basename(code.co_filename)
            if who is None:
                who = _ASYNCIO_CANCELLERS.get(filename)
                if who is None and filename == "tasks.py" and code.co_name in ("wait_for", "_cancel_and_wait"):
                    who = "wait_for()"  # 3.11: wait_for cancels the task it made
            if filename == "taskgroups.py":
                # PRIVATE (CPython 3.11-3.15: TaskGroup._on_task_done(self,
                # task), the done callback of each child, aborts the group
                # when *task* raised).
                local = frame.f_locals
                group = group or local.get("self")
                if code.co_name == "_on_task_done":
                    failed = local.get("task")
        elif fallback is None and code.co_filename != __file__:
            fallback = Site(code.co_filename, frame.f_lineno, code.co_qualname)
        frame = frame.f_back
    return fallback, who, group, failed


def _sites_of(frames: tuple) -> tuple[Site, ...]:
    return tuple(
        Site(code.co_filename, lineno, code.co_qualname) for code, lineno in zip(frames[::2], frames[1::2])
    )


@dataclass(slots=True)
class TaskInfo:
    id: int | str  # the user's 1, 2, ...; "r1", "r2", ... for the REPL's own tasks
    created: float | None  # time.monotonic(), None if made before the registry
    frames: tuple = ()  # flat (code, lineno, ...) of the user's creating frames
    cancelled_at: Site | None = None
    cancelled_by: str | None = None  # "%cancel", "Ctrl-C", "its TaskGroup"...
    context: contextvars.Context | None = None  # the task's, where reports about it are printed
    coro: object = None  # the task's coroutine, as the factory got it
    made_as: str | None = None  # the name a task made by a user's factory had when it was made
    own: bool = False  # the REPL's: no user id, not listed, no history, not counted
    # (awaitable, frame, lasti, ...) of its await chain when last cancelled,
    # outermost first (see _snapshot); let go when it ends.
    cancel_chain: tuple | None = None

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
    cancelled_by: str | None = None  # "%cancel", "Ctrl-C", "its TaskGroup"
    cancelled_at: Site | None = None  # where cancel() was called
    error: BaseException | None = field(default=None, repr=False)  # what it raised, frames and all
    # What it raised as text, for a failure whose frames were let go (see
    # TaskRegistry.FRAMES_KEPT): error is None then.
    trace: traceback.TracebackException | None = field(default=None, repr=False)

    @property
    def traceback(self) -> tuple[str, ...]:
        """The traceback of what it raised, as Python prints it (lines)."""
        if self.error is not None:
            return tuple(traceback.format_exception(type(self.error), self.error, self.error.__traceback__))
        return tuple(self.trace.format()) if self.trace is not None else ()

    @property
    def frames_kept(self) -> bool:
        """Whether the debugger can open its traceback (its frames are still held)."""
        return self.error is not None


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
    """Short ids, creation sites, cancel sites, finished history and kept
    failures for one loop's tasks.

    The user's tasks get ids 1, 2, 3... in creation order, never reused.  The
    REPL's own tasks (IPython's, ipykernel's, prompt_toolkit's, asyncrepl's:
    see :meth:`is_own`) get ``r1``, ``r2``... from a count of their own, so
    they never use up the user's ids; they are left out of listings, the
    history, failure reports and the status line's count.
    """

    #: Failed tasks kept (:attr:`failures`) at most; past it the oldest go,
    #: and :attr:`failures_dropped` counts them.
    FAILURES_KEPT = 1000
    #: Of those, how many newest keep their exception's frames (and what they
    #: hold) for the debugger; older ones keep their traceback as text.
    FRAMES_KEPT = 100

    def __init__(self, loop: asyncio.AbstractEventLoop, history_size: int = 100, clock=time.monotonic):
        self.loop = loop
        self.clock = clock
        # (info, name, coroutine, cancelled, exception, result, ended) per task;
        # results are kept alive until they leave this bounded history.
        self._history: deque[tuple] = deque(maxlen=history_size)
        # Failed tasks, by id, oldest first, until the user forgets them
        # (forget_failures): an entry tuple as in _history, or a Finished
        # record once its frames are let go.  _framed: the ids, newest last,
        # whose entries still hold their exception's frames.
        self._failures: dict[int, tuple | Finished] = {}
        self._framed: deque[int] = deque()
        self.failures_dropped = 0  # failures that left the store because it was full
        self.failures_forgotten = 0  # failures the user let go (forget_failures)
        self._info: weakref.WeakKeyDictionary[asyncio.Task, TaskInfo] = weakref.WeakKeyDictionary()
        self._next_id = 1
        self._next_own_id = 1
        # id(code) -> weak reference, for own_code(): a code object hashes its
        # whole body, an id is free.
        self._own_codes: dict[int, weakref.ref] = {}
        self._previous_factory = None
        self._installed = False
        # (coroutine, info) while the previous factory makes a task: if it
        # delegates back to asyncrepl's factory (it was there before it), that
        # call makes the Task itself.
        self._delegated: tuple | None = None
        self.on_finished: Callable[[asyncio.Task], None] | None = None  # diagnostics' hook
        self.finished_count = 0  # of the user's tasks, ever: the status line's cue that one ended
        # Ids of failed tasks reported (_diagnostics.FailedTasks) that the user
        # has not looked at yet (%tasks --done, --failed, %tasks ID, %debug_task).
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

    def _new_id(self, own: bool) -> int | str:
        if own:
            self._next_own_id += 1
            return f"r{self._next_own_id - 1}"
        self._next_id += 1
        return self._next_id - 1

    def _is_own_coro(self, coro) -> bool:
        code = getattr(coro, "cr_code", None)
        if code is None:
            return False
        if self._own_codes:
            ref = self._own_codes.get(id(code))
            if ref is not None and ref() is code:
                return True
        return _kind_of_code(code) == "repl"

    def _factory(self, loop, coro, **kwargs):
        # Runs for every task: kept lean.  **kwargs is what this Python's
        # loop.create_task passes: nothing or context= (3.11-3.13), also name=
        # and eager_start= (3.14+, and some 3.13.x releases); all are passed on.
        delegated = self._delegated
        if delegated is not None and delegated[0] is coro:
            # The previous factory handed the coroutine back to this one.
            self._delegated = None
            return self._construct(loop, coro, kwargs, delegated[1])
        own = self._is_own_coro(coro)
        info = TaskInfo(self._new_id(own), self.clock(), _creation_frames(sys._getframe(1)), own=own)
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
        if not own and (self._history.maxlen or self.on_finished is not None):
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

    # -- asyncrepl's own tasks --

    def create_own_task(self, coro, *, name: str | None = None, context: contextvars.Context | None = None) -> asyncio.Task:
        """A task of asyncrepl's own, running *coro* on the loop (as
        ``loop.create_task`` would, but never through a task factory the user set).

        It gets no user id (its id is ``r1``, ``r2``...), ``%tasks`` lists it
        only with ``--all`` (marked ``*``), it never enters the history or
        failure reports, and the status line does not count it.
        :meth:`adopt` makes it the user's.  Made while the loop is not running
        (a cell's task, before ``run_until_complete``), it is made with debug
        mode paused: debug mode's "created at" stack of every task is most of
        what a trivial cell costs, and of no use for the REPL's own task.
        """
        info = TaskInfo(self._new_id(True), self.clock(), _creation_frames(sys._getframe(1)), own=True)
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
        if self._history.maxlen or self.on_finished is not None:
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
            parent = _group_parent(group)
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

    def why_still_running(self, task: asyncio.Task) -> StillRunning:
        """Why *task*, cancelled, has not ended: the frame that caught
        CancelledError and went on, in the task itself or, when it waits for
        other tasks cancelled with it (a TaskGroup's children, a gather's),
        in the one that swallowed it."""
        seen: set[int] = set()

        def look(candidate: asyncio.Task) -> StillRunning | None:
            if id(candidate) in seen or candidate.done():
                return None
            seen.add(id(candidate))
            info = self._known(candidate)
            chain = info.cancel_chain if info is not None else None
            if chain:
                why = _why_went_on(candidate, chain)
                if why is not None:
                    return StillRunning(candidate, *why)
            for child in awaited_tasks(candidate):
                found = look(child)
                if found is not None:
                    return found
            return None

        return look(task) or StillRunning(task, None, _users_site(task))


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
            else:
                # Made before the registry, or without the loop's task factory:
                # asyncio.Task(..., eager_start=True), as aiohttp makes its
                # tasks on 3.12 and 3.13.  Debug mode has noted where.
                own = _is_machinery_coro(_coro_of(task))
                info = self._info[task] = TaskInfo(
                    self._new_id(own), None, _frames_from_source(getattr(task, "_source_traceback", None)), own=own
                )
                if not own and not task.done() and self._history.maxlen:
                    task.add_done_callback(self._finished)
        return info

    def pending(self, include_machinery: bool = False) -> list[asyncio.Task]:
        """The loop's pending tasks in creation order (the user's, then the
        REPL's own); the REPL's own only if asked."""
        known = self._known
        infos = [(known(task) or self.info(task), task) for task in asyncio.all_tasks(self.loop)]
        if not include_machinery:
            infos = [pair for pair in infos if not pair[0].own]
        infos.sort(key=lambda pair: _id_order(pair[0].id))
        return [task for _, task in infos]

    # -- finding tasks by ID, NAME or GLOB: one resolver for every magic --

    def resolve(
        self,
        patterns: Iterable[str],
        *,
        include_machinery: bool = False,
        pending: bool = True,
        finished: bool = True,
        failed_only: bool = False,
    ) -> Matches:
        """The tasks that *patterns* name, among the pending tasks (if
        *pending*; the REPL's own too if *include_machinery*) and the
        finished ones remembered (if *finished*: the history and the kept
        failures; only the failures if *failed_only*).

        Each pattern is read the same way everywhere:

        * an id (``3``, ``#3``; ``r3`` for a REPL task) names that task;
        * otherwise, the tasks whose **name** is the pattern or matches it
          as a glob (``worker-*``);
        * only if no task has such a name, the tasks whose **coroutine**
          matches it (``fetch`` names every ``fetch()`` task).
        """
        tasks = self.pending(include_machinery) if pending else []
        entries = (self._failure_entries() if failed_only else self._finished_entries()) if finished else []
        fields = [_entry_fields(entry) for entry in entries]
        found_tasks: dict[int, asyncio.Task] = {}
        found_entries: dict[int, int] = {}  # id -> index in entries
        unmatched = []
        for pattern in patterns:
            hits = self._match(pattern, tasks, fields)
            if not hits[0] and not hits[1]:
                unmatched.append(pattern)
            for task in hits[0]:
                found_tasks[id(task)] = task
            for index in hits[1]:
                found_entries[fields[index][0]] = index
        pending_found = sorted(found_tasks.values(), key=lambda task: _id_order(self.info(task).id))
        finished_found = [self._record(entries[index]) for index in sorted(found_entries.values())]
        return Matches(pending_found, finished_found, unmatched)

    def resolve_one(self, pattern: str, **scope) -> asyncio.Task | Finished:
        """The one task *pattern* names (read as :meth:`resolve` reads it,
        with the same *scope*): a pending Task or a Finished record.  Raises
        :class:`NoSuchTask`, or :class:`AmbiguousTask` listing the candidates."""
        matches = self.resolve([pattern], **scope)
        found = matches.pending + matches.finished
        if not found:
            raise NoSuchTask(pattern)
        if len(found) > 1:
            raise AmbiguousTask(pattern, [self._candidate(item) for item in found])
        return found[0]

    def _candidate(self, item) -> str:
        if isinstance(item, Finished):
            ended = f"raised {item.detail.split(':', 1)[0]}" if item.outcome == "raised" else item.outcome
            return f"{task_label(item.id, item.name, item.coroutine)} {ended}"
        return f"{self.label(item)} {task_state(item)}"

    def _match(self, pattern: str, tasks: list, fields: list) -> tuple[list, list]:
        wanted = _pattern_id(pattern)
        if wanted is not None:
            return (
                [task for task in tasks if self.info(task).id == wanted],
                [index for index, entry in enumerate(fields) if entry[0] == wanted],
            )
        by_name = (
            [task for task in tasks if _name_matches(self.name_of(task), pattern)],
            [index for index, entry in enumerate(fields) if _name_matches(entry[1], pattern)],
        )
        if by_name[0] or by_name[1]:
            return by_name
        return (
            [task for task in tasks if _coroutine_matches(coroutine_name(task, self.info(task).coro), pattern)],
            [index for index, entry in enumerate(fields) if _coroutine_matches(entry[2], pattern)],
        )

    def find(self, patterns: Iterable[str], include_machinery: bool = False):
        """Pending tasks that *patterns* name (see :meth:`resolve`), and the patterns that named none."""
        matches = self.resolve(patterns, include_machinery=include_machinery, finished=False)
        return matches.pending, matches.unmatched

    def finished(self, pattern: str) -> list[Finished]:
        """Finished tasks remembered that *pattern* names (see :meth:`resolve`)."""
        return self.resolve([pattern], pending=False).finished

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
        info = self.info(task)
        if info.own:
            return
        self.finished_count += 1
        if self.on_finished is not None:
            self.on_finished(task)
        info.cancel_chain = None
        cancelled = task.cancelled()
        error = None if cancelled else _exception_of(task)
        result = None if cancelled or error is not None else task.result()
        entry = (info, self.name_of(task), info.coro or _coro_of(task), cancelled, error, result, self.clock())
        self._history.append(entry)
        if error is not None:
            self._keep_failure(info.id, entry)

    def _keep_failure(self, ident: int, entry: tuple) -> None:
        failures, framed = self._failures, self._framed
        failures[ident] = entry
        framed.append(ident)
        while len(framed) > self.FRAMES_KEPT:
            old = framed.popleft()
            kept = failures.get(old)
            if isinstance(kept, tuple):
                # Its frames (and all their locals) go; its traceback stays as text.
                failures[old] = self._finished_record(*kept, keep_frames=False)
        while len(failures) > self.FAILURES_KEPT:
            oldest = next(iter(failures))
            del failures[oldest]
            self.unseen_failures.discard(oldest)
            self.failures_dropped += 1

    def looked_at(self, ids: Iterable[int] | None = None) -> None:
        """The user has seen these failed tasks (None: all of them)."""
        if ids is None:
            self.unseen_failures.clear()
        else:
            self.unseen_failures.difference_update(ids)

    def forget_failures(self, ids: Iterable[int] | None = None) -> list[int]:
        """Stop keeping these failed tasks (None: all of them); the ids forgotten.
        (The history of recently finished tasks is left as it is.)"""
        wanted = list(self._failures) if ids is None else [ident for ident in ids if ident in self._failures]
        for ident in wanted:
            del self._failures[ident]
        self.failures_forgotten += len(wanted)
        self.unseen_failures.difference_update(wanted)
        if wanted:
            gone = set(wanted)
            self._framed = deque(ident for ident in self._framed if ident not in gone)
        return wanted

    @property
    def history(self) -> list[Finished]:
        """The finished tasks remembered (the last ``history_size``), oldest first."""
        return [self._finished_record(*entry) for entry in self._history]

    @property
    def failures(self) -> list[Finished]:
        """The failed tasks kept until forgotten, oldest first, however many
        tasks finished since (at most FAILURES_KEPT: see failures_dropped)."""
        return [self._record(entry) for entry in self._failures.values()]

    def latest_failure(self) -> Finished | None:
        """The task that failed last, of those kept."""
        return self._record(next(reversed(self._failures.values()))) if self._failures else None

    def finished_tasks(self) -> list[Finished]:
        """Every finished task remembered: the history, and the failures kept
        from before it; in the order they ended."""
        return [self._record(entry) for entry in self._finished_entries()]

    def _finished_entries(self) -> list:
        entries = list(self._history)
        in_history = {entry[0].id for entry in entries}
        older = [entry for ident, entry in self._failures.items() if ident not in in_history]
        if older:
            entries = sorted(older + entries, key=lambda entry: entry.ended if isinstance(entry, Finished) else entry[6])
        return entries

    def _failure_entries(self) -> list:
        return list(self._failures.values())

    def _record(self, entry) -> Finished:
        return entry if isinstance(entry, Finished) else self._finished_record(*entry)

    @staticmethod
    def _finished_record(info, name, coro, cancelled, error, result, ended, keep_frames: bool = True) -> Finished:
        trace = None
        if cancelled:
            outcome, detail = "cancelled", ""
        elif error is not None:
            outcome = "raised"
            detail = f"{type(error).__name__}: {error}".rstrip(": ")
            if not keep_frames:
                trace = traceback.TracebackException.from_exception(error)
                error = None
        else:
            outcome, detail = "returned", _short_repr(result)
        return Finished(
            id=info.id,
            name=name,
            coroutine=getattr(coro, "__qualname__", None) or type(coro).__name__,
            outcome=outcome,
            detail=detail,
            ended=ended,
            lifetime=None if info.created is None else ended - info.created,
            created_at=info.created_at,
            cancelled_by=info.cancelled_by if cancelled else None,
            cancelled_at=info.cancelled_at if cancelled else None,
            error=error,
            trace=trace,
        )


@dataclass
class Matches:
    """What patterns named (TaskRegistry.resolve): pending tasks in id order,
    finished ones in the order they ended, and the patterns that named none."""

    pending: list[asyncio.Task]
    finished: list[Finished]
    unmatched: list[str]


class NoSuchTask(LookupError):
    """No task is named so."""

    def __init__(self, pattern: str):
        super().__init__(f"no task matches {pattern!r}")
        self.pattern = pattern


class AmbiguousTask(LookupError):
    """A pattern names more than one task where one is wanted."""

    SHOWN = 10

    def __init__(self, pattern: str, candidates: list[str]):
        shown = ", ".join(candidates[: self.SHOWN])
        more = f", and {len(candidates) - self.SHOWN:,} more" if len(candidates) > self.SHOWN else ""
        super().__init__(f"{pattern!r} names {len(candidates):,} tasks: {shown}{more}; give one id")
        self.pattern, self.candidates = pattern, candidates


def _entry_fields(entry) -> tuple:
    """(id, name, coroutine) of a finished entry: a tuple as kept, or a Finished record."""
    if isinstance(entry, Finished):
        return entry.id, entry.name, entry.coroutine
    coro = entry[2]
    return entry[0].id, entry[1], getattr(coro, "__qualname__", None) or type(coro).__name__


def _name_matches(name: str, pattern: str) -> bool:
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


def _coroutine_matches(coroutine: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(coroutine, pattern) or fnmatch.fnmatchcase(coroutine.rsplit(".", 1)[-1], pattern)


def _id_order(ident) -> tuple[int, int]:
    """Sort key of ids: the user's 1, 2, ... then the REPL's r1, r2, ..."""
    return (0, ident) if isinstance(ident, int) else (1, int(ident[1:]))


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


def _pattern_id(pattern: str) -> int | str | None:
    """The task id a pattern names (``3`` or ``#3``; ``r3`` or ``#r3`` for a
    REPL task), if it names one.  ASCII digits only: not "²", which isdigit() accepts."""
    bare = pattern[1:] if pattern.startswith("#") else pattern
    digits = bare[1:] if bare.startswith("r") else bare
    if not (digits.isascii() and digits.isdigit()):
        return None
    return bare if bare.startswith("r") else int(bare)


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


# asyncio's own call graph, Python 3.14+: who awaits a task (recorded by
# asyncio itself for await, gather, wait, shield and TaskGroup).  Before 3.14
# it is read from the coroutines and the futures they wait on.  (Its
# call_stack is not used for the await chain: it stops at ``async for``, as
# the walk below does not.)
_capture_call_graph = getattr(asyncio, "capture_call_graph", None)



def _async_generator_step_types() -> tuple[type, ...]:
    async def agen():
        yield

    generator = agen()
    steps = generator.asend(None), generator.athrow(GeneratorExit)
    types = tuple({type(step) for step in steps})
    for step in steps:
        step.close()
    return types


_ASYNC_GENERATOR_STEPS = _async_generator_step_types()


def _frame_of(awaitable):
    """The frame of a coroutine, generator or async generator (None once it is done)."""
    return getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None) or getattr(
        awaitable, "ag_frame", None
    )


def _next_awaitable(awaitable):
    """What *awaitable* waits on now, if it is something with a frame: the
    coroutine it awaits, the generator it yields from, or, through ``async
    for`` (an ``async_generator_asend`` object), the async generator itself."""
    for attribute in ("cr_await", "gi_yieldfrom", "ag_await"):
        nxt = getattr(awaitable, attribute, None)
        if nxt is not None:
            break
    else:
        return None
    drives = getattr(nxt, "asyncrepl_drives", None)
    if drives is not None:  # a cell's statement, which asyncrepl drives (see _cell.statements)
        nxt = drives
    elif type(nxt) in _ASYNC_GENERATOR_STEPS:
        # async_generator_asend/athrow have no attribute for their generator;
        # it is their one referent.
        nxt = next((ref for ref in gc.get_referents(nxt) if hasattr(ref, "ag_frame")), None)
    return nxt if nxt is not None and _frame_of(nxt) is not None else None


def _awaitables(task: asyncio.Task) -> list[tuple]:
    """(awaitable, frame) from the task's coroutine down to where it waits, outermost first."""
    pairs = []
    awaitable = _coro_of(task)
    while awaitable is not None:
        frame = _frame_of(awaitable)
        if frame is None:
            break
        pairs.append((awaitable, frame))
        awaitable = _next_awaitable(awaitable)
    return pairs


def _frames_of(task: asyncio.Task) -> list:
    """The task's coroutine frames, outermost first."""
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


def waits_on(task: asyncio.Task, task_id: Callable[[asyncio.Task], int], loop_time: float, awaitables=None) -> str:
    """What *task* waits for, in words: ``sleep, 2.4 s left``, ``task 3``,
    ``Lock lock_a (locked, 2 waiting)``, ``Queue.get() on jobs: empty, 0 of
    10``..., and when a timeout around it fires.  *awaitables*: its
    _awaitables, if known (so that %tasks walks each await chain once)."""
    waiter = _waiter(task)
    if waiter is None:
        return ""
    awaitables = _awaitables(task) if awaitables is None else awaitables
    frames = [frame for _, frame in awaitables]
    children = _gathered(waiter) if not isinstance(waiter, asyncio.Task) else []
    if isinstance(waiter, asyncio.Task):
        parts = [f"task {task_id(waiter)}"]
    elif children:
        pending = [child for child in children if not child.done()]
        parts = [f"gather: tasks {_ids(pending, task_id)} ({len(pending)} of {len(children)} pending)"]
    else:
        index = _innermost_outside_asyncio(frames)
        api = frames[index + 1] if index + 1 < len(frames) else None  # the asyncio function it waits in
        primitive = _primitive_wait(frames, index)
        if primitive is not None:
            parts = [primitive]
        elif api is None:
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


def _innermost_outside_asyncio(frames) -> int:
    """The index of the innermost frame outside asyncio (-1 if all are asyncio's)."""
    for index in range(len(frames) - 1, -1, -1):
        if not _in_asyncio(frames[index]):
            return index
    return -1


_PRIMITIVES = (asyncio.Lock, asyncio.Semaphore, asyncio.Event, asyncio.Condition, asyncio.Queue, asyncio.Barrier)


def _primitive_wait(frames, index: int) -> str | None:
    """What a task waits on in asyncio's synchronization primitives and queues,
    in a line: the primitive (by the name the waiting code has for it) and
    its counts.  *index*: the innermost frame outside asyncio; the first
    asyncio frame below it whose ``self`` is a primitive is the call waited
    in (``async with lock`` waits in ``__aenter__``, then ``acquire``)."""
    for frame in frames[index + 1 :]:
        primitive = frame.f_locals.get("self")
        if isinstance(primitive, _PRIMITIVES):
            break
    else:
        return None
    kind = type(primitive).__name__
    method = frame.f_code.co_name
    name = _name_in(frames[index], primitive) if index >= 0 else None
    named = f" {name}" if name else ""
    on = f" on {name}" if name else ""
    try:
        if isinstance(primitive, asyncio.Queue):
            if method == "join":
                return f"{kind}.join(){on}: {_unfinished(primitive)} unfinished"
            size, most = primitive.qsize(), primitive.maxsize
            of = f"{size} of {most}" if most > 0 else f"{size}, no maxsize"
            state = "full" if primitive.full() else "empty" if primitive.empty() else "neither empty nor full"
            return f"{kind}.{'put' if method == 'put' else 'get'}(){on}: {state}, {of}"
        if isinstance(primitive, asyncio.Event):
            return f"{kind}.wait(){on}: {'set' if primitive.is_set() else 'not set'}, {_waiting(primitive)} waiting"
        if isinstance(primitive, asyncio.Barrier):
            state = "broken" if primitive.broken else f"{primitive.n_waiting} of {primitive.parties} waiting"
            return f"{kind}.wait(){on}: {state}"
        if isinstance(primitive, asyncio.Condition) and method in ("wait", "wait_for"):
            return f"{kind}.{method}(){on}: {_waiting(primitive)} waiting"
        if isinstance(primitive, asyncio.Semaphore):
            free = _semaphore_value(primitive)
            bound = getattr(primitive, "_bound_value", None)  # PRIVATE (BoundedSemaphore, 3.11-3.15)
            counts = f"{free} of {bound} free" if bound is not None else f"{free} free"
            return f"{kind}{named} ({counts}, {_waiting(primitive)} waiting)"
        # A Lock, or a Condition's lock (async with condition).
        lock = primitive if isinstance(primitive, asyncio.Lock) else getattr(primitive, "_lock", primitive)
        state = "locked" if lock.locked() else "unlocked"
        return f"{kind}{named} ({state}, {_waiting(lock)} waiting)"
    except Exception:  # a subclass of the user's with other insides
        return f"{kind}.{method}(){on}"


def _name_in(frame, value) -> str | None:
    """A name *value* has in *frame*: a local variable, an attribute of one
    (``self.lock``, ``pool.gate``), or a global.  No user code runs: only
    dicts are read."""
    local = frame.f_locals
    for key, candidate in local.items():
        if candidate is value:
            return key
    for key, owner in local.items():
        if isinstance(owner, (type(sys), type)) or owner is None:
            continue
        try:
            attributes = object.__getattribute__(owner, "__dict__")
        except Exception:
            continue
        if isinstance(attributes, dict):
            for attribute, candidate in attributes.items():
                if candidate is value:
                    return f"{key}.{attribute}"
    for key, candidate in frame.f_globals.items():
        if candidate is value:
            return key
    return None


# -- why a cancelled task goes on ----------------------------------------------------------


@dataclass(frozen=True)
class StillRunning:
    """Why a cancelled task has not ended (TaskRegistry.why_still_running).

    *task*: the task that went on: the cancelled one itself, or a task it
    waits for (cancelled with it) that swallowed the cancellation; *how*:
    "caught" (an ``except`` took CancelledError and the task went on; *where*
    is that except clause when it can be told, else where the task is now),
    "handling" (it is still inside an ``except`` or ``finally`` block, which
    awaits; *where* is where it waits), or None (it is not known: *where* is
    where the task waits now)."""

    task: asyncio.Task
    how: str | None
    where: Site | None


def _why_went_on(task: asyncio.Task, chain) -> tuple[str, Site] | None:
    """How *task*'s own frames took the cancellation it got when its await
    chain was *chain* (a _snapshot): None
    if no frame of the user's (or a library's) is seen to have caught it."""
    alive = None
    for index in range(len(chain) - 3, -1, -3):  # (awaitable, frame, lasti) triples, innermost first
        awaitable, frame, lasti = chain[index : index + 3]
        if _frame_of(awaitable) is frame:
            alive = index
            break
    if alive is None:
        return None
    if alive == len(chain) - 3 and frame.f_lasti == lasti:
        return None  # not thrown in yet: it waits for something that has not ended
    code = frame.f_code
    if _kind_of_code(code) in ("asyncio", "repl"):
        return None  # asyncio caught it to wait for others (a TaskGroup's __aexit__)
    now = Site(code.co_filename, frame.f_lineno, code.co_qualname)
    if _in_exception_handler(code, frame.f_lasti):
        return "handling", now
    line = _catching_line(code, lasti)
    return "caught", now._replace(lineno=line) if line else now


def _users_site(task: asyncio.Task) -> Site | None:
    """Where *task* is now, in the user's code (else outside asyncio)."""
    frames = _frames_of(task)
    for kinds in (("user",), ("user", "library")):
        for frame in reversed(frames):
            if _kind_of_code(frame.f_code) in kinds:
                return Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_qualname)
    return None


def _snapshot(task: asyncio.Task) -> tuple:
    """The task's await chain as one flat tuple (awaitable, frame, lasti,
    awaitable, frame, lasti, ...), outermost first.  Taken at every
    cancel(): one object per task, as %cancel --all of 100,000 tasks takes
    as many, and every object more is work for the garbage collector."""
    chain: list = []
    awaitable = _coro_of(task)
    while awaitable is not None:
        frame = _frame_of(awaitable)
        if frame is None:
            break
        chain += (awaitable, frame, frame.f_lasti)
        awaitable = _next_awaitable(awaitable)
    return tuple(chain)


# -- which except clause caught an exception: the code's exception table (3.11+) ----------


@lru_cache(maxsize=256)
def _exception_table(code) -> tuple[list, dict] | None:
    # PRIVATE (CPython 3.11-3.15: dis.Bytecode.exception_entries, entries
    # with .start, .end, .target in bytes, as the frame's f_lasti).
    try:
        bytecode = dis.Bytecode(code)
        entries = list(bytecode.exception_entries)
        instructions = [ins for ins in bytecode if ins.opname not in ("CACHE", "NOP", "EXTENDED_ARG")]
    except Exception:
        return None
    following = {ins.offset: instructions[index:index + 8] for index, ins in enumerate(instructions)}
    return entries, following


def _handler_at(table, offset: int):
    entries, following = table
    for entry in entries:
        if entry.start <= offset < entry.end:
            return following.get(entry.target) or next(
                (following[key] for key in sorted(following) if key >= entry.target), None
            )
    return None


def _handler_kind(instructions) -> tuple[str, int | None]:
    """What a handler's first instructions do: ("except", line), ("with", line),
    ("finally", line), or ("pass", None) for a handler that only passes the
    exception on (an await's CLEANUP_THROW, a block's cleanup, the
    coroutine's own StopIteration wrapper)."""
    if not instructions or instructions[0].opname != "PUSH_EXC_INFO":
        return "pass", None
    rest = instructions[1:]
    line = next((ins.positions.lineno for ins in rest if ins.positions and ins.positions.lineno), None)
    if rest and rest[0].opname == "WITH_EXCEPT_START":
        return "with", line
    if rest and rest[0].opname == "POP_TOP":
        return "except", line  # a bare except:
    if any(ins.opname in ("CHECK_EXC_MATCH", "CHECK_EG_MATCH") for ins in rest[:6]):
        return "except", line
    return "finally", line


def _catching_line(code, lasti: int) -> int | None:
    """The line of the except clause that took an exception raised at
    *lasti* in *code* (the frame went on, so one did), or of the ``with``
    whose ``__exit__`` swallowed it; None if it cannot be told."""
    table = _exception_table(code)
    if table is None:
        return None
    offset, swallowed_by = lasti, None
    for _ in range(50):
        handler = _handler_at(table, offset)
        if handler is None:
            break
        kind, line = _handler_kind(handler)
        if kind == "except":
            return line
        if kind == "with" and swallowed_by is None:
            swallowed_by = line
        offset = handler[0].offset
    return swallowed_by


def _in_exception_handler(code, lasti: int) -> bool:
    """Whether the instruction at *lasti* runs inside an except or finally
    block (an exception is being handled: the block's cleanup covers it)."""
    table = _exception_table(code)
    if table is None:
        return False
    offset = lasti
    for _ in range(50):
        handler = _handler_at(table, offset)
        if handler is None:
            return False
        first = handler[0].opname
        if first == "COPY" and len(handler) > 1 and handler[1].opname == "POP_EXCEPT":
            return True
        if first != "CLEANUP_THROW":
            return False
        offset = handler[0].offset
    return False


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

    id: int | str  # "r3" for the REPL's own tasks (%tasks --all)
    name: str
    state: str
    coroutine: str
    suspended_at: Link | None  # the innermost frame outside asyncio
    waits_on: str
    age: float | None
    created_at: Site | None
    machinery: bool = False  # the REPL's own task (TaskRegistry.is_own)
    task: asyncio.Task | None = field(default=None, repr=False, compare=False)


def row(registry: TaskRegistry, task: asyncio.Task) -> TaskRow:
    """The task as ``%tasks`` lists it; its await chain is walked once."""
    awaitables = _awaitables(task)
    chain = _links([frame for _, frame in awaitables])
    outside = [link for link in chain if not link.in_asyncio]
    info = registry.info(task)
    return TaskRow(
        id=info.id,
        name=registry.name_of(task),
        state=task_state(task),
        coroutine=coroutine_name(task),
        suspended_at=outside[-1] if outside else (chain[-1] if chain else None),
        waits_on=waits_on(task, lambda t: registry.info(t).id, registry.loop.time(), awaitables),
        age=registry.age(task),
        created_at=info.created_at[0] if info.created_at else None,
        machinery=info.own,
        task=task,
    )


def summary(tasks: list[asyncio.Task]) -> Counter:
    """Counts by (coroutine, state), cheap enough for 100,000 tasks."""
    return Counter((coroutine_name(task), task_state(task)) for task in tasks)
