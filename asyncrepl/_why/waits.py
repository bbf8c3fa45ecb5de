"""What one task waits on directly: a task, a gather, a timer, I/O, a
thread, a primitive (see :mod:`.primitives`), or a future nothing known
will set."""

from __future__ import annotations

import asyncio

from .._asyncio_private import waited_on
from .._tasks.awaits import _gathered, _innermost_outside_asyncio, _timer_in, awaited_tasks, timeouts_ahead
from .._tasks.naming import _short_repr
from .endpoints import address, executor_function, from_executor, io_wait
from .facts import TaskFacts
from .model import Wait
from .primitives import PrimitiveWaits, primitive_in


class WaitReader:
    """Each task's :class:`Wait`, read once, over one analysis's *facts*."""

    def __init__(self, facts: TaskFacts):
        self.facts = facts
        self.primitives = PrimitiveWaits(facts)
        self._waits: dict[asyncio.Task, Wait] = {}

    def __contains__(self, task) -> bool:
        """Whether *task*'s wait has been read."""
        return task in self._waits

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
        facts = self.facts
        if task.done():
            return Wait(task, "done", facts.ended(task), end="done")
        if task is facts.current:
            return Wait(task, "running", "running now", end="running")
        waiter = waited_on(task)
        where = facts.where(task)
        if waiter is None:
            return Wait(task, "ready", "ready to run", where, end="ready")
        awaitables = facts.awaitables(task)
        frames = [frame for _, frame in awaitables]
        timeouts = timeouts_ahead(awaitables, facts.now, timeout_name="asyncio.timeout()")
        wait = self._what(task, waiter, frames)
        wait.where = wait.where or where
        wait.timeouts = timeouts
        return wait

    def _what(self, task, waiter, frames) -> Wait:
        if isinstance(waiter, asyncio.Task):
            return Wait(task, "task", self.facts.short(waiter), targets=[waiter], role="awaits")
        children = _gathered(waiter)
        if children:
            pending = [child for child in children if not child.done()]
            return Wait(task, "tasks", f"gather() of {len(children)} ({len(pending)} pending)", targets=pending, role="awaits")
        index = _innermost_outside_asyncio(frames)
        primitive, method, _ = primitive_in(frames, index)
        if primitive is not None:
            return self.primitives.wait(task, primitive, method, frames, index)
        api = frames[index + 1] if index + 1 < len(frames) else None
        if api is not None:
            name = api.f_code.co_name
            timer = _timer_in(api)
            if name == "sleep" and timer is not None:
                left = max(0.0, timer[1].when() - self.facts.now)
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
                on = ", ".join(address(sock.getsockname()) for sock in (server.sockets or ()))
                what = f"Server.serve_forever() on {on}" if on else "Server.serve_forever()"
                return Wait(task, "io", what, end="io", detail=f"I/O: it serves connections{' on ' + on if on else ''} until the server is closed")
        found = io_wait(self.facts, task, frames, waiter)
        if found is not None:
            at, serving = found
            if serving:  # a server of this program's is to answer: its handler
                return Wait(task, "io", f"I/O: {at}", targets=serving, role="served in this program by", mode="any")
            return Wait(task, "io", f"I/O: {at}", end="io", detail=f"I/O: {at}")
        if from_executor(waiter):
            function = executor_function(waiter)
            runs = f"it runs {function}()" if function else "an executor runs it"
            return Wait(task, "thread", f"run_in_executor({function or ''})", end="thread", detail=f"a thread: {runs}")
        timer = _timer_in(api) if api is not None else None
        if timer is not None:
            left = max(0.0, timer[1].when() - self.facts.now)
            return Wait(task, "timer", f"{api.f_code.co_qualname}(), times out in {left:.1f} s", end="timer", detail=f"a timer: it fires in {left:.1f} s")
        queued = self.primitives.future_in_queue(task, waiter)
        if queued is not None:
            return queued
        what = f"{api.f_code.co_qualname}()" if api is not None else f"future {_short_repr(waiter)}"
        return Wait(task, "future", what, end="unknown", detail=f"{what}: nothing known sets its result")
