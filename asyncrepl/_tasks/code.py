"""Which code is the user's, and where a task was made or cancelled.

Every frame asyncrepl names is classified once per code object: the user's
(cells and their own files), the REPL's (IPython, ipykernel, prompt_toolkit,
asyncrepl, the launcher), asyncio's, or a library's.

Plain asyncio; nothing here knows IPython.
"""

from __future__ import annotations

import asyncio
import os
import sys
import weakref
from functools import lru_cache
from typing import NamedTuple

from .._frames import LOOP_STEP as _LOOP_STEP, LOOP_STEP_FILE as _LOOP_STEP_FILE, within_step
from .._asyncio_private import coro_of


# anyio is not among them: ipykernel (6.29-7.4) does not use it, and a user's
# anyio task runs inside anyio's own wrapper coroutine, which would hide it.
_PACKAGES_OF_THE_REPL = (
    "IPython",
    "ipykernel",
    "prompt_toolkit",
    "tornado",
    "zmq",
    "jupyter_client",
    "asyncrepl",
)


@lru_cache(maxsize=None)
def _library_roots() -> tuple[str, ...]:
    import sysconfig  # at the first file classified, not at %load_ext (sysconfig's import is a millisecond or two)

    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    return tuple(os.path.normcase(os.path.realpath(root)) + os.sep for root in roots)


@lru_cache(maxsize=None)
def _launcher_dirs() -> tuple[str, ...]:
    # The environment's bin/: the console scripts that start the REPL
    # (asyncrepl, ipython, jupyter-console).  Their frames are outermost on
    # every stack; they are the REPL's, never the user's.
    import sysconfig

    scripts = sysconfig.get_paths().get("scripts")
    return (os.path.normcase(os.path.realpath(scripts)) + os.sep,) if scripts else ()


def _package_dirs(names: tuple[str, ...]) -> tuple[str, ...]:
    # Not cached: a package may be imported later.  _classify_file is cached
    # per file instead, which is safe: a file's code exists only once its
    # package is imported.
    dirs = []
    for name in names:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file:
            dirs.append(os.path.normcase(os.path.realpath(os.path.dirname(file))) + os.sep)
    return tuple(dirs)


@lru_cache(maxsize=4096)
def _classify_file(filename: str) -> str:
    """"user", "repl" (IPython, the kernel, asyncrepl...), "asyncio" or "library"."""
    if filename.startswith("<") and not filename.startswith("<ipython-input-"):
        return "library"  # <frozen ...>, <string>, <timeit_async>...
    path = os.path.normcase(os.path.realpath(filename)) if not filename.startswith("<") else filename
    if path.startswith(_package_dirs(("asyncio",))):
        return "asyncio"
    if path.startswith(_package_dirs(_PACKAGES_OF_THE_REPL)) or path.startswith(_launcher_dirs()):
        return "repl"
    if path.startswith(_library_roots()):
        return "library"
    return "user"


def _is_users(filename: str) -> bool:
    return _classify_file(filename) == "user"


# id(code) -> (code, kind).  Creating a task asks this for a few frames, and
# hashing a code object hashes its whole body; an id is free.  The code object
# is kept so that its id cannot be reused by another one; so that every cell's
# code is not kept for the rest of the session, the cache starts afresh once
# it holds _CODE_KINDS_KEPT of them (a file's kind stays cached by name).
_code_kinds: dict[int, tuple[object, str]] = {}
_CODE_KINDS_KEPT = 4096


def _kind_of_code(code) -> str:
    entry = _code_kinds.get(id(code))
    if entry is None or entry[0] is not code:
        if len(_code_kinds) >= _CODE_KINDS_KEPT:
            _code_kinds.clear()
        entry = _code_kinds[id(code)] = (code, _classify_file(code.co_filename))
    return entry[1]


# Tasks that TaskRegistry.adopt() made the user's: no longer the REPL's,
# whatever code they run.
_adopted: weakref.WeakSet = weakref.WeakSet()


def is_repl_machinery(task: asyncio.Task) -> bool:
    """True for the tasks that run the code of IPython, ipykernel,
    prompt_toolkit or asyncrepl (a cell's own task), unless adopted: a task
    that holds the loop in such code is the REPL at work, not a user's task
    to report or stop.  (Which tasks ``%tasks`` lists is another question:
    :meth:`TaskRegistry.is_own`.)"""
    if _adopted and task in _adopted:
        return False
    return _is_machinery_coro(coro_of(task))


def _is_machinery_coro(coro) -> bool:
    code = getattr(coro, "cr_code", None)
    return code is not None and _kind_of_code(code) == "repl"


class Site(NamedTuple):
    """A place in code: file, line and function."""

    filename: str
    lineno: int
    function: str


# Handle._run: where the loop calls each callback, a task's step included.
# Frames outside it are the loop's and whoever runs the loop (the REPL, its
# launcher): nothing there made a task or cancelled one.


def _creation_frames(frame, limit: int = 8) -> tuple:
    """Where a task was made, from *frame* (the caller of create_task)
    outwards, as a flat ``(code, lineno, code, lineno, ...)`` tuple,
    innermost first: the user's frames; failing those, the innermost frame
    outside asyncio (a library's, such as aiohttp's ``web_protocol.py``), so
    there is a place whenever one is known.

    The walk never leaves the step that made the task (asyncio's
    ``Handle._run``): past it is the loop, and whoever runs it (IPython, the
    ``asyncrepl`` console script).  This runs for every task created, so it
    is kept lean: one tuple, and the walk ends at the first frame past the
    user's.
    """
    found: list = []
    fallback = None
    while frame is not None and len(found) < 2 * limit:
        code = frame.f_code
        if code is _LOOP_STEP:
            break
        entry = _code_kinds.get(id(code))
        kind = entry[1] if entry is not None and entry[0] is code else _kind_of_code(code)
        if kind == "user":
            found += (code, frame.f_lineno)
        elif found:
            break
        elif fallback is None and kind != "asyncio" and not in_task_registry(code.co_filename):
            fallback = (code, frame.f_lineno)
        frame = frame.f_back
    if not found and fallback is not None:
        return fallback
    return tuple(found)


class _SourceCode(NamedTuple):
    """What a frame of asyncio's debug-mode source traceback tells of its code."""

    co_filename: str
    co_qualname: str


_THIS_PACKAGE = os.path.dirname(__file__) + os.sep


def in_task_registry(filename: str) -> bool:
    """Whether *filename* is this package's (the registry's factory and cancel hook)."""
    return filename.startswith(_THIS_PACKAGE)


def _frames_from_source(summaries) -> tuple:
    """:func:`_creation_frames` read from a task's debug-mode
    ``_source_traceback`` (a list of FrameSummary, outermost first), for a
    task made without the loop's task factory."""
    found: list = []
    fallback = None
    for summary in reversed(summaries or ()):
        filename = summary.filename
        if os.path.normcase(filename) == _LOOP_STEP_FILE and summary.name == "_run":
            break
        kind = _classify_file(filename)
        if kind == "user":
            found += (_SourceCode(filename, summary.name), summary.lineno)
        elif found:
            break
        elif fallback is None and kind != "asyncio" and not in_task_registry(filename):
            fallback = (_SourceCode(filename, summary.name), summary.lineno)
    if not found and fallback is not None:
        return fallback
    return tuple(found)


# asyncio's own cancellers, by the file of a frame on the way out of
# cancel(): a TaskGroup cancels its children when one fails or its block
# raises; a timeout (and wait_for, which is one from 3.12) cancels what it waits for.
_ASYNCIO_CANCELLERS = {"taskgroups.py": "its TaskGroup", "timeouts.py": "a timeout"}


def _cancel_origin(frame) -> tuple[Site | None, str | None, object, object]:
    """Who called ``cancel()``, from *frame* (its caller) outwards, within the
    step: the user's innermost line (else the innermost line outside
    asyncio); asyncio's part in it (``its TaskGroup``); and, for a
    TaskGroup, the group and the child whose failure made it cancel the others."""
    who = group = failed = None
    fallback = None
    for frame in within_step(frame):
        code = frame.f_code
        kind = _kind_of_code(code)
        if kind == "user":
            return Site(code.co_filename, frame.f_lineno, code.co_qualname), who, group, failed
        if kind == "asyncio":
            filename = os.path.basename(code.co_filename)
            if who is None:
                who = _ASYNCIO_CANCELLERS.get(filename)
                if who is None and filename == "tasks.py" and code.co_name in ("wait_for", "_cancel_and_wait"):
                    who = "wait_for()"  # 3.11: wait_for cancels the task it made
            if filename == "taskgroups.py":
                # PRIVATE (CPython 3.11-3.15: TaskGroup._on_task_done(self,
                # task), the done callback of each child, aborts the group
                # when *task* raised).
                local = frame.f_locals
                group = group or local.get("self")
                if code.co_name == "_on_task_done":
                    failed = local.get("task")
        elif fallback is None and not in_task_registry(code.co_filename):
            fallback = Site(code.co_filename, frame.f_lineno, code.co_qualname)
    return fallback, who, group, failed


def _sites_of(frames: tuple) -> tuple[Site, ...]:
    return tuple(
        Site(code.co_filename, lineno, code.co_qualname) for code, lineno in zip(frames[::2], frames[1::2])
    )
