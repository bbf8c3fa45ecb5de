"""Jobs: POST a job, a runner does it; a watcher per job says when it is finished.

The bug: ``submit`` starts a ``watch_job`` task per request, to notify the
submitter when the job is finished.  The watcher polls the job's status until
it reads ``"finished"``; the runner marks finished jobs ``"done"`` (it was
renamed in the runner, not in the watcher).  So no watcher ever stops: one
more never-ending task per request, each polling the database every 0.2 s.

How it shows: nothing fails.  The service slowly gets busier: CPU and
database queries grow with the number of jobs ever submitted, latency creeps
up, memory too; a restart makes it fast again.

What a developer who does not know the bug would do: watch the task count
grow (asyncrepl's status line, ``%tasks``: hundreds of ``watch_job()`` tasks,
all waiting on a short sleep, the oldest minutes old), look at one
(``%tasks ID --locals``: ``status = 'done'``), and stop them (``%cancel
watch_job``).  The fix: one status vocabulary, a deadline on the watcher, and
an owner that stops it.

    svc = await start(); await load(svc.url); await svc.stop()
    python task_per_request.py [--port N]     # standalone, prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import Counter

import aiosqlite
import httpx
from aiohttp import web

POLL_EVERY = 0.2  # seconds between a watcher's looks at its job


async def run_jobs(app: web.Application) -> None:
    """The runner: take queued jobs, do them (a short sleep here), mark them done."""
    db = app["db"]
    while True:
        job_id = await app["queue"].get()
        await db.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (job_id,))
        await db.commit()
        await asyncio.sleep(0.05)
        await db.execute("UPDATE jobs SET status = 'done' WHERE id = ?", (job_id,))
        await db.commit()


async def watch_job(app: web.Application, job_id: int) -> None:
    """Notify the job's submitter once it is finished."""
    db = app["db"]
    while True:
        async with db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)) as cursor:
            (status,) = await cursor.fetchone()
        if status == "finished":
            app["notified"].append(job_id)
            return
        await asyncio.sleep(POLL_EVERY)


async def submit(request: web.Request) -> web.Response:
    """POST /jobs {"kind": ...}: queue a job; its id."""
    body = await request.json()
    app = request.app
    cursor = await app["db"].execute("INSERT INTO jobs (kind, status) VALUES (?, 'queued')", (body["kind"],))
    await app["db"].commit()
    job_id = cursor.lastrowid
    await app["queue"].put(job_id)
    watcher = asyncio.create_task(watch_job(app, job_id), name=f"watch-job-{job_id}")
    app["watchers"].add(watcher)
    watcher.add_done_callback(app["watchers"].discard)
    return web.json_response({"id": job_id}, status=202)


async def job(request: web.Request) -> web.Response:
    """GET /jobs/{id}: the job's status."""
    async with request.app["db"].execute("SELECT status FROM jobs WHERE id = ?", (request.match_info["id"],)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise web.HTTPNotFound()
    return web.json_response({"id": int(request.match_info["id"]), "status": row[0]})


async def start_runner(app: web.Application) -> None:
    app["db"] = db = await aiosqlite.connect(":memory:")
    await db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT, status TEXT)")
    app["queue"] = asyncio.Queue()
    app["watchers"] = set()
    app["notified"] = []
    app["runner"] = asyncio.create_task(run_jobs(app), name="job-runner")


async def stop_runner(app: web.Application) -> None:
    tasks = [app["runner"], *app["watchers"]]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await app["db"].close()


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/jobs", submit)
    app.router.add_get("/jobs/{id}", job)
    app.on_startup.append(start_runner)
    app.on_cleanup.append(stop_runner)
    return app


class Service:
    """A running service: its ``url``, and ``await stop()``."""

    def __init__(self, runner: web.AppRunner, url: str):
        self.runner, self.url = runner, url

    async def stop(self) -> None:
        await self.runner.cleanup()

    def __repr__(self) -> str:
        return f"<jobs at {self.url}>"


async def start(port: int = 0) -> Service:
    """Serve on 127.0.0.1:*port* (0: a free one) in the running loop; return at once."""
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Service(runner, f"http://{host}:{port}")


async def load(url: str, n: int = 40, concurrency: int = 4, timeout: float = 5.0) -> Counter:
    """Jobs submitted by *concurrency* clients at once; how the *n* requests ended, by status."""
    requests = iter(range(n))
    outcomes: Counter = Counter()

    async def client(http: httpx.AsyncClient) -> None:
        for i in requests:
            try:
                response = await http.post(f"{url}/jobs", json={"kind": ("thumbnail", "report", "export")[i % 3]})
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
