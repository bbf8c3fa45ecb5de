"""``%cancel`` and ``%debug_task``: acting on a task the user names (the
resolver is ``_tasks.resolve``, as for ``%tasks``)."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from IPython.core.display_trap import DisplayTrap
from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument

from .. import _tasks
from .._render import Views
from ._common import ReplMagics, arguments, one_task, parse_arguments, split_words, unquoted


@magics_class
class TaskControlMagics(ReplMagics):
    """Cancelling and debugging tasks."""

    @line_magic
    def debug_task(self, line: str = ""):
        """Post-mortem debugging of a task that failed: IPython's debugger (the
        one %debug opens) on the task's traceback, at the line that raised.

        %debug_task           the task that failed last (see %tasks --failed)
        %debug_task ID|NAME   that task: an id, or a name or glob that names
                              one task (several: it lists their ids)

        Walk the frames with up/down, print variables with p, leave with q.  The
        loop, and with it every other task, waits while the debugger is open.
        The newest 100 failures keep their frames for the debugger; older ones
        keep their traceback, which %tasks ID shows.
        """
        registry = self._tasks_registry()
        words = split_words(line)
        if len(words) > 1 or (words and words[0].startswith("-")):
            raise UsageError("usage: %debug_task [ID|NAME]: one task, or none for the most recent failure")
        if not words:
            entry = registry.ended.latest_failure()
            if entry is None:
                forgotten = " kept (%tasks --failed --clear forgot them)" if registry.ended.failures_forgotten else ""
                raise UsageError(f"no task has failed{forgotten}")
        else:
            found = one_task(registry, words[0], "%debug_task ID", self.shell.user_ns)
            if isinstance(found, asyncio.Task):
                task_id = registry.info(found).id
                raise UsageError(f"task {registry.label(found)} has not finished: %tasks {task_id} --locals shows what it holds")
            entry = found
        views = Views()
        if entry.outcome != "raised":
            ending = f"returned {entry.detail}" if entry.outcome == "returned" else "was cancelled"
            raise UsageError(f"task {views.task_label(entry)} did not fail: it {ending}")
        registry.ended.looked_at([entry.id])
        if not entry.frames_kept:
            raise UsageError(
                f"task {views.task_label(entry)} failed too long ago for its frames to be kept "
                f"(the newest {registry.ended.FRAMES_KEPT} failures keep them): %tasks {entry.id} shows its traceback"
            )
        debugger = self.shell.debugger_cls()
        # As %debug: Python's own displayhook while at the (Pdb) prompt.
        with DisplayTrap(hook=sys.__displayhook__):
            debugger.reset()
            debugger.interaction(None, entry.error.__traceback__)
        return None

    @arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (a glob matches names, else coroutines)")
    @argument("--all", action="store_true", help="cancel every pending task of yours (never IPython's own)")
    @argument("-m", "--msg", default=None, help="the cancel message (CancelledError's argument)")
    @argument("--timeout", type=float, default=1.0, help="seconds to let the loop run so the cancellations take effect (default 1)")
    @argument("--limit", type=int, default=30, help="name at most this many tasks, then count the rest (default 30)")
    @line_magic
    def cancel(self, line: str = ""):
        """Cancel tasks by id, name or glob, and say what became of each.

        %cancel 3 worker-* fetch     cancel task 3, the tasks named worker-...,
                                     and the tasks whose coroutine is fetch()
                                     (when no task is named fetch)
        %cancel --all                cancel all your pending tasks

        The loop then runs for up to --timeout seconds so the cancellations take
        effect, and each task is reported: cancelled; finished anyway (it ended
        before the cancellation reached it); or STILL RUNNING, which means that
        it, or a task it waits for (a TaskGroup's or a gather's child),
        caught CancelledError and went on - a bug worth fixing: the line says
        which task and where.  Tasks are named as in %tasks, the STILL RUNNING
        ones first; past --limit of them, the rest are counted.  Like
        %timeit_async, %cancel pauses asyncio debug mode while the
        cancellations take effect.
        """
        args = parse_arguments(self.cancel, line)
        patterns = [unquoted(pattern) for pattern in args.patterns]
        if args.all and patterns:
            raise UsageError("give task ids, names or globs, or --all, not both")
        if not args.all and not patterns:
            raise UsageError("usage: %cancel ID|NAME|GLOB ... or %cancel --all [-m MSG] [--timeout SECONDS]")
        if args.timeout < 0:
            raise UsageError(f"--timeout takes seconds, at least 0, not {args.timeout}")
        message = unquoted(args.msg) if args.msg else args.msg
        registry = self._tasks_registry()
        current = asyncio.current_task()
        if args.all:
            tasks = registry.pending()
        else:
            from .._tasks.resolve import find

            tasks, unmatched = find(registry, patterns, variables=self.shell.user_ns)
            if unmatched:
                raise UsageError(f"no task matches {unmatched[0]!r} (see %tasks)")
        tasks = [task for task in tasks if task is not current]
        return self._cancel(registry, tasks, message, args.timeout, args.limit)

    async def _cancel(self, registry, tasks, message, timeout, limit):
        __tracebackhide__ = True
        if not tasks:
            print("no pending tasks to cancel")
            return None
        from .._timing import paused_debug

        loop = asyncio.get_running_loop()
        # Debug mode records a stack for every callback the cancellations
        # schedule: for 100,000 tasks, 15 s instead of a fraction of one.
        async with paused_debug(loop):
            registry.cancel(tasks, "%cancel", message)
            deadline = loop.time() + timeout
            pending = tasks
            while True:
                await asyncio.sleep(0 if pending is tasks else min(0.01, max(0.0, deadline - loop.time())))
                pending = [task for task in pending if not task.done()]
                if not pending or loop.time() >= deadline:
                    break
        still_running = set(pending)
        outcomes = [
            (task, "STILL RUNNING" if task in still_running else "cancelled" if task.cancelled() else "finished anyway")
            for task in tasks
        ]
        # Past --limit, the STILL RUNNING ones are named first; in id order.
        order = {"STILL RUNNING": 0, "finished anyway": 1, "cancelled": 2}
        named = sorted(outcomes, key=lambda pair: order[pair[1]])[:limit]
        named.sort(key=lambda pair: _tasks.registry.id_order(registry.info(pair[0]).id))
        views = self._views()
        lines = []
        for task, what in named:
            label = registry.label(task)
            if what == "STILL RUNNING":
                why = self._why_still_running(registry, views, task)
                lines.append(f"STILL RUNNING: task {label} - {timeout:g} s after cancel() it is still running: {why}")
            elif what == "cancelled":
                lines.append(f"cancelled: task {label}")
            else:
                outcome, detail = _tasks.ending(task)
                lines.append(f"finished anyway: task {label} {outcome} {detail}")
        if len(tasks) > len(named):
            counts = Counter(what for _, what in outcomes)
            said = ", ".join(f"{counts[what]:,} {what}" for what in order if counts[what])
            lines.append(f"{len(tasks) - len(named):,} more not named; of all {len(tasks):,}: {said} (--limit names more)")
        print("\n".join(lines))
        return None

    @staticmethod
    def _why_still_running(registry, views, task) -> str:
        """``it caught CancelledError at In [4] line 6 and went on``, or which
        task it waits for did."""
        why = _tasks.why_still_running(registry, task)
        if why.how == "caught":
            what = f"caught CancelledError at {views.place(why.where, with_source=False)} and went on"
        elif why.how == "handling":
            what = f"is still handling CancelledError (in an except or finally block), waiting at {views.place(why.where)}"
        elif why.task is task:
            where = f" (it waits at {views.place(why.where)})" if why.where is not None else ""
            return f"it caught CancelledError and went on{where}"
        else:
            what = "caught CancelledError and went on"
        if why.task is task:
            return f"it {what}"
        return f"it waits for task {registry.label(why.task)}, which {what}"
