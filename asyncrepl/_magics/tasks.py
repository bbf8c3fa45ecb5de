"""``%tasks`` and ``%cancel``: the user's tasks, where they wait, who made them,
what became of them.  The engine is ``_tasks``; the views are ``_render``."""

from __future__ import annotations

import asyncio

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .. import _tasks
from ._common import ReplMagics


@magics_class
class TaskMagics(ReplMagics):
    """Seeing and cancelling tasks."""

    @magic_arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (over names and coroutines): show these in detail")
    @argument("--all", action="store_true", help="also list IPython's, the kernel's and asyncrepl's own tasks, marked *")
    @argument("--tree", action="store_true", help="the awaited-by tree: who awaits whom")
    @argument("--done", action="store_true", help="recently finished tasks and how they ended (AsyncRepl.task_history of them)")
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
        %tasks --tree         who awaits whom
        %tasks --done         recently finished tasks: result, exception, or
                              cancelled (and from where), when, after how long
        """
        args = parse_argstring(self.tasks, line)
        if args.limit < 1:
            raise UsageError(f"--limit takes a whole number of at least 1, not {args.limit}")
        registry = self._tasks_registry()
        views = self._views()
        if args.done:
            entries = list(registry.history)
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
        graph = _tasks.AwaitGraph(registry.pending(include_machinery=True))
        for task in tasks:
            awaiting = [_tasks.row(registry, waiter) for waiter in graph.awaited_by(task)]
            display(
                views.detail(
                    _tasks.row(registry, task), _tasks.await_chain(task), registry.info(task).created_at, awaiting
                )
            )
        for entry in finished:
            display(views.finished_detail(entry, registry.clock()))
        return None

    def _task_tree(self, registry, views, tasks, args):
        rows = {task: _tasks.row(registry, task) for task in tasks}
        graph = _tasks.AwaitGraph(tasks)
        children = {rows[task].id: [rows[target] for target in graph.awaits(task)] for task in tasks}
        roots = [rows[task] for task in graph.roots()]
        if args.objects:
            return roots, children
        if not tasks:
            print("no pending tasks")
            return None
        display(views.tree(roots, children))
        return None

    @magic_arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs (over names and coroutines)")
    @argument("--all", action="store_true", help="cancel every pending task of yours (never IPython's own)")
    @argument("-m", "--msg", default=None, help="the cancel message (CancelledError's argument)")
    @argument("--timeout", type=float, default=1.0, help="seconds to let the loop run so the cancellations take effect (default 1)")
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
        as in %tasks.
        """
        args = parse_argstring(self.cancel, line)
        if args.all and args.patterns:
            raise UsageError("give task ids, names or globs, or --all, not both")
        if not args.all and not args.patterns:
            raise UsageError("usage: %cancel ID|NAME|GLOB ... or %cancel --all [-m MSG] [--timeout SECONDS]")
        if args.timeout < 0:
            raise UsageError(f"--timeout takes seconds, at least 0, not {args.timeout}")
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
        return self._cancel(registry, tasks, message, args.timeout)

    async def _cancel(self, registry, tasks, message, timeout):
        __tracebackhide__ = True
        if not tasks:
            print("no pending tasks to cancel")
            return None
        for task in tasks:
            registry.note_cancel_by(task, "%cancel")
            task.cancel(message)
        await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            label = registry.label(task)
            if not task.done():
                print(
                    f"STILL RUNNING: task {label} - {timeout:g} s after cancel() it is "
                    "still running: it caught CancelledError and went on"
                )
                continue
            outcome, detail = _tasks.ending(task)
            if outcome == "cancelled":
                print(f"cancelled: task {label}")
            else:
                print(f"finished anyway: task {label} {outcome} {detail}")
        return None
