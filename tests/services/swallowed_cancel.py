"""Best price: ask three exchanges at once (a TaskGroup), answer with the lowest quote.

The bug: ``fetch_quote`` retries "on any failure" with a bare ``except:``,
which also catches ``asyncio.CancelledError``.  ``best_price`` bounds the
whole fan-out with ``asyncio.timeout(2)``; when one exchange hangs ("east"
does), the timeout cancels the TaskGroup's children, and east's child catches
the cancellation, backs off, and asks again - for ever.  The TaskGroup waits
for its children before it can end, so ``best_price`` never returns: not
after 2 s, not ever.  Whoever awaits it - a request handler, or a cell at the
prompt - hangs with it, and cancelling that (Ctrl-C, ``task.cancel()``) hangs
the same way.

How it shows: ``GET /best`` never answers although it "has a 2 s timeout";
at a REPL, ``await best_price(url)`` ignores Ctrl-C.

What a developer who does not know the bug would do: press Ctrl-C again and
again; in the server, look at the stuck request (``%tasks``: the handler waits
on its TaskGroup, and task ``quote-east`` is alive, suspended in
``fetch_quote``), cancel it (``%cancel``: still running).  The fix: ``except
Exception:`` (or re-raise ``CancelledError``), and a retry limit.

    svc = await start(); await best_price(svc.url); await load(svc.url); await svc.stop()
    python swallowed_cancel.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
from collections import Counter

import aiohttp
import httpx
from aiohttp import web

EXCHANGES = {"north": 0.02, "south": 0.05, "east": 3600.0}  # seconds each takes to answer


async def quote(request: web.Request) -> web.Response:
    """GET /quote/{exchange}: stands in for an exchange's API; east is down (it never answers)."""
    name = request.match_info["exchange"]
    await asyncio.sleep(EXCHANGES[name])
    return web.json_response({"exchange": name, "price": 100 + len(name)})


async def fetch_quote(client: httpx.AsyncClient, url: str) -> float:
    """One exchange's price, retrying on any failure: the exchanges are flaky."""
    for attempt in itertools.count():
        try:
            response = await client.get(url)
            response.raise_for_status()
            return response.json()["price"]
        except:  # noqa: E722 - a flaky exchange: back off and retry
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))


async def best_price(base_url: str, client: httpx.AsyncClient | None = None, timeout: float = 2.0) -> float:
    """The lowest quote of all exchanges, within *timeout* seconds (so it says)."""
    if client is None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return await best_price(base_url, client, timeout)
    async with asyncio.timeout(timeout):
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(fetch_quote(client, f"{base_url}/quote/{name}"), name=f"quote-{name}")
                for name in EXCHANGES
            ]
    return min(task.result() for task in tasks)


async def best(request: web.Request) -> web.Response:
    """GET /best: the lowest price over all exchanges."""
    try:
        price = await best_price(str(request.url.origin()), request.app["client"])
    except TimeoutError:
        raise web.HTTPGatewayTimeout(text="the exchanges did not answer in time")
    return web.json_response({"price": price})


async def open_client(app: web.Application) -> None:
    app["client"] = httpx.AsyncClient(timeout=5.0)  # one connection pool for all requests


async def close_client(app: web.Application) -> None:
    await app["client"].aclose()


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/quote/{exchange}", quote)
    app.router.add_get("/best", best)
    app.on_startup.append(open_client)
    app.on_cleanup.append(close_client)
    return app


class Service:
    """A running service: its ``url``, and ``await stop()``."""

    def __init__(self, runner: web.AppRunner, url: str):
        self.runner, self.url = runner, url

    async def stop(self) -> None:
        await self.runner.cleanup()

    def __repr__(self) -> str:
        return f"<best price at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


async def load(url: str, n: int = 4, concurrency: int = 2, timeout: float = 5.0) -> Counter:
    """``GET /best``, *concurrency* at a time; how the *n* requests ended, by status."""
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(session: aiohttp.ClientSession) -> None:
        for _ in requests:
            try:
                async with session.get(f"{url}/best") as response:
                    await response.read()
                    outcomes[response.status] += 1
            except asyncio.TimeoutError:
                outcomes["timed out"] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(client(session))
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
