"""``%timeit_async`` and ``%time_async``: ``%timeit`` and ``%time`` for awaitables;
``%%timeout``: a cell with a deadline.

They return coroutines, which asyncrepl awaits on the REPL's loop (see
``_magics/__init__``); the timing itself is ``_timing`` and the deadline
``_deadline``, which know no IPython.
"""

from __future__ import annotations

import asyncio
import keyword
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.magic import cell_magic, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument

from .._cell.outcome import cell_timeout
from .._deadline import run_with_deadline
from ._common import (
    ReplMagics,
    StatementSyntaxError,
    arguments,
    parse_arguments,
    parse_options,
    positive,
)

if TYPE_CHECKING:
    from .._timing import AsyncTimer

_DEFAULT_REPEAT = 7
_SLOW_COMPILE = 0.1
_MOST_DIGITS = 17  # enough to tell any two floats apart


def _not_awaitable(statement: str, value) -> UsageError:
    return UsageError(
        f"{statement!r} is not awaitable (it gives {type(value).__name__}); "
        "to time plain code use %timeit"
    )



@magics_class
class TimingMagics(ReplMagics):
    """Timing awaitables."""

    def _plan(self, statement: str, setup: str | None = None):
        """The timing plan, its code named as a part of the running cell
        (``Cell In[5]``), so that syntax errors and tracebacks show the user's
        lines; in cell mode the setup is line 1 and the statement starts on
        line 2, as in the cell the user typed."""
        from .._timing import NothingToAwaitError, plan_timing

        transform = self.shell.transform_cell
        try:
            statement = transform(statement)  # tokenizing can raise IndentationError
            if setup is None:
                source, setup, statement_line = statement, "pass", 1
            else:
                setup = transform(setup) if setup.strip() else "\n"
                source, statement_line = setup + statement, setup.count("\n") + 1
            filename = self.shell.compile.cache(source, self._running_cell_number())
            return plan_timing(statement, setup.strip() or "pass", filename, statement_line)
        except SyntaxError as error:
            raise StatementSyntaxError(self.shell, error) from None
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
        opts, statement = parse_options(line, "n:r:p:c:qov:", "concurrency=", "debug")
        if "c" in opts and "concurrency" in opts:
            raise UsageError("-c and --concurrency are one option: give it once")
        number = positive(opts.get("n"), 0, "-n", "loops per run")
        repeat = positive(opts.get("r"), _DEFAULT_REPEAT, "-r", "runs")
        precision = positive(opts.get("p"), 3, "-p", "digits", most=_MOST_DIGITS)
        concurrency = positive(opts.get("concurrency", opts.get("c")), 1, "-c", "copies per loop")
        if "v" in opts and not (opts["v"].isidentifier() and not keyword.iskeyword(opts["v"])):
            raise UsageError(f"-v takes a variable name to store the result in, not {opts['v']!r}")
        timed = statement if cell is None else cell
        if not timed.strip():
            raise UsageError("%timeit_async needs a statement to time, e.g. %timeit_async asyncio.sleep(0.01)")
        plan = self._plan(timed) if cell is None else self._plan(cell, setup=statement)
        from .._timing import AsyncTimer
        try:
            timer = AsyncTimer(plan, self.shell.user_ns, concurrency=concurrency)
        except SyntaxError as error:  # valid in a cell, not in a function: from m import *
            raise StatementSyntaxError(self.shell, error) from None
        for code in timer.task_codes:
            self.session.registry.own_code(code)  # -c's copies are the harness's tasks, not yours
        return self._timeit(timer, timed.strip(), number, repeat, precision, opts)

    async def _timeit(self, timer: AsyncTimer, statement: str, number, repeat, precision, opts):
        __tracebackhide__ = True
        from .._timing import AsyncTimeitResult, NotAwaitableError, paused_debug

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
            self.shell.user_ns[opts["v"]] = result
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
        opts, statement = parse_options(line, "", "debug")
        if cell is not None and statement:
            raise UsageError("%%time_async takes no statement on its line; put the code in the cell")
        code = cell if cell is not None else statement
        if not code.strip():
            raise UsageError("%time_async needs a statement, e.g. %time_async asyncio.sleep(0.01)")
        plan = self._plan(code) if cell is None else self._plan(cell, setup="")
        return self._time(plan, code.strip(), "debug" in opts)

    async def _time(self, plan, statement: str, keep_debug: bool):
        __tracebackhide__ = True
        from .._timing import NotAwaitableError, paused_debug, time_once

        async with paused_debug(asyncio.get_running_loop(), keep=keep_debug):
            try:
                run = await time_once(plan, self.shell.user_ns, self.shell.compile.flags)
            except NotAwaitableError as error:
                raise _not_awaitable(statement, error.value) from None
        print(run)
        return run.value

    # -- %%timeout ----------------------------------------------------------------------

    @arguments()
    @argument("seconds", type=float, help="how long the cell may take")
    @cell_magic
    def timeout(self, line: str = "", cell: str = ""):
        """Run the cell, and cancel what it awaits after SECONDS.

        %%timeout SECONDS
        code... (awaits allowed, as in any cell)

        At the deadline the cell is cancelled as Ctrl-C cancels it: its
        ``finally`` blocks run, and one line says how long it ran and where it
        was waiting (the innermost line of your code), e.g.
        ``TimeoutError: the cell was cancelled after 2 s; it was waiting at
        In [5] line 3: await queue.get()``.  Tasks it started go on; a cell
        that ends in time shows its value as usual.  Code that never awaits
        cannot be cancelled (Ctrl-C stops it).

        AsyncRepl.cell_timeout (seconds, 0 for none) gives every awaiting cell
        such a deadline: %config AsyncRepl.cell_timeout = 30
        """
        args = parse_arguments(self.timeout, line)
        if not args.seconds > 0:
            raise UsageError(f"%%timeout takes seconds, more than 0, not {args.seconds:g}")
        if not cell.strip():
            raise UsageError("%%timeout needs code in the cell, e.g. await asyncio.sleep(10)")
        code = self._compile_cell_body(cell)
        return self._with_deadline(code, args.seconds)

    async def _with_deadline(self, code, seconds: float):
        __tracebackhide__ = True
        from .._timing import run_with_value

        views, cells, registry = self._views(), self.session.cells, self.session.registry
        return await run_with_deadline(
            run_with_value(*code, self.shell.user_ns),
            seconds,
            describe=lambda link: link and views.place(link),
            timed_out=cell_timeout,
            let_go=lambda task, seconds, where: cells.left_running(task, "timeout", where, seconds),
            # A task left running is named after its cell, as Ctrl-C's is.
            name=cells.name_of(cells.current) if cells.current is not None else None,
            cancelling=lambda task: registry.note_cancel_by(task, "%%timeout"),
        )
