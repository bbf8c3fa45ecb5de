"""asyncrepl: IPython as a place to explore asyncio.

Load it with ``%load_ext asyncrepl``, or start the ``asyncrepl`` command.
Every cell then runs on one asyncio loop that keeps running between cells and
while the prompt waits, in asyncio debug mode; Ctrl-C cancels what a cell
awaits; and a cell ending in ``asyncio.run(main())`` runs as printed.
Settings live on the ``AsyncRepl`` configurable (``%config AsyncRepl``).
``asyncrepl.serve()`` in a running program lets ``asyncrepl attach PID`` give
that prompt on the program's own loop.
"""

from __future__ import annotations

from ._config import AsyncRepl
from ._scripts import entry as _entry  # noqa: F401 (what rewritten cells call)

__version__ = "0.1.0"
__all__ = ["AsyncRepl", "load_ipython_extension", "serve", "unload_ipython_extension"]

_loaded: dict = {}  # id(shell) -> its _extension.Extension


def load_ipython_extension(ipython) -> None:
    """Called by ``%load_ext asyncrepl``."""
    if id(ipython) in _loaded:
        return
    from ._extension import Extension

    extension = Extension(ipython)
    extension.load()
    _loaded[id(ipython)] = extension
    extension.announce()


def serve():
    """Make this running asyncio program attachable (``asyncrepl attach PID``);
    see :func:`asyncrepl._attach.serve`.  Needs ``pip install 'asyncrepl[attach]'``."""
    from ._attach import serve as _serve

    return _serve()


def unload_ipython_extension(ipython) -> None:
    """Called by ``%unload_ext asyncrepl``: puts back everything it changed."""
    extension = _loaded.pop(id(ipython), None)
    if extension is not None:
        extension.unload()
