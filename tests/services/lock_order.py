"""A small bank: accounts in SQLite, one asyncio.Lock per account, transfers over HTTP.

The bug: ``transfer`` locks the account money leaves, then the account it goes
to.  Two transfers in opposite directions (alice -> bob while bob -> alice), or
three around a ring (alice -> bob -> carol -> alice), each hold their first
lock and wait for the other's: a lock-order deadlock.  Every later request
that needs one of those accounts (a transfer, ``GET /balance``, ``GET /audit``)
queues behind the stuck ones, for ever.

How it shows: one transfer at a time works; under concurrent load every
request times out, and keeps timing out after the load stops; the process is
idle (no CPU, no error, nothing in the log); a restart "fixes" it until the
next burst of transfers.

What a developer who does not know the bug would do: look at what the pending
requests are doing (``%tasks``: the handlers are all suspended on one of the two
``async with locks[...]`` lines), then ask which task holds which lock.
asyncio records no owner for a lock, so that last step is the hard one
(``%tasks ID --locals`` shows ``src`` and ``dst`` of each stuck transfer; the
cycle is worked out by hand).  The fix: take the locks in one global order
(``sorted((src, dst))``), or one lock for the pair.

    svc = await start(); await load(svc.url); await svc.stop()
    python lock_order.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import tempfile
from collections import Counter

import aiosqlite
import httpx
from aiohttp import web

ACCOUNTS = {"alice": 1_000, "bob": 1_000, "carol": 1_000}


async def balance_of(db: aiosqlite.Connection, name: str) -> int:
    async with db.execute("SELECT balance FROM accounts WHERE name = ?", (name,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise web.HTTPNotFound(text=f"no account {name!r}")
    return row[0]


async def transfer(request: web.Request) -> web.Response:
    """POST /transfer {"from": "alice", "to": "bob", "amount": 10}"""
    body = await request.json()
    src, dst, amount = body["from"], body["to"], int(body["amount"])
    db, locks = request.app["db"], request.app["locks"]
    if src not in locks or dst not in locks or src == dst:
        raise web.HTTPBadRequest(text="unknown or identical accounts")
    async with locks[src]:
        if await balance_of(db, src) < amount:
            raise web.HTTPConflict(text="insufficient funds")
        async with locks[dst]:
            await db.execute("UPDATE accounts SET balance = balance - ? WHERE name = ?", (amount, src))
            await db.execute("UPDATE accounts SET balance = balance + ? WHERE name = ?", (amount, dst))
            await db.commit()
    return web.json_response({"from": src, "to": dst, "amount": amount})


async def balance(request: web.Request) -> web.Response:
    """GET /balance/{name}"""
    name = request.match_info["name"]
    if name not in request.app["locks"]:
        raise web.HTTPNotFound(text=f"no account {name!r}")
    async with request.app["locks"][name]:
        return web.json_response({"name": name, "balance": await balance_of(request.app["db"], name)})


async def audit(request: web.Request) -> web.Response:
    """GET /audit: the sum of all balances, with every account locked (in name order)."""
    locks = request.app["locks"]
    held = []
    try:
        for name in sorted(locks):
            await locks[name].acquire()
            held.append(name)
        total = 0
        for name in sorted(locks):
            total += await balance_of(request.app["db"], name)
    finally:
        for name in held:
            locks[name].release()
    return web.json_response({"total": total})


async def open_database(app: web.Application) -> None:
    app["dir"] = tempfile.mkdtemp(prefix="bank-")
    app["db"] = db = await aiosqlite.connect(os.path.join(app["dir"], "bank.sqlite"))
    await db.execute("CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)")
    await db.executemany("INSERT INTO accounts VALUES (?, ?)", ACCOUNTS.items())
    await db.commit()
    app["locks"] = {name: asyncio.Lock() for name in ACCOUNTS}


async def close_database(app: web.Application) -> None:
    await app["db"].close()
    shutil.rmtree(app["dir"], ignore_errors=True)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/transfer", transfer)
    app.router.add_get("/balance/{name}", balance)
    app.router.add_get("/audit", audit)
    app.on_startup.append(open_database)
    app.on_cleanup.append(close_database)
    return app


class Service:
    """A running service: its ``url``, and ``await stop()``."""

    def __init__(self, runner: web.AppRunner, url: str):
        self.runner, self.url = runner, url

    async def stop(self) -> None:
        await self.runner.cleanup()

    def __repr__(self) -> str:
        return f"<bank at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    # Requests still stuck at stop() are cancelled after 1 s, not aiohttp's 60.
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


async def load(url: str, n: int = 60, concurrency: int = 6, timeout: float = 2.0) -> Counter:
    """Transfers around the ring of accounts, *concurrency* at a time, with a
    balance check now and then; how the *n* requests ended, by status."""
    ring = list(ACCOUNTS)
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(client: httpx.AsyncClient) -> None:
        for i in requests:
            try:
                if i % 10 == 9:
                    response = await client.get(f"{url}/balance/{ring[i % 3]}")
                else:
                    src, dst = ring[i % 3], ring[(i + 1) % 3]
                    response = await client.post(f"{url}/transfer", json={"from": src, "to": dst, "amount": 1})
                outcomes[response.status_code] += 1
            except httpx.TimeoutException:
                outcomes["timed out"] += 1

    async with httpx.AsyncClient(timeout=timeout) as http:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(client(http))
    return outcomes


async def transfer_money(url: str, src: str, dst: str, amount: int) -> dict:
    """One transfer, as a client would make it (waits as long as the server takes)."""
    async with httpx.AsyncClient(timeout=None) as http:
        response = await http.post(f"{url}/transfer", json={"from": src, "to": dst, "amount": amount})
        response.raise_for_status()
        return response.json()


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
