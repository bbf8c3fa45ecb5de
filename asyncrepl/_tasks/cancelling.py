"""Why a cancelled task has not ended: the frame that caught CancelledError
and went on, read from the code's exception table.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
import dis
from dataclasses import dataclass
from functools import lru_cache

from .awaits import awaited_tasks, _frame_of, _frames_of, _next_awaitable
from .code import Site, _kind_of_code
from .._asyncio_private import coro_of

if TYPE_CHECKING:
    from .registry import TaskRegistry


@dataclass(frozen=True)
class StillRunning:
    """Why a cancelled task has not ended (:func:`why_still_running`).

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
    awaitable = coro_of(task)
    while awaitable is not None:
        frame = _frame_of(awaitable)
        if frame is None:
            break
        chain += (awaitable, frame, frame.f_lasti)
        awaitable = _next_awaitable(awaitable)
    return tuple(chain)


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


def why_still_running(registry: TaskRegistry, task: asyncio.Task) -> StillRunning:
    """Why *task*, cancelled, has not ended: the frame that caught
    CancelledError and went on, in the task itself or, when it waits for
    other tasks cancelled with it (a TaskGroup's children, a gather's),
    in the one that swallowed it."""
    seen: set[int] = set()

    def look(candidate: asyncio.Task) -> StillRunning | None:
        if id(candidate) in seen or candidate.done():
            return None
        seen.add(id(candidate))
        info = registry._known(candidate)
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
