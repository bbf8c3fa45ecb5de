"""Who holds asyncio's locks and semaphore permits, and which tasks feed and
drain its queues: asyncio records none of it.

While at least one asyncrepl session runs (:func:`install` ... the undo it
returns), a few methods of asyncio's own classes are wrapped:

* ``Lock.acquire`` / ``Lock.release``: the task that holds a lock, the frame
  that took it and where (:func:`lock_holder`);
* ``Semaphore.acquire`` / ``Semaphore.release`` (``BoundedSemaphore``
  inherits both): one record per permit taken and not given back
  (:func:`semaphore_holders`);
* ``Queue.get_nowait`` / ``Queue.put_nowait`` (which ``get()`` and ``put()``
  end in; ``PriorityQueue`` and ``LifoQueue`` inherit them): the last few
  tasks that took items from a queue and put items in it (:func:`queue_partners`);
* ``_LoopBoundMixin._get_loop``, which every primitive calls only when a task
  is about to wait on it: who wants to know that a task started waiting
  (:func:`on_contention`: the deadlock watch) is told then, and only then.

Why wrappers rather than inference alone: a suspended ``async with lock:``
block does keep the lock's bound ``__aexit__`` on its frame's value stack
(:func:`inferred_lock_holders` reads it there, for locks taken before
asyncrepl was loaded), but a lock taken with ``await lock.acquire()``, a
permit taken in one function and given back in another (a connection pool),
and above all a lock or permit whose task has *ended* without giving it back
(a leak) leave no trace anywhere.  The wrappers cost one more coroutine frame
per acquire, a frame read and an attribute store: nothing at all while no
session runs (asyncio's own functions are put back), nothing for code that
uses no lock, semaphore or queue, and nothing on the fast paths for the
contention hook.

The wrappers are compiled as if they were asyncio's own code (their
``co_filename`` is asyncio's ``locks.py``, ``queues.py`` or ``mixins.py``,
at the line of the method they wrap): every frame walker in asyncrepl (and a
traceback's reader) takes them for the asyncio frames they stand in for, so
``%tasks`` still says a task waits at the user's ``async with lock:`` line.

PRIVATE (CPython 3.11.7, 3.12.1, 3.13.0, 3.14.x, 3.15.x): the method names
above; ``Queue.get()``/``put()`` ending in ``get_nowait()``/``put_nowait()``;
``Condition`` binding its lock's ``acquire``/``release`` at creation (a
Condition made while a session runs keeps calling the wrappers after it
stops: they then only pass the call on).  A Lock, Semaphore and Queue
instance has a ``__dict__`` (no ``__slots__`` in asyncio), where the records live.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import sys
import weakref
from asyncio import locks, mixins, queues
from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "Holding",
    "Partner",
    "inferred_lock_holders",
    "install",
    "is_tracking",
    "lock_holder",
    "on_contention",
    "queue_partners",
    "semaphore_holders",
]

_LOCKS_FILE = locks.__file__
_getframe = sys._getframe
_current_task = asyncio.current_task

#: Partners remembered per queue and side (the most recent ones).
PARTNERS_KEPT = 16


class Holding(NamedTuple):
    """A lock or permit taken and not given back: by *task* (None outside a
    task), in *frame* (the innermost frame outside asyncio) at its
    instruction *lasti*, called from *caller* at *caller_lasti*.  The frames
    are kept: once the task has ended they still say where it left (their
    last line) and what they held (their locals)."""

    task: asyncio.Task | None
    frame: object
    lasti: int
    caller: object
    caller_lasti: int
    generation: int


class Partner(NamedTuple):
    """A task that took items from a queue or put items in it: a weak
    reference (the queue does not keep it alive) and the registry's record of
    it (``TaskInfo``, with its id), which outlives it."""

    task: weakref.ref
    info: object


# -- the state: one per process, shared by every session ---------------------------------

_installs = 0  # sessions running
_tracking = False  # read by the wrappers at every call
_generation = 0  # records made before the last install are stale (releases went unseen)
_originals: dict[tuple[type, str], object] = {}
_contention: dict[asyncio.AbstractEventLoop, Callable[[object], None]] = {}


def is_tracking() -> bool:
    """Whether the wrappers are in place and recording."""
    return _tracking


def install() -> Callable[[], None]:
    """Wrap asyncio's methods (the first session does it); returns what undoes
    it (the last session's undo puts asyncio's own functions back)."""
    global _installs, _tracking, _generation
    if _installs == 0:
        _generation += 1
        for (owner, name), wrapper in _WRAPPERS.items():
            current = owner.__dict__[name]
            _originals[(owner, name)] = current
            _bind_original(wrapper, current)
            setattr(owner, name, wrapper)
        _tracking = True
    _installs += 1
    done = False

    def undo() -> None:
        nonlocal done
        global _installs, _tracking
        if done:
            return
        done = True
        _installs -= 1
        if _installs == 0:
            _tracking = False
            for (owner, name), original in _originals.items():
                if owner.__dict__.get(name) is _WRAPPERS[(owner, name)]:
                    setattr(owner, name, original)
            _originals.clear()

    return undo


def on_contention(loop: asyncio.AbstractEventLoop, listener: Callable[[object], None]) -> Callable[[], None]:
    """Call ``listener(primitive)`` each time a task on *loop* is about to wait
    on a Lock, Semaphore, Event, Condition, Queue or Barrier (asyncio asks
    for the loop only then); returns what stops it.  The listener runs inside
    the waiting task's step: it must be quick, and never raise."""
    _contention[loop] = listener

    def stop() -> None:
        if _contention.get(loop) is listener:
            del _contention[loop]

    return stop


# -- reading the records -----------------------------------------------------------------


def lock_holder(lock: asyncio.Lock) -> Holding | None:
    """Who took *lock* and has not released it, if a wrapper saw it taken."""
    holding = lock.__dict__.get("_asyncrepl_holder")
    if holding is None or holding[5] != _generation or not lock.locked():
        return None
    return Holding(*holding)


def semaphore_holders(semaphore: asyncio.Semaphore) -> list[Holding]:
    """The permits of *semaphore* taken and not given back that a wrapper saw
    taken, oldest first."""
    holdings = semaphore.__dict__.get("_asyncrepl_holders") or ()
    return [Holding(*holding) for holding in holdings if holding[5] == _generation]


#: The queues that tasks have put in or taken from, while the records run.
_queues: weakref.WeakSet = weakref.WeakSet()


def queues_seen() -> list[asyncio.Queue]:
    """The queues tasks have put items in or taken them from (see :func:`queue_partners`)."""
    return list(_queues)


def queue_partners(queue: asyncio.Queue) -> tuple[list[Partner], list[Partner]]:
    """The last tasks that put items in *queue* (producers) and took items
    from it (consumers), oldest first."""
    return (
        list((queue.__dict__.get("_asyncrepl_producers") or {}).values()),
        list((queue.__dict__.get("_asyncrepl_consumers") or {}).values()),
    )


def inferred_lock_holders(lock, awaitables) -> list:
    """Of *awaitables* (coroutines of suspended tasks), those inside an
    ``async with lock:`` block: for a lock or semaphore taken before the
    wrappers were installed.  The block keeps the bound ``__aexit__`` on the
    frame's value stack (3.11-3.13), or the object itself beside the
    unbound ``__aexit__`` (3.14+); the coroutine's gc referents include that
    stack (as ``_tasks._timeouts_in`` finds Timeout objects)."""
    exit_function = locks._ContextManagerMixin.__aexit__
    found = []
    for awaitable in awaitables:
        referents = gc.get_referents(awaitable)
        bound = any(getattr(r, "__self__", None) is lock and getattr(r, "__func__", None) is exit_function for r in referents)
        if bound or (any(r is lock for r in referents) and any(r is exit_function for r in referents)):
            found.append(awaitable)
    return found


# -- what the wrappers call --------------------------------------------------------------------


def _running_task():
    """The task running now (None outside one), at the cost of a dict read."""
    loop = _get_running_loop()
    return None if loop is None else _current_tasks_get(loop)


if sys.version_info < (3, 12):
    # PRIVATE (CPython 3.11: asyncio.tasks._current_tasks, {loop: task}):
    # 3.11's asyncio.current_task() is Python code that costs as much as the
    # rest of a lock's bookkeeping together; 3.12+ has it in C.
    _get_running_loop = asyncio.events._get_running_loop
    _current_tasks_get = asyncio.tasks._current_tasks.get
else:
    def _running_task():  # noqa: F811
        try:
            return _current_task()
        except RuntimeError:  # no running loop: a coroutine driven by hand
            return None


def _holding(frame) -> tuple:
    """The record of a lock or permit just taken in *frame* (the wrapper's
    caller): a plain tuple (see Holding), cheaper to make than a NamedTuple."""
    while frame is not None and frame.f_code.co_filename == _LOCKS_FILE:
        frame = frame.f_back  # __aenter__, Condition.wait
    if frame is None:
        return (_running_task(), None, 0, None, 0, _generation)
    caller = frame.f_back
    return (
        _running_task(),
        frame,
        frame.f_lasti,
        caller,
        0 if caller is None else caller.f_lasti,
        _generation,
    )


def _note_lock(lock) -> None:
    lock._asyncrepl_holder = _holding(_getframe(2))


def _forget_lock(lock) -> None:
    lock._asyncrepl_holder = None


def _note_permit(semaphore) -> None:
    holdings = semaphore.__dict__.get("_asyncrepl_holders")
    if holdings is None:
        holdings = semaphore._asyncrepl_holders = []
    holdings.append(_holding(_getframe(2)))


def _forget_permit(semaphore) -> None:
    """A permit given back: forget the newest record of the task that gives
    it back, else of the frame that gives it back (a callback's), else of a
    task that has ended (a permit handed on), else the oldest."""
    holdings = semaphore.__dict__.get("_asyncrepl_holders")
    if not holdings:
        return
    task = _running_task()
    for index in range(len(holdings) - 1, -1, -1):
        if holdings[index][0] is task:
            del holdings[index]
            return
    frame = _getframe(2)
    while frame is not None and frame.f_code.co_filename == _LOCKS_FILE:
        frame = frame.f_back
    for index in range(len(holdings) - 1, -1, -1):
        if holdings[index][1] is frame:
            del holdings[index]
            return
    for index, holding in enumerate(holdings):
        if holding[0] is not None and holding[0].done():
            del holdings[index]
            return
    del holdings[0]


def _note_partner(queue, side: str) -> None:
    task = _running_task()
    if task is None:
        return
    partners = queue.__dict__.get(side)
    if partners is None:
        partners = queue.__dict__[side] = {}
        _queues.add(queue)  # once per queue and side: %why looks for a future in their items
    key = id(task)
    known = partners.get(key)
    if known is not None and known.task() is task:
        return
    if known is not None:
        del partners[key]  # another task, at the address of one that is gone
    elif len(partners) >= PARTNERS_KEPT:
        del partners[next(iter(partners))]
    partners[key] = Partner(weakref.ref(task), getattr(task, "_asyncrepl_info", None))


def _contended(primitive, loop) -> None:
    listener = _contention.get(loop)
    if listener is not None:
        try:
            listener(primitive)
        except Exception:  # never into the user's wait
            _contention.pop(loop, None)


# -- the wrappers, compiled as asyncio's own code ----------------------------------------------
#
# One line each, at the line of the method they wrap, in its file: a frame
# of theirs reads as that method's (tracebacks show its ``def`` line).
# ``_original`` is bound per wrapper at install (see _bind_original).

_SOURCES = {
    (locks.Lock, "acquire"): (
        "async def acquire(self): result = await _original(self); "
        "_holders._tracking and _holders._note_lock(self); return result"
    ),
    (locks.Lock, "release"): (
        "def release(self): _original(self); _holders._tracking and _holders._forget_lock(self)"
    ),
    (locks.Semaphore, "acquire"): (
        "async def acquire(self): result = await _original(self); "
        "_holders._tracking and _holders._note_permit(self); return result"
    ),
    (locks.Semaphore, "release"): (
        "def release(self): _original(self); _holders._tracking and _holders._forget_permit(self)"
    ),
    (queues.Queue, "get_nowait"): (
        "def get_nowait(self): item = _original(self); "
        "_holders._tracking and _holders._note_partner(self, '_asyncrepl_consumers'); return item"
    ),
    (queues.Queue, "put_nowait"): (
        "def put_nowait(self, item): _original(self, item); "
        "_holders._tracking and _holders._note_partner(self, '_asyncrepl_producers')"
    ),
    (mixins._LoopBoundMixin, "_get_loop"): (
        "def _get_loop(self): loop = _original(self); "
        "_holders._contention and _holders._contended(self, loop); return loop"
    ),
}


def _compile_wrapper(owner: type, name: str, source: str):
    original = owner.__dict__[name]
    code = original.__code__
    namespace = {"_holders": sys.modules[__name__], "_original": original}
    # Blank lines put the one-line wrapper at the original's def line.
    compiled = compile("\n" * (code.co_firstlineno - 1) + source, code.co_filename, "exec")
    exec(compiled, namespace)
    wrapper = namespace[name]
    wrapper.__qualname__ = original.__qualname__
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original
    wrapper.__module__ = original.__module__
    return wrapper


def _bind_original(wrapper, original) -> None:
    # What the wrapper calls: whatever was on the class at install (asyncio's
    # own, or someone else's wrapper of it).
    wrapper.__globals__["_original"] = original
    wrapper.__wrapped__ = original


_WRAPPERS = {key: _compile_wrapper(*key, source) for key, source in _SOURCES.items()}
#: The wrappers' code: a frame of one stands in for the asyncio method it wraps,
#: which is the next frame down; the views of a task's await chain leave it out.
WRAPPER_CODES = frozenset(wrapper.__code__ for wrapper in _WRAPPERS.values())
assert all(inspect.iscoroutinefunction(_WRAPPERS[key]) for key in ((locks.Lock, "acquire"), (locks.Semaphore, "acquire")))
