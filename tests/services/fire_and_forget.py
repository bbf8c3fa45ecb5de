"""Sign-ups: store the user, answer 201, and send a welcome mail in the background.

The bug: ``signup`` starts ``send_welcome`` with ``asyncio.create_task(...)``
and drops the task: nobody awaits it or looks at its result.
``send_welcome`` splits the name into first and last name, which raises
``ValueError`` for a one-word name ("Cher", "Madonna", many Indonesian
names).  The request has long returned 201; the exception sits in a task
nobody holds, and asyncio logs "Task exception was never retrieved" only when
the task is garbage-collected, if ever, and only where logging goes.

How it shows: a few users complain they never got the welcome mail; the
request log is all 201s; the mail outbox is a few short of the sign-ups.

What a developer who does not know the bug would do: sign up test users,
compare ``GET /outbox`` with the sign-ups, grep the logs for errors (none).
asyncrepl reports the failed task as it fails, with the line that created it
(``asyncio.create_task(send_welcome(...))``) and ``%tasks ID`` for the
traceback, even when hundreds of successful requests followed.  The fix: keep
and supervise background tasks (a TaskGroup, a set with a done callback that
logs), and handle one-word names.

    svc = await start(); await load(svc.url); await svc.stop()
    python fire_and_forget.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
from collections import Counter

import aiohttp
import aiosqlite
from aiohttp import web

NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Ken Thompson",
         "Dennis Ritchie", "Frances Allen", "Donald Knuth", "Radia Perlman", "Guido van Rossum"]
ONE_WORD_NAME = "Cher"


class Mailer:
    """Stands in for an SMTP relay: sending takes a moment, sent mail lands in ``outbox``."""

    def __init__(self) -> None:
        self.outbox: list[tuple[str, str]] = []

    async def send(self, to: str, text: str) -> None:
        await asyncio.sleep(0.01)
        self.outbox.append((to, text))


async def send_welcome(mailer: Mailer, email: str, name: str) -> None:
    first, last = name.split(" ", 1)
    text = f"To: {first} {last} <{email}>\nSubject: Welcome, {first}!\n\nYour account is ready.\n"
    await mailer.send(email, text)


async def signup(request: web.Request) -> web.Response:
    """POST /signup {"email": ..., "name": ...}"""
    body = await request.json()
    db = request.app["db"]
    cursor = await db.execute("INSERT INTO users (email, name) VALUES (?, ?)", (body["email"], body["name"]))
    await db.commit()
    asyncio.create_task(send_welcome(request.app["mailer"], body["email"], body["name"]))
    return web.json_response({"id": cursor.lastrowid}, status=201)


async def outbox(request: web.Request) -> web.Response:
    """GET /outbox: how many users signed up, and how many welcome mails went out."""
    async with request.app["db"].execute("SELECT count(*) FROM users") as cursor:
        (users,) = await cursor.fetchone()
    return web.json_response({"users": users, "mails": len(request.app["mailer"].outbox)})


async def open_database(app: web.Application) -> None:
    app["db"] = db = await aiosqlite.connect(":memory:")
    await db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT)")
    app["mailer"] = Mailer()


async def close_database(app: web.Application) -> None:
    await app["db"].close()


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/signup", signup)
    app.router.add_get("/outbox", outbox)
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
        return f"<sign-ups at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


_signups = itertools.count(1)  # e-mail addresses stay unique across loads


async def load(url: str, n: int = 50, concurrency: int = 5, timeout: float = 5.0, one_word_every: int = 20) -> Counter:
    """Sign-ups, *concurrency* at a time; one in *one_word_every* has a
    one-word name (0: none).  How the *n* requests ended, by status."""
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(session: aiohttp.ClientSession) -> None:
        for i in requests:
            number = next(_signups)
            one_word = one_word_every and i % one_word_every == one_word_every - 1
            name = ONE_WORD_NAME if one_word else NAMES[number % len(NAMES)]
            user = {"email": f"user{number}@example.org", "name": name}
            try:
                async with session.post(f"{url}/signup", json=user) as response:
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
