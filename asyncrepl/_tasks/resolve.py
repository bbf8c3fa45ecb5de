"""One reading of the names the user gives tasks in every magic: an id
(``3``, ``#3``, ``r3``), a name or a glob, a coroutine name.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass

from .history import Finished


@dataclass
class Matches:
    """What patterns named (TaskRegistry.resolve): pending tasks in id order,
    finished ones in the order they ended, and the patterns that named none."""

    pending: list[asyncio.Task]
    finished: list[Finished]
    unmatched: list[str]


class NoSuchTask(LookupError):
    """No task is named so."""

    def __init__(self, pattern: str):
        super().__init__(f"no task matches {pattern!r}")
        self.pattern = pattern


class AmbiguousTask(LookupError):
    """A pattern names more than one task where one is wanted."""

    SHOWN = 10

    def __init__(self, pattern: str, candidates: list[str]):
        shown = ", ".join(candidates[: self.SHOWN])
        more = f", and {len(candidates) - self.SHOWN:,} more" if len(candidates) > self.SHOWN else ""
        super().__init__(f"{pattern!r} names {len(candidates):,} tasks: {shown}{more}; give one id")
        self.pattern, self.candidates = pattern, candidates


def _entry_fields(entry) -> tuple:
    """(id, name, coroutine) of a finished entry: a tuple as kept, or a Finished record."""
    if isinstance(entry, Finished):
        return entry.id, entry.name, entry.coroutine
    coro = entry[2]
    return entry[0].id, entry[1], getattr(coro, "__qualname__", None) or type(coro).__name__


def _name_matches(name: str, pattern: str) -> bool:
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


def _coroutine_matches(coroutine: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(coroutine, pattern) or fnmatch.fnmatchcase(coroutine.rsplit(".", 1)[-1], pattern)


def _id_order(ident) -> tuple[int, int]:
    """Sort key of ids: the user's 1, 2, ... then the REPL's r1, r2, ..."""
    return (0, ident) if isinstance(ident, int) else (1, int(ident[1:]))


def _pattern_id(pattern: str) -> int | str | None:
    """The task id a pattern names (``3`` or ``#3``; ``r3`` or ``#r3`` for a
    REPL task), if it names one.  ASCII digits only: not "²", which isdigit() accepts."""
    bare = pattern[1:] if pattern.startswith("#") else pattern
    digits = bare[1:] if bare.startswith("r") else bare
    if not (digits.isascii() and digits.isdigit()):
        return None
    return bare if bare.startswith("r") else int(bare)
