"""Recording which tasks ran and waited when, and drawing it.

While a :class:`Recorder` is active in a context, every task created in that
context (and so every task those create, which inherit it) runs its coroutine
through :class:`_Timed`, which notes when each step starts and ends: a step is
the coroutine running between two awaits.  Between steps a task waits.

The drawing is one row per task on a shared time axis, as the execution-flow
figures of asyncio books: ``█`` where the task ran, ``─`` where it waited, and a
mark where it ended.  Nothing here knows IPython.
"""

from __future__ import annotations

import collections.abc
import contextvars
import html
import time
import weakref
from dataclasses import dataclass, field, replace

from ._tasks import outcome

__all__ = ["Recorder", "Timeline", "Track", "draw_svg", "draw_text", "recording", "task_wrapper"]

_recording: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("asyncrepl_timeline", default=None)

RUN, WAIT = "█", "─"
ENDS = {"returned": "●", "raised": "✗", "cancelled": "○", "running": "→"}


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

    @property
    def lifetime(self) -> float:
        end = self.ended if self.ended is not None else (self.steps[-1][1] if self.steps else self.created)
        return max(0.0, end - self.created)

    @property
    def running_time(self) -> float:
        return sum(end - start for start, end in self.steps)

    @property
    def waits(self) -> list[tuple[float, float]]:
        """The stretches between steps."""
        gaps, previous = [], self.created
        for start, end in self.steps:
            if start > previous:
                gaps.append((previous, start))
            previous = end
        return gaps


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

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(draw_text(self))

    def _repr_html_(self) -> str:
        return draw_svg(self)


class _Timed(collections.abc.Coroutine):
    """A coroutine that times each of its steps; reads like the coroutine it wraps."""

    __slots__ = ("_coro", "_track", "_clock", "_origin")

    def __init__(self, coro, track: Track, clock, origin: float):
        self._coro, self._track, self._clock, self._origin = coro, track, clock, origin

    def send(self, value):
        __tracebackhide__ = True
        start = self._clock()
        try:
            return self._coro.send(value)
        finally:
            self._track.steps.append((start - self._origin, self._clock() - self._origin))

    def throw(self, *args):
        __tracebackhide__ = True
        start = self._clock()
        try:
            return self._coro.throw(*args)
        finally:
            self._track.steps.append((start - self._origin, self._clock() - self._origin))

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


class Recorder:
    """Records the steps of a cell and of the tasks created under it."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.origin = clock()
        self.tracks: list[Track] = []
        self._named: list[tuple[Track, object]] = []  # (track, weak ref to its task)
        self.finished_at: float | None = None

    def context(self) -> contextvars.Context:
        """A context in which tasks are recorded (run the cell's task in it)."""
        context = contextvars.copy_context()
        context.run(_recording.set, self)
        return context

    def wrap(self, coro, name: str, ident="cell"):
        track = Track(ident, name, getattr(coro, "__qualname__", type(coro).__name__), self.clock() - self.origin)
        self.tracks.append(track)
        return _Timed(coro, track, self.clock, self.origin), track

    def track_task(self, task, track: Track) -> None:
        """Note how *task* ends (and its name, which asyncio sets after creating it)."""
        self._named.append((track, weakref.ref(task)))

        def done(task) -> None:
            track.name = task.get_name()
            track.ended = self.clock() - self.origin
            track.outcome = outcome(task)

        task.add_done_callback(done)

    def finish(self) -> Timeline:
        self.finished_at = self.clock() - self.origin
        for track, ref in self._named:
            task = ref()
            if task is not None and track.id != "cell":
                track.name = task.get_name()
        # A snapshot: tasks still running go on changing their own tracks.
        return Timeline(self.finished_at, [replace(track, steps=list(track.steps)) for track in self.tracks])


def task_wrapper(task_id=lambda task: "?"):
    """The task factory hook (TaskRegistry.wrap_coroutine) that records tasks
    created where a Recorder is active, and leaves all others alone."""

    def wrap(coro):
        active = recording()
        if active is None:
            return coro, None
        timed, track = active.wrap(coro, "", ident="?")

        def created(task) -> None:
            track.id = task_id(task)
            active.track_task(task, track)

        return timed, created

    return wrap


def recording() -> Recorder | None:
    """The recorder active in the current context, if any."""
    return _recording.get()


# -- drawing ---------------------------------------------------------------------------------


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
                steps=sorted(step for t in tracks for step in t.steps),
                ended=max(ended) if len(ended) == len(tracks) else None,
                outcome=outcomes.pop() if len(outcomes) == 1 else "running" if "running" in outcomes else "returned",
                count=len(tracks),
            )
        )
    return Timeline(timeline.wall, rows, grouped=True)


def _tick_step(span: float, columns: int) -> float:
    target = span / max(1, columns // 12)
    for magnitude in range(-6, 6):
        for base in (1, 2, 5):
            step = base * 10.0**magnitude
            if step >= target:
                return step
    return span


def _format_tick(seconds: float, step: float) -> str:
    if step >= 0.1:
        return f"{round(seconds, 6):g} s"
    if step >= 1e-4:
        return f"{round(seconds * 1e3, 6):g} ms"
    return f"{round(seconds * 1e6, 6):g} μs"


def _label(track: Track) -> str:
    if track.id == "cell":
        return "cell"
    if track.count > 1:
        return f"{track.count} × {track.coroutine}()"
    return f"{track.id} {track.name} {track.coroutine}()"


def draw_text(timeline: Timeline, width: int = 100, limit: int = 40) -> str:
    """The timeline as text, *width* columns wide."""
    shown = group_by_coroutine(timeline, limit)
    labels = [_label(track) for track in shown.tracks]
    label_width = min(max(len(label) for label in labels), max(12, width // 3))
    columns = max(10, width - label_width - 4)
    span = max(shown.wall, max((t.ended or 0.0) for t in shown.tracks), 1e-9)
    per_column = span / columns

    lines = []
    for track, label in zip(shown.tracks, labels):
        cells = []
        end = track.ended if track.ended is not None else span
        for column in range(columns):
            left, right = column * per_column, (column + 1) * per_column
            if any(start < right and stop > left for start, stop in track.steps) or any(
                left <= start < right for start, _ in track.steps
            ):
                cells.append(RUN)
            elif track.created < right and end > left:
                cells.append(WAIT)
            else:
                cells.append(" ")
        mark_at = min(columns - 1, int(end / per_column)) if track.ended is not None else columns - 1
        cells[mark_at] = ENDS[track.outcome]
        text = label if len(label) <= label_width else label[: label_width - 1] + "…"
        lines.append(f"{text.ljust(label_width)}  {''.join(cells)}")

    step = _tick_step(span, columns)
    axis = [" "] * columns
    ruler = ["─"] * columns
    tick = 0.0
    while tick <= span + 1e-12:
        column = min(columns - 1, int(round(tick / per_column)))
        ruler[column] = "┬" if column else "┌"
        text = _format_tick(tick, step)
        start = column if column + len(text) <= columns else columns - len(text)  # the last one, right-aligned
        if start >= 0 and all(c == " " for c in axis[max(0, start - 1) : start + len(text) + 1]):
            axis[start : start + len(text)] = text
        tick += step
    pad = " " * (label_width + 2)
    lines.append(pad + "".join(ruler))
    lines.append(pad + "".join(axis).rstrip())
    legend = f"{RUN} running  {WAIT} waiting  ● returned  ✗ raised  ○ cancelled  → still running"
    lines.append(legend)
    if shown.grouped:
        lines.append(f"{len(timeline.tasks)} tasks, shown as one row per coroutine (more than {limit} rows)")
    lines.append(timeline.summary())
    return "\n".join(lines)


def draw_svg(timeline: Timeline, limit: int = 40) -> str:
    """The timeline as an SVG chart (for Jupyter)."""
    shown = group_by_coroutine(timeline, limit)
    row, label_width, chart = 22, 260, 640
    span = max(shown.wall, max((t.ended or 0.0) for t in shown.tracks), 1e-9)
    scale = chart / span
    height = row * (len(shown.tracks) + 2) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + chart + 20}" height="{height}" '
        'font-family="monospace" font-size="12">'
    ]
    for index, track in enumerate(shown.tracks):
        y = index * row + 5
        end = track.ended if track.ended is not None else span
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(_label(track))[:40]}</text>')
        parts.append(
            f'<rect x="{label_width + track.created * scale:.1f}" y="{y + 9}" width="{max(1.0, (end - track.created) * scale):.1f}" '
            'height="2" fill="#999"><title>waiting</title></rect>'
        )
        for start, stop in track.steps:
            parts.append(
                f'<rect x="{label_width + start * scale:.1f}" y="{y + 3}" width="{max(1.0, (stop - start) * scale):.1f}" '
                f'height="14" fill="#3b7dd8"><title>running {start:.4f}-{stop:.4f} s</title></rect>'
            )
        parts.append(
            f'<text x="{label_width + end * scale + 2:.1f}" y="{y + 14}">{ENDS[track.outcome]}</text>'
        )
    axis_y = len(shown.tracks) * row + 8
    parts.append(f'<line x1="{label_width}" y1="{axis_y}" x2="{label_width + chart}" y2="{axis_y}" stroke="black"/>')
    step = _tick_step(span, 96)
    tick = 0.0
    while tick <= span + 1e-12:
        x = label_width + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="black"/>')
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 16}">{html.escape(_format_tick(tick, step))}</text>')
        tick += step
    parts.append("</svg>")
    notes = html.escape(timeline.summary())
    if shown.grouped:
        notes = html.escape(f"{len(timeline.tasks)} tasks, one row per coroutine. ") + notes
    return "".join(parts) + f"<p>{notes}</p>"
