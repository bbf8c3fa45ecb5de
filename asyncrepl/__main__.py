"""The ``asyncrepl`` command: IPython with the asyncrepl extension loaded.

Every argument is passed on to IPython (``asyncrepl --no-banner``, ``asyncrepl
-i script.py``); ``python -m asyncrepl`` does the same.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from IPython import start_ipython

    args = sys.argv[1:] if argv is None else list(argv)
    # --ext adds to InteractiveShellApp.extra_extensions, leaving the
    # user's own c.InteractiveShellApp.extensions as they are.
    start_ipython(argv=["--ext=asyncrepl", *args])


if __name__ == "__main__":
    main()
