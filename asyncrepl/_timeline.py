"""Recording which tasks ran and waited when (``%%timeline``).

While a :class:`Recorder` is active in a context, every task created in that
context (and so every task those create, which inherit it) runs its coroutine
through :class:`_Timed`, which notes when each step starts and ends, and what
the task awaits after it: a step is the coroutine running between two awaits.
Between steps a task waits.

A :class:`Timeline` is the recording, plain data; drawing it (text, SVG,
the Chrome Trace Event format for Perfetto) is the rendering layer's
(``_render.timeline``).  Nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import time
import weakref
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from ._tasks import outcome
from ._tasks.registry import chained
from ._tasks.awaits import _gathered, _ids
from ._tasks.code import _kind_of_code

__all__ = ["Recorder", "Timeline", "Track", "Wait", "recording", "task_wrapper"]

_recording: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("asyncrepl_timeline", default=None)

RUN, WAIT = "█", "─"
ENDS = {"returned": "●", "raised": "✗", "cancelled": "○", "running": "→"}
_ENDINGS = {"returned": "returned", "raised": "raised", "cancelled": "cancelled", "running": "still running"}

FIRST_TURN = "its first turn"  # created, not yet run: the loop has not got to it


class Wait(NamedTuple):
    """A stretch between two steps of a task: what it waited on, in words, and
    the ids of the recorded tasks among what it waited on."""

    start: float
    end: float
    on: str = ""
    tasks: tuple = ()


@dataclass
class Track:
    """One task's life on the timeline; times in seconds from the start of the cell."""

    id: int | str
    name: str
    coroutine: str
    created: float
    steps: list[tuple[float, float]] = field(default_factory=list)
    ended: float | None = None  # None: still running when the cell ended
    outcome: str = "running"  # "returned", "raised", "cancelled", "running"
    count: int = 1  # tasks in this row (rows grouped by coroutine)
    created_by: int | str | None = None  # the id of the recorded task (or "cell") that created it
    # What the task awaited after each step: (words, ids of recorded tasks).
    awaited: list[tuple[str, tuple]] = field(default_factory=list)
    # When the recording ended (the cell did): a task still running then lived until it.
    recorded_until: float | None = None

    @property
    def lifetime(self) -> float:
        """From its creation to its end, or to the end of the recording if it
        was still running then."""
        if self.ended is not None:
            end = self.ended
        elif self.recorded_until is not None:
            end = self.recorded_until
        else:
            end = self.steps[-1][1] if self.steps else self.created
        return max(0.0, end - self.created)

    @property
    def running_time(self) -> float:
        return sum(end - start for start, end in self.steps)

    @property
    def waits(self) -> list[Wait]:
        """The stretches between its creation and its first step, and between steps."""
        gaps, previous = [], self.created
        for index, (start, end) in enumerate(self.steps):
            if start > previous:
                gaps.append(Wait(previous, start, *self._awaited_before(index)))
            previous = end
        return gaps

    def _awaited_before(self, step: int) -> tuple[str, tuple]:
        if step == 0:
            return FIRST_TURN, ()
        return self.awaited[step - 1] if step - 1 < len(self.awaited) else ("", ())

    @property
    def label(self) -> str:
        """``4 worker fetch()``; ``cell``; ``30 × fetch()`` for a grouped row."""
        if self.id == "cell":
            return "cell"
        if self.count > 1:
            return f"{self.count} × {self.coroutine}()"
        return _printable(f"{self.id} {self.name} {self.coroutine}()")

    def stretches(self, until: float) -> list[tuple[str, float, float, str, tuple]]:
        """("ran" | "waited", start, end, on what, task ids) from creation to its
        end, or to *until* if it was still running: they add up to its life."""
        out, previous = [], self.created
        for index, (start, end) in enumerate(self.steps):
            if start > previous:
                out.append(("waited", previous, start, *self._awaited_before(index)))
            out.append(("ran", start, end, "", ()))
            previous = end
        end = until if self.ended is None else self.ended
        if end > previous:  # still waiting when the cell ended (or, in a grouped row, some were)
            out.append(("waited", previous, end, *self._awaited_before(len(self.steps))))
        return out


@dataclass
class Timeline:
    """What ``%%timeline -o`` returns: the cell's row first, then its tasks."""

    wall: float
    tracks: list[Track]
    grouped: bool = False  # rows are groups of tasks by coroutine

    @property
    def cell(self) -> Track:
        return self.tracks[0]

    @property
    def tasks(self) -> list[Track]:
        return self.tracks[1:]

    @property
    def lifetimes(self) -> float:
        """The tasks' lifetimes added up (a grouped row counts once per task in it)."""
        return sum(track.lifetime * track.count for track in self.tasks)

    @property
    def concurrency(self) -> float:
        return self.lifetimes / self.wall if self.wall > 0 else 0.0

    def summary(self) -> str:
        if not self.tasks:
            return f"wall {self.wall:.3g} s; no tasks were created"
        count = sum(track.count for track in self.tasks)
        return (
            f"wall {self.wall:.3g} s; {count} task{'s' if count != 1 else ''} lived "
            f"{self.lifetimes:.3g} s in all; concurrency {self.concurrency:.1f}x"
        )

    def to_chrome_trace(self) -> dict:
        """The recording in the Chrome Trace Event format, as a JSON-ready dict.

        Save it with ``json.dump`` (or ``%%timeline --save PATH.json``) and open
        it in https://ui.perfetto.dev, chrome://tracing or https://speedscope.app:
        one track per task, its steps as slices named after its coroutine, its
        waits as slices named after what it waited on, its ending as a mark, and
        arrows from where a task was created and from the tasks it awaited.
        """
        from ._render.timeline import chrome_trace  # drawing is the rendering layer's

        return chrome_trace(self)

    def _repr_pretty_(self, p, cycle) -> None:
        from ._render.timeline import draw_text

        p.text(draw_text(self))

    def _repr_svg_(self) -> str:
        from ._render.timeline import draw_svg

        return draw_svg(self)


class _Timed(collections.abc.Coroutine):
    """A coroutine that times each of its steps; reads like the coroutine it
    wraps, and await-chain readers (``%tasks``, where a cell waits) look
    through it to that coroutine's frames (``asyncrepl_drives``)."""

    __slots__ = ("_coro", "_track", "_yields", "_recorder", "_clock", "_origin")

    def __init__(self, coro, track: Track, yields: list, recorder: Recorder):
        self._coro, self._track, self._yields, self._recorder = coro, track, yields, recorder
        self._clock, self._origin = recorder.clock, recorder.origin

    @property
    def asyncrepl_drives(self):
        return self._coro

    def send(self, value):
        __tracebackhide__ = True
        if self._recorder.finished_at is not None:  # the cell is over: its chart is drawn
            return self._coro.send(value)
        start = self._clock()
        try:
            awaited = self._coro.send(value)
        finally:
            self._track.steps.append((start - self._origin, self._clock() - self._origin))
        if awaited is not None:  # a bare yield (sleep(0)) is the rule when none is noted
            self._yields.append((len(self._track.steps) - 1, *_awaiting(awaited, self._coro)))
        return awaited

    def throw(self, *args):
        __tracebackhide__ = True
        if self._recorder.finished_at is not None:
            return self._coro.throw(*args)
        start = self._clock()
        try:
            awaited = self._coro.throw(*args)
        finally:
            self._track.steps.append((start - self._origin, self._clock() - self._origin))
        if awaited is not None:
            self._yields.append((len(self._track.steps) - 1, *_awaiting(awaited, self._coro)))
        return awaited

    def close(self):
        return self._coro.close()

    def __await__(self):
        return self._coro.__await__()

    def __getattr__(self, name):
        # cr_frame, cr_await, cr_code, __qualname__...: what asyncio's reprs
        # and asyncrepl's introspection read, from the wrapped coroutine.
        return getattr(self._coro, name)

    def __repr__(self) -> str:
        return repr(self._coro)


def _awaiting(awaited, coro) -> tuple:
    """What a task yielded to asyncio after a step, which is what it now waits
    on: a future (sleep's, a gather's, a task) or None (a bare yield, as in
    sleep(0)); and for a plain future, the asyncio call that made it, which only
    the await chain tells, and only now.  Described when the cell ends."""
    if isinstance(awaited, asyncio.Task) or _gathered(awaited):
        return awaited, None
    return awaited, _asyncio_call(coro)


def _asyncio_call(coro):
    """The asyncio function (sleep, Queue.get...) that *coro*'s await chain is
    suspended in, as the code object of its outermost asyncio frame, if any."""
    awaitable = coro
    while awaitable is not None:
        code = getattr(awaitable, "cr_code", None) or getattr(awaitable, "gi_code", None)
        if code is None:
            return None
        if _kind_of_code(code) == "asyncio":
            return code
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return None


class Recorder:
    """Records the steps of a cell and of the tasks created under it.

    *task_id* names tasks that were not recorded (one the cell awaits that was
    running before it) in the descriptions of what a task waited on.
    """

    def __init__(self, clock=time.perf_counter, task_id=lambda task: "?", task_name=asyncio.Task.get_name):
        self.clock = clock
        self.task_id = task_id
        self.task_name = task_name
        self.origin = clock()
        self.tracks: list[Track] = []
        self.finished_at: float | None = None
        self._track_of: weakref.WeakKeyDictionary[asyncio.Task, Track] = weakref.WeakKeyDictionary()
        # per track: (step, *_awaiting()) after each step that did not just yield
        self._yields: list[list[tuple]] = []

    def context(self) -> contextvars.Context:
        """A context in which tasks are recorded (run the cell's task in it)."""
        context = contextvars.copy_context()
        context.run(_recording.set, self)
        return context

    def wrap(self, coro, name: str, ident="cell", created_by=None):
        track = Track(
            ident,
            name,
            getattr(coro, "__qualname__", type(coro).__name__),
            self.clock() - self.origin,
            created_by=created_by,
        )
        yields: list[tuple] = []
        self.tracks.append(track)
        self._yields.append(yields)
        return _Timed(coro, track, yields, self), track

    def track_of(self, task) -> Track | None:
        return self._track_of.get(task) if task is not None else None

    def track_task(self, task, track: Track) -> None:
        """Note how *task* ends (and its name, which asyncio sets after creating it)."""
        self._track_of[task] = track

        def done(task) -> None:
            if self.finished_at is not None:
                return  # ended after the cell: not in its chart
            track.name = self.task_name(task)
            # It ended in its last step; its done callbacks run a moment later.
            track.ended = track.steps[-1][1] if track.steps else self.clock() - self.origin
            track.outcome = outcome(task)

        task.add_done_callback(done)

    def _describe(self, awaited, call) -> tuple[str, tuple]:
        """What a task waited on, in words, and which recorded tasks that was."""
        if awaited is None:
            return "its turn (a bare yield, as sleep(0))", ()
        if isinstance(awaited, asyncio.Task):
            track = self.track_of(awaited)
            return f"task {self._id_of(awaited)}", (track.id,) if track else ()
        children = _gathered(awaited)
        if children:
            ids = tuple(track.id for track in map(self.track_of, children) if track is not None)
            return f"gather of task{'s' if len(children) > 1 else ''} {_ids(children, self._id_of)}", ids
        if call is not None:
            return ("sleep" if call.co_name == "sleep" else f"{call.co_qualname}()"), ()
        return type(awaited).__name__, ()

    def _awaited(self, steps: int, yields: list[tuple]) -> list[tuple[str, tuple]]:
        """What the task waited on after each of its first *steps* steps."""
        awaited = [self._describe(None, None)] * max(0, steps)
        for step, future, call in yields:
            if step < steps:
                awaited[step] = self._describe(future, call)
        return awaited

    def _id_of(self, task) -> int | str:
        track = self.track_of(task)
        return track.id if track is not None else self.task_id(task)

    def finish(self) -> Timeline:
        """Stop recording; the recording so far as a Timeline."""
        self.finished_at = self.clock() - self.origin
        for task, track in list(self._track_of.items()):
            if track.id != "cell":
                track.name = self.task_name(task)
        # Time starts when the cell starts to run: before that, nothing of the
        # user's ran (the cell's task waited for the loop to get to it).
        zero = self.tracks[0].steps[0][0] if self.tracks and self.tracks[0].steps else 0.0
        wall = self.finished_at - zero
        snapshot = [
            replace(
                track,
                created=max(0.0, track.created - zero),
                steps=[(start - zero, end - zero) for start, end in track.steps],
                ended=None if track.ended is None else track.ended - zero,
                awaited=self._awaited(len(track.steps) - (track.ended is not None), yields),
                recorded_until=wall,
            )
            for track, yields in zip(self.tracks, self._yields)
        ]
        # Nothing more is recorded; let go of the futures and tasks it held.
        self._yields.clear()
        self._track_of.clear()
        return Timeline(wall, snapshot)


def task_wrapper():
    """A subscriber of the task registry's ``wrapping`` hook that records
    tasks created where a Recorder is active, and leaves all others alone."""

    def wrap(coro):
        active = recording()
        if active is None or active.finished_at is not None:
            return coro, None
        try:
            creator = active.track_of(asyncio.current_task())
        except RuntimeError:  # no running loop: made from plain code
            creator = None
        timed, track = active.wrap(coro, "", ident="?", created_by=creator.id if creator else None)

        def created(task) -> None:
            track.id = active.task_id(task)
            active.track_task(task, track)

        return timed, created

    return chained(wrap)


def recording() -> Recorder | None:
    """The recorder active in the current context, if any."""
    return _recording.get()


def _printable(text: str) -> str:
    """*text* with control and other invisible characters as ``?`` (a task
    name may hold anything; a terminal or an SVG must not act on it)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)
