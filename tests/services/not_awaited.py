"""Notes over HTTP: POST a note, GET the list; SQLite through aiosqlite.

The bug: ``add_note`` calls ``db.commit()`` without ``await``.  aiosqlite's
``commit`` is a coroutine function: the call makes a coroutine object and
drops it, and nothing is committed.  The INSERT itself ran (the id comes
back), inside a transaction that stays open on the writer's connection; the
list, read through a connection of its own as readers usually are, never sees
it.  Python warns "coroutine 'Connection.commit' was never awaited" - once, on
stderr, where a server's output usually goes unread.

How it shows: every POST answers 201 with a fresh id; ``GET /notes`` stays
empty; after a restart the notes are gone.

What a developer who does not know the bug would do: check the INSERT, check
the table from the sqlite3 shell (empty), suspect isolation levels or the file
path.  asyncrepl reports the never-awaited coroutine at the handler's line
with the fix (``did you mean: await db.commit()``).  The fix: ``await
db.commit()``.

    svc = await start(); await load(svc.url); await svc.stop()
    python not_awaited.py [--port N]     # standalone, prints its URL
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


async def add_note(request: web.Request) -> web.Response:
    """POST /notes {"text": ...}"""
    body = await request.json()
    db = request.app["db"]
    cursor = await db.execute("INSERT INTO notes (text) VALUES (?)", (body["text"],))
    db.commit()
    return web.json_response({"id": cursor.lastrowid}, status=201)


async def list_notes(request: web.Request) -> web.Response:
    """GET /notes: every note, oldest first."""
    async with aiosqlite.connect(request.app["path"]) as reader:
        async with reader.execute("SELECT id, text FROM notes ORDER BY id") as cursor:
            notes = [{"id": row[0], "text": row[1]} async for row in cursor]
    return web.json_response(notes)


async def open_database(app: web.Application) -> None:
    app["dir"] = tempfile.mkdtemp(prefix="notes-")
    app["path"] = os.path.join(app["dir"], "notes.sqlite")
    app["db"] = db = await aiosqlite.connect(app["path"])
    await db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    await db.commit()


async def close_database(app: web.Application) -> None:
    await app["db"].close()
    shutil.rmtree(app["dir"], ignore_errors=True)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/notes", add_note)
    app.router.add_get("/notes", list_notes)
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
        return f"<notes at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


async def load(url: str, n: int = 20, concurrency: int = 4, timeout: float = 5.0) -> Counter:
    """Notes posted by *concurrency* clients at once; how the *n* requests ended, by status."""
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(http: httpx.AsyncClient) -> None:
        for i in requests:
            try:
                response = await http.post(f"{url}/notes", json={"text": f"note {i}"})
                outcomes[response.status_code] += 1
            except httpx.TimeoutException:
                outcomes["timed out"] += 1

    async with httpx.AsyncClient(timeout=timeout) as http:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(client(http))
    return outcomes


async def notes(url: str) -> list[dict]:
    """What ``GET /notes`` lists."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/notes")
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
