"""``%%timeline``: run a cell and draw which of its tasks ran and waited, when.
Recording and drawing are ``_timeline``, which knows no IPython."""

from __future__ import annotations

import ast
import asyncio

from IPython.core.error import UsageError
from IPython.core.magic import cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from .. import _timeline
from .._render import terminal_width
from .._timing import compile_with_value, run_with_value, split_value
from ._common import ReplMagics, StatementSyntaxError, parse_arguments


@magics_class
class TimelineMagics(ReplMagics):
    """Drawing a cell's tasks over time."""

    @magic_arguments()
    @argument("-o", dest="objects", action="store_true", help="return the recorded Timeline instead of drawing it")
    @argument("--limit", type=int, default=40, help="past this many task rows, one row per coroutine (default 40)")
    @cell_magic
    def timeline(self, line: str = "", cell: str = ""):
        """Run the cell and draw which tasks ran and which waited, when.

        %%timeline [-o] [--limit N]
        code... (awaits allowed, as in any cell)

        Records the cell and every task created while it runs (and the tasks
        those create): when each was created, every step it ran on the loop
        (█), the stretches it waited (─), and how it ended (● returned,
        ✗ raised, ○ cancelled, → still running when the cell ended).  Below the
        chart: the wall time, the tasks' lifetimes added up, and so the
        concurrency the cell achieved (three 3 s tasks in 3.0 s: 3.0x).

        In the terminal the chart is text as wide as the terminal; in Jupyter it
        is an SVG, with the text as the plain fallback.  Past --limit task rows,
        tasks are drawn one row per coroutine.  If the cell raises, the timeline
        up to the error is drawn, then the error is shown as usual.  Recording
        times each step of the recorded tasks, a cost of about a microsecond
        per step (see benchmarks/bench_timeline.py).
        """
        args = parse_arguments(self.timeline, line)
        if args.limit < 1:
            raise UsageError(f"--limit takes a whole number of at least 1, not {args.limit}")
        if not cell.strip():
            raise UsageError("%%timeline needs code in the cell, e.g. await asyncio.gather(...)")
        try:
            source = self.shell.transform_cell(cell)
            number = max(0, self.shell.execution_count - 1)
            filename = self.shell.compile.cache(source, number)
            tree = ast.parse(source, filename, "exec")
            code = compile_with_value(*split_value(tree.body), filename, self.shell.compile.flags)
        except SyntaxError as error:
            raise StatementSyntaxError(self.shell, error) from None
        return self._timeline(code, args)

    async def _timeline(self, code, args):
        __tracebackhide__ = True
        registry = self._tasks_registry()
        recorder = _timeline.Recorder()
        namespace = self.shell.user_ns

        async def cell():
            __tracebackhide__ = True
            return await run_with_value(*code, namespace)

        wrap = _timeline.task_wrapper(lambda task: registry.info(task).id)

        loop = asyncio.get_running_loop()
        timed_cell, cell_track = recorder.wrap(cell(), "cell")
        previous_wrap, registry.wrap_coroutine = registry.wrap_coroutine, wrap
        try:
            task = loop.create_task(timed_cell, name="%%timeline", context=recorder.context())
            recorder.track_task(task, cell_track)
            try:
                value = await task
            except Exception:
                # The timeline up to the error, then the error as usual.
                if not args.objects:
                    display(_TimelineView(recorder.finish(), args.limit))
                raise
        finally:
            registry.wrap_coroutine = previous_wrap
        timeline = recorder.finish()
        if args.objects:
            return timeline
        display(_TimelineView(timeline, args.limit))
        if value is not None:
            display(value)
        return None


class _TimelineView:
    """A Timeline drawn to the terminal's width (text) or as SVG (Jupyter)."""

    def __init__(self, timeline, limit: int):
        self.timeline, self.limit = timeline, limit

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(_timeline.draw_text(self.timeline, terminal_width(), self.limit))

    def _repr_html_(self) -> str:
        return _timeline.draw_svg(self.timeline, self.limit)
