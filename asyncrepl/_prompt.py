"""The prompt: a prompt_toolkit input hook that runs the REPL's loop while
the prompt waits for a key."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from contextlib import ExitStack, contextmanager

from ._interrupt import Interrupter, ctrl_c_raises_sigint, sigint_handler


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
            stack.enter_context(sigint_handler(self.interrupter))
            stack.enter_context(ctrl_c_raises_sigint(self._tty_fd()))
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
