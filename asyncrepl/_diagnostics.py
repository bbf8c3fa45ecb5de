"""Diagnostics for the classic asyncio mistakes, as they happen.

* :class:`UnawaitedCoroutines`: a coroutine that is never awaited, reported at
  the user's own line with the fix (``did you mean: await add_one(1)``).
* :class:`FailedTasks`: a task that ends with an exception nobody retrieves,
  reported as it ends; a task destroyed while pending, in words.

A blocked loop is ``_monitor``'s to report.

Plain asyncio and the warnings module; nothing here knows IPython.  Each
report is printed in the context of the code it concerns (the task's, or the
current cell's), which is how ipykernel knows which cell's output it belongs to.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import inspect
import linecache
import re
import sys
import threading
import time
import warnings
import weakref

from ._frames import CellNamer, code_location
from ._tasks import (
    TaskRegistry,
    _is_users,
    in_a_pending_gather,
    outcome,
)

_UNAWAITED = re.compile(r"coroutine '(?P<name>[^']+)' was never awaited")
_ORIGIN_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')


def report(message: str, context: contextvars.Context | None = None) -> None:
    """Print one asyncrepl report on stderr, inside *context* if given."""

    def emit() -> None:
        print(f"asyncrepl: {message}", file=sys.stderr, flush=True)

    if context is None:
        emit()
        return
    try:
        context.run(emit)
    except RuntimeError:  # the context is entered right now: we are in it
        emit()


class StoppedByCtrlC(BaseException):
    """What Ctrl-C raises in a task that swallowed its CancelledError, or in a
    callback, that held the loop.  Not an Exception: asyncio stores it as the
    task's outcome (or hands it to the loop's exception handler) and goes on;
    Ctrl-C has reported it already, so the diagnostics keep quiet about it."""


# -- never-awaited coroutines ----------------------------------------------------------


def suggest_await(source_line: str, function: str) -> str | None:
    """``await add_one(1)`` for ``x = add_one(1);`` and function ``add_one``."""
    text = source_line.strip().rstrip(";")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == function:
                return f"await {ast.get_source_segment(text, node)}"
    return None


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
        fix = suggest_await(source, _short_name(name)) or f"await {_short_name(name)}(...)"
        where = code_location(filename, lineno, self.cell_namer)
        report(f"coroutine {name}() was never awaited, at {where}: {source}\n  did you mean: {fix}")
        return None

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


def unstarted(value) -> bool:
    return inspect.iscoroutine(value) and inspect.getcoroutinestate(value) == inspect.CORO_CREATED


# -- failed tasks ------------------------------------------------------------------------------


class FailedTasks:
    """Reports tasks that end with an exception nobody retrieves, and tasks
    destroyed while pending, in the words of %tasks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, registry: TaskRegistry, cell_namer: CellNamer | None = None):
        self.loop = loop
        self.registry = registry
        self.cell_namer = cell_namer
        self.enabled = True
        self._previous_handler = None
        self._pending: dict[asyncio.Task, asyncio.Handle] = {}  # failed tasks to look at next iteration

    def install(self) -> None:
        self.registry.on_finished = self._finished
        self._previous_handler = self.loop.get_exception_handler()
        self.loop.set_exception_handler(self._handle_exception)

    def uninstall(self) -> None:
        if self.registry.on_finished == self._finished:
            self.registry.on_finished = None
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
        # PRIVATE (CPython 3.11-3.15: Future._log_traceback): True until
        # someone retrieves the exception; asyncio logs it at collection then.
        if not task._log_traceback or in_a_pending_gather(task, self.loop):
            return  # taken, or a gather() will take it when it ends
        error = task.exception()  # retrieved now: asyncio will not log it again
        if isinstance(error, StoppedByCtrlC):
            return  # Ctrl-C said so already
        created = self._created_at(task)
        where = f", created at {created}" if created else ""
        if isinstance(error, (SystemExit, KeyboardInterrupt)):
            # asyncio lets these out of the loop; the REPL caught them and went on.
            where += "; in a script it would have ended the program, the REPL goes on"
        self.registry.unseen_failures.add(self.registry.info(task).id)
        report(
            f"task {self.registry.label(task)} failed: "
            f"{type(error).__name__}: {error}{where}\n  %tasks {self.registry.info(task).id} shows the traceback, %debug_task {self.registry.info(task).id} to debug",
            self.registry.context_of(task),
        )

    def _created_at(self, task: asyncio.Task) -> str | None:
        sites = self.registry.info(task).created_at
        return code_location(sites[0].filename, sites[0].lineno, self.cell_namer) if sites else None

    def _handle_exception(self, loop, context: dict) -> None:
        if isinstance(context.get("exception"), StoppedByCtrlC):
            return  # a callback Ctrl-C stopped, and said so
        task = context.get("task")
        if (
            self.enabled
            and isinstance(task, asyncio.Task)
            and context.get("message", "").startswith("Task was destroyed but it is pending")
        ):
            created = self._created_at(task)
            where = f" (created at {created})" if created else ""
            report(
                f"task {self.registry.label(task)} was destroyed while still "
                f"pending{where}: nothing referenced it, so it was garbage-collected mid-await; "
                "keep a reference to tasks you create (e.g. in a set) until they finish"
            )
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)
