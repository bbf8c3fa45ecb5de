"""asyncrepl's magics: thin adapters that parse a line, call the engine, print.

``%timeit_async`` and ``%time_async`` must await, and a magic cannot: each
returns a coroutine, and asyncrepl rewrites the cell's call of the magic into
an ``await`` of it (see ``_rewrite``), so the timing runs on the REPL's loop in
the terminal and in Jupyter alike.
"""

from __future__ import annotations

import ast
import asyncio

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from . import _tasks, _timeline
from ._render import Views, terminal_width

from ._timing import (
    AsyncTimeitResult,
    AsyncTimer,
    NotAwaitableError,
    NothingToAwaitError,
    compile_with_value,
    paused_debug,
    plan_timing,
    run_with_value,
    split_value,
    time_once,
)

#: Magics whose calls asyncrepl turns into awaits.
AWAITED_MAGICS = ("timeit_async", "time_async", "cancel", "timeline")

_DEFAULT_REPEAT = 7
_SLOW_COMPILE = 0.1


def _positive(raw, default: int, flag: str, what: str) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{flag} takes a whole number ({what}), not {raw!r}") from None
    if value < 1:
        raise UsageError(f"{flag} takes a whole number of at least 1 ({what}), not {value}")
    return value


def _not_awaitable(statement: str, value) -> UsageError:
    return UsageError(
        f"{statement!r} is not awaitable (it gives {type(value).__name__}); "
        "to time plain code use %timeit"
    )


class _StatementSyntaxError(Exception):
    """A syntax error in a magic's statement, shown briefly, as IPython shows
    one in a cell, rather than as a traceback through the magic."""

    def __init__(self, shell, error: SyntaxError):
        super().__init__(f"{error.msg} ({error.text or ''!s})".strip())
        self.shell, self.error = shell, error

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom display
        error = self.error
        return self.shell.SyntaxTB.structured_traceback(type(error), error, [])


@magics_class
class AsyncReplMagics(Magics):
    """Magics for exploring asyncio."""

    def __init__(self, shell, registry=None, settings=None):
        super().__init__(shell)
        self._settings = settings
        # A callable giving the loop's TaskRegistry: in a kernel loaded from
        # config, the loop (and so the registry) only exists from the first cell.
        self._registry = registry

    def _tasks_registry(self) -> _tasks.TaskRegistry:
        registry = self._registry() if self._registry is not None else None
        if registry is None:
            raise UsageError("asyncrepl is not attached to a running loop yet")
        return registry

    def _views(self) -> Views:
        return Views(getattr(self.shell.compile, "format_code_name", None))

    def _plan(self, statement: str, setup: str = "pass"):
        transform = self.shell.transform_cell
        try:
            return plan_timing(transform(statement), transform(setup))
        except SyntaxError as error:
            raise _StatementSyntaxError(self.shell, error) from None
        except NothingToAwaitError:
            raise UsageError(
                f"{statement.strip()!r} awaits nothing and is not an expression to await; "
                "to time plain code use %timeit"
            ) from None

    @no_var_expand
    @line_cell_magic
    def timeit_async(self, line: str = "", cell: str | None = None):
        """Time an awaitable, as %timeit times a statement.

        Usage, in line mode::

          %timeit_async [-n<N> -r<R> -p<P> -c<C> -q --debug [-o|-v <V>]] statement

        or in cell mode (the line is setup, run once per run and not timed)::

          %%timeit_async [options] setup
          code...

        The statement is an awaitable expression (``add_one(1)``,
        ``asyncio.sleep(0.01)``; a leading ``await`` is accepted), or code that
        contains ``await``.  It runs on the REPL's loop, in your namespace, in a
        loop inside one coroutine, so the harness adds almost nothing per loop.
        The output and the automatic choice of loop count are %timeit's.

        Options:

        -n<N>  loops per run (default: 1, 10, 100, ... until a run takes 0.2 s)
        -r<R>  runs (default: 7)
        -p<P>  significant digits shown (default: 3)
        -c<C>, --concurrency=<C>
               each loop runs C copies at once (gathered); the output adds how
               many completed per second, so the gain of concurrency is measured
        -q     quiet: print nothing
        -o     return an AsyncTimeitResult (the attributes of IPython's TimeitResult)
        -v<V>  like -o, but store the result in variable V
        --debug
               keep asyncio debug mode on while timing

        asyncio debug mode and coroutine origin tracking cost 10x or more on
        small coroutines, so they are paused while timing and restored
        afterwards, also after an error or Ctrl-C; --debug keeps them on.

        Background tasks keep running during the timing, as the loop runs them
        whenever the timed code awaits; their work shows up in the figures.
        """
        opts, statement = self.parse_options(
            line, "n:r:p:c:qov:", "concurrency=", "debug", posix=False, strict=False, preserve_non_opts=True
        )
        number = _positive(getattr(opts, "n", None), 0, "-n", "loops per run")
        repeat = _positive(getattr(opts, "r", None), _DEFAULT_REPEAT, "-r", "runs")
        precision = _positive(getattr(opts, "p", None), 3, "-p", "digits")
        concurrency = _positive(
            getattr(opts, "concurrency", None) or getattr(opts, "c", None), 1, "-c", "copies per loop"
        )
        setup, timed = ("pass", statement) if cell is None else (statement or "pass", cell)
        if not timed.strip():
            raise UsageError("%timeit_async needs a statement to time, e.g. %timeit_async asyncio.sleep(0.01)")
        plan = self._plan(timed, setup)
        timer = AsyncTimer(plan, self.shell.user_ns, concurrency=concurrency)
        return self._timeit(timer, timed.strip(), number, repeat, precision, opts)

    async def _timeit(self, timer: AsyncTimer, statement: str, number, repeat, precision, opts):
        __tracebackhide__ = True
        async with paused_debug(asyncio.get_running_loop(), keep="debug" in opts):
            try:
                await timer.check()
            except NotAwaitableError as error:
                raise _not_awaitable(statement, error.value) from None
            if number == 0:
                number = await timer.autorange()
            runs = await timer.repeat(repeat, number)
        result = AsyncTimeitResult(
            number,
            repeat,
            min(runs) / number,
            max(runs) / number,
            runs,
            timer.compile_time,
            precision,
            timer.concurrency,
        )
        if "q" not in opts:
            if result.worst > 4 * result.best and result.best > 0 and result.worst > 1e-6:
                print(
                    f"The slowest run took {result.worst / result.best:0.2f} times longer than the "
                    "fastest. This could mean that an intermediate result is being cached."
                )
            print(result)
            if timer.compile_time > _SLOW_COMPILE:
                print(f"Compiler time: {timer.compile_time:.2f} s")
        if "v" in opts:
            self.shell.user_ns[opts.v] = result
        if "o" in opts:
            return result
        return None

    @no_var_expand
    @line_cell_magic
    def time_async(self, line: str = "", cell: str | None = None):
        """Time one run of an awaitable, as %time times a statement, and return its value.

        Usage::

          %time_async [--debug] statement
          %%time_async [--debug]
          code...

        The statement is an awaitable expression (``fetch(url)``; a leading
        ``await`` is accepted), or code that contains ``await``; assignments
        stay in your namespace.  Prints CPU (user, system) and wall time, then
        gives the value of the expression, or of the code's last expression.

        asyncio debug mode is paused during the run, as for %timeit_async, and
        restored afterwards; --debug keeps it on.  Background tasks keep
        running meanwhile: their CPU time counts, the wall time is the run's.
        """
        keep_debug = False
        words = line.split(None, 1)
        if words and words[0] == "--debug":
            keep_debug, line = True, words[1] if len(words) > 1 else ""
        if cell is not None and line.strip():
            raise UsageError("%%time_async takes no statement on its line; put the code in the cell")
        code = cell if cell is not None else line
        if not code.strip():
            raise UsageError("%time_async needs a statement, e.g. %time_async asyncio.sleep(0.01)")
        return self._time(self._plan(code), code.strip(), keep_debug)

    async def _time(self, plan, statement: str, keep_debug: bool):
        __tracebackhide__ = True
        async with paused_debug(asyncio.get_running_loop(), keep=keep_debug):
            try:
                run = await time_once(plan, self.shell.user_ns, self.shell.compile.flags)
            except NotAwaitableError as error:
                raise _not_awaitable(statement, error.value) from None
        print(run)
        return run.value


    # -- %tasks and %cancel ----------------------------------------------------------

    @magic_arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (over names and coroutines): show these in detail")
    @argument("--all", action="store_true", help="also list IPython's, the kernel's and asyncrepl's own tasks, marked *")
    @argument("--tree", action="store_true", help="the awaited-by tree: who awaits whom")
    @argument("--done", action="store_true", help="recently finished tasks and how they ended (AsyncRepl.task_history of them)")
    @argument("--limit", type=int, default=30, help="list at most this many tasks, then a summary of all (default 30)")
    @argument("-o", dest="objects", action="store_true", help="return the rows as objects instead of printing")
    @line_magic
    def tasks(self, line: str = ""):
        """List the pending tasks of the REPL's loop: where each waits, and who made it.

        Every task gets a short id in creation order (1, 2, ...), stable and never
        reused in a session.  The table shows its name, state, coroutine, where
        it is suspended (the innermost frame outside asyncio, with its source
        line), what it waits on, its age, and where your code created it.
        IPython's, the kernel's and asyncrepl's own tasks are left out.

        %tasks ID|NAME|GLOB   one task in detail: its whole await chain, the
                              stack that created it, and which tasks await it
                              (for a finished task: how it ended)
        %tasks --tree         who awaits whom
        %tasks --done         recently finished tasks: result, exception, or
                              cancelled (and from where), when, after how long
        """
        args = parse_argstring(self.tasks, line)
        if args.limit < 1:
            raise UsageError(f"--limit takes a whole number of at least 1, not {args.limit}")
        registry = self._tasks_registry()
        views = self._views()
        if args.done:
            entries = list(registry.history)
            if args.objects:
                return entries
            if not entries:
                print("no finished tasks yet")
                return None
            display(views.history_table(entries[-args.limit:], registry.clock()))
            return None
        if args.patterns:
            return self._task_details(registry, views, args)
        tasks = registry.pending(include_machinery=args.all)
        if args.tree:
            return self._task_tree(registry, views, tasks, args)
        shown = tasks[: args.limit]
        rows = [_tasks.row(registry, task) for task in shown]
        if args.objects:
            return rows
        if not tasks:
            print("no pending tasks" + ("" if args.all else " (%tasks --all also lists IPython's own)"))
            return None
        counts = _tasks.summary(tasks) if len(tasks) > len(shown) else None
        display(views.pending_table(rows, len(tasks), counts))
        return None

    def _task_details(self, registry, views, args):
        tasks, unmatched = registry.find(args.patterns, include_machinery=args.all)
        found = {pattern: registry.finished(pattern) for pattern in unmatched}
        finished = [entry for entries in found.values() for entry in entries]
        still_unmatched = [pattern for pattern, entries in found.items() if not entries]
        if still_unmatched:
            raise UsageError(f"no task matches {still_unmatched[0]!r} (see %tasks and %tasks --done)")
        if args.objects:
            return [_tasks.row(registry, task) for task in tasks] + finished
        pending = registry.pending(include_machinery=True)
        waiters = _tasks.awaited_by(pending)
        for task in tasks:
            awaiting = [_tasks.row(registry, waiter) for waiter in waiters.get(task, [])]
            display(
                views.detail(
                    _tasks.row(registry, task), _tasks.await_chain(task), registry.info(task).created_at, awaiting
                )
            )
        for entry in finished:
            display(views.finished_detail(entry, registry.clock()))
        return None

    def _task_tree(self, registry, views, tasks, args):
        rows = {id(task): _tasks.row(registry, task) for task in tasks}
        awaits = {id(task): [t for t in _tasks.awaited_tasks(task) if id(t) in rows] for task in tasks}
        awaited = {id(t) for targets in awaits.values() for t in targets}
        children = {rows[key].id: [rows[id(t)] for t in targets] for key, targets in awaits.items()}
        roots = [rows[id(task)] for task in tasks if id(task) not in awaited]
        if args.objects:
            return roots, children
        if not tasks:
            print("no pending tasks")
            return None
        display(views.tree(roots, children))
        return None

    @magic_arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (over names and coroutines)")
    @argument("--all", action="store_true", help="cancel every pending task of yours (never IPython's own)")
    @argument("-m", "--msg", default=None, help="the cancel message (CancelledError's argument)")
    @argument("--timeout", type=float, default=1.0, help="seconds to let the loop run so the cancellations take effect (default 1)")
    @line_magic
    def cancel(self, line: str = ""):
        """Cancel tasks by id, name or glob, and say what became of each.

        %cancel 3 worker-* fetch     cancel task 3, tasks named worker-..., and
                                     tasks whose coroutine is fetch()
        %cancel --all                cancel all your pending tasks

        The loop then runs for up to --timeout seconds so the cancellations take
        effect, and each task is reported: cancelled; finished anyway (it ended
        before the cancellation reached it); or STILL RUNNING, which means it
        caught CancelledError and went on - a bug worth fixing.  Tasks are named
        as in %tasks.
        """
        args = parse_argstring(self.cancel, line)
        if args.all and args.patterns:
            raise UsageError("give task ids, names or globs, or --all, not both")
        if not args.all and not args.patterns:
            raise UsageError("usage: %cancel ID|NAME|GLOB ... or %cancel --all [-m MSG] [--timeout SECONDS]")
        if args.timeout < 0:
            raise UsageError(f"--timeout takes seconds, at least 0, not {args.timeout}")
        message = args.msg
        if message and len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
            message = message[1:-1]  # magic_arguments splits without removing quotes
        registry = self._tasks_registry()
        current = asyncio.current_task()
        if args.all:
            tasks = registry.pending()
        else:
            tasks, unmatched = registry.find(args.patterns)
            if unmatched:
                raise UsageError(f"no task matches {unmatched[0]!r} (see %tasks)")
        tasks = [task for task in tasks if task is not current]
        return self._cancel(registry, tasks, message, args.timeout)

    async def _cancel(self, registry, tasks, message, timeout):
        __tracebackhide__ = True
        if not tasks:
            print("no pending tasks to cancel")
            return None
        for task in tasks:
            registry.note_cancel_by(task, "%cancel")
            task.cancel(message)
        await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            label = registry.label(task)
            if not task.done():
                print(
                    f"STILL RUNNING: task {label} - {timeout:g} s after cancel() it is "
                    "still running: it caught CancelledError and went on"
                )
                continue
            outcome, detail = _tasks.ending(task)
            if outcome == "cancelled":
                print(f"cancelled: task {label}")
            else:
                print(f"finished anyway: task {label} {outcome} {detail}")
        return None

    # -- %asyncdebug ----------------------------------------------------------------------

    _SWITCHES = ("debug", "report_blocking", "warn_unawaited", "report_task_errors")

    @line_magic
    def asyncdebug(self, line: str = ""):
        """Show, or turn on or off, asyncio debug mode and asyncrepl's diagnostics.

        %asyncdebug        what is on, and the thresholds
        %asyncdebug on     asyncio debug mode and every diagnostic on
        %asyncdebug off    all of them off

        The diagnostics: a task or callback that holds the loop longer than
        AsyncRepl.slow_callback_duration is reported with the line it was
        running (report_blocking); a coroutine that is never awaited is
        reported at your line with the fix (warn_unawaited); a background task
        that fails, and whose exception nobody retrieves, is reported as it
        ends (report_task_errors).  Each is also an AsyncRepl setting of its
        own: %config AsyncRepl.warn_unawaited = False.
        """
        settings = self._settings
        words = line.split()
        if len(words) > 1 or (words and words[0].lower() not in ("on", "off")):
            raise UsageError(f"usage: %asyncdebug [on|off], not {line.strip()!r}")
        if words:
            on = words[0].lower() == "on"
            for name in self._SWITCHES:
                setattr(settings, name, on)

        def state(name: str) -> str:
            return "on " if getattr(settings, name) else "off"

        print(f"asyncio debug mode         {state('debug')}  (AsyncRepl.debug)")
        print(
            f"blocked loop               {state('report_blocking')}  over "
            f"{settings.slow_callback_duration:g} s (AsyncRepl.report_blocking, .slow_callback_duration)"
        )
        print(f"never-awaited coroutines   {state('warn_unawaited')}  (AsyncRepl.warn_unawaited)")
        print(f"failed background tasks    {state('report_task_errors')}  (AsyncRepl.report_task_errors)")

    # -- %%timeline -----------------------------------------------------------------------

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
        args = parse_argstring(self.timeline, line)
        if args.limit < 1:
            raise UsageError(f"--limit takes a whole number of at least 1, not {args.limit}")
        if not cell.strip():
            raise UsageError("%%timeline needs code in the cell, e.g. await asyncio.gather(...)")
        source = self.shell.transform_cell(cell)
        number = max(0, self.shell.execution_count - 1)
        filename = self.shell.compile.cache(source, number)
        try:
            tree = ast.parse(source, filename, "exec")
        except SyntaxError as error:
            raise _StatementSyntaxError(self.shell, error) from None
        code = compile_with_value(*split_value(tree.body), filename, self.shell.compile.flags)
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

