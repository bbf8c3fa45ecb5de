"""A small HTTP service on the standard library's asyncio streams, for the attach tests.

    python stdlib_server.py [--serve] [--port N] [--loop-in-thread] [--chatty] [--log FILE]

Answers ``GET /`` with a counter, ``GET /slow`` after 50 ms, and ``GET /state``
with everything of the program's an attach may touch (JSON); prints
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
import builtins
import json
import logging
import signal
import sys
import threading

requests_served = 0
chatty = False
log = logging.getLogger("stdlib_server")


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global requests_served
    try:
        request = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        path = request.split()[1].decode() if len(request.split()) > 1 else "/"
        if path == "/state":
            body = (json.dumps(program_state(), indent=1) + "\n").encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            return
        if path == "/slow":
            await asyncio.sleep(0.05)
        requests_served += 1
        if chatty:
            print(f"program served {path}", flush=True)  # the program's own output: never the front end's
        body = f"served {requests_served}\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    finally:
        writer.close()


def program_state() -> dict:
    """Everything of the program's that an attach may touch, as text (``GET /state``):
    the attach tests compare it before the attach and after the detach."""
    import warnings

    loop = asyncio.get_running_loop()
    main = sys.modules["__main__"]
    signals = [s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGURG, signal.SIGCHLD, signal.SIGUSR1) if s is not None]
    return {
        "task factory": repr(loop.get_task_factory()),
        "debug": loop.get_debug(),
        "slow_callback_duration": loop.slow_callback_duration,
        "exception handler": repr(loop.get_exception_handler()),
        "loop attributes": sorted(vars(loop)),
        "loop stop/close": [repr(loop.stop), repr(loop.close)],
        "signal handlers": {s.name: repr(signal.getsignal(s)) for s in signals},
        "loop signal handlers": sorted(str(s) for s in getattr(loop, "_signal_handlers", {})),
        "stdout": repr(sys.stdout),
        "stderr": repr(sys.stderr),
        "displayhook": repr(sys.displayhook),
        "excepthook": repr(sys.excepthook),
        "unraisablehook": repr(sys.unraisablehook),
        "asyncgen hooks": repr(sys.get_asyncgen_hooks()),
        "coroutine origin tracking": sys.get_coroutine_origin_tracking_depth(),
        "threading excepthook": repr(threading.excepthook),
        "showwarning": repr(warnings.showwarning),
        "warning filters": len(warnings.filters),
        "root logger": [repr(h) for h in logging.getLogger().handlers] + [repr(f) for f in logging.getLogger().filters],
        "asyncio logger": [repr(h) for h in logging.getLogger("asyncio").handlers] + [repr(f) for f in logging.getLogger("asyncio").filters] + [logging.getLogger("asyncio").level],
        "builtins": sorted(name for name in ("exit", "quit", "get_ipython", "display", "open") if hasattr(builtins, name)),
        "main names": sorted(name for name in vars(main) if not name.startswith("cell_")),
        "tasks": sorted(t.get_name() for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()),
        "loop running": loop.is_running(),
        "asyncrepl imported": "asyncrepl" in sys.modules,
    }


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
    parser.add_argument("--chatty", action="store_true", help="print a line for each request served")
    args = parser.parse_args()
    global chatty
    chatty = args.chatty
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
