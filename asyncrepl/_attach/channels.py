"""The Jupyter messaging protocol's five sockets, on a thread of their own.

One thread (``asyncrepl-attach``, see ``server``) owns every ZeroMQ socket: it receives,
checks signatures and answers what needs no loop (the heartbeat, the
control channel's interrupt and shutdown, kernel_info), hands every other
request to the program's loop, and sends what the loop (or any thread that
prints in a cell) queues.  Why a thread: the program's loop may be blocked
(a cell or the program's own code holding it) and an interrupt must still
arrive; and the thread costs the program nothing while nobody talks to it:
it sleeps in ``zmq_poll`` with no timeout, and the loop is woken only for a
request.

Every socket is bound to 127.0.0.1 (never another interface); every
message is signed with HMAC-SHA256 and the connection file's key by
``jupyter_client.session.Session``, and one with a wrong or missing
signature is dropped before anything reads its content.
"""

from __future__ import annotations

import collections
import errno
import os
import threading
from collections.abc import Callable

__all__ = ["Channels"]

LOOPBACK = "127.0.0.1"


class Channels:
    """The sockets, the thread, and a thread-safe :meth:`send`.

    *on_shell(channel, idents, msg)* is called on the thread with each
    signed request of the shell channel, *on_control* with each of the
    control channel's; *on_peers(count)* when the number of front ends
    connected to the shell channel changes.
    """

    def __init__(self, key: bytes, on_shell: Callable, on_control: Callable, on_peers: Callable[[int], None]):
        import zmq
        from jupyter_client.session import Session

        self.zmq = zmq
        self.on_shell = on_shell
        self.on_control = on_control
        self.on_peers = on_peers
        self.session = Session(key=key, signature_scheme="hmac-sha256", username="asyncrepl")
        # A context of its own: the program may use ZeroMQ itself.
        self.context = zmq.Context()
        self.sockets = {}
        self.ports = {}
        for name, kind in (("shell", zmq.ROUTER), ("control", zmq.ROUTER), ("stdin", zmq.ROUTER), ("iopub", zmq.PUB), ("hb", zmq.REP)):
            socket = self.context.socket(kind)
            socket.setsockopt(zmq.LINGER, 0)
            if kind == zmq.ROUTER:
                socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a front end that reconnects keeps its identity
            self.ports[f"{name}_port"] = socket.bind_to_random_port(f"tcp://{LOOPBACK}")
            self.sockets[name] = socket
        # The heartbeat echoes in ZeroMQ's C code on a thread of its own
        # (as ipykernel's): a front end's ping, once a second, never takes
        # the GIL from the program.
        self._heartbeat = threading.Thread(target=self._echo_heartbeats, name="asyncrepl-attach-hb", daemon=True)
        self._monitor = self.sockets["shell"].get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._peers: set[int] = set()
        self._outbox: collections.deque = collections.deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._wake_pending = False
        self._closing = False
        self.dropped = 0  # messages with a bad signature

    # -- sending, from any thread ---------------------------------------------------------------

    def send(self, channel: str, msg_type: str, content: dict, parent: dict | None = None, idents=None, metadata=None) -> None:
        """Queue a message; the channels' thread signs and sends it."""
        self._outbox.append((channel, msg_type, content, parent, idents, metadata))
        if not self._wake_pending:  # appended first, then looked: never left unsent (see _drain)
            self._wake_pending = True
            try:
                os.write(self._wake_write, b"x")
            except (BlockingIOError, OSError):
                pass

    def stream(self, name: str, text: str, parent: dict | None) -> None:
        self.send("iopub", "stream", {"name": name, "text": text}, parent)

    def close(self) -> None:
        """End :meth:`run` (it closes every socket as it returns)."""
        self.send("shutdown", "", {})

    # -- the thread -------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until :meth:`close`; call on the thread that owns the sockets."""
        zmq = self.zmq
        poller = zmq.Poller()
        self._heartbeat.start()
        for name in ("shell", "control", "stdin"):
            poller.register(self.sockets[name], zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        poller.register(self._wake_read, zmq.POLLIN)
        try:
            while not self._closing:
                try:
                    events = dict(poller.poll())  # no timeout: asleep until something arrives
                except zmq.ZMQError as error:
                    if error.errno == errno.EINTR:
                        continue
                    raise
                if self._wake_read in events:
                    self._drain()
                for name, handler in (("shell", self.on_shell), ("control", self.on_control)):
                    socket = self.sockets[name]
                    if socket in events:
                        self._receive(socket, name, handler)
                stdin = self.sockets["stdin"]
                if stdin in events:
                    while stdin.poll(0):
                        stdin.recv_multipart()  # input() is not offered: replies are dropped
                if self._monitor in events:
                    self._peer_events()
        finally:
            self._close_sockets()

    def _drain(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        self._wake_pending = False  # cleared first, then drained: see send()
        outbox, session = self._outbox, self.session
        while outbox:
            channel, msg_type, content, parent, idents, metadata = outbox.popleft()
            if channel == "shutdown":
                self._closing = True
                return
            if msg_type == "stream":
                # Consecutive writes of one stream for one cell: one message.
                while outbox and outbox[0][1] == "stream" and outbox[0][3] is parent and outbox[0][2]["name"] == content["name"]:
                    content = {"name": content["name"], "text": content["text"] + outbox.popleft()[2]["text"]}
            try:
                session.send(self.sockets[channel], msg_type, content, parent=parent, ident=idents, metadata=metadata)
            except Exception:  # noqa: BLE001 - one unsendable message must not end the channels
                self.dropped += 1

    def _receive(self, socket, channel: str, handler) -> None:
        zmq, session = self.zmq, self.session
        while True:
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            try:
                idents, message = session.feed_identities(frames, copy=True)
                msg = session.deserialize(message, content=True, copy=True)
            except Exception:  # noqa: BLE001 - a bad signature, a replay, garbage: nothing runs
                self.dropped += 1
                continue
            try:
                handler(channel, idents, msg)
            except Exception:  # noqa: BLE001
                import traceback

                traceback.print_exc()

    def _echo_heartbeats(self) -> None:
        hb = self.sockets["hb"]
        try:
            self.zmq.proxy(hb, hb)  # returns (raising) when the context is terminated
        except self.zmq.ZMQError:
            pass
        finally:
            hb.close(linger=0)

    def _peer_events(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        zmq = self.zmq
        before = len(self._peers)
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)
            if event["event"] == zmq.EVENT_ACCEPTED:
                self._peers.add(event["value"])
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self._peers.discard(event["value"])
        if len(self._peers) != before:
            self.on_peers(len(self._peers))

    def _close_sockets(self) -> None:
        try:
            self.sockets["shell"].disable_monitor()
        except Exception:  # noqa: BLE001
            pass
        self._monitor.close(linger=0)
        for name, socket in self.sockets.items():
            if name != "hb":  # the heartbeat's thread closes its own
                socket.close(linger=0)
        self.context.term()
        os.close(self._wake_read)
        os.close(self._wake_write)
