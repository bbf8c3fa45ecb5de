"""asyncrepl: IPython as a place to explore asyncio.

Load it with ``%load_ext asyncrepl``, or start the ``asyncrepl`` command.
Every cell then runs on one asyncio loop that keeps running between cells and
while the prompt waits, in asyncio debug mode; Ctrl-C cancels what a cell
awaits; and a cell ending in ``asyncio.run(main())`` runs as printed.
Settings live on the ``AsyncRepl`` configurable (``%config AsyncRepl``).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

from ._config import AsyncRepl, settings_for
from ._loop import _remove_if_present
from ._scripts import entry as _entry  # noqa: F401 (what rewritten asyncio.run(...) calls use)

__version__ = "0.1.0"
__all__ = ["AsyncRepl", "load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, "_Extension"] = {}


class _Extension:
    """Everything one shell got from asyncrepl, so that unloading can take it back."""

    def __init__(self, shell):
        from ._loop import ReplLoop
        from ._magics import AWAITED_MAGICS

        self.shell = shell
        self.settings, self.skipped_settings = settings_for(shell)
        self.repl_loop = ReplLoop(shell, self.settings)
        self.repl_loop.awaited_magics = AWAITED_MAGICS
        self._undo = ExitStack()

    def load(self) -> None:
        from ._magics import FAMILIES

        undo = self._undo
        try:
            self.shell.configurables.append(self.settings)
            undo.callback(_remove_if_present, self.shell.configurables, self.settings)
            self.repl_loop.start()
            undo.callback(self.repl_loop.stop)
            for family in FAMILIES:
                magics = family(
                    self.shell,
                    registry=lambda: self.repl_loop.tasks,
                    settings=self.settings,
                    monitor=lambda: self.repl_loop.monitor,
                )
                undo.enter_context(_registered_magics(self.shell, magics))
        except BaseException:
            undo.close()
            raise

    def unload(self) -> None:
        self._undo.close()

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
    _announce(extension)


def _announce(extension: _Extension) -> None:
    """Say what asyncrepl does, where a person reads it and no program does.

    * At a prompt, and in the cell that ran ``%load_ext``: the banner and any
      skipped setting, on stdout.
    * A script or ``-c`` without ``-i`` (``ipython --ext=asyncrepl -c ...``,
      ``asyncrepl script.py``): no banner, so that piped output is the
      program's own; a skipped setting is a mistake in the user's config,
      so it goes to stderr.
    * A kernel that loads asyncrepl from its config, before any cell: no
      cell owns that moment (ipykernel would send it as output with no
      parent), so no banner; a skipped setting goes to the kernel process's
      own stderr, the server's log.
    """
    import sys

    notes = [f"asyncrepl: {line}" for line in extension.skipped_settings]
    if extension.repl_loop.in_kernel and extension.repl_loop.loop is None:
        for note in notes:
            print(note, file=sys.__stderr__, flush=True)
    elif not getattr(extension.shell.parent, "interact", True):
        for note in notes:
            print(note, file=sys.stderr)
    else:
        for line in [*notes, extension.summary()]:
            print(line)


def unload_ipython_extension(ipython) -> None:
    """Called by ``%unload_ext asyncrepl``: puts back everything it changed."""
    extension = _loaded.pop(id(ipython), None)
    if extension is not None:
        extension.unload()


@contextmanager
def _registered_magics(shell, magics):
    """Register *magics*; on exit put back exactly the magics they displaced.

    IPython has no public way to unregister magics; its manager keeps them in
    two dicts, ``magics['line'/'cell']`` and ``registry``, and every Magics
    instance adds itself to ``shell.configurables``.
    """
    manager = shell.magics_manager
    tables = {kind: dict(manager.magics[kind]) for kind in ("line", "cell")}
    registry_name = type(magics).__name__
    previous_registered = manager.registry.get(registry_name)
    shell.register_magics(magics)
    try:
        yield
    finally:
        for kind, table in tables.items():
            for name in magics.magics[kind]:
                if name in table:
                    manager.magics[kind][name] = table[name]
                else:
                    manager.magics[kind].pop(name, None)
        if previous_registered is None:
            manager.registry.pop(registry_name, None)
        else:
            manager.registry[registry_name] = previous_registered
        _remove_if_present(shell.configurables, magics)

