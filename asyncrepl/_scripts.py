"""Loop management written for scripts, in a REPL whose loop always runs.

A script starts a loop of its own: ``asyncio.run(main())``,
``loop.run_until_complete(...)``, ``loop.run_forever()``, ``asyncio.Runner``.
``_rewrite`` puts calls of :data:`entry`'s stand-ins in place of those calls;
:data:`entry` passes each to the :class:`LoopEntry` of the session whose loop
runs the call (or to a detached one, which does exactly what the replaced
call does), and each does what the script would have done:

* At a cell's top level, on the REPL's own loop, the cell awaits: ``main()``
  runs as a task on the REPL's loop, where ``%tasks``, ``%%timeline`` and the
  diagnostics see it.  ``asyncio.run`` cleans up after it as it does after its
  own loop: it cancels what ``main()`` left running (``main()``'s own tasks,
  never the REPL's or the kernel's), removes the signal handlers the run added
  and puts debug mode back.  ``run_until_complete`` leaves pending tasks
  pending, as a script's loop does.
* A loop the user made (``new_event_loop()``), an ``asyncio.Runner``, and a
  call from inside a function run as in a script: in this thread, with no loop
  running for their duration (:func:`script_mode`); the REPL's loop, busy with
  the cell, waits until they return, as it waits for any code a cell runs.
* User code never stops or closes the REPL's loop (:class:`LoopGuard`):
  ``loop.stop()`` ends the user's own ``run_forever()`` or
  ``run_until_complete()``, as it would have ended the script's, and
  ``loop.close()`` leaves the REPL's loop open.
* Ctrl-C while the cell waits in ``run_forever()``, ``run_until_complete()``
  or ``asyncio.run()`` raises KeyboardInterrupt at that call, as in a
  script, so the user's own ``except KeyboardInterrupt:`` catches it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext

from ._asyncio_private import enter_task, leave_task, running_loop, set_running_loop, signal_handlers
from ._render.reports import report
from ._frames import CO_ASYNC, is_loop_step, within_step
from ._tasks.code import _kind_of_code

# asyncio's messages when code tries to start or re-enter a loop.
LOOP_BUSY_MESSAGES = (
    "asyncio.run() cannot be called from a running event loop",
    "Runner.run() cannot be called from a running event loop",
    "This event loop is already running",
    "Cannot run the event loop while another loop is running",
)

_STOPPED_EARLY = "Event loop stopped before Future completed."

# The top-level asyncio.run() whose main() a task serves (a token per run).
_RUN: contextvars.ContextVar[object | None] = contextvars.ContextVar("asyncrepl_run", default=None)


# -- a script's own loop, in this thread ------------------------------------------------------------


@contextmanager
def script_mode():
    """Run the body as a script would run it: with no event loop running in this thread.

    The loop that runs the cell (the REPL's) stays where it is, busy with the
    cell's step, and takes over again at the end.  Ctrl-C is Python's own for
    the duration, so that ``asyncio.run`` and ``asyncio.Runner`` handle it as
    in a script (they cancel the main task, then raise KeyboardInterrupt).
    The REPL's loop monitor looks away meanwhile: the wait is the cell's.
    """
    loop = running_loop()
    if loop is None:
        yield
        return
    session = sessions.get(loop)
    with session.monitor.elsewhere() if session is not None else nullcontext():
        with _no_loop_running(loop):
            yield


@contextmanager
def _no_loop_running(loop):
    # The cell's task is left as well as its loop (see _asyncio_private): from
    # 3.14 a task of another loop cannot start while the cell's is entered.
    task = asyncio.current_task(loop)
    main_thread = threading.current_thread() is threading.main_thread()
    if task is not None:
        leave_task(loop, task)
    set_running_loop(None)
    if main_thread:
        sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        wakeup = signal.set_wakeup_fd(-1)  # loops the script makes set their own
    try:
        yield
    finally:
        if main_thread:
            signal.set_wakeup_fd(wakeup)
            signal.signal(signal.SIGINT, sigint)
        set_running_loop(loop)
        if task is not None:
            enter_task(loop, task)


def _script_has_no_loop_here(frame) -> bool:
    """Whether the code of *frame* is the cell's own synchronous code, where
    a script would have had no loop running: called (through functions)
    from the cell's top level, not from inside a coroutine."""
    # Reaching the loop's step means a callback the loop runs: so would the
    # script's loop be.
    for frame in within_step(frame):
        code = frame.f_code
        if code.co_name == "<module>":
            return True  # the cell (IPython compiles it as a module, awaits or not)
        if code.co_flags & CO_ASYNC and _kind_of_code(code) != "repl":
            return False  # inside a coroutine: the script's loop would be running
    return False


# -- the REPL's loop, guarded ---------------------------------------------------------------------


class _UserRun:
    """One ``run_forever()`` / ``run_until_complete()`` / ``asyncio.run()`` of the
    user's on the REPL's loop: the user's ``loop.stop()`` ends it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.stopped = loop.create_future()

    def stop(self) -> None:
        if not self.stopped.done():
            self.stopped.set_result(None)


class LoopGuard:
    """Stands in front of the REPL's loop's ``stop()`` and ``close()`` for user code.

    Installed as attributes of the loop instance only (asyncio's class is left
    alone); a loop that takes no attributes (uvloop's) goes unguarded.  A call
    is the user's when it comes from the user's code, or is a callback the
    user scheduled (``loop.call_later(5, loop.stop)``); asyncio's, IPython's,
    ipykernel's and tornado's own calls pass through.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.runs: list[_UserRun] = []
        self._stop = type(loop).stop.__get__(loop)
        self._close = type(loop).close.__get__(loop)
        self.installed = False

    def install(self) -> bool:
        try:
            self.loop.stop = self.stop
            self.loop.close = self.close
        except AttributeError:
            return False
        self.installed = True
        return True

    def uninstall(self) -> None:
        if self.installed:
            for name in ("stop", "close"):
                vars(self.loop).pop(name, None)
            self.installed = False

    def begin(self) -> _UserRun | None:
        if not self.installed:
            return None
        run = _UserRun(self.loop)
        self.runs.append(run)
        return run

    def end(self, run: _UserRun | None) -> None:
        if run in self.runs:
            self.runs.remove(run)

    def stop(self) -> None:
        """``loop.stop()``: ends the user's run; the REPL's loop goes on."""
        if not _called_by_user(sys._getframe(1)):
            self._stop()
        elif self.runs:
            self.runs[-1].stop()
        else:
            report(
                "loop.stop() on the REPL's loop outside a run_forever() or run_until_complete() "
                "of yours: nothing to stop, the REPL's loop goes on"
            )

    def close(self) -> None:
        """``loop.close()``: the REPL keeps its loop (a script's ends with its run)."""
        if not _called_by_user(sys._getframe(1)):
            self._close()


def _called_by_user(frame) -> bool:
    # The user's code called it, or it is a callback the user scheduled, which
    # asyncio's Handle._run calls directly; asyncio itself calls stop() from
    # its own functions (run_until_complete's done callback), tornado and
    # ipykernel from theirs.
    return _kind_of_code(frame.f_code) == "user" or is_loop_step(frame.f_code)


async def _until_done_or_stopped(task: asyncio.Future, run: _UserRun | None, interrupted, as_asyncio_run=False):
    """Await *task*, or fail as ``run_until_complete`` does when the user stops the loop.

    Cancelled (Ctrl-C or a timeout on the cell), what it runs is cancelled
    too, as asyncio.run cancels its main task; then, if Ctrl-C cancelled it
    (``interrupted()``), KeyboardInterrupt is raised here, as a script's
    loop raises it at the call (``asyncio.run``: unless main() caught the
    cancellation and returned)."""
    __tracebackhide__ = True
    # Taken from the task as it ends, as an await of it would: the failure
    # is the cell's to show, not a background task's to report.
    task.add_done_callback(_retrieve)
    try:
        waited = {task} if run is None else {task, run.stopped}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task})
        if not interrupted():
            raise
        if as_asyncio_run and not task.cancelled():
            return task.result()
        raise KeyboardInterrupt from None
    if not task.done():
        raise as_asyncio(RuntimeError(_STOPPED_EARLY))
    return task.result()


def as_asyncio(error: BaseException) -> BaseException:
    """*error*, which a stand-in raises as asyncio would have: its traceback
    is shown ending at the user's call, as a script's would (see
    ``_cell.outcome``), not in asyncrepl's code."""
    error.asyncrepl_as_asyncio = True
    return error


def _retrieve(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


# -- the stand-ins ----------------------------------------------------------------------------------


class LoopEntry:
    """The stand-ins for one session's loop (*loop*); with no loop (detached),
    each stand-in does exactly what the call it replaced does.

    *context_of* gives the context a task was created in (the registry's);
    *cells* the running cell, whose Ctrl-C the awaited stand-ins raise as
    KeyboardInterrupt at their call.
    """

    def __init__(self, loop=None, guard: LoopGuard | None = None, context_of=lambda task: None, monitor_elsewhere=nullcontext, cells=None):
        self.loop = loop
        self.guard = guard
        self.context_of = context_of
        self.monitor_elsewhere = monitor_elsewhere  # the loop monitor's: while a script's loop runs
        self.cells = cells
        self._said: set[str] = set()

    def _interrupted(self) -> bool:
        return self.cells is not None and self.cells.take_interrupt()

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            report(f"{message} (said once)")

    def _on_repl_loop(self, loop) -> bool:
        return self.loop is not None and loop is self.loop and running_loop() is loop

    def _as_script(self, frame) -> bool:
        running = running_loop()
        return self.loop is not None and running is self.loop and _script_has_no_loop_here(frame)

    @contextmanager
    def _user_run(self):
        """A run of the user's on the REPL's loop, which the user's loop.stop()
        ends (None where the loop could not be guarded)."""
        run = self.guard.begin() if self.guard is not None else None
        try:
            yield run
        finally:
            if self.guard is not None:
                self.guard.end(run)

    # -- at a cell's top level: awaited --

    async def asyncio_run(self, main, *, debug=None, loop_factory=None):
        """``asyncio.run(main)`` at a cell's top level: *main* runs as a task on
        the REPL's loop, and the run is cleaned up as asyncio.run cleans up."""
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        if loop_factory is not None or loop is not self.loop or not asyncio.iscoroutine(main):
            # A loop of another kind was asked for (or something asyncio.run
            # takes only on some Pythons, or not at all): as the script has it.
            with script_mode():
                return asyncio.run(main, **_run_options(debug, loop_factory))
        coro = main
        name = getattr(coro, "__name__", "main")
        self._say_once(
            "asyncio.run", f"asyncio.run() runs {name}() on the REPL's loop, as 'await {name}()' would"
        )
        return await self._run_main(loop, coro, debug)

    async def _run_main(self, loop, coro, debug):
        __tracebackhide__ = True
        token = object()
        context = contextvars.copy_context()
        context.run(_RUN.set, token)
        debug_before = loop.get_debug()
        if debug is not None:
            loop.set_debug(debug)
        handlers = _SignalHandlers(loop)
        main_task = loop.create_task(coro, context=context)
        try:
            with self._user_run() as run:
                return await _until_done_or_stopped(main_task, run, self._interrupted, as_asyncio_run=True)
        finally:
            try:
                await self._cancel_leftovers(loop, token, main_task)
            finally:
                handlers.remove_added()
                if debug is not None and loop.get_debug() == debug:
                    loop.set_debug(debug_before)

    async def _cancel_leftovers(self, loop, token, main_task) -> None:
        """As asyncio.run's ``_cancel_all_tasks``, for the tasks of this run only."""
        if not main_task.done():
            main_task.cancel()
        leftovers = [
            task
            for task in asyncio.all_tasks(loop)
            if task is main_task or _context_value(self.context_of(task), _RUN) is token
        ]
        for task in leftovers:
            task.cancel()
        if not leftovers:
            return
        await asyncio.wait(leftovers)
        for task in leftovers:
            if task is main_task or task.cancelled() or task.exception() is None:
                continue
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during asyncio.run() shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )

    async def run_until_complete(self, loop, future):
        """``loop.run_until_complete(future)`` at a cell's top level."""
        __tracebackhide__ = True
        if not self._on_repl_loop(loop):
            with script_mode():
                return loop.run_until_complete(future)
        with self._user_run() as run:
            # A script's loop keeps what run_until_complete left pending; so does the REPL's.
            return await _until_done_or_stopped(asyncio.ensure_future(future), run, self._interrupted)

    async def run_forever(self, loop):
        """``loop.run_forever()`` at a cell's top level: the cell waits until ``loop.stop()``."""
        __tracebackhide__ = True
        if not self._on_repl_loop(loop):
            with script_mode():
                return loop.run_forever()
        with self._user_run() as run:
            if run is None:
                raise as_asyncio(RuntimeError("This event loop is already running"))  # unguarded loop: as before
            try:
                await run.stopped
            except asyncio.CancelledError:
                if self._interrupted():
                    raise KeyboardInterrupt from None  # as a script's run_forever() raises it
                raise

    # -- anywhere else: plain calls --

    def run(self, main, *, debug=None, loop_factory=None):
        """``asyncio.run(main)`` in a function: a fresh loop, as in the script,
        where the script would have had none running."""
        __tracebackhide__ = True
        if not self._as_script(sys._getframe(1)):
            return asyncio.run(main, **_run_options(debug, loop_factory))
        name = getattr(main, "__name__", "main")
        self._say_once(
            "fresh loop",
            f"asyncio.run() inside a function runs {name}() on a fresh loop, as in a script: "
            "its tasks are not on the REPL's loop, and background tasks wait until it returns",
        )
        with script_mode():
            return asyncio.run(main, **_run_options(debug, loop_factory))

    def run_until_complete_sync(self, loop, future):
        """``loop.run_until_complete(future)`` in a function."""
        __tracebackhide__ = True
        if not self._as_script(sys._getframe(1)):
            return loop.run_until_complete(future)
        if loop is not self.loop:
            with script_mode():
                return loop.run_until_complete(future)
        # The REPL's loop is busy with the cell: the script's idle loop was
        # free to run the coroutine; a fresh one is.
        if not inspect.isawaitable(future) or isinstance(future, asyncio.Future):
            error = RuntimeError("This event loop is already running")
            error.add_note(
                "asyncrepl: inside a function, loop.run_until_complete() cannot run a future of "
                "the REPL's loop, which is busy running this cell; await it at the cell's top level"
            )
            raise as_asyncio(error)
        with script_mode():
            return asyncio.run(_awaited(future))

    def run_forever_sync(self, loop):
        """``loop.run_forever()`` in a function."""
        __tracebackhide__ = True
        if not self._as_script(sys._getframe(1)):
            return loop.run_forever()
        if loop is self.loop:
            error = RuntimeError("This event loop is already running")
            error.add_note(
                "asyncrepl: inside a function, loop.run_forever() cannot run the REPL's loop, which "
                "is busy running this cell; call loop.run_forever() at the cell's top level, where "
                "the cell waits until loop.stop()"
            )
            raise as_asyncio(error)
        with script_mode():
            return loop.run_forever()

    @property
    def Runner(self):  # noqa: N802 (it stands for the class asyncio.Runner)
        return Runner


class Runner(asyncio.Runner):
    """``asyncio.Runner`` as a script has it: its loop runs in this thread with
    no other loop running, where the script would have had none."""

    def run(self, coro, *, context=None):
        __tracebackhide__ = True
        with _script_mode_if_a_script_had_no_loop(sys._getframe(1)):
            return super().run(coro, context=context)

    def close(self):
        with _script_mode_if_a_script_had_no_loop(sys._getframe(1)):
            return super().close()


@contextmanager
def _script_mode_if_a_script_had_no_loop(frame):
    if entry.for_running_loop()._as_script(frame):
        with script_mode():
            yield
    else:
        yield


#: The session of each REPL loop (``Session.start`` adds itself).
sessions: dict = {}


class _Entry:
    """``__import__('asyncrepl')._entry``: what rewritten code calls.  Each
    stand-in is the one of the session whose loop runs the call, or a
    detached one (plain asyncio) where no REPL's loop runs."""

    _detached = LoopEntry()

    def for_running_loop(self) -> LoopEntry:
        session = sessions.get(running_loop())
        return session.entry if session is not None else self._detached

    def __getattr__(self, name: str):
        return getattr(self.for_running_loop(), name)

    def statement(self, key: int):
        """``await H.statement(KEY)``: a cell's statement, run as a task of its own (see ``_cell``)."""
        frame = sys._getframe(1)
        session = sessions.get(running_loop())
        if session is not None:
            return session.cells.statement(key, frame)
        from ._cell.statements import awaited, compile_statement

        return awaited(compile_statement(key, frame)[0])

    def drive(self, awaitable, line: int):
        """``await H.drive(EXPR, LINE)``: ``await EXPR``, a cell's statement at
        *line* that can be let go of (see ``_cell``)."""
        session = sessions.get(running_loop())
        if session is None:
            return awaitable
        return session.cells.drive(awaitable, (sys._getframe(1).f_code, line))


entry = _Entry()


# -- helpers -------------------------------------------------------------------------------------


def _run_options(debug, loop_factory) -> dict:
    options = {"debug": debug}
    if loop_factory is not None:  # 3.12+; on 3.11 asyncio.run itself refuses it
        options["loop_factory"] = loop_factory
    return options


async def _awaited(awaitable):
    return await awaitable


def _context_value(context: contextvars.Context | None, var: contextvars.ContextVar):
    return None if context is None else context.get(var)


class _SignalHandlers:
    """The loop's signal handlers before a run, so that those the run adds go
    when it ends, as they go when a script's loop closes.

    Listed through ``_asyncio_private.signal_handlers`` (there is no public
    way to list a loop's signal handlers).
    """

    def __init__(self, loop):
        self.loop = loop
        table = signal_handlers(loop)
        main_thread = threading.current_thread() is threading.main_thread()
        self.before = set(table) if table is not None and main_thread else None
        if self.before is not None:
            self.python_handlers = {signum: signal.getsignal(signum) for signum in signal.valid_signals()}
            self.wakeup = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(self.wakeup)

    def remove_added(self) -> None:
        table = signal_handlers(self.loop)
        if self.before is None or not table:
            return
        added = [signum for signum in table if signum not in self.before]
        for signum in added:
            self.loop.remove_signal_handler(signum)
            # remove_signal_handler puts back Python's default, not what was
            # there before (the REPL's Ctrl-C handler, ipykernel's).
            previous = self.python_handlers.get(signum)
            if previous is not None:
                signal.signal(signum, previous)
        if added:
            signal.set_wakeup_fd(self.wakeup)  # the loop dropped it with its last handler


def close_abandoned_coroutine(tb) -> None:
    """asyncio.run() raised before starting its coroutine; close it, so no
    "coroutine was never awaited" warning follows the explanation."""
    runner_code = asyncio.runners.run.__code__
    for code, given in _loop_starts(tb):
        if code is runner_code and given is not None:
            given.close()


def _loop_starts(tb):
    """The asyncio frames in *tb* that start a loop (run, run_until_complete,
    run_forever), each as (code, the coroutine it was given or None)."""
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        if code.co_name in ("run", "run_until_complete", "run_forever") and _kind_of_code(code) == "asyncio":
            given = frame.f_locals.get("main", frame.f_locals.get("coro", frame.f_locals.get("future")))
            yield code, given if asyncio.iscoroutine(given) else None
        tb = tb.tb_next


def loop_busy_hint(error: BaseException) -> str:
    """One line for asyncio's "cannot start or re-enter a loop" errors that
    reached the user: calls asyncrepl could not put its stand-ins in place of
    (code in a module, ``exec``), saying what fits the call that failed."""
    call, coroutine = _failed_call(error.__traceback__)
    if call == "run_forever":
        instead = "call loop.run_forever() at a cell's top level"
    elif coroutine:
        instead = f"await {coroutine}() instead"
    else:
        instead = "await what it runs instead"
    return (
        "asyncrepl: the REPL's loop is running this cell, and this call was not in a cell "
        "(asyncrepl runs asyncio.run(), run_until_complete() and run_forever() as in a script "
        f"when a cell or %run calls them); {instead}, or run the file with %run"
    )


def _failed_call(tb) -> tuple[str | None, str | None]:
    """Which loop-starting call failed (innermost), and the name of the coroutine it was given."""
    call = coroutine = None
    for code, given in _loop_starts(tb):
        call = code.co_name
        coroutine = getattr(given, "__name__", None) or coroutine
    return call, coroutine
