"""Each statement of a cell that awaits can be let go of.

``transform.StatementsAsTasks`` puts ``await H.drive(EXPR, LINE)`` in place
of a top-level ``await EXPR`` (``x = await f()`` keeps its assignment and has
only its value replaced): the cell's own code makes the awaitable, and hands
it over.  Any other top-level statement that awaits becomes ``await
H.statement(KEY)``; the statement itself is kept here under KEY, and compiled
and run when the cell reaches it, in the cell's own namespace, under the
cell's file name and line numbers, as code at a module's top level (so it
reads, names and assigns exactly as the cell would).

The cell awaits a :class:`Statement`, which drives the statement's coroutine
inside the cell's own task, as a plain ``await`` would: the same task, the
same steps, the same cancellation.  What it adds is the one thing an
``await`` cannot do: :meth:`Statement.let_go`.  A statement that refuses to
stop (a TaskGroup child that swallows the cancellation) moves to a task of
its own, which goes on in the background, while the cell ends at once with
an error, so that IPython's and ipykernel's own work for the cell (its reply,
its history, the next prompt) ends as usual.

Plain asyncio and ``compile``; nothing here knows IPython.
"""

from __future__ import annotations

import __future__
import ast
import inspect
import itertools
from collections import OrderedDict
from collections.abc import Callable

from .._asyncio_private import block_on, wake_task, wakeup_of

__all__ = ["Statement", "awaiting", "compile_statement", "keep_statement"]

# Statements kept for the cell that will run them: KEY -> (node, mode).  A
# cell that fails before reaching one leaves it here; the oldest are dropped.
_KEPT: OrderedDict[int, tuple[ast.AST, str]] = OrderedDict()
_MOST_KEPT = 512
_keys = itertools.count(1)
# The compiler flags of __future__ features, which a statement shares with its cell.
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


def keep_statement(node: ast.AST, mode: str) -> int:
    """Keep *node* (an ``ast.Module`` for mode "exec", ``ast.Expression`` for
    "eval") for the cell that runs it; its key."""
    key = next(_keys)
    _KEPT[key] = (node, mode)
    while len(_KEPT) > _MOST_KEPT:
        _KEPT.popitem(last=False)
    return key


def compile_statement(key: int, frame) -> tuple:
    """The statement kept under *key*, compiled for and run in *frame* (the
    cell's module code that reached it, whose ``__future__`` features it
    shares): a coroutine for what it awaits (or its value if it awaits
    nothing after all), and the line it starts on."""
    try:
        node, mode = _KEPT.pop(key)
    except KeyError:
        raise RuntimeError(f"asyncrepl lost statement {key} of this cell; run the cell again") from None
    flags = frame.f_code.co_flags & _FUTURE_FLAGS | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        code = compile(node, frame.f_code.co_filename, mode, flags, dont_inherit=True)
    except (TypeError, ValueError):  # a node without its place (made by another AST transformer)
        code = compile(ast.fix_missing_locations(node), frame.f_code.co_filename, mode, flags, dont_inherit=True)
    first = node.body if mode == "eval" else node.body[0]
    return eval(code, frame.f_globals, frame.f_locals), first.lineno


class _LetGo(BaseException):
    """Thrown into the cell's task to end its wait for a statement it let go of."""


class Statement:
    """What the cell awaits in place of a statement: awaited, it runs the
    statement's coroutine in the awaiting task, step for step, as ``await``
    would (see :class:`_Driving`)."""

    __slots__ = ("coro", "where", "task", "waiting_on", "done", "_error")

    def __init__(self, coro, where: tuple = ()):
        self.coro = coro
        self.where = where  # (code, line number) of the cell where it stands
        self.task = None  # the cell's task, once it awaits this
        self.waiting_on = None  # the future the statement waits on now (None: between steps)
        self.done = False
        self._error: BaseException | None = None

    def __await__(self):
        import asyncio

        self.task = asyncio.current_task()
        return _Driving(self)

    def of_users_coroutine(self) -> bool:
        """Whether the statement is a coroutine of the user's own function
        (``await fetch()``), not one compiled for a whole statement or made
        here to await something else."""
        code = getattr(self.coro, "cr_code", None)
        return code is not None and code.co_name != "<module>" and code is not awaiting.__code__

    def let_go(self, start_task: Callable, error_for: Callable) -> object | None:
        """End the cell's wait now; the statement goes on in a task of its own,
        made by ``start_task(coroutine, context)``, and the cell ends with
        ``error_for(that task)``.  That task, or None if the statement is not
        waiting on a future right now (then try again at the loop's next
        iteration)."""
        task, future = self.task, self.waiting_on
        if self.done or task is None or future is None:
            return None
        wakeup = wakeup_of(task, future)
        if wakeup is None:
            return None
        moved = start_task(cell(self.coro, future), _context_of(task))
        self._error = error_for(moved)
        self.done = True
        future.remove_done_callback(wakeup[0])  # the cell's task no longer waits on it...
        wake_task(task, wakeup, _LetGo())  # ...and ends its wait with self._error
        return moved


class _Driving:
    """The iterator of ``await statement``: passes each step on to the
    statement's coroutine (as ``yield from`` would), noting what it waits on.

    ``asyncrepl_drives`` lets await-chain readers (``%tasks``) look through it
    to the statement's own frames.
    """

    __slots__ = ("statement",)

    def __init__(self, statement: Statement):
        self.statement = statement

    @property
    def asyncrepl_drives(self):
        return self.statement.coro

    def __iter__(self):
        return self

    def __next__(self):
        __tracebackhide__ = True
        return self._step(self.statement.coro.send, None)

    def send(self, value):
        __tracebackhide__ = True
        return self._step(self.statement.coro.send, value)

    def throw(self, error, *rest):
        __tracebackhide__ = True
        if not isinstance(error, BaseException):  # throw(type[, value[, traceback]])
            error = error(*rest[:1]) if not (rest and isinstance(rest[0], BaseException)) else rest[0]
        statement = self.statement
        if isinstance(error, _LetGo):
            statement.done = True
            raise statement._error from None
        return self._step(statement.coro.throw, error)

    def close(self):
        if not self.statement.done:
            self.statement.coro.close()

    def _step(self, step, argument):
        __tracebackhide__ = True
        statement = self.statement
        statement.waiting_on = None
        try:
            yielded = step(argument)
        except BaseException:  # StopIteration (its value is the statement's) included
            statement.done = True
            raise
        statement.waiting_on = yielded
        return yielded


async def cell(coro, waiting_on):
    """The rest of a statement that was let go of, in a task of its own."""
    __tracebackhide__ = True
    return await _Resumed(coro, waiting_on)


class _Resumed:
    """Drives a coroutine that is suspended on the future *first* from its
    next step on: it first waits on *first* (in the task that now drives
    it), then passes every step on, as ``yield from`` would."""

    __slots__ = ("coro", "first")

    def __init__(self, coro, first):
        self.coro, self.first = coro, first

    @property
    def asyncrepl_drives(self):
        return self.coro

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        __tracebackhide__ = True
        if self.first is not None:
            first, self.first = self.first, None
            return block_on(first)
        return self.coro.send(value)

    def throw(self, error, *rest):
        __tracebackhide__ = True
        if not isinstance(error, BaseException):  # throw(type[, value[, traceback]])
            error = error(*rest[:1]) if not (rest and isinstance(rest[0], BaseException)) else rest[0]
        self.first = None
        return self.coro.throw(error)

    def close(self):
        self.coro.close()


def _context_of(task):
    get_context = getattr(task, "get_context", None)  # public from 3.12
    return get_context() if get_context is not None else getattr(task, "_context", None)


async def awaited(value):
    """*value* awaited if it is awaitable."""
    __tracebackhide__ = True
    if inspect.isawaitable(value):
        return await value
    return value


async def awaiting(awaitable):
    """``await awaitable``, as a coroutine (what isn't awaitable raises the
    TypeError ``await`` raises)."""
    __tracebackhide__ = True
    return await awaitable
