"""IPython's terminal (and an in-process shell) as asyncrepl's host.

* Cells run as tasks on the REPL's loop (:class:`~asyncrepl._cell.runner.CellRunner`,
  IPython's cell runner).
* While the prompt waits for a key, a prompt_toolkit input hook
  (:class:`PromptHook`) runs the same loop, so background tasks keep going.
* asyncrepl owns SIGINT: Ctrl-C cancels what the cell awaits, stops a task
  that holds the loop, and never escapes to IPython's main loop.
* The status line under the prompt (:class:`StatusBar`).

An in-process shell (no prompt_toolkit prompt: ``InteractiveShell``,
``--simple-prompt``) gets the first and third.  Every touch of IPython's
terminal and prompt_toolkit's private attributes is in this module.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack, contextmanager

from .._asyncio_private import set_running_loop
try:
    import termios
except ImportError:  # Windows
    termios = None

from .._cell.runner import CellRunner, escaped
from .._render.reports import report
from .._interrupt import Interrupter, ctrl_c_raises_sigint, sigint_handler
from .._monitor import Hold, LoopMonitor
from .._status import StatusLine
from .._tasks import is_repl_machinery
from . import ipython
from .base import Host


class TerminalHost(Host):
    """The terminal, or an in-process shell without a prompt."""

    def __init__(self, shell):
        super().__init__(shell)
        self.prompt = getattr(shell, "pt_app", None) is not None and hasattr(shell, "enable_gui")
        self.name = "terminal" if self.prompt else "in-process"
        self.prompt_hook_active = False
        self.runner: CellRunner | None = None
        self.status_bar: StatusBar | None = None

    def install(self, session, undo: ExitStack) -> None:
        shell = self.shell
        self.runner = CellRunner(session, lambda: shell.execution_count)
        # IPython (7.0 to 9.x) sends every cell, awaiting or not, to
        # ``trio_runner`` when one is set; ``set_trio_runner`` is the public
        # setter ipykernel uses.  Despite the name it is the only switch that
        # routes plain cells through a runner too.
        previous_trio = shell.trio_runner
        ipython.set_trait(undo, shell, "loop_runner", self.runner)
        shell.set_trio_runner(self.runner)
        undo.callback(shell.set_trio_runner, previous_trio)
        self._follow_autoawait(undo)
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, session.interrupter)
            undo.callback(signal.signal, signal.SIGINT, previous)
            undo.callback(session.interrupter.signalled.subscribe(self._on_ctrl_c))
        if self.prompt:
            self._run_loop_at_prompt(session, undo)

    def _on_ctrl_c(self) -> None:
        # What Ctrl-C makes asyncrepl say starts on a line of its own: in
        # place of the status line's mark if it is on the cursor's line, else
        # after the ^C the terminal echoed.
        status_bar = self.status_bar
        if status_bar is None or not status_bar.unmark_the_cursors_line():
            _after_the_echoed_ctrl_c()

    def summary(self, session) -> str:
        debug = "on" if session.settings.debug else "off"
        at_prompt = ", also at the prompt" if self.prompt_hook_active else ""
        return f"the loop runs during every cell{at_prompt}; debug mode {debug}; Ctrl-C cancels what a cell awaits"

    def after_cell(self, session) -> None:
        if self.prompt:  # without a prompt there is no hook of ours to check
            self._check_prompt_hook()

    def _follow_autoawait(self, undo: ExitStack) -> None:
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
        undo.callback(shell.unobserve, changed, names="loop_runner")

    def _run_loop_at_prompt(self, session, undo: ExitStack) -> None:
        shell = self.shell
        from IPython.terminal import pt_inputhooks

        previous_gui = getattr(shell, "active_eventloop", None)
        if previous_gui not in (None, "asyncio"):
            report(
                f"%gui {previous_gui} is active, so background tasks pause while the "
                "prompt waits; run '%gui' then '%reload_ext asyncrepl' to change that"
            )
            return
        hook = PromptHook(session.loop, session.interrupter, session.monitor, shell)
        pt_inputhooks.register("asyncrepl", hook)
        undo.callback(pt_inputhooks.registered.pop, "asyncrepl", None)
        # AsyncRepl.status_bar: the status line under the prompt.
        hook.status_bar = StatusBar(
            shell, session.loop, session.monitor, StatusLine(session.registry), session.settings, session.cells
        )
        hook.status_bar.install()
        undo.callback(hook.status_bar.uninstall)
        self.status_bar = hook.status_bar
        undo.callback(setattr, self, "status_bar", None)
        _no_size_polling(undo, shell.pt_app.app)
        if previous_gui is not None:
            shell.enable_gui(None)
        shell.enable_gui("asyncrepl")
        self.prompt_hook_active = True

        def restore() -> None:
            if getattr(shell, "active_eventloop", None) == "asyncrepl":
                shell.enable_gui(None)
            if previous_gui is not None:
                shell.enable_gui(previous_gui)

        undo.callback(restore)

    def _check_prompt_hook(self) -> None:
        """After a cell: say what a ``%gui`` in it did to the loop at the prompt."""
        shell = self.shell
        from IPython.terminal import pt_inputhooks

        if "asyncrepl" not in pt_inputhooks.registered:
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


def _after_the_echoed_ctrl_c() -> None:
    """While a cell runs, the terminal is in its cooked mode and echoes Ctrl-C
    as ``^C``: what Ctrl-C then makes asyncrepl say starts on a line of its
    own.  (At the prompt nothing is echoed.)"""
    if termios is None:
        return
    try:
        fd = sys.__stdin__.fileno()
        lflag = termios.tcgetattr(fd)[3]
    except (termios.error, OSError, ValueError, AttributeError):
        return
    if lflag & termios.ECHO and lflag & getattr(termios, "ECHOCTL", 0):
        try:
            sys.__stdout__.write("\n")
            sys.__stdout__.flush()
        except (OSError, ValueError, RuntimeError):  # RuntimeError: reentrant write in progress
            pass


def _no_size_polling(undo: ExitStack, app) -> None:
    # prompt_toolkit polls the terminal's size twice a second (for Windows
    # and threads); through the input hook each poll wakes three threads.
    # The hook passes SIGWINCH to the prompt itself (see
    # _resizes_reach_the_prompt), so an idle prompt wakes nothing.
    if getattr(app, "terminal_size_polling_interval", None) is None:
        return
    previous = app.terminal_size_polling_interval
    app.terminal_size_polling_interval = None
    undo.callback(setattr, app, "terminal_size_polling_interval", previous)


class PromptHook:
    """A prompt_toolkit input hook that runs the REPL's loop while the prompt waits.

    prompt_toolkit runs its own loop for the prompt and calls this hook
    whenever it waits for input; the hook runs the REPL's loop until a key (or
    prompt_toolkit's own work) arrives.  The prompt's tasks, exception handler
    and settings thereby stay off the user's loop.

    prompt_toolkit blocks until input arrives once the hook returns, so the
    hook returns only then: whatever stops the loop early (an exception that
    escapes it) is reported and the loop runs on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interrupter: Interrupter, monitor: LoopMonitor, shell):
        self.loop = loop
        self.interrupter = interrupter
        self.monitor = monitor
        self.shell = shell
        self.status_bar: StatusBar | None = None  # told when the prompt waits
        # The loop's own stop, taken before any wrapper user code could meet.
        self._stop_loop = type(loop).stop.__get__(loop)

    def __call__(self, context) -> None:
        loop = self.loop
        if (
            loop.is_running()
            or loop.is_closed()
            or threading.current_thread() is not threading.main_thread()
        ):
            return  # a prompt shown from inside a cell (a debugger): do nothing
        prompt_loop = asyncio.get_running_loop()  # prompt_toolkit's, parked in its selector
        interrupter = self.interrupter
        forward = lambda: self._send_ctrl_c(prompt_loop)  # noqa: E731
        # From here on a Ctrl-C never raises: outside the loop it goes to the prompt.
        with ExitStack() as stack:
            stack.enter_context(interrupter.routed("outside_loop", forward))
            stack.enter_context(sigint_handler(interrupter))
            stack.enter_context(ctrl_c_raises_sigint(self._tty_fd()))
            stack.enter_context(_running_loop_cleared(prompt_loop))
            stack.enter_context(self._breakpoints_in_tasks())
            stack.enter_context(_resizes_reach_the_prompt(prompt_loop, self._app()))
            if self.status_bar is not None:
                stack.enter_context(self.status_bar.prompt_waits(prompt_loop))
            loop.add_reader(context.fileno(), self._stop_loop)
            stack.callback(loop.remove_reader, context.fileno())
            while not context.input_is_ready():
                try:
                    with interrupter.routed("to_prompt", forward):
                        loop.run_forever()
                except (KeyboardInterrupt, SystemExit) as error:
                    escaped(error)
                finally:
                    self.monitor.paused()

    def _app(self):
        return getattr(getattr(self.shell, "pt_app", None), "app", None)

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

        if prompt_loop is not None and not prompt_loop.is_closed():
            prompt_loop.call_soon_threadsafe(press)

    @contextmanager
    def _breakpoints_in_tasks(self):
        """``breakpoint()`` in a task that runs while the prompt waits.

        While its application runs, prompt_toolkit installs a breakpoint hook
        that hides the prompt around pdb, but finds the prompt's loop as the
        running loop, which here is the REPL's, and crashes the REPL.  This
        hook does what prompt_toolkit's does (hide the prompt, give pdb a
        cooked terminal) without looking for a loop.  A hook the user set
        (PYTHONBREAKPOINT, sys.breakpointhook) is left alone.
        """
        app = getattr(getattr(self.shell, "pt_app", None), "app", None)
        theirs = getattr(app, "_breakpointhook", None)
        if app is None or sys.breakpointhook != theirs:
            yield
            return
        sys.breakpointhook = lambda *args, **kwargs: _debug_in_task(app, sys._getframe(1))
        try:
            yield
        finally:
            if sys.breakpointhook is not theirs:
                sys.breakpointhook = theirs


class StatusBar:
    """AsyncRepl.status_bar: the status line as the prompt's bottom toolbar.

    The toolbar (prompt_toolkit's ``bottom_toolbar``, as IPython's prompt
    session offers it) shows :class:`~asyncrepl._status.StatusLine`'s text.
    It is computed when a prompt appears and, while the prompt waits, after
    an iteration of the loop that may have changed it, at most
    ``1 / INTERVAL`` times a second (the last change is always shown); the
    prompt is woken to redraw only when the text changed.  An idle loop has
    no iterations: nothing is computed, nothing drawn.

    While a step holds the loop, prompt_toolkit cannot draw: it runs on the
    same thread.  The monitor's thread then writes the line with the
    holding mark onto the terminal's bottom row itself (the cursor saved and
    restored, so the input line is untouched), and prompt_toolkit repaints
    the whole prompt once the loop is free.  Between a cell and its prompt
    (a task the cell started spins from its first step, before the prompt
    is drawn), the mark is written on the cursor's line instead, and erased
    once the loop is free.

    A bottom toolbar of the user's own is left alone: no status line then.
    """

    INTERVAL = 0.25  # seconds between two redraws, at least
    HELD_EVERY = 0.5  # seconds between two writes of the holding mark

    def __init__(self, shell, loop: asyncio.AbstractEventLoop, monitor: LoopMonitor, status: StatusLine, settings, cells=None):
        self.session = shell.pt_app
        self.cells = cells  # the running cell (the mark between a cell and its prompt)
        self._line_marked = False  # the mark is on the cursor's line
        self._counted_for = None  # the cell after which the counts were taken
        self.shell = shell
        self.loop = loop
        self.monitor = monitor
        self.status = status
        self.settings = settings
        self.theirs = False  # the user had a bottom toolbar of their own
        self._prompt_loop: asyncio.AbstractEventLoop | None = None  # while the prompt waits in the hook
        self._stale = True
        self._signature: tuple | None = None
        self._last_check = 0.0
        self._trailing: asyncio.TimerHandle | None = None
        self._held_drawn = 0.0
        self._repaint_pending = False
        self._unsubscribe = ()

    # -- installing --

    def install(self) -> None:
        self.theirs = self.session.bottom_toolbar is not None
        if self.theirs:
            report(
                "your prompt has a bottom toolbar of its own: asyncrepl leaves it there "
                "and shows no status line (AsyncRepl.status_bar)"
            )
        self._show(self.settings.status_bar)
        self.settings.observe(self._setting_changed, names="status_bar")
        self.shell.events.register("post_run_cell", self._after_cell)
        self._unsubscribe = (
            self.monitor.iteration_ended.subscribe(self._iteration),
            self.monitor.sampled.subscribe(self._sample),
        )

    def uninstall(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = ()
        if self._after_cell in self.shell.events.callbacks["post_run_cell"]:
            self.shell.events.unregister("post_run_cell", self._after_cell)
        self.settings.unobserve(self._setting_changed, names="status_bar")
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None
        self._show(False)

    def _show(self, on: bool) -> None:
        if self.theirs:
            return
        if on and self.session.bottom_toolbar is None:
            self._stale = True
            self.session.bottom_toolbar = self.toolbar
        elif not on and self.session.bottom_toolbar == self.toolbar:
            self.session.bottom_toolbar = None

    def _setting_changed(self, change) -> None:
        self._show(change["new"])

    def shown(self) -> bool:
        return self.session.bottom_toolbar == self.toolbar

    # -- what prompt_toolkit draws --

    def toolbar(self) -> str:
        """The toolbar's text; prompt_toolkit calls this at every redraw."""
        if self._stale:
            self._stale = False
            self.status.refresh()
        return self.status.text

    def _after_cell(self, result=None) -> None:
        self._stale = True
        self.status.new_prompt()

    @contextmanager
    def prompt_waits(self, prompt_loop):
        """While the hook runs the loop: the prompt is shown and can be woken."""
        if self._stale:  # counted now, before a task that holds the loop can keep prompt_toolkit from it
            self._stale = False
            self.status.refresh()
        self._prompt_loop = prompt_loop
        try:
            yield
        finally:
            self._prompt_loop = None

    def _redraw(self) -> None:
        prompt_loop = self._prompt_loop
        if prompt_loop is not None and not prompt_loop.is_closed():
            prompt_loop.call_soon_threadsafe(self.session.app.invalidate)

    # -- on the loop's thread --

    def _iteration(self, start: float, end: float) -> None:
        """Each iteration of the loop (the monitor's probe calls this as it ends)."""
        if self._line_marked:
            self.unmark_the_cursors_line()  # the step that held the loop has let go
        if self._prompt_loop is None and self._between_cell_and_prompt() and self._counted_for is not self.cells.current:
            # The counts the mark shows, should what the cell started hold the loop before the prompt.
            self._counted_for = self.cells.current
            self.status.refresh()
        if self._prompt_loop is None or not self.shown():
            return
        status = self.status
        if self.loop.is_running():
            # Not the stretch that ends as the hook stops the loop for a key
            # (or for prompt_toolkit's own wakeups): that is the REPL handing
            # the thread to the prompt, and its length varies with the
            # machine's load, which would move the figure while nothing runs.
            status.iteration(start, end)
        signature = status.signature()
        if signature == self._signature:
            return
        now = time.monotonic()
        due = self._last_check + self.INTERVAL
        if now >= due:
            self._check(now, signature)
        elif self._trailing is None:
            loop = self.loop
            self._trailing = loop.call_at(loop.time() + (due - now), self._trailing_check)
            # Called from inside the loop's select(), whose timeout was taken
            # before this timer existed: wake it, so it waits no longer.
            loop.call_soon_threadsafe(_nothing)

    def _check(self, now: float, signature: tuple) -> None:
        self._last_check, self._signature = now, signature
        if self.status.refresh():
            self._redraw()

    def _trailing_check(self) -> None:
        self._trailing = None
        if self._prompt_loop is None or not self.shown():
            self._stale = True
            return
        signature = self.status.signature()
        if signature != self._signature:
            self._check(time.monotonic(), signature)

    # -- on the monitor's thread, while a step holds the loop --

    def _sample(self, hold: Hold) -> None:
        if hold.debugger or not self.shown():
            return
        between = self._prompt_loop is None and self._between_cell_and_prompt()
        if self._prompt_loop is None and not between:
            return  # a cell runs: its output is on the screen, not the prompt
        task = hold.task
        if task is not None and is_repl_machinery(task):
            return
        now = time.monotonic()
        held = now - hold.start
        if held < self.monitor.threshold or now - self._held_drawn < self.HELD_EVERY:
            return
        self._held_drawn = now
        text = self.status.while_held(self.status.who(task), held)
        if between:
            self._mark_the_cursors_line(text)
        else:
            self._paint_bottom_row(text)

    def _between_cell_and_prompt(self) -> bool:
        cell = self.cells.current if self.cells is not None else None
        return cell is not None and cell.code_done()

    def _mark_the_cursors_line(self, text: str) -> None:
        """The mark on the line the next prompt will take (the cell's output ended before it)."""
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            sys.__stdout__.write("\r\x1b[K\x1b[7m" + text[: columns - 1] + "\x1b[0m")
            sys.__stdout__.flush()
        except (OSError, ValueError, AttributeError, RuntimeError):
            return
        self._line_marked = True

    def unmark_the_cursors_line(self) -> bool:
        """Erase the mark from the cursor's line, if it is there (True then)."""
        if not self._line_marked:
            return False
        self._line_marked = False
        try:
            sys.__stdout__.write("\r\x1b[K")
            sys.__stdout__.flush()
        except (OSError, ValueError, RuntimeError):
            pass
        return True

    def _paint_bottom_row(self, text: str) -> None:
        app = self.session.app
        prompt_loop = self._prompt_loop
        if prompt_loop is None or not (app.renderer.height_is_known or app.renderer.waiting_for_cpr):
            # No toolbar on the screen: the terminal does not report the
            # cursor's row.  (Waiting for that report, it will be: a task that
            # spins from its first step holds the loop before the report is read.)
            return
        output = app.output
        try:
            fd = output.fileno()
            columns, rows = os.get_terminal_size(fd)
            encoding = output.encoding()
        except Exception:
            return
        line = text[: columns - 1].ljust(columns - 1)
        # Save the cursor, draw the bottom row in the toolbar's style
        # (prompt_toolkit's default: reverse video), restore the cursor.
        os.write(fd, f"\x1b7\x1b[{rows};1H\x1b[0;7m{line}\x1b[0m\x1b8".encode(encoding, "replace"))
        if not self._repaint_pending:
            self._repaint_pending = True
            # Runs on the prompt's loop once the step has let go of the thread.
            prompt_loop.call_soon_threadsafe(self._repaint)

    def _repaint(self) -> None:
        self._repaint_pending = False
        app = self.session.app
        # PRIVATE (prompt_toolkit 3.0.x: Renderer._last_screen, checked on
        # 3.0.53): forget what prompt_toolkit drew, so that the next redraw
        # repaints the whole prompt over the row written above (it would
        # otherwise leave the cells it believes unchanged).
        app.renderer._last_screen = None
        app.invalidate()


def _nothing() -> None:
    pass


def _debug_in_task(app, frame) -> None:
    import pdb

    class PromptHiddenPdb(pdb.Pdb):
        def interaction(self, *args, **kwargs):
            app.renderer.erase()
            with app.input.cooked_mode():
                return super().interaction(*args, **kwargs)

    PromptHiddenPdb(stdout=sys.__stdout__).set_trace(frame)


@contextmanager
def _resizes_reach_the_prompt(prompt_loop, app):
    """Redraw the prompt when the terminal is resized while the hook runs.

    prompt_toolkit learns of resizes from SIGWINCH through its loop's wakeup
    fd, which the hook turns off (see sigint_handler), and otherwise by
    polling the size twice a second, which asyncrepl turns off: each poll
    wakes the prompt, the hook and the loop (see _no_size_polling).
    So the hook passes SIGWINCH on itself, at once.
    """
    winch = getattr(signal, "SIGWINCH", None)
    if winch is None or app is None:
        yield
        return
    # PRIVATE (prompt_toolkit 3.0.x): Application._on_resize is what its own
    # SIGWINCH handler calls: erase, ask for the cursor position, redraw.
    on_resize = getattr(app, "_on_resize", app.invalidate)
    previous = signal.signal(winch, lambda signum, frame: prompt_loop.call_soon_threadsafe(on_resize))
    try:
        yield
    finally:
        signal.signal(winch, previous)


@contextmanager
def _running_loop_cleared(prompt_loop):
    # The hook is called from inside prompt_toolkit's
    # run_until_complete, so asyncio believes a loop is running in this thread
    # and would refuse to run ours.  prompt_toolkit's loop is parked in its
    # selector meanwhile; it is put back before the hook returns.
    set_running_loop(None)
    try:
        yield
    finally:
        set_running_loop(prompt_loop)
