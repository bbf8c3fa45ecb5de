"""The rows ``%tasks`` shows, one per pending task.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from .awaits import Link, _awaitables, _links, task_state, waits_on
from .code import Site
from .naming import coroutine_name
from .registry import TaskRegistry


@dataclass
class TaskRow:
    """One pending task as ``%tasks`` shows it (``%tasks -o`` returns these)."""

    id: int | str  # "r3" for the REPL's own tasks (%tasks --all)
    name: str
    state: str
    coroutine: str
    suspended_at: Link | None  # the innermost frame outside asyncio
    waits_on: str
    age: float | None
    created_at: Site | None
    machinery: bool = False  # the REPL's own task (TaskRegistry.is_own)
    task: asyncio.Task | None = field(default=None, repr=False, compare=False)


def row(registry: TaskRegistry, task: asyncio.Task) -> TaskRow:
    """The task as ``%tasks`` lists it; its await chain is walked once."""
    awaitables = _awaitables(task)
    chain = _links([frame for _, frame in awaitables])
    outside = [link for link in chain if not link.in_asyncio]
    info = registry.info(task)
    return TaskRow(
        id=info.id,
        name=registry.name_of(task),
        state=task_state(task),
        coroutine=coroutine_name(task, info.coro),
        suspended_at=outside[-1] if outside else (chain[-1] if chain else None),
        waits_on=waits_on(task, lambda t: registry.info(t).id, registry.loop.time(), awaitables),
        age=registry.age(task),
        created_at=info.created_at[0] if info.created_at else None,
        machinery=info.own,
        task=task,
    )


def summary(tasks: list[asyncio.Task]) -> Counter:
    """Counts by (coroutine, state), cheap enough for 100,000 tasks."""
    return Counter((coroutine_name(task), task_state(task)) for task in tasks)
