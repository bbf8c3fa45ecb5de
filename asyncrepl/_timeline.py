"""Recording which tasks ran and waited when, and drawing it.

While a :class:`Recorder` is active in a context, every task created in that
context (and so every task those create, which inherit it) runs its coroutine
through :class:`_Timed`, which notes when each step starts and ends, and what
the task awaits after it: a step is the coroutine running between two awaits.
Between steps a task waits.

The drawing is one row per task on a shared time axis, as the execution-flow
figures of asyncio books: ``█`` where the task ran, ``─`` where it waited, and a
mark where it ended; as text for a terminal, or as an SVG image for a notebook.
:meth:`Timeline.to_chrome_trace` gives the same recording in the Chrome Trace
Event format, for Perfetto.  Nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import html
import math
import time
import unicodedata
import weakref
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from ._tasks import outcome, task_label
from ._tasks.registry import chained
from ._tasks.awaits import _gathered, _ids
from ._tasks.code import _kind_of_code
from ._timing import format_time

__all__ = ["Recorder", "Timeline", "Track", "Wait", "draw_svg", "draw_text", "recording", "task_wrapper"]

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
        return chrome_trace(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(draw_text(self))

    def _repr_svg_(self) -> str:
        return draw_svg(self)


class _Timed(collections.abc.Coroutine):
    """A coroutine that times each of its steps; reads like the coroutine it wraps."""

    __slots__ = ("_coro", "_track", "_yields", "_recorder", "_clock", "_origin")

    def __init__(self, coro, track: Track, yields: list, recorder: Recorder):
        self._coro, self._track, self._yields, self._recorder = coro, track, yields, recorder
        self._clock, self._origin = recorder.clock, recorder.origin

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


# -- shared by the drawings -------------------------------------------------------------------


def _printable(text: str) -> str:
    """*text* with control and other invisible characters as ``?`` (a task
    name may hold anything; a terminal or an SVG must not act on it)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def _columns(text: str) -> int:
    """How many monospace columns *text* takes (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip_columns(text: str, columns: int) -> str:
    """*text*, cut with ``…`` to at most *columns* monospace columns."""
    if _columns(text) <= columns:
        return text
    out, used = [], 0
    for char in text:
        width = _columns(char)
        if used + width > columns - 1:
            break
        out.append(char)
        used += width
    return "".join(out) + "…"


def group_by_coroutine(timeline: Timeline, limit: int) -> Timeline:
    """With more than *limit* task rows, one row per coroutine: ran where any ran."""
    if len(timeline.tasks) <= limit:
        return timeline
    groups: dict[str, list[Track]] = {}
    for track in timeline.tasks:
        groups.setdefault(track.coroutine, []).append(track)
    rows = [timeline.cell]
    for coroutine, tracks in groups.items():
        ended = [t.ended for t in tracks if t.ended is not None]
        outcomes = {t.outcome for t in tracks}
        rows.append(
            Track(
                id=f"×{len(tracks)}",
                name=f"{len(tracks)} tasks",
                coroutine=coroutine,
                created=min(t.created for t in tracks),
                steps=_union(step for t in tracks for step in t.steps),
                ended=max(ended) if len(ended) == len(tracks) else None,
                outcome=outcomes.pop() if len(outcomes) == 1 else "running" if "running" in outcomes else "returned",
                count=len(tracks),
                recorded_until=timeline.wall,
            )
        )
    return Timeline(timeline.wall, rows, grouped=True)


def _union(steps) -> list[tuple[float, float]]:
    """Overlapping or touching intervals merged, in order."""
    merged: list[tuple[float, float]] = []
    start = end = None
    for next_start, next_end in sorted(steps):
        if end is not None and next_start <= end:
            end = max(end, next_end)
            continue
        if end is not None:
            merged.append((start, end))
        start, end = next_start, next_end
    if end is not None:
        merged.append((start, end))
    return merged


def _span(timeline: Timeline) -> float:
    return max(timeline.wall, max((t.ended or 0.0) for t in timeline.tracks), 1e-9)


def _tick_step(span: float, slots: int) -> float:
    """The smallest 1-2-5 step that gives at most *slots* ticks over *span*."""
    target = span / max(1, slots)
    for magnitude in range(-6, 6):
        for base in (1, 2, 5):
            step = base * 10.0**magnitude
            if step >= target:
                return step
    return span


def _ticks(span: float, step: float) -> list[float]:
    count = int(span / step + 1e-9)
    return [index * step for index in range(count + 1)]


def _format_tick(seconds: float, step: float) -> str:
    if step >= 0.1:
        return f"{round(seconds, 6):g} s"
    if step >= 1e-4:
        return f"{round(seconds * 1e3, 6):g} ms"
    return f"{round(seconds * 1e6, 6):g} μs"


# -- text ---------------------------------------------------------------------------------------


def draw_text(timeline: Timeline, width: int = 100, limit: int = 40) -> str:
    """The timeline as text, *width* columns wide."""
    shown = group_by_coroutine(timeline, limit)
    labels = [track.label for track in shown.tracks]
    label_width = min(max(_columns(label) for label in labels), max(12, width // 3))
    columns = max(10, width - label_width - 4)
    span = _span(shown)
    per_column = span / columns

    lines = []
    for track, label in zip(shown.tracks, labels):
        end = track.ended if track.ended is not None else span
        cells = [" "] * columns
        # waiting from the column it was created in to the one it ended in,
        # running in every column a step overlaps or starts in
        for column in range(_column_of(track.created, per_column, columns), _last_column(end, per_column, columns) + 1):
            cells[column] = WAIT
        marked = -1  # the steps come in order: the columns up to here are marked
        for start, stop in track.steps:
            if stop < (marked + 1) * per_column:
                continue  # inside a column marked already (thousands of short steps)
            first = _column_of(start, per_column, columns)
            last = max(first, _last_column(stop, per_column, columns))
            for column in range(max(first, marked + 1), last + 1):
                cells[column] = RUN
            marked = max(marked, last)
        mark_at = min(columns - 1, int(end / per_column)) if track.ended is not None else columns - 1
        cells[mark_at] = ENDS[track.outcome]
        text = _clip_columns(label, label_width)
        lines.append(f"{text}{' ' * (label_width - _columns(text))}  {''.join(cells)}")

    step = _tick_step(span, columns // 12)
    axis = [" "] * columns
    ruler = ["─"] * columns
    for tick in _ticks(span, step):
        column = min(columns - 1, int(round(tick / per_column)))
        ruler[column] = "┬" if column else "┌"
        text = _format_tick(tick, step)
        start = column if column + len(text) <= columns else columns - len(text)  # the last one, right-aligned
        if start >= 0 and all(c == " " for c in axis[max(0, start - 1) : start + len(text) + 1]):
            axis[start : start + len(text)] = text
    pad = " " * (label_width + 2)
    lines.append(pad + "".join(ruler))
    lines.append(pad + "".join(axis).rstrip())
    legend = f"{RUN} running  {WAIT} waiting  ● returned  ✗ raised  ○ cancelled  → still running"
    lines.append(legend)
    if shown.grouped:
        lines.append(f"{len(timeline.tasks)} tasks, shown as one row per coroutine (more than {limit} rows)")
    lines.append(timeline.summary())
    return "\n".join(lines)


def _column_of(seconds: float, per_column: float, columns: int) -> int:
    """The column whose stretch of time holds *seconds*."""
    return min(columns - 1, max(0, math.floor(seconds / per_column)))


def _last_column(seconds: float, per_column: float, columns: int) -> int:
    """The last column whose stretch of time begins before *seconds*."""
    return min(columns - 1, math.ceil(seconds / per_column) - 1)


# -- SVG ----------------------------------------------------------------------------------------

# Notebooks show an image/svg+xml output as an <img> (JupyterLab, nbconvert's
# HTML) or inline (VS Code), on a light or a dark page, and an <img> sees no
# page CSS and no currentColor.  So every colour here is fixed, and each keeps
# at least 4:1 contrast against white (#fff), JupyterLab's dark (#111) and VS
# Code's dark (#1e1e1e) backgrounds alike; 4.08:1 is the most any one colour
# can keep against both #fff and #1e1e1e.  Endings differ in shape too.
INK = "#7e7e7e"  # text, axis, waiting lines: 4.06 on #fff, 4.65 on #111, 4.11 on #1e1e1e
COLOURS = {
    "running": "#367fd4",  # 4.08, 4.62, 4.08
    "returned": "#249035",  # 4.10, 4.60, 4.06
    "raised": "#df4747",  # 4.09, 4.61, 4.07
    "cancelled": "#c4630a",  # 4.09, 4.62, 4.08
}
_FONT = 12  # px, monospace
_CHAR = 0.62 * _FONT  # an upper bound for a monospace font's advance
_ROW = 20
_PAD = 8
_CHART = 640  # px for the time axis
_MARKER = 14  # px right of the axis for an ending mark
_LABEL_COLUMNS = 40  # longer labels are cut, with the full label in their tooltip


def _xml(text: str) -> str:
    return html.escape(_printable(text), quote=True)


def _svg_text(x: float, y: float, text: str, anchor: str = "start", title: str | None = None) -> str:
    tooltip = f"<title>{_xml(title)}</title>" if title else ""
    anchor_attribute = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{anchor_attribute}>{tooltip}{_xml(text)}</text>'


def _ending_mark(x: float, middle: float, ending: str, title: str = "") -> str:
    """● returned, ✗ raised, ○ cancelled, → still running: shapes, not glyphs,
    so they look the same in every font."""
    tooltip = f"<title>{_xml(title)}</title>" if title else ""
    if ending == "returned":
        return f'<circle cx="{x:.1f}" cy="{middle}" r="4.5" fill="{COLOURS["returned"]}">{tooltip}</circle>'
    if ending == "raised":
        colour = COLOURS["raised"]
        return (
            f'<path d="M{x - 4:.1f} {middle - 4}L{x + 4:.1f} {middle + 4}M{x - 4:.1f} {middle + 4}L{x + 4:.1f} {middle - 4}" '
            f'stroke="{colour}" stroke-width="2.2" fill="none">{tooltip}</path>'
        )
    if ending == "cancelled":
        colour = COLOURS["cancelled"]
        return f'<circle cx="{x:.1f}" cy="{middle}" r="3.8" stroke="{colour}" stroke-width="2" fill="none">{tooltip}</circle>'
    return f'<path d="M{x - 4:.1f} {middle - 5}L{x + 5:.1f} {middle}L{x - 4:.1f} {middle + 5}Z" fill="{INK}">{tooltip}</path>'


def _blocks(track: Track, until: float, scale: float) -> list[tuple[str, float, float, str]]:
    """The row's stretches as drawn: ("ran" | "waited", start, end, tooltip).
    Steps less than a pixel apart merge into one block (a task of 10,000 short
    steps is one solid bar, whose tooltip counts them)."""
    blocks: list[list] = []  # [kind, start, end, what it waited on | steps in it, time running]
    for kind, start, end, on, _ in track.stretches(until):
        after_a_step = bool(blocks) and blocks[-1][0] == "ran"
        if after_a_step and kind == "waited" and (end - start) * scale < 1:
            continue  # a sliver of waiting inside a busy block
        if after_a_step and kind == "ran" and (start - blocks[-1][2]) * scale < 1:
            block = blocks[-1]
            block[2:] = [end, block[3] + 1, block[4] + end - start]
            continue
        blocks.append([kind, start, end, 1, end - start] if kind == "ran" else [kind, start, end, on, 0.0])
    who = track.label
    out = []
    for kind, start, end, detail, running in blocks:
        if kind == "waited":
            what = f" for {detail}" if detail else ""
            title = f"{who}: waited{what} from {start:.4g} s, {format_time(end - start)}"
        elif detail == 1:
            title = f"{who}: ran from {start:.4g} s, {format_time(end - start)}"
        else:
            title = f"{who}: ran {detail} steps from {start:.4g} s to {end:.4g} s, {format_time(running)} of it running"
        out.append((kind, start, end, title))
    return out


def _legend(x: float, y: float) -> tuple[list[str], float]:
    """The legend on one line from (x, y): its parts, and the x where it ends."""
    middle = y - 4
    parts = []
    for key, words in (("ran", "running"), ("waited", "waiting"), *_ENDINGS.items()):
        if key == "ran":
            parts.append(f'<rect x="{x:.1f}" y="{middle - 6}" width="14" height="12" fill="{COLOURS["running"]}"/>')
        elif key == "waited":
            parts.append(f'<rect x="{x:.1f}" y="{middle - 1.5}" width="14" height="3" fill="{INK}"/>')
        else:
            parts.append(_ending_mark(x + 7, middle, key))
        parts.append(_svg_text(x + 20, y, words))
        x += 20 + len(words) * _CHAR + 16
    return parts, x


def draw_svg(timeline: Timeline, limit: int = 40) -> str:
    """The timeline as an SVG image: rows of bars on a time axis, a legend and
    the summary, with a tooltip (``<title>``) on every stretch and label."""
    shown = group_by_coroutine(timeline, limit)
    span = _span(shown)
    label_columns = min(_LABEL_COLUMNS, max(_columns(track.label) for track in shown.tracks))
    chart_x = _PAD + label_columns * _CHAR + 12
    scale = _CHART / span
    rows = len(shown.tracks)
    axis_y = _PAD + rows * _ROW + 2
    legend_y = axis_y + 36
    notes = [timeline.summary()]
    if shown.grouped:
        notes.insert(0, f"{len(timeline.tasks)} tasks, shown as one row per coroutine (more than {limit} rows)")
    width = chart_x + _CHART + _MARKER + _PAD
    legend, legend_end = _legend(_PAD, legend_y)
    width = max(width, legend_end + _PAD, _PAD * 2 + max(len(note) for note in notes) * _CHAR)
    height = legend_y + 18 * len(notes) + _PAD

    parts = []
    for index, track in enumerate(shown.tracks):
        top = _PAD + index * _ROW
        middle = top + _ROW / 2
        label = track.label
        parts.append(_svg_text(_PAD, middle + 4, _clip_columns(label, label_columns), title=_row_title(track)))
        for kind, start, end, title in _blocks(track, span, scale):
            x = chart_x + start * scale
            w = max(2.0 if kind == "ran" else 1.0, (end - start) * scale)
            if kind == "ran":
                parts.append(
                    f'<rect x="{x:.1f}" y="{middle - 6}" width="{w:.1f}" height="12" fill="{COLOURS["running"]}">'
                    f"<title>{_xml(title)}</title></rect>"
                )
            else:
                parts.append(
                    f'<rect x="{x:.1f}" y="{middle - 1.5}" width="{w:.1f}" height="3" fill="{INK}">'
                    f"<title>{_xml(title)}</title></rect>"
                )
        end = track.ended if track.ended is not None else span
        mark_x = chart_x + end * scale + 6 if track.ended is not None else chart_x + _CHART + 6
        parts.append(_ending_mark(mark_x, middle, track.outcome, _ending_title(track)))

    parts.append(f'<rect x="{chart_x:.1f}" y="{axis_y}" width="{_CHART}" height="1" fill="{INK}"/>')
    step = _svg_tick_step(span, scale)
    for tick in _ticks(span, step):
        x = chart_x + tick * scale
        parts.append(f'<rect x="{x - 0.5:.1f}" y="{axis_y}" width="1" height="5" fill="{INK}"/>')
        text = _format_tick(tick, step)
        anchor = "end" if x + len(text) * _CHAR / 2 > chart_x + _CHART + _MARKER else "middle"
        parts.append(_svg_text(x, axis_y + 17, text, anchor))
    parts.extend(legend)
    for index, note in enumerate(notes):
        parts.append(_svg_text(_PAD, legend_y + 18 * (index + 1), note))
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="{_FONT}" fill="{INK}">'
        f"<title>%%timeline: {_xml(timeline.summary())}</title>"
    )
    return head + "".join(parts) + "</svg>"


def _svg_tick_step(span: float, scale: float) -> float:
    """A tick step whose labels (centred on their ticks) never touch."""
    slots = 8
    while True:
        step = _tick_step(span, slots)
        widest = max(len(_format_tick(tick, step)) for tick in _ticks(span, step))
        if slots == 1 or widest * _CHAR + 12 <= step * scale:
            return step
        slots -= 1


def _row_title(track: Track) -> str:
    if track.count > 1:
        return f"{track.label}: {track.count} tasks of {track.coroutine}(), {format_time(track.running_time)} running"
    made = f", created at {track.created:.4g} s" + (f" by {_by(track.created_by)}" if track.created_by is not None else "")
    steps = len(track.steps)
    return (
        f"{track.label}{made}; ran {steps} step{'s' if steps != 1 else ''}, "
        f"{format_time(track.running_time)} in all; {_ENDINGS[track.outcome]}"
    )


def _by(ident) -> str:
    return "the cell" if ident == "cell" else f"task {ident}"


def _ending_title(track: Track) -> str:
    if track.ended is None:
        return f"{track.label}: still running when the cell ended"
    return f"{track.label}: {_ENDINGS[track.outcome]} at {track.ended:.4g} s"


# -- Chrome Trace Event format ------------------------------------------------------------------


def chrome_trace(timeline: Timeline) -> dict:
    """See :meth:`Timeline.to_chrome_trace`."""
    pid = 1
    events: list[dict] = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "%%timeline"}}]
    tids: dict[int | str, int] = {}
    slices: dict[int | str, list[tuple[str, float, float]]] = {}  # per track, for the arrows

    def at(seconds: float) -> float:
        """Microseconds (the format's unit), to the nanosecond."""
        return round(seconds * 1e9) / 1000

    for index, track in enumerate(timeline.tracks):
        tid = tids[track.id] = index + 1
        name = "cell" if track.id == "cell" else task_label(track.id, track.name, track.coroutine)
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": _printable(name)}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": index}})
        own = slices[track.id] = []
        running = "cell" if track.id == "cell" else f"{track.coroutine}()"
        steps = 0
        for kind, start, end, on, tasks in track.stretches(timeline.wall):
            first, last = round(start * 1e9), round(end * 1e9)
            # A slice ends a nanosecond early: a viewer that truncates to whole
            # nanoseconds must not see it overlap the next one and nest them.
            timing = {"ph": "X", "pid": pid, "tid": tid, "ts": first / 1000, "dur": max(0, last - first - 1) / 1000}
            if kind == "ran":
                steps += 1
                events.append({**timing, "name": running, "cat": "running", "args": {"step": steps}})
            else:
                args = {"on": on, "tasks": list(tasks)} if tasks else {"on": on}
                events.append({**timing, "name": f"waiting: {on}" if on else "waiting", "cat": "waiting", "args": args})
            own.append((kind, start, end))
        if track.ended is not None:
            events.append({"ph": "i", "s": "t", "name": track.outcome, "cat": "ending", "pid": pid, "tid": tid, "ts": at(track.ended)})

    # Arrows (flow events) bind to the slice around their timestamp, so each
    # points at the middle of the slice it means.
    def middle(piece: tuple[str, float, float] | None) -> float | None:
        return None if piece is None else (piece[1] + piece[2]) / 2

    def ran_around(track_id, seconds: float):
        """The step running at *seconds*, or the last one before it."""
        before = [piece for piece in slices[track_id] if piece[0] == "ran" and piece[1] <= seconds]
        return before[-1] if before else None

    def ran_from(track_id, seconds: float):
        return next((piece for piece in slices[track_id] if piece[0] == "ran" and piece[1] >= seconds), None)

    arrows = 0

    def arrow(name: str, source, source_at: float | None, target, target_at: float | None) -> None:
        nonlocal arrows
        if source_at is None or target_at is None:
            return
        arrows += 1
        events.append({"ph": "s", "id": arrows, "name": name, "cat": name, "pid": pid, "tid": tids[source], "ts": at(source_at)})
        events.append(
            {"ph": "f", "bp": "e", "id": arrows, "name": name, "cat": name, "pid": pid, "tid": tids[target], "ts": at(target_at)}
        )

    for track in timeline.tracks:
        if track.created_by in tids and slices[track.id]:
            first = slices[track.id][0]
            arrow("created", track.created_by, middle(ran_around(track.created_by, track.created)), track.id, middle(first))
        for wait in track.waits:
            if wait.tasks:
                resumed = middle(ran_from(track.id, wait.end))
                for awaited in wait.tasks:
                    if awaited in tids:
                        arrow("awaited by", awaited, middle(ran_around(awaited, wait.end)), track.id, resumed)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"generator": "asyncrepl %%timeline", "summary": timeline.summary()},
    }
