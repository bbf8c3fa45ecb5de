"""``%asyncdebug``: asyncio debug mode and asyncrepl's diagnostics, shown and switched.
The diagnostics themselves are ``_diagnostics``."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class

from ._common import ReplMagics


@magics_class
class DiagnosticsMagics(ReplMagics):
    """Debug mode and diagnostics."""

    _SWITCHES = ("debug", "report_blocking", "warn_unawaited", "report_task_errors", "report_deadlocks")

    @line_magic
    def asyncdebug(self, line: str = ""):
        """Show, or turn on or off, asyncio debug mode and asyncrepl's diagnostics,
        and the loop's lag.

        %asyncdebug        what is on, the thresholds, and the loop's lag
        %asyncdebug on     asyncio debug mode and every diagnostic on
        %asyncdebug off    all of them off
        %asyncdebug -o     return the lag (a LagReport) instead of printing

        The lag is how long something that becomes ready (a timer, a reply)
        waits for the loop, over the last minute: p50 and p99 over time (0
        while the loop waits for events) and the longest iteration; then the
        longest steps that held the loop, with their lines.  It costs nothing:
        asyncrepl's loop monitor measures it anyway.

        The diagnostics: a task or callback that holds the loop longer than
        AsyncRepl.slow_callback_duration is reported with the line it was
        running (report_blocking); a coroutine that is never awaited is
        reported at your line with the fix (warn_unawaited); a background task
        that fails, and whose exception nobody retrieves, is reported as it
        ends (report_task_errors); tasks that wait on each other for a second
        are reported as a deadlock (report_deadlocks).  Each is also an AsyncRepl setting of its
        own: %config AsyncRepl.warn_unawaited = False.
        """
        settings = self._settings
        words = line.split()
        if words == ["-o"]:
            return self._lag()
        if len(words) > 1 or (words and words[0].lower() not in ("on", "off")):
            raise UsageError(f"usage: %asyncdebug [on|off|-o], not {line.strip()!r}")
        if words:
            on = words[0].lower() == "on"
            for name in self._SWITCHES:
                setattr(settings, name, on)
            # Also when the setting did not change but code turned the loop's over.
            self._tasks_registry().loop.set_debug(on)

        def state(name: str) -> str:
            return "on " if getattr(settings, name) else "off"

        loop = self._tasks_registry().loop
        debug = "on " if loop.get_debug() else "off"
        print(f"asyncio debug mode         {debug}  (AsyncRepl.debug)")
        if loop.get_debug() != settings.debug:
            # Code turned it over (loop.set_debug; nest_asyncio's run() does): say what is true.
            print(
                f"  AsyncRepl.debug is {settings.debug}, but code called loop.set_debug({loop.get_debug()}); "
                f"'%asyncdebug {'on' if settings.debug else 'off'}' applies the setting again"
            )
        print(
            f"blocked loop               {state('report_blocking')}  over "
            f"{settings.slow_callback_duration:g} s (AsyncRepl.report_blocking, .slow_callback_duration)"
        )
        print(f"never-awaited coroutines   {state('warn_unawaited')}  (AsyncRepl.warn_unawaited)")
        print(f"failed background tasks    {state('report_task_errors')}  (AsyncRepl.report_task_errors)")
        print(f"deadlocks                  {state('report_deadlocks')}  lasting 1 s (AsyncRepl.report_deadlocks; %why explains)")
        deadline = f"{settings.cell_timeout:g} s" if settings.cell_timeout else "off"
        print(f"awaiting cells' deadline   {deadline}  (AsyncRepl.cell_timeout, %%timeout)")
        print("\n".join(self._lag().lines()))

    def _lag(self):
        return self.session.monitor.lag_report(cell_namer=self.session.views.cell_namer)
