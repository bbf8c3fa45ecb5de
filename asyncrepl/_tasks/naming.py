"""How asyncrepl names tasks and shows values: labels, coroutine names,
bounded reprs that run no user code but ``__repr__``.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import reprlib
from collections import deque

from .._asyncio_private import coro_of


_reprs = reprlib.Repr()


_reprs.maxstring = 60


_reprs.maxother = 60


def _short_repr(value) -> str:
    try:
        return _reprs.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def task_label(ident, name: str, coroutine: str) -> str:
    """``3 'worker-1' (fetch())``."""
    return f"{ident} {name!r} ({coroutine}())"


def callable_name(function) -> str:
    """A function, method or callable object as its code names it (``Transport._read_ready``)."""
    return getattr(function, "__qualname__", None) or type(function).__qualname__


def coroutine_name(task: asyncio.Task, coro=None) -> str:
    """The name of the task's coroutine function; *coro*: its coroutine, if known."""
    coro = coro or coro_of(task)
    return getattr(coro, "__qualname__", None) or type(coro).__name__


class _BoundedRepr(reprlib.Repr):
    """reprlib's bounded reprs that run no user code but ``__repr__``: containers
    are walked only when they are the builtin types themselves (a dict is not
    sorted: sorting would call the keys' ``__lt__``), and a repr that raises
    says so."""

    _CONTAINERS = {list, tuple, dict, set, frozenset, deque, str, bytes, int, float, complex, bool, type(None)}

    def repr1(self, x, level):
        if type(x) in self._CONTAINERS:
            return super().repr1(x, level)
        return self.repr_instance(x, level)

    def repr_dict(self, x, level):
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pairs = list(x.items())[: self.maxdict]  # x[key] would hash the key: user code
        items = [f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}" for key, value in pairs]
        return "{" + ", ".join(items) + (", ..." if len(x) > self.maxdict else "") + "}"

    def repr_set(self, x, level):
        return self._unsorted(x, level, "{", "}", "set()")

    def repr_frozenset(self, x, level):
        return self._unsorted(x, level, "frozenset({", "})", "frozenset()")

    def _unsorted(self, x, level, left, right, empty):
        if not x:
            return empty
        if level <= 0:
            return left + "..." + right
        items = [self.repr1(item, level - 1) for item in list(x)[: self.maxset]]
        return left + ", ".join(items) + (", ..." if len(x) > self.maxset else "") + right

    def repr_instance(self, x, level):
        try:
            text = repr(x)
        except Exception as error:
            return f"<repr failed: {type(error).__name__}: {error}>"
        if len(text) > self.maxother:
            half = max(0, (self.maxother - 3) // 2)
            text = text[:half] + "..." + text[len(text) - half :]
        return text


_locals_repr = _BoundedRepr()


_locals_repr.maxother = _locals_repr.maxstring = 80
