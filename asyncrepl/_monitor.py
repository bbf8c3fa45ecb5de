"""Watching the loop: which step holds it, for how long, and how late it runs.

A :class:`LoopMonitor` learns when the loop is busy without timing any
callback: a probe notes each iteration's start and end (the loop asks its
selector for events exactly once per iteration), and a thread that sleeps
while the loop waits for events samples the loop thread's stack only while an
iteration runs long.  Consecutive samples of the same task step (or callback)
make a :class:`Hold`; one that lasts longer than the threshold is reported
with the user's line it was running.  Ctrl-C asks the monitor whether the step
running now has really held the loop (see ``_interrupt``), and the
iterations' lengths give the loop's lag (:class:`LagStats`).

An idle loop costs nothing: no timer, no thread wakeup.  Plain asyncio and
threads; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import contextvars
import linecache
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._render.reports import report
from ._asyncio_private import current_handle, handle_callback, replace_selector, selector_of
from ._hooks import Hook
from ._frames import CellNamer, code_location, is_loop_step, outwards, within_step
from ._tasks import TaskRegistry, coroutine_name, is_repl_machinery, task_label
from ._tasks.code import _kind_of_code
from ._tasks.naming import callable_name

if TYPE_CHECKING:
    from ._render.lag import LagReport

__all__ = ["Hold", "LagStats", "LoopMonitor", "step_of"]

_SAMPLE_EVERY = 0.005  # seconds between stack samples while an iteration runs long
_HAND_OVER_AT_MOST = 0.002  # seconds the loop's thread waits for the watcher to take the GIL
# How long after the watcher wakes the loop's thread hands it the GIL, if it
# has not had it yet: a loop that goes idle sooner (a request served) lets it
# have it for free, and pays no wait.
_HAND_OVER_AFTER = 0.001
_DEBUGGER_FILES = frozenset(
    os.path.normcase(os.path.join(os.path.dirname(os.__file__), name)) for name in ("bdb.py", "pdb.py")
)


# -- which step the loop thread is in -------------------------------------------------------


def step_of(task: asyncio.Task | None, frame) -> object | None:
    """What identifies the step the loop thread runs: the current task, or the
    frame of ``Handle._run`` for a plain callback; None between steps (the
    loop's own machinery)."""
    if task is not None:
        return task
    return next((f for f in outwards(frame) if is_loop_step(f.f_code)), None)


def _users_line(frame) -> tuple[str, int] | None:
    """The innermost line of the user's code inside the step running now.

    The walk stops where the step begins (``Handle._run``, or the REPL's
    code that runs the loop, for loops without a Python ``Handle``): a sample
    taken just before or after a step, while asyncio enters or leaves the
    task, must not name the code that runs the loop (a test's ``run_cell``).
    """
    for frame in within_step(frame):
        code = frame.f_code
        kind = _kind_of_code(code)
        if kind == "user":
            return code.co_filename, frame.f_lineno
        if kind == "repl":
            return None
    return None


def in_debugger(frame) -> bool:
    """pdb is on the stack: the loop waits for the person at the (Pdb) prompt."""
    return any(os.path.normcase(f.f_code.co_filename) in _DEBUGGER_FILES for f in outwards(frame))


class Hold:
    """One step (a task's run between two awaits, or a callback) seen holding the loop.

    Times are ``time.monotonic()``.  *start* and *end* are bounds the samples
    allow: the step began after the previous step's last sample (or the
    iteration's start) and ended before the next step's first sample (or the
    iteration's end).  *step*: the task, or the callback's ``Handle._run``
    frame; *line*: the user's line most samples found running; *who*: how
    the REPL names the task (or "a callback"), for later reading.

    A plain class, not a dataclass: it is defined at ``%load_ext``, where
    making a dataclass costs a millisecond.
    """

    __slots__ = ("step", "task", "start", "first_seen", "last_seen", "end", "samples", "line", "debugger", "who", "line_samples")

    def __init__(self, step: object, task: asyncio.Task | None, start: float, first_seen: float, last_seen: float, debugger: bool = False):
        self.step, self.task = step, task
        self.start, self.first_seen, self.last_seen = start, first_seen, last_seen
        self.end: float | None = None
        self.samples = 1
        self.line: tuple[str, int] | None = None
        self.debugger = debugger
        self.who = ""
        self.line_samples: Counter = Counter()

    def seen_at(self, line: tuple[str, int] | None) -> None:
        """Count a sample's line; the hold's line is the one seen most (the
        first of equals): the last sample may land on the quick line after
        the slow one (reading the answer after a blocking request)."""
        if line is not None:
            self.line_samples[line] += 1
            self.line = self.line_samples.most_common(1)[0][0]

    @property
    def duration(self) -> float:
        return (self.end if self.end is not None else self.last_seen) - self.start

    def kept(self) -> Hold:
        """A copy to keep for %asyncdebug, without the task or the callback's frame."""
        copy = Hold(None, None, self.start, self.first_seen, self.last_seen, self.debugger)
        copy.end, copy.samples, copy.line, copy.who = self.end, self.samples, self.line, self.who
        return copy

    def __repr__(self) -> str:
        return (
            f"Hold(who={self.who!r}, duration={self.duration:.3f}, line={self.line!r}, "
            f"samples={self.samples}, start={self.start!r}, end={self.end!r})"
        )


class _Iteration:
    """The samples of one long loop iteration, as consecutive holds."""

    def __init__(self, number: int, start: float):
        self.number, self.start = number, start
        self.holds: list[Hold] = []
        self.between_steps: float | None = None  # the last sample that found no step running

    def sample(self, step, task, now: float, line, debugger: bool) -> None:
        last = self.holds[-1] if self.holds else None
        if last is not None and last.step is step and last.end is None:
            last.last_seen, last.samples = now, last.samples + 1
            last.seen_at(line)
            last.debugger = last.debugger or debugger
            return
        if last is not None and last.end is None:
            last.end = now
        start = max(last.last_seen if last is not None else self.start, self.between_steps or self.start)
        hold = Hold(step, task, start, now, now, debugger=debugger)
        hold.seen_at(line)
        self.holds.append(hold)

    def no_step(self, now: float) -> None:
        """A sample found no step running (the loop's own code, or a cell's
        code run inline): the step before has ended, the next starts later."""
        self.between_steps = now
        if self.holds and self.holds[-1].end is None:
            self.holds[-1].end = now

    def close(self, end: float) -> None:
        if self.holds and self.holds[-1].end is None:
            self.holds[-1].end = end


# -- knowing when the loop is busy ------------------------------------------------------------


class _SelectorProbe:
    """Notes when each iteration of the loop starts and ends, by standing in
    for the loop's selector, which the loop asks for events once per
    iteration, between running callbacks.

    PRIVATE (CPython 3.11-3.15: ``BaseSelectorEventLoop._selector``, called as
    ``self._selector.select(timeout)`` once in each ``_run_once``).  Everything
    else is passed on to the real selector.
    """

    def __init__(self, loop, on_iteration: Callable[[float, float], None]):
        self.loop = loop
        self.selector = selector_of(loop)
        self.on_iteration = on_iteration  # (start, end) of each busy stretch
        self.iteration = 0
        self.busy_since = time.monotonic()
        self.idle_since = self.busy_since
        self.waiting = True  # in select(), or the loop is not running
        self.busy = threading.Event()  # set when an iteration starts and the watcher sleeps
        # The GIL handed to the watcher (see hand_over): when to, and set once it runs.
        self.hand_over_at = math.inf
        self.watcher_runs = threading.Event()
        self.watcher_runs.set()
        self.stop_after: asyncio.Future | None = None  # see stop_loop_after()
        self.inline: Callable[[], None] | None = None  # see run_inline()
        self.installed = False
        self._stop_loop = type(loop).stop.__get__(loop)  # the loop's own, past any stand-in

    @classmethod
    def fits(cls, loop) -> bool:
        return selector_of(loop) is not None

    def install(self) -> None:
        replace_selector(self.loop, self)
        self.installed = True

    def uninstall(self) -> None:
        replace_selector(self.loop, self.selector, only_if=self)
        self.installed = False
        ending, self.stop_after = self.stop_after, None
        if ending is not None:  # uninstalled while a cell runs (%unload_ext in it): as a done callback would
            ending.add_done_callback(lambda _: self._stop_loop())

    def stop_loop_after(self, future: asyncio.Future | None) -> None:
        """Stop the loop in the first iteration that starts after *future* is
        done (its ``select``), as a done callback calling ``loop.stop()`` would
        (it runs in that iteration), without the callback's Handle: in debug
        mode each Handle records a stack, most of what a trivial cell costs.
        None: no longer."""
        self.stop_after = future

    def select(self, timeout=None):
        now = time.monotonic()
        if now >= self.hand_over_at:
            self.hand_over()
        self._stretch_ended(now)
        if self.inline is not None:
            step, self.inline = self.inline, None
            self._busy_with(step)
            # After this iteration, as stop_loop_after would.  Asked after the
            # step: on 3.13.0 a run_forever() of the user's that fails because
            # the loop runs clears the loop's stop request (its cleanup runs).
            self._stop_loop()
            timeout = 0
        ending = self.stop_after
        if ending is not None and ending.done():
            self.stop_after = None
            self._stop_loop()
            timeout = 0  # a done callback would be ready: the loop would not wait
        try:
            return self.selector.select(timeout)
        finally:
            self._iteration_started()

    def _iteration_started(self) -> None:
        self.busy_since = time.monotonic()
        self.iteration += 1
        self.waiting = False
        if not self.busy.is_set():
            self.hand_over_at = self.busy_since + _HAND_OVER_AFTER
            self.busy.set()

    def _stretch_ended(self, now: float) -> None:
        """The busy stretch in progress, if any, is over at *now*."""
        if not self.waiting:
            self.waiting, self.idle_since = True, now
            self.on_iteration(self.busy_since, now)

    def _busy_with(self, step: Callable[[], None]) -> None:
        # A busy stretch (an iteration) of its own: what runs after it in
        # this iteration is sampled and timed from its own start.
        self._iteration_started()
        try:
            step()
        finally:
            self._stretch_ended(time.monotonic())

    def run_inline(self, step: Callable[[], None]) -> None:
        """Run *step* at the start of the loop's next iteration, with the loop
        running, and stop the loop after that iteration: a cell that never
        awaits runs so, without a task (see ``CellRunner``).  *step* must not
        raise.  It is not a step (no task or callback runs it): it is never
        reported as holding the loop."""
        self.inline = step

    def hand_over(self) -> None:
        """Let the watcher, which has woken and waits for the GIL, have it now.

        A thread waiting for the GIL is woken each time the holder releases
        it, and goes back to sleep when the holder has taken it again first,
        with its 5 ms until it may ask for a switch starting over: a loop that
        releases the GIL in every ``select`` (every iteration) keeps it waiting
        for as long as it stays busy, and pays a futile wakeup each time (35 us
        of a 200 us cell).  So the loop's thread waits here, without the GIL,
        until the watcher says it runs (the time a thread takes to wake: tens
        to a few hundred microseconds), once per look, and only if the loop
        has stayed busy for a moment since the watcher woke.
        """
        self.hand_over_at = math.inf
        self.watcher_runs.wait(_HAND_OVER_AT_MOST)

    def napping(self, until: float) -> None:
        """The watcher (with the GIL) sleeps until *until* (monotonic) or until woken."""
        self.watcher_runs.clear()
        self.hand_over_at = until + _HAND_OVER_AFTER

    def woke(self) -> None:
        """The watcher has the GIL again."""
        self.hand_over_at = math.inf
        self.watcher_runs.set()

    def wake(self) -> None:
        self.busy.set()

    def paused(self) -> None:
        """The loop stopped (run_forever returned): the iteration in progress is over."""
        self._stretch_ended(time.monotonic())

    def resumed(self) -> None:
        """The iteration in progress counts as busy from now on."""
        if not self.waiting:
            self.busy_since = time.monotonic()

    def wait_busy(self, stop: threading.Event) -> None:
        """Return once an iteration runs or has started since this was called
        (or *stop* is set)."""
        self.busy.clear()
        if stop.is_set() or (not self.waiting and self.loop.is_running()):
            return
        self.napping(math.inf)
        self.busy.wait()  # LoopMonitor.stop() sets it too
        self.woke()

    def nap(self, stop: threading.Event, seconds: float) -> bool:
        """The watcher sleeps *seconds* (True: *stop* was set)."""
        self.napping(time.monotonic() + seconds)
        stopped = stop.wait(seconds)
        self.woke()
        return stopped

    def __getattr__(self, name):
        return getattr(self.selector, name)


class _HeartbeatProbe:
    """For loops without a Python selector (uvloop): a timer every *interval*
    seconds; the loop is busy when the timer is late.  Costs a wakeup per
    interval even when idle, which is why the selector probe is preferred."""

    def __init__(self, loop, on_iteration: Callable[[float, float], None], interval: float):
        self.loop = loop
        self.on_iteration = on_iteration
        self.interval = interval
        self.iteration = 0
        self.beat = time.monotonic()
        self.idle_since = self.beat  # when the last late beat came
        self.handle = None

    @classmethod
    def fits(cls, loop) -> bool:
        return True

    @property
    def busy_since(self) -> float:
        return self.beat + self.interval

    @property
    def waiting(self) -> bool:
        return time.monotonic() - self.beat < 2 * self.interval

    def install(self) -> None:
        self.beat = time.monotonic()
        self.handle = self.loop.call_later(self.interval, self._heartbeat)

    def uninstall(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _heartbeat(self) -> None:
        now = time.monotonic()
        late = now - self.beat - self.interval
        if late > 0:
            self.on_iteration(now - late, now)
            self.idle_since = now
        self.beat = now
        self.iteration += 1
        if self.handle is not None and not self.loop.is_closed():
            self.handle = self.loop.call_later(self.interval, self._heartbeat)

    def paused(self) -> None:
        self.beat = time.monotonic()

    resumed = paused

    def wake(self) -> None:
        pass  # wait_busy polls

    def nap(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)

    def woke(self) -> None:
        pass

    def wait_busy(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            if not self.waiting and self.loop.is_running():
                return


# -- the loop's lag -----------------------------------------------------------------------------


class LagStats:
    """How late the loop runs what becomes ready: from the lengths of its busy iterations.

    Something that becomes ready while an iteration runs waits for that
    iteration to end, so over time the lag is 0 while the loop waits for
    events, and falls from *d* to 0 during a busy iteration of length *d*.
    Iterations are counted in power-of-two buckets per 10-second slot, the
    last six slots make the last minute, and percentiles are taken over time,
    as a heartbeat sampling the lag at random moments would measure it.
    """

    SLOT = 10.0
    SLOTS = 6
    _BUCKETS = 40  # 2**k microseconds, k < 40: up to about 12 days

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.started = clock()
        self._slots: deque = deque(maxlen=self.SLOTS)  # (slot number, counts, sums, max)
        self._new_slot(self._slot_number(self.started))

    def _slot_number(self, now: float) -> int:
        return int(now // self.SLOT)

    def _new_slot(self, number: int) -> list:
        slot = [number, [0] * self._BUCKETS, [0.0] * self._BUCKETS, 0.0]
        self._slots.append(slot)
        return slot

    def add(self, start: float, end: float) -> None:
        # Runs at the end of every busy stretch of the loop: kept lean.
        duration = end - start
        slot = self._slots[-1]
        if not slot[0] * self.SLOT <= end < (slot[0] + 1) * self.SLOT:
            slot = self._new_slot(self._slot_number(end))
        bucket = min(self._BUCKETS - 1, int(duration * 1e6).bit_length())
        slot[1][bucket] += 1
        slot[2][bucket] += duration
        if duration > slot[3]:
            slot[3] = duration

    def _window(self, seconds: float, now: float):
        first = self._slot_number(now - seconds)
        return [slot for slot in self._slots if slot[0] >= first]

    def maximum(self, seconds: float = 60.0) -> float:
        now = self.clock()
        return max((slot[3] for slot in self._window(seconds, now)), default=0.0)

    def percentiles(self, quantiles=(0.5, 0.99), seconds: float = 60.0) -> list[float]:
        """The lag not exceeded during the given fractions of the last *seconds*."""
        now = self.clock()
        slots = self._window(seconds, now)
        span = min(seconds, now - self.started) if slots else 0.0
        if span <= 0:
            return [0.0 for _ in quantiles]
        counts = [sum(slot[1][b] for slot in slots) for b in range(self._BUCKETS)]
        sums = [sum(slot[2][b] for slot in slots) for b in range(self._BUCKETS)]
        means = [s / c for s, c in zip(sums, counts) if c]
        weights = [c for c in counts if c]

        def time_above(x: float) -> float:
            return sum(w * (m - x) for m, w in zip(means, weights) if m > x)

        results = []
        for q in quantiles:
            allowed = (1 - q) * span
            if time_above(0.0) <= allowed:
                results.append(0.0)
                continue
            low, high = 0.0, max(means)
            for _ in range(50):
                middle = (low + high) / 2
                low, high = (middle, high) if time_above(middle) > allowed else (low, middle)
            results.append(high)
        return results


# -- the monitor --------------------------------------------------------------------------------


class LoopMonitor:
    """Watches one loop from a thread and tells who holds it and how late it runs.

    Its hooks (:class:`~asyncrepl._hooks.Hook`, many subscribers each):

    * ``held`` is called on the loop's thread, as the iteration ends, with each
      :class:`Hold` that lasted at least *threshold* seconds, so that its report
      comes before anything else the loop runs (in ipykernel: before the cell's
      reply);
    * ``iteration_ended`` on the loop's thread at the end of every busy stretch,
      with its (start, end) (the status line's spinner);
    * ``sampled`` on the monitor's thread with each sample of a long iteration
      (the Hold so far): the status line's "held by" while it lasts.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold: Callable[[], float] | float = 0.1,
        describe: Callable[[asyncio.Task, Hold], str] = lambda task, hold: f"task {task.get_name()!r}",
    ):
        self.loop = loop
        self.describe = describe  # called on the monitor's thread: must only read
        self._threshold = threshold if callable(threshold) else (lambda: threshold)
        self.held = Hook("held")
        self.iteration_ended = Hook("iteration_ended")
        self.sampled = Hook("sampled")
        self.lag = LagStats()
        self.worst: deque[tuple[float, Hold]] = deque(maxlen=200)  # (ended, hold) over threshold
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop_thread: int | None = None
        self._iteration: _Iteration | None = None  # being sampled now
        self._lock = threading.Lock()  # between the sampling thread and the loop's
        self._home = threading.Event()  # cleared while the loop's thread runs another loop
        self._home.set()
        probe_class = _SelectorProbe if _SelectorProbe.fits(loop) else _HeartbeatProbe
        if probe_class is _SelectorProbe:
            self.probe = _SelectorProbe(loop, self._iteration_ended)
        else:
            self.probe = _HeartbeatProbe(loop, self._iteration_ended, interval=0.025)

    @property
    def threshold(self) -> float:
        return self._threshold()

    @property
    def grace(self) -> float:
        """How long an iteration runs before the thread starts sampling it."""
        return max(0.001, min(0.025, self.threshold / 4))

    def start(self) -> None:
        """Start watching; call it from the loop's thread."""
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self.probe.install()
        self._thread = threading.Thread(target=self._watch, name="asyncrepl-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._home.set()
        self.probe.uninstall()
        self.probe.wake()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.probe.woke()  # the loop's thread no longer hands the GIL over

    def paused(self) -> None:
        """Tell the monitor the loop stopped running (its runner returned)."""
        self.probe.paused()

    def current_lag(self) -> float:
        """How long the loop's iteration running now has run (0 while it
        waits for events or is not running); from any thread."""
        probe = self.probe
        if probe.waiting or not self.loop.is_running():
            return 0.0
        return max(0.0, time.monotonic() - probe.busy_since)

    def stop_loop_after(self, future: asyncio.Future | None) -> bool:
        """Stop the loop once *future* is done, as ``future.add_done_callback(
        lambda _: loop.stop())`` would, but cheaper (see
        :meth:`_SelectorProbe.stop_loop_after`); None: no longer.  False where
        the probe cannot (a loop without a selector, or the probe not
        installed): add the done callback then."""
        probe = self.probe
        if not isinstance(probe, _SelectorProbe):
            return False
        if future is not None and not probe.installed:
            return False
        probe.stop_loop_after(future)
        return True

    def can_run_inline(self) -> bool:
        """Whether :meth:`run_inline` can run a step (a loop with a selector,
        the probe installed)."""
        return isinstance(self.probe, _SelectorProbe) and self.probe.installed

    def run_inline(self, step: Callable[[], None] | None) -> None:
        """See :meth:`_SelectorProbe.run_inline` (None: no longer)."""
        self.probe.run_inline(step)

    @contextmanager
    def elsewhere(self):
        """While the loop's thread runs another loop (a script's, see
        ``_scripts``): this loop waits for the step that started it to
        return; nothing of that is sampled or reported, nor counted as lag."""
        self._home.clear()
        with self._lock:
            self._iteration = None
        try:
            yield
        finally:
            self.probe.resumed()
            self._home.set()

    # -- what Ctrl-C asks --

    def holding(self, task: asyncio.Task | None, frame, at_least: float) -> Hold | None:
        """The step running now (*task*, or the callback *frame* is in), if it
        has held the loop for *at_least* seconds; call from the loop's thread."""
        iteration, probe = self._iteration, self.probe
        if iteration is None or iteration.number != probe.iteration or probe.waiting or not iteration.holds:
            return None
        hold = iteration.holds[-1]
        if hold.step is not step_of(task, frame) or hold.samples < 2:
            return None
        return hold if time.monotonic() - hold.start >= at_least else None

    def saw_holding(self, task: asyncio.Task | None) -> bool:
        """Whether the samples of the iteration running now found the step of
        *task* (None: a callback) holding the loop, so that it is reported as
        the iteration ends; call from the loop's thread."""
        iteration = self._iteration
        if iteration is None or iteration.number != self.probe.iteration:
            return False
        return any(hold.task is task and hold.samples >= 2 for hold in list(iteration.holds))

    # -- the watching thread --

    def _watch(self) -> None:
        probe, stop = self.probe, self._stop
        while not stop.is_set():
            self._home.wait()
            probe.wait_busy(stop)
            if not self._watch_while_active():
                return

    def _watch_while_active(self) -> bool:
        """Look at the loop every *grace* seconds while it runs iterations, and
        sample one that has run that long; return once the loop stayed idle
        (or stopped) for a whole *grace* (False: the monitor stops).

        The probe wakes this thread only at the first iteration after such an
        idle spell (see ``_SelectorProbe.hand_over`` for what a wakeup costs).
        """
        probe, stop, loop = self.probe, self._stop, self.loop
        while self._home.is_set() and not stop.is_set():
            number, since, waiting = probe.iteration, probe.busy_since, probe.waiting
            if not waiting and loop.is_running() and time.monotonic() - since >= self.grace:
                self._sample(number, since)
                continue
            if probe.nap(stop, self.grace):
                return False
            if waiting and probe.iteration == number and probe.waiting:
                return True  # idle throughout: sleep until the next iteration starts
        return not stop.is_set()

    def _sample(self, number: int, since: float) -> None:
        """Sample the iteration running now until it ends; the loop's thread
        finishes it (see _iteration_ended), so that its reports come before
        anything else the loop runs."""
        probe = self.probe
        iteration = _Iteration(number, since)
        with self._lock:
            if not self._home.is_set():
                return
            self._iteration = iteration
        while not self._stop.is_set():
            frame = sys._current_frames().get(self._loop_thread)
            now = time.monotonic()
            task = asyncio.current_task(self.loop)
            step = step_of(task, frame)
            with self._lock:
                if self._iteration is not iteration or probe.iteration != number or probe.waiting:
                    break  # it ended, or the loop's thread went elsewhere
                if step is not None:
                    iteration.sample(step, task, now, _users_line(frame), in_debugger(frame))
                else:
                    iteration.no_step(now)
            if self.sampled and step is not None:
                self.sampled(iteration.holds[-1])
            del frame, task, step
            probe.nap(self._stop, _SAMPLE_EVERY)

    def _iteration_ended(self, start: float, end: float) -> None:
        """Called by the probe on the loop's thread at the end of each busy stretch."""
        self.lag.add(start, end)
        if self.iteration_ended:
            self.iteration_ended(start, end)
        if self._iteration is not None:
            self._finish(end)

    def _finish(self, end: float) -> None:
        with self._lock:
            iteration, self._iteration = self._iteration, None
        if iteration is None:
            return
        iteration.close(end)
        threshold = self.threshold
        for hold in iteration.holds:
            if hold.samples >= 2 and hold.duration >= threshold:
                hold.who = "a callback" if hold.task is None else self.describe(hold.task, hold)
                if self.held:
                    self.held(hold)
                # Kept for %asyncdebug without the task or the callback's frame.
                self.worst.append((hold.end, hold.kept()))
            hold.step = None

    def lag_report(self, seconds: float = 60.0, cell_namer: CellNamer | None = None) -> LagReport:
        """What %asyncdebug shows of the loop's lag over the last *seconds*."""
        from ._render.lag import LagReport

        p50, p99 = self.lag.percentiles((0.5, 0.99), seconds)
        return LagReport(
            seconds=min(seconds, time.monotonic() - self.lag.started),
            p50=p50,
            p99=p99,
            max=self.lag.maximum(seconds),
            holds=self.worst_holds(seconds),
            threshold=self.threshold,
            cell_namer=cell_namer,
        )

    def worst_holds(self, seconds: float = 60.0, count: int = 5) -> list[Hold]:
        """The longest holds over the threshold in the last *seconds*, longest first."""
        since = time.monotonic() - seconds
        recent = [hold for ended, hold in self.worst if ended >= since]
        return sorted(recent, key=lambda hold: hold.duration, reverse=True)[:count]


# -- reporting a blocked loop ----------------------------------------------------------------


class BlockedLoopReporter:
    """Reports each step that held the loop longer than the threshold, with its line.

    Never reported: the REPL's own tasks (a cell computing is the user's own
    cell code), a step stopped in the debugger, and tasks Ctrl-C already named.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        registry: TaskRegistry | None = None,
        cell_namer: CellNamer | None = None,
        cell_context: Callable[[], contextvars.Context | None] = lambda: None,
    ):
        self.loop = loop
        self.registry = registry
        self.cell_namer = cell_namer
        self.cell_context = cell_context
        self.enabled = True
        # Asked with a task before it is reported: whether another part has
        # already named it (Ctrl-C's "task 3 held the loop" message).
        self.named_elsewhere = Hook("named_elsewhere")
        self._reported_unseen: weakref.WeakSet = weakref.WeakSet()  # see report_unseen

    def __call__(self, hold: Hold) -> None:
        """Called on the loop's thread as the iteration that held it ends."""
        if hold.task is not None and hold.task in self._reported_unseen:
            self._reported_unseen.discard(hold.task)  # reported already, from asyncio's timing
            return
        if not hold.debugger:
            self.report(hold.task, hold.duration, hold.line)

    def report_unseen(self, task: asyncio.Task | None, seconds: float, callback: str | None = None) -> None:
        """A step that asyncio's debug mode timed at *seconds* and the
        monitor's samples missed (its thread did not get to run meanwhile):
        reported as the others, without its line, which only samples find;
        a callback by its name (*callback*), as asyncio's Handle knows it."""
        if task is not None:
            self._reported_unseen.add(task)
        self.report(task, seconds, None, callback)

    def report(self, task: asyncio.Task | None, seconds: float, line: tuple[str, int] | None, callback: str | None = None) -> None:
        if not self.enabled:
            return
        if task is not None and (is_repl_machinery(task) or self.named_elsewhere.any(task)):
            return
        where = "" if line is None else (
            f" at {code_location(line[0], line[1], self.cell_namer)}: {linecache.getline(line[0], line[1]).strip()}"
        )
        if task is not None:
            if self.registry is not None:
                who, context = f"task {self.registry.label(task)}", self.registry.context_of(task)
            else:
                who, context = f"task {task_label('?', task.get_name(), coroutine_name(task))}", None
        else:
            who, context = f"a callback ({callback})" if callback else "a callback", self.cell_context()
        report(f"{who} held the loop for {seconds:.2f} s{where}", context)


# -- asyncio's own slow-callback log -------------------------------------------------------------


def _handle_being_reported():
    """The Handle whose run asyncio's slow-callback warning is about.

    PRIVATE (CPython 3.11-3.15): asyncio logs the warning from
    ``BaseEventLoop._run_once`` (debug mode only) while ``_current_handle``
    still holds the handle it ran.  The record itself carries only the
    handle's repr.
    """
    try:
        return current_handle(asyncio.get_running_loop())
    except RuntimeError:
        return None


def _task_of(handle) -> asyncio.Task | None:
    """The task a Handle runs a step of: a task step's ``Handle._callback``
    is a bound method or C method wrapper whose ``__self__`` is the task."""
    owner = getattr(handle_callback(handle), "__self__", None)
    return owner if isinstance(owner, asyncio.Task) else None


def callback_name(handle) -> str | None:
    """What a Handle calls, as its code names it (``_SelectorSocketTransport._read_ready``)."""
    callback = handle_callback(handle)
    return callable_name(callback) if callback is not None else None


class _MachineryFilter(logging.Filter):
    """Drop asyncio's "Executing <Task ...> took N seconds" where asyncrepl
    reports that step itself, and always about IPython's own tasks and about
    tasks that Ctrl-C stopped (asyncrepl has named those).

    *replaced(task, seconds, callback)*: whether asyncrepl reports the step
    of *task* (None: a callback, *callback* naming it) that asyncio is about
    to report as taking *seconds* (see ``Session._asyncio_timed_slow_step``).
    """

    def __init__(self, already_reported=(), replaced=lambda task, seconds, callback: False):
        super().__init__()
        self.already_reported = already_reported  # tasks, compared by identity
        self.replaced = replaced

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Executing %s took %.3f seconds" and record.args:
            handle = _handle_being_reported()
            task = _task_of(handle)
            if task is not None and (is_repl_machinery(task) or task in self.already_reported):
                return False
            callback = None if task is not None or handle is None else callback_name(handle)
            if self.replaced(task, record.args[1] if len(record.args) > 1 else 0.0, callback):
                return False
        return True
