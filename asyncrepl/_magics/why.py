"""``%why``: from where a task waits to why it waits.  The engine is ``_why``
(the wait-for analysis) over ``_holders`` (who holds asyncio's locks and
permits); this adapts it to a line and renders it."""

from __future__ import annotations

import asyncio

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.display import display

from ._common import ReplMagics, one_task, split_words


class WhyReport:
    """What ``%why`` shows: lines of text, and HTML in Jupyter."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def __repr__(self) -> str:
        return "\n".join(self.lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        import html

        rows = []
        for line in self.lines:
            text = html.escape(line)
            if line and not line.startswith((" ", "%")):
                text = f"<b>{text}</b>"
            rows.append(text)
        return '<pre class="asyncrepl-why" style="white-space: pre-wrap">' + "\n".join(rows) + "</pre>"


@magics_class
class WhyMagics(ReplMagics):
    """Why tasks are stuck."""

    @line_magic
    def why(self, line: str = ""):
        """Why a task is stuck: the chain from it to the root cause.

        %why ID|NAME    the chain, one line per link: where the task waits
                        (your line), on what (a task, a gather, a Lock,
                        Semaphore, Condition, Event, Queue, Barrier, a
                        timer, I/O, a thread), who holds it or could
                        release, set or feed it, and so on to the root cause:
                        a timer, I/O, a thread; a deadlock (tasks that wait
                        on each other: what each holds, where it took it,
                        what it waits for); a leak (a lock or permits held by
                        tasks that have ended: how they ended, where they took
                        them); a dead partner (a queue whose consumers or
                        producers have ended; an Event nobody is set up to
                        set); a cancellation in progress (who asked, and
                        where the task caught CancelledError)
        %why            every stuck task (not waiting on I/O, a timer or a
                        thread), grouped by root cause: deadlocks first, then
                        leaks and dead partners, then the rest
        %why -o [ID]    return the chains (asyncrepl._why.Chain) instead

        asyncrepl records who takes each Lock and Semaphore permit, and which
        tasks feed and drain each Queue, while it is loaded.  A deadlock that
        lasts a second is also reported by itself (AsyncRepl.report_deadlocks).
        """
        words = split_words(line)
        objects = "-o" in words
        words = [word for word in words if word != "-o"]
        flags = [word for word in words if word.startswith("-")]
        if flags or len(words) > 1:
            raise UsageError(f"usage: %why [-o] [ID|NAME]: one task, or none for every stuck task, not {line.strip()!r}")
        from .. import _why  # imported at the first %why, not at %load_ext
        from .._render.why import render_all, render_chain

        registry = self._tasks_registry()
        place = self._views().place
        analysis = _why.analyse(registry)
        if not words:
            chains = analysis.stuck_chains()
            if objects:
                return chains
            display(WhyReport(render_all(analysis, chains, place)))
            return None
        found = one_task(registry, words[0], "%why ID", self.shell.user_ns)
        if not isinstance(found, asyncio.Task):
            if objects:
                return found
            how = {"returned": f"returned {found.detail}", "raised": f"raised {found.detail}"}.get(found.outcome, "was cancelled")
            if found.outcome == "cancelled" and found.cancelled_by:
                how += f" by {found.cancelled_by}"
            print(f"task {self._views().task_label(found)} is not stuck: it has ended: it {how} (%tasks {found.id} shows more)")
            return None
        chain = analysis.chain(found)
        if objects:
            return chain
        display(WhyReport(render_chain(analysis, chain, place)))
        return None
