"""%tasks in a real terminal started with the ``asyncrepl`` console script:
tasks that aiohttp makes for a server over 127.0.0.1, a failure kept while
hundreds of requests succeed, and tables after the terminal is resized."""

from __future__ import annotations

import re
import time

import pytest

from harness import fresh_env

pytestmark = pytest.mark.terminal

SERVER = """\
import asyncio, socket
import aiohttp
from aiohttp import web

background = set()

async def audit(path):
    await asyncio.sleep(0)
    raise LookupError(f'no audit log for {path}')

async def slow(request):
    await asyncio.sleep(60)
    return web.Response(text='slow')

async def fast(request):
    if request.query.get('audit'):
        task = asyncio.create_task(audit(request.path))
        background.add(task)
    return web.Response(text='ok')

async def fanout(request):
    async def part(n):
        if n == 1:
            raise ValueError('part 1 broke')
        await asyncio.sleep(60)
    async with asyncio.TaskGroup() as group:
        for n in range(3):
            group.create_task(part(n), name=f'part-{n}')
    return web.Response(text='never')

app = web.Application()
app.add_routes([web.get('/slow', slow), web.get('/fast', fast), web.get('/fanout', fanout)])
runner = web.AppRunner(app)
await runner.setup()
sock = socket.socket()
sock.bind(('127.0.0.1', 0))
port = sock.getsockname()[1]
await web.SockSite(runner, sock).start()
"""


def test_tasks_aiohttp_makes_are_credited_to_aiohttp_never_to_the_console_script(terminal):
    pytest.importorskip("aiohttp")
    term = terminal("asyncrepl", timeout=40)
    term.run(SERVER)
    term.run(
        "session = aiohttp.ClientSession()\n"
        "async def get(path):\n"
        "    async with session.get(f'http://127.0.0.1:{port}{path}') as response:\n"
        "        return response.status\n"
        "waiting = asyncio.create_task(get('/slow'), name='client')\n"
        "await asyncio.sleep(0.5)"
    )
    out = term.run("%tasks --limit 100")
    assert "asyncrepl:" not in out, out  # (before: every aiohttp task was created at asyncrepl:8)
    handler = next(line for line in out.splitlines() if "_handle_request()" in line)
    assert re.search(r"web_protocol\.py:\d+\s*$", handler), handler
    assert re.search(r"In \[1\] line 12: await asyncio\.sleep", handler)  # in SERVER's slow()
    client = next(line for line in out.splitlines() if " client " in line)
    assert re.search(r"In \[2\] line 5\s*$", client)

    # A TaskGroup in a handler: its children cancelled when one fails.
    assert term.run("await get('/fanout')").endswith("500")
    out = term.run("%tasks --done --limit 100")
    siblings = [line for line in out.splitlines() if re.search(r"part-[02] ", line)]
    assert len(siblings) == 2, out
    for line in siblings:
        assert re.search(r"cancelled\s+by its TaskGroup \(task \d+ failed\) at In \[1\] line 26", line), line
    assert "asyncrepl:" not in out


def test_a_failure_stays_listed_while_hundreds_of_requests_succeed(terminal):
    pytest.importorskip("aiohttp")
    httpx = pytest.importorskip("httpx")
    term = terminal("asyncrepl", timeout=60)
    term.run(SERVER)
    term.run(
        "import httpx\n"
        "async with httpx.AsyncClient() as client:\n"
        "    await client.get(f'http://127.0.0.1:{port}/fast?audit=1')\n"
        "    for _ in range(150):\n"
        "        await client.get(f'http://127.0.0.1:{port}/fast')",
        timeout=60,
    )
    out = term.run("%tasks --failed")
    row = next(line for line in out.splitlines() if "audit()" in line)  # (before: gone from a 100-entry history)
    assert "LookupError: no audit log for /fast" in row and re.search(r"In \[1\] line 17\s*$", row), row
    assert term.run("%tasks --failed --clear").startswith("forgot 1 failed task")
    assert term.run("%tasks --failed").strip() == "no task has failed"


def test_tables_follow_the_terminals_width_after_a_resize(terminal):
    # COLUMNS exported when the REPL started (by a shell, tmux, a test
    # runner) used to pin every table to that width.
    term = terminal("asyncrepl", env=fresh_env(COLUMNS="160", LINES="50"))
    term.run("import asyncio\nasync def parked():\n    await asyncio.sleep(600)\nt = asyncio.create_task(parked(), name='x' * 120)")
    wide = term.run("%tasks")
    assert max(len(line) for line in wide.splitlines()) > 100
    term.child.setwinsize(50, 72)
    time.sleep(0.3)
    narrow = term.run("%tasks")
    lines = [line for line in narrow.splitlines() if line.strip()]
    assert lines[0].startswith("id") and max(len(line) for line in lines) <= 72, narrow
    assert "…" in narrow
