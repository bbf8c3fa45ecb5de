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
    "Finished",
    "Link",
    "Site",
    "TaskInfo",
    "TaskRegistry",
    "TaskRow",
    "await_chain",
    "awaited_tasks",
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
    code = getattr(task.get_coro(), "cr_code", None)
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


class _ReplTask(asyncio.Task):
    """The factory's Task: it carries its TaskInfo and remembers who cancelled it."""

    __slots__ = ("_asyncrepl_info",)
    registry: TaskRegistry | None = None  # set per subclass made by a registry

    def cancel(self, msg=None):
        registry = type(self).registry
        if registry is not None:
            registry._note_cancel(self, sys._getframe(1))
        return super().cancel(msg)


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
        self.on_finished: Callable[[asyncio.Task], None] | None = None  # diagnostics' hook
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

    def _factory(self, loop, coro, **kwargs):
        after = None
        if self.wrap_coroutine is not None:
            coro, after = self.wrap_coroutine(coro)
        task = self._make_task(loop, coro, kwargs)
        if after is not None:
            after(task)
        return task

    def _make_task(self, loop, coro, kwargs):
        if self._previous_factory is not None:
            task, context = self._previous_factory(loop, coro, **kwargs), None
        else:
            # The context is made here, as Task would make it, to be kept: a
            # report about the task printed in it reaches the cell that made
            # the task (ipykernel reads its parent message from a ContextVar).
            context = kwargs.pop("context", None) or contextvars.copy_context()
            task = self._task_class(coro, loop=loop, context=context, **kwargs)
            _drop_own_frame(task)
        self._record(task, sys._getframe(2), context)
        return task

    def _record(self, task: asyncio.Task, frame, context=None) -> None:
        info = TaskInfo(self._next_id, self.clock(), _creation_frames(frame), context=context)
        self._next_id += 1
        if isinstance(task, _ReplTask):
            task._asyncrepl_info = info  # cheaper than the weak dictionary
        else:
            self._info[task] = info
        if (self._history.maxlen or self.on_finished is not None) and not is_repl_machinery(task):
            task.add_done_callback(self._finished)

    def _known(self, task: asyncio.Task) -> TaskInfo | None:
        return getattr(task, "_asyncrepl_info", None) or self._info.get(task)

    def _note_cancel(self, task: asyncio.Task, frame) -> None:
        info = self._known(task)
        if info is not None and info.cancelled_at is None and not task.done():
            sites = _sites(frame, limit=1)
            info.cancelled_at = sites[0] if sites else None

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
        if info is None:  # made before the registry, or by another loop's factory
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
        name, coroutine = task.get_name(), coroutine_name(task)
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
        return task_label(self.info(task).id, task.get_name(), coroutine_name(task))

    def context_of(self, task: asyncio.Task) -> contextvars.Context | None:
        return self.info(task).context

    def age(self, task: asyncio.Task) -> float | None:
        created = self.info(task).created
        return None if created is None else self.clock() - created

    # -- history --

    def _finished(self, task: asyncio.Task) -> None:
        # Runs for every task that ends: keep what is needed, and make the
        # Finished record only when someone looks (finished_tasks()).
        if self.on_finished is not None:
            self.on_finished(task)
        cancelled = task.cancelled()
        error = None if cancelled else _exception_of(task)
        result = None if cancelled or error is not None else task.result()
        self._history.append((self.info(task), task.get_name(), task.get_coro(), cancelled, error, result, self.clock()))

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
        )


def _exception_of(task: asyncio.Task) -> BaseException | None:
    # PRIVATE (CPython 3.11-3.14: Future._exception): unlike task.exception(),
    # reading it does not mark the exception retrieved, so asyncio still warns
    # about exceptions nobody retrieves.
    return task._exception


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
    return int(bare) if bare.isascii() and bare.isdigit() else None  # isdigit alone takes '²'


def _drop_own_frame(task: asyncio.Task) -> None:
    # PRIVATE (CPython 3.11-3.14: Task._source_traceback, debug mode only):
    # asyncio reports a task as "created at" the last frame of this list,
    # which would otherwise be this factory rather than asyncio.create_task.
    frames = getattr(task, "_source_traceback", None)
    if frames and frames[-1].filename == __file__:
        del frames[-1]


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


def coroutine_name(task: asyncio.Task) -> str:
    coro = task.get_coro()
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


def _frames_of(task: asyncio.Task):
    """The task's coroutine frames, outermost first, with the innermost awaitable."""
    frames = []
    awaitable = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None) or getattr(
            awaitable, "ag_frame", None
        )
        if frame is None:
            break
        frames.append(frame)
        nxt = None
        for attribute in ("cr_await", "gi_yieldfrom", "ag_await"):
            nxt = getattr(awaitable, attribute, None)
            if nxt is not None:
                break
        if nxt is None or not any(hasattr(nxt, a) for a in ("cr_frame", "gi_frame", "ag_frame")):
            break
        awaitable = nxt
    return frames


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


def _waiter(task: asyncio.Task):
    # PRIVATE (CPython 3.11-3.14: Task._fut_waiter): the future the task is
    # blocked on; asyncio has no public way to ask.
    return task._fut_waiter


def _gathered(future) -> list:
    children = getattr(future, "_children", None)  # _GatheringFuture, CPython 3.11-3.14
    if children is None:
        return []
    found = []
    for child in children:
        found.extend([child] if isinstance(child, asyncio.Task) else _gathered(child))
    return found


def awaited_tasks(task: asyncio.Task, frames=None) -> list[asyncio.Task]:
    """The tasks *task* waits for: one it awaits, a gather's, a wait()'s,
    a wait_for()'s, or a TaskGroup's children.  *frames*: its _frames_of, if known."""
    waiter = _waiter(task)
    found: list[asyncio.Task] = []
    if isinstance(waiter, asyncio.Task):
        found.append(waiter)
    elif waiter is not None:
        found.extend(_gathered(waiter))
    for frame in reversed(_frames_of(task) if frames is None else frames):
        if _classify_file(frame.f_code.co_filename) != "asyncio":
            break
        local = frame.f_locals
        candidates = []
        if isinstance(local.get("fut"), asyncio.Future):
            candidates.append(local["fut"])
        if isinstance(local.get("fs"), (set, frozenset, list)):
            candidates.extend(local["fs"])
        group = local.get("self")
        if isinstance(group, asyncio.TaskGroup):
            candidates.extend(getattr(group, "_tasks", ()))  # TaskGroup._tasks, 3.11-3.14
        found.extend(c for c in candidates if isinstance(c, asyncio.Task))
    unique, seen = [], {id(task)}
    for candidate in found:
        if id(candidate) not in seen and not candidate.done():
            seen.add(id(candidate))
            unique.append(candidate)
    return unique


def _ids(tasks: list[asyncio.Task], task_id: Callable[[asyncio.Task], int]) -> str:
    """``5, 6, 7`` or, past five, ``5, 6, 7, 8, 9, +3``."""
    more = f", +{len(tasks) - 5}" if len(tasks) > 5 else ""
    return ", ".join(str(task_id(task)) for task in tasks[:5]) + more


def waits_on(task: asyncio.Task, task_id: Callable[[asyncio.Task], int], loop_time: float, frames=None) -> str:
    """What *task* waits for, in words: ``sleep, 2.4 s left``, ``task 3``, ``Event.wait()``...
    *frames*: its _frames_of, if known."""
    waiter = _waiter(task)
    if waiter is None:
        return ""
    if isinstance(waiter, asyncio.Task):
        return f"task {task_id(waiter)}"
    children = _gathered(waiter)
    if children:
        pending = [child for child in children if not child.done()]
        return f"gather: tasks {_ids(pending, task_id)} ({len(pending)} of {len(children)} pending)"
    frames = _frames_of(task) if frames is None else frames
    innermost_asyncio = [f for f in frames if _classify_file(f.f_code.co_filename) == "asyncio"]
    if innermost_asyncio:
        # The first asyncio frame is the API the user's code called.
        frame = innermost_asyncio[0]
        function = frame.f_code.co_qualname
        parts = ["sleep" if function == "sleep" else f"{function}()"]
        handle = frame.f_locals.get("h") or frame.f_locals.get("timeout_handle")
        if isinstance(handle, asyncio.TimerHandle):
            parts.append(f"{max(0.0, handle.when() - loop_time):.1f} s left")
        waited = awaited_tasks(task, frames)
        if waited:
            parts.append(f"task{'s' if len(waited) > 1 else ''} {_ids(waited, task_id)}")
        return ", ".join(parts)
    return f"future {_short_repr(waiter)}"


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
        name=task.get_name(),
        state=task_state(task),
        coroutine=coroutine_name(task),
        suspended_at=outside[-1] if outside else (chain[-1] if chain else None),
        waits_on=waits_on(task, lambda t: registry.info(t).id, registry.loop.time(), frames),
        age=registry.age(task),
        created_at=info.created_at[0] if info.created_at else None,
        machinery=is_repl_machinery(task),
        task=task,
    )


def summary(tasks: list[asyncio.Task]) -> Counter:
    """Counts by (coroutine, state), cheap enough for 100,000 tasks."""
    return Counter((coroutine_name(task), task_state(task)) for task in tasks)


def awaited_by(tasks: list[asyncio.Task]) -> dict[asyncio.Task, list[asyncio.Task]]:
    """For each task of *tasks*, the tasks among them that await it."""
    members = set(tasks)
    waiters: dict[asyncio.Task, list[asyncio.Task]] = {task: [] for task in tasks}
    for task in tasks:
        for target in awaited_tasks(task):
            if target in members:
                waiters[target].append(task)
    return waiters
