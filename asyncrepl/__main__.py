"""The ``asyncrepl`` command: IPython with the asyncrepl extension loaded.

Every argument is passed on to IPython (``asyncrepl --no-banner``, ``asyncrepl
-i script.py``); ``python -m asyncrepl`` does the same.  Except two commands:
``asyncrepl attach PID`` (a prompt on a running program's loop) and
``asyncrepl ps PID`` (its tasks, once): see ``_attach``.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from IPython import start_ipython

    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in ("attach", "ps") and not os.path.exists(args[0]):  # a script named so runs
        from ._attach.cli import main as attach_main

        sys.exit(attach_main(args[0], args[1:]))
    # --ext adds to InteractiveShellApp.extra_extensions, leaving the
    # user's own c.InteractiveShellApp.extensions as they are.
    start_ipython(argv=["--ext=asyncrepl", *args])


if __name__ == "__main__":
    main()
