"""The extension on one shell: what ``%load_ext asyncrepl`` sets up and
``%unload_ext`` takes back, as thin a layer as IPython's ``autoreload``.

It detects the host once (``_hosts``), puts the cell's text and AST
transformers in place (``_cell.transform``), and builds the Session
(``_session``) as soon as the loop it works on exists, with the magics that
work on it (``_magics``).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack

from . import __version__
from ._cell.outcome import outcome_handler
from ._cell.transform import LoopEntryRewrite, StatementsAsTasks, TypedLines
from ._config import drop_rejected, settings_for
from ._hosts import detect, ipython
from ._interrupt import without_handler_frames
from ._scripts import LOOP_BUSY_MESSAGES, close_abandoned_coroutine, loop_busy_hint
from ._asyncio_private import loop_running

__all__ = ["Extension"]


class Extension:
    """Everything one shell got from asyncrepl, so that unloading can take it back."""

    def __init__(self, shell):
        self.shell = shell
        self.settings, self.skipped_settings = settings_for(shell)
        self.host = detect(shell)
        self.session = None  # from the moment the loop exists
        self._undo = ExitStack()

    def load(self) -> None:
        from ._magics import AWAITED_MAGICS

        shell, undo = self.shell, self._undo
        try:
            shell.configurables.append(self.settings)
            undo.callback(ipython.remove_if_present, shell.configurables, self.settings)
            ipython.set_trait(undo, shell, "autoawait", True)
            rewrite = LoopEntryRewrite(shell.user_ns, AWAITED_MAGICS)
            rewrite.ast_pass = ipython.switchable_ast_transformers(undo, shell, [TypedLines(rewrite.typed), StatementsAsTasks()])
            ipython.add_input_transformer(undo, shell, rewrite)
            ipython.set_custom_exc(
                undo,
                shell,
                (BaseException,),
                lambda previous_types, previous_handler: outcome_handler(
                    cells=lambda: self.session.cells if self.session is not None else None,
                    without_handler_frames=without_handler_frames,
                    loop_busy_messages=LOOP_BUSY_MESSAGES,
                    loop_busy_hint=loop_busy_hint,
                    close_abandoned_coroutine=close_abandoned_coroutine,
                    previous_types=previous_types,
                    previous_handler=previous_handler,
                ),
            )
            if self.host.loop_ready():
                self._start_session()
            else:
                self._start_session_at_first_cell()
        except BaseException:
            undo.close()
            raise

    def unload(self) -> None:
        self._undo.close()
        drop_rejected(self.shell)  # a value %config refused: said then, not again at the next load

    def _start_session(self) -> None:
        from ._magics import FAMILIES
        from ._session import Session

        session = Session(self.shell, self.host.loop(), self.settings, self.host)
        session.start()
        self._undo.callback(session.stop)
        self.session = session
        self._undo.callback(setattr, self, "session", None)
        for family in FAMILIES:
            self._undo.enter_context(ipython.registered_magics(self.shell, family(self.shell, session)))

    def _start_session_at_first_cell(self) -> None:
        events = self.shell.events

        def start() -> None:
            if loop_running():
                events.unregister("pre_execute", start)
                self._start_session()

        ipython.on_event(self._undo, self.shell, "pre_execute", start)

    # -- what the user is told -----------------------------------------------------------------

    def summary(self) -> str:
        if self.session is None:
            return f"asyncrepl {__version__}"
        return f"asyncrepl {__version__}: {self.host.summary(self.session)}"

    def announce(self) -> None:
        """Say what asyncrepl does, where a person reads it and no program does.

        * At a prompt, and in the cell that ran ``%load_ext``: the banner and any
          skipped setting, on stdout.
        * A script or ``-c`` without ``-i`` (``ipython --ext=asyncrepl -c ...``,
          ``asyncrepl script.py``): no banner, so that piped output is the
          program's own; a skipped setting is a mistake in the user's config,
          so it goes to stderr.
        * A kernel that loads asyncrepl from its config, before any cell: no
          cell owns that moment (ipykernel would send it as output with no
          parent), so no banner; a skipped setting goes to the kernel process's
          own stderr, the server's log.
        """
        notes = [f"asyncrepl: {line}" for line in self.skipped_settings]
        if self.session is None:
            for note in notes:
                print(note, file=sys.__stderr__, flush=True)
        elif not getattr(self.shell.parent, "interact", True):
            for note in notes:
                print(note, file=sys.stderr)
        else:
            for line in [*notes, self.summary()]:
                print(line)
