"""Small real services, each with one common asyncio bug, for debugging with asyncrepl.

Each module is one aiohttp service over 127.0.0.1 (stdlib, aiohttp, httpx,
aiosqlite), written the way such code is written, with its bug described in
its docstring (what the bug is, how it shows, what a developer who does not
know it would do).  Every module has the same three entry points:

* ``svc = await start(port=0)`` serves on a free port in the running loop and
  returns at once: ``svc.url``, ``await svc.stop()``;
* ``await load(svc.url, n=..., concurrency=..., timeout=...)`` drives
  realistic traffic (httpx or aiohttp's client), bounded in count and time,
  and returns a ``Counter`` of how the requests ended (status codes,
  ``"timed out"``);
* ``python -m services.NAME`` (or ``python NAME.py``) runs it as a standalone
  server that prints ``serving on URL`` and serves until SIGINT or SIGTERM,
  for attaching to a running program.

The bugs:

==================  ======================================================
blocking_call       a blocking HTTP call (urllib) inside a handler
dead_consumers      queue workers die on one bad item; producers then block
fire_and_forget     a dropped ``create_task(send_welcome(...))`` that fails
lock_order          two locks taken in opposite orders: a deadlock
leaked_permit       a pool's semaphore permit leaked on the 404 path
not_awaited         ``db.commit()`` without ``await``
swallowed_cancel    a TaskGroup child whose bare ``except:`` eats cancellation
task_per_request    a never-ending watcher task started per request
==================  ======================================================

``tests/test_services.py`` debugs each in a real terminal.
"""

NAMES = (
    "blocking_call",
    "dead_consumers",
    "fire_and_forget",
    "lock_order",
    "leaked_permit",
    "not_awaited",
    "swallowed_cancel",
    "task_per_request",
)
