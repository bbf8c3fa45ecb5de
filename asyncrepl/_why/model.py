"""What the wait-for analysis finds: plain records, no behaviour."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .._tasks.code import Site

#: Root causes at which a task is not stuck: something will happen.
PROGRESS = ("timer", "io", "thread", "running", "ready", "idle")
#: Root causes at which a task is stuck for good.
DEAD_ENDS = ("leak", "dead partner")

@dataclass
class Held:
    """A lock or permit taken and not given back: by *task* (its *label*),
    at *taken_at* (the frame that took it) called from *called_from* (when
    that is the user's code); for a task that has ended, how it ended
    (*ended*: "raised HTTPNotFound: ...") and where the frame that took it
    was when it ended (*left_at*).  *before_load*: taken before asyncrepl
    was loaded (or attached), found in its ``async with`` block, where it
    was taken is not known."""

    task: asyncio.Task | None
    label: str
    taken_at: Site | None
    called_from: Site | None = None
    ended: str | None = None
    left_at: Site | None = None
    before_load: bool = False

    @property
    def taken(self) -> str:
        """``(taken at SITE)``'s stand-in where the site is not known."""
        return " (taken before asyncrepl was loaded)" if self.before_load and self.taken_at is None else ""


@dataclass
class Partner:
    """A task that fed or drained a queue: its label, and how it ended (None: it has not)."""

    task: asyncio.Task | None
    label: str
    ended: str | None = None


@dataclass
class Wait:
    """What one task waits on directly.

    *kind*: "task", "tasks", "lock", "semaphore", "event", "condition",
    "queue", "barrier", "timer", "io", "thread", "future", "running",
    "ready", "done".  *what*: in words (``Lock locks['bob'] (locked, 2
    waiting)``).  *targets*: the pending tasks that could end the wait (all
    of them must end: *mode* "all"; any one of them can: "any").  *end*: for
    a wait that no pending task can end, its root cause ("timer", "io",
    "thread", "idle" (a worker waiting for work), "leak", "dead partner",
    or "unknown") and *detail* in words."""

    task: asyncio.Task
    kind: str
    what: str
    where: Site | None = None
    primitive: object = None
    name: str | None = None
    targets: list = field(default_factory=list)
    mode: str = "all"
    end: str | None = None
    detail: str = ""
    role: str = ""  # what the targets are to it: "held by", "could set it", "feeds it"...
    holders: list[Held] = field(default_factory=list)
    partners: list[Partner] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)


@dataclass
class Cause:
    """A root cause: *kind* ("cycle", "leak", "dead partner", "cancelling",
    "held idle" (a lock held by a task waiting for work), "timer", "io",
    "thread", "running", "ready", "idle", "unknown"), a line
    (*summary*), more lines (*details*), and the tasks in it (a cycle's)."""

    kind: str
    summary: str
    details: list[str] = field(default_factory=list)
    tasks: list = field(default_factory=list)
    key: object = None  # what tasks with the same root cause share (a cycle's tasks, a primitive)


@dataclass
class Cancelling:
    """A cancellation in progress: *who* asked (``%cancel``, ``Ctrl-C``,
    ``its TaskGroup (task 3 failed)``...) at *asked_at*; *how* the task
    took it ("caught": an except took CancelledError and it went on, at
    *where*; "handling": it is unwinding in an except/finally block at
    *where*; None: not known, *where* is where it waits), and *by*, the
    label of the task that swallowed it when it is another (a child)."""

    who: str
    asked_at: Site | None
    how: str | None
    by: str | None
    where: Site | None


@dataclass
class Chain:
    """From a task to its root cause: one :class:`Wait` per task on the way."""

    task: asyncio.Task
    label: str
    steps: list[Wait]
    cause: Cause
    cancelling: Cancelling | None = None  # a cancellation in progress: who asked, why it goes on

    @property
    def stuck(self) -> bool:
        return self.cause.kind not in PROGRESS
