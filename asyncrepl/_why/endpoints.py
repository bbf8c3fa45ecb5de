"""The I/O or thread a task waits on: the socket or pipe in its frames'
variables, and the function a thread runs for ``run_in_executor``."""

from __future__ import annotations

import asyncio
import socket
import sys

from .._asyncio_private import callbacks_of
from .._tasks.code import _classify_file
from .._tasks.naming import _short_repr
from .naming import attributes_of


def io_wait(facts, task, frames, awaited) -> tuple[str, list] | None:
    """Whether *task* (its *frames*) waits on I/O for *awaited*: the
    connection in words (:func:`connection`), and the tasks of this program
    that serve its other end (:func:`served_by`), to follow; None if not."""
    found = connection(frames, awaited)
    if found is None:
        return None
    words, end = found
    return words, served_by(facts, task, end)


def connection(frames, awaited) -> tuple[str, object] | None:
    """The socket or pipe whose data ends the wait on *awaited* (a future or
    a primitive), read from the variables of the frames that hold it (a
    transport, a socket, a stream or protocol holding one), innermost first;
    with the peer's address where known; and the transport or socket itself.

    Only a frame that holds *awaited* counts: in asyncio's own code, as any
    variable (``sock_recv``'s future beside its socket); elsewhere, inside an
    object of its (a stream's ``self._protocol.read_event``).  A request
    handler's frames hold its connection too, and a future of the user's
    that the handler awaits is not the connection's.
    """
    for frame in reversed(frames):
        values = list(frame.f_locals.values())
        holders = [value for value in values if value is not awaited and _reaches(value, awaited, 2)]
        if not holders and not (_in_asyncio(frame) and any(value is awaited for value in values)):
            continue
        for value in holders or values:
            for end in _ends_in(value, 2):
                return _described(end), end
    return None


def served_by(facts, task, end) -> list:
    """The pending tasks (but *task*) whose frames hold the other end of the
    TCP connection *end* (a transport or socket of *task*'s): a client
    waiting on a server of the same program waits on that server's handler."""
    here, there = _addresses(end)
    if here is None or there is None:
        return []
    found = []
    for other in facts.tasks:
        if other is task or other.done():
            continue
        for frame in facts.frames(other):
            if any(_addresses(mine) == (there, here) for value in list(frame.f_locals.values()) for mine in _ends_in(value, 2)):
                found.append(other)
                break
    return found


def _addresses(end) -> tuple:
    """(local address, peer address) of a transport or socket, or (None, None)."""
    try:
        if isinstance(end, socket.socket):
            return end.getsockname(), end.getpeername()
        return end.get_extra_info("sockname"), end.get_extra_info("peername")
    except Exception:
        return None, None


def _reaches(value, target, depth: int) -> bool:
    """Whether *target* is an attribute of *value*, or of one of its
    attributes, down to *depth* (read without running code of theirs)."""
    if depth <= 0 or isinstance(value, (str, bytes, int, float, type(None))):
        return False
    for inner in attributes_of(value).values():
        if inner is target or _reaches(inner, target, depth - 1):
            return True
    return False


def _in_asyncio(frame) -> bool:
    return _classify_file(frame.f_code.co_filename) == "asyncio"


def _is_transport(value) -> bool:
    # uvloop's transports are not asyncio.BaseTransport subclasses: they are known by their method.
    return isinstance(value, asyncio.BaseTransport) or callable(getattr(type(value), "get_extra_info", None))


def _ends_in(value, depth: int):
    """The transports and sockets *value* is or holds (a stream, a protocol
    holding one), down to *depth* attributes."""
    if _is_transport(value) or isinstance(value, socket.socket):
        yield value
        return
    if depth <= 0:
        return
    for name in ("transport", "_transport", "_protocol", "protocol", "_stream", "stream", "_sock", "_reader", "_writer"):
        inner = attributes_of(value).get(name)
        if inner is not None:
            yield from _ends_in(inner, depth - 1)


def _described(end) -> str:
    """A transport or socket in words: ``socket to 127.0.0.1:8080``."""
    if isinstance(end, socket.socket):
        try:
            return f"socket to {address(end.getpeername())}"
        except OSError:
            return "socket"
    try:
        peer = end.get_extra_info("peername")
        sock = end.get_extra_info("socket")
    except Exception:
        peer = sock = None
    if peer is not None:
        return f"socket to {address(peer)}"
    if sock is not None:
        return f"socket {address(sock.getsockname())}"
    return f"pipe ({type(end).__name__})"


def address(where) -> str:
    """A socket address as people write it: ``127.0.0.1:8080``."""
    if isinstance(where, tuple) and len(where) >= 2:
        return f"{where[0]}:{where[1]}"
    return str(where)


def from_executor(future) -> bool:
    """Whether *future* is run_in_executor's: asyncio chains it to a
    concurrent.futures.Future (its done callbacks name _chain_future's)."""
    for callback in callbacks_of(future):
        function = callback[0] if isinstance(callback, tuple) else callback
        if getattr(function, "__qualname__", "").startswith("_chain_future"):
            return True
    return False


def executor_function(future) -> str | None:
    """The function a thread of a ThreadPoolExecutor runs for *future*
    (run_in_executor's): found on that thread's stack, in the work item it
    runs (PRIVATE: concurrent.futures.thread._WorkItem's future and fn,
    3.11-3.15); None if it has not started or is not a thread's."""
    try:
        return _running_function(future)
    except Exception:  # another executor's insides
        return None


def _running_function(future) -> str | None:
    import concurrent.futures
    import functools

    source = None
    for callback in callbacks_of(future):
        function = callback[0] if isinstance(callback, tuple) else callback
        for cell in getattr(function, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:
                continue
            if isinstance(content, concurrent.futures.Future):
                source = content
    if source is None:
        return None
    work_item = getattr(getattr(concurrent.futures, "thread", None), "_WorkItem", None)
    for frame in sys._current_frames().values():
        while frame is not None:
            item = frame.f_locals.get("self") if frame.f_code.co_name == "run" else None
            if work_item is not None and isinstance(item, work_item) and getattr(item, "future", None) is source:
                # 3.11-3.13: item.fn; 3.14+: item.task, (fn, args, kwargs) for a thread.
                function = getattr(item, "fn", None) or (getattr(item, "task", None) or (None,))[0]
                while isinstance(function, functools.partial):  # to_thread's ctx.run partial
                    args = function.args
                    function = args[0] if function.func.__name__ == "run" and args else function.func
                return getattr(function, "__qualname__", None) or _short_repr(function)
            frame = frame.f_back
    return None
