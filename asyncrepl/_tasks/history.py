"""What became of the finished tasks: a bounded history, and the failures,
kept until the user clears them.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .naming import _short_repr

if TYPE_CHECKING:
    from .finished import Finished


class EndedTasks:
    """What became of the user's tasks: the last *size* that ended (the
    history), and every one that failed, kept until the user forgets it.

    Entries are kept as tuples ``(info, name, coroutine, cancelled, error,
    result, ended)`` and made into :class:`~.finished.Finished` records only
    when someone looks: a task that ends costs an append (and %load_ext does
    not make the record class).
    """

    #: Failed tasks kept (:attr:`failures`) at most; past it the oldest go,
    #: and :attr:`failures_dropped` counts them.
    FAILURES_KEPT = 1000
    #: Of those, how many newest keep their exception's frames (and what they
    #: hold) for the debugger; older ones keep their traceback as text.
    FRAMES_KEPT = 100

    def __init__(self, size: int = 100):
        # Results are kept alive until they leave this bounded history.
        self._history: deque[tuple] = deque(maxlen=size)
        # Failed tasks, by id, oldest first, until the user forgets them
        # (forget_failures): an entry tuple as in _history, or a Finished
        # record once its frames are let go.  _framed: the ids, newest last,
        # whose entries still hold their exception's frames.
        self._failures: dict[int, tuple | Finished] = {}
        self._framed: deque[int] = deque()
        self.count = 0  # tasks that ended, ever: the status line's cue that one ended
        self.failures_dropped = 0  # failures that left the store because it was full
        self.failures_forgotten = 0  # failures the user let go (forget_failures)
        # Ids of failed tasks reported (_diagnostics.FailedTasks) that the user
        # has not looked at yet (%tasks --done, --failed, %tasks ID, %debug_task).
        self.unseen_failures: set[int] = set()

    @property
    def size(self) -> int:
        return self._history.maxlen

    def resize(self, size: int) -> None:
        self._history = deque(self._history, maxlen=size)

    def add(self, entry: tuple) -> None:
        """A task ended: *entry* (see the class's docstring)."""
        self.count += 1
        self._history.append(entry)
        if entry[4] is not None:
            self._keep_failure(entry[0].id, entry)

    def _keep_failure(self, ident: int, entry: tuple) -> None:
        failures, framed = self._failures, self._framed
        failures[ident] = entry
        framed.append(ident)
        while len(framed) > self.FRAMES_KEPT:
            old = framed.popleft()
            kept = failures.get(old)
            if isinstance(kept, tuple):
                # Its frames (and all their locals) go; its traceback stays as text.
                failures[old] = self.record_of_entry(*kept, keep_frames=False)
        while len(failures) > self.FAILURES_KEPT:
            oldest = next(iter(failures))
            del failures[oldest]
            self.unseen_failures.discard(oldest)
            self.failures_dropped += 1

    def looked_at(self, ids: Iterable[int] | None = None) -> None:
        """The user has seen these failed tasks (None: all of them)."""
        if ids is None:
            self.unseen_failures.clear()
        else:
            self.unseen_failures.difference_update(ids)

    def forget_failures(self, ids: Iterable[int] | None = None) -> list[int]:
        """Stop keeping these failed tasks (None: all of them); the ids forgotten.
        (The history of recently finished tasks is left as it is.)"""
        wanted = list(self._failures) if ids is None else [ident for ident in ids if ident in self._failures]
        for ident in wanted:
            del self._failures[ident]
        self.failures_forgotten += len(wanted)
        self.unseen_failures.difference_update(wanted)
        if wanted:
            gone = set(wanted)
            self._framed = deque(ident for ident in self._framed if ident not in gone)
        return wanted

    @property
    def history(self) -> list[Finished]:
        """The finished tasks remembered (the last ``history_size``), oldest first."""
        return [self.record_of_entry(*entry) for entry in self._history]

    @property
    def failures(self) -> list[Finished]:
        """The failed tasks kept until forgotten, oldest first, however many
        tasks finished since (at most FAILURES_KEPT: see failures_dropped)."""
        return [self.record(entry) for entry in self._failures.values()]

    def latest_failure(self) -> Finished | None:
        """The task that failed last, of those kept."""
        return self.record(next(reversed(self._failures.values()))) if self._failures else None

    def finished_tasks(self) -> list[Finished]:
        """Every finished task remembered: the history, and the failures kept
        from before it; in the order they ended."""
        return [self.record(entry) for entry in self.entries()]

    def entries(self) -> list:
        entries = list(self._history)
        in_history = {entry[0].id for entry in entries}
        older = [entry for ident, entry in self._failures.items() if ident not in in_history]
        if older:
            entries = sorted(older + entries, key=lambda entry: entry[6] if isinstance(entry, tuple) else entry.ended)
        return entries

    def failure_entries(self) -> list:
        return list(self._failures.values())

    def record(self, entry) -> Finished:
        return self.record_of_entry(*entry) if isinstance(entry, tuple) else entry

    @staticmethod
    def record_of_entry(info, name, coro, cancelled, error, result, ended, keep_frames: bool = True) -> Finished:
        from .finished import Finished

        trace = None
        if cancelled:
            outcome, detail = "cancelled", ""
        elif error is not None:
            outcome = "raised"
            detail = f"{type(error).__name__}: {error}".rstrip(": ")
            if not keep_frames:
                trace = traceback.TracebackException.from_exception(error)
                error = None
        else:
            outcome, detail = "returned", _short_repr(result)
        return Finished(
            id=info.id,
            name=name,
            coroutine=getattr(coro, "__qualname__", None) or type(coro).__name__,
            outcome=outcome,
            detail=detail,
            ended=ended,
            lifetime=None if info.created is None else ended - info.created,
            created_at=info.created_at,
            cancelled_by=info.cancelled_by if cancelled else None,
            cancelled_at=info.cancelled_at if cancelled else None,
            error=error,
            trace=trace,
        )


