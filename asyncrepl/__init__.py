"""asyncrepl: IPython as a place to explore asyncio.

Load it with ``%load_ext asyncrepl``, or start the ``asyncrepl`` command.
Every cell then runs on one asyncio loop that keeps running between cells and
while the prompt waits, in asyncio debug mode; Ctrl-C cancels what a cell
awaits; and a cell ending in ``asyncio.run(main())`` runs as printed.
Settings live on the ``AsyncRepl`` configurable (``%config AsyncRepl``).
"""

from __future__ import annotations

from ._config import AsyncRepl, settings_for
from ._loop import entry as _entry  # what rewritten asyncio.run(...) calls use

__version__ = "0.1.0"
__all__ = ["AsyncRepl", "load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, "_Extension"] = {}


class _Extension:
    """Everything one shell got from asyncrepl, so that unloading can take it back."""

    def __init__(self, shell):
        from ._loop import ReplLoop

        self.shell = shell
        self.settings, self.skipped_settings = settings_for(shell)
        self.repl_loop = ReplLoop(shell, self.settings)

    def load(self) -> None:
        self.shell.configurables.append(self.settings)
        try:
            self.repl_loop.start()
        except BaseException:
            self.shell.configurables.remove(self.settings)
            raise

    def unload(self) -> None:
        self.repl_loop.stop()
        if self.settings in self.shell.configurables:
            self.shell.configurables.remove(self.settings)

    def summary(self) -> str:
        debug = "on" if self.settings.debug else "off"
        if self.repl_loop.in_kernel:
            return f"asyncrepl {__version__}: asyncio debug mode {debug}; asyncio.run() works in cells"
        at_prompt = ", also at the prompt" if self.repl_loop.prompt_hook_active else ""
        return (
            f"asyncrepl {__version__}: the loop runs during every cell{at_prompt}; "
            f"debug mode {debug}; Ctrl-C cancels what a cell awaits"
        )


def load_ipython_extension(ipython) -> None:
    """Called by ``%load_ext asyncrepl``."""
    if id(ipython) in _loaded:
        return
    extension = _Extension(ipython)
    extension.load()
    _loaded[id(ipython)] = extension
    for line in extension.skipped_settings:
        print(f"asyncrepl: {line}")
    print(extension.summary())


def unload_ipython_extension(ipython) -> None:
    """Called by ``%unload_ext asyncrepl``: puts back everything it changed."""
    extension = _loaded.pop(id(ipython), None)
    if extension is not None:
        extension.unload()
