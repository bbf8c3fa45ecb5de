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

import ast
import asyncio
import contextvars
import functools
import linecache
import logging
import signal
import sys
import threading
from contextlib import ExitStack
from typing import Any

from ._deadline import CellTimeout, waiting_at
from ._diagnostics import FailedTasks, UnawaitedCoroutines, report
from ._interrupt import Interrupter, KernelInterrupts, without_handler_frames
from ._monitor import BlockedLoopReporter, LoopMonitor, _MachineryFilter
from ._prompt import PromptHook, _escaped
from ._render import Views
from ._rewrite import rewrite_cell
from ._scripts import LOOP_BUSY_MESSAGES, LoopGuard, close_abandoned_coroutine, entry, loop_busy_hint, script_mode
from ._tasks import TaskRegistry

_HELPER = "__import__('asyncrepl')._entry"


class CellRunner:
    """Runs each cell's coroutine as a task on the REPL's loop.

    IPython hands it every cell, with or without ``await``, so that cell code
    always runs with the loop running.  The cell finishes, fails or is
    cancelled before the runner returns: nothing of it runs later.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interrupter: Interrupter, monitor, shell):
        self.loop = loop
        self.interrupter = interrupter
        self.monitor = monitor
        self.shell = shell

    def __str__(self) -> str:  # %autoawait shows this
        return "asyncrepl"

    def __call__(self, coro):
        loop = self.loop
        if loop.is_running():
            # A cell run from inside a cell (%%capture, %rerun, run_cell() in
            # user code): the loop is already busy with the outer cell.
            return _run_without_suspending(coro)
        interrupter = self.interrupter
        # While the loop is not running, Ctrl-C is remembered, never raised
        # here: the cell is cancelled as soon as the loop runs it.
        pressed: list[bool] = []
        interrupter.in_window = lambda: pressed.append(True)
        try:
            task = _create_machinery_task(loop, coro, f"In [{self.shell.execution_count}]")
            interrupter.cell_task, interrupter.cell_interrupted = task, False
            interrupter.in_window = lambda: loop.call_soon_threadsafe(interrupter.interrupt_cell, task)
            if pressed:
                interrupter.interrupt_cell(task)
            while True:
                try:
                    return loop.run_until_complete(task)
                except (KeyboardInterrupt, SystemExit) as error:
                    if task.done():
                        raise  # the cell's own: IPython shows it
                    # A background task or callback raised it and stopped
                    # the loop: the cell goes on.
                    _escaped(error)
                except RuntimeError:
                    if task.done():
                        raise
                    # The loop was stopped before the cell ended: run on.
                finally:
                    self.monitor.paused()
        finally:
            interrupter.cell_task = None
            interrupter.in_window = None


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
        self.monitor: LoopMonitor | None = None
        self.blocked: BlockedLoopReporter | None = None
        self.failed_tasks: FailedTasks | None = None
        self._cell_context: contextvars.Context | None = None
        self.runner: CellRunner | None = None
        self.prompt_hook_active = False
        self.awaited_magics: tuple[str, ...] = ()  # magics that return coroutines
        self._deadline: asyncio.TimerHandle | None = None  # AsyncRepl.cell_timeout's, for the running cell
        self._timed_out: CellTimeout | None = None
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
                self._follow_autoawait()
                self._install_sigint_handler()
                self._run_loop_at_prompt()
            self._explain_errors()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._undo.close()
        if self._deadline is not None:  # unloaded by the cell it was set for
            self._deadline.cancel()
            self._deadline = None

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
        self._start_diagnostics()
        self.interrupter = Interrupter(self.loop, self.tasks, self.monitor, _cell_namer(self.shell))
        self.blocked.reported_already = self.interrupter.stopped  # Ctrl-C named those
        if self.in_kernel:
            self._interrupt_in_kernel()
            self._shut_down_from_any_thread()
        self._guard_loop_from_user_code()
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

    def _guard_loop_from_user_code(self) -> None:
        # loop.stop() and loop.close() in user code end the user's run, never
        # the REPL's loop; the stand-ins for asyncio.run() and friends (see
        # _scripts) work on this loop from now on.
        guard = LoopGuard(self.loop)
        if guard.install():
            self._undo.callback(guard.uninstall)
        entry.attach(self.loop, guard, self.tasks.context_of, self.monitor.elsewhere)
        self._undo.callback(entry.detach)
        self._run_scripts_as_scripts()

    def _run_scripts_as_scripts(self) -> None:
        """``%run script.py`` runs the script as ``python script.py`` would: with
        no loop running, so its asyncio.run() (or loop of its own) runs as printed."""
        manager = self.shell.magics_manager
        if hasattr(manager, "find"):  # IPython 9.17+ registers %run lazily; find() imports it
            original = manager.find("line", "run")
        else:
            original = manager.magics["line"].get("run")
        if original is None:
            return

        @functools.wraps(original)
        def run(*args, **kwargs):
            with script_mode():
                return original(*args, **kwargs)

        manager.magics["line"]["run"] = run
        self._undo.callback(manager.magics["line"].__setitem__, "run", original)

    def _start_diagnostics(self) -> None:
        shell, undo, namer = self.shell, self._undo, _cell_namer(self.shell)
        self.unawaited = UnawaitedCoroutines(namer)
        self.unawaited.install()
        undo.callback(self.unawaited.uninstall)
        self.failed_tasks = FailedTasks(self.loop, self.tasks, namer)
        self.failed_tasks.install()
        undo.callback(self.failed_tasks.uninstall)
        self.blocked = BlockedLoopReporter(self.loop, self.tasks, namer, lambda: self._cell_context)
        self.monitor = LoopMonitor(
            self.loop, self._slow_step_threshold, on_hold=self.blocked, describe=self.tasks.label
        )
        self.monitor.start()
        undo.callback(self.monitor.stop)
        shell.events.register("pre_run_cell", self._before_cell)
        undo.callback(_unregister_if_present, shell.events, "pre_run_cell", self._before_cell)
        shell.events.register("post_run_cell", self._after_cell)
        undo.callback(_unregister_if_present, shell.events, "post_run_cell", self._after_cell)

    def _before_cell(self, info=None) -> None:
        # The cell's context: reports about callbacks print in it, so that
        # ipykernel puts them in this cell's output.
        self._cell_context = contextvars.copy_context()
        self._follow_loop_threshold()
        if self.in_kernel:
            # The cell's task, which Ctrl-C treats as the cell's own code.
            self.interrupter.cell_task = asyncio.current_task()
            self.interrupter.cell_interrupted = False
        if (notice := self.tasks.adopt_task_factory()) is not None:
            report(notice)
        self._deadline_for(info)

    def _after_cell(self, result) -> None:
        interrupted, timed_out = self.interrupter.cell_interrupted, self._timed_out
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = self._timed_out = None
        # What the cell's reply names (ipykernel reads it after this): what the user saw.
        error = getattr(result, "error_in_exec", None)
        if isinstance(error, asyncio.CancelledError) and timed_out is not None:
            error = result.error_in_exec = timed_out
        elif isinstance(error, asyncio.CancelledError) and interrupted:
            result.error_in_exec = KeyboardInterrupt()
        if isinstance(error, CellTimeout):
            result.error_in_exec = TimeoutError(str(error))
        if self.in_kernel:
            self.interrupter.cell_task = None
        else:
            self._check_prompt_hook()
        # What the cell's tasks have to say about failures is said inside the
        # cell (ipykernel's clients stop listening to a cell once it is idle).
        self.failed_tasks.flush()
        if result is not None:
            source = getattr(result.info, "transformed_cell", None) or result.info.raw_cell or ""
            self.unawaited.check_cell(source, result.result, self.shell.user_ns)

    def _deadline_for(self, info) -> None:
        """AsyncRepl.cell_timeout: cancel an awaiting cell's task at its deadline."""
        seconds = self.settings.cell_timeout
        if not seconds or info is None or not self._runs_async(info):
            return
        task = asyncio.current_task()
        if task is not None:
            self._deadline = self.loop.call_later(seconds, self._cell_timed_out, task, seconds)

    def _runs_async(self, info) -> bool:
        raw = info.raw_cell or ""
        transformed = getattr(info, "transformed_cell", None) or raw
        try:
            return self.shell.should_run_async(raw, transformed_cell=transformed, preprocessing_exc_tuple=None)
        except Exception:
            return False

    def _cell_timed_out(self, task: asyncio.Task, seconds: float) -> None:
        if task.done():
            return
        link = waiting_at(task)
        self._timed_out = CellTimeout(seconds, link and Views(_cell_namer(self.shell)).place(link))
        task.cancel("cell timeout")

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
        self.blocked.enabled = settings.report_blocking
        self.unawaited.enabled = settings.warn_unawaited
        self.failed_tasks.enabled = settings.report_task_errors
        if self.tasks.history_size != self.settings.task_history:
            self.tasks.resize_history(self.settings.task_history)

    def _slow_step_threshold(self) -> float:
        """How long a step may hold the loop: the loop's ``slow_callback_duration``,
        which is AsyncRepl.slow_callback_duration unless code set the loop's own."""
        value = self.loop.slow_callback_duration
        if isinstance(value, (int, float)) and 0.001 <= value < float("inf"):
            return float(value)
        return self.settings.slow_callback_duration

    def _follow_loop_threshold(self) -> None:
        # One setting: code that set loop.slow_callback_duration (as books
        # show) changed AsyncRepl.slow_callback_duration too.
        value = self._slow_step_threshold()
        if value != self.settings.slow_callback_duration:
            self.settings.slow_callback_duration = value

    def _filter_machinery_reports(self) -> None:
        machinery_filter = _MachineryFilter(self.interrupter.stopped, lambda: self.settings.report_blocking)
        logger = logging.getLogger("asyncio")
        logger.addFilter(machinery_filter)
        self._undo.callback(logger.removeFilter, machinery_filter)

    # -- cells -----------------------------------------------------------

    def _run_cells_on_loop(self) -> None:
        shell = self.shell
        self.runner = CellRunner(self.loop, self.interrupter, self.monitor, shell)
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
        typed: dict[int, tuple[str, str]] = {}  # line number -> (rewritten, as typed), for the cell being run

        def transform(lines: list[str]) -> list[str]:
            source = "".join(lines)
            asyncio_names, run_names, runner_names = [], [], []
            for name, value in shell.user_ns.items():
                if value is asyncio:
                    asyncio_names.append(name)
                elif value is asyncio.run:
                    run_names.append(name)
                elif value is asyncio.Runner:
                    runner_names.append(name)
            rewrite = rewrite_cell(
                source,
                helper=_HELPER,
                asyncio_names=asyncio_names,
                run_names=run_names,
                runner_names=runner_names,
                awaited_magics=self.awaited_magics,
            )
            typed.clear()
            if rewrite is None:
                return lines
            new_lines = rewrite.source.splitlines(keepends=True)
            for number, (old, new) in enumerate(zip(source.splitlines(), rewrite.source.splitlines()), 1):
                if old != new:
                    typed[number] = (new, old)
            return new_lines

        transform.has_side_effects = False
        shell.input_transformers_post.append(transform)
        self._undo.callback(_remove_if_present, shell.input_transformers_post, transform)

        show_typed = _ShowTypedLines(typed)
        shell.ast_transformers.append(show_typed)
        self._undo.callback(_remove_if_present, shell.ast_transformers, show_typed)

    def _explain_errors(self) -> None:
        shell = self.shell
        previous_types, previous_handler = shell.custom_exceptions, shell.CustomTB

        def handler(shell, etype, value, tb, tb_offset=None):
            interrupter = self.interrupter  # in a kernel loaded from config: from the first cell on
            if issubclass(etype, asyncio.CancelledError) and self._timed_out is not None:
                timed_out = self._timed_out
                shell._showtraceback(TimeoutError, timed_out, timed_out._render_traceback_())
                return None
            if (
                issubclass(etype, asyncio.CancelledError)
                and interrupter is not None
                and interrupter.cell_interrupted
            ):
                # What Ctrl-C on the cell means, in one line (ipykernel turns
                # it into the cell's error output).
                shell._showtraceback(KeyboardInterrupt, KeyboardInterrupt(), ["KeyboardInterrupt"])
                return None
            if issubclass(etype, KeyboardInterrupt):
                tb = without_handler_frames(tb)
            if (
                issubclass(etype, RuntimeError)
                and str(value) in LOOP_BUSY_MESSAGES
                and not any(note.startswith("asyncrepl:") for note in getattr(value, "__notes__", ()))
            ):
                value.add_note(loop_busy_hint(value))
                close_abandoned_coroutine(tb)
            elif issubclass(etype, NameError) and getattr(value, "name", None) == "__file__":
                # A script pasted into a cell: the one thing a REPL cannot give it.
                if not any(note.startswith("asyncrepl:") for note in getattr(value, "__notes__", ())):
                    value.add_note(
                        "asyncrepl: code typed or pasted into a cell has no __file__; "
                        "%run FILE runs the file as the script it is"
                    )
            elif previous_types and issubclass(etype, previous_types):
                return previous_handler(etype, value, tb, tb_offset=tb_offset)
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
            return None

        shell.set_custom_exc((RuntimeError, NameError, asyncio.CancelledError, KeyboardInterrupt, *previous_types), handler)

        def restore() -> None:
            shell.custom_exceptions, shell.CustomTB = previous_types, previous_handler

        self._undo.callback(restore)

    # -- Ctrl-C and the prompt ---------------------------------------------

    def _install_sigint_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.signal(signal.SIGINT, self.interrupter)
        self._undo.callback(signal.signal, signal.SIGINT, previous)

    def _interrupt_in_kernel(self) -> None:
        kernel = getattr(self.shell, "kernel", None)
        if kernel is None or not KernelInterrupts.fits(kernel) or threading.current_thread() is not threading.main_thread():
            return
        interrupts = KernelInterrupts(kernel, self.interrupter)
        interrupts.install()
        self._undo.callback(interrupts.uninstall)

    def _shut_down_from_any_thread(self) -> None:
        """Shutdown and restart stay as fast as without asyncrepl.

        ipykernel answers ``shutdown_request`` on its control thread and sets
        ``shell.exit_now`` there; the shell's observer of that trait calls
        ``loop.call_later`` on the main loop, which debug mode refuses from
        another thread ("Non-thread-safe operation"): no ``shutdown_reply``,
        and a restart waits for the frontend's timeout.  That one observer
        now runs on the loop's thread.

        PRIVATE (ipykernel 6.29.5 and 7.4.0): the observer is
        ``ZMQInteractiveShell._update_exit_now``, an ``@observe("exit_now")``
        handler; it is swapped on this shell instance only.
        """
        shell, loop = self.shell, self.loop
        handler = getattr(type(shell), "_update_exit_now", None)
        if handler is None:
            return
        try:
            shell.unobserve(handler, names="exit_now")
        except ValueError:
            return  # not observing: a different ipykernel

        def on_loop_thread(change) -> None:
            update = shell._update_exit_now
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is None or running is loop or loop.is_closed():
                update(change)
            else:
                loop.call_soon_threadsafe(update, change)

        shell.observe(on_loop_thread, names="exit_now")

        def restore() -> None:
            shell.unobserve(on_loop_thread, names="exit_now")
            shell.observe(handler, names="exit_now")

        self._undo.callback(restore)

    def _follow_autoawait(self) -> None:
        """``%autoawait trio`` (or curio, or any runner): asyncrepl steps aside
        for cells, and comes back with ``%autoawait asyncio``."""
        shell, runner = self.shell, self.runner
        from IPython.core.interactiveshell import _asyncio_runner

        def changed(change) -> None:
            new = change["new"]
            if new is runner:
                return
            if new is _asyncio_runner:
                shell.loop_runner = runner  # asyncio: asyncrepl's runner is asyncio's
                if shell.trio_runner is not runner:
                    shell.set_trio_runner(runner)
                    report("cells run on the REPL's loop again")
                return
            if shell.trio_runner is runner:
                shell.set_trio_runner(None)
                report(
                    f"cells now run with {getattr(new, '__name__', new)}, not on the REPL's asyncio loop; "
                    "'%autoawait asyncio' brings asyncrepl back"
                )

        shell.observe(changed, names="loop_runner")
        self._undo.callback(shell.unobserve, changed, names="loop_runner")

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
        hook = PromptHook(self.loop, self.interrupter, self.monitor, shell)
        pt_inputhooks.register("asyncrepl", hook)
        self._undo.callback(pt_inputhooks.registered.pop, "asyncrepl", None)
        # AsyncRepl.status_bar: the status line under the prompt (_prompt.StatusBar).
        from ._prompt import StatusBar
        from ._status import StatusLine

        hook.status_bar = StatusBar(shell, self.loop, self.monitor, StatusLine(self.tasks), self.settings)
        hook.status_bar.install()
        self._undo.callback(hook.status_bar.uninstall)
        self._no_size_polling(shell.pt_app.app)
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

    def _no_size_polling(self, app) -> None:
        # prompt_toolkit polls the terminal's size twice a second (for Windows
        # and threads); through the input hook each poll wakes three threads.
        # The hook passes SIGWINCH to the prompt itself (see _prompt), so an
        # idle prompt wakes nothing.
        if getattr(app, "terminal_size_polling_interval", None) is None:
            return
        previous = app.terminal_size_polling_interval
        app.terminal_size_polling_interval = None
        self._undo.callback(setattr, app, "terminal_size_polling_interval", previous)

    def _check_prompt_hook(self) -> None:
        """After a cell: say what a ``%gui`` in it did to the loop at the prompt."""
        shell = self.shell
        if "asyncrepl" not in _registered_input_hooks():
            return  # never ours (another %gui was active at load)
        gui = getattr(shell, "active_eventloop", None)
        if gui == "asyncio":
            # IPython's own integration runs the prompt itself on the REPL's
            # loop, where a task that never yields freezes it for good, and
            # Ctrl-C with it.  asyncrepl's hook does the same job safely.
            shell.enable_gui(None)
            shell.enable_gui("asyncrepl")
            gui = "asyncrepl"
            report("asyncrepl runs the loop while the prompt waits already; kept its own hook instead of %gui asyncio")
        if gui == "asyncrepl" or not self.prompt_hook_active:
            self.prompt_hook_active = gui == "asyncrepl"
            return
        self.prompt_hook_active = False
        now = "nothing runs the loop there now" if gui is None else f"%gui {gui} runs {gui}'s loop there instead"
        report(
            f"background tasks now pause while the prompt waits ({now}); "
            "they run during cells, and '%gui asyncrepl' brings them back at the prompt"
        )



class _ShowTypedLines(ast.NodeTransformer):
    """Puts the lines the user typed back into the cell's source that
    tracebacks, ``inspect`` and ``%pdb`` show, in place of the rewritten
    calls (``_rewrite`` keeps every line where it was).

    IPython caches the transformed text (``compile.cache``) just before it
    runs the AST transformers; this one changes no code, only that cache.
    """

    def __init__(self, typed: dict[int, tuple[str, str]]):
        self.typed = typed  # line number -> (rewritten, as typed), filled by the input transformer

    def visit_Module(self, node):  # noqa: N802 (ast.NodeTransformer's naming)
        typed = self.typed
        if typed:
            for name in reversed(list(linecache.cache)):  # the newest entry first
                lines = linecache.cache[name][2]
                if all(number <= len(lines) and lines[number - 1].rstrip("\n") == new for number, (new, _) in typed.items()):
                    for number, (_, old) in typed.items():
                        lines[number - 1] = old + "\n"
                    break
            typed.clear()
        return node


def _registered_input_hooks() -> dict:
    from IPython.terminal import pt_inputhooks

    return pt_inputhooks.registered


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
