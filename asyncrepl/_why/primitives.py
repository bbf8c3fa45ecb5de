"""A wait on one of asyncio's primitives: who holds the lock or the
permits (recorded by :mod:`asyncrepl._holders`), who feeds or drains the
queue, who could set the event, notify the condition or reach the barrier;
and when nobody can, the root cause (a leak, a dead partner)."""

from __future__ import annotations

import asyncio

from .. import _holders
from .._asyncio_private import condition_lock, queue_items, semaphore_bound, semaphore_value, unfinished, waited_on, waiters_count
from .._tasks.awaits import _PRIMITIVES, _innermost_outside_asyncio, queue_fill
from .._tasks.code import _kind_of_code
from .endpoints import io_wait
from .facts import TaskFacts
from .model import Held, Partner, Wait
from .naming import attributes_of, name_in_frames, refers_to, site


def primitive_in(frames, index):
    """The primitive a task waits in, the method it waits in and that
    method's frame: the outermost asyncio frame below the user's (at
    *index*) whose ``self`` is one (a Barrier waits in a Condition: the
    Barrier it is), but a Condition's lock when it is taking that."""
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


def _partners(facts: TaskFacts, task, wait: Wait, side) -> list:
    """*wait*'s partners, from a queue's records (*side*: its producers or
    consumers), each with how it ended if it did; the live ones' tasks."""
    for partner in side:
        other = partner.task()
        label = facts.label(other) if other is not None else f"task {partner.info.id}" if partner.info is not None else "a task"
        if other is not None and other.done():
            wait.partners.append(Partner(other, label, facts.ended(other)))
        elif other is None:
            wait.partners.append(Partner(None, label, facts.ended_info(partner.info) if partner.info is not None else "ended"))
        elif other is not task:
            wait.partners.append(Partner(other, label))
    return [p.task for p in wait.partners if p.ended is None]


def _holds(item, future) -> bool:
    """Whether a queue's *item* is *future* or holds it: in a tuple or list
    (``(future, request)``), or as an attribute (a job object's)."""
    if item is future:
        return True
    if isinstance(item, (tuple, list)):
        return any(part is future for part in item[:16])
    return any(value is future for value in attributes_of(item).values())


class PrimitiveWaits:
    """Explains a task's wait on a primitive, over one analysis's *facts*."""

    def __init__(self, facts: TaskFacts):
        self.facts = facts

    def wait(self, task, primitive, method, frames, index) -> Wait:
        """*task* waits in *primitive*'s *method*; *frames* are its await
        chain's, *index* the innermost outside asyncio."""
        kind = type(primitive).__name__
        naming = [frames[index]] if index >= 0 else []
        # Outer frames of the user's only: a library's ``self`` names nothing the user knows.
        naming += [f for f in reversed(frames[:index]) if _kind_of_code(f.f_code) == "user"]
        name = name_in_frames(primitive, naming)
        shown = f"{kind} {name}" if name else kind
        if isinstance(primitive, asyncio.Queue):
            return self._queue(task, primitive, method, shown, name)
        if isinstance(primitive, asyncio.Event):
            return self._setters(task, primitive, "event", f"{shown} (not set, {waiters_count(primitive)} waiting)", name, "set it")
        if isinstance(primitive, asyncio.Barrier):
            state = "broken" if primitive.broken else f"{primitive.n_waiting} of {primitive.parties} waiting"
            return self._setters(task, primitive, "barrier", f"{shown} ({state})", name, "reach it")
        if isinstance(primitive, asyncio.Condition):
            if method == "acquire":
                return self._lock(task, condition_lock(primitive), shown, name, "condition")
            return self._setters(task, primitive, "condition", f"{shown}.wait() ({waiters_count(primitive)} waiting)", name, "notify it")
        if isinstance(primitive, asyncio.Semaphore):
            return self._semaphore(task, primitive, shown, name)
        return self._lock(task, primitive, shown, name, "lock")

    def _lock(self, task, lock, shown, name, kind) -> Wait:
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
        inferred = [t for t in self.facts.tasks if t is not task and _holders.inferred_lock_holders(lock, [a for a, _ in self.facts.awaitables(t)])]
        if inferred:
            wait.targets = inferred[:1]
            # Not where the task waits now: where it took the lock is not known.
            wait.holders = [Held(inferred[0], self.facts.label(inferred[0]), None, before_load=True)]
            return wait
        wait.end = "unknown"
        wait.detail = f"{shown} is held, and asyncrepl did not see who took it (before it was loaded, or outside a task)"
        return wait

    def _semaphore(self, task, semaphore, shown, name) -> Wait:
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
        label = self.facts.label(task) if task is not None else "code outside a task"
        frame, caller = holding.frame, holding.caller
        taken_at = site(frame, holding.lasti)
        called_from = None
        if caller is not None and _kind_of_code(caller.f_code) == "user" and (frame is None or caller.f_code is not frame.f_code):
            called_from = site(caller, holding.caller_lasti)
        held = Held(task, label, taken_at, called_from)
        if task is not None and task.done():
            held.ended = self.facts.ended(task)
            # Where the function that took it ended (a finished frame keeps its last line).
            leaving = caller if called_from is not None else frame
            if leaving is not None:
                held.left_at = site(leaving)
        return held

    def _queue(self, task, queue, method, shown, name) -> Wait:
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
        live = _partners(self.facts, task, wait, side)
        if live:
            wait.targets = live
            return wait
        dead = [p for p in wait.partners if p.ended is not None]
        returned = [p for p in dead if p.ended.startswith("returned")]
        if method == "get" and returned:
            # Producers that did their part and ended, as a request's handler
            # does: a worker pool waiting for the next request is not stuck.
            # (Producers that all failed are a dead partner, below.)
            wait.end = "idle"
            wait.detail = (
                f"waiting for work: the tasks that put in {shown} have ended, as a request's handlers do "
                f"({returned[-1].label} returned); if none is to put in it again, it waits for good"
            )
            return wait
        if dead:
            wait.end = "dead partner"
            wait.detail = f"{shown} is {'full' if method != 'get' else 'empty'} and its {needed} have ended"
            return wait
        if self._ended_by_others(
            task, wait, method, f"could be {role.split()[0]} by", f"no {needed[:-1]} of {shown} seen", f"{shown} is fed as data arrives"
        ):
            return wait
        if method == "get":
            # A worker of a service waits so until a request brings it work:
            # not stuck.  (A producer that should have been started, and was
            # not, looks the same: %why ID says so.)
            wait.end = "idle"
            wait.detail = (
                f"waiting for work: no task has put in {shown} yet, and no live task refers to it "
                "(if something should feed it, it has not started)"
            )
            return wait
        wait.end = "dead partner"
        wait.detail = f"no live task seen as {needed[:-1]} of {shown} (none took from it or put in it, none refers to it; a guess)"
        return wait

    def future_in_queue(self, task, future) -> Wait | None:
        """*task* awaits *future*, which sits in a queue's items
        (``await jobs.put((future, request))`` then ``await future``, as a
        worker pool's callers do): whoever takes it from the queue is to set
        it.  None if no queue tasks used holds it."""
        for queue in _holders.queues_seen():
            if not any(_holds(item, future) for item in queue_items(queue)):
                continue
            users = [f for f in reversed(self.facts.frames(task)) if _kind_of_code(f.f_code) == "user"]
            name = name_in_frames(queue, users)
            shown = f"{type(queue).__name__} {name}" if name else type(queue).__name__
            wait = Wait(task, "future", f"a future in {shown} ({queue_fill(queue)})", primitive=queue, name=name, role="to be set by", mode="any")
            live = _partners(self.facts, task, wait, _holders.queue_partners(queue)[1])
            if live:
                wait.targets = live
            elif wait.partners:
                wait.end, wait.detail = "dead partner", f"{shown} holds the future it awaits, and its consumers have ended"
            else:
                wait.end, wait.detail = "unknown", f"{shown} holds the future it awaits, and no task has taken from it yet"
            return wait
        return None

    def _setters(self, task, primitive, kind, what, name, verb) -> Wait:
        wait = Wait(task, kind, what, primitive=primitive, name=name, role=f"could {verb}", mode="any")
        if isinstance(primitive, asyncio.Event) and primitive.is_set():
            wait.end, wait.detail = "ready", "set: it is about to go on"
            return wait
        if self._ended_by_others(task, wait, None, wait.role, f"nothing known to {verb}", f"{what.split(' (')[0]} is set as data arrives"):
            return wait
        wait.end = "dead partner"
        wait.detail = (
            f"no live task refers to {what.split(' (')[0]} in its variables, so none seems set up to "
            f"{verb} (fairly sure; a callback, a thread or code outside a task still could)"
        )
        return wait

    def _ended_by_others(self, task, wait: Wait, method, role: str, unknown: str, arriving: str) -> bool:
        """Whether something other than a partner seen at work can end
        *wait*, with *wait* filled in if so: the live tasks whose variables
        refer to its primitive (as *role*), or "unknown" when they were not
        looked for, or I/O (see :meth:`_on_io`)."""
        referring = self._referring(task, wait.primitive, method)
        if referring:
            wait.targets, wait.role = referring, role
            return True
        if referring is None:
            wait.end, wait.detail = "unknown", unknown
            return True
        return self._on_io(task, wait, arriving)

    def _on_io(self, task, wait: Wait, how: str) -> bool:
        """Whether *task* waits on a primitive of a connection's: its frames
        hold a socket or transport (an HTTP client waiting in
        ``protocol.read_event.wait()``), whose protocol's callbacks, not a
        task, end the wait as data arrives.  If so, *wait* ends in I/O."""
        found = io_wait(self.facts, task, self.facts.frames(task), wait.primitive)
        if found is None:
            return False
        at, serving = found
        if serving:  # a server of this program's is to answer: its handler
            wait.targets, wait.role = serving, f"I/O: {at}, served in this program by"
            return True
        wait.end, wait.detail = "io", f"I/O: {at} ({how})"
        return True

    def _referring(self, task, primitive, method) -> list | None:
        """Pending tasks (other than *task*, and than those waiting on
        *primitive* the same way) whose frames refer to *primitive* (None:
        not looked for)."""
        if not self.facts.scan_references:
            return None
        found = []
        for other in self.facts.tasks:
            if other is task or other is self.facts.current or other.done():
                continue
            frames = self.facts.frames(other)
            if not frames:
                continue
            waiting = self._waits_same(other, primitive, method)
            if waiting:
                continue
            if refers_to(frames, primitive):
                found.append(other)
        return found

    def _waits_same(self, other, primitive, method) -> bool:
        """Whether *other* is itself waiting on *primitive* (by *method*, for a queue)."""
        if waited_on(other) is None:
            return False
        frames = self.facts.frames(other)
        index = _innermost_outside_asyncio(frames)
        found, found_method, _ = primitive_in(frames, index)
        return found is primitive and (method is None or found_method == method or (method == "put" and found_method == "join"))
