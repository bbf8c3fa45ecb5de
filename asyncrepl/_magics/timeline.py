"""``%%timeline``: run a cell and draw which of its tasks ran and waited, when.
Recording and drawing are ``_timeline``, which knows no IPython."""

from __future__ import annotations

import asyncio
import os
import sys

from IPython.core.displayhook import DisplayHook
from IPython.core.error import UsageError
from IPython.core.magic import cell_magic, magics_class
from IPython.core.magic_arguments import argument
from IPython.display import display

from .._render import terminal_width
from ._common import ReplMagics, arguments, parse_arguments, unquoted

PERFETTO = "https://ui.perfetto.dev"


@magics_class
class TimelineMagics(ReplMagics):
    """Drawing a cell's tasks over time."""

    @arguments()
    @argument("-o", dest="objects", action="store_true", help="return the recorded Timeline instead of drawing it")
    @argument("--limit", type=int, default=40, help="past this many task rows, one row per coroutine (default 40)")
    @argument(
        "--save",
        metavar="PATH.json",
        help="also write the recording to PATH.json in the Chrome Trace Event format (open it in Perfetto)",
    )
    @cell_magic
    def timeline(self, line: str = "", cell: str = ""):
        """Run the cell and draw which tasks ran and which waited, when.

        %%timeline [-o] [--limit N] [--save PATH.json]
        code... (awaits allowed, as in any cell)

        Records the cell and every task created while it runs (and the tasks
        those create): when each was created, every step it ran on the loop
        (█), the stretches it waited (─), and how it ended (● returned,
        ✗ raised, ○ cancelled, → still running when the cell ended).  Below the
        chart: the wall time, the tasks' lifetimes added up (a task still
        running when the cell ended lived until then), and so the concurrency
        the cell achieved (three 3 s tasks in 3.0 s: 3.0x).  The cell's value
        is its Out[n], as any cell's (a final ';' hides it).

        In the terminal the chart is text as wide as the terminal; in Jupyter it
        is an SVG image that reads on light and dark themes, with the text as
        the fallback (an untrusted notebook shows the text).  Where the SVG is
        shown inline (VS Code, or the file opened in a browser), hovering a
        stretch says what the task did, waited on, when, and for how long.
        Past --limit task rows, tasks are drawn one row per coroutine.  If the
        cell raises, the timeline up to the error is drawn (and saved), then
        the error is shown as usual.

        --save PATH.json writes the recording as a Chrome trace: one track per
        task, its steps as slices, its waits as slices named after what it
        waited on, and arrows from where each task was created and from the
        tasks it awaited.  Open it at https://ui.perfetto.dev ("Open trace
        file", or drag the file in), in chrome://tracing ("Load"), or at
        https://www.speedscope.app.  %%timeline -o returns the Timeline, whose
        .to_chrome_trace() gives the same trace as a dict.

        Recording times each step of the recorded tasks, a cost of about a
        microsecond per step (see benchmarks/bench_timeline.py).
        """
        args = parse_arguments(self.timeline, line)
        if not cell.strip():
            raise UsageError("%%timeline needs code in the cell, e.g. await asyncio.gather(...)")
        save = _writable(args.save) if args.save is not None else None
        code = self._compile_cell_body(cell)
        return self._timeline(code, args, save, quiet=_ends_with_semicolon(cell))

    async def _timeline(self, code, args, save: str | None, quiet: bool = False):
        __tracebackhide__ = True
        from .. import _timeline  # at the first %%timeline, not at %load_ext

        registry = self._tasks_registry()
        recorder = _timeline.Recorder(task_id=lambda task: registry.info(task).id, task_name=registry.name_of)
        namespace = self.shell.user_ns
        from .._timing import run_with_value

        async def cell():
            __tracebackhide__ = True
            return await run_with_value(*code, namespace)

        timed_cell, cell_track = recorder.wrap(cell(), "cell")
        stop_recording_tasks = registry.wrapping.subscribe(_timeline.task_wrapper())
        try:
            task = registry.create_own_task(timed_cell, name="%%timeline", context=recorder.context())
            recorder.track_task(task, cell_track)
            try:
                value = await task
            except (Exception, asyncio.CancelledError):
                # The timeline up to the error, or to Ctrl-C (the cell is
                # cancelled), then the error as usual (a failure to save is
                # said, and does not hide the cell's error).
                timeline = recorder.finish()
                if not args.objects:
                    display(_TimelineView(timeline, args.limit))
                problem = _save(timeline, save) if save is not None else None
                if problem:
                    print(f"UsageError: {problem}", file=sys.stderr)
                raise
        finally:
            stop_recording_tasks()
        timeline = recorder.finish()
        if not args.objects:
            display(_TimelineView(timeline, args.limit))
        problem = _save(timeline, save) if save is not None else None
        if problem:
            raise UsageError(problem)
        if args.objects:
            return timeline
        # The cell's value is the magic's: IPython shows it as Out[n] and
        # keeps it in _ and Out, as any cell's; a final ';' keeps it quiet.
        return None if quiet else value


def _ends_with_semicolon(source: str) -> bool:
    """Whether the cell's last line ends with ';' (comments aside), which
    keeps a cell's value from being shown: IPython's own rule (8.25+)."""
    return DisplayHook.semicolon_at_end_of_expression(source)


def _writable(path: str) -> str:
    """*path* made absolute, if a file can be written there; else a UsageError.
    Checked before the cell runs, so that a typo costs nothing."""
    path = unquoted(path)  # magic arguments keep the quotes of a quoted name
    if not path.strip():
        raise UsageError("--save takes a file name, e.g. --save trace.json")
    full = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(full):
        raise UsageError(f"--save takes a file name, and {path!r} is a folder")
    folder = os.path.dirname(full)
    if not os.path.isdir(folder):
        raise UsageError(f"--save cannot write {path!r}: there is no folder {folder!r}")
    existed = os.path.exists(full)
    try:
        with open(full, "a", encoding="utf-8"):  # can it be written? (it is not, yet)
            pass
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise UsageError(f"--save cannot write {path!r}: {getattr(error, 'strerror', None) or error}") from None
    if not existed:
        os.remove(full)
    return full


def _save(timeline, path: str) -> str | None:
    """Write the Chrome trace; None, or what went wrong."""
    import json

    try:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(timeline.to_chrome_trace(), file, separators=(",", ":"))
    except OSError as error:
        return f"--save could not write {path!r}: {error.strerror or error}"
    print(f"Trace saved to {path}: open it at {PERFETTO} (or chrome://tracing, https://www.speedscope.app)")
    return None


class _TimelineView:
    """A Timeline drawn to the terminal's width (text) or as an SVG image (Jupyter)."""

    def __init__(self, timeline, limit: int):
        self.timeline, self.limit = timeline, limit

    def _repr_pretty_(self, p, cycle) -> None:
        from .._render.timeline import draw_text

        p.text(draw_text(self.timeline, terminal_width(), self.limit))

    def _repr_svg_(self) -> str:
        from .._render.timeline import draw_svg

        return draw_svg(self.timeline, self.limit)
