"""asyncrepl's settings, as a traitlets Configurable named ``AsyncRepl``."""

from __future__ import annotations

import math

from traitlets import Bool, Float, Int, TraitError, validate
from traitlets.config import Config, Configurable

# Past these, a setting only breaks things: a threshold of an hour reports
# nothing, and a history longer than this is memory that nobody reads.
_MOST_SECONDS = 3600.0
_MOST_HISTORY = 1_000_000


class AsyncRepl(Configurable):
    """Settings of the asyncrepl extension.

    Set them in ``ipython_config.py`` as ``c.AsyncRepl.<name> = value``, or
    at the prompt with ``%config AsyncRepl.<name> = value``; changes made at the
    prompt take effect at once.
    """

    debug = Bool(
        True,
        help="Run the REPL's loop in asyncio debug mode (loop.set_debug).",
    ).tag(config=True)

    slow_callback_duration = Float(
        0.1,
        min=0.001,
        max=_MOST_SECONDS,
        help=(
            "Seconds one task step or callback may hold the loop before it is "
            "reported (asyncrepl's watchdog, and loop.slow_callback_duration); "
            "from 0.001 to 3600."
        ),
    ).tag(config=True)

    report_blocking = Bool(
        True,
        help="Report a task or callback that holds the loop longer than slow_callback_duration, with its line.",
    ).tag(config=True)

    warn_unawaited = Bool(
        True,
        help="Report coroutines that are never awaited, at your own line, with the fix.",
    ).tag(config=True)

    report_task_errors = Bool(
        True,
        help="Report background tasks that fail and whose exception nobody retrieves, as they end.",
    ).tag(config=True)

    report_deadlocks = Bool(
        True,
        help=(
            "Report a deadlock (tasks that wait on each other through locks, semaphores, queues, events or awaits) "
            "once it has lasted a second: what each task holds, where it took it, and what it waits for."
        ),
    ).tag(config=True)

    task_history = Int(
        100,
        min=0,
        max=_MOST_HISTORY,
        help="How many finished tasks %tasks --done remembers (0 to 1000000).",
    ).tag(config=True)

    cell_timeout = Float(
        0.0,
        min=0.0,
        max=_MOST_SECONDS * 24,
        help=(
            "Seconds after which an awaiting cell is cancelled, as Ctrl-C cancels it, with one line "
            "saying where it waited (0: never; %%timeout SECONDS does it for one cell)."
        ),
    ).tag(config=True)

    status_bar = Bool(
        True,
        help=(
            "In the terminal, a status line under the prompt: your pending tasks, the loop's lag, "
            "a mark while a task holds the loop, failed tasks not looked at yet, debug mode."
        ),
    ).tag(config=True)

    @validate("slow_callback_duration", "cell_timeout")
    def _not_nan(self, proposal):
        # Float's min and max let nan through (every comparison with it is
        # false), and nan would silently turn the watchdog (or the timeout) off.
        seconds = proposal["value"]
        if math.isnan(seconds):
            trait = proposal["trait"]
            raise TraitError(
                f"The value of the {trait.name!r} trait of an AsyncRepl instance "
                f"should be seconds from {trait.min:g} to {trait.max:g}, but nan was specified"
            )
        return seconds


def settings_for(shell) -> tuple[AsyncRepl, list[str]]:
    """The shell's ``AsyncRepl`` settings, and a line for each bad value skipped.

    ``%config AsyncRepl.x = bad`` reports the error but leaves the bad value in
    the shell's config, where it would break every later load; a bad value
    from a config file is said once, at the load that meets it.  Either way
    the value is dropped from the shell's config once said, so that a later
    load does not say it again (:func:`drop_rejected` does so at unload).
    """
    try:
        return AsyncRepl(parent=shell), []
    except TraitError:
        pass
    skipped = drop_rejected(shell)  # said now: not again at the next load
    return AsyncRepl(parent=shell), skipped


def drop_rejected(shell) -> list[str]:
    """Drop from the shell's config the AsyncRepl values that are refused
    (said at ``%config``, or at the load that meets them); a line for each."""
    section, dropped = shell.config.AsyncRepl, []
    for name, value in list(section.items()):
        error = _refusal(name, value)
        if error is not None:
            dropped.append(f"ignored AsyncRepl.{name} = {value!r}: {error}")
            del section[name]
    return dropped


def _refusal(name: str, value) -> TraitError | None:
    """Why ``AsyncRepl.<name> = value`` is refused, or None if it is not."""
    try:
        AsyncRepl(config=Config({"AsyncRepl": {name: value}}))
    except TraitError as error:
        return error
    return None
