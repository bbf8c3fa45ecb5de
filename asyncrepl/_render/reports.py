"""asyncrepl's reports: one line (or a few), printed on stderr where it belongs.

Each report is printed inside the context of the code it concerns (a task's,
or the running cell's), which is how ipykernel knows which cell's output it
belongs to (it reads the parent message from a ContextVar).
"""

from __future__ import annotations

import contextvars
import sys

__all__ = ["report"]


def report(message: str, context: contextvars.Context | None = None) -> None:
    """Print one asyncrepl report on stderr, inside *context* if given."""

    def emit() -> None:
        print(f"asyncrepl: {message}", file=sys.stderr, flush=True)

    if context is None:
        emit()
        return
    try:
        context.run(emit)
    except RuntimeError:  # the context is entered right now: we are in it
        emit()
