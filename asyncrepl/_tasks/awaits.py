"""Await chains: where a task waits, on what, and who awaits whom.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .._frames import in_asyncrepl
from .._holders import WRAPPER_CODES
from .code import _classify_file, _is_users
from .naming import _locals_repr, _short_repr
from .._asyncio_private import (
    condition_lock, coro_of, gathered_children, group_tasks, semaphore_bound, semaphore_value, unfinished, waited_on, waiters_count,
)


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
        found.extend(group_tasks(local["self"]))
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
    # Closed, so that it is not finalized: this module is imported at first
    # use, often while the loop runs, whose async generator hooks (which
    # asend() installed on it) would finalize it with a task of aclose() on
    # 3.11 and 3.12, listed among the user's finished tasks.
    closing = generator.aclose()
    try:
        closing.send(None)
    except StopIteration:
        pass
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
    awaitable = coro_of(task)
    awaitable = getattr(awaitable, "asyncrepl_drives", None) or awaitable  # a %%timeline task's timed coroutine
    while awaitable is not None:
        frame = _frame_of(awaitable)
        if frame is None:
            break
        pairs.append((awaitable, frame))
        awaitable = _next_awaitable(awaitable)
    return pairs


def _frames_of(task: asyncio.Task) -> list:
    """The task's coroutine frames, outermost first, as the user is shown them:
    without the frames of the lock and semaphore wrappers that record owners
    while asyncrepl runs (each stands in for the asyncio method below it)."""
    return [frame for _, frame in _awaitables(task) if frame.f_code not in WRAPPER_CODES]


def await_chain(task: asyncio.Task) -> list[Link]:
    """Every coroutine frame from the task's coroutine down to where it waits now."""
    return _links(_frames_of(task))


def users_coroutine(task: asyncio.Task):
    """The outermost coroutine of a function of the user's that *task* awaits
    (``deaf()`` in a ``%%timeout`` cell's ``await deaf()``: not the cell's
    own ``<module>`` code), if any."""
    for awaitable, frame in _awaitables(task):
        code = frame.f_code
        if asyncio.iscoroutine(awaitable) and code.co_name != "<module>" and _is_users(code.co_filename):
            return awaitable
    return None


def shown_chain(task: asyncio.Task) -> list[Link]:
    """The await chain as ``%tasks ID`` shows it: from the user's code down,
    without asyncrepl's frames that run a cell's code around it (a
    ``%%timeout`` cell's ``run_with_value()``, a let-go statement's
    ``cell()``), as a traceback leaves them out."""
    chain = await_chain(task)
    start = 0
    while start < len(chain) - 1 and in_asyncrepl(chain[start].filename):
        start += 1
    return chain[start:]


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
    return "waiting" if waited_on(task) is not None else "ready"


def _gathered(future) -> list:
    children = gathered_children(future)
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
    return any(task in _gathered(waited_on(other)) for other in asyncio.all_tasks(loop) if waited_on(other) is not None)


def _in_asyncio(frame) -> bool:
    return _classify_file(frame.f_code.co_filename) == "asyncio"


def awaited_tasks(task: asyncio.Task, frames=None) -> list[asyncio.Task]:
    """The tasks *task* waits for, read from what it awaits: one task, a
    gather's, a wait()'s, a wait_for()'s (3.11), or a TaskGroup's children.
    *frames*: its _frames_of, if known."""
    waiter = waited_on(task)
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
    10 items``..., and when a timeout around it fires.  *awaitables*: its
    _awaitables, if known (so that %tasks walks each await chain once)."""
    waiter = waited_on(task)
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
    parts.extend(timeouts_ahead(awaitables, loop_time))
    return ", ".join(parts)


def timeouts_ahead(awaitables, now: float, timeout_name: str = "timeout()") -> list[str]:
    """The deadlines that will end the wait early, in words, for each
    (awaitable, frame) of a task's chain: a ``wait_for()`` or a ``timeout()``
    block around where it waits."""
    ahead = []
    for awaitable, frame in awaitables:
        for timeout in _timeouts_in(awaitable):
            when = timeout.when()
            if when is not None:
                wait_for = frame.f_code.co_name == "wait_for" and _in_asyncio(frame)
                what = "wait_for() times out" if wait_for else f"{timeout_name} expires"
                ahead.append(f"{what} in {max(0.0, when - now):.1f} s")
    return ahead


def _innermost_outside_asyncio(frames) -> int:
    """The index of the innermost frame outside asyncio (-1 if all are asyncio's)."""
    for index in range(len(frames) - 1, -1, -1):
        if not _in_asyncio(frames[index]):
            return index
    return -1


_PRIMITIVES = (asyncio.Lock, asyncio.Semaphore, asyncio.Event, asyncio.Condition, asyncio.Queue, asyncio.Barrier)


def queue_fill(queue: asyncio.Queue) -> str:
    """How full *queue* is, in words: ``2 of 10 items``, ``0 items, unbounded``."""
    size, most = queue.qsize(), queue.maxsize
    items = "item" if (most if most > 0 else size) == 1 else "items"
    return f"{size} of {most} {items}" if most > 0 else f"{size} {items}, unbounded"


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
                return f"{kind}.join(){on}: {unfinished(primitive)} unfinished"
            of = queue_fill(primitive)
            state = "full" if primitive.full() else "empty" if primitive.empty() else "neither empty nor full"
            return f"{kind}.{'put' if method == 'put' else 'get'}(){on}: {state}, {of}"
        if isinstance(primitive, asyncio.Event):
            return f"{kind}.wait(){on}: {'set' if primitive.is_set() else 'not set'}, {waiters_count(primitive)} waiting"
        if isinstance(primitive, asyncio.Barrier):
            state = "broken" if primitive.broken else f"{primitive.n_waiting} of {primitive.parties} waiting"
            return f"{kind}.wait(){on}: {state}"
        if isinstance(primitive, asyncio.Condition) and method in ("wait", "wait_for"):
            return f"{kind}.{method}(){on}: {waiters_count(primitive)} waiting"
        if isinstance(primitive, asyncio.Semaphore):
            free = semaphore_value(primitive)
            bound = semaphore_bound(primitive)
            counts = f"{free} of {bound} free" if bound is not None else f"{free} free"
            return f"{kind}{named} ({counts}, {waiters_count(primitive)} waiting)"
        # A Lock, or a Condition's lock (async with condition).
        lock = primitive if isinstance(primitive, asyncio.Lock) else condition_lock(primitive)
        state = "locked" if lock.locked() else "unlocked"
        return f"{kind}{named} ({state}, {waiters_count(lock)} waiting)"
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


def chain_locals(task: asyncio.Task) -> list[tuple[Link, list[tuple[str, str]]]]:
    """Each frame of the task's await chain, outermost first, with its local
    variables as bounded reprs: what the suspended task holds."""
    chain = []
    for frame in _frames_of(task):
        (link,) = _links([frame])
        variables = [(name, _locals_repr.repr(value)) for name, value in dict(frame.f_locals).items()]
        chain.append((link, variables))
    return chain
