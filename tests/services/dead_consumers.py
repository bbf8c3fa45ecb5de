"""Payment events ingestion: POST an event, get 202 at once; workers store it later.

The bug: the workers that drain the queue die on the first event they cannot
parse.  ``worker`` reads ``float(event["amount"])``; a client that formats
amounts the European way (``"12,50"``) makes it raise ``ValueError``, and
nothing catches it: the worker task ends.  The tasks are kept in a list (so
asyncio never logs "Task exception was never retrieved") and nobody awaits
them.  Three bad events later no worker is left; the bounded queue fills up,
and from then on every ``POST /events`` handler waits in ``queue.put()``
for ever.

How it shows: hours of 202s, then every request times out; ``GET /stats``
shows the stored count frozen; no traceback in any log, CPU idle.

What a developer who does not know the bug would do: look at the stuck
requests (``%tasks``: every handler is suspended on ``await queue.put(...)``),
wonder why nobody takes from the queue, and look for the workers: they are not
in ``%tasks`` any more.  asyncrepl reported each worker's death as it
happened (``task 7 'worker-1' (worker()) failed: ValueError: could not
convert string to float: '12,50'``), with ``%tasks ID`` for the traceback.  The
fix: catch and log per event inside the loop (a poison message must not kill
the consumer), and supervise the workers.

    svc = await start(); await load(svc.url); await svc.stop()
    python dead_consumers.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import Counter

import aiosqlite
import httpx
from aiohttp import web

WORKERS = 3
QUEUE_SIZE = 20


async def worker(app: web.Application) -> None:
    """Store events from the queue, one at a time, for ever."""
    queue, db = app["queue"], app["db"]
    while True:
        event = await queue.get()
        cents = round(float(event["amount"]) * 100)
        await db.execute("INSERT INTO payments (account, cents) VALUES (?, ?)", (event["account"], cents))
        await db.commit()
        queue.task_done()


async def post_event(request: web.Request) -> web.Response:
    """POST /events {"account": "acct-1", "amount": "12.50"}: accepted for storage."""
    event = await request.json()
    if "account" not in event or "amount" not in event:
        raise web.HTTPBadRequest(text="an event needs an account and an amount")
    await request.app["queue"].put(event)
    return web.json_response({"queued": True}, status=202)


async def stats(request: web.Request) -> web.Response:
    """GET /stats: how many payments are stored, and how many wait in the queue."""
    async with request.app["db"].execute("SELECT count(*) FROM payments") as cursor:
        (stored,) = await cursor.fetchone()
    return web.json_response({"stored": stored, "queued": request.app["queue"].qsize()})


async def start_workers(app: web.Application) -> None:
    app["db"] = db = await aiosqlite.connect(":memory:")
    await db.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, account TEXT, cents INTEGER)")
    app["queue"] = asyncio.Queue(maxsize=QUEUE_SIZE)
    app["workers"] = [asyncio.create_task(worker(app), name=f"worker-{i}") for i in range(1, WORKERS + 1)]


async def stop_workers(app: web.Application) -> None:
    for task in app["workers"]:
        task.cancel()
    await asyncio.gather(*app["workers"], return_exceptions=True)
    await app["db"].close()


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/events", post_event)
    app.router.add_get("/stats", stats)
    app.on_startup.append(start_workers)
    app.on_cleanup.append(stop_workers)
    return app


class Service:
    """A running service: its ``url``, and ``await stop()``."""

    def __init__(self, runner: web.AppRunner, url: str):
        self.runner, self.url = runner, url

    async def stop(self) -> None:
        await self.runner.cleanup()

    def __repr__(self) -> str:
        return f"<payments ingestion at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


async def load(url: str, n: int = 100, concurrency: int = 5, timeout: float = 2.0, bad_every: int = 25) -> Counter:
    """Payment events from several clients, *concurrency* at a time; one in
    *bad_every* comes from a client that writes amounts with a decimal comma
    (0: none).  How the *n* requests ended, by status."""
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(http: httpx.AsyncClient) -> None:
        for i in requests:
            euros, cents = divmod(1_000 + 37 * i, 100)
            comma = bad_every and i % bad_every == bad_every - 1
            amount = f"{euros},{cents:02d}" if comma else f"{euros}.{cents:02d}"
            try:
                response = await http.post(f"{url}/events", json={"account": f"acct-{i % 7}", "amount": amount})
                outcomes[response.status_code] += 1
            except httpx.TimeoutException:
                outcomes["timed out"] += 1

    async with httpx.AsyncClient(timeout=timeout) as http:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(client(http))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port

    async def serve() -> None:
        service = await start(port)
        print(f"serving on {service.url}", flush=True)
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        try:
            await stopping.wait()
        finally:
            await service.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
