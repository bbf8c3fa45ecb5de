"""Drawing a recorded %%timeline: text for a terminal, an SVG image for a
notebook, and the Chrome Trace Event format for Perfetto.

The recording is ``_timeline``'s (plain data); this draws it: one row per task
on a shared time axis, as the execution-flow figures of asyncio books: ``█``
where the task ran, ``─`` where it waited, and a mark where it ended.
"""

from __future__ import annotations

import html
import math
import unicodedata

from .._timeline import ENDS, RUN, WAIT, _ENDINGS, Timeline, Track, _printable
from .._tasks import task_label
from .._timing import format_time

__all__ = ["chrome_trace", "draw_svg", "draw_text", "group_by_coroutine"]


# -- shared by the drawings -------------------------------------------------------------------


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


_PID = 1  # one process: the cell


def _at(seconds: float) -> float:
    """Microseconds (the format's unit), to the nanosecond."""
    return round(seconds * 1e9) / 1000


def chrome_trace(timeline: Timeline) -> dict:
    """See :meth:`Timeline.to_chrome_trace`."""
    events: list[dict] = [{"ph": "M", "name": "process_name", "pid": _PID, "tid": 0, "args": {"name": "%%timeline"}}]
    tids: dict[int | str, int] = {}
    slices: dict[int | str, list[tuple[str, float, float]]] = {}  # per track, for the arrows
    for index, track in enumerate(timeline.tracks):
        tids[track.id] = index + 1
        slices[track.id] = _track_events(track, index, timeline.wall, events)
    events.extend(_arrows(timeline, tids, slices))
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"generator": "asyncrepl %%timeline", "summary": timeline.summary()},
    }


def _track_events(track: Track, index: int, wall: float, events: list[dict]) -> list[tuple[str, float, float]]:
    """One track's name, slices and ending mark, added to *events*; its slices."""
    tid = index + 1
    name = "cell" if track.id == "cell" else task_label(track.id, track.name, track.coroutine)
    events.append({"ph": "M", "name": "thread_name", "pid": _PID, "tid": tid, "args": {"name": _printable(name)}})
    events.append({"ph": "M", "name": "thread_sort_index", "pid": _PID, "tid": tid, "args": {"sort_index": index}})
    own = []
    running = "cell" if track.id == "cell" else f"{track.coroutine}()"
    steps = 0
    for kind, start, end, on, tasks in track.stretches(wall):
        first, last = round(start * 1e9), round(end * 1e9)
        # A slice ends a nanosecond early: a viewer that truncates to whole
        # nanoseconds must not see it overlap the next one and nest them.
        timing = {"ph": "X", "pid": _PID, "tid": tid, "ts": first / 1000, "dur": max(0, last - first - 1) / 1000}
        if kind == "ran":
            steps += 1
            events.append({**timing, "name": running, "cat": "running", "args": {"step": steps}})
        else:
            args = {"on": on, "tasks": list(tasks)} if tasks else {"on": on}
            events.append({**timing, "name": f"waiting: {on}" if on else "waiting", "cat": "waiting", "args": args})
        own.append((kind, start, end))
    if track.ended is not None:
        events.append({"ph": "i", "s": "t", "name": track.outcome, "cat": "ending", "pid": _PID, "tid": tid, "ts": _at(track.ended)})
    return own


def _arrows(timeline: Timeline, tids: dict, slices: dict) -> list[dict]:
    """Flow events from where each task was created and from the tasks it
    awaited.  An arrow binds to the slice around its timestamp, so each
    points at the middle of the slice it means."""
    events: list[dict] = []

    def middle(piece: tuple[str, float, float] | None) -> float | None:
        return None if piece is None else (piece[1] + piece[2]) / 2

    def ran_around(track_id, seconds: float):
        """The step running at *seconds*, or the last one before it."""
        before = [piece for piece in slices[track_id] if piece[0] == "ran" and piece[1] <= seconds]
        return before[-1] if before else None

    def ran_from(track_id, seconds: float):
        return next((piece for piece in slices[track_id] if piece[0] == "ran" and piece[1] >= seconds), None)

    def arrow(name: str, source, source_at: float | None, target, target_at: float | None) -> None:
        if source_at is None or target_at is None:
            return
        ident = len(events) // 2 + 1
        events.append({"ph": "s", "id": ident, "name": name, "cat": name, "pid": _PID, "tid": tids[source], "ts": _at(source_at)})
        events.append(
            {"ph": "f", "bp": "e", "id": ident, "name": name, "cat": name, "pid": _PID, "tid": tids[target], "ts": _at(target_at)}
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
    return events
