"""A product catalogue: names in SQLite, prices from a separate pricing API.

The bug: ``fetch_price`` asks the pricing API with ``urllib.request`` - a
blocking HTTP client, as ``requests`` is - from inside the aiohttp handler.
While one request waits for its price (about 0.15 s here: the pricing API is
slow), the whole event loop waits with it: no other request is read, answered,
or even accepted.

How it shows: one request at a time looks fine (0.15 s).  Ten at once take
ten times as long each, as if the server handled one request at a time, which
it does; CPU is near zero the whole time.  Nothing fails and nothing is logged
(asyncio's own "Executing ... took 0.15 seconds" appears only in debug mode,
and names a task, not the line).

What a developer who does not know the bug would do: time requests under
concurrency, suspect the database or the pricing API, add logging around the
awaits (which all look fast).  asyncrepl reports each handler step that held
the loop, with the line it was running (``urlopen``), by itself.  The fix: an
async client (aiohttp, httpx), or ``await asyncio.to_thread(fetch_price, ...)``.

    svc = await start(); await load(svc.url); await svc.stop()
    python blocking_call.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import aiosqlite
from aiohttp import web

PRODUCTS = {f"sku-{n}": f"widget {n}" for n in range(1, 21)}
PRICING_LATENCY = 0.15  # seconds the pricing API takes to answer


# -- the pricing API: another team's service (here a thread, to stand in for it) --


class _PricingHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(PRICING_LATENCY)
        sku = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"sku": sku, "price": 100 + sum(map(ord, sku)) % 50}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


def start_pricing_api() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PricingHandler)
    threading.Thread(target=server.serve_forever, name="pricing-api", daemon=True).start()
    return server


# -- the catalogue --


def fetch_price(pricing_url: str, sku: str) -> int:
    with urllib.request.urlopen(f"{pricing_url}/price/{sku}", timeout=10) as response:
        return json.load(response)["price"]


async def product(request: web.Request) -> web.Response:
    """GET /products/{sku}: the product's name and its current price."""
    sku = request.match_info["sku"]
    async with request.app["db"].execute("SELECT name FROM products WHERE sku = ?", (sku,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise web.HTTPNotFound(text=f"no product {sku!r}")
    price = fetch_price(request.app["pricing_url"], sku)
    return web.json_response({"sku": sku, "name": row[0], "price": price})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def open_database(app: web.Application) -> None:
    app["db"] = db = await aiosqlite.connect(":memory:")
    await db.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL)")
    await db.executemany("INSERT INTO products VALUES (?, ?)", PRODUCTS.items())
    await db.commit()


async def close_database(app: web.Application) -> None:
    await app["db"].close()


def make_app(pricing_url: str) -> web.Application:
    app = web.Application()
    app["pricing_url"] = pricing_url
    app.router.add_get("/products/{sku}", product)
    app.router.add_get("/health", health)
    app.on_startup.append(open_database)
    app.on_cleanup.append(close_database)
    return app


class Service:
    """A running service: its ``url``, and ``await stop()``."""

    def __init__(self, runner: web.AppRunner, url: str, pricing: ThreadingHTTPServer):
        self.runner, self.url, self.pricing = runner, url, pricing

    async def stop(self) -> None:
        await self.runner.cleanup()
        await asyncio.to_thread(self.pricing.shutdown)
        self.pricing.server_close()

    def __repr__(self) -> str:
        return f"<catalogue at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    pricing = start_pricing_api()
    runner = web.AppRunner(make_app("http://127.0.0.1:%d" % pricing.server_address[1]), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}", pricing)


async def load(url: str, n: int = 20, concurrency: int = 5, timeout: float = 10.0) -> Counter:
    """Product pages, *concurrency* at a time; how the *n* requests ended, by status."""
    skus = list(PRODUCTS)
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(session: aiohttp.ClientSession) -> None:
        for i in requests:
            try:
                async with session.get(f"{url}/products/{skus[i % len(skus)]}") as response:
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
