"""Eight small real services, each with one common bug, debugged in a real terminal.

The services are in ``tests/services/`` (aiohttp servers over 127.0.0.1 with
httpx or aiohttp clients and aiosqlite; each module's docstring says what its
bug is, how it shows, and what a developer who does not know it would do).
Each test here starts the ``asyncrepl`` console script in a pty, imports one
service as its developer would, starts it as a background task at the prompt
(``svc = await start()``), drives traffic, and looks with asyncrepl's tools -
``%tasks``, ``%tasks ID``, ``%cancel``, Ctrl-C and the reports that appear by
themselves - asserting what the user sees.

The deadlock, the leaked permit and the dead consumers are each found with one
``%why`` (issue 20), and the deadlock is also reported by itself.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pexpect
import pytest

from harness import fresh_env
from services import NAMES

TESTS = Path(__file__).parent
SERVICES = TESTS / "services"

terminal_test = pytest.mark.terminal
pytestmark = pytest.mark.corpus  # CI: not on every Python (see .ci/run)


# -- helpers -------------------------------------------------------------------------------------


def line_of(module: str, start: str) -> int:
    """The number of the one line of services/<module>.py that starts (indentation aside) with *start*."""
    source = (SERVICES / f"{module}.py").read_text()
    after_docstring = ast.parse(source).body[0].end_lineno
    lines = source.splitlines()
    found = [number for number, line in enumerate(lines, 1) if number > after_docstring and line.strip().startswith(start)]
    assert len(found) == 1, f"{module}.py: {len(found)} lines start with {start!r}"
    return found[0]


def place(module: str, start: str) -> str:
    """``lock_order.py:57``: how asyncrepl names a line of a file."""
    return f"{module}.py:{line_of(module, start)}"


@pytest.fixture
def debug_service(terminal):
    """``debug_service(module, names)``: an ``asyncrepl`` terminal in which
    the developer has imported *names* from the service and started it in the
    background: ``svc`` serves at ``svc.url``."""
    started = []

    def start(module: str, names: str = "start, load"):
        path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
        term = terminal("asyncrepl", env=fresh_env(PYTHONPATH=path), timeout=30)
        started.append(term)
        term.run(f"import asyncio\nfrom services.{module} import {names}")
        out = term.run("svc = await start()")
        assert "Error" not in out, out
        return term

    yield start
    # Killed, not exited: at exit Python waits for aiosqlite's connection
    # threads (not daemon threads), which a service left running keeps open;
    # plain IPython waits for them the same way.
    for term in started:
        term.child.close(force=True)


def table(text: str) -> list[dict[str, str]]:
    """The rows of the first table in *text*, as ``%tasks`` draws it (a
    header, a rule of dashes, rows), each a dict by column header."""
    lines = text.splitlines()
    for index in range(len(lines) - 1):
        header, rule = lines[index], lines[index + 1]
        if header.startswith("id ") and re.fullmatch(r"-+( +-+)*", rule.rstrip()):
            spans = [match.span() for match in re.finditer(r"-+", rule)]
            starts = [start for start, _ in spans] + [None]
            names = [header[start:end].strip() for start, end in zip(starts, starts[1:])]
            rows = []
            for line in lines[index + 2:]:
                if not line.strip() or not line[:1].isdigit():
                    break
                rows.append({name: line[start:end].strip() for name, start, end in zip(names, starts, starts[1:])})
            return rows
    raise AssertionError(f"no table in:\n{text}")


def rows_at(rows: list[dict[str, str]], where: str) -> list[dict[str, str]]:
    """The rows of tasks suspended at *where* (``lock_order.py:57``)."""
    return [row for row in rows if row["suspended at"].startswith(where + ":")]


def prompt_back(term, timeout: float) -> str:
    """The output up to the next prompt; a REPL that gives no prompt within
    *timeout* seconds is hung: it is killed, and the test fails saying so."""
    try:
        return term.wait(timeout=timeout)
    except pexpect.TIMEOUT:
        term.child.close(force=True)
        raise AssertionError(f"no prompt within {timeout} s: the REPL is hung") from None


def load_until(term, call: str, symptom: str, attempts: int = 3) -> str:
    """Run the load cell *call* until its output shows *symptom* (a race
    that a first burst may miss); the last output."""
    for _ in range(attempts):
        out = term.run(call, timeout=60)
        if symptom in out:
            return out
    raise AssertionError(f"{symptom!r} never showed after {attempts} loads:\n{out}")


# -- the corpus itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", NAMES)
def test_each_service_runs_standalone_prints_its_url_and_stops_on_sigterm(module):
    """``python NAME.py`` serves on a free port, says where, answers HTTP,
    and ends cleanly on SIGTERM: the program the attach feature (issue 21) attaches to."""
    process = subprocess.Popen(
        [sys.executable, str(SERVICES / f"{module}.py")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = process.stdout.readline()
        match = re.fullmatch(r"serving on (http://127\.0\.0\.1:\d+)\n", first)
        assert match, (first, process.stderr.read() if process.poll() is not None else "")
        try:
            urllib.request.urlopen(match[1] + "/no-such-page", timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 404  # aiohttp answered
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- a. a blocking call in a handler -------------------------------------------------------------


@terminal_test
def test_blocking_call_in_a_handler_is_reported_at_its_line(debug_service):
    term = debug_service("blocking_call")
    # The developer times requests under a little concurrency: slow.
    out = term.run("%time_async await load(svc.url, n=6, concurrency=3)", timeout=30)
    assert "Out[3]: Counter({200: 6})" in out
    urlopen = place("blocking_call", "with urllib.request.urlopen(")
    # asyncrepl said, by itself, which handler held the loop, and at which line.
    held = re.findall(
        r"asyncrepl: task \d+ '[^']+' \(RequestHandler\._handle_request\(\)\) held the loop for (\d\.\d\d) s at (\S+): (.*)",
        out,
    )
    assert held, out
    assert {(where, source) for _, where, source in held} == {
        (urlopen, 'with urllib.request.urlopen(f"{pricing_url}/price/{sku}", timeout=10) as response:')
    }
    assert all(float(seconds) >= 0.1 for seconds, _, _ in held)
    assert "Executing <Task" not in out  # asyncio's own message is replaced, not repeated
    # %asyncdebug lists the longest holds with the same line.
    assert urlopen in term.run("%asyncdebug")


# -- b. a queue whose consumers died -------------------------------------------------------------

DEAD_CONSUMERS_LOAD = "await load(svc.url, n=60, concurrency=5, timeout=1, bad_every=10)"


@terminal_test
def test_dead_consumers_each_death_is_reported_and_the_producers_are_seen_waiting_on_the_queue(debug_service):
    term = debug_service("dead_consumers")
    out = term.run(DEAD_CONSUMERS_LOAD, timeout=60)
    assert "'timed out'" in out.splitlines()[-1], out  # the symptom: requests hang
    # Each worker's death was reported as it happened, with where it was made.
    created = place("dead_consumers", 'app["workers"] = [asyncio.create_task(worker(app)')
    deaths = re.findall(
        r"asyncrepl: task (\d+) '(worker-\d)' \(worker\(\)\) failed: ValueError: could not convert string to float: "
        rf"'\d+,\d\d', created at {re.escape(created)}\n  %tasks \1 shows the traceback, %debug_task \1 to debug",
        out,
    )
    assert sorted(name for _, name in deaths) == ["worker-1", "worker-2", "worker-3"], out
    # The stuck requests all wait in queue.put().
    put = place("dead_consumers", 'await request.app["queue"].put(event)')
    stuck = rows_at(table(term.run("%tasks")), put)
    assert len(stuck) >= 5 and all(row["waits on"].startswith("Queue.put()") for row in stuck)
    assert all(row["coroutine"] == "RequestHandler._handle_request()" for row in stuck)
    # The report's %tasks ID shows the worker's traceback, at the parsing line.
    worker_id = deaths[0][0]
    details = term.run(f"%tasks {worker_id}")
    assert f"task {worker_id} '{deaths[0][1]}' (worker()): raised" in details
    assert f'line {line_of("dead_consumers", "cents = round(float(")}, in worker' in details


@terminal_test
def test_dead_consumers_queue_wait_shows_how_full_the_queue_is(debug_service):
    term = debug_service("dead_consumers")
    term.run(DEAD_CONSUMERS_LOAD, timeout=60)
    put = place("dead_consumers", 'await request.app["queue"].put(event)')
    stuck = rows_at(table(term.run("%tasks")), put)
    assert stuck
    for row in stuck:  # the queue is full: 20 of its 20 places taken
        assert "Queue" in row["waits on"] and re.search(r"\b20\b", row["waits on"]), row


@terminal_test
def test_dead_consumers_why_names_the_dead_workers(debug_service):
    term = debug_service("dead_consumers")
    term.run(DEAD_CONSUMERS_LOAD, timeout=60)
    out = term.run("%why")
    assert "Queue" in out and "full" in out
    assert all(f"worker-{n}" in out for n in (1, 2, 3)) and "ValueError" in out


# -- c. a fire-and-forget task that fails --------------------------------------------------------


@terminal_test
def test_fire_and_forget_failure_is_reported_at_the_line_that_dropped_the_task(debug_service):
    term = debug_service("fire_and_forget")
    out = term.run("await load(svc.url, n=20, one_word_every=20)")
    assert out.splitlines()[-1] == "Out[3]: Counter({201: 20})"  # every request succeeded
    created = place("fire_and_forget", "asyncio.create_task(send_welcome(")
    failed = re.findall(
        r"asyncrepl: task (\d+) '[^']+' \(send_welcome\(\)\) failed: ValueError: not enough values to unpack "
        rf"\(expected 2, got 1\), created at {re.escape(created)}\n",
        out,
    )
    assert len(failed) == 1, out
    done = table(term.run("%tasks --done"))
    assert [row["detail"] for row in done if row["id"] == failed[0]] == [
        "ValueError: not enough values to unpack (expected 2, got 1)"
    ]
    details = term.run(f"%tasks {failed[0]}")
    assert f'line {line_of("fire_and_forget", "first, last = name.split(")}, in send_welcome' in details
    assert "first, last = name.split(\" \", 1)" in details


@terminal_test
def test_fire_and_forget_failure_is_kept_after_hundreds_of_successful_requests(debug_service):
    term = debug_service("fire_and_forget")
    out = term.run("await load(svc.url, n=20, one_word_every=20)")
    (task_id,) = re.findall(r"asyncrepl: task (\d+) '[^']+' \(send_welcome\(\)\) failed", out)
    # The service goes on serving: 150 sign-ups, 150 mails sent, all fine.
    assert term.run("await load(svc.url, n=150, one_word_every=0)").endswith("Counter({201: 150})")
    failed = table(term.run("%tasks --failed"))
    assert [(row["id"], row["coroutine"]) for row in failed] == [(task_id, "send_welcome()")]
    assert any(cell.startswith("ValueError: not enough values to unpack") for cell in failed[0].values()), failed
    assert [row["id"] for row in table(term.run("%tasks --failed send_welcome"))] == [task_id]
    done = table(term.run("%tasks --done send_welcome"))
    assert done and {row["coroutine"] for row in done} == {"send_welcome()"}


# -- d. locks taken in opposite orders -----------------------------------------------------------

LOCK_ORDER_LOAD = "await load(svc.url, n=12, concurrency=6, timeout=1)"


@terminal_test
def test_lock_order_deadlocked_transfers_are_listed_at_their_lock_lines(debug_service):
    term = debug_service("lock_order")
    load_until(term, LOCK_ORDER_LOAD, "'timed out'")
    rows = table(term.run("%tasks"))
    first = rows_at(rows, place("lock_order", "async with locks[src]:"))
    second = rows_at(rows, place("lock_order", "async with locks[dst]:"))
    # Three transfers around the ring each hold their first lock and wait
    # for their second; the later ones queue behind their first.
    assert len(second) == 3, rows
    assert first, rows
    assert all(row["coroutine"] == "RequestHandler._handle_request()" for row in first + second)
    assert all(row["state"] == "waiting" for row in first + second)
    # Their await chain runs through the handler down to Lock.acquire().
    details = term.run(f"%tasks {second[0]['id']}")
    assert f"transfer()  {place('lock_order', 'async with locks[dst]:')}: async with locks[dst]:" in details
    assert "Lock.acquire()" in details


@terminal_test
def test_lock_order_waits_on_names_the_lock(debug_service):
    term = debug_service("lock_order")
    load_until(term, LOCK_ORDER_LOAD, "'timed out'")
    rows = table(term.run("%tasks"))
    stuck = rows_at(rows, place("lock_order", "async with locks[src]:")) + rows_at(
        rows, place("lock_order", "async with locks[dst]:")
    )
    assert stuck
    for row in stuck:
        assert "Lock" in row["waits on"] and "_ContextManagerMixin" not in row["waits on"], row


@terminal_test
def test_lock_order_request_tasks_are_created_at_aiohttps_line(debug_service):
    # On Python 3.12 and 3.13 aiohttp makes these tasks with asyncio.Task(...,
    # eager_start=True), past the loop's task factory: there asyncrepl reads
    # where from debug mode's record of each task's creation.
    term = debug_service("lock_order")
    load_until(term, LOCK_ORDER_LOAD, "'timed out'")
    rows = table(term.run("%tasks"))
    aiohttps = [row for row in rows if row["coroutine"].startswith("RequestHandler.")]
    assert aiohttps
    for row in aiohttps:
        assert re.fullmatch(r"web_protocol\.py:\d+", row["created at"]), row


@terminal_test
def test_lock_order_why_finds_the_deadlock(debug_service):
    term = debug_service("lock_order")
    load_until(term, LOCK_ORDER_LOAD, "'timed out'")
    out = term.run("%why")
    assert "deadlock" in out.lower()
    assert place("lock_order", "async with locks[src]:") in out  # where each took the lock it holds
    assert place("lock_order", "async with locks[dst]:") in out  # where each waits
    assert all(name in out for name in ("alice", "bob", "carol"))  # the locks, as the user names them


@terminal_test
def test_lock_order_deadlock_is_reported_by_itself(debug_service):
    term = debug_service("lock_order")
    out = load_until(term, LOCK_ORDER_LOAD, "'timed out'")  # the cycle has lasted a second by now
    out += term.read_pending(1.5)
    assert len(re.findall(r"asyncrepl: deadlock: ", out)) == 1, out


# -- e. a semaphore permit leaked on an error path -----------------------------------------------

LEAKED_PERMIT_LOAD = "await load(svc.url, n=16, concurrency=4, timeout=1, missing_every=3)"


@terminal_test
def test_leaked_permit_requests_wait_on_the_pool_and_ctrl_c_gives_the_prompt_back(debug_service):
    term = debug_service("leaked_permit", "start, load, fetch_profile")
    out = term.run(LEAKED_PERMIT_LOAD, timeout=60)
    # Four 404s took the four permits for good; the requests after them time out.
    assert "404: 4," in out and "'timed out': " in out
    stuck = rows_at(table(term.run("%tasks")), place("leaked_permit", "await self._slots.acquire()"))
    assert len(stuck) >= 3 and all("Semaphore" in row["waits on"] for row in stuck)
    # No task holds a permit, yet none is free.
    assert term.value("svc.pool, svc.pool._slots.locked()") == "(<Pool 0 of 4 free>, True)"
    # The developer's own request hangs too; Ctrl-C gives the prompt back.
    term.type("await fetch_profile(svc.url, 1)")
    time.sleep(1)
    term.ctrl_c()
    out = prompt_back(term, timeout=10)
    assert "KeyboardInterrupt" in out and "Traceback" not in out
    assert term.value("await asyncio.sleep(0.01) or 'healthy'") == "'healthy'"


@terminal_test
def test_leaked_permit_ctrl_c_says_where_the_cell_was_waiting(debug_service):
    term = debug_service("leaked_permit", "start, load, fetch_profile")
    term.run(LEAKED_PERMIT_LOAD, timeout=60)
    term.type("await fetch_profile(svc.url, 1)")
    time.sleep(1)
    term.ctrl_c()
    out = prompt_back(term, timeout=10)
    assert place("leaked_permit", 'async with session.get(f"{url}/users/{user_id}")') in out, out


@terminal_test
def test_leaked_permit_waits_on_shows_the_semaphores_counts(debug_service):
    term = debug_service("leaked_permit")
    term.run(LEAKED_PERMIT_LOAD, timeout=60)
    stuck = rows_at(table(term.run("%tasks")), place("leaked_permit", "await self._slots.acquire()"))
    assert stuck
    for row in stuck:  # none of the permits free, 4 tasks waiting
        assert "Semaphore" in row["waits on"] and re.search(r"\d", row["waits on"]), row


@terminal_test
def test_leaked_permit_why_finds_the_leak(debug_service):
    term = debug_service("leaked_permit")
    term.run(LEAKED_PERMIT_LOAD, timeout=60)
    out = term.run("%why")
    assert "leak" in out.lower() and "Semaphore" in out
    assert "HTTPNotFound" in out  # how the tasks that kept the permits ended
    acquired = (place("leaked_permit", "conn = await pool.acquire()"), place("leaked_permit", "await self._slots.acquire()"))
    assert any(where in out for where in acquired)


# -- f. a coroutine not awaited in a handler -----------------------------------------------------


@terminal_test
def test_not_awaited_commit_is_reported_at_the_handlers_line_with_the_fix(debug_service):
    term = debug_service("not_awaited", "start, load, notes")
    out = term.run("await load(svc.url, n=10)")
    assert out.splitlines()[-1] == "Out[3]: Counter({201: 10})"
    commit = place("not_awaited", "db.commit()")
    assert (
        f"asyncrepl: coroutine Connection.commit() was never awaited, at {commit}: db.commit()\n"
        "  did you mean: await db.commit()"
    ) in out
    assert "RuntimeWarning" not in out  # Python's own warning is replaced, not repeated
    assert term.value("await notes(svc.url)") == "[]"  # the symptom: nothing was committed


# -- g. a TaskGroup child that swallows cancellation ---------------------------------------------

EXCEPT_LINES = (place("swallowed_cancel", "except:"), place("swallowed_cancel", "await asyncio.sleep(min(0.05"))


def _names_the_swallower(line: str) -> bool:
    """Whether *line* names task quote-east and the line where it caught the cancellation."""
    return "quote-east" in line and any(where in line for where in EXCEPT_LINES)


@terminal_test
def test_swallowed_cancel_the_retrying_child_is_listed_and_cancel_says_it_went_on(debug_service):
    term = debug_service("swallowed_cancel")
    # GET /best has a 2 s timeout, yet the client waits out its own 3 s.
    assert term.run("await load(svc.url, n=1, concurrency=1, timeout=3)").endswith("Counter({'timed out': 1})")
    rows = table(term.run("%tasks"))
    (east,) = [row for row in rows if row["name"] == "quote-east"]
    assert east["coroutine"] == "fetch_quote()" and east["state"] == "cancelling"
    assert east["created at"] == place("swallowed_cancel", "tg.create_task(fetch_quote(")
    (handler,) = [row for row in rows if row["suspended at"].startswith(place("swallowed_cancel", "async with asyncio.TaskGroup() as tg:"))]
    assert handler["state"] == "cancelling" and "TaskGroup" in handler["waits on"]
    # Cancelling the child itself: it is the one that goes on.
    out = term.run("%cancel quote-east")
    assert out.startswith(f"STILL RUNNING: task {east['id']} 'quote-east' (fetch_quote())")
    assert re.search(r"it caught CancelledError\b.* and went on$", out.splitlines()[0]), out


@terminal_test
def test_swallowed_cancel_cancel_of_the_waiter_names_the_child(debug_service):
    term = debug_service("swallowed_cancel")
    term.run("await load(svc.url, n=1, concurrency=1, timeout=3)")
    rows = table(term.run("%tasks"))
    (handler,) = [row for row in rows if row["suspended at"].startswith(place("swallowed_cancel", "async with asyncio.TaskGroup() as tg:"))]
    out = term.run(f"%cancel {handler['id']}")
    (line,) = [line for line in out.splitlines() if line.startswith(f"STILL RUNNING: task {handler['id']} ")]
    assert _names_the_swallower(line), out


@terminal_test
def test_swallowed_cancel_second_ctrl_c_gives_the_prompt_back(debug_service):
    term = debug_service("swallowed_cancel", "start, best_price")
    term.type("price = await best_price(svc.url)")  # In [3]
    time.sleep(3)  # its 2 s timeout has passed, and it still waits
    term.ctrl_c()
    time.sleep(1)
    term.ctrl_c()
    out = prompt_back(term, timeout=10)
    assert any(_names_the_swallower(line) for line in out.splitlines()), out
    rows = table(term.run("%tasks"))
    assert any(row["name"] == "In [3]" for row in rows), rows


@terminal_test
def test_swallowed_cancel_cell_timeout_gives_the_prompt_back(debug_service):
    term = debug_service("swallowed_cancel", "start, best_price")
    term.type("%%timeout 1\nprice = await best_price(svc.url)")
    out = prompt_back(term, timeout=12)
    assert "TimeoutError" in out
    assert any(_names_the_swallower(line) for line in out.splitlines()), out


# -- h. one never-ending task per request --------------------------------------------------------


@terminal_test
def test_task_per_request_watchers_pile_up_show_why_and_cancel_all_at_once(debug_service):
    term = debug_service("task_per_request")
    assert term.run("await load(svc.url, n=40, concurrency=4)").endswith("Counter({202: 40})")
    time.sleep(0.5)  # every job is done by now
    out = term.run("%tasks")
    # Past --limit, the summary counts them all: one watcher per request, none ended.
    assert re.search(r"^\s+40  watch_job\(\)  waiting$", out, re.MULTILINE), out
    watchers = [row for row in table(out) if row["coroutine"] == "watch_job()"]
    created = place("task_per_request", "watcher = asyncio.create_task(watch_job(")
    assert watchers and {row["created at"] for row in watchers} == {created}
    polling = rows_at(watchers, place("task_per_request", "await asyncio.sleep(POLL_EVERY)"))
    assert len(polling) >= len(watchers) // 2  # the others are in their query
    # One of them, with what it holds: the status it keeps reading is 'done'.
    out = term.run("%tasks watch-job-7 --locals")
    assert re.search(r"^\s+status\s+= 'done'$", out, re.MULTILINE), out
    # Stop them all by coroutine name.
    out = term.run("%cancel watch_job")
    assert out.splitlines()[-1] == "10 more not named; of all 40: 40 cancelled (--limit names more)"
    assert "watch_job()" not in term.run("%tasks")
    assert term.value("len(svc.runner.app['watchers'])") == "0"
