"""Named hooks with many subscribers, as trio's instruments.

A part of asyncrepl announces something (a task ended, an iteration of the
loop ended, a step is holding the loop...) by calling a :class:`Hook`; the
parts that care subscribe to it.  Every subscriber is called, in the order
they subscribed.  A subscriber that raises is logged once (logger
``asyncrepl``) and detached: its error never reaches the loop's machinery (a
hook may be called from inside the selector's ``select()``, or from the
monitor's thread), and the other subscribers still run.

Each part owns its hooks as attributes (``registry.task_finished``,
``monitor.iteration_ended``...).  A hook nobody listens to costs a truth
test: callers on hot paths write ``if hook: hook(...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Hook"]

_log = logging.getLogger("asyncrepl")


class Hook:
    """One named hook: call it to tell every subscriber."""

    __slots__ = ("name", "_subscribers")

    def __init__(self, name: str):
        self.name = name
        self._subscribers: tuple[Callable[..., Any], ...] = ()

    def subscribe(self, subscriber: Callable[..., Any]) -> Callable[[], None]:
        """Add *subscriber*; returns what removes it again."""
        self._subscribers += (subscriber,)
        return lambda: self.unsubscribe(subscriber)

    def unsubscribe(self, subscriber: Callable[..., Any]) -> None:
        """Remove *subscriber* (each time it subscribed); absent is fine."""
        self._subscribers = tuple(s for s in self._subscribers if s != subscriber)

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def has_subscribers(self) -> bool:
        """``bool(hook)``, for the paths that run for every task (a method
        call, where ``bool()`` goes through ``__bool__`` and ``len``)."""
        return bool(self._subscribers)

    def __len__(self) -> int:
        return len(self._subscribers)

    def __call__(self, *args: Any) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(*args)
            except Exception:
                self._detach_failed(subscriber)

    def fold(self, value: Any, *args: Any) -> Any:
        """Pass *value* through every subscriber in turn (each returns the
        next value); a subscriber that fails is skipped and detached."""
        for subscriber in self._subscribers:
            try:
                value = subscriber(value, *args)
            except Exception:
                self._detach_failed(subscriber)
        return value

    def any(self, *args: Any) -> bool:
        """Whether any subscriber answers true."""
        for subscriber in self._subscribers:
            try:
                if subscriber(*args):
                    return True
            except Exception:
                self._detach_failed(subscriber)
        return False

    def _detach_failed(self, subscriber: Callable[..., Any]) -> None:
        self.unsubscribe(subscriber)
        _log.exception("asyncrepl: a subscriber of the %r hook failed and was detached: %r", self.name, subscriber)

    def __repr__(self) -> str:
        return f"<Hook {self.name!r}: {len(self._subscribers)} subscriber(s)>"
