"""asyncrepl's touches of IPython that every host shares, in one place.

Each function changes one thing and registers its undoing on the ExitStack it
is given, so that unloading puts back exactly what was there.  Touches of
IPython's private attributes carry a ``PRIVATE (versions)`` comment.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack, contextmanager
from collections.abc import Callable
from typing import Any

__all__ = [
    "add_input_transformer",
    "cell_namer",
    "cell_source",
    "is_kernel_shell",
    "on_event",
    "registered_magics",
    "remove_if_present",
    "run_magic_as_script",
    "running_cell_number",
    "set_custom_exc",
    "set_trait",
    "switchable_ast_transformers",
]


def is_kernel_shell(shell) -> bool:
    """Whether *shell* is ipykernel's (checked without importing ipykernel)."""
    kernel_module = sys.modules.get("ipykernel.zmqshell")
    return kernel_module is not None and isinstance(shell, kernel_module.ZMQInteractiveShell)


def cell_namer(shell):
    """IPython's ``compile.format_code_name``: ``<ipython-input-3-...>`` -> ("Cell", "In[3]")."""
    return getattr(getattr(shell, "compile", None), "format_code_name", None)


def running_cell_number(shell) -> int:
    """The number of the cell running now (``In [N]``).  IPython 9 counts a
    cell before running it, IPython 8 after; the running cell's result
    knows its number either way."""
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    number = getattr(result, "execution_count", None)
    return number if isinstance(number, int) else max(0, shell.execution_count - 1)


def cell_source(coro) -> str | None:
    """The code of the cell that *coro* (IPython's ``run_cell_async(...)``,
    not started yet) will run, as transformed; None if it cannot be told.

    PRIVATE (IPython 8.25-9.19): ``run_cell_async``'s ``transformed_cell``
    argument, read from the unstarted coroutine's frame; the cell runner gets
    only the coroutine.
    """
    frame = getattr(coro, "cr_frame", None)
    if frame is None or frame.f_code.co_name != "run_cell_async":
        return None
    source = frame.f_locals.get("transformed_cell")
    return source if isinstance(source, str) else None


def remove_if_present(items: list, item: Any) -> None:
    if item in items:
        items.remove(item)


def set_trait(undo: ExitStack, owner, name: str, value) -> None:
    previous = getattr(owner, name)
    setattr(owner, name, value)
    undo.callback(setattr, owner, name, previous)


def on_event(undo: ExitStack, shell, event: str, callback) -> None:
    """``shell.events.register(event, callback)``, undone on unload."""
    shell.events.register(event, callback)

    def unregister() -> None:
        if callback in shell.events.callbacks[event]:
            shell.events.unregister(event, callback)

    undo.callback(unregister)


def add_input_transformer(undo: ExitStack, shell, transformer) -> None:
    shell.input_transformers_post.append(transformer)
    undo.callback(remove_if_present, shell.input_transformers_post, transformer)


def switchable_ast_transformers(undo: ExitStack, shell, transformers: list) -> Callable[[bool], None]:
    """A switch that puts *transformers* in the shell's AST transformers (at
    the end, in order) for the cell about to run, or keeps them out: IPython
    runs ``ast.fix_missing_locations`` over every cell's tree as soon as the
    list holds one, so they are there only for the cells that need them, and
    taken out again as each cell ends (the list is the user's own between
    cells)."""

    listed_by_us = False  # whether the last switch put them there

    def switch(on: bool) -> None:
        nonlocal listed_by_us
        if not on and not listed_by_us:
            return  # taken out already (most cells never have them)
        listed_by_us = on
        listed = shell.ast_transformers
        for transformer in transformers:
            present = any(each is transformer for each in listed)
            if on and not present:
                listed.append(transformer)
            elif not on and present:
                remove_if_present(listed, transformer)

    on_event(undo, shell, "post_run_cell", lambda result: switch(False))
    for transformer in transformers:
        undo.callback(remove_if_present, shell.ast_transformers, transformer)
    return switch


def set_custom_exc(undo: ExitStack, shell, types: tuple, make_handler) -> None:
    """Install ``make_handler(previous_types, previous_handler)`` as the
    shell's custom exception handler for *types* (and the previous ones)."""
    previous_types, previous_handler = shell.custom_exceptions, shell.CustomTB
    handler = make_handler(previous_types, previous_handler)
    shell.set_custom_exc((*types, *previous_types), handler)

    def restore() -> None:
        shell.custom_exceptions, shell.CustomTB = previous_types, previous_handler

    undo.callback(restore)


def show_lines(shell, error: BaseException, lines: list[str]) -> None:
    """Show *lines* as the error output of *error* (terminal or kernel).

    PRIVATE (IPython 8.25-9.19): ``InteractiveShell._showtraceback``, which
    ipykernel overrides to send the error to the cell's output; the public
    ``showtraceback`` would format a traceback instead of these lines.
    """
    shell._showtraceback(type(error), error, lines)


def run_magic_as_script(undo: ExitStack, shell, script_mode) -> None:
    """``%run script.py`` runs the script as ``python script.py`` would: with
    no loop running, so its asyncio.run() (or loop of its own) runs as printed.

    PRIVATE (IPython 8.25-9.19): the magics manager's ``magics['line']``
    table, where the wrapper takes %run's place.
    """
    table = shell.magics_manager.magics["line"]
    declared = table.get("run")
    if declared is None:
        return
    run = _RunAsScript(shell.magics_manager, declared, script_mode)
    table["run"] = run
    undo.callback(lambda: table.__setitem__("run", run.restored()))


class _RunAsScript:
    """%run, in script mode.  Where IPython declares %run lazily (9.17+: a
    placeholder until first use), IPython's %run is imported at the wrapper's
    first use too, not at %load_ext (its module was a quarter of the load).

    PRIVATE (IPython 9.17-9.19): the placeholder's ``spec``
    (``"IPython.core.magics.execution:ExecutionMagics"``) and the registry,
    keyed by class name, that holds a Magics instance once loaded.  IPython
    loads the class at the first use of any of its magics, and then leaves
    this wrapper in %run's place (a registered magic outranks a declaration).
    """

    def __init__(self, manager, declared, script_mode):
        self._manager = manager
        self._declared = declared
        self._script_mode = script_mode
        spec = getattr(declared, "spec", None)
        lazy = isinstance(spec, str) and ":" in spec and hasattr(manager, "find")
        self._class_name = spec.partition(":")[2] if lazy else None
        self._original = None if lazy else declared

    def __call__(self, *args, **kwargs):
        original = self.original()
        with self._script_mode():
            return original(*args, **kwargs)

    def original(self):
        """IPython's %run (imported now if it was not)."""
        if self._original is None:
            self._original = self._loaded()
            if self._original is None:  # not loaded yet: IPython loads it, as for any first use
                table = self._manager.magics["line"]
                table["run"] = self._declared
                try:
                    self._original = self._manager.find("line", "run")
                finally:
                    table["run"] = self
        return self._original

    def _loaded(self):
        """IPython's %run if its class is loaded already (another of its
        magics was used), else None; never loads it."""
        instance = dict.get(self._manager.registry, self._class_name)
        return None if instance is None else instance.magics["line"].get("run")

    def restored(self):
        """What %run's place holds again once asyncrepl is unloaded."""
        return self._original or self._loaded() or self._declared

    # What IPython and its users read of a magic (%run?, %lsmagic, its
    # attributes) is IPython's %run's: reading it is a use.
    @property
    def __doc__(self):
        return self.original().__doc__

    @property
    def __wrapped__(self):
        return self.original()

    def __getattr__(self, name):
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)  # this object's own, not there (never IPython's %run's)
        return getattr(self.original(), name)

    def __repr__(self) -> str:
        return f"<asyncrepl: %run as a script, of {self._original or self._declared!r}>"


@contextmanager
def registered_magics(shell, magics):
    """Register *magics*; on exit put back exactly the magics they displaced.

    PRIVATE (IPython 8.25-9.19): IPython has no public way to unregister
    magics; its manager keeps them in two dicts, ``magics['line'/'cell']``
    and ``registry``, and every Magics instance adds itself to
    ``shell.configurables``.
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
        remove_if_present(shell.configurables, magics)
