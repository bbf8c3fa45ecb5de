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
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .awaits import awaited_tasks, task_state
from .cancelling import StillRunning, _snapshot, _users_site, _why_went_on
from .code import Site, _adopted, in_task_registry, _cancel_origin, _creation_frames, _frames_from_source, _is_machinery_coro, _kind_of_code, _sites_of
from .history import Finished
from .naming import _short_repr, coroutine_name, task_label
from .private import _callbacks_of, _context_of, _coro_of, _exception_of, _group_parent
from .resolve import AmbiguousTask, Matches, NoSuchTask, _coroutine_matches, _entry_fields, _id_order, _name_matches, _pattern_id


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


def _callable_name(function) -> str:
    return getattr(function, "__qualname__", None) or type(function).__qualname__


def _trim_creation_stack(task: asyncio.Task) -> None:
    # Task._source_traceback (debug mode only): asyncio says a task was
    # "created at" the last frame of this list.  Without a factory,
    # loop.create_task deletes its own frame from it; with one, it keeps
    # everything.  Remove asyncrepl's frames, and loop.create_task's where the
    # Task is asyncrepl's own, so that the repr is what plain asyncio prints.
    frames = getattr(task, "_source_traceback", None)
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
