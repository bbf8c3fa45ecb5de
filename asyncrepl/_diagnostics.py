"""Diagnostics for the classic asyncio mistakes, as they happen.

* :class:`UnawaitedCoroutines`: a coroutine that is never awaited, reported at
  the user's own line with the fix (``did you mean: await add_one(1)``).
* :class:`BlockedLoopWatchdog`: a task or callback that holds the loop too
  long, named with the line it was running.  A heartbeat on the loop and a
  thread that samples the loop thread's stack only while the heartbeat is late:
  nothing is timed per callback.
* :class:`FailedTasks`: a task that ends with an exception nobody retrieves,
  reported as it ends; a task destroyed while pending, in words.

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
import logging
import re
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable

from ._frames import CellNamer, code_location
from ._tasks import (
    TaskRegistry,
    _is_users,
    _kind_of_code,
    coroutine_name,
    is_repl_machinery,
    outcome,
    task_label,
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


# -- a blocked loop -------------------------------------------------------------------------


class BlockedLoopWatchdog:
    """Reports a task or callback that holds the loop longer than *threshold* seconds.

    A heartbeat callback on the loop notes the time every *threshold*/4
    seconds.  A thread checks the heartbeat as often; once it is late by more
    than the threshold, the loop is blocked, and the thread samples the loop
    thread's stack (``sys._current_frames``) until the heartbeat comes back,
    keeping the innermost line of the user's code.  The heartbeat then reports
    the episode, once, on the loop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        registry: TaskRegistry | None = None,
        threshold: float = 0.1,
        cell_namer: CellNamer | None = None,
        cell_context: Callable[[], contextvars.Context | None] = lambda: None,
    ):
        self.loop = loop
        self.registry = registry
        self.threshold = threshold
        self.cell_namer = cell_namer
        self.cell_context = cell_context
        self.enabled = True
        self.quiet_names = ()  # names of tasks reported already (stopped by Ctrl-C)
        self._beat = time.monotonic()
        self._episode: dict | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop_thread: int | None = None

    @property
    def interval(self) -> float:
        return max(0.005, self.threshold / 4)

    def start(self) -> None:
        """Start watching; call it from the loop's thread."""
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self._schedule()
        self._thread = threading.Thread(target=self._watch, name="asyncrepl-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _schedule(self) -> None:
        if not self._stop.is_set() and not self.loop.is_closed():
            self._handle = self.loop.call_later(self.interval, self._heartbeat)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        self._loop_thread = threading.get_ident()
        with self._lock:
            episode, self._episode = self._episode, None
            late = now - self._beat - self.interval
            self._beat = now
        if episode is not None and self.enabled and late >= self.threshold:
            self._report(episode, late)
        self._schedule()

    def _watch(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            wait = self.interval
            if not self.loop.is_running() or self._loop_thread is None:
                with self._lock:
                    self._beat = time.monotonic()  # a stopped loop is not a blocked one
                continue
            with self._lock:
                late = time.monotonic() - self._beat - self.interval
            if late < self.threshold:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            task = asyncio.current_task(self.loop)
            step = _step_key(task, frame)
            sample = _innermost_users_line(frame)
            with self._lock:
                if self._episode is None:
                    self._episode = {"task": task, "line": sample, "steps": {step}, "samples": 1}
                else:
                    self._episode["steps"].add(step)
                    self._episode["samples"] += 1
                    if sample is not None:
                        self._episode["line"] = sample
            # During an episode, sample often: one sample cannot tell a step
            # that blocks from a process the OS did not run for a moment.
            wait = min(self.interval, 0.005)

    def _report(self, episode: dict, seconds: float) -> None:
        steps = episode["steps"]
        if episode["samples"] < 2 or len(steps) > 1 or any(kind == "loop" for kind, _ in steps):
            # Different steps in the samples: one loop iteration ran many
            # short callbacks (a gather of thousands of tasks), none of which
            # held the loop by itself.  Or the loop was between callbacks or
            # waiting for events: the process was not scheduled, nothing of
            # the user's blocked.
            return
        task = episode["task"]
        if task is not None and is_repl_machinery(task):
            return  # the user's own cell code, or IPython's: not a slow callback
        line = episode["line"]
        where = "" if line is None else (
            f" at {code_location(line[0], line[1], self.cell_namer)}: {linecache.getline(line[0], line[1]).strip()}"
        )
        if task is not None:
            if task.get_name() in self.quiet_names:
                return
            if self.registry is not None:
                who, context = f"task {self.registry.label(task)}", self.registry.context_of(task)
            else:
                who, context = f"task {task_label('?', task.get_name(), coroutine_name(task))}", None
        else:
            who = "a callback"
            context = self.cell_context()
        report(f"{who} held the loop for {seconds:.2f} s{where}", context)


def _step_key(task, frame) -> tuple[str, object]:
    """Which step the loop thread is in: a task's, a callback's (by its
    handle), or none (the loop's own machinery: a unique key)."""
    if task is not None:
        return "task", id(task)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_run" and code.co_filename == asyncio.events.__file__:
            return "handle", id(frame.f_locals.get("self"))
        frame = frame.f_back
    return "loop", object()


def _innermost_users_line(frame) -> tuple[str, int] | None:
    while frame is not None:
        if _kind_of_code(frame.f_code) == "user":
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


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
            # Whoever awaits the task is woken in this same iteration; look
            # in the next one whether anybody took the exception.
            self.loop.call_soon(self._check_retrieved, task)

    def _check_retrieved(self, task: asyncio.Task) -> None:
        # PRIVATE (CPython 3.11-3.14: Future._log_traceback): True until
        # someone retrieves the exception; asyncio logs it at collection then.
        if not task._log_traceback:
            return
        error = task.exception()  # retrieved now: asyncio will not log it again
        created = self._created_at(task)
        where = f", created at {created}" if created else ""
        report(
            f"task {self.registry.label(task)} failed: "
            f"{type(error).__name__}: {error}{where}\n  %tasks {self.registry.info(task).id} shows the traceback",
            self.registry.context_of(task),
        )

    def _created_at(self, task: asyncio.Task) -> str | None:
        sites = self.registry.info(task).created_at
        return code_location(sites[0].filename, sites[0].lineno, self.cell_namer) if sites else None

    def _handle_exception(self, loop, context: dict) -> None:
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


# -- asyncio's own slow-callback log --------------------------------------------------------

# Coroutines of IPython's and ipykernel's own tasks.  A cell that computes for
# a while holds the loop by design; asyncio's debug report about it is noise.
_MACHINERY = (
    "InteractiveShell.run_cell_async()",
    "Kernel.shell_main()",
    "Kernel.dispatch_queue()",
    "Kernel.process_one()",
    "Kernel.dispatch_shell()",
    "Kernel.execute_request()",
    "run_in_context()",
)

class _MachineryFilter(logging.Filter):
    """Drop asyncio's "Executing <Task ...> took N seconds" about IPython's own
    tasks, and about tasks that Ctrl-C stopped (asyncrepl has named those)."""

    def __init__(self, already_reported=(), replaced=lambda: False):
        super().__init__()
        self.already_reported = already_reported
        self.replaced = replaced  # True while asyncrepl's watchdog reports slow steps itself

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Executing %s took %.3f seconds" and record.args:
            if self.replaced():
                return False
            handle = str(record.args[0])
            if any(marker in handle for marker in _MACHINERY):
                return False
            return not any(f"name={name!r}" in handle for name in self.already_reported)
        return True
