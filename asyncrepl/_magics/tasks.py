"""``%tasks`` and ``%cancel``: the user's tasks, where they wait, who made them,
what became of them.  The engine is ``_tasks``; the views are ``_render``."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from IPython.core.display_trap import DisplayTrap
from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from .. import _tasks
from .._render import Views, left_out
from .._timing import paused_debug
from ._common import ReplMagics, parse_arguments


@magics_class
class TaskMagics(ReplMagics):
    """Seeing and cancelling tasks."""

    @magic_arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (over names and coroutines): show these in detail")
    @argument("--all", action="store_true", help="also list IPython's, the kernel's and asyncrepl's own tasks, marked *")
    @argument("--tree", action="store_true", help="the awaited-by tree: who awaits whom")
    @argument("--done", action="store_true", help="recently finished tasks and how they ended (AsyncRepl.task_history of them)")
    @argument("--locals", action="store_true", help="with ID|NAME|GLOB: the local variables of each frame of its await chain")
    @argument("--limit", type=int, default=30, help="list at most this many tasks, then a summary of all (default 30)")
    @argument("-o", dest="objects", action="store_true", help="return the rows as objects instead of printing")
    @line_magic
    def tasks(self, line: str = ""):
        """List the pending tasks of the REPL's loop: where each waits, and who made it.

        Every task gets a short id in creation order (1, 2, ...), stable and never
        reused in a session.  The table shows its name, state, coroutine, where
        it is suspended (the innermost frame outside asyncio, with its source
        line), what it waits on, its age, and where your code created it.
        IPython's, the kernel's and asyncrepl's own tasks are left out.

        %tasks ID|NAME|GLOB   one task in detail: its whole await chain, the
                              stack that created it, and which tasks await it
                              (for a finished task: how it ended)
        %tasks ID --locals    what a suspended task holds: the local variables of
                              each frame of its await chain (bounded reprs;
                              nothing of yours runs but __repr__)
        %tasks --tree         who awaits whom
        %tasks --done         recently finished tasks: result, exception, or
                              cancelled (and from where), when, after how long
        """
        args = parse_arguments(self.tasks, line)
        if args.limit < 1:
            raise UsageError(f"--limit takes a whole number of at least 1, not {args.limit}")
        if args.locals and not args.patterns:
            raise UsageError("--locals shows the tasks you name: %tasks ID|NAME|GLOB --locals")
        registry = self._tasks_registry()
        views = self._views()
        if args.done:
            entries = list(registry.history)
            registry.looked_at()  # the status line's failures count is read
            if args.objects:
                return entries
            if not entries:
                print("no finished tasks yet")
                return None
            display(views.history_table(entries[-args.limit:], registry.clock()))
            return None
        if args.patterns:
            return self._task_details(registry, views, args)
        tasks = registry.pending(include_machinery=args.all)
        if args.tree:
            return self._task_tree(registry, views, tasks, args)
        shown = tasks[: args.limit]
        rows = [_tasks.row(registry, task) for task in shown]
        if args.objects:
            return rows
        if not tasks:
            print("no pending tasks" + ("" if args.all else " (%tasks --all also lists IPython's own)"))
            return None
        counts = _tasks.summary(tasks) if len(tasks) > len(shown) else None
        display(views.pending_table(rows, len(tasks), counts))
        return None

    def _task_details(self, registry, views, args):
        tasks, unmatched = registry.find(args.patterns, include_machinery=args.all)
        found = {pattern: registry.finished(pattern) for pattern in unmatched}
        finished = [entry for entries in found.values() for entry in entries]
        still_unmatched = [pattern for pattern, entries in found.items() if not entries]
        if still_unmatched:
            raise UsageError(f"no task matches {still_unmatched[0]!r} (see %tasks and %tasks --done)")
        if args.objects:
            return [_tasks.row(registry, task) for task in tasks] + finished
        shown = tasks[: args.limit]
        graph = _tasks.AwaitGraph(registry.pending(include_machinery=True)) if shown else None
        for task in shown:
            if args.locals:
                display(views.task_locals(_tasks.row(registry, task), _tasks.chain_locals(task)))
                continue
            awaiting = [_tasks.row(registry, waiter) for waiter in graph.awaited_by(task)]
            display(
                views.detail(
                    _tasks.row(registry, task), _tasks.await_chain(task), registry.info(task).created_at, awaiting
                )
            )
        finished_shown = finished[: max(0, args.limit - len(shown))]
        registry.looked_at(entry.id for entry in finished_shown)
        for entry in finished_shown:
            display(views.finished_detail(entry, registry.clock()))
        counts = _tasks.summary(tasks) if len(tasks) > len(shown) else None
        notes = left_out(len(shown), len(tasks), counts, "matching pending tasks")
        notes += left_out(len(finished_shown), len(finished), None, "matching finished tasks")
        if notes:
            print("\n".join(notes))
        return None

    def _task_tree(self, registry, views, tasks, args):
        graph = _tasks.AwaitGraph(tasks)
        if args.objects:
            rows = {task: _tasks.row(registry, task) for task in tasks}
            children = {rows[task].id: [rows[target] for target in graph.awaits(task)] for task in tasks}
            return [rows[task] for task in graph.roots()], children
        if not tasks:
            print("no pending tasks")
            return None
        # Rows only for what is drawn: the first --limit tasks, depth first.
        shown: dict = {}
        stack = list(reversed(graph.roots()))
        while stack and len(shown) < args.limit:
            task = stack.pop()
            if task not in shown:
                shown[task] = _tasks.row(registry, task)
                stack.extend(reversed(graph.awaits(task)))
        roots = [shown[task] for task in graph.roots() if task in shown]
        children = {}
        for task, row in shown.items():
            targets = graph.awaits(task)
            kids = children[row.id] = [shown[target] for target in targets if target in shown]
            if len(kids) < len(targets):
                kids.append(f"… {len(targets) - len(kids):,} more")
        counts = _tasks.summary(tasks) if len(tasks) > len(shown) else None
        display(views.tree(roots, children, left_out(len(shown), len(tasks), counts)))
        return None

    @line_magic
    def debug_task(self, line: str = ""):
        """Post-mortem debugging of a task that failed: IPython's debugger (the
        one %debug opens) on the task's traceback, at the line that raised.

        %debug_task           the most recent failure (see %tasks --done)
        %debug_task ID|NAME   that task (an id, a name, or a glob over names and
                              coroutines: the most recent failure among them)

        Walk the frames with up/down, print variables with p, leave with q.  The
        loop, and with it every other task, waits while the debugger is open.
        """
        registry = self._tasks_registry()
        pattern = line.strip()
        if len(pattern.split()) > 1:
            raise UsageError("usage: %debug_task [ID|NAME]: one task, or none for the most recent failure")
        entries = registry.history if not pattern else registry.finished(pattern)
        failed = [entry for entry in entries if entry.outcome == "raised" and entry.error is not None]
        if not failed:
            raise UsageError(self._no_failure(registry, pattern, entries))
        error = failed[-1].error
        registry.looked_at([failed[-1].id])
        debugger = self.shell.debugger_cls()
        # As %debug: Python's own displayhook while at the (Pdb) prompt.
        with DisplayTrap(hook=sys.__displayhook__):
            debugger.reset()
            debugger.interaction(None, error.__traceback__)
        return None

    @staticmethod
    def _no_failure(registry, pattern: str, entries) -> str:
        views = Views()
        if entries:  # it finished, but did not fail
            entry = entries[-1]
            ending = f"returned {entry.detail}" if entry.outcome == "returned" else "was cancelled"
            return f"task {views.task_label(entry)} did not fail: it {ending}"
        if not pattern:
            return "no task has failed (of the last finished ones %tasks --done remembers)"
        tasks, _ = registry.find([pattern])
        if tasks:
            return f"task {registry.label(tasks[0])} has not finished: %tasks {registry.info(tasks[0]).id} --locals shows what it holds"
        return f"no finished task matches {pattern!r} (see %tasks --done)"

    @magic_arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (over names and coroutines)")
    @argument("--all", action="store_true", help="cancel every pending task of yours (never IPython's own)")
    @argument("-m", "--msg", default=None, help="the cancel message (CancelledError's argument)")
    @argument("--timeout", type=float, default=1.0, help="seconds to let the loop run so the cancellations take effect (default 1)")
    @argument("--limit", type=int, default=30, help="name at most this many tasks, then count the rest (default 30)")
    @line_magic
    def cancel(self, line: str = ""):
        """Cancel tasks by id, name or glob, and say what became of each.

        %cancel 3 worker-* fetch     cancel task 3, tasks named worker-..., and
                                     tasks whose coroutine is fetch()
        %cancel --all                cancel all your pending tasks

        The loop then runs for up to --timeout seconds so the cancellations take
        effect, and each task is reported: cancelled; finished anyway (it ended
        before the cancellation reached it); or STILL RUNNING, which means it
        caught CancelledError and went on - a bug worth fixing.  Tasks are named
        as in %tasks, the STILL RUNNING ones first; past --limit of them, the
        rest are counted.  Like %timeit_async, %cancel pauses asyncio debug mode
        while the cancellations take effect.
        """
        args = parse_arguments(self.cancel, line)
        if args.all and args.patterns:
            raise UsageError("give task ids, names or globs, or --all, not both")
        if not args.all and not args.patterns:
            raise UsageError("usage: %cancel ID|NAME|GLOB ... or %cancel --all [-m MSG] [--timeout SECONDS]")
        if args.timeout < 0:
            raise UsageError(f"--timeout takes seconds, at least 0, not {args.timeout}")
        if args.limit < 1:
            raise UsageError(f"--limit takes a whole number of at least 1, not {args.limit}")
        message = args.msg
        if message and len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
            message = message[1:-1]  # magic_arguments splits without removing quotes
        registry = self._tasks_registry()
        current = asyncio.current_task()
        if args.all:
            tasks = registry.pending()
        else:
            tasks, unmatched = registry.find(args.patterns)
            if unmatched:
                raise UsageError(f"no task matches {unmatched[0]!r} (see %tasks)")
        tasks = [task for task in tasks if task is not current]
        return self._cancel(registry, tasks, message, args.timeout, args.limit)

    async def _cancel(self, registry, tasks, message, timeout, limit):
        __tracebackhide__ = True
        if not tasks:
            print("no pending tasks to cancel")
            return None
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
        named.sort(key=lambda pair: registry.info(pair[0]).id)
        lines = []
        for task, what in named:
            label = registry.label(task)
            if what == "STILL RUNNING":
                lines.append(
                    f"STILL RUNNING: task {label} - {timeout:g} s after cancel() it is "
                    "still running: it caught CancelledError and went on"
                )
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
