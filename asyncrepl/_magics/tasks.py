"""``%tasks``: the user's tasks, where they wait, who made them, what became
of them.  The engine is ``_tasks``; the views are ``_render``.

Every argument that names tasks (an id, a name, a glob) is read by one
resolver, ``_tasks.resolve``: ``%tasks``, ``%tasks --done/--failed`` and
``%cancel`` take many tasks (globs welcome); ``%debug_task`` (and ``%why``)
take one, and say so, listing the ids, when a name fits several.
"""

from __future__ import annotations


from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument
from IPython.display import display

from .. import _tasks
from .._render import left_out
from ._common import ReplMagics, arguments, parse_arguments, unquoted


@magics_class
class TaskMagics(ReplMagics):
    """Seeing tasks."""

    @arguments()
    @argument("patterns", nargs="*", help="task ids, names or globs: show these in detail; with --done or --failed: list only these")
    @argument("--all", action="store_true", help="also list IPython's, the kernel's and asyncrepl's own tasks (ids r1, r2...), marked *")
    @argument("--tree", action="store_true", help="the awaited-by tree: who awaits whom")
    @argument("--done", action="store_true", help="finished tasks and how they ended: the last AsyncRepl.task_history of them, and the failures kept")
    @argument("--failed", action="store_true", help="the tasks that failed, kept until you forget them (--clear), however many tasks finished since")
    @argument("--clear", action="store_true", help="with --failed: forget the failed tasks named (all of them without a name)")
    @argument("--locals", action="store_true", help="with ID|NAME|GLOB: the local variables of each frame of its await chain")
    @argument("--limit", type=int, default=30, help="list at most this many tasks, then a summary of all (default 30)")
    @argument("-o", dest="objects", action="store_true", help="return the rows as objects instead of printing")
    @line_magic
    def tasks(self, line: str = ""):
        """List the pending tasks of the REPL's loop: where each waits, and who made it.

        Every task gets a short id in creation order (1, 2, ...), stable and never
        reused in a session.  The table shows its name, state, coroutine, where
        it is suspended (the innermost frame outside asyncio, with its source
        line), what it waits on, its age, and where it was created (your line,
        or for a task a library made, the library's).  IPython's, the kernel's
        and asyncrepl's own tasks are left out (--all lists them, as r1, r2...).

        %tasks ID|NAME|GLOB   tasks in detail: the whole await chain, the stack
                              that created it, and which tasks await it (for a
                              finished task: how it ended, and its traceback)
        %tasks ID --locals    what a suspended task holds: the local variables of
                              each frame of its await chain (bounded reprs;
                              nothing of yours runs but __repr__)
        %tasks --tree         who awaits whom
        %tasks --done [ID|NAME|GLOB ...]
                              finished tasks: result, exception, or cancelled
                              (by whom, from where), when, after how long
        %tasks --failed [ID|NAME|GLOB ...]
                              the tasks that failed: kept until you forget them,
                              however many tasks finished since (at most 1,000;
                              it says how many older ones it dropped)
        %tasks --failed --clear [ID|NAME|GLOB ...]
                              forget those failed tasks (all without a name)

        A name is read the same way by every magic: an id (3, #3, r3 for the
        REPL's own), else the tasks so named (a glob such as 'worker-*'
        matches names), else, if no task has that name, the tasks whose
        coroutine it names, else the task a variable of yours of that name
        holds (t, after t = asyncio.create_task(...)).  Quotes around a name
        are not part of it.
        """
        args = parse_arguments(self.tasks, line)
        patterns = [unquoted(pattern) for pattern in args.patterns]
        _check_tasks_arguments(args, patterns)
        registry = self._tasks_registry()
        views = self._views()
        if args.failed:
            return self._failed(registry, views, patterns, args)
        if args.done:
            return self._done(registry, views, patterns, args)
        if patterns:
            return self._task_details(registry, views, patterns, args)
        tasks = registry.pending(include_machinery=args.all)
        if args.tree:
            return self._task_tree(registry, views, tasks, args)
        return self._pending(registry, views, tasks, args)

    def _pending(self, registry, views, tasks, args):
        shown = tasks[: args.limit]
        rows = _with_wait_for(registry, [_tasks.row(registry, task) for task in shown])
        if args.objects:
            return rows
        if not tasks:
            # The hint only where --all would show something: the REPL's own tasks, pending now.
            own = not args.all and registry.pending(include_machinery=True)
            print("no pending tasks" + (" (%tasks --all also lists IPython's own)" if own else ""))
            return None
        counts = _tasks.summary(tasks) if len(tasks) > len(shown) else None
        display(views.pending_table(rows, len(tasks), counts))
        return None

    def _resolve(self, registry, patterns, **scope):
        """The tasks *patterns* name, read as every magic reads them (a
        variable of the user's last); see ``_tasks.resolve.resolve``."""
        from .._tasks.resolve import resolve

        return resolve(registry, patterns, variables=self.shell.user_ns, **scope)

    def _done(self, registry, views, patterns, args):
        if patterns:
            matches = self._resolve(registry, patterns, pending=False)
            if matches.unmatched:
                raise UsageError(f"no finished task matches {matches.unmatched[0]!r} (see %tasks --done)")
            entries = matches.finished
        else:
            entries = registry.ended.finished_tasks()
        shown = entries if args.objects else entries[-args.limit :]
        registry.ended.looked_at(entry.id for entry in shown if entry.outcome == "raised")
        if args.objects:
            return entries
        if not entries:
            print("no finished tasks yet")
            return None
        display(views.history_table(shown, registry.clock()))
        notes = left_out(len(shown), len(entries), None, "finished tasks")
        unseen = len(registry.ended.unseen_failures)
        if unseen:
            notes.append(f"{unseen:,} failed task{'s' if unseen > 1 else ''} not shown here: %tasks --failed lists every failure kept")
        if notes:
            print("\n".join(notes))
        return None

    def _failed(self, registry, views, patterns, args):
        if patterns:
            matches = self._resolve(registry, patterns, pending=False, failed_only=True)
            if matches.unmatched:
                raise UsageError(f"no failed task matches {matches.unmatched[0]!r} (see %tasks --failed)")
            entries = matches.finished
        else:
            entries = registry.ended.failures
        if args.clear:
            forgotten = registry.ended.forget_failures(entry.id for entry in entries) if patterns else registry.ended.forget_failures()
            if args.objects:
                return forgotten
            if forgotten:
                ids = ", ".join(map(str, forgotten[:10])) + (", ..." if len(forgotten) > 10 else "")
                print(f"forgot {len(forgotten):,} failed task{'s' if len(forgotten) > 1 else ''} ({ids})")
            else:
                print("no failed tasks to forget")
            return None
        shown = entries if args.objects else entries[-args.limit :]
        registry.ended.looked_at(entry.id for entry in shown)
        if args.objects:
            return entries
        dropped = registry.ended.failures_dropped
        dropped_note = (
            [f"{dropped:,} older failure{'s' if dropped > 1 else ''} dropped: at most {registry.ended.FAILURES_KEPT:,} are kept"]
            if dropped and not patterns
            else []
        )
        if not entries:
            print("\n".join(["no task has failed" if not dropped_note else "no failed task kept"] + dropped_note))
            return None
        notes = left_out(len(shown), len(entries), None, "failed tasks") + dropped_note
        notes.append("%tasks ID shows a traceback, %debug_task ID debugs it; %tasks --failed --clear forgets them")
        display(views.failures_table(shown, registry.clock(), notes))
        return None

    def _task_details(self, registry, views, patterns, args):
        matches = self._resolve(registry, patterns, include_machinery=args.all, finished=not args.locals)
        if matches.unmatched:
            where = "%tasks" if args.locals else "%tasks and %tasks --done"
            raise UsageError(f"no {'pending ' if args.locals else ''}task matches {matches.unmatched[0]!r} (see {where})")
        tasks, finished = matches.pending, matches.finished
        if args.objects:
            return [_tasks.row(registry, task) for task in tasks] + finished
        shown = tasks[: args.limit]
        graph = _tasks.AwaitGraph(registry.pending(include_machinery=True)) if shown and not args.locals else None
        for task in shown:
            if args.locals:
                display(views.task_locals(_tasks.row(registry, task), _tasks.chain_locals(task)))
                continue
            awaiting = [_tasks.row(registry, waiter) for waiter in graph.awaited_by(task)]
            display(
                views.detail(
                    _tasks.row(registry, task), _tasks.shown_chain(task), registry.info(task).created_at, awaiting
                )
            )
        finished_shown = finished[: max(0, args.limit - len(shown))]
        registry.ended.looked_at(entry.id for entry in finished_shown)
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
        _with_wait_for(registry, list(shown.values()))
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


def _with_wait_for(registry, rows: list) -> list:
    """*rows* with who can end each wait on a lock, semaphore, queue...
    added to "waits on" (the analysis of %why, from each task's chain only)."""
    analysis = None
    for row in rows:
        if row.task is None or not row.waits_on or row.waits_on.startswith(("task", "gather", "sleep")):
            continue
        from .. import _why  # not at %load_ext: only when a row waits on a primitive

        analysis = analysis or _why.analyse(registry, scan_references=False)
        note = _why.wait_for_note(analysis, row.task)
        if note:
            row.waits_on = f"{row.waits_on}, {note}"
    return rows


def _check_tasks_arguments(args, patterns) -> None:
    if args.clear and not args.failed:
        raise UsageError("--clear forgets failed tasks: %tasks --failed --clear [ID|NAME|GLOB ...]")
    if args.done and args.failed:
        raise UsageError("give --done or --failed, not both (--done lists the failures kept too)")
    if (args.done or args.failed) and (args.tree or args.locals):
        raise UsageError("--tree and --locals show pending tasks; they do not go with --done or --failed")
    if args.locals and not patterns:
        raise UsageError("--locals shows the tasks you name: %tasks ID|NAME|GLOB --locals")
    if args.tree and patterns:
        raise UsageError("--tree shows who awaits whom among all pending tasks: %tasks --tree, without ID|NAME|GLOB")
