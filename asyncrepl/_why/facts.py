"""What the analysis reads of the loop's tasks, each thing once."""

from __future__ import annotations

import asyncio

from .._tasks.awaits import _awaitables
from .._tasks.code import Site, _kind_of_code
from .._tasks.registry import TaskRegistry, ending
from .naming import site


class TaskFacts:
    """The loop's pending tasks as one analysis sees them, taken now: each
    task's await chain and frames (read once), where it waits, how the REPL
    names it, and how an ended one ended."""

    def __init__(self, registry: TaskRegistry, *, include_own: bool, scan_references: bool):
        self.registry = registry
        # Whether to look through every task's variables for who could set an
        # Event (feed a queue nobody fed yet...): O(tasks); %tasks does without.
        self.scan_references = scan_references
        self.loop = registry.loop
        self.now = self.loop.time()
        self.current = asyncio.current_task(self.loop) if self.loop.is_running() else None
        self.tasks = registry.pending(include_machinery=include_own)
        self._awaitables: dict[asyncio.Task, list] = {}

    # -- naming --

    def label(self, task) -> str:
        return self.registry.label(task)

    def short(self, task) -> str:
        return f"task {self.registry.info(task).id}"

    def ended(self, task) -> str:
        """How *task* (done) ended, in words: ``raised HTTPNotFound: ...``."""
        how, detail = ending(task)
        if how == "cancelled":
            who = self.registry.info(task).cancelled_by
            return f"was cancelled{f' by {who}' if who else ''}"
        return f"{how} {detail}"

    def ended_info(self, info) -> str:
        """How the task of *info* (a TaskInfo) ended, from the registry's history."""
        for entry in reversed(self.registry.ended.entries()):
            known = entry[0] if isinstance(entry, tuple) else None
            if known is info or (known is None and getattr(entry, "id", None) == info.id):
                record = self.registry.ended.record(entry)
                if record.outcome == "cancelled":
                    return "was cancelled"
                return f"{record.outcome} {record.detail}"
        return "ended"

    # -- where it waits --

    def awaitables(self, task) -> list:
        found = self._awaitables.get(task)
        if found is None:
            found = self._awaitables[task] = _awaitables(task)
        return found

    def frames(self, task) -> list:
        return [frame for _, frame in self.awaitables(task)]

    def where(self, task) -> Site | None:
        """Where *task* waits: the innermost frame of the user's (else outside asyncio)."""
        frames = self.frames(task)
        for kinds in (("user",), ("user", "library")):
            for frame in reversed(frames):
                if _kind_of_code(frame.f_code) in kinds:
                    return site(frame)
        return site(frames[-1]) if frames else None
