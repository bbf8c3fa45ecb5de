"""The REPL's loop: one asyncio loop, always running, and how cells run on it.

Plain terminal IPython runs its asyncio loop only while a cell containing
``await`` executes.  Here:

* every cell runs as a task on IPython's loop (:class:`CellRunner`), so
  ``asyncio.get_running_loop()`` and ``create_task`` work in any cell;
* while the prompt waits for a key, a prompt_toolkit input hook
  (:class:`PromptHook`) runs the same loop, so background tasks keep going;
* Ctrl-C (:class:`Interrupter`) cancels what the cell awaits, or stops the
  task that holds the loop, and never escapes to IPython's main loop;
* a top-level ``asyncio.run(main())`` becomes an ``await`` on this loop
  (see ``_rewrite``), and the errors of deeper calls explain themselves.

In a Jupyter kernel the loop already runs forever and ipykernel already
cancels the cell on interrupt; only debug mode, the ``asyncio.run`` rewrite
and the error hints apply there.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import selectors
import signal
import sys
import threading
import weakref
from collections import deque
from contextlib import ExitStack, contextmanager
from typing import Any

from ._frames import frame_location
try:
    import termios
except ImportError:  # Windows: no terminal modes; Ctrl-C at a frozen prompt is not caught
    termios = None

from ._diagnostics import BlockedLoopWatchdog, FailedTasks, UnawaitedCoroutines, report
from ._rewrite import rewrite_cell
from ._tasks import TaskRegistry

_HELPER = "__import__('asyncrepl')._entry"

# asyncio's messages when code tries to start or re-enter a loop.
_LOOP_BUSY_MESSAGES = (
    "asyncio.run() cannot be called from a running event loop",
    "This event loop is already running",
    "Cannot run the event loop while another loop is running",
)
_LOOP_BUSY_HINT = (
    "asyncrepl: the REPL's loop is always running, so code cannot start or re-enter "
    "a loop; await the coroutine instead (await main()), or run blocking code in a "
    "thread (await asyncio.to_thread(func))"
)

# Coroutines of IPython's and ipykernel's own tasks.  A cell that computes for
# a while holds the loop by design; asyncio's debug report about it is noise.
_MACHINERY = (
    "InteractiveShell.run_cell_async()",
    "Kernel.shell_main()",
    "Kernel.dispatch_queue()",
    "Kernel.process_one()",
    "Kernel.dispatch_shell()",
    "Kernel.execute_request()",
    "run_in_context()",
)

# Frames inside these files mean the loop itself is running, between callbacks
# or waiting for events, rather than user code.
_LOOP_FILES = frozenset(
    os.path.normcase(os.path.abspath(module.__file__))
    for module in (
        selectors,
        sys.modules["asyncio.base_events"],
        sys.modules["asyncio.selector_events"],
        sys.modules["asyncio.unix_events"] if sys.platform != "win32" else selectors,
    )
)


def _in_loop_machinery(frame) -> bool:
    return frame is not None and os.path.normcase(frame.f_code.co_filename) in _LOOP_FILES


class _MachineryFilter(logging.Filter):
    """Drop asyncio's "Executing <Task ...> took N seconds" about IPython's own
    tasks, and about tasks that Ctrl-C stopped (asyncrepl has named those)."""

    def __init__(self, already_reported=(), replaced=lambda: False):
        super().__init__()
        self.already_reported = already_reported
        self.replaced = replaced  # True while asyncrepl's watchdog reports slow steps itself

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Executing %s took %.3f seconds" and record.args:
            if self.replaced():
                return False
            handle = str(record.args[0])
            if any(marker in handle for marker in _MACHINERY):
                return False
            return not any(f"name={name!r}" in handle for name in self.already_reported)
        return True


class Interrupter:
    """The SIGINT handler while the REPL's loop is driven by the terminal.

    What Ctrl-C should do depends on what holds the main thread:

    * the loop waits for events and a cell awaits something: cancel the cell's
      task, so the awaited coroutine gets CancelledError and unwinds;
    * the cell's own code runs: KeyboardInterrupt, as in plain Python;
    * another task runs without awaiting (``while True: pass``): raise
      CancelledError inside it, which cancels just that task; a task that
      swallows that gets KeyboardInterrupt the next time;
    * a plain callback holds the loop: KeyboardInterrupt, which the runner or
      the prompt hook catches;
    * the loop is idle at the prompt: hand Ctrl-C to the prompt, as a key.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, registry: TaskRegistry, cell_namer=None):
        self.loop = loop
        self.cell_namer = cell_namer
        self.registry = registry
        self.cell_task: asyncio.Task | None = None
        self.cell_interrupted = False
        self.forward_to_prompt = None  # set by PromptHook while it runs the loop
        self._cancelled_by_us: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()
        self.stopped_names: deque[str] = deque(maxlen=8)  # for _MachineryFilter

    def __call__(self, signum, frame) -> None:
        loop = self.loop
        if not loop.is_running():
            raise KeyboardInterrupt
        task = asyncio.current_task(loop)
        if task is None:
            if _in_loop_machinery(frame):
                if self.cell_task is not None:
                    loop.call_soon_threadsafe(self.interrupt_cell)
                elif self.forward_to_prompt is not None:
                    self.forward_to_prompt()
                return
            loop.call_soon(
                report,
                f"Ctrl-C stopped a callback that held the loop at "
                f"{frame_location(frame, self.cell_namer)}",
            )
            raise KeyboardInterrupt
        if task is self.cell_task:
            raise KeyboardInterrupt
        where = frame_location(frame, self.cell_namer)
        self.stopped_names.append(task.get_name())
        if self.cell_task is not None:
            loop.call_soon(self.interrupt_cell)
        if task in self._cancelled_by_us:
            loop.call_soon(
                report,
                f"Ctrl-C stopped task {self.registry.label(task)} at {where} with KeyboardInterrupt: "
                "it caught CancelledError and kept the loop busy",
            )
            raise KeyboardInterrupt
        self._cancelled_by_us.add(task)
        self.registry.note_cancel_by(task, "Ctrl-C")
        loop.call_soon(
            report, f"Ctrl-C cancelled task {self.registry.label(task)}, which held the loop at {where}"
        )
        raise asyncio.CancelledError

    def interrupt_cell(self) -> None:
        task = self.cell_task
        if task is not None and not task.done():
            self.cell_interrupted = True
            task.cancel("KeyboardInterrupt")


class CellRunner:
    """Runs each cell's coroutine as a task on the REPL's loop.

    IPython hands it every cell, with or without ``await``, so that cell code
    always runs with the loop running.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interrupter: Interrupter, shell):
        self.loop = loop
        self.interrupter = interrupter
        self.shell = shell

    def __str__(self) -> str:  # %autoawait shows this
        return "asyncrepl"

    def __call__(self, coro):
        loop = self.loop
        if loop.is_running():
            # A cell run from inside a cell (%%capture, %rerun, run_cell() in
            # user code): the loop is already busy with the outer cell.
            return _run_without_suspending(coro)
        task = _create_machinery_task(loop, coro, f"In [{self.shell.execution_count}]")
        interrupter = self.interrupter
        interrupter.cell_task, interrupter.cell_interrupted = task, False
        try:
            while True:
                try:
                    return loop.run_until_complete(task)
                except KeyboardInterrupt:
                    if task.done():
                        raise
                    # Ctrl-C stopped a callback or a stubborn task, not the
                    # cell: cancel what the cell awaits and let it unwind.
                    interrupter.interrupt_cell()
        finally:
            interrupter.cell_task = None


def _create_machinery_task(loop, coro, name: str) -> asyncio.Task:
    # In debug mode asyncio records a "created at" stack for every task and
    # handle: most of the time a trivial cell takes, and of no use for the
    # cell's own task, which is IPython's machinery.  The loop is not running
    # here, so flipping the flag changes nothing else.
    debug = loop.get_debug()
    loop.set_debug(False)
    try:
        return loop.create_task(coro, name=name)
    finally:
        loop.set_debug(debug)


_NESTED_CELL_WAITS = (
    "a cell run from inside another cell (%%capture, %rerun, run_cell()) cannot "
    "wait for anything: the loop is busy running the outer cell"
)


def _run_without_suspending(coro):
    """Drive a cell's coroutine to its end without returning to the loop.

    A bare ``yield`` (``await asyncio.sleep(0)``) needs nothing from the loop;
    a future does, and the loop cannot run while the outer cell holds it, so
    the user's ``await`` gets an error instead, shown where it stands.
    """
    sending, error = None, None
    while True:
        try:
            yielded = coro.send(sending) if error is None else coro.throw(error)
        except StopIteration as done:
            return done.value
        error = None if yielded is None else RuntimeError(_NESTED_CELL_WAITS)


class PromptHook:
    """A prompt_toolkit input hook that runs the REPL's loop while the prompt waits.

    prompt_toolkit runs its own loop for the prompt and calls this hook
    whenever it waits for input; the hook runs the REPL's loop until a key (or
    prompt_toolkit's own work) arrives.  The prompt's tasks, exception handler
    and settings thereby stay off the user's loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interrupter: Interrupter, shell):
        self.loop = loop
        self.interrupter = interrupter
        self.shell = shell

    def __call__(self, context) -> None:
        loop = self.loop
        if (
            loop.is_running()
            or loop.is_closed()
            or threading.current_thread() is not threading.main_thread()
        ):
            return  # a prompt shown from inside a cell (a debugger): do nothing
        prompt_loop = asyncio.get_running_loop()  # prompt_toolkit's, parked in its selector
        with ExitStack() as stack:
            stack.enter_context(_sigint_handler(self.interrupter))
            stack.enter_context(_ctrl_c_raises_sigint(self._tty_fd()))
            stack.enter_context(_running_loop_cleared(prompt_loop))
            self.interrupter.forward_to_prompt = lambda: self._send_ctrl_c(prompt_loop)
            stack.callback(setattr, self.interrupter, "forward_to_prompt", None)
            loop.add_reader(context.fileno(), loop.stop)
            stack.callback(loop.remove_reader, context.fileno())
            try:
                loop.run_forever()
            except KeyboardInterrupt:
                pass  # the Interrupter stopped a callback or task and reports it

    def _tty_fd(self) -> int | None:
        app = getattr(self.shell, "pt_app", None)
        try:
            fd = app.app.input.fileno() if app is not None else sys.stdin.fileno()
        except Exception:
            return None
        return fd if os.isatty(fd) else None

    def _send_ctrl_c(self, prompt_loop) -> None:
        from prompt_toolkit.key_binding import KeyPress
        from prompt_toolkit.keys import Keys

        processor = self.shell.pt_app.app.key_processor

        def press() -> None:
            processor.feed(KeyPress(Keys.ControlC, "\x03"))
            processor.process_keys()

        if prompt_loop is not None:
            prompt_loop.call_soon_threadsafe(press)


@contextmanager
def _sigint_handler(handler):
    previous = signal.signal(signal.SIGINT, handler)
    # prompt_toolkit's loop listens for SIGINT on its wakeup fd and would turn
    # it into an exception out of the prompt; the hook answers SIGINT alone.
    wakeup = signal.set_wakeup_fd(-1)
    try:
        yield
    finally:
        signal.set_wakeup_fd(wakeup)
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _ctrl_c_raises_sigint(fd: int | None):
    """Let the terminal turn Ctrl-C (and no other key) into SIGINT.

    The prompt puts the terminal in raw mode, where Ctrl-C is just a byte in
    the input, which nobody reads while a task keeps the loop busy.
    """
    if fd is None or termios is None:
        yield
        return
    try:
        before = termios.tcgetattr(fd)
        disabled = os.fpathconf(fd, "PC_VDISABLE")
    except (termios.error, OSError, ValueError):
        yield
        return
    attrs = [*before[:6], list(before[6])]
    attrs[3] |= termios.ISIG
    off = bytes([disabled & 0xFF])
    attrs[6][termios.VINTR] = b"\x03"
    attrs[6][termios.VQUIT] = off
    attrs[6][termios.VSUSP] = off
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, before)


@contextmanager
def _running_loop_cleared(prompt_loop):
    # PRIVATE (asyncio 3.11-3.14: asyncio._set_running_loop is exported but
    # undocumented).  The hook is called from inside prompt_toolkit's
    # run_until_complete, so asyncio believes a loop is running in this thread
    # and would refuse to run ours.  prompt_toolkit's loop is parked in its
    # selector meanwhile; it is put back before the hook returns.
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(prompt_loop)


class _LoopEntry:
    """What a rewritten ``asyncio.run(...)`` or ``loop.run_until_complete(...)`` calls."""

    def __init__(self):
        self.told = False

    async def asyncio_run(self, main, *, debug=None, loop_factory=None):
        """``asyncio.run(main)`` on the running loop: run *main* as a task, then
        cancel the tasks it left pending, as asyncio.run does."""
        __tracebackhide__ = True
        if not asyncio.iscoroutine(main):
            raise ValueError(f"a coroutine was expected, got {main!r}")
        if not self.told:
            self.told = True
            name = getattr(main, "__name__", "main")
            report(
                f"asyncio.run() runs {name}() on the REPL's loop, as 'await {name}()' "
                "would (said once)"
            )
        return await self._run_cleaning_up(main)

    async def run_until_complete(self, loop, future):
        """``loop.run_until_complete(future)``: an await when *loop* is this one."""
        __tracebackhide__ = True
        if loop is not asyncio.get_running_loop():
            return loop.run_until_complete(future)
        return await self._run_cleaning_up(future)

    @staticmethod
    async def _run_cleaning_up(awaitable):
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        before = asyncio.all_tasks(loop)
        task = asyncio.ensure_future(awaitable)
        try:
            return await task
        finally:
            leftovers = asyncio.all_tasks(loop) - before - {task, asyncio.current_task()}
            for leftover in leftovers:
                leftover.cancel()
            if leftovers:
                await asyncio.gather(*leftovers, return_exceptions=True)


entry = _LoopEntry()


def _close_abandoned_coroutine(tb) -> None:
    """asyncio.run() raised before starting its coroutine; close it, so no
    "coroutine was never awaited" warning follows the explanation."""
    runner_code = asyncio.runners.run.__code__
    while tb is not None:
        if tb.tb_frame.f_code is runner_code:
            main = tb.tb_frame.f_locals.get("main")
            if asyncio.iscoroutine(main):
                main.close()
        tb = tb.tb_next


class ReplLoop:
    """Owns the REPL's loop for the lifetime of the extension.

    :meth:`start` changes what it must and records how to undo each change;
    :meth:`stop` undoes them all, in reverse order.
    """

    def __init__(self, shell, settings):
        self.shell = shell
        self.settings = settings
        self.in_kernel = _is_kernel_shell(shell)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: TaskRegistry | None = None
        self.interrupter: Interrupter | None = None
        self.unawaited: UnawaitedCoroutines | None = None
        self.watchdog: BlockedLoopWatchdog | None = None
        self.failed_tasks: FailedTasks | None = None
        self._cell_context: contextvars.Context | None = None
        self.runner: CellRunner | None = None
        self.prompt_hook_active = False
        self.awaited_magics: tuple[str, ...] = ()  # magics that return coroutines
        self._undo = ExitStack()

    def start(self) -> None:
        shell, undo = self.shell, self._undo
        try:
            self._attach_to_loop()
            self._rewrite_loop_entry_calls()

            previous_autoawait = shell.autoawait
            shell.autoawait = True
            undo.callback(setattr, shell, "autoawait", previous_autoawait)

            if not self.in_kernel:
                self._run_cells_on_loop()
                self._install_sigint_handler()
                self._run_loop_at_prompt()
            self._explain_errors()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._undo.close()

    # -- the loop itself -------------------------------------------------

    def _attach_to_loop(self) -> None:
        from IPython.core.async_helpers import get_asyncio_loop

        if self.in_kernel and not _loop_running():
            # Loaded from the kernel's config, before ipykernel starts its
            # loop: the loop to configure is the one the first cell runs on.
            self._attach_at_first_cell()
            return
        self.loop = get_asyncio_loop()
        self.tasks = TaskRegistry(self.loop, self.settings.task_history)
        self.tasks.install()
        self._undo.callback(self.tasks.uninstall)
        if not self.in_kernel:
            self.interrupter = Interrupter(self.loop, self.tasks, _cell_namer(self.shell))
        self._start_diagnostics()
        self._keep_loop_settings(self.loop)
        self._apply_settings()
        names = [
            "debug",
            "slow_callback_duration",
            "task_history",
            "report_blocking",
            "warn_unawaited",
            "report_task_errors",
        ]
        self.settings.observe(self._apply_settings, names=names)
        self._undo.callback(self.settings.unobserve, self._apply_settings, names=names)
        self._filter_machinery_reports()

    def _start_diagnostics(self) -> None:
        shell, undo, namer = self.shell, self._undo, _cell_namer(self.shell)
        self.unawaited = UnawaitedCoroutines(namer)
        self.unawaited.install()
        undo.callback(self.unawaited.uninstall)
        self.failed_tasks = FailedTasks(self.loop, self.tasks, namer)
        self.failed_tasks.install()
        undo.callback(self.failed_tasks.uninstall)
        self.watchdog = BlockedLoopWatchdog(
            self.loop, self.tasks, self.settings.slow_callback_duration, namer, lambda: self._cell_context
        )
        if self.interrupter is not None:
            self.watchdog.quiet_names = self.interrupter.stopped_names  # Ctrl-C said it already
        self.watchdog.start()
        undo.callback(self.watchdog.stop)
        shell.events.register("pre_run_cell", self._before_cell)
        undo.callback(_unregister_if_present, shell.events, "pre_run_cell", self._before_cell)
        shell.events.register("post_run_cell", self._after_cell)
        undo.callback(_unregister_if_present, shell.events, "post_run_cell", self._after_cell)

    def _before_cell(self, info=None) -> None:
        # The cell's context: reports about callbacks print in it, so that
        # ipykernel puts them in this cell's output.
        self._cell_context = contextvars.copy_context()

    def _after_cell(self, result) -> None:
        if result is not None:
            source = getattr(result.info, "transformed_cell", None) or result.info.raw_cell or ""
            self.unawaited.check_cell(source, result.result, self.shell.user_ns)

    def _attach_at_first_cell(self) -> None:
        events = self.shell.events

        def attach() -> None:
            if _loop_running():
                events.unregister("pre_execute", attach)
                self._attach_to_loop()

        events.register("pre_execute", attach)
        self._undo.callback(_unregister_if_present, events, "pre_execute", attach)

    def _keep_loop_settings(self, loop) -> None:
        debug, slow = loop.get_debug(), loop.slow_callback_duration

        def restore() -> None:
            if not loop.is_closed():
                loop.set_debug(debug)
                loop.slow_callback_duration = slow

        self._undo.callback(restore)

    def _apply_settings(self, change=None) -> None:
        settings = self.settings
        self.loop.set_debug(settings.debug)
        self.loop.slow_callback_duration = settings.slow_callback_duration
        self.watchdog.threshold = settings.slow_callback_duration
        self.watchdog.enabled = settings.report_blocking
        self.unawaited.enabled = settings.warn_unawaited
        self.failed_tasks.enabled = settings.report_task_errors
        if self.tasks.history_size != self.settings.task_history:
            self.tasks.resize_history(self.settings.task_history)

    def _filter_machinery_reports(self) -> None:
        stopped = self.interrupter.stopped_names if self.interrupter is not None else ()
        machinery_filter = _MachineryFilter(stopped, lambda: self.settings.report_blocking)
        logger = logging.getLogger("asyncio")
        logger.addFilter(machinery_filter)
        self._undo.callback(logger.removeFilter, machinery_filter)

    # -- cells -----------------------------------------------------------

    def _run_cells_on_loop(self) -> None:
        shell = self.shell
        self.runner = CellRunner(self.loop, self.interrupter, shell)
        # IPython (7.0 to 9.x) sends every cell, awaiting or not, to
        # ``trio_runner`` when one is set; ``set_trio_runner`` is the public
        # setter ipykernel uses.  Despite the name it is the only switch that
        # routes plain cells through a runner too.
        previous_trio, previous_loop_runner = shell.trio_runner, shell.loop_runner
        shell.set_trio_runner(self.runner)
        shell.loop_runner = self.runner
        self._undo.callback(setattr, shell, "loop_runner", previous_loop_runner)
        self._undo.callback(shell.set_trio_runner, previous_trio)

    def _rewrite_loop_entry_calls(self) -> None:
        shell = self.shell

        def transform(lines: list[str]) -> list[str]:
            source = "".join(lines)
            asyncio_names, run_names = [], []
            for name, value in shell.user_ns.items():
                if value is asyncio:
                    asyncio_names.append(name)
                elif value is asyncio.run:
                    run_names.append(name)
            rewrite = rewrite_cell(
                source,
                helper=_HELPER,
                asyncio_names=asyncio_names,
                run_names=run_names,
                awaited_magics=self.awaited_magics,
            )
            return lines if rewrite is None else rewrite.source.splitlines(keepends=True)

        transform.has_side_effects = False
        shell.input_transformers_post.append(transform)
        self._undo.callback(_remove_if_present, shell.input_transformers_post, transform)

    def _explain_errors(self) -> None:
        shell = self.shell
        interrupter = self.interrupter
        previous_types, previous_handler = shell.custom_exceptions, shell.CustomTB

        def handler(shell, etype, value, tb, tb_offset=None):
            if (
                issubclass(etype, asyncio.CancelledError)
                and interrupter is not None
                and interrupter.cell_interrupted
            ):
                print("KeyboardInterrupt")
                return None
            if issubclass(etype, RuntimeError) and str(value) in _LOOP_BUSY_MESSAGES:
                _close_abandoned_coroutine(tb)
                if _LOOP_BUSY_HINT not in getattr(value, "__notes__", ()):
                    value.add_note(_LOOP_BUSY_HINT)
            elif previous_types and issubclass(etype, previous_types):
                return previous_handler(etype, value, tb, tb_offset=tb_offset)
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
            return None

        shell.set_custom_exc((RuntimeError, asyncio.CancelledError, *previous_types), handler)

        def restore() -> None:
            shell.custom_exceptions, shell.CustomTB = previous_types, previous_handler

        self._undo.callback(restore)

    # -- Ctrl-C and the prompt ---------------------------------------------

    def _install_sigint_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.signal(signal.SIGINT, self.interrupter)
        self._undo.callback(signal.signal, signal.SIGINT, previous)

    def _run_loop_at_prompt(self) -> None:
        shell = self.shell
        if getattr(shell, "pt_app", None) is None or not hasattr(shell, "enable_gui"):
            return  # no prompt_toolkit prompt: in-process shells, --simple-prompt
        from IPython.terminal import pt_inputhooks

        previous_gui = getattr(shell, "active_eventloop", None)
        if previous_gui not in (None, "asyncio"):
            report(
                f"%gui {previous_gui} is active, so background tasks pause while the "
                "prompt waits; run '%gui' then '%reload_ext asyncrepl' to change that"
            )
            return
        pt_inputhooks.register("asyncrepl", PromptHook(self.loop, self.interrupter, shell))
        self._undo.callback(pt_inputhooks.registered.pop, "asyncrepl", None)
        if previous_gui is not None:
            shell.enable_gui(None)
        shell.enable_gui("asyncrepl")
        self.prompt_hook_active = True

        def restore() -> None:
            if getattr(shell, "active_eventloop", None) == "asyncrepl":
                shell.enable_gui(None)
            if previous_gui is not None:
                shell.enable_gui(previous_gui)

        self._undo.callback(restore)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _unregister_if_present(events, name: str, callback) -> None:
    if callback in events.callbacks[name]:
        events.unregister(name, callback)


def _remove_if_present(items: list, item: Any) -> None:
    if item in items:
        items.remove(item)


def _is_kernel_shell(shell) -> bool:
    kernel_module = sys.modules.get("ipykernel.zmqshell")
    return kernel_module is not None and isinstance(shell, kernel_module.ZMQInteractiveShell)


def _cell_namer(shell):
    compiler = getattr(shell, "compile", None)
    return getattr(compiler, "format_code_name", None)
