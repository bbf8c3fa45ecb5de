"""Attaching to a running program: ``asyncrepl.serve()`` inside it, ``asyncrepl attach PID`` outside.

* ``server``: the Jupyter kernel ``serve()`` starts on the program's own loop;
  ``channels``: its sockets and thread; ``shell``: the IPython shell that runs
  cells in the program's ``__main__``; ``streams``: where output goes.
* ``cli``: ``asyncrepl attach PID`` and ``asyncrepl ps PID`` (finding the
  program's connection file); ``frontend``: the terminal front end
  (jupyter_console's, with the program's status line); ``remote``:
  ``sys.remote_exec`` (Python 3.14+) to start ``serve()`` in a program that
  never imported asyncrepl; ``connection``: the connection file.

pyzmq and jupyter_client are needed on both sides: ``pip install 'asyncrepl[attach]'``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading

__all__ = ["serve"]

_server = None
_lock = threading.Lock()

MISSING = "asyncrepl.serve() needs pyzmq and jupyter_client: pip install 'asyncrepl[attach]'"


def serve():
    """Make this program attachable: ``asyncrepl attach PID`` (or any Jupyter
    front end, with the connection file) then gets a prompt whose cells run
    as tasks on this program's loop while it goes on serving.

    Call it from the loop's thread, while the loop runs (at the start of
    ``main()``).  It returns at once (a thread binds the sockets, on
    127.0.0.1 only, and writes the connection file, readable by the
    program's user only, ``asyncrepl-PID.json`` in Jupyter's runtime
    directory) and costs nothing while nobody is attached.  Calling it again
    returns the same server.  Its ``close()`` stops serving.
    """
    global _server
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "asyncrepl.serve() attaches to the running asyncio loop: call it from inside it "
            "(e.g. at the start of main(), before the program starts serving)"
        ) from None
    with _lock:
        if _server is not None and not _server._closed:
            if _server.loop is loop:
                return _server
            _server.close()  # a loop of before (asyncio.run() called again): serve this one
        for module in ("zmq", "jupyter_client"):
            if importlib.util.find_spec(module) is None:
                raise ImportError(MISSING)
        from .server import Server

        _server = Server(loop)
        _server.start()
        return _server
