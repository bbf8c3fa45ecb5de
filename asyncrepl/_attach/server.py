"""``asyncrepl.serve()`` inside the program: a Jupyter kernel on the program's own loop.

A :class:`Server` lives as long as the program (or until :meth:`Server.close`):
its thread owns the sockets (``channels``) and wakes the loop only for a
request.  While at least one front end is connected, an :class:`Attachment`
holds the IPython shell and asyncrepl's Session on the program's loop; it is
made at the first request and taken back when the last front end leaves
(it closes its connection, is killed, or asks for a shutdown), leaving the
program as it was before: its loop's task factory, debug mode, exception
handler and signal handlers, its logging, its streams, its ``__main__``.

Requests are served as follows:

* ``execute_request``: the cell runs as a task on the program's loop, in the
  program's ``__main__``, one cell at a time (others wait in order:
  ``cells.CellQueue``);
* ``complete``, ``inspect``, ``history`` and ``is_complete`` on a worker
  thread, so that a slow completion (jedi) never holds the program's loop;
* ``kernel_info``, the heartbeat and the control channel (interrupt,
  shutdown) on the channels' thread, so they are answered while the loop is
  busy;
* ``comm_open`` with target ``asyncrepl.status``: the status line is pushed
  to that comm from then on (``_hosts.attached.StatusPush``).

Decision: this layer is written on pyzmq and ``jupyter_client.session``
rather than with ipykernel's kernel, because ipykernel's ``IPKernelApp`` and
``IPythonKernel`` take the process over: they replace ``sys.stdout`` and
``sys.stderr`` for every thread (and capture file descriptors 1 and 2), own
SIGINT, run their own loop and threads, and run cells when and where they
choose; a program being debugged must keep all of those.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import uuid
import warnings
from contextlib import ExitStack

from .._asyncio_private import running_loop
from .cells import CellQueue
from .connection import connection_file_for, describe_program, write_connection
from .streams import CELL, RoutedStream

__all__ = ["Attachment", "Server", "STATUS_TARGET"]

STATUS_TARGET = "asyncrepl.status"
PROTOCOL_VERSION = "5.4"


class Server:
    """What ``asyncrepl.serve()`` returns: the program is attachable while it exists.

    ``connection_file`` is the file a front end needs; :meth:`close` ends
    the serving (a front end still attached is detached first).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.key = uuid.uuid4().hex.encode("ascii")
        self.connection_file = connection_file_for(os.getpid())
        self.channels = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.attachment: Attachment | None = None  # on the loop's thread
        self._wanted = False  # on the channels' thread: an attachment is made, or on its way
        self.peers = 0
        self.filters_before: list | None = None  # warnings.filters before the attach's imports
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="asyncrepl-attach", daemon=True)

    def start(self) -> None:
        self._thread.start()
        atexit.register(self._at_exit)

    def close(self) -> None:
        """Stop serving: detach, stop the thread, remove the connection file."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self._at_exit)
        if self.attachment is not None:
            on_loop = running_loop() is self.loop
            if on_loop:
                self._detach("the program stopped serving")
            else:
                self._to_loop(self._detach, "the program stopped serving")
        self._stop_thread()

    def _at_exit(self) -> None:
        # The program ends: its front ends learn it from the process's end.
        self._closed = True
        self._stop_thread()

    def _stop_thread(self) -> None:
        try:
            self.connection_file.unlink()
        except OSError:
            pass
        if self.channels is not None:
            self.channels.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    # -- the channels' thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            from .channels import Channels

            self.channels = Channels(self.key, self._on_shell, self._on_control, self._on_peers)
            info = {
                **self.channels.ports,
                "ip": "127.0.0.1",
                "key": self.key.decode("ascii"),
                "transport": "tcp",
                "signature_scheme": "hmac-sha256",
                "kernel_name": "asyncrepl-attached",
                "asyncrepl": describe_program(),
            }
            write_connection(self.connection_file, info)
        except BaseException as error:  # noqa: BLE001 - said once, the program goes on
            self.error = error
            self.ready.set()
            print(f"asyncrepl: serve() could not start: {error}", file=sys.__stderr__, flush=True)
            return
        self.ready.set()
        self.channels.run()

    def _to_loop(self, function, *args) -> bool:
        try:
            self.loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop is closed: the program is ending
            return False
        return True

    def _want_attachment(self) -> None:
        if self._wanted:
            return
        self._wanted = True
        # Importing IPython adds a warnings filter (IPython 8's completer, at
        # import): taken back at the detach with the shell's own.
        self.filters_before = list(warnings.filters)
        # The imports take most of an attach's time: here, not on the program's loop.
        from . import shell  # noqa: F401
        from .. import _extension, _magics  # noqa: F401

        self._to_loop(self._attach)

    def _on_shell(self, channel: str, idents, msg) -> None:
        msg_type = msg["header"]["msg_type"]
        if msg_type == "kernel_info_request":
            self._busy(msg)
            self.reply(channel, idents, "kernel_info_reply", self.kernel_info(), msg)
            self._idle(msg)
        self._want_attachment()
        if msg_type != "kernel_info_request":
            self._to_loop(self._dispatch, channel, idents, msg)

    def _on_control(self, channel: str, idents, msg) -> None:
        msg_type = msg["header"]["msg_type"]
        self._busy(msg)
        if msg_type == "interrupt_request":
            attachment = self.attachment
            if attachment is not None:
                attachment.interrupt()
            self.reply(channel, idents, "interrupt_reply", {"status": "ok"}, msg)
        elif msg_type == "shutdown_request":
            # Shutdown detaches: the program goes on, attachable again.
            restart = bool(msg["content"].get("restart", False))
            content = {"status": "ok", "restart": restart}
            self.reply(channel, idents, "shutdown_reply", content, msg)
            self.channels.send("iopub", "shutdown_reply", content, msg["header"])
            if self._wanted:
                self._wanted = False
                self._to_loop(self._detach, "the front end asked for a shutdown")
        elif msg_type == "kernel_info_request":
            self.reply(channel, idents, "kernel_info_reply", self.kernel_info(), msg)
        else:
            reply_type = msg_type.replace("_request", "_reply")
            self.reply(channel, idents, reply_type, {"status": "error", "ename": "NotImplementedError", "evalue": msg_type, "traceback": []}, msg)
        self._idle(msg)

    def _on_peers(self, count: int) -> None:
        self.peers = count
        if count == 0 and self._wanted:
            self._wanted = False
            self._to_loop(self._detach, "the last front end left")

    # -- sending (any thread) -------------------------------------------------------------------

    def reply(self, channel: str, idents, msg_type: str, content: dict, parent: dict) -> None:
        self.channels.send(channel, msg_type, content, parent["header"], idents)

    def _busy(self, msg) -> None:
        self.channels.send("iopub", "status", {"execution_state": "busy"}, msg["header"])

    def _idle(self, msg) -> None:
        self.channels.send("iopub", "status", {"execution_state": "idle"}, msg["header"])

    def kernel_info(self) -> dict:
        from .. import __version__

        name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        return {
            "status": "ok",
            "protocol_version": PROTOCOL_VERSION,
            "implementation": "asyncrepl",
            "implementation_version": __version__,
            "language_info": {
                "name": "python",
                "version": ".".join(map(str, sys.version_info[:3])),
                "mimetype": "text/x-python",
                "file_extension": ".py",
                "pygments_lexer": "ipython3",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "nbconvert_exporter": "python",
            },
            "banner": (
                f"asyncrepl {__version__}: attached to {name} (pid {os.getpid()}), Python "
                f"{sys.version.split()[0]}: each cell runs as a task on the program's loop, "
                "which keeps serving; Interrupt cancels the cell, never the program\n"
            ),
            "help_links": [],
        }

    # -- the loop's thread ----------------------------------------------------------------------

    def _attach(self) -> Attachment | None:
        if self.attachment is None and not self._closed:
            try:
                self.attachment = Attachment(self)
            except Exception as error:  # noqa: BLE001 - the front end is told, the program goes on
                self._wanted = False
                self.channels.stream("stderr", f"asyncrepl: could not attach: {error}\n", {})
                return None
        return self.attachment

    def _detach(self, why: str) -> None:
        attachment, self.attachment = self.attachment, None
        if attachment is not None:
            attachment.close(why)

    def _dispatch(self, channel: str, idents, msg) -> None:
        attachment = self.attachment or (self._attach() if self._wanted else None)
        if attachment is None:
            self._busy(msg)
            msg_type = msg["header"]["msg_type"].replace("_request", "_reply")
            self.reply(channel, idents, msg_type, {"status": "aborted"}, msg)
            self._idle(msg)
            return
        attachment.dispatch(channel, idents, msg)


class Attachment:
    """One attach: the shell, asyncrepl's Session, and the cells' queue (:class:`CellQueue`).

    Made and closed on the loop's thread.
    """

    def __init__(self, server: Server):
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        from .. import _loaded
        from .._extension import Extension
        from .shell import AttachedShell

        if InteractiveShell.initialized():
            raise RuntimeError("the program runs an IPython shell of its own")
        self.server = server
        self.loop = server.loop
        self.channels = server.channels
        self.interrupt_name = "Interrupt"
        self.status_comms: dict[str, str] = {}
        self.cells = CellQueue(self)
        self.closed = False
        self._undo = ExitStack()
        config = Config()
        # A program under load must not pay for asyncio's debug mode unless
        # asked for (%asyncdebug on): everything else asyncrepl says works without it.
        config.AsyncRepl.debug = False
        config.HistoryManager.enabled = True
        filters_before = server.filters_before if server.filters_before is not None else list(warnings.filters)
        shell = AttachedShell.instance(publish=self.publish, config=config)
        self._undo.callback(_forget_shell, shell)
        # IPython shows DeprecationWarnings of the user's namespace (__main__):
        # a filter of its own, taken back at the detach with the imports' ones.
        self._undo.callback(_remove_filters, [f for f in warnings.filters if f not in filters_before])
        self.shell = shell
        shell.attachment = self
        from concurrent.futures import ThreadPoolExecutor

        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncrepl-attach-worker")
        self._undo.callback(self.worker.shutdown, wait=False, cancel_futures=True)
        try:
            self.extension = Extension(shell)
            self.extension.load()
        except BaseException:
            self._undo.close()
            raise
        self._undo.callback(self.extension.unload)
        self._undo.callback(_forget_tasks, self.loop, self.extension.session)
        _loaded[id(shell)] = self.extension  # %load_ext asyncrepl: loaded already
        self._undo.callback(_loaded.pop, id(shell), None)
        self.session = self.extension.session
        self.host = self.extension.host

    # -- what the host asks for --

    def publish(self, msg_type: str, content: dict, parent: dict | None) -> None:
        self.channels.send("iopub", msg_type, content, parent or {})

    def say(self, line: str) -> None:
        """One line to the front end: of the running cell's, or else of the last one."""
        parent = CELL.get() or self.shell.last_parent or {}
        self.channels.stream("stderr", f"asyncrepl: {line}\n", parent)

    def push_status(self, text: str) -> None:
        for comm_id in list(self.status_comms):
            self.channels.send("iopub", "comm_msg", {"comm_id": comm_id, "data": {"status": text}}, {})

    def install_streams(self, undo: ExitStack) -> None:
        shell = self.shell
        for name in ("stdout", "stderr"):
            original = getattr(sys, name)
            routed = RoutedStream(name, original, self.channels.stream)
            routed.default_parent = lambda: shell.last_parent
            setattr(sys, name, routed)

            def restore(name=name, routed=routed, original=original) -> None:
                routed.detach()
                if getattr(sys, name) is routed:
                    setattr(sys, name, original)

            undo.callback(restore)

    def interrupt(self) -> None:
        """The control channel's interrupt_request (channels' thread)."""
        if not self.closed:
            self.host.interrupt()

    # -- requests, on the loop's thread --

    def dispatch(self, channel: str, idents, msg) -> None:
        msg_type = msg["header"]["msg_type"]
        if msg_type == "execute_request":
            self.cells.submit(idents, msg)
            return
        handler = _WORKER_REQUESTS.get(msg_type)
        if handler is not None:
            self._in_worker(channel, idents, msg, handler)
            return
        server = self.server
        server._busy(msg)
        content = msg["content"]
        if msg_type == "comm_open":
            comm_id = content.get("comm_id")
            if content.get("target_name") == STATUS_TARGET and comm_id:
                if self.server.peers > 1:
                    self.channels.stream(
                        "stderr",
                        f"asyncrepl: another front end is attached to this program too ({self.server.peers} in all): "
                        "the cells of each run on its loop one at a time, in the same __main__\n",
                        msg["header"],
                    )
                self.status_comms[comm_id] = STATUS_TARGET
                name = (content.get("data") or {}).get("interrupt_name")
                if isinstance(name, str) and name in ("Ctrl-C", "Interrupt"):
                    self.interrupt_name = self.session.cells.interrupt_name = name
                columns = (content.get("data") or {}).get("columns")
                if isinstance(columns, int) and 20 <= columns <= 1000:
                    for stream in (sys.stdout, sys.stderr):
                        if isinstance(stream, RoutedStream):
                            stream.columns = columns
                self.host.status.start()
            else:
                self.channels.send("iopub", "comm_close", {"comm_id": comm_id, "data": {}}, msg["header"])
        elif msg_type == "comm_close":
            self.status_comms.pop(content.get("comm_id"), None)
            if not self.status_comms:
                self.host.status.stop()
        elif msg_type == "comm_msg":
            pass
        elif msg_type == "comm_info_request":
            target = content.get("target_name")
            comms = {cid: {"target_name": t} for cid, t in self.status_comms.items() if target in (None, t)}
            server.reply(channel, idents, "comm_info_reply", {"status": "ok", "comms": comms}, msg)
        else:
            reply_type = msg_type.replace("_request", "_reply")
            server.reply(channel, idents, reply_type, {"status": "error", "ename": "NotImplementedError", "evalue": msg_type, "traceback": []}, msg)
        server._idle(msg)

    def _in_worker(self, channel, idents, msg, handler) -> None:
        server = self.server
        server._busy(msg)

        def work():
            try:
                content = handler(self.shell, msg["content"])
            except Exception as error:  # noqa: BLE001 - a failing completion is an error reply, nothing more
                content = {"status": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": []}
            server.reply(channel, idents, msg["header"]["msg_type"].replace("_request", "_reply"), content, msg)
            server._idle(msg)

        try:
            self.worker.submit(work)
        except RuntimeError:  # shut down: detached meanwhile
            server._idle(msg)

    # -- the detach --

    def close(self, why: str) -> None:
        """Detach: the program's loop and process are left as they were."""
        if self.closed:
            return
        self.closed = True
        self.cells.abort()
        self.status_comms.clear()
        self._undo.close()


def _forget_shell(shell) -> None:
    """The shell's traces in the program go with it: its names in ``__main__``,
    its history thread, its place as IPython's one shell."""
    try:
        shell.history_manager.end_session()
    except Exception:  # noqa: BLE001 - the history file is the user's business, not the program's
        pass
    manager = shell.history_manager
    stop = getattr(manager, "_stop_save_thread", None)  # IPython 9
    if stop is not None:
        stop()
    elif getattr(manager, "save_thread", None) is not None:  # IPython 8
        manager.save_thread.stop()
    shell.forget()
    type(shell).clear_instance()


def _remove_filters(added: list) -> None:
    for entry in added:
        try:
            warnings.filters.remove(entry)
        except ValueError:
            pass
    mutated = getattr(warnings, "_filters_mutated", None)  # PRIVATE (3.11-3.15): what filterwarnings calls after a change
    if mutated is not None:
        mutated()


def _forget_tasks(loop, session) -> None:
    """The registry put a done callback on every task of the program's it
    saw; taken off, so that no task keeps the detached session alive."""
    if session is not None:
        session.registry.let_go_of(asyncio.all_tasks(loop))


# -- the requests served on the worker thread --------------------------------------------------


def _complete(shell, content: dict) -> dict:
    from IPython.utils.tokenutil import line_at_cursor

    code = content.get("code", "")
    cursor_pos = content.get("cursor_pos")
    if cursor_pos is None:
        cursor_pos = len(code)
    line, offset = line_at_cursor(code, cursor_pos)
    text, matches = shell.complete("", line, cursor_pos - offset)
    return {"status": "ok", "matches": matches, "cursor_start": cursor_pos - len(text), "cursor_end": cursor_pos, "metadata": {}}


def _inspect(shell, content: dict) -> dict:
    from IPython.utils.tokenutil import token_at_cursor

    code = content.get("code", "")
    cursor_pos = content.get("cursor_pos", len(code))
    name = token_at_cursor(code, cursor_pos)
    try:
        data = shell.object_inspect_mime(name, detail_level=content.get("detail_level", 0))
    except KeyError:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    return {"status": "ok", "found": True, "data": data, "metadata": {}}


def _is_complete(shell, content: dict) -> dict:
    status, indent = shell.input_transformer_manager.check_complete(content.get("code", ""))
    reply = {"status": status}
    if status == "incomplete":
        reply["indent"] = " " * (indent or 0)
    return reply


def _history(shell, content: dict) -> dict:
    manager = shell.history_manager
    raw, output = content.get("raw", True), content.get("output", False)
    kind = content.get("hist_access_type", "tail")
    if kind == "tail":
        history = manager.get_tail(content.get("n", 10), raw=raw, output=output, include_latest=True)
    elif kind == "range":
        history = manager.get_range(content.get("session", 0), content.get("start", 0), content.get("stop"), raw=raw, output=output)
    elif kind == "search":
        history = manager.search(content.get("pattern", "*"), raw=raw, output=output, n=content.get("n"), unique=content.get("unique", False))
    else:
        history = []
    return {"status": "ok", "history": list(history)}


_WORKER_REQUESTS = {
    "complete_request": _complete,
    "inspect_request": _inspect,
    "is_complete_request": _is_complete,
    "history_request": _history,
}
