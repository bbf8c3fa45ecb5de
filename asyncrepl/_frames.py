"""Naming places in code the way a REPL user thinks of them."""

from __future__ import annotations

import asyncio.events
import inspect
import os
from collections.abc import Callable

# Code flags of coroutines, async generators and generator-based coroutines.
CO_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE

_EVENTS_FILE = os.path.normcase(asyncio.events.__file__)


def is_loop_step(code) -> bool:
    """Whether *code* is ``Handle._run``: where an asyncio loop calls each
    callback, a task's step included."""
    return code.co_name == "_run" and os.path.normcase(code.co_filename) == _EVENTS_FILE

# Maps a code object's filename to IPython's label for it, e.g. ("Cell", "In[3]"),
# or None for ordinary files.  IPython's ``shell.compile.format_code_name``.
CellNamer = Callable[[str], "tuple[str, str] | None"]


def code_location(filename: str, lineno: int, cell_namer: CellNamer | None = None) -> str:
    """``In [3] line 4`` for code typed at the prompt, ``file.py:42`` otherwise."""
    label = cell_namer(filename) if cell_namer is not None else None
    if label is not None:
        name = label[1]
        if name.startswith("In[") and name.endswith("]"):
            name = f"In [{name[3:-1]}]"
        return f"{name} line {lineno}"
    return f"{os.path.basename(filename)}:{lineno}"


def frame_location(frame, cell_namer: CellNamer | None = None) -> str:
    """Where *frame* is executing now."""
    return code_location(frame.f_code.co_filename, frame.f_lineno, cell_namer)
