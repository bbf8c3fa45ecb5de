"""Where output goes while a front end is attached: a cell's to the front
end, the program's where it always went.

While attached, ``sys.stdout`` and ``sys.stderr`` are :class:`RoutedStream`
objects around the program's own streams.  A write goes to the front end
when it is made in a cell's context (the cell's task, the tasks and
callbacks it started, which inherit the context: :data:`CELL`), or by
asyncrepl's own code (its reports about the program's tasks are for the
person at the prompt, not for the program's log); every other write goes to
the program's stream as before, untouched.  After the detach the program's
streams are put back; a RoutedStream that something kept a reference to
(a logging handler made while attached) goes on writing to the program's.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable

__all__ = ["CELL", "RoutedStream", "in_cell"]

#: The request (its header) of the cell whose context this is; None outside cells.
CELL: contextvars.ContextVar[dict | None] = contextvars.ContextVar("asyncrepl_attached_cell", default=None)

_PACKAGE_PREFIX = __name__.split(".", 1)[0] + "."


def in_cell() -> bool:
    """Whether the code running now runs in a cell's context (the cell, or
    a task or callback it started)."""
    return CELL.get() is not None


class RoutedStream:
    """``sys.stdout`` or ``sys.stderr`` while a front end is attached."""

    def __init__(self, name: str, original, send: Callable[[str, str, dict | None], None]):
        self.name = name  # "stdout" or "stderr"
        self.original = original  # the program's stream
        self._send: Callable[[str, str, dict | None], None] | None = send
        self.default_parent: Callable[[], dict | None] = lambda: None
        self.columns: int | None = None  # the front end's terminal width, if it said (see _render.terminal_width)

    def detach(self) -> None:
        """From now on every write goes to the program's stream."""
        self._send = None

    def _destination(self):
        send = self._send
        if send is None:
            return None, None
        parent = CELL.get()
        if parent is not None:
            return send, parent
        # asyncrepl's own reports (``print(..., file=sys.stderr)`` in its
        # modules; print is C, so the writer's frame is the caller's).
        try:
            writer = sys._getframe(2).f_globals.get("__name__", "")
        except ValueError:
            return None, None
        if writer.startswith(_PACKAGE_PREFIX):
            return send, self.default_parent() or {}
        return None, None

    def write(self, text) -> int:
        send, parent = self._destination()
        if send is None:
            return self.original.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            send(self.name, text, parent)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        send, _ = self._destination()
        if send is None:
            self.original.flush()

    def isatty(self) -> bool:
        if self._send is not None and in_cell():
            return False
        return self.original.isatty()

    def __getattr__(self, name):
        # fileno, encoding, buffer, errors...: the program's stream's.
        return getattr(self.original, name)

    def __repr__(self) -> str:
        return f"<asyncrepl routed {self.name}: cells to the front end, else {self.original!r}>"
