"""The analysis: every pending task's wait, the stuck tasks and the cycles
among them, and a task's chain to its root cause."""

from __future__ import annotations

import asyncio

from .._tasks.cancelling import why_still_running
from .._tasks.registry import TaskRegistry
from .facts import TaskFacts
from .graph import choose, cycles_among, stuck_among
from .model import DEAD_ENDS, Cancelling, Cause, Chain, Wait
from .waits import WaitReader


class Analysis:
    """The wait-for graph of one loop's pending tasks, taken now."""

    def __init__(self, registry: TaskRegistry, *, include_own: bool = True, scan_references: bool = True):
        self.facts = TaskFacts(registry, include_own=include_own, scan_references=scan_references)
        self.registry = registry
        self.tasks = self.facts.tasks
        self.current = self.facts.current
        self._reader = WaitReader(self.facts)
        self._stuck: set | None = None
        self._cycles: list | None = None

    def label(self, task) -> str:
        return self.facts.label(task)

    def short(self, task) -> str:
        return self.facts.short(task)

    def wait(self, task: asyncio.Task) -> Wait:
        """What *task* waits on directly."""
        return self._reader.wait(task)

    # -- the graph --

    def waits(self) -> dict:
        return {task: self.wait(task) for task in self.tasks}

    def stuck(self) -> set:
        """The tasks that nothing will move on, as far as can be told."""
        if self._stuck is None:
            self._stuck = stuck_among(self.waits())
        return self._stuck

    def cycles(self) -> list[list]:
        """The wait-for cycles among stuck tasks, each as the tasks in the
        order they wait on each other."""
        if self._cycles is None:
            self._cycles = cycles_among(self.stuck(), self.waits())
        return self._cycles

    def cycle_of(self, task) -> list | None:
        for cycle in self.cycles():
            if task in cycle:
                return cycle
        return None

    # -- chains --

    def chain(self, task: asyncio.Task) -> Chain:
        stuck = self.stuck() if task in self._reader or task in self.tasks else set()
        steps: list[Wait] = []
        seen: dict = {}
        current = task
        cause = None
        while True:
            if current in seen:
                cycle = [step.task for step in steps[seen[current] :]]
                cause = self._cycle_cause(cycle)
                break
            seen[current] = len(steps)
            wait = self.wait(current)
            steps.append(wait)
            cycle = self.cycle_of(current)
            if cycle is not None and task not in cycle:
                # Behind a deadlock: show it from the task where the chain enters it.
                rotated = cycle[cycle.index(current) :] + cycle[: cycle.index(current)]
                for other in rotated[1:]:
                    steps.append(self.wait(other))
                cause = self._cycle_cause(rotated)
                break
            if not wait.targets:
                cause = self._end_cause(wait)
                if cause.kind == "idle" and len(steps) > 1:
                    cause = self._held_while_idle(steps[-2], wait) or cause
                break
            nxt = choose(wait, stuck, self.cycles())
            if nxt is None:
                cause = Cause("unknown", "its wait can end: " + ", ".join(self.short(t) for t in wait.targets[:5]) + " can still move on")
                break
            current = nxt
        chain = Chain(task, self.label(task), steps, cause)
        if not task.done() and task.cancelling():
            chain.cancelling = self._cancelling(task)
            if cause.kind not in ("cycle", "leak", "dead partner"):
                chain.cause = Cause("cancelling", "it was cancelled and has not ended", key=("cancelling", id(task)))
        return chain

    def _held_while_idle(self, waiting: Wait, idle: Wait) -> Cause | None:
        """A task that waits for work (an empty queue nobody has fed yet) is
        not stuck, but one that holds the lock (or permit) *waiting* needs
        while it waits for work keeps that task waiting until work comes:
        the cause, or None if *waiting* is not on such a lock."""
        held = next((h for h in waiting.holders if h.task is idle.task), None)
        if held is None or waiting.kind not in ("lock", "semaphore", "condition"):
            return None
        lock, queue = _thing(waiting), _thing(idle).split(" (")[0]
        details = [[f"it took {lock}", ("at", held.taken_at)], ["it waits for work", ("at", idle.where)]]
        summary = f"{self.short(idle.task)} holds {lock} while it waits on {queue}, which no task has fed yet"
        return Cause("held idle", summary, details, key=("held idle", id(waiting.primitive)))

    def _end_cause(self, wait: Wait) -> Cause:
        end = wait.end or "unknown"
        if end in DEAD_ENDS:
            details = []
            for held in wait.holders:
                if held.ended is None:
                    continue
                line = [f"{held.label} {held.ended}", ("took it at", held.taken_at)]
                if held.called_from is not None:
                    line.append(("called from", held.called_from))
                if held.left_at is not None:
                    line.append(("and ended at", held.left_at))
                details.append(line)
            ended = [partner for partner in wait.partners if partner.ended is not None]
            for partner in ended[:8]:
                details.append([f"{partner.label} {partner.ended}"])
            if len(ended) > 8:
                details.append([f"and {len(ended) - 8} more"])
            return Cause(end, wait.detail, details, key=(end, id(wait.primitive)))
        if end in ("done", "running", "ready"):
            return Cause(end if end != "done" else "ready", wait.detail or wait.what, key=(end,))
        return Cause(end, wait.detail or wait.what, key=(end,))

    def _cycle_cause(self, cycle: list) -> Cause:
        ids = ", ".join(str(self.registry.info(t).id) for t in cycle)
        details = self.describe_cycle(cycle)
        return Cause("cycle", f"tasks {ids} wait on each other", details, list(cycle), key=("cycle", frozenset(map(id, cycle))))

    def describe_cycle(self, cycle: list) -> list:
        """For each task of *cycle*: what it holds (what the task before it
        waits on), where it took it, and what it waits for, where, and who
        holds that: a list of parts per task, each a string or a (words,
        Site) pair for the renderer to name the place."""
        lines = []
        for index, task in enumerate(cycle):
            before = self.wait(cycle[index - 1])
            wait = self.wait(task)
            after = cycle[(index + 1) % len(cycle)]
            parts: list = [self.short(task)]
            held = next((h for h in before.holders if h.task is task), None)
            if held is not None:
                parts += [f"holds {_thing(before)}{held.taken}", ("taken at", held.taken_at)]
            elif before.kind in ("task", "tasks"):
                parts.append(f"is awaited by {self.short(cycle[index - 1])}")
            else:
                parts.append(f"is the one to {_duty(before)} {_thing(before)}")
            parts += [f"and waits for {_thing(wait)}", ("at", wait.where)]
            if wait.kind in ("task", "tasks"):
                parts[-2] = f"and awaits {self.short(after)}"
            elif wait.role in ("held by", "permits held by"):
                parts.append(f"held by {self.short(after)}")
            else:
                parts.append(f"which {self.short(after)} is to {_duty(wait)}")
            lines.append(parts)
        return lines

    def _cancelling(self, task) -> Cancelling:
        info = self.registry.info(task)
        still = why_still_running(self.registry, task)
        whose = None if still.task is task else self.label(still.task)
        return Cancelling(info.cancelled_by or "someone", info.cancelled_at, still.how, whose, still.where)

    # -- everything --

    def stuck_chains(self, tasks=None) -> list[Chain]:
        """The chain of every stuck task of the user's (not waiting on I/O, a
        timer, a thread; not running), cycles first, then leaks and dead
        partners, then cancellations, then the rest."""
        chains = []
        for task in self.tasks if tasks is None else tasks:
            if task is self.current or self.registry.is_own(task):
                continue
            chain = self.chain(task)
            if chain.stuck:
                chains.append(chain)
        order = {"cycle": 0, "leak": 1, "dead partner": 2, "cancelling": 3}
        chains.sort(key=lambda chain: order.get(chain.cause.kind, 4))
        return chains


def _thing(wait: Wait) -> str:
    """A primitive as a deadlock line names it: ``lock locks['alice']``, or its description."""
    if wait.name:
        word = {"condition": "lock", "queue": "queue", "semaphore": "semaphore", "event": "event", "barrier": "barrier"}.get(wait.kind, "lock")
        if wait.kind == "queue":
            return f"queue {wait.name} ({'empty' if 'empty' in wait.what else 'full'})"
        return f"{word} {wait.name}"
    return wait.what.split(" (")[0]


def _duty(wait: Wait) -> str:
    """What the task after a waiting one in a cycle must do for it."""
    return {"event": "set", "condition": "notify", "barrier": "reach", "queue": "drain" if "full" in wait.what or "join" in wait.what else "feed"}.get(
        wait.kind, "release"
    )


def analyse(registry: TaskRegistry, include_own: bool = True, scan_references: bool = True) -> Analysis:
    """The wait-for analysis of *registry*'s loop, now."""
    return Analysis(registry, include_own=include_own, scan_references=scan_references)


def wait_for_note(analysis: Analysis, task: asyncio.Task, steps: int = 32) -> str:
    """Who can end *task*'s wait on a primitive, in a few words, for
    ``%tasks``' "waits on" column: ``held by task 6``, ``held by task 5,
    ended (leak)``, ``consumers ended (dead partner)``, ``deadlock with
    tasks 6, 7``.  Follows the chain from *task* only (at most *steps*
    links): the cost is that of the tasks on the way, not of all tasks."""
    wait = analysis.wait(task)
    if wait.kind in ("task", "tasks", "timer", "io", "thread", "future", "running", "ready", "done"):
        return ""
    ident = analysis.registry.info
    if wait.end == "leak":
        ended = [h for h in wait.holders if h.ended is not None]
        ids = ", ".join(str(ident(h.task).id) for h in ended[:3] if h.task is not None)
        return f"held by ended task{'s' if len(ended) > 1 else ''} {ids} (leak)"
    if wait.end == "dead partner":
        if wait.partners:
            return f"{'consumers' if wait.role == 'drained by' else 'producers'} ended (dead partner)"
        return "nobody to end it (dead partner)"
    if not wait.targets:
        return ""
    # A deadlock: the chain comes back to the task.
    path, current = [task], wait.targets[0]
    for _ in range(steps):
        if current is task:
            return "deadlock with task" + ("s " if len(path) > 2 else " ") + ", ".join(str(ident(t).id) for t in path[1:])
        if current in path or current.done():
            break
        path.append(current)
        nxt = analysis.wait(current)
        if not nxt.targets:
            break
        current = nxt.targets[0]
    ids = ", ".join(str(ident(t).id) for t in wait.targets[:3]) + (f", +{len(wait.targets) - 3}" if len(wait.targets) > 3 else "")
    return f"{wait.role} task{'s' if len(wait.targets) > 1 else ''} {ids}"
