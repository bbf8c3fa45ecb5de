"""Loop management written for scripts, in a REPL whose loop always runs.

A rewritten top-level ``asyncio.run(main())`` or ``loop.run_until_complete(...)``
(see ``_rewrite``) calls :data:`entry`; the errors of calls that could not be
rewritten get a hint.
"""

from __future__ import annotations

import asyncio

from ._diagnostics import report

# asyncio's messages when code tries to start or re-enter a loop.
LOOP_BUSY_MESSAGES = (
    "asyncio.run() cannot be called from a running event loop",
    "This event loop is already running",
    "Cannot run the event loop while another loop is running",
)
LOOP_BUSY_HINT = (
    "asyncrepl: the REPL's loop is always running, so code cannot start or re-enter "
    "a loop; await the coroutine instead (await main()), or run blocking code in a "
    "thread (await asyncio.to_thread(func))"
)


class _LoopEntry:
    """What a rewritten ``asyncio.run(...)`` or ``loop.run_until_complete(...)`` calls."""

    def __init__(self):
        self.told = False

    async def asyncio_run(self, main, *, debug=None, loop_factory=None):
        """``asyncio.run(main)`` on the running loop: run *main* as a task, then
        cancel the tasks it left pending, as asyncio.run does."""
        __tracebackhide__ = True
        if not asyncio.iscoroutine(main):
            raise ValueError(f"a coroutine was expected, got {main!r}")
        if not self.told:
            self.told = True
            name = getattr(main, "__name__", "main")
            report(
                f"asyncio.run() runs {name}() on the REPL's loop, as 'await {name}()' "
                "would (said once)"
            )
        return await self._run_cleaning_up(main)

    async def run_until_complete(self, loop, future):
        """``loop.run_until_complete(future)``: an await when *loop* is this one."""
        __tracebackhide__ = True
        if loop is not asyncio.get_running_loop():
            return loop.run_until_complete(future)
        return await self._run_cleaning_up(future)

    @staticmethod
    async def _run_cleaning_up(awaitable):
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        before = asyncio.all_tasks(loop)
        task = asyncio.ensure_future(awaitable)
        try:
            return await task
        finally:
            leftovers = asyncio.all_tasks(loop) - before - {task, asyncio.current_task()}
            for leftover in leftovers:
                leftover.cancel()
            if leftovers:
                await asyncio.gather(*leftovers, return_exceptions=True)


entry = _LoopEntry()


def close_abandoned_coroutine(tb) -> None:
    """asyncio.run() raised before starting its coroutine; close it, so no
    "coroutine was never awaited" warning follows the explanation."""
    runner_code = asyncio.runners.run.__code__
    while tb is not None:
        if tb.tb_frame.f_code is runner_code:
            main = tb.tb_frame.f_locals.get("main")
            if asyncio.iscoroutine(main):
                main.close()
        tb = tb.tb_next
