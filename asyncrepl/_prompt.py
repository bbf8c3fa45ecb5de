"""The prompt: a prompt_toolkit input hook that runs the REPL's loop while
the prompt waits for a key."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from contextlib import ExitStack, contextmanager

from ._diagnostics import report
from ._interrupt import Interrupter, ctrl_c_raises_sigint, sigint_handler
from ._monitor import LoopMonitor


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
        interrupter.in_window = forward
        try:
            with ExitStack() as stack:
                stack.enter_context(sigint_handler(interrupter))
                stack.enter_context(ctrl_c_raises_sigint(self._tty_fd()))
                stack.enter_context(_running_loop_cleared(prompt_loop))
                stack.enter_context(self._breakpoints_in_tasks())
                stack.enter_context(_resizes_reach_the_prompt(prompt_loop, self._app()))
                loop.add_reader(context.fileno(), self._stop_loop)
                stack.callback(loop.remove_reader, context.fileno())
                while not context.input_is_ready():
                    interrupter.forward_to_prompt = forward
                    try:
                        loop.run_forever()
                    except (KeyboardInterrupt, SystemExit) as error:
                        _escaped(error)
                    finally:
                        interrupter.forward_to_prompt = None
                        self.monitor.paused()
        finally:
            interrupter.in_window = None

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


def _debug_in_task(app, frame) -> None:
    import pdb

    class PromptHiddenPdb(pdb.Pdb):
        def interaction(self, *args, **kwargs):
            app.renderer.erase()
            with app.input.cooked_mode():
                return super().interaction(*args, **kwargs)

    PromptHiddenPdb(stdout=sys.__stdout__).set_trace(frame)


def _escaped(error: BaseException) -> None:
    """An exception that stopped the loop at the prompt: the REPL goes on.

    A task's SystemExit is reported as its failure (see _diagnostics); a
    callback's is said here.
    """
    if isinstance(error, SystemExit) and not _raised_in_a_task(error):
        report(
            f"a callback raised SystemExit({error.code!r}): in a script it would have ended "
            "the program; the REPL goes on (exit leaves it)"
        )


def _raised_in_a_task(error: BaseException) -> bool:
    # A task's step runs its coroutine right below Handle._run; a callback runs
    # a plain function there.
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_flags & 0x80:  # CO_COROUTINE
            return True
        tb = tb.tb_next
    return False


@contextmanager
def _resizes_reach_the_prompt(prompt_loop, app):
    """Redraw the prompt when the terminal is resized while the hook runs.

    prompt_toolkit learns of resizes from SIGWINCH through its loop's wakeup
    fd, which the hook turns off (see sigint_handler), and otherwise by
    polling the size twice a second, which asyncrepl turns off: each poll
    wakes the prompt, the hook and the loop (see ReplLoop._run_loop_at_prompt).
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
    # PRIVATE (asyncio 3.11-3.15: asyncio._set_running_loop is exported but
    # undocumented).  The hook is called from inside prompt_toolkit's
    # run_until_complete, so asyncio believes a loop is running in this thread
    # and would refuse to run ours.  prompt_toolkit's loop is parked in its
    # selector meanwhile; it is put back before the hook returns.
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(prompt_loop)
