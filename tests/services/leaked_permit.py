"""User profiles over HTTP, read through a small pool of SQLite connections.

The bug: ``profile`` takes a connection with ``await pool.acquire()`` and
gives it back with ``pool.release(conn)`` at the end; the "no such user" path
raises ``HTTPNotFound`` in between, so the connection - and the pool's
semaphore permit with it - is never given back.  Each 404 leaks one permit;
after ``POOL_SIZE`` of them every request waits in ``pool.acquire()`` for ever.

How it shows: the service works for a while, 404s included; then every
request hangs.  Nothing is logged (a 404 is normal), CPU is idle, and the
database is fine when queried from outside.

What a developer who does not know the bug would do: look at the stuck
requests (``%tasks``: every handler waits in ``Pool.acquire`` on
``Semaphore.acquire()``), look at the pool (``pool._slots``:
``<asyncio.Semaphore [locked, value:0, waiters:12]>``, ``len(pool._free) ==
0``), and then wonder who holds the permits: no pending task does.  That
step - permits held by tasks that have ended - is what takes the time.  The
fix: ``async with pool.connection() as conn:`` (or try/finally).

    svc = await start(); await load(svc.url); await svc.stop()
    python leaked_permit.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import tempfile
from collections import Counter

import aiohttp
import aiosqlite
from aiohttp import web

POOL_SIZE = 4
USERS = 50


class Pool:
    """At most ``size`` connections to one SQLite file, shared by all requests."""

    def __init__(self, path: str, size: int = POOL_SIZE):
        self.path, self.size = path, size
        self._free: list[aiosqlite.Connection] = []
        self._all: list[aiosqlite.Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def open(self) -> None:
        for _ in range(self.size):
            conn = await aiosqlite.connect(self.path)
            self._all.append(conn)
            self._free.append(conn)

    async def acquire(self) -> aiosqlite.Connection:
        await self._slots.acquire()
        return self._free.pop()

    def release(self, conn: aiosqlite.Connection) -> None:
        self._free.append(conn)
        self._slots.release()

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()

    def __repr__(self) -> str:
        return f"<Pool {len(self._free)} of {self.size} free>"


async def profile(request: web.Request) -> web.Response:
    """GET /users/{id}"""
    pool = request.app["pool"]
    conn = await pool.acquire()
    cursor = await conn.execute("SELECT id, name, email FROM users WHERE id = ?", (request.match_info["id"],))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        raise web.HTTPNotFound(text=f"no user {request.match_info['id']}")
    pool.release(conn)
    return web.json_response({"id": row[0], "name": row[1], "email": row[2]})


async def open_pool(app: web.Application) -> None:
    app["dir"] = tempfile.mkdtemp(prefix="profiles-")
    path = os.path.join(app["dir"], "users.sqlite")
    async with aiosqlite.connect(path) as db:
        await db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
        await db.executemany(
            "INSERT INTO users VALUES (?, ?, ?)", [(i, f"user {i}", f"user{i}@example.org") for i in range(1, USERS + 1)]
        )
        await db.commit()
    app["pool"] = pool = Pool(path)
    await pool.open()


async def close_pool(app: web.Application) -> None:
    await app["pool"].close()
    shutil.rmtree(app["dir"], ignore_errors=True)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/users/{id}", profile)
    app.on_startup.append(open_pool)
    app.on_cleanup.append(close_pool)
    return app


class Service:
    """A running service: its ``url``, ``pool``, and ``await stop()``."""

    def __init__(self, runner: web.AppRunner, url: str):
        self.runner, self.url = runner, url
        self.pool: Pool = runner.app["pool"]

    async def stop(self) -> None:
        await self.runner.cleanup()

    def __repr__(self) -> str:
        return f"<profiles at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


async def load(url: str, n: int = 40, concurrency: int = 4, timeout: float = 2.0, missing_every: int = 5) -> Counter:
    """Profile lookups, *concurrency* at a time; one in *missing_every* asks
    for a user that was deleted (0: none).  How the *n* requests ended, by status."""
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(session: aiohttp.ClientSession) -> None:
        for i in requests:
            missing = missing_every and i % missing_every == missing_every - 1
            user = USERS + 1 + i if missing else 1 + i % USERS
            try:
                async with session.get(f"{url}/users/{user}") as response:
                    await response.read()
                    outcomes[response.status] += 1
            except asyncio.TimeoutError:
                outcomes["timed out"] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(client(session))
    return outcomes


async def fetch_profile(url: str, user_id: int) -> dict:
    """One profile, as a client would ask for it (waits as long as the server takes)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/users/{user_id}") as response:
            response.raise_for_status()
            return await response.json()


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
