"""One reading of the names the user gives tasks in every magic: an id
(``3``, ``#3``, ``r3``), a name or a glob, a coroutine name.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import asyncio
import fnmatch
from dataclasses import dataclass

from .finished import Finished
from .naming import coroutine_name, task_label
from .awaits import task_state
from .registry import id_order

if TYPE_CHECKING:
    from .registry import TaskRegistry


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

    DESCRIBED = 3  # candidates described in full; past that, ids only, so the error stays one line
    SHOWN = 10

    def __init__(self, pattern: str, candidates: list[str], ids: list | None = None):
        if len(candidates) <= self.DESCRIBED or ids is None:
            shown = ", ".join(candidates[: self.SHOWN])
        else:
            shown = ", ".join(map(str, ids[: self.SHOWN]))
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


def _pattern_id(pattern: str) -> int | str | None:
    """The task id a pattern names (``3`` or ``#3``; ``r3`` or ``#r3`` for a
    REPL task), if it names one.  ASCII digits only: not "²", which isdigit() accepts."""
    bare = pattern[1:] if pattern.startswith("#") else pattern
    digits = bare[1:] if bare.startswith("r") else bare
    if not (digits.isascii() and digits.isdigit()):
        return None
    return bare if bare.startswith("r") else int(bare)


def resolve(
    registry: TaskRegistry,
    patterns: Iterable[str],
    *,
    include_machinery: bool = False,
    pending: bool = True,
    finished: bool = True,
    failed_only: bool = False,
    variables: Mapping[str, object] | None = None,
) -> Matches:
    """The tasks that *patterns* name, among the pending tasks (if
    *pending*; the REPL's own too if *include_machinery*) and the
    finished ones remembered (if *finished*: the history and the kept
    failures; only the failures if *failed_only*).

    Each pattern is read the same way everywhere:

    * an id (``3``, ``#3``; ``r3`` for a REPL task) names that task;
    * otherwise, the tasks whose **name** is the pattern or matches it
      as a glob (``worker-*``);
    * only if no task has such a name, the tasks whose **coroutine**
      matches it (``fetch`` names every ``fetch()`` task);
    * only if none matches so, the task a **variable** of *variables* (the
      user's namespace) holds (``t`` after ``t = asyncio.create_task(...)``).
    """
    tasks = registry.pending(include_machinery) if pending else []
    entries = (registry.ended.failure_entries() if failed_only else registry.ended.entries()) if finished else []
    fields = [_entry_fields(entry) for entry in entries]
    found_tasks: dict[int, asyncio.Task] = {}
    found_entries: dict[int, int] = {}  # id -> index in entries
    unmatched = []
    for pattern in patterns:
        hits = _match(registry, pattern, tasks, fields, variables)
        if not hits[0] and not hits[1]:
            unmatched.append(pattern)
        for task in hits[0]:
            found_tasks[id(task)] = task
        for index in hits[1]:
            found_entries[fields[index][0]] = index
    pending_found = sorted(found_tasks.values(), key=lambda task: id_order(registry.info(task).id))
    finished_found = [registry.ended.record(entries[index]) for index in sorted(found_entries.values())]
    return Matches(pending_found, finished_found, unmatched)

def resolve_one(
    registry: TaskRegistry, pattern: str, **scope) -> asyncio.Task | Finished:
    """The one task *pattern* names (read as :func:`resolve` reads it,
    with the same *scope*): a pending Task or a Finished record.  Raises
    :class:`NoSuchTask`, or :class:`AmbiguousTask` listing the candidates."""
    matches = resolve(registry, [pattern], **scope)
    found = matches.pending + matches.finished
    if not found:
        raise NoSuchTask(pattern)
    if len(found) > 1:
        raise AmbiguousTask(pattern, [_candidate(registry, item) for item in found], [_id_of(registry, item) for item in found])
    return found[0]

def _id_of(registry: TaskRegistry, item):
    return item.id if isinstance(item, Finished) else registry.info(item).id


def _candidate(
    registry: TaskRegistry, item) -> str:
    if isinstance(item, Finished):
        ended = f"raised {item.detail.split(':', 1)[0]}" if item.outcome == "raised" else item.outcome
        return f"{task_label(item.id, item.name, item.coroutine)} {ended}"
    return f"{registry.label(item)} {task_state(item)}"

def _match(registry: TaskRegistry, pattern: str, tasks: list, fields: list, variables: Mapping | None) -> tuple[list, list]:
    wanted = _pattern_id(pattern)
    if wanted is not None:
        return _with_id(registry, wanted, tasks, fields)
    by_name = (
        [task for task in tasks if _name_matches(registry.name_of(task), pattern)],
        [index for index, entry in enumerate(fields) if _name_matches(entry[1], pattern)],
    )
    if by_name[0] or by_name[1]:
        return by_name
    by_coroutine = (
        [task for task in tasks if _coroutine_matches(coroutine_name(task, registry.info(task).coro), pattern)],
        [index for index, entry in enumerate(fields) if _coroutine_matches(entry[2], pattern)],
    )
    if by_coroutine[0] or by_coroutine[1] or variables is None or not pattern.isidentifier():
        return by_coroutine
    held = variables.get(pattern)
    if isinstance(held, asyncio.Task) and held.get_loop() is registry.loop:
        return _with_id(registry, registry.info(held).id, tasks, fields)
    return by_coroutine


def _with_id(registry: TaskRegistry, wanted, tasks: list, fields: list) -> tuple[list, list]:
    return (
        [task for task in tasks if registry.info(task).id == wanted],
        [index for index, entry in enumerate(fields) if entry[0] == wanted],
    )

def find(registry: TaskRegistry, patterns: Iterable[str], include_machinery: bool = False, variables: Mapping | None = None):
    """Pending tasks that *patterns* name (see :func:`resolve`), and the patterns that named none."""
    matches = resolve(registry, patterns, include_machinery=include_machinery, finished=False, variables=variables)
    return matches.pending, matches.unmatched

def finished(
    registry: TaskRegistry, pattern: str) -> list[Finished]:
    """Finished tasks remembered that *pattern* names (see :func:`resolve`)."""
    return resolve(registry, [pattern], pending=False).finished

