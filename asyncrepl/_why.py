"""Why a task is stuck: the wait-for analysis behind ``%why``, ``%tasks``'
"waits on" and the deadlock report.

For each pending task, what it waits on directly (:class:`Wait`): another
task, a gather, a TaskGroup, a timer, I/O, a thread, or one of asyncio's
primitives; and for a primitive, the tasks that hold it (locks and permits,
recorded by :mod:`asyncrepl._holders`) or could release, set or feed it.
Those are the edges of a wait-for graph.  A task's chain (:class:`Chain`)
follows the edges to a root cause: a timer, I/O, a thread, a **cycle** (a
deadlock), a **leak** (a lock or permits held by tasks that have ended), a
**dead partner** (a queue whose consumers or producers have ended, an Event
nobody is set up to set), or a **cancellation in progress**.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _holders
from ._tasks.awaits import (
    _PRIMITIVES,
    _awaitables,
    _gathered,
    _innermost_outside_asyncio,
    _timer_in,
    awaited_tasks,
    queue_fill,
    timeouts_ahead,
)
from ._tasks.cancelling import why_still_running
from ._tasks.code import Site, _kind_of_code
from ._tasks.naming import _short_repr
from ._asyncio_private import callbacks_of, condition_lock, semaphore_bound, semaphore_value, unfinished, waited_on, waiters_count
from ._tasks.registry import TaskRegistry, ending

__all__ = ["Analysis", "Cause", "Chain", "Held", "Wait", "analyse"]

#: Root causes at which a task is not stuck: something will happen.
PROGRESS = ("timer", "io", "thread", "running", "ready")
#: Root causes at which a task is stuck for good.
DEAD_ENDS = ("leak", "dead partner")

_MOST_ITEMS = 256  # items of a dict or list looked through when naming a primitive


@dataclass
class Held:
    """A lock or permit taken and not given back: by *task* (its *label*),
    at *taken_at* (the frame that took it) called from *called_from* (when
    that is the user's code); for a task that has ended, how it ended
    (*ended*: "raised HTTPNotFound: ...") and where the frame that took it
    was when it ended (*left_at*).  *before_load*: taken before asyncrepl
    was loaded (or attached), found in its ``async with`` block, where it
    was taken is not known."""

    task: asyncio.Task | None
    label: str
    taken_at: Site | None
    called_from: Site | None = None
    ended: str | None = None
    left_at: Site | None = None
    before_load: bool = False

    @property
    def taken(self) -> str:
        """``(taken at SITE)``'s stand-in where the site is not known."""
        return " (taken before asyncrepl was loaded)" if self.before_load and self.taken_at is None else ""


@dataclass
class Partner:
    """A task that fed or drained a queue: its label, and how it ended (None: it has not)."""

    task: asyncio.Task | None
    label: str
    ended: str | None = None


@dataclass
class Wait:
    """What one task waits on directly.

    *kind*: "task", "tasks", "lock", "semaphore", "event", "condition",
    "queue", "barrier", "timer", "io", "thread", "future", "running",
    "ready", "done".  *what*: in words (``Lock locks['bob'] (locked, 2
    waiting)``).  *targets*: the pending tasks that could end the wait (all
    of them must end: *mode* "all"; any one of them can: "any").  *end*: for
    a wait that no pending task can end, its root cause ("timer", "io",
    "thread", "leak", "dead partner", or "unknown") and *detail* in words."""

    task: asyncio.Task
    kind: str
    what: str
    where: Site | None = None
    primitive: object = None
    name: str | None = None
    targets: list = field(default_factory=list)
    mode: str = "all"
    end: str | None = None
    detail: str = ""
    role: str = ""  # what the targets are to it: "held by", "could set it", "feeds it"...
    holders: list[Held] = field(default_factory=list)
    partners: list[Partner] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)


@dataclass
class Cause:
    """A root cause: *kind* ("cycle", "leak", "dead partner", "cancelling",
    "timer", "io", "thread", "running", "ready", "unknown"), a line
    (*summary*), more lines (*details*), and the tasks in it (a cycle's)."""

    kind: str
    summary: str
    details: list[str] = field(default_factory=list)
    tasks: list = field(default_factory=list)
    key: object = None  # what tasks with the same root cause share (a cycle's tasks, a primitive)


@dataclass
class Cancelling:
    """A cancellation in progress: *who* asked (``%cancel``, ``Ctrl-C``,
    ``its TaskGroup (task 3 failed)``...) at *asked_at*; *how* the task
    took it ("caught": an except took CancelledError and it went on, at
    *where*; "handling": it is unwinding in an except/finally block at
    *where*; None: not known, *where* is where it waits), and *by*, the
    label of the task that swallowed it when it is another (a child)."""

    who: str
    asked_at: Site | None
    how: str | None
    by: str | None
    where: Site | None


@dataclass
class Chain:
    """From a task to its root cause: one :class:`Wait` per task on the way."""

    task: asyncio.Task
    label: str
    steps: list[Wait]
    cause: Cause
    cancelling: Cancelling | None = None  # a cancellation in progress: who asked, why it goes on

    @property
    def stuck(self) -> bool:
        return self.cause.kind not in PROGRESS


# -- naming what the user recognises ----------------------------------------------------------


def name_in_frames(value, frames) -> str | None:
    """A name *value* has in *frames* (innermost first): a global of theirs
    first, the one name every task knows it by (a lock passed as an argument
    is ``first`` in one task and ``second`` in another: ``lock_a`` in both);
    else a local variable, an attribute of one (``self.lock``), an item of a
    dict or list held in one (``locks['alice']``, ``self.locks['alice']``),
    or an item of a global dict or list.  Only dicts and lists are read: no
    user code runs."""
    for frame in frames:
        for key, candidate in frame.f_globals.items():
            if candidate is value and not key.startswith("_"):
                return key
    for frame in frames:
        found = _name_in_frame(value, frame)
        if found:
            return found
    return None


def _name_in_frame(value, frame) -> str | None:
    local = frame.f_locals
    for key, candidate in local.items():
        if candidate is value:
            return key
    for key, owner in local.items():
        found = _name_inside(value, owner, key)
        if found:
            return found
    for key, owner in local.items():
        attributes = _attributes(owner)
        for attribute, inner in attributes.items():
            if isinstance(inner, (dict, list, tuple)):
                found = _item_name(value, inner, f"{key}.{attribute}")
                if found:
                    return found
    for key, candidate in frame.f_globals.items():
        if candidate is value:
            return key
    for key, candidate in list(frame.f_globals.items()):
        if isinstance(candidate, (dict, list)) and not key.startswith("_"):
            found = _item_name(value, candidate, key)
            if found:
                return found
    return None


def _attributes(owner) -> dict:
    if owner is None or isinstance(owner, (type(sys), type, str, bytes, int, float)):
        return {}
    try:
        attributes = object.__getattribute__(owner, "__dict__")
    except Exception:
        return {}
    return attributes if isinstance(attributes, dict) else {}


def _name_inside(value, owner, key: str) -> str | None:
    if isinstance(owner, (dict, list, tuple)):
        return _item_name(value, owner, key)
    for attribute, candidate in _attributes(owner).items():
        if candidate is value:
            return f"{key}.{attribute}"
    if type(owner).__module__.startswith("aiohttp") and hasattr(owner, "_state"):
        # aiohttp's Application keeps its items in _state (app["locks"]).
        state = getattr(owner, "_state", None)
        if isinstance(state, dict):
            for item_key, inner in list(state.items())[:_MOST_ITEMS]:
                if inner is value:
                    return f"{key}[{item_key!r}]"
                if isinstance(inner, (dict, list, tuple)):
                    found = _item_name(value, inner, f"{key}[{item_key!r}]")
                    if found:
                        return found
    return None


def _item_name(value, container, prefix: str) -> str | None:
    if len(container) > _MOST_ITEMS:
        return None
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for item_key, candidate in items:
        if candidate is value:
            return f"{prefix}[{item_key!r}]"
    return None


def _refers_to(frames, value) -> bool:
    """Whether any of *frames* has *value* in a local variable, an attribute
    of one, or an item of a dict or list in one: what a task that could set
    an Event (feed a queue...) holds."""
    for frame in frames:
        if _name_in_frame_locals(value, frame):
            return True
    return False


def _name_in_frame_locals(value, frame) -> bool:
    local = frame.f_locals
    for key, owner in local.items():
        if owner is value or _name_inside(value, owner, key):
            return True
        for inner in _attributes(owner).values():
            if isinstance(inner, (dict, list, tuple)) and _item_name(value, inner, ""):
                return True
    return False


# -- sites -----------------------------------------------------------------------------------


def _line_at(code, lasti: int) -> int | None:
    for start, end, line in code.co_lines():
        if start <= lasti < end:
            return line
    return None


def _site(frame, lasti: int | None = None) -> Site | None:
    if frame is None:
        return None
    code = frame.f_code
    line = _line_at(code, lasti) if lasti is not None else frame.f_lineno
    return Site(code.co_filename, line or frame.f_lineno or code.co_firstlineno, code.co_qualname)


# -- the analysis -----------------------------------------------------------------------------


class Analysis:
    """The wait-for graph of one loop's pending tasks, taken now."""

    def __init__(self, registry: TaskRegistry, *, include_own: bool = True, scan_references: bool = True):
        self.registry = registry
        # Whether to look through every task's variables for who could set an
        # Event (feed a queue nobody fed yet...): O(tasks); %tasks does without.
        self.scan_references = scan_references
        self.loop = registry.loop
        self.now = self.loop.time()
        self.current = asyncio.current_task(self.loop) if self.loop.is_running() else None
        self.tasks = registry.pending(include_machinery=include_own)
        self._frames: dict[asyncio.Task, list] = {}
        self._waits: dict[asyncio.Task, Wait] = {}
        self._stuck: set | None = None
        self._cycles: dict | None = None

    # -- naming --

    def label(self, task) -> str:
        return self.registry.label(task)

    def short(self, task) -> str:
        return f"task {self.registry.info(task).id}"

    def _ended(self, task) -> str:
        how, detail = ending(task)
        if how == "cancelled":
            who = self.registry.info(task).cancelled_by
            return f"was cancelled{f' by {who}' if who else ''}"
        return f"{how} {detail}"

    def _ended_info(self, info) -> str | None:
        """How the task of *info* (a TaskInfo) ended, from the registry's history."""
        for entry in reversed(self.registry.ended.entries()):
            known = entry[0] if isinstance(entry, tuple) else None
            if known is info or (known is None and getattr(entry, "id", None) == info.id):
                record = self.registry.ended.record(entry)
                if record.outcome == "cancelled":
                    return "was cancelled"
                return f"{record.outcome} {record.detail}"
        return "ended"

    # -- per task --

    def awaitables(self, task) -> list:
        found = self._frames.get(task)
        if found is None:
            found = self._frames[task] = _awaitables(task)
        return found

    def frames(self, task) -> list:
        return [frame for _, frame in self.awaitables(task)]

    def where(self, task) -> Site | None:
        """Where *task* waits: the innermost frame of the user's (else outside asyncio)."""
        frames = self.frames(task)
        for kinds in (("user",), ("user", "library")):
            for frame in reversed(frames):
                if _kind_of_code(frame.f_code) in kinds:
                    return _site(frame)
        return _site(frames[-1]) if frames else None

    def wait(self, task: asyncio.Task) -> Wait:
        found = self._waits.get(task)
        if found is None:
            try:
                found = self._wait(task)
            except Exception as error:  # a primitive of the user's with other insides
                found = Wait(task, "future", f"(not understood: {type(error).__name__})", end="unknown")
            self._waits[task] = found
        return found

    def _wait(self, task: asyncio.Task) -> Wait:
        if task.done():
            return Wait(task, "done", self._ended(task), end="done")
        if task is self.current:
            return Wait(task, "running", "running now", end="running")
        waiter = waited_on(task)
        where = self.where(task)
        if waiter is None:
            return Wait(task, "ready", "ready to run", where, end="ready")
        awaitables = self.awaitables(task)
        frames = [frame for _, frame in awaitables]
        timeouts = timeouts_ahead(awaitables, self.now, timeout_name="asyncio.timeout()")
        wait = self._what(task, waiter, frames, where)
        wait.where = wait.where or where
        wait.timeouts = timeouts
        return wait

    def _what(self, task, waiter, frames, where) -> Wait:
        if isinstance(waiter, asyncio.Task):
            return Wait(task, "task", self.short(waiter), targets=[waiter], role="awaits")
        children = _gathered(waiter)
        if children:
            pending = [child for child in children if not child.done()]
            return Wait(task, "tasks", f"gather() of {len(children)} ({len(pending)} pending)", targets=pending, role="awaits")
        index = _innermost_outside_asyncio(frames)
        primitive, method, lock_frame = self._primitive(frames, index)
        if primitive is not None:
            return self._primitive_wait(task, primitive, method, lock_frame, frames, index)
        api = frames[index + 1] if index + 1 < len(frames) else None
        if api is not None:
            name = api.f_code.co_name
            timer = _timer_in(api)
            if name == "sleep" and timer is not None:
                left = max(0.0, timer[1].when() - self.now)
                return Wait(task, "timer", f"sleep, {left:.1f} s left", end="timer", detail=f"a timer: it fires in {left:.1f} s")
            if name == "to_thread":
                func = api.f_locals.get("func")
                function = getattr(func, "__qualname__", None) or _short_repr(func)
                return Wait(task, "thread", f"to_thread({function})", end="thread", detail=f"a thread: it runs {function}()")
            waited = awaited_tasks(task, frames)
            if waited:
                mode = "all"
                if name == "wait" and api.f_locals.get("return_when") in (asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION):
                    mode = "any"
                return Wait(task, "tasks", f"{api.f_code.co_qualname}() of {len(waited)} tasks", targets=waited, mode=mode, role="awaits")
            server = api.f_locals.get("self") if api.f_code.co_qualname == "Server.serve_forever" else None
            if isinstance(server, asyncio.AbstractServer):
                on = ", ".join(_address(sock.getsockname()) for sock in (server.sockets or ()))
                what = f"Server.serve_forever() on {on}" if on else "Server.serve_forever()"
                return Wait(task, "io", what, end="io", detail=f"I/O: it serves connections{' on ' + on if on else ''} until the server is closed")
        endpoint = _endpoint(frames)
        if endpoint is not None:
            return Wait(task, "io", f"I/O: {endpoint}", end="io", detail=f"I/O: {endpoint}")
        if _from_executor(waiter):
            function = _executor_function(waiter)
            runs = f"it runs {function}()" if function else "an executor runs it"
            return Wait(task, "thread", f"run_in_executor({function or ''})", end="thread", detail=f"a thread: {runs}")
        timer = _timer_in(api) if api is not None else None
        if timer is not None:
            left = max(0.0, timer[1].when() - self.now)
            return Wait(task, "timer", f"{api.f_code.co_qualname}(), times out in {left:.1f} s", end="timer", detail=f"a timer: it fires in {left:.1f} s")
        what = f"{api.f_code.co_qualname}()" if api is not None else f"future {_short_repr(waiter)}"
        return Wait(task, "future", what, end="unknown", detail=f"{what}: nothing known sets its result")

    @staticmethod
    def _primitive(frames, index):
        """The primitive a task waits in: the outermost asyncio frame below
        the user's whose ``self`` is one (a Barrier waits in a Condition:
        the Barrier it is), but a Condition's lock when it is taking that."""
        found = []
        for frame in frames[index + 1 :]:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, _PRIMITIVES):
                found.append((candidate, frame.f_code.co_name, frame))
        if not found:
            return None, None, None
        primitive, method, frame = found[0]
        if isinstance(primitive, asyncio.Condition):
            inner = found[-1][0]
            if method in ("__aenter__", "acquire") or isinstance(inner, asyncio.Lock):
                return primitive, "acquire", frame
        return primitive, method, frame

    def _primitive_wait(self, task, primitive, method, frame, frames, index) -> Wait:
        kind = type(primitive).__name__
        naming = [frames[index]] if index >= 0 else []
        # Outer frames of the user's only: a library's ``self`` names nothing the user knows.
        naming += [f for f in reversed(frames[:index]) if _kind_of_code(f.f_code) == "user"]
        name = name_in_frames(primitive, naming)
        shown = f"{kind} {name}" if name else kind
        if isinstance(primitive, asyncio.Queue):
            return self._queue_wait(task, primitive, method, shown, name)
        if isinstance(primitive, asyncio.Event):
            return self._setters(task, primitive, "event", f"{shown} (not set, {waiters_count(primitive)} waiting)", name, "set it")
        if isinstance(primitive, asyncio.Barrier):
            state = "broken" if primitive.broken else f"{primitive.n_waiting} of {primitive.parties} waiting"
            return self._setters(task, primitive, "barrier", f"{shown} ({state})", name, "reach it")
        if isinstance(primitive, asyncio.Condition):
            if method == "acquire":
                return self._lock_wait(task, condition_lock(primitive), shown, name, "condition")
            return self._setters(task, primitive, "condition", f"{shown}.wait() ({waiters_count(primitive)} waiting)", name, "notify it")
        if isinstance(primitive, asyncio.Semaphore):
            return self._semaphore_wait(task, primitive, shown, name)
        return self._lock_wait(task, primitive, shown, name, "lock")

    def _lock_wait(self, task, lock, shown, name, kind) -> Wait:
        what = f"{shown} ({'locked' if lock.locked() else 'unlocked'}, {waiters_count(lock)} waiting)"
        wait = Wait(task, kind, what, primitive=lock, name=name, role="held by", mode="any")
        if not lock.locked():
            wait.end, wait.detail, wait.kind = "ready", "free: it is about to take it", kind
            return wait
        holding = _holders.lock_holder(lock)
        if holding is not None:
            held = self._held(holding)
            wait.holders = [held]
            if holding.task is not None and not holding.task.done():
                wait.targets = [holding.task]
            else:
                wait.end = "leak"
                wait.detail = f"{shown} is held by {held.label}, which {held.ended or 'is not a task'}"
            return wait
        inferred = [t for t in self.tasks if t is not task and _holders.inferred_lock_holders(lock, [a for a, _ in self.awaitables(t)])]
        if inferred:
            wait.targets = inferred[:1]
            # Not where the task waits now: where it took the lock is not known.
            wait.holders = [Held(inferred[0], self.label(inferred[0]), None, before_load=True)]
            return wait
        wait.end = "unknown"
        wait.detail = f"{shown} is held, and asyncrepl did not see who took it (before it was loaded, or outside a task)"
        return wait

    def _semaphore_wait(self, task, semaphore, shown, name) -> Wait:
        free = semaphore_value(semaphore)
        bound = semaphore_bound(semaphore)
        counts = f"{free} of {bound} free" if bound is not None else f"{free} free"
        wait = Wait(task, "semaphore", f"{shown} ({counts}, {waiters_count(semaphore)} waiting)", primitive=semaphore, name=name, role="permits held by", mode="any")
        if free > 0:
            wait.end, wait.detail = "ready", "a permit is free: it is about to take it"
            return wait
        holdings = _holders.semaphore_holders(semaphore)
        wait.holders = [self._held(holding) for holding in holdings]
        wait.targets = [h.task for h in holdings if h.task is not None and not h.task.done()]
        leaked = [held for held in wait.holders if held.ended is not None]
        if not wait.targets:
            if leaked:
                wait.end = "leak"
                permits = f"{len(leaked)} permit{'s' if len(leaked) > 1 else ''}"
                wait.detail = f"{permits} of {shown} held by tasks that have ended without releasing them"
            else:
                wait.end = "unknown"
                wait.detail = f"no permit of {shown} is free, and asyncrepl did not see who took them (before it was loaded, or outside a task)"
        return wait

    def _held(self, holding) -> Held:
        task = holding.task
        label = self.label(task) if task is not None else "code outside a task"
        frame, caller = holding.frame, holding.caller
        taken_at = _site(frame, holding.lasti)
        called_from = None
        if caller is not None and _kind_of_code(caller.f_code) == "user" and (frame is None or caller.f_code is not frame.f_code):
            called_from = _site(caller, holding.caller_lasti)
        held = Held(task, label, taken_at, called_from)
        if task is not None and task.done():
            held.ended = self._ended(task)
            # Where the function that took it ended (a finished frame keeps its last line).
            leaving = caller if called_from is not None else frame
            if leaving is not None:
                held.left_at = _site(leaving)
        return held

    def _queue_wait(self, task, queue, method, shown, name) -> Wait:
        of = queue_fill(queue)
        producers, consumers = _holders.queue_partners(queue)
        if method == "join":
            what = f"{shown}.join() ({unfinished(queue)} unfinished)"
            side, role, needed = consumers, "drained by", "consumers"
        elif method == "put":
            if not queue.full():
                return Wait(task, "queue", f"{shown}.put() (room now: {of})", primitive=queue, name=name, end="ready", detail="there is room: it is about to put")
            what = f"{shown}.put() (full, {of})"
            side, role, needed = consumers, "drained by", "consumers"
        else:
            if not queue.empty():
                return Wait(task, "queue", f"{shown}.get() ({of})", primitive=queue, name=name, end="ready", detail="an item is there: it is about to take it")
            what = f"{shown}.get() (empty, {of})"
            side, role, needed = producers, "fed by", "producers"
        wait = Wait(task, "queue", what, primitive=queue, name=name, role=role, mode="any")
        for partner in side:
            other = partner.task()
            label = self.label(other) if other is not None else f"task {partner.info.id}" if partner.info is not None else "a task"
            if other is not None and other.done():
                wait.partners.append(Partner(other, label, self._ended(other)))
            elif other is None:
                wait.partners.append(Partner(None, label, self._ended_info(partner.info) if partner.info is not None else "ended"))
            elif other is not task:
                wait.partners.append(Partner(other, label))
        live = [p.task for p in wait.partners if p.ended is None]
        if live:
            wait.targets = live
            return wait
        dead = [p for p in wait.partners if p.ended is not None]
        if dead:
            wait.end = "dead partner"
            wait.detail = f"{shown} is {'full' if method != 'get' else 'empty'} and its {needed} have ended"
            return wait
        referring = self._referring(task, queue, method)
        if referring:
            wait.targets, wait.role = referring, f"could be {role.split()[0]} by"
            return wait
        if referring is None:
            wait.end, wait.detail = "unknown", f"no {needed[:-1]} of {shown} seen"
            return wait
        wait.end = "dead partner"
        wait.detail = f"no live task seen as {needed[:-1]} of {shown} (none took from it or put in it, none refers to it; a guess)"
        return wait

    def _setters(self, task, primitive, kind, what, name, verb) -> Wait:
        wait = Wait(task, kind, what, primitive=primitive, name=name, role=f"could {verb}", mode="any")
        if isinstance(primitive, asyncio.Event) and primitive.is_set():
            wait.end, wait.detail = "ready", "set: it is about to go on"
            return wait
        referring = self._referring(task, primitive, None)
        if referring:
            wait.targets = referring
            return wait
        if referring is None:
            wait.end, wait.detail = "unknown", f"nothing known to {verb}"
            return wait
        wait.end = "dead partner"
        wait.detail = (
            f"no live task refers to {what.split(' (')[0]} in its variables, so none seems set up to "
            f"{verb} (fairly sure; a callback, a thread or code outside a task still could)"
        )
        return wait

    def _referring(self, task, primitive, method) -> list | None:
        """Pending tasks (other than *task*, and than those waiting on
        *primitive* the same way) whose frames refer to *primitive* (None:
        not looked for)."""
        if not self.scan_references:
            return None
        found = []
        for other in self.tasks:
            if other is task or other is self.current or other.done():
                continue
            frames = self.frames(other)
            if not frames:
                continue
            waiting = self._waits_same(other, primitive, method)
            if waiting:
                continue
            if _refers_to(frames, primitive):
                found.append(other)
        return found

    def _waits_same(self, other, primitive, method) -> bool:
        """Whether *other* is itself waiting on *primitive* (by *method*, for a queue)."""
        if waited_on(other) is None:
            return False
        frames = self.frames(other)
        index = _innermost_outside_asyncio(frames)
        found, found_method, _ = self._primitive(frames, index)
        return found is primitive and (method is None or found_method == method or (method == "put" and found_method == "join"))

    # -- the graph --

    def waits(self) -> dict:
        return {task: self.wait(task) for task in self.tasks}

    def stuck(self) -> set:
        """The tasks that nothing will move on, as far as can be told: a
        fixpoint over the graph (a task waiting for *all* of its targets is
        stuck when one of them is; for *any* of them, when every one is)."""
        if self._stuck is not None:
            return self._stuck
        waits = self.waits()
        stuck = {task for task, wait in waits.items() if wait.end in DEAD_ENDS or (wait.targets and wait.end is None)}
        changed = True
        while changed:
            changed = False
            for task in list(stuck):
                wait = waits[task]
                if wait.end in DEAD_ENDS:
                    continue
                inside = [target in stuck for target in wait.targets]
                keep = any(inside) if wait.mode == "all" else all(inside)
                if not keep:
                    stuck.discard(task)
                    changed = True
        self._stuck = stuck
        return stuck

    def cycles(self) -> list[list]:
        """The wait-for cycles among stuck tasks (strongly connected parts of
        two tasks or more, or a task waiting on itself), each as the tasks in
        the order they wait on each other."""
        if self._cycles is not None:
            return self._cycles
        stuck = self.stuck()
        edges = {task: [t for t in self.wait(task).targets if t in stuck] for task in stuck}
        cycles = []
        for component in _components(edges):
            if len(component) > 1 or component[0] in edges[component[0]]:
                cycles.append(_cycle_through(component, edges))
        self._cycles = cycles
        return cycles

    def cycle_of(self, task) -> list | None:
        for cycle in self.cycles():
            if task in cycle:
                return cycle
        return None

    # -- chains --

    def chain(self, task: asyncio.Task) -> Chain:
        stuck = self.stuck() if task in self._waits or task in self.tasks else set()
        steps: list[Wait] = []
        seen: dict = {}
        current = task
        cause = None
        while True:
            if current in seen:
                cycle = [step.task for step in steps[seen[current] :]]
                cause = self._cycle_cause(cycle)
                break
            seen[current] = len(steps)
            wait = self.wait(current)
            steps.append(wait)
            cycle = self.cycle_of(current)
            if cycle is not None and task not in cycle:
                # Behind a deadlock: show it from the task where the chain enters it.
                rotated = cycle[cycle.index(current) :] + cycle[: cycle.index(current)]
                for other in rotated[1:]:
                    steps.append(self.wait(other))
                cause = self._cycle_cause(rotated)
                break
            if not wait.targets:
                cause = self._end_cause(wait)
                break
            nxt = _choose(wait, stuck, self.cycles())
            if nxt is None:
                cause = Cause("unknown", "its wait can end: " + ", ".join(self.short(t) for t in wait.targets[:5]) + " can still move on")
                break
            current = nxt
        chain = Chain(task, self.label(task), steps, cause)
        if not task.done() and task.cancelling():
            chain.cancelling = self._cancelling(task)
            if cause.kind not in ("cycle", "leak", "dead partner"):
                chain.cause = Cause("cancelling", "a cancellation in progress", key=("cancelling", id(task)))
        return chain

    def _end_cause(self, wait: Wait) -> Cause:
        end = wait.end or "unknown"
        if end in DEAD_ENDS:
            details = []
            for held in wait.holders:
                if held.ended is None:
                    continue
                line = [f"{held.label} {held.ended}", ("took it at", held.taken_at)]
                if held.called_from is not None:
                    line.append(("called from", held.called_from))
                if held.left_at is not None:
                    line.append(("and ended at", held.left_at))
                details.append(line)
            ended = [partner for partner in wait.partners if partner.ended is not None]
            for partner in ended[:8]:
                details.append([f"{partner.label} {partner.ended}"])
            if len(ended) > 8:
                details.append([f"and {len(ended) - 8} more"])
            return Cause(end, wait.detail, details, key=(end, id(wait.primitive)))
        if end in ("done", "running", "ready"):
            return Cause(end if end != "done" else "ready", wait.detail or wait.what, key=(end,))
        return Cause(end, wait.detail or wait.what, key=(end,))

    def _cycle_cause(self, cycle: list) -> Cause:
        ids = ", ".join(str(self.registry.info(t).id) for t in cycle)
        details = self.describe_cycle(cycle)
        return Cause("cycle", f"tasks {ids} wait on each other", details, list(cycle), key=("cycle", frozenset(map(id, cycle))))

    def describe_cycle(self, cycle: list) -> list:
        """For each task of *cycle*: what it holds (what the task before it
        waits on), where it took it, and what it waits for, where, and who
        holds that: a list of parts per task, each a string or a (words,
        Site) pair for the renderer to name the place."""
        lines = []
        for index, task in enumerate(cycle):
            before = self.wait(cycle[index - 1])
            wait = self.wait(task)
            after = cycle[(index + 1) % len(cycle)]
            parts: list = [self.short(task)]
            held = next((h for h in before.holders if h.task is task), None)
            if held is not None:
                parts += [f"holds {_thing(before)}{held.taken}", ("taken at", held.taken_at)]
            elif before.kind in ("task", "tasks"):
                parts.append(f"is awaited by {self.short(cycle[index - 1])}")
            else:
                parts.append(f"is the one to {_duty(before)} {_thing(before)}")
            parts += [f"and waits for {_thing(wait)}", ("at", wait.where)]
            if wait.kind in ("task", "tasks"):
                parts[-2] = f"and awaits {self.short(after)}"
            elif wait.role in ("held by", "permits held by"):
                parts.append(f"held by {self.short(after)}")
            else:
                parts.append(f"which {self.short(after)} is to {_duty(wait)}")
            lines.append(parts)
        return lines

    def _cancelling(self, task) -> Cancelling:
        info = self.registry.info(task)
        still = why_still_running(self.registry, task)
        whose = None if still.task is task else self.label(still.task)
        return Cancelling(info.cancelled_by or "someone", info.cancelled_at, still.how, whose, still.where)

    # -- everything --

    def stuck_chains(self, tasks=None) -> list[Chain]:
        """The chain of every stuck task of the user's (not waiting on I/O, a
        timer, a thread; not running), cycles first, then leaks and dead
        partners, then cancellations, then the rest."""
        chains = []
        for task in self.tasks if tasks is None else tasks:
            if task is self.current or self.registry.is_own(task):
                continue
            chain = self.chain(task)
            if chain.stuck:
                chains.append(chain)
        order = {"cycle": 0, "leak": 1, "dead partner": 2, "cancelling": 3}
        chains.sort(key=lambda chain: order.get(chain.cause.kind, 4))
        return chains




def _thing(wait: Wait) -> str:
    """A primitive as a deadlock line names it: ``lock locks['alice']``, or its description."""
    if wait.name:
        word = {"condition": "lock", "queue": "queue", "semaphore": "semaphore", "event": "event", "barrier": "barrier"}.get(wait.kind, "lock")
        if wait.kind == "queue":
            return f"queue {wait.name} ({'empty' if 'empty' in wait.what else 'full'})"
        return f"{word} {wait.name}"
    return wait.what.split(" (")[0]


def _duty(wait: Wait) -> str:
    """What the task after a waiting one in a cycle must do for it."""
    return {"event": "set", "condition": "notify", "barrier": "reach", "queue": "drain" if "full" in wait.what or "join" in wait.what else "feed"}.get(
        wait.kind, "release"
    )


def _choose(wait: Wait, stuck: set, cycles: list):
    """The target a chain goes on to: one in a cycle, else a stuck one;
    for a wait any target can end, None if one of them can still move."""
    in_cycle = [t for t in wait.targets if any(t in cycle for cycle in cycles)]
    if in_cycle:
        return in_cycle[0]
    stuck_targets = [t for t in wait.targets if t in stuck]
    if wait.mode == "any" and len(stuck_targets) < len(wait.targets):
        return next(t for t in wait.targets if t not in stuck)  # the one that can move on
    return stuck_targets[0] if stuck_targets else wait.targets[0]


def _components(edges: dict) -> list[list]:
    """Strongly connected components (Tarjan's, iterative)."""
    index_of: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    components = []
    counter = 0
    for root in edges:
        if root in index_of:
            continue
        work = [(root, iter(edges[root]))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index_of[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member is node:
                        break
                components.append(component)
    return components


def _cycle_through(component: list, edges: dict) -> list:
    """One cycle through a strongly connected *component*, from its member
    the registry made first, following edges that stay inside it."""
    members = set(component)
    start = component[-1]
    path, seen = [start], {start: 0}
    node = start
    while True:
        nxt = next((t for t in edges[node] if t in members), None)
        if nxt is None:
            return path
        if nxt in seen:
            return path[seen[nxt] :]
        seen[nxt] = len(path)
        path.append(nxt)
        node = nxt


# -- I/O and threads ----------------------------------------------------------------------------


def _endpoint(frames) -> str | None:
    """The socket or pipe a task waits on, read from its frames' variables
    (a transport, a socket, a stream or protocol holding one), innermost
    first; with the peer's address where known."""
    for frame in reversed(frames):
        for value in list(frame.f_locals.values()):
            found = _endpoint_of(value, 2)
            if found is not None:
                return found
    return None


def _is_transport(value) -> bool:
    # uvloop's transports are not asyncio.BaseTransport subclasses: they are known by their method.
    return isinstance(value, asyncio.BaseTransport) or callable(getattr(type(value), "get_extra_info", None))


def _endpoint_of(value, depth: int) -> str | None:
    if _is_transport(value):
        try:
            peer = value.get_extra_info("peername")
            sock = value.get_extra_info("socket")
        except Exception:
            peer = sock = None
        if peer is not None:
            return f"socket to {_address(peer)}"
        if sock is not None:
            return f"socket {_address(sock.getsockname())}"
        return f"pipe ({type(value).__name__})"
    if isinstance(value, socket.socket):
        try:
            return f"socket to {_address(value.getpeername())}"
        except OSError:
            return "socket"
    if depth <= 0:
        return None
    for name in ("transport", "_transport", "_protocol", "protocol", "_stream", "stream", "_sock", "_reader", "_writer"):
        inner = _attributes(value).get(name)
        if inner is not None:
            found = _endpoint_of(inner, depth - 1)
            if found is not None:
                return found
    return None


def _address(address) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _from_executor(future) -> bool:
    """Whether *future* is run_in_executor's: asyncio chains it to a
    concurrent.futures.Future (its done callbacks name _chain_future's)."""
    for callback in callbacks_of(future):
        function = callback[0] if isinstance(callback, tuple) else callback
        if getattr(function, "__qualname__", "").startswith("_chain_future"):
            return True
    return False


def _executor_function(future) -> str | None:
    """The function a thread of a ThreadPoolExecutor runs for *future*
    (run_in_executor's): found on that thread's stack, in the work item it
    runs (PRIVATE: concurrent.futures.thread._WorkItem's future and fn,
    3.11-3.15); None if it has not started or is not a thread's."""
    try:
        return _running_function(future)
    except Exception:  # another executor's insides
        return None


def _running_function(future) -> str | None:
    import concurrent.futures
    import functools

    source = None
    for callback in callbacks_of(future):
        function = callback[0] if isinstance(callback, tuple) else callback
        for cell in getattr(function, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:
                continue
            if isinstance(content, concurrent.futures.Future):
                source = content
    if source is None:
        return None
    work_item = getattr(getattr(concurrent.futures, "thread", None), "_WorkItem", None)
    for frame in sys._current_frames().values():
        while frame is not None:
            item = frame.f_locals.get("self") if frame.f_code.co_name == "run" else None
            if work_item is not None and isinstance(item, work_item) and getattr(item, "future", None) is source:
                # 3.11-3.13: item.fn; 3.14+: item.task, (fn, args, kwargs) for a thread.
                function = getattr(item, "fn", None) or (getattr(item, "task", None) or (None,))[0]
                while isinstance(function, functools.partial):  # to_thread's ctx.run partial
                    args = function.args
                    function = args[0] if function.func.__name__ == "run" and args else function.func
                return getattr(function, "__qualname__", None) or _short_repr(function)
            frame = frame.f_back
    return None


def analyse(registry: TaskRegistry, include_own: bool = True, scan_references: bool = True) -> Analysis:
    """The wait-for analysis of *registry*'s loop, now."""
    return Analysis(registry, include_own=include_own, scan_references=scan_references)


def wait_for_note(analysis: Analysis, task: asyncio.Task, steps: int = 32) -> str:
    """Who can end *task*'s wait on a primitive, in a few words, for
    ``%tasks``' "waits on" column: ``held by task 6``, ``held by task 5,
    ended (leak)``, ``consumers ended (dead partner)``, ``deadlock with
    tasks 6, 7``.  Follows the chain from *task* only (at most *steps*
    links): the cost is that of the tasks on the way, not of all tasks."""
    wait = analysis.wait(task)
    if wait.kind in ("task", "tasks", "timer", "io", "thread", "future", "running", "ready", "done"):
        return ""
    ident = analysis.registry.info
    if wait.end == "leak":
        ended = [h for h in wait.holders if h.ended is not None]
        ids = ", ".join(str(ident(h.task).id) for h in ended[:3] if h.task is not None)
        return f"held by ended task{'s' if len(ended) > 1 else ''} {ids} (leak)"
    if wait.end == "dead partner":
        if wait.partners:
            return f"{'consumers' if wait.role == 'drained by' else 'producers'} ended (dead partner)"
        return "nobody to end it (dead partner)"
    if not wait.targets:
        return ""
    # A deadlock: the chain comes back to the task.
    path, current = [task], wait.targets[0]
    for _ in range(steps):
        if current is task:
            return "deadlock with task" + ("s " if len(path) > 2 else " ") + ", ".join(str(ident(t).id) for t in path[1:])
        if current in path or current.done():
            break
        path.append(current)
        nxt = analysis.wait(current)
        if not nxt.targets:
            break
        current = nxt.targets[0]
    ids = ", ".join(str(ident(t).id) for t in wait.targets[:3]) + (f", +{len(wait.targets) - 3}" if len(wait.targets) > 3 else "")
    return f"{wait.role} task{'s' if len(wait.targets) > 1 else ''} {ids}"


# -- words ---------------------------------------------------------------------------------------

Place = Callable[..., str]  # Views.place: (Site, with_source=True) -> "In [3] line 4: source"


def render_parts(parts: list, place: Place) -> str:
    """One line of *parts* (strings, and (words, Site) pairs named by *place*)."""
    out = []
    for index, part in enumerate(parts):
        if isinstance(part, tuple):
            words, site = part
            if site is None:
                continue
            text = f"{words} {place(site, with_source=False)}"
            out.append(f"({text})" if words.endswith("taken at") else text)
        elif index == len(parts) - 1 and index > 2 and not part.startswith("and "):
            out[-1] += ","
            out.append(part)
        else:
            out.append(part)
    return " ".join(out)


def deadlock_line(analysis: Analysis, cycle: list, place: Place) -> str:
    """The deadlock report's line: ``task 21 holds lock a (taken at In [3]
    line 4) and waits for lock b at In [3] line 5, held by task 22; task
    22 ...``."""
    return "; ".join(render_parts(parts, place) for parts in analysis.describe_cycle(cycle))


def _step_line(analysis: Analysis, wait: Wait, place: Place) -> str:
    text = wait.what
    if wait.holders and wait.kind in ("lock", "condition", "semaphore"):
        live = [h for h in wait.holders if h.ended is None]
        shown = []
        for held in live[:5]:
            taken = f" (taken at {place(held.taken_at, with_source=False)})" if held.taken_at is not None else held.taken
            shown.append(f"{analysis.short(held.task) if held.task is not None else held.label}{taken}")
        if shown:
            text += ", held by " + ", ".join(shown) + (f", +{len(live) - 5}" if len(live) > 5 else "")
    elif wait.targets and wait.kind not in ("task",):
        ids = ", ".join(str(analysis.registry.info(t).id) for t in wait.targets[:5])
        more = f", +{len(wait.targets) - 5}" if len(wait.targets) > 5 else ""
        text += f", {wait.role} task{'s' if len(wait.targets) > 1 else ''} {ids}{more}"
    if wait.timeouts:
        text += "; " + ", ".join(wait.timeouts)
    return text


def render_cause(analysis: Analysis, cause: Cause, place: Place, indent: str = "  ") -> list[str]:
    lines = []
    for parts in cause.details:
        if cause.kind == "cycle":
            lines.append(indent + render_parts(parts, place))
        else:
            lines.append(indent + render_parts(parts[:1], place))
            for words, site in parts[1:]:
                if site is not None:
                    lines.append(f"{indent}  {words} {place(site)}")
    return lines


def render_cancelling(analysis: Analysis, cancelling: Cancelling, place: Place) -> str:
    text = f"cancelled by {cancelling.who}"
    if cancelling.asked_at is not None:
        text += f" at {place(cancelling.asked_at, with_source=False)}"
    whose = "it" if cancelling.by is None else cancelling.by
    if cancelling.how == "caught" and cancelling.where is not None:
        text += f"; {whose} caught CancelledError at {place(cancelling.where)} and went on"
    elif cancelling.how == "handling" and cancelling.where is not None:
        text += f"; {whose} is still unwinding, in an except or finally block at {place(cancelling.where)}"
    else:
        text += "; it has not ended yet (it waits for what it awaits to end)"
    return text


def render_chain(analysis: Analysis, chain: Chain, place: Place) -> list[str]:
    """``%why ID``: the chain, one line per link, then the root cause."""
    cause = chain.cause
    verdict = "is stuck" if chain.stuck else "is not stuck"
    heading = _HEADINGS.get(cause.kind)
    lines = [f"task {chain.label} {verdict}: {heading + ': ' if heading else ''}{cause.summary}"]
    for index, wait in enumerate(chain.steps):
        who = analysis.short(wait.task)
        arrow = "  " if index == 0 else "  -> "
        where = f" at {place(wait.where)}" if wait.where is not None and wait.kind not in ("running", "ready", "done") else ""
        lines.append(f"{arrow}{who} waits{where}" if where else f"{arrow}{who}: {wait.what}")
        if where:
            lines.append(f"{' ' * len(arrow)}   on {_step_line(analysis, wait, place)}")
    if chain.cancelling is not None:
        lines.append("  " + render_cancelling(analysis, chain.cancelling, place))
    if cause.details:
        lines.append(f"  {_HEADINGS.get(cause.kind, cause.kind)}:")
        lines += render_cause(analysis, cause, place, "    ")
    return lines


_HEADINGS = {
    "cycle": "deadlock",
    "leak": "leak",
    "dead partner": "dead partner",
    "cancelling": "cancellation in progress",
}


def group(chains: list[Chain]) -> list[tuple[Cause, list[Chain]]]:
    """Chains grouped by their root cause, in the order given (cycles first...)."""
    groups: dict = {}
    for chain in chains:
        key = chain.cause.key if chain.cause.key is not None else ("other", id(chain))
        if chain.cause.kind not in _HEADINGS:
            key = ("rest",)
        groups.setdefault(key, (chain.cause, []))[1].append(chain)
    return list(groups.values())


def render_all(analysis: Analysis, chains: list[Chain], place: Place) -> list[str]:
    """``%why``: every stuck task, grouped by root cause."""
    if not chains:
        waiting = sum(1 for t in analysis.tasks if not analysis.registry.is_own(t) and t is not analysis.current)
        verb = "waits" if waiting == 1 else "wait"
        return [f"no stuck task: {waiting} pending task{'s' if waiting != 1 else ''} {verb} on timers, I/O or threads, or can move on"]
    lines = []
    for cause, members in group(chains):
        ids = [analysis.registry.info(chain.task).id for chain in members]
        if cause.kind in _HEADINGS:
            if cause.kind == "cancelling":
                for chain in members:
                    lines.append(f"cancellation in progress: task {chain.label}")
                    lines.append("  " + render_cancelling(analysis, chain.cancelling, place))
                continue
            lines.append(f"{_HEADINGS[cause.kind]}: {cause.summary}")
            lines += render_cause(analysis, cause, place)
            in_cause = {id(t) for t in cause.tasks}
            behind = [chain for chain in members if id(chain.task) not in in_cause]
            if cause.kind != "cycle":
                wait = members[0].steps[-1]
                lines.append(f"  waiting on it: tasks {_id_list(ids)}" + (f" (at {place(wait.where)})" if wait.where else ""))
            elif behind:
                lines.append(f"  waiting behind it: tasks {_id_list([analysis.registry.info(c.task).id for c in behind])}")
        else:
            lines.append(f"waiting, not known to be stuck for good: tasks {_id_list(ids)}")
            for chain in members[:10]:
                last = chain.steps[-1]
                lines.append(f"  {analysis.short(chain.task)}: {_step_line(analysis, chain.steps[0], place)}"
                             + (f"; {analysis.short(last.task)}: {cause.summary}" if len(chain.steps) > 1 else f"; {cause.summary}"))
    lines.append("%why ID shows one task's chain")
    return lines


def _id_list(ids: list) -> str:
    more = f", +{len(ids) - 10}" if len(ids) > 10 else ""
    return ", ".join(map(str, ids[:10])) + more
