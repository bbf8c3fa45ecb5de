"""Diagnostics for the classic asyncio mistakes, as they happen.

* :class:`UnawaitedCoroutines`: a coroutine that is never awaited, reported at
  the user's own line with the fix (``did you mean: await add_one(1)``).
* :class:`FailedTasks`: a task that ends with an exception nobody retrieves,
  reported as it ends; a task destroyed while pending, in words.

A blocked loop is ``_monitor``'s to report.

What asyncio itself says (its exception handler's records on the ``asyncio``
logger) still reaches the program's own logging, as without asyncrepl: a
report here stands in for asyncio's record only where nothing but
``logging.lastResort`` would print it (see :func:`only_last_resort_logs`).  And
the "Object created at" tracebacks debug mode adds to those records show the
user's frames, as a script's do (see :func:`users_frames`).

Plain asyncio and the warnings module; nothing here knows IPython.  Each
report is printed in the context of the code it concerns (the task's, or the
current cell's), which is how ipykernel knows which cell's output it belongs to.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import linecache
import logging
import re
import threading
import time
import traceback
import types
import warnings
import weakref
from typing import NamedTuple

from ._render.reports import report
from ._rewrite import names_in
from ._frames import CellNamer, code_location
from . import _tasks
from ._tasks import TaskRegistry, outcome
from ._tasks.code import _classify_file, _is_users
from ._asyncio_private import current_handle, exception_of, exception_unretrieved, loop_running, set_current_handle, source_traceback

_UNAWAITED = re.compile(r"coroutine '(?P<name>[^']+)' was never awaited")
_ORIGIN_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')


class StoppedByCtrlC(BaseException):
    """What Ctrl-C raises in a task that swallowed its CancelledError, or in a
    callback, that held the loop.  Not an Exception: asyncio stores it as the
    task's outcome (or hands it to the loop's exception handler) and goes on;
    Ctrl-C has reported it already, so the diagnostics keep quiet about it."""


# -- never-awaited coroutines ----------------------------------------------------------


def suggest_await(source_line: str, function: str) -> str | None:
    """``await add_one(1)`` for ``x = add_one(1);`` and function ``add_one``."""
    call = _call_text(source_line, function)
    return None if call is None else f"await {call}"


def _call_text(source_line: str, function: str) -> str | None:
    """The source of the call of *function* on *source_line* (``add_one(1)``)."""
    text = source_line.strip().rstrip(";")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node) == function:
            return ast.get_source_segment(text, node)
    return None


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


# Where a call is, as far as ``await`` goes: in an async def, or at a cell's
# top level (IPython runs cells with top-level await), ``await`` is the fix;
# in a plain def, a lambda, a class body or a file's top level it is a SyntaxError.
_AWAIT_ALLOWED = ("async def", "cell")


class Scope(NamedTuple):
    """The innermost scope around a line: its kind ("async def", "def",
    "lambda", "class", "cell" for a cell's top level, "module" for a file's),
    and the function's name for a def."""

    kind: str
    name: str | None = None


def enclosing_scope(filename: str, lineno: int, function: str | None = None, is_cell: bool = False) -> Scope | None:
    """The scope of the call of *function* at *filename*:*lineno* (failing
    such a call, the innermost scope whose body holds the line); None when
    the source cannot be read or parsed.

    Comprehensions are not scopes here: ``[await f(x) for x in xs]`` is valid
    wherever ``await`` is.
    """
    tree = _parsed("".join(linecache.getlines(filename)))
    if tree is None:
        return None
    top = Scope("cell" if is_cell else "module")
    around_line = [top]  # the innermost scope whose body holds the line, last

    def visit(node: ast.AST, scope: Scope) -> Scope | None:
        if (
            function is not None
            and isinstance(node, ast.Call)
            and node.lineno <= lineno <= (node.end_lineno or node.lineno)
            and _called_name(node) == function
        ):
            return scope
        inner = _opened_scope(node)
        if inner is not None and _body_holds(node, lineno):
            around_line.append(inner)
        for field, value in ast.iter_fields(node):
            # A def's body is its own scope; its decorators and defaults are not.
            child_scope = inner if inner is not None and field == "body" else scope
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST) and _may_hold(child, lineno):
                    found = visit(child, child_scope)
                    if found is not None:
                        return found
        return None

    return visit(tree, top) or around_line[-1]


@functools.lru_cache(maxsize=16)
def _parsed(source: str) -> ast.Module | None:
    """*source* parsed, once for the many coroutines a loop may drop in one file."""
    if not source:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _opened_scope(node: ast.AST) -> Scope | None:
    if isinstance(node, ast.AsyncFunctionDef):
        return Scope("async def", node.name)
    if isinstance(node, ast.FunctionDef):
        return Scope("def", node.name)
    if isinstance(node, ast.Lambda):
        return Scope("lambda")
    if isinstance(node, ast.ClassDef):
        return Scope("class", node.name)
    return None


def _may_hold(node: ast.AST, lineno: int) -> bool:
    """Whether *node*'s lines (a def's decorators included) may hold *lineno*:
    the walk skips the rest of a long file."""
    first = getattr(node, "lineno", None)
    if first is None:
        return True  # arguments, comprehension clauses...: no lines of their own
    for decorator in getattr(node, "decorator_list", ()):
        first = min(first, decorator.lineno)
    return first <= lineno <= (getattr(node, "end_lineno", None) or first)


def _body_holds(node: ast.AST, lineno: int) -> bool:
    body = node.body if isinstance(node.body, list) else [node.body]
    return any(part.lineno <= lineno <= (part.end_lineno or part.lineno) for part in body)


def suggest_fix(call: str, scope: Scope | None, loop_running: bool) -> str:
    """What to write instead of *call* (``add_one(1)``) that is valid where
    it is: the lines after "did you mean:"."""
    if scope is None or scope.kind in _AWAIT_ALLOWED:
        return f"await {call}"
    if loop_running:
        fix = f"asyncio.create_task({call})  (runs it in the background; keep a reference to the task"
    else:
        fix = f"asyncio.run({call})  (runs it to the end; no loop runs in this thread"
    if scope.kind == "def":
        return (
            f"{fix})\n  or make {scope.name}() an async def: await {call} in it, "
            f"and await {scope.name}() where it is called"
        )
    if scope.kind == "lambda":
        return f"{fix}; a lambda cannot await)\n  or an async def in place of the lambda, that does await {call}"
    if scope.kind == "class":
        return f"{fix}; a class body cannot await)"
    return f"{fix})"  # a file's top level


def _short_name(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


class UnawaitedCoroutines:
    """Turns "coroutine 'x' was never awaited" warnings into reports at the user's line.

    Installed as ``warnings.showwarning`` (the documented hook); other warnings
    pass on to the previous one.
    """

    def __init__(self, cell_namer: CellNamer | None = None):
        self.cell_namer = cell_namer
        self.enabled = True
        self._previous = None
        self._refs: set = set()  # weak references to coroutines reported already
        self._just_collected: tuple | None = None

    def install(self) -> None:
        self._previous = warnings.showwarning
        warnings.showwarning = self.showwarning

    def uninstall(self) -> None:
        if warnings.showwarning == self.showwarning:
            warnings.showwarning = self._previous

    def showwarning(self, message, category, filename, lineno, file=None, line=None):
        match = _UNAWAITED.search(str(message)) if issubclass(category, RuntimeWarning) else None
        if match is None or not self.enabled:
            return self._previous(message, category, filename, lineno, file, line)
        name = match["name"]
        if self._said_already(name):
            return None
        filename, lineno = self._users_place(str(message), filename, lineno)
        source = linecache.getline(filename, lineno).strip()
        function = _short_name(name)
        call = _call_text(source, function) or f"{function}(...)"
        scope = enclosing_scope(filename, lineno, function, is_cell=self._is_cell(filename))
        fix = suggest_fix(call, scope, loop_running=loop_running())
        where = code_location(filename, lineno, self.cell_namer)
        report(f"coroutine {name}() was never awaited, at {where}: {source}\n  did you mean: {fix}")
        if _logs_warnings(self._previous):
            # logging.captureWarnings(True) was on before asyncrepl: the
            # program's logging gets the warning, as without asyncrepl.
            self._previous(message, category, filename, lineno, file, line)
        return None

    def _is_cell(self, filename: str) -> bool:
        if self.cell_namer is not None:
            return self.cell_namer(filename) is not None
        return filename.startswith("<ipython-input-")

    def _users_place(self, text: str, filename: str, lineno: int) -> tuple[str, int]:
        """The innermost user frame of the coroutine's origin ("Coroutine
        created at", present when origin tracking is on), else where it was dropped."""
        places = [
            (m["file"], int(m["line"]))
            for m in (_ORIGIN_FRAME.match(line) for line in text.splitlines())
            if m is not None
        ]
        for file, line in reversed(places):  # most recent call last
            if _is_users(file):
                return file, line
        return filename, lineno

    def check_cell(self, source: str, value, namespace: dict) -> None:
        """After a cell: hints about a coroutine it left unstarted, as its
        value or in a variable it assigned."""
        if not self.enabled:
            return
        if not unstarted(value) and not _names_a_coroutine(source, namespace):
            return  # nothing to say, whatever the cell assigned: no need to parse it
        try:
            body = ast.parse(source).body
        except SyntaxError:
            return
        if unstarted(value) and body and isinstance(body[-1], ast.Expr):
            expression = ast.get_source_segment(source, body[-1].value) or ""
            report(
                f"{expression} gave a coroutine, which does nothing until it is awaited\n"
                f"  did you mean: await {expression}"
            )
            self.said(value)
        for statement in body:
            if not isinstance(statement, ast.Assign):
                continue
            for target in statement.targets:
                if isinstance(target, ast.Name) and unstarted(namespace.get(target.id)):
                    assigned = ast.get_source_segment(source, statement.value) or "..."
                    report(
                        f"{target.id} holds a coroutine that has not run (it runs when awaited)\n"
                        f"  did you mean: {target.id} = await {assigned}"
                    )
                    self.said(namespace[target.id])

    def said(self, coroutine) -> None:
        """*coroutine* was reported already: keep quiet when it is collected."""
        name = getattr(coroutine, "__qualname__", None)
        if name is None:
            return

        def collected(ref, name=name) -> None:
            # Weak references are cleared just before the coroutine's
            # finalizer warns, in the same thread, microseconds apart.
            self._refs.discard(ref)
            self._just_collected = (name, threading.get_ident(), time.monotonic())

        self._refs.add(weakref.ref(coroutine, collected))

    def _said_already(self, name: str) -> bool:
        collected, self._just_collected = self._just_collected, None
        return (
            collected is not None
            and collected[0] == name
            and collected[1] == threading.get_ident()
            and time.monotonic() - collected[2] < 0.05
        )


def _logs_warnings(showwarning) -> bool:
    """Whether *showwarning* is logging's (``logging.captureWarnings(True)``)."""
    return getattr(showwarning, "__module__", None) == "logging" and getattr(showwarning, "__name__", "") == "_showwarning"


def unstarted(value) -> bool:
    return inspect.iscoroutine(value) and inspect.getcoroutinestate(value) == inspect.CORO_CREATED


def _names_a_coroutine(source: str, namespace: dict) -> bool:
    """Whether a word of *source* names a coroutine in *namespace* (a quick
    look, done after every cell, before the cell is parsed to see what it
    assigned; as long as the cell, where a look at every value in the
    namespace grew with every cell: IPython keeps each cell's input there)."""
    coroutine, get = types.CoroutineType, namespace.get
    return any(type(get(name)) is coroutine for name in names_in(source))


# -- failed tasks ------------------------------------------------------------------------------


class FailedTasks:
    """Reports tasks that end with an exception nobody retrieves, and tasks
    destroyed while pending, in the words of %tasks.

    It is the loop's exception handler, and passes on what asyncio says to
    the handler that was there before (asyncio's default: a record on the
    ``asyncio`` logger), so the program's own logging gets every record it
    gets without asyncrepl, with the user's frames in debug mode's "Object
    created at" tracebacks.  Where asyncrepl reported the same thing and only
    ``logging.lastResort`` would print asyncio's record, on the same stderr,
    the report stands in for it.
    """

    _NEVER_RETRIEVED = "exception was never retrieved"
    _DESTROYED = "Task was destroyed but it is pending"

    def __init__(self, loop: asyncio.AbstractEventLoop, registry: TaskRegistry, cell_namer: CellNamer | None = None):
        self.loop = loop
        self.registry = registry
        self.cell_namer = cell_namer
        self.enabled = True
        self._previous_handler = None
        self._pending: dict[asyncio.Task, asyncio.Handle] = {}  # failed tasks to look at next iteration
        # Ids of the failed tasks reported, until asyncio says at their
        # collection that nobody retrieved the exception (ids, not the tasks:
        # a weak reference is gone before a task in a reference cycle is finalized).
        self._reported: set[int] = set()

    def install(self) -> None:
        self._unsubscribe = self.registry.task_finished.subscribe(self._finished)
        self._previous_handler = self.loop.get_exception_handler()
        self.loop.set_exception_handler(self._handle_exception)

    def uninstall(self) -> None:
        self.registry.task_finished.unsubscribe(self._finished)
        if not self.loop.is_closed() and self.loop.get_exception_handler() == self._handle_exception:
            self.loop.set_exception_handler(self._previous_handler)

    def _finished(self, task: asyncio.Task) -> None:
        if self.enabled and outcome(task) == "raised":
            # Whoever awaits the task is woken in this same iteration, and
            # whoever awaits asyncio.wait() for it in the next: look in the
            # one after whether anybody took the exception.
            self._pending[task] = self.loop.call_soon(self._look_again, task)

    def _look_again(self, task: asyncio.Task) -> None:
        self._pending[task] = self.loop.call_soon(self._check_retrieved, task)

    def flush(self) -> None:
        """Look now at the failed tasks due to be looked at: at the end of a
        cell, so that what its tasks have to say arrives before the cell ends.
        Their awaiters, woken in the same batch of callbacks as the check was
        scheduled in, have taken their exceptions by now."""
        for task, handle in list(self._pending.items()):
            handle.cancel()
            self._check_retrieved(task)

    def _check_retrieved(self, task: asyncio.Task) -> None:
        self._pending.pop(task, None)
        # Future._log_traceback (see exception_unretrieved): True until
        # someone retrieves the exception; asyncio logs it at collection then.
        if not exception_unretrieved(task) or _tasks.in_a_pending_gather(task, self.loop):
            return  # taken, or a gather() will take it when it ends
        # Not retrieved here: asyncio still says "Task exception was never
        # retrieved" when the task is collected, as without asyncrepl (at once
        # for a task nobody holds; never for one the user awaits later).
        error = exception_of(task)
        if isinstance(error, StoppedByCtrlC):
            task.exception()  # Ctrl-C said so already, and it is asyncrepl's own
            return
        created = self._created_at(task)
        where = f", created at {created}" if created else ""
        if isinstance(error, (SystemExit, KeyboardInterrupt)):
            # asyncio lets these out of the loop; the REPL caught them and went on.
            where += "; in a script it would have ended the program, the REPL goes on"
        task_id = self.registry.info(task).id
        self._reported.add(task_id)
        self.registry.ended.unseen_failures.add(task_id)
        report(
            f"task {self.registry.label(task)} failed: "
            f"{type(error).__name__}: {error}{where}\n  %tasks {task_id} shows the traceback, %debug_task {task_id} to debug",
            self.registry.context_of(task),
        )

    def _created_at(self, task: asyncio.Task) -> str | None:
        sites = self.registry.info(task).created_at
        return code_location(sites[0].filename, sites[0].lineno, self.cell_namer) if sites else None

    def _handle_exception(self, loop, context: dict) -> None:
        if isinstance(context.get("exception"), StoppedByCtrlC):
            return  # a callback Ctrl-C stopped, and said so
        message = context.get("message", "")
        task = context.get("task") or context.get("future")
        reported = False  # asyncrepl has said the same thing in its own words
        if isinstance(task, asyncio.Task) and message.endswith(self._NEVER_RETRIEVED):
            info = self.registry._known(task)  # no new id for a task being finalized
            if info is not None and info.id in self._reported:
                self._reported.discard(info.id)
                reported = True
        elif self.enabled and isinstance(task, asyncio.Task) and message.startswith(self._DESTROYED):
            created = self._created_at(task)
            where = f" (created at {created})" if created else ""
            report(
                f"task {self.registry.label(task)} was destroyed while still "
                f"pending{where}: nothing referenced it, so it was garbage-collected mid-await; "
                "keep a reference to tasks you create (e.g. in a set) until they finish"
            )
            reported = True
        context, hide_running_handle = with_users_frames(loop, context)
        if self._previous_handler is not None:
            self._previous_handler(loop, context)  # someone's own handler decides, as without asyncrepl
        elif not (reported and only_last_resort_logs(_ASYNCIO_LOGGER)):
            _default_handler(loop, context, hide_running_handle)


# -- what asyncio logs ---------------------------------------------------------------------

_ASYNCIO_LOGGER = "asyncio"  # asyncio.log.logger, where the default exception handler logs


def only_last_resort_logs(logger_name: str, level: int = logging.ERROR) -> bool:
    """Whether a record of *level* on the logger would be printed by
    ``logging.lastResort`` and nothing else: no handler on the logger or the
    ancestors it propagates to (a program's ``logging.basicConfig`` puts one
    on the root).  Then the record goes to stderr, where asyncrepl's report
    has said the same; otherwise it goes where the program sends it."""
    logger = logging.getLogger(logger_name)
    return logger.isEnabledFor(level) and not logger.hasHandlers()


def users_frames(frames: list, whole_if_nothing_left: bool = True) -> list:
    """The frames of an "Object created at" traceback (outermost first) from
    the user's own code inward, as a script's begin with the script.

    The REPL's frames come first: the console script, IPython, ipykernel,
    prompt_toolkit, asyncrepl, the libraries they call (traitlets, tornado)
    and asyncio running the loop.  Kept: from the first frame of other code
    after the last of the REPL's frames that precede the user's first frame
    (a cell, or the user's file), or the library code that made the object
    when no user's frame is there; in that part, the REPL's own frames are
    left out (asyncrepl's stand-in for asyncio.run, say).  A traceback with
    none of the REPL's frames (a script's own loop, a unit test) is kept
    whole; so is one of which nothing else would be left (an object the
    REPL made), unless *whole_if_nothing_left* is false: then it is empty.
    """
    kinds = [_classify_file(frame.filename) for frame in frames]
    if "repl" not in kinds:
        return frames
    first_repl = kinds.index("repl")
    users = next((i for i in range(first_repl, len(kinds)) if kinds[i] == "user"), len(kinds))
    start = max(i for i in range(first_repl, users) if kinds[i] == "repl") + 1
    while start < len(kinds) and kinds[start] == "asyncio" and start < users:
        start += 1  # asyncio running the loop, for the REPL
    kept = [frame for frame, kind in zip(frames[start:], kinds[start:]) if kind != "repl"]
    if not kept:
        return frames if whole_if_nothing_left else traceback.StackSummary()
    return traceback.StackSummary.from_list(kept)


def with_users_frames(loop: asyncio.AbstractEventLoop, context: dict) -> tuple[dict, bool]:
    """*context* for the exception handler, its debug-mode tracebacks
    showing the user's frames (see :func:`users_frames`), and whether the
    running handle's traceback is to be kept from asyncio's default handler
    (which adds it, whole); asyncio's own objects are left as they are.

    "Object created at" is where the object the message is about was made;
    "Handle created at", which asyncio adds for a context without one, is
    where the step running now was scheduled: left out when that is only the
    REPL's doing (the step of a cell's task), as a script shows no frames of
    its runner.
    """
    context = dict(context)
    if context.get("source_traceback"):
        context["source_traceback"] = users_frames(context["source_traceback"])
        return context, False
    handle_frames = context.get("handle_traceback")
    if handle_frames is None and "source_traceback" not in context and _on_loop_thread(loop):
        # The running handle's creation stack (debug mode only, see
        # current_handle and source_traceback): what asyncio's default
        # handler would add.
        handle_frames = source_traceback(current_handle(loop))
    if not handle_frames:
        return context, False
    frames = users_frames(handle_frames, whole_if_nothing_left=False)
    if frames:
        context["handle_traceback"] = frames
    else:
        context.pop("handle_traceback", None)
    return context, True


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _default_handler(loop: asyncio.AbstractEventLoop, context: dict, hide_running_handle: bool) -> None:
    """``loop.default_exception_handler(context)``, with the handle traceback
    :func:`with_users_frames` decided on.

    PRIVATE (CPython 3.11-3.15: BaseEventLoop.default_exception_handler sets
    ``context['handle_traceback']`` from ``self._current_handle`` whenever the
    context has no 'source_traceback', over one already there): the running
    handle is hidden from it for the call, on the loop's own thread.
    """
    handle = current_handle(loop)
    if not hide_running_handle or handle is None or "source_traceback" in context or not _on_loop_thread(loop):
        loop.default_exception_handler(context)
        return
    set_current_handle(loop, None)
    try:
        loop.default_exception_handler(context)
    finally:
        set_current_handle(loop, handle)
