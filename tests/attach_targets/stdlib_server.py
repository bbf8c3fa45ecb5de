"""A small HTTP service on the standard library's asyncio streams, for the attach tests.

    python stdlib_server.py [--serve] [--port N] [--main-thread-loop | --loop-in-thread]

Answers ``GET /`` with a counter, and ``GET /slow`` after 50 ms; prints
``serving on URL`` once it listens.  ``--serve`` calls ``asyncrepl.serve()``
first thing (without it, asyncrepl is never imported: the program of
``sys.remote_exec``).  ``--loop-in-thread`` runs the loop in a thread other
than the main one, which sleeps.  It keeps a few tasks of its own
(``ticker``, per-connection handlers) for %tasks to show, and logs to
``--log FILE`` if given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading

requests_served = 0
log = logging.getLogger("stdlib_server")


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global requests_served
    try:
        request = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        path = request.split()[1].decode() if len(request.split()) > 1 else "/"
        if path == "/slow":
            await asyncio.sleep(0.05)
        requests_served += 1
        body = f"served {requests_served}\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    finally:
        writer.close()


async def tick(every: float) -> None:
    while True:
        await asyncio.sleep(every)


async def main(port: int, serve: bool, ticker: bool) -> None:
    if serve:
        import asyncrepl

        asyncrepl.serve()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    host, port = server.sockets[0].getsockname()[:2]
    if ticker:
        asyncio.create_task(tick(3600), name="ticker")
    print(f"serving on http://{host}:{port}", flush=True)
    stopping = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    async with server:
        await stopping.wait()
    print("stopped", flush=True)


def run() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--no-ticker", action="store_true")
    parser.add_argument("--loop-in-thread", action="store_true")
    parser.add_argument("--log")
    args = parser.parse_args()
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.INFO)
    coro = main(args.port, args.serve, not args.no_ticker)
    if args.loop_in_thread:
        thread = threading.Thread(target=asyncio.run, args=(coro,), name="loop")
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
        return
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)


if __name__ == "__main__":
    run()
