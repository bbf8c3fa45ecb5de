"""A finished task's record, as ``%tasks --done -o`` and the debugger get it.

Plain asyncio; imported when a record is first made (see ``history``).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

from .code import Site

__all__ = ["Finished"]


@dataclass(slots=True)
class Finished:
    """A task as it ended."""

    id: int
    name: str
    coroutine: str
    outcome: str  # "returned", "raised", "cancelled"
    detail: str  # the result's repr, or "ValueError: boom"
    ended: float  # time.monotonic()
    lifetime: float | None
    created_at: tuple[Site, ...]
    cancelled_by: str | None = None  # "%cancel", "Ctrl-C", "its TaskGroup"
    cancelled_at: Site | None = None  # where cancel() was called
    error: BaseException | None = field(default=None, repr=False)  # what it raised, frames and all
    # What it raised as text, for a failure whose frames were let go (see
    # TaskRegistry.FRAMES_KEPT): error is None then.
    trace: traceback.TracebackException | None = field(default=None, repr=False)

    @property
    def traceback(self) -> tuple[str, ...]:
        """The traceback of what it raised, as Python prints it (lines)."""
        if self.error is not None:
            return tuple(traceback.format_exception(type(self.error), self.error, self.error.__traceback__))
        return tuple(self.trace.format()) if self.trace is not None else ()

    @property
    def frames_kept(self) -> bool:
        """Whether the debugger can open its traceback (its frames are still held)."""
        return self.error is not None
