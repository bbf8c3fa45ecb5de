"""The IPython shell that runs an attached front end's cells inside the program.

An :class:`AttachedShell` is an ``InteractiveShell`` whose user namespace is
the program's ``__main__`` and whose output goes to the front end (as
ipykernel's ``ZMQInteractiveShell`` sends it: ``execute_result``,
``display_data``, ``error``), made so that the program does not notice it:

* nothing goes into ``builtins``, neither for good nor during a cell
  (IPython's ``BuiltinTrap`` removes ``exit`` and ``quit`` from builtins
  while a cell runs; a cell that awaits runs for long, and the program's
  own ``exit()`` must keep working meanwhile);
* of the names IPython puts into the user namespace (``In``, ``Out``,
  ``get_ipython``, ``_``, ``_i1``...), none replaces one of the program's,
  and none that would shadow a builtin for the program's own code
  (``exit``, ``quit``, ``open``) is put there; :meth:`forget` takes away
  those it added, at the detach;
* no ``sys.modules`` entry, no virtualenv path, no ``atexit`` handler
  (IPython's clears the user namespace, here the program's globals, at exit).
"""

from __future__ import annotations

import atexit
import re
import sys

from IPython.core.builtin_trap import BuiltinTrap
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from .streams import CELL

__all__ = ["AttachedShell"]

# Names IPython's history and display hook keep setting in the user namespace.
_HISTORY_NAMES = re.compile(r"_+|_i+|_i\d+|_\d+|_(i|o|d)h|In|Out|get_ipython|_exit_code")
# Never put into the program's globals: they would shadow builtins for the program's own code.
_SHADOWING = ("exit", "quit", "open")


class _NoBuiltins(BuiltinTrap):
    """IPython's BuiltinTrap, changing nothing in ``builtins``."""

    def activate(self) -> None:
        pass

    def deactivate(self) -> None:
        pass


class AttachedDisplayHook(DisplayHook):
    """``Out[n]``: an ``execute_result`` to the front end of the running cell."""

    def start_displayhook(self):
        super().start_displayhook()
        self.msg = {"execution_count": None, "data": {}, "metadata": {}}

    def write_output_prompt(self):
        self.msg["execution_count"] = self.prompt_count

    def write_format_data(self, format_dict, md_dict=None):
        self.msg["data"] = _jsonable(format_dict)
        self.msg["metadata"] = md_dict or {}

    def finish_displayhook(self):
        msg, self.msg = self.msg, None
        self._is_active = False
        if msg and msg["data"]:
            self.shell.publish("execute_result", msg)

    def log_output(self, format_dict):
        pass


class AttachedDisplayPublisher(DisplayPublisher):
    """``display(...)``: ``display_data`` (or ``update_display_data``) to the front end."""

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self._validate_data(data, metadata)
        content = {"data": _jsonable(data), "metadata": metadata or {}, "transient": transient or {}}
        self.shell.publish("update_display_data" if update else "display_data", content)

    def clear_output(self, wait=False):
        self.shell.publish("clear_output", {"wait": wait})


class AttachedShell(InteractiveShell):
    """IPython inside the program; see the module's docstring.

    *publish(msg_type, content, parent)* sends to the front ends;
    *parent()* is the request of the cell running now (its header).
    """

    displayhook_class = AttachedDisplayHook

    def __init__(self, publish, **kwargs):
        self._publish = publish
        self.last_parent: dict | None = None
        main = sys.modules["__main__"]
        self._before = dict(vars(main))  # the program's globals before IPython adds its names
        super().__init__(user_module=main, **kwargs)
        atexit.unregister(self.atexit_operations)
        # !command's output goes through sys.stdout, hence to the front end,
        # not to the program's terminal (as in ipykernel).
        self.system = self.system_piped

    # -- output -------------------------------------------------------------------------------

    def publish(self, msg_type: str, content: dict) -> None:
        parent = CELL.get() or self.last_parent or {}
        sys.stdout.flush()
        sys.stderr.flush()
        self._publish(msg_type, content, parent)

    def _showtraceback(self, etype, evalue, stb):
        # What ipykernel's shell does: the error as a message of its own.
        self._last_traceback = stb
        self.publish("error", {"traceback": list(stb), "ename": str(etype.__name__), "evalue": str(evalue)})

    def init_display_pub(self):
        self.display_pub = AttachedDisplayPublisher(parent=self, shell=self)
        self.configurables.append(self.display_pub)

    # -- staying out of the program's way --------------------------------------------------------

    def init_builtins(self):
        self.builtin_trap = _NoBuiltins(shell=self)

    def init_sys_modules(self):
        pass  # __main__ is the program's already

    def init_virtualenv(self):
        pass  # the program's sys.path is its own

    def init_user_ns(self):
        namespace = self.user_ns
        super().init_user_ns()
        for name in _SHADOWING:
            if name not in self._before:
                namespace.pop(name, None)
        for name, value in self._before.items():
            if namespace.get(name, value) is not value:
                namespace[name] = value  # the program's own stays

    def forget(self) -> None:
        """Take away the names IPython added to the program's globals."""
        namespace, before = self.user_ns, self._before
        for name in list(namespace):
            if _HISTORY_NAMES.fullmatch(name) or name in self.user_ns_hidden or name == "__builtin__":
                if name in before:
                    if namespace[name] is not before[name] and _HISTORY_NAMES.fullmatch(name):
                        namespace[name] = before[name]
                else:
                    namespace.pop(name, None)

    def enable_gui(self, gui=None):
        from IPython.core.error import UsageError

        raise UsageError("%gui: the program runs its own loop; nothing to integrate here")

    def ask_exit(self):
        self.exit_now = True


def _jsonable(data: dict) -> dict:
    """A MIME bundle with bytes (images) as base64 text, as Jupyter sends them."""
    import base64

    clean = {}
    for key, value in data.items():
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        clean[key] = value
    return clean
