"""asyncrepl's settings, as a traitlets Configurable named ``AsyncRepl``."""

from __future__ import annotations

from traitlets import Bool, Float, Int, TraitError
from traitlets.config import Config, Configurable


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
        help=(
            "Seconds one task step or callback may hold the loop before it is "
            "reported (asyncrepl's watchdog, and loop.slow_callback_duration)."
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

    task_history = Int(
        100,
        min=0,
        help="How many finished tasks %tasks --done remembers.",
    ).tag(config=True)


def settings_for(shell) -> tuple[AsyncRepl, list[str]]:
    """The shell's ``AsyncRepl`` settings, and a line for each bad value skipped.

    ``%config AsyncRepl.x = bad`` reports the error but leaves the bad value in
    the shell's config, where it would break every later load.
    """
    try:
        return AsyncRepl(parent=shell), []
    except TraitError:
        pass
    section, skipped = Config(), []
    for name, value in shell.config.AsyncRepl.items():
        try:
            AsyncRepl(config=Config({"AsyncRepl": {name: value}}))
        except TraitError as error:
            skipped.append(f"ignored AsyncRepl.{name} = {value!r}: {error}")
        else:
            section[name] = value
    config = shell.config.copy()
    config.AsyncRepl = section
    return AsyncRepl(parent=shell, config=config), skipped
