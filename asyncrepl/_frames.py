"""Frames: walking a stack the one way asyncrepl does, and naming places in
code the way a REPL user thinks of them.

Every walk starts at the innermost frame and goes outwards.  Most stop where
the loop's step begins (asyncio's ``Handle._run``): past it is the loop, and
whoever runs it (IPython, the ``asyncrepl`` console script), which is never
what the user asks about.  The one hot walk, where a task is made
(``_tasks.code._creation_frames``, for every task), keeps a loop of its own.
"""

from __future__ import annotations

import asyncio.events
import inspect
import os
from collections.abc import Callable, Iterator

# Code flags of coroutines, async generators and generator-based coroutines.
CO_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE

# Where an asyncio loop calls each callback, a task's step included.
LOOP_STEP = asyncio.events.Handle._run.__code__
LOOP_STEP_FILE = os.path.normcase(asyncio.events.__file__)


# asyncrepl's own files: frames of its harness around the user's code.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def in_asyncrepl(filename: str) -> bool:
    """Whether *filename* is one of asyncrepl's own."""
    return filename.startswith(PACKAGE_DIR)


def is_loop_step(code) -> bool:
    """Whether *code* is ``Handle._run``."""
    return code is LOOP_STEP


def outwards(frame) -> Iterator:
    """*frame* and every frame that called it, to the outermost."""
    while frame is not None:
        yield frame
        frame = frame.f_back


def within_step(frame) -> Iterator:
    """*frame* and its callers up to the loop's step (``Handle._run``), not
    including it: the code the step runs.  The whole stack where no loop
    step is on it (a cell's synchronous code)."""
    while frame is not None and frame.f_code is not LOOP_STEP:
        yield frame
        frame = frame.f_back

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
