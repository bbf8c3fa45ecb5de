"""What every host is: where the REPL's loop comes from, and what the host
adds to a Session (see ``_hosts/__init__``)."""

from __future__ import annotations

from contextlib import ExitStack


class Host:
    """One kind of place asyncrepl runs in: a terminal, a kernel, an in-process shell."""

    name = "host"
    #: What the user presses to stop a cell, as the host calls it.
    interrupt_name = "Ctrl-C"

    def __init__(self, shell):
        self.shell = shell

    def loop_ready(self) -> bool:
        """Whether the loop asyncrepl works on exists now (a kernel loaded from
        its config has none until its first cell)."""
        return True

    def loop(self):
        """The REPL's loop: IPython's own, so tasks made before loading keep running."""
        from IPython.core.async_helpers import get_asyncio_loop

        return get_asyncio_loop()

    def install(self, session, undo: ExitStack) -> None:
        """Add what this host needs to *session*; register the undoing on *undo*."""

    def after_cell(self, session) -> None:
        """Called after every cell."""

    def summary(self, session) -> str:
        """The banner's line: what asyncrepl does here."""
        debug = "on" if session.settings.debug else "off"
        return f"asyncio debug mode {debug}"
