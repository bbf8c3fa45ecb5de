"""Watching the loop: a task or callback that holds it too long, named with its line.

Plain asyncio and threads; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import contextvars
import linecache
import logging
import sys
import threading
import time
from collections.abc import Callable

from ._diagnostics import report
from ._frames import CellNamer, code_location
from ._tasks import (
    TaskRegistry,
    _kind_of_code,
    coroutine_name,
    is_repl_machinery,
    task_label,
)

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
