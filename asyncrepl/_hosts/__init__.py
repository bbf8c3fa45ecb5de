"""The hosts asyncrepl runs in, chosen once, as trio chooses its I/O backend.

* :class:`~.terminal.TerminalHost`: IPython's terminal (prompt_toolkit), and
  an in-process shell with no prompt (``InteractiveShell``, ``--simple-prompt``):
  asyncrepl runs each cell as a task on the loop, runs the loop while the
  prompt waits, and owns Ctrl-C.
* :class:`~.kernel.KernelHost`: ipykernel, whose loop runs forever and which
  runs cells itself; asyncrepl follows its cells and stands in front of its
  interrupt handling.
* :class:`~.attached.AttachedHost`: a running program that a front end
  attached to (``asyncrepl.serve()``): its own loop, cells as tasks on it.

Everything that differs between them lives in this package, with every touch
of IPython's, ipykernel's and prompt_toolkit's private attributes
(``ipython``: what all hosts share).
"""

from __future__ import annotations

from .base import Host
from .ipython import is_kernel_shell

__all__ = ["Host", "detect"]


def detect(shell) -> Host:
    """The host *shell* runs in."""
    if getattr(shell, "attachment", None) is not None:  # _attach.shell.AttachedShell
        from .attached import AttachedHost

        return AttachedHost(shell)
    if is_kernel_shell(shell):
        from .kernel import KernelHost

        return KernelHost(shell)
    from .terminal import TerminalHost

    return TerminalHost(shell)
