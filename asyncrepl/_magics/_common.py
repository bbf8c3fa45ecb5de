"""What the magic families share: the engine they adapt, and how errors show."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics

from .._render import Views
from .._tasks import TaskRegistry


class ReplMagics(Magics):
    """A family of asyncrepl magics, given the extension's settings and task registry."""

    def __init__(self, shell, registry=None, settings=None):
        super().__init__(shell)
        self._settings = settings
        # A callable giving the loop's TaskRegistry: in a kernel loaded from
        # config, the loop (and so the registry) only exists from the first cell.
        self._registry = registry

    def _tasks_registry(self) -> TaskRegistry:
        registry = self._registry() if self._registry is not None else None
        if registry is None:
            raise UsageError("asyncrepl is not attached to a running loop yet")
        return registry

    def _views(self) -> Views:
        return Views(getattr(self.shell.compile, "format_code_name", None))


def positive(raw, default: int, flag: str, what: str) -> int:
    """An option's whole number of at least 1, or a UsageError saying what it takes."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{flag} takes a whole number ({what}), not {raw!r}") from None
    if value < 1:
        raise UsageError(f"{flag} takes a whole number of at least 1 ({what}), not {value}")
    return value


class StatementSyntaxError(Exception):
    """A syntax error in a magic's statement, shown briefly, as IPython shows
    one in a cell, rather than as a traceback through the magic."""

    def __init__(self, shell, error: SyntaxError):
        super().__init__(f"{error.msg} ({error.text or ''!s})".strip())
        self.shell, self.error = shell, error

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom display
        error = self.error
        return self.shell.SyntaxTB.structured_traceback(type(error), error, [])
