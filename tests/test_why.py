"""%why: the wait-for analysis (without IPython), the lock and permit owners
recorded while asyncrepl is loaded, the deadlock watch, and the magic in
IPython's in-process shell."""

import asyncio
import contextlib
import inspect
import re

import pytest

from asyncrepl import _holders, _why
from asyncrepl._deadlocks import DeadlockWatch
from asyncrepl._render import Views
from asyncrepl._render.why import render_all, render_chain
from asyncrepl._tasks.code import Site
from asyncrepl._why.naming import site
from asyncrepl._tasks import TaskRegistry
from conftest import run_cell as run

place = Views().place


def line_of(function, marker):
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, text in enumerate(lines) if marker in text)


def here(function, marker):
    return f"test_why.py:{line_of(function, marker)}"


async def settle(seconds=0.02):
    await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def silent_server():
    """A server on 127.0.0.1 that accepts connections and never answers; its
    port.  The server side of each connection stays open until the end (3.14
    closes a writer nobody keeps)."""
    kept = []
    server = await asyncio.start_server(lambda reader, writer: kept.append(writer), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in kept:
            writer.close()
        server.close()


def run_scenario(scenario, loop_factory=None):
    """Run scenario(registry) on a fresh loop (made by *loop_factory*, or
    asyncio's default) with a registry installed and the owners recorded (as
    a session does)."""

    async def main():
        registry = TaskRegistry(asyncio.get_running_loop(), history_size=50)
        registry.install()
        undo = _holders.install()
        try:
            return await scenario(registry)
        finally:
            for task in registry.pending():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0.01)
            undo()
            registry.uninstall()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


def why(registry, task) -> tuple[_why.Chain, str]:
    analysis = _why.analyse(registry)
    chain = analysis.chain(task)
    return chain, "\n".join(render_chain(analysis, chain, place))


def why_all(registry) -> tuple[list, str]:
    analysis = _why.analyse(registry)
    chains = analysis.stuck_chains()
    return chains, "\n".join(render_all(analysis, chains, place))


# -- the owners: wrappers on asyncio's classes, undone on unload ---------------------------------


def test_wrappers_are_asyncios_own_functions_again_after_the_last_undo():
    own = {name: asyncio.Lock.__dict__[name] for name in ("acquire", "release")}
    semaphore_acquire = asyncio.Semaphore.__dict__["acquire"]
    first, second = _holders.install(), _holders.install()
    assert asyncio.Lock.acquire is not own["acquire"] and _holders.is_tracking()
    first()
    assert asyncio.Lock.acquire is not own["acquire"]  # another session still runs
    second()
    assert asyncio.Lock.acquire is own["acquire"] and asyncio.Lock.release is own["release"]
    assert asyncio.Semaphore.acquire is semaphore_acquire and not _holders.is_tracking()


def test_unloading_asyncrepl_puts_asyncios_lock_back(shell):
    acquire, get_nowait = asyncio.Lock.acquire, asyncio.Queue.get_nowait
    get_loop = asyncio.Lock._get_loop
    shell.run_line_magic("load_ext", "asyncrepl")
    assert asyncio.Lock.acquire is not acquire and asyncio.Queue.get_nowait is not get_nowait
    shell.run_line_magic("unload_ext", "asyncrepl")
    assert asyncio.Lock.acquire is acquire and asyncio.Queue.get_nowait is get_nowait
    assert asyncio.Lock._get_loop is get_loop


def test_lock_holder_is_the_task_and_the_line_that_took_it():
    async def holder(lock):
        async with lock:  # TAKEN
            await asyncio.sleep(10)

    async def scenario(registry):
        lock = asyncio.Lock()
        task = asyncio.create_task(holder(lock))
        await settle()
        holding = _holders.lock_holder(lock)
        assert holding.task is task
        assert site(holding.frame, holding.lasti).lineno == line_of(holder, "# TAKEN")
        task.cancel()
        await settle()
        assert _holders.lock_holder(lock) is None  # released as the block unwound

    run_scenario(scenario)


def test_a_lock_taken_before_the_wrappers_is_found_on_the_holders_value_stack():
    async def holder(lock):
        async with lock:
            await asyncio.sleep(10)

    async def waiter(lock):
        async with lock:  # WAITS
            pass

    async def main():
        lock = asyncio.Lock()
        registry = TaskRegistry(asyncio.get_running_loop())
        registry.install()
        task = asyncio.create_task(holder(lock))
        await settle()
        undo = _holders.install()  # asyncrepl loaded after the lock was taken
        try:
            stuck = asyncio.create_task(waiter(lock))
            await settle()
            chain, text = why(registry, stuck)
            assert chain.steps[0].targets == [task], text
            # Where it was taken is not known: not the line the holder waits at now.
            assert f"held by task {registry.info(task).id} (taken before asyncrepl was loaded)" in text, text
            assert "taken at" not in text, text
        finally:
            task.cancel()
            stuck.cancel()
            await settle()
            undo()
            registry.uninstall()

    asyncio.run(main())


# -- each primitive, each root cause --------------------------------------------------------------


async def transfer(locks, src, dst):
    async with locks[src]:  # FIRST
        await asyncio.sleep(0.01)
        async with locks[dst]:  # SECOND
            pass


def test_a_two_task_lock_cycle_is_a_deadlock_naming_what_each_holds_where_and_waits_for():
    async def scenario(registry):
        locks = {"alice": asyncio.Lock(), "bob": asyncio.Lock()}
        one = asyncio.create_task(transfer(locks, "alice", "bob"))
        two = asyncio.create_task(transfer(locks, "bob", "alice"))
        await settle(0.05)
        chain, text = why(registry, one)
        assert chain.cause.kind == "cycle" and set(chain.cause.tasks) == {one, two}
        first, second = here(transfer, "# FIRST"), here(transfer, "# SECOND")
        a, b = registry.info(one).id, registry.info(two).id
        assert (
            f"task {a} holds lock locks['alice'] (taken at {first}) and waits for lock locks['bob'] at {second}, held by task {b}"
        ) in text, text
        assert f"task {b} holds lock locks['bob'] (taken at {first}) and waits for lock locks['alice'] at {second}, held by task {a}" in text
        assert "is stuck: deadlock:" in text

    run_scenario(scenario)


async def transfer_between(first, second):
    async with first:  # FIRST ARG
        await asyncio.sleep(0.01)
        async with second:  # SECOND ARG
            pass


def test_locks_passed_as_arguments_are_named_by_the_global_both_tasks_know_them_by():
    async def scenario(registry):
        global checking_lock, savings_lock
        checking_lock, savings_lock = asyncio.Lock(), asyncio.Lock()
        one = asyncio.create_task(transfer_between(checking_lock, savings_lock))
        two = asyncio.create_task(transfer_between(savings_lock, checking_lock))
        await settle(0.05)
        _, text = why(registry, one)
        first, second = here(transfer_between, "# FIRST ARG"), here(transfer_between, "# SECOND ARG")
        a, b = registry.info(one).id, registry.info(two).id
        # Not "holds lock second ... waits for lock second": each task's own parameter names differ.
        assert f"task {a} holds lock checking_lock (taken at {first}) and waits for lock savings_lock at {second}, held by task {b}" in text, text
        assert f"task {b} holds lock savings_lock (taken at {first}) and waits for lock checking_lock at {second}, held by task {a}" in text, text

    run_scenario(scenario)


def test_a_three_task_cycle_across_a_lock_a_queue_and_an_event():
    async def holds_lock_waits_queue(lock, queue):
        async with lock:  # TAKES LOCK
            await queue.get()  # GETS

    async def feeds_queue_waits_event(queue, event):
        await queue.put(0)  # a producer of the queue, seen
        await queue.get()  # takes it back: the queue is empty again
        await event.wait()  # WAITS EVENT
        await queue.put(1)

    async def sets_event_waits_lock(event, lock):
        await asyncio.sleep(0.01)
        async with lock:  # WAITS LOCK
            event.set()

    async def scenario(registry):
        lock, queue, event = asyncio.Lock(), asyncio.Queue(), asyncio.Event()
        a = asyncio.create_task(holds_lock_waits_queue(lock, queue))
        await asyncio.sleep(0)
        b = asyncio.create_task(feeds_queue_waits_event(queue, event))
        c = asyncio.create_task(sets_event_waits_lock(event, lock))
        await settle(0.05)
        chain, text = why(registry, a)
        assert chain.cause.kind == "cycle", text
        assert set(chain.cause.tasks) == {a, b, c}, text
        ids = {task: registry.info(task).id for task in (a, b, c)}
        assert f"task {ids[a]} waits at {here(holds_lock_waits_queue, '# GETS')}" in text
        assert "Queue queue.get() (empty, 0 items, unbounded), fed by task" in text
        assert f"task {ids[c]} holds lock lock (taken at" not in text  # c waits for it; a holds it
        assert f"task {ids[a]} holds lock lock (taken at {here(holds_lock_waits_queue, '# TAKES LOCK')})" in text
        assert f"which task {ids[c]} is to set" in text  # c refers to the event: the one to set it

    run_scenario(scenario)


def test_a_task_awaiting_a_deadlocked_task_is_behind_the_deadlock():
    async def outer(task):
        await task  # AWAITS

    async def scenario(registry):
        locks = {"a": asyncio.Lock(), "b": asyncio.Lock()}
        one = asyncio.create_task(transfer(locks, "a", "b"))
        asyncio.create_task(transfer(locks, "b", "a"))
        waiting = asyncio.create_task(outer(one))
        await settle(0.05)
        chain, text = why(registry, waiting)
        assert chain.cause.kind == "cycle" and waiting not in chain.cause.tasks
        assert text.splitlines()[1] == f"  task {registry.info(waiting).id} waits at {place(Site(__file__, line_of(outer, '# AWAITS'), ''))}"
        chains, everything = why_all(registry)
        assert everything.startswith("deadlock: tasks ")
        assert f"waiting behind it: tasks {registry.info(waiting).id}" in everything

    run_scenario(scenario)


def test_a_lock_held_by_a_task_that_ended_is_a_leak_saying_how_it_ended_and_where_it_took_it():
    async def forgets(lock):
        await lock.acquire()  # TAKES
        raise KeyError("no such account")

    async def waits(lock):
        async with lock:
            pass

    async def scenario(registry):
        lock = asyncio.Lock()
        gone = asyncio.create_task(forgets(lock))
        await settle()
        stuck = asyncio.create_task(waits(lock))
        await settle()
        chain, text = why(registry, stuck)
        assert chain.cause.kind == "leak", text
        assert f"{registry.label(gone)} raised KeyError: 'no such account'" in text
        assert f"took it at {here(forgets, '# TAKES')}: await lock.acquire()" in text
        assert "and ended at " + here(forgets, "raise KeyError") in text
        gone.exception()

    run_scenario(scenario)


def test_semaphore_permits_leaked_by_ended_tasks_and_the_ones_still_held():
    async def takes(pool, fail):
        await pool.acquire()  # TAKES
        if fail:
            raise LookupError("404")
        await asyncio.sleep(10)

    async def wants(pool):
        async with pool:  # WANTS
            pass

    async def scenario(registry):
        pool = asyncio.BoundedSemaphore(3)
        failed = [asyncio.create_task(takes(pool, True)) for _ in range(3)]
        await settle()
        stuck = asyncio.create_task(wants(pool))
        await settle()
        chain, text = why(registry, stuck)
        assert chain.cause.kind == "leak"
        assert "leak: 3 permits of BoundedSemaphore pool held by tasks that have ended without releasing them" in text
        assert text.count("raised LookupError: 404") == 3
        assert "BoundedSemaphore pool (0 of 3 free, 1 waiting)" in text
        for task in failed:
            task.exception()

    run_scenario(scenario)


def test_semaphore_holders_still_running_are_followed():
    async def takes(pool):
        async with pool:  # TAKES
            await asyncio.sleep(30)

    async def wants(pool):
        async with pool:
            pass

    async def scenario(registry):
        pool = asyncio.Semaphore(2)
        holders = [asyncio.create_task(takes(pool)) for _ in range(2)]
        await settle()
        stuck = asyncio.create_task(wants(pool))
        await settle()
        chain, text = why(registry, stuck)
        assert chain.cause.kind == "timer" and not chain.stuck, text
        ids = [registry.info(task).id for task in holders]
        assert f"held by task {ids[0]} (taken at {here(takes, '# TAKES')}), task {ids[1]}" in text
        assert f"-> task {ids[0]} waits at" in text

    run_scenario(scenario)


def test_a_full_queue_whose_consumers_have_ended_is_a_dead_partner_with_their_exceptions():
    async def worker(queue):
        while True:
            item = await queue.get()
            float(item)

    async def producer(queue, item):
        await queue.put(item)  # PUTS

    async def scenario(registry):
        queue = asyncio.Queue(maxsize=2)
        workers = [asyncio.create_task(worker(queue), name=f"worker-{n}") for n in (1, 2)]
        for item in ("1,5", "2,5"):
            await queue.put(item)
        await settle()
        producers = [asyncio.create_task(producer(queue, str(n))) for n in range(4)]
        await settle()
        chain, text = why(registry, producers[-1])
        assert chain.cause.kind == "dead partner", text
        assert "dead partner: Queue queue is full and its consumers have ended" in text
        for task in workers:
            assert f"{registry.label(task)} raised ValueError: could not convert string to float:" in text
            task.exception()
        handler = asyncio.create_task(awaits(producers[-1]))
        await settle()
        chains, everything = why_all(registry)
        assert len([c for c in chains if c.cause.kind == "dead partner"]) == 3  # the two producers waiting, and the handler
        # Where the producers wait; the handler waits behind them, elsewhere.
        waiting = [registry.info(task).id for task in producers[2:]]
        assert f"  waiting on it: tasks {waiting[0]}, {waiting[1]} (at {here(producer, '# PUTS')}" in everything, everything
        assert f"  waiting behind it: tasks {registry.info(handler).id}\n" in everything, everything

    run_scenario(scenario)


async def awaits(task):
    return await task


def test_an_empty_queue_fed_by_nobody_alive_and_one_fed_by_a_live_producer():
    async def consumer(queue):
        return await queue.get()  # GETS

    async def slow_producer(queue):
        await asyncio.sleep(30)
        await queue.put(1)

    async def scenario(registry):
        orphan, fed = asyncio.Queue(), asyncio.Queue()
        lonely = asyncio.create_task(consumer(orphan))
        waiting = asyncio.create_task(consumer(fed))
        feeder = asyncio.create_task(slow_producer(fed))
        await settle()
        # A worker waiting for work that no task has brought yet (a service's
        # worker before the first request) is not stuck: %why says what it waits for.
        chain, text = why(registry, lonely)
        assert chain.cause.kind == "idle" and not chain.stuck, text
        assert "is not stuck: waiting for work: no task has put in Queue queue yet" in text, text
        chain, text = why(registry, waiting)
        assert chain.cause.kind == "timer", text
        assert f"could be fed by task {registry.info(feeder).id}" in text
        chains, everything = why_all(registry)
        assert chains == [] and everything.startswith("no stuck task: 3 pending tasks wait"), everything

    run_scenario(scenario)


def test_a_task_that_holds_a_function_of_the_queues_module_is_not_its_feeder():
    # A web framework's dispatcher holds the handler (a function) in a local;
    # the handler's module holds the queue.  That is no sign the task feeds
    # the queue: the worker that holds the lock while it waits for work is
    # what keeps the handler waiting, and no deadlock is made up.
    module = {"__name__": "shop", "asyncio": asyncio}
    exec(
        "async def create_order(lock):\n"
        "    async with lock:\n"
        "        pass\n"
        "async def audit_writer(lock):\n"
        "    async with lock:\n"
        "        return await audit_q.get()\n",
        module,
    )

    async def dispatch(handler, lock):
        return await handler(lock)

    async def scenario(registry):
        module["audit_q"], lock = asyncio.Queue(), asyncio.Lock()
        writer = asyncio.create_task(module["audit_writer"](lock))
        await settle()
        request = asyncio.create_task(dispatch(module["create_order"], lock))
        await settle()
        chain, text = why(registry, writer)
        assert chain.cause.kind == "idle" and "could be fed by" not in text, text
        chains, everything = why_all(registry)
        assert "deadlock" not in everything, everything
        # What keeps the handler waiting: the worker holds its lock while it waits for work.
        writer_id = registry.info(writer).id
        assert everything.startswith(
            f"held while waiting for work: task {writer_id} holds lock lock while it waits on queue audit_q, "
            "which no task has fed yet\n  it took lock lock\n    at <string>:5"
        ), everything
        assert f"waiting on it: tasks {registry.info(request).id}" in everything, everything
        chain, text = why(registry, request)
        assert chain.cause.kind == "held idle" and f"held by task {writer_id}" in text, text

    run_scenario(scenario)


async def _pool_worker(jobs, fail):
    while True:
        reply, body = await jobs.get()  # TAKES
        if fail:
            raise KeyError(body)
        reply.set_result(body * 2)


async def _pool_handler(jobs, body):
    reply = asyncio.get_running_loop().create_future()
    await jobs.put((reply, body))
    return await reply  # AWAITS REPLY


def test_a_worker_pool_waiting_for_the_next_request_is_not_stuck():
    # Its producers, a request's handlers, did their part and ended: as
    # every server's pool between requests (it was called a dead partner).
    async def scenario(registry):
        jobs = asyncio.Queue()
        workers = [asyncio.create_task(_pool_worker(jobs, False)) for _ in range(2)]
        assert await asyncio.gather(*(asyncio.create_task(_pool_handler(jobs, n)) for n in range(3))) == [0, 2, 4]
        await settle()
        chains, everything = why_all(registry)
        assert chains == [] and everything.startswith("no stuck task: 2 pending tasks wait"), everything
        chain, text = why(registry, workers[0])
        assert chain.cause.kind == "idle", text
        assert "waiting for work: the tasks that put in Queue jobs have ended, as a request's handlers do" in text, text

    run_scenario(scenario)


def test_a_future_left_in_a_queue_whose_workers_died_is_a_dead_partner():
    # The handlers await futures they put in the queue with their request;
    # the pool's workers died: the one still queued is a dead partner's,
    # named with how the workers ended (it was "not stuck").
    async def scenario(registry):
        jobs = asyncio.Queue()
        workers = [asyncio.create_task(_pool_worker(jobs, True)) for _ in range(2)]
        handlers = [asyncio.create_task(_pool_handler(jobs, n)) for n in range(3)]
        await settle()
        assert all(worker.done() for worker in workers) and jobs.qsize() == 1
        chain, text = why(registry, handlers[2])
        assert chain.cause.kind == "dead partner", text
        assert f"waits at {here(_pool_handler, '# AWAITS REPLY')}" in text, text
        assert "on a future in Queue jobs (1 item, unbounded)" in text, text
        assert "Queue jobs holds the future it awaits, and its consumers have ended" in text, text
        for worker in workers:
            assert f"{registry.label(worker)} raised KeyError" in text, text
        for worker in workers:
            worker.exception()  # retrieved: no "never retrieved" at collection

    run_scenario(scenario)


class _Protocol(asyncio.Protocol):
    """As an HTTP client's (httpx's, through anyio): an Event set as data arrives."""

    def __init__(self):
        self.read_event = asyncio.Event()

    def data_received(self, data):
        self.read_event.set()


class _SocketStream:
    def __init__(self, transport, protocol):
        self._transport, self._protocol = transport, protocol

    async def receive(self):
        await self._protocol.read_event.wait()  # RECEIVES


def test_a_wait_on_an_event_that_a_connection_sets_is_io_not_a_dead_partner():
    # httpx waiting for an answer from a server that has not answered yet:
    # its task waits on an Event that the connection's protocol sets, and
    # no task refers to that Event.  It was called a dead partner.
    async def scenario(registry):
        async with silent_server() as port:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_connection(_Protocol, "127.0.0.1", port)
            stream = _SocketStream(transport, protocol)
            request = asyncio.create_task(stream.receive())
            await settle()
            chain, text = why(registry, request)
            assert chain.cause.kind == "io" and not chain.stuck, text
            assert f"I/O: socket to 127.0.0.1:{port} (Event self._protocol.read_event is set as data arrives)" in text, text
            assert f"waits at {here(_SocketStream.receive, '# RECEIVES')}" in text, text
            chains, everything = why_all(registry)
            assert everything.startswith("no stuck task: "), everything
            transport.close()

    run_scenario(scenario)


def test_the_await_chain_shows_no_frame_of_the_owner_records():
    # %tasks ID showed "acquire()  locks.py:93: async def acquire(self):", the
    # wrapper that records a lock's owner, above asyncio's own Lock.acquire.
    from asyncrepl._tasks import await_chain

    async def waits(lock):
        async with lock:  # WAITS
            pass

    async def scenario(registry):
        lock = asyncio.Lock()
        await lock.acquire()
        task = asyncio.create_task(waits(lock))
        await settle()
        chain = [(link.function, link.lineno) for link in await_chain(task)]
        assert [function for function, _ in chain] == ["test_the_await_chain_shows_no_frame_of_the_owner_records.<locals>.waits", "_ContextManagerMixin.__aenter__", "Lock.acquire"], chain
        lock.release()

    run_scenario(scenario)


def test_an_aiohttp_request_to_a_server_that_does_not_answer_waits_on_io():
    # aiohttp's protocol keeps its transport in a slot: the wait was "future
    # <Future pending ...>: nothing known sets its result", stuck.
    aiohttp = pytest.importorskip("aiohttp")

    async def scenario(registry):
        async with silent_server() as port, aiohttp.ClientSession() as session:

            async def fetch():
                async with session.get(f"http://127.0.0.1:{port}/slow") as response:  # FETCHES
                    return await response.text()

            request = asyncio.create_task(fetch())
            await settle(0.2)
            chain, text = why(registry, request)
            assert chain.cause.kind == "io" and not chain.stuck, text
            assert f"is not stuck: I/O: socket to 127.0.0.1:{port}" in text, text
            chains, everything = why_all(registry)
            assert everything.startswith("no stuck task: "), everything
            request.cancel()

    run_scenario(scenario)


def test_an_aiohttp_handler_awaiting_a_future_of_the_users_is_stuck_not_on_io():
    # The handler's frames hold its connection (aiohttp's request and
    # protocol): that is no sign the future it awaits is the connection's.
    # It was "not stuck: I/O: socket to 127.0.0.1:...".
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    async def scenario(registry):
        never_set = asyncio.get_running_loop().create_future()

        async def handler(request):
            return web.Response(text=await never_set)  # AWAITS

        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                request = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/"))
                await settle(0.3)
                handling = [task for task in registry.pending() if "_handle_request" in registry.label(task)]
                assert len(handling) == 1, [registry.label(task) for task in registry.pending()]
                chain, text = why(registry, handling[0])
                assert chain.stuck and chain.cause.kind == "unknown", text
                assert f"waits at {here(handler, '# AWAITS')}" in text and "I/O" not in text, text
                never_set.set_result("at last")  # the handler answers: the runner's cleanup need not wait for it
                await request
        finally:
            await runner.cleanup()

    run_scenario(scenario)


def test_a_client_waiting_on_a_server_of_the_same_program_is_followed_to_its_handler():
    # A notebook that runs a service and its client: the client's wait was
    # "not stuck: I/O: socket to ...", where the handler it waits for is stuck.
    async def scenario(registry):
        never = asyncio.Event()

        async def handle(reader, writer):
            await reader.read(5)
            await never.wait()  # HANDLER WAITS
            writer.close()

        async def client(port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello")
            return await reader.read(100)  # CLIENT WAITS

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        asking = asyncio.create_task(client(port))
        await settle(0.2)
        handling = [task for task in registry.pending() if registry.label(task).endswith(".handle())")]
        assert len(handling) == 1, [registry.label(task) for task in registry.pending()]
        chain, text = why(registry, asking)
        assert chain.stuck and [step.task for step in chain.steps] == [asking, handling[0]], text
        assert f"waits at {here(client, '# CLIENT WAITS')}" in text, text
        assert f"served in this program by task {registry.info(handling[0]).id}" in text, text
        assert f"-> task {registry.info(handling[0]).id} waits at {here(handle, '# HANDLER WAITS')}" in text, text
        never.set()
        await asking
        server.close()

    run_scenario(scenario)


def test_a_future_nobody_sets_is_said_once_in_the_list_of_stuck_tasks():
    async def waits(future):
        await future  # WAITS

    async def scenario(registry):
        future = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(waits(future))
        await settle()
        chains, everything = why_all(registry)
        line = next(line for line in everything.splitlines() if line.startswith(f"  task {registry.info(task).id}: "))
        assert line.count("future <Future pending") == 1 and line.endswith(": nothing known sets its result"), everything

    run_scenario(scenario)


def test_an_event_nobody_can_set_and_one_a_live_task_refers_to():
    async def waits(event):
        await event.wait()

    async def will_set(event):
        await asyncio.sleep(30)
        event.set()

    async def scenario(registry):
        forgotten, promised = asyncio.Event(), asyncio.Event()
        lonely = asyncio.create_task(waits(forgotten))
        waiting = asyncio.create_task(waits(promised))
        setter = asyncio.create_task(will_set(promised))
        await settle()
        chain, text = why(registry, lonely)
        assert chain.cause.kind == "dead partner", text
        assert "no live task refers to Event event in its variables" in text and "fairly sure" in text
        chain, text = why(registry, waiting)
        assert chain.cause.kind == "timer" and f"could set it task {registry.info(setter).id}" in text, text

    run_scenario(scenario)


def test_condition_and_barrier_waits():
    async def waits(condition):
        async with condition:
            await condition.wait()  # WAITS

    async def arrives(barrier):
        await barrier.wait()

    async def scenario(registry):
        condition, barrier = asyncio.Condition(), asyncio.Barrier(3)
        cond_task = asyncio.create_task(waits(condition))
        barrier_task = asyncio.create_task(arrives(barrier))
        await settle()
        chain, text = why(registry, cond_task)
        assert chain.cause.kind == "dead partner" and "Condition condition.wait()" in text, text
        chain, text = why(registry, barrier_task)
        assert chain.cause.kind == "dead partner" and "Barrier barrier (1 of 3 waiting)" in text, text

    run_scenario(scenario)


def test_a_condition_whose_lock_is_held_by_a_deadlocked_task():
    async def takes_and_waits(condition, lock):
        async with condition:  # TAKES
            async with lock:
                pass

    async def holds_and_waits(condition, lock):
        async with lock:
            await asyncio.sleep(0.01)
            async with condition:  # WANTS
                pass

    async def scenario(registry):
        condition, lock = asyncio.Condition(), asyncio.Lock()
        a = asyncio.create_task(holds_and_waits(condition, lock))
        await asyncio.sleep(0)
        b = asyncio.create_task(takes_and_waits(condition, lock))
        await settle(0.05)
        chain, text = why(registry, a)
        assert chain.cause.kind == "cycle" and set(chain.cause.tasks) == {a, b}, text

    run_scenario(scenario)


def test_timers_threads_io_and_timeouts_end_the_chain_and_are_not_stuck():
    def blocking():
        import time

        time.sleep(0.5)

    async def in_thread():
        await asyncio.to_thread(blocking)

    async def in_executor():
        await asyncio.get_running_loop().run_in_executor(None, blocking)

    async def sleeper():
        async with asyncio.timeout(20):
            await asyncio.sleep(30)

    async def reader(reader_stream):
        await reader_stream.read(1)

    async def scenario(registry):
        async with silent_server() as port:
            stream, writer = await asyncio.open_connection("127.0.0.1", port)
            tasks = [asyncio.create_task(in_thread()), asyncio.create_task(sleeper()), asyncio.create_task(reader(stream))]
            tasks.append(asyncio.create_task(in_executor()))
            await settle()
            causes = [why(registry, task) for task in tasks]
            assert [chain.cause.kind for chain, _ in causes] == ["thread", "timer", "io", "thread"], [t for _, t in causes]
            assert "a thread: it runs test_timers_threads_io_and_timeouts_end_the_chain_and_are_not_stuck.<locals>.blocking()" in causes[0][1]
            assert causes[3][1].startswith(f"{'task ' + registry.label(tasks[3])} is not stuck: a thread: it runs test_timers")
            # The seconds left, as the timer says them: no tighter than a loaded machine allows.
            left = re.search(r"asyncio\.timeout\(\) expires in (\d+\.\d) s", causes[1][1])
            assert left and 15.0 <= float(left[1]) <= 20.0, causes[1][1]
            assert f"I/O: socket to 127.0.0.1:{port}" in causes[2][1]
            assert why_all(registry)[0] == []
            writer.close()

    run_scenario(scenario)


def test_a_server_serving_forever_is_not_stuck_and_says_where_it_listens():
    async def serve():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        async with server:
            await server.serve_forever()

    async def scenario(registry):
        task = asyncio.create_task(serve())
        await settle()
        chain, text = why(registry, task)
        assert chain.cause.kind == "io", text
        assert re.search(r"is not stuck: I/O: it serves connections on 127\.0\.0\.1:\d+ until the server is closed", text), text
        assert re.search(r"on Server\.serve_forever\(\) on 127\.0\.0\.1:\d+$", text, re.M), text
        _, everything = why_all(registry)
        assert everything.startswith("no stuck task: 1 pending task waits on timers, I/O or threads"), everything
        task.cancel()
        await settle()

    run_scenario(scenario)


def test_async_generators_are_followed():
    async def numbers(lock):
        async with lock:  # INSIDE
            yield 1

    async def consumer(lock):
        async for _ in numbers(lock):
            pass

    async def scenario(registry):
        lock = asyncio.Lock()
        await lock.acquire()
        task = asyncio.create_task(consumer(lock))
        await settle()
        chain, text = why(registry, task)
        assert chain.steps[0].where.lineno == line_of(numbers, "# INSIDE")
        assert "Lock lock (locked, 1 waiting), held by code outside a task" in text or "Lock lock (locked" in text
        lock.release()

    run_scenario(scenario)


def test_a_cancellation_in_progress_says_who_asked_and_where_it_was_caught():
    async def stubborn():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # CAUGHT
            pass
        await asyncio.sleep(30)

    async def scenario(registry):
        task = asyncio.create_task(stubborn())
        await settle()
        registry.cancel([task], "%cancel")
        await settle()
        chain, text = why(registry, task)
        assert chain.cause.kind == "cancelling", text
        assert text.startswith(f"task {chain.label} is stuck: cancellation in progress: it was cancelled and has not ended\n"), text
        assert f"cancelled by %cancel at test_why.py:" in text
        assert f"it caught CancelledError at {here(stubborn, '# CAUGHT')}" in text

    run_scenario(scenario)


def test_a_self_deadlock_a_task_waiting_for_the_lock_it_holds():
    async def again(lock):
        async with lock:
            async with lock:  # AGAIN
                pass

    async def scenario(registry):
        lock = asyncio.Lock()
        task = asyncio.create_task(again(lock))
        await settle()
        chain, text = why(registry, task)
        assert chain.cause.kind == "cycle" and chain.cause.tasks == [task], text

    run_scenario(scenario)


# -- the deadlock watch -----------------------------------------------------------------------------


def test_the_watch_reports_a_lasting_cycle_once_and_nothing_without_contention(monkeypatch):
    monkeypatch.setattr("asyncrepl._deadlocks.PERSISTS", 0.05)
    reports = []

    async def scenario(registry):
        watch = DeadlockWatch(registry, place, lambda: 0.05, emit=lambda message, context: reports.append(message))
        stop = watch.install()
        try:
            await asyncio.sleep(0.3)
            assert watch._handle is None and reports == []  # no lock waited on: never woken
            locks = {"alice": asyncio.Lock(), "bob": asyncio.Lock()}
            one = asyncio.create_task(transfer(locks, "alice", "bob"))
            asyncio.create_task(transfer(locks, "bob", "alice"))
            await asyncio.sleep(0.5)
            assert len(reports) == 1, reports
            assert reports[0].startswith(f"deadlock: task {registry.info(one).id} holds lock locks['alice'] (taken at ")
            assert f"%why {registry.info(one).id} shows the chain" in reports[0]
            assert watch._handle is None  # and it sleeps again
        finally:
            stop()

    run_scenario(scenario)


def test_the_watch_leaves_a_short_lock_convoy_alone(monkeypatch):
    monkeypatch.setattr("asyncrepl._deadlocks.PERSISTS", 0.05)
    reports = []

    async def busy(lock):
        for _ in range(20):
            async with lock:
                await asyncio.sleep(0.005)

    async def scenario(registry):
        watch = DeadlockWatch(registry, place, lambda: 0.05, emit=lambda message, context: reports.append(message))
        stop = watch.install()
        try:
            lock = asyncio.Lock()
            await asyncio.gather(*(busy(lock) for _ in range(5)))
            await asyncio.sleep(0.2)
            assert reports == []
        finally:
            stop()

    run_scenario(scenario)


# -- the magic ----------------------------------------------------------------------------------


SETUP = """\
import asyncio
locks = {"alice": asyncio.Lock(), "bob": asyncio.Lock()}
async def transfer(src, dst):
    async with locks[src]:
        await asyncio.sleep(0.01)
        async with locks[dst]:
            pass
async def nap():
    await asyncio.sleep(100)
"""


@pytest.fixture
def ip(shell, capsys):
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.run_cell(SETUP, store_history=True)
    capsys.readouterr()
    yield shell
    shell.run_cell("for _t in asyncio.all_tasks():\n    _t is asyncio.current_task() or _t.cancel()")
    shell.run_cell("await asyncio.sleep(0.01)")


def test_why_with_an_id_shows_the_chain_with_the_cells_lines(ip, capsys):
    setup = f"In [{ip.execution_count - 1}]"  # the cell that defined transfer() (the shell is shared by the tests)
    run(ip, capsys, "one = asyncio.create_task(transfer('alice', 'bob')); two = asyncio.create_task(transfer('bob', 'alice'))")
    run(ip, capsys, "await asyncio.sleep(0.05)")
    _, out = run(ip, capsys, "%why 1")
    assert re.match(r"task 1 'Task-\d+' \(transfer\(\)\) is stuck: deadlock: tasks 1, 2 wait on each other\n", out), out
    assert f"task 1 holds lock locks['alice'] (taken at {setup} line 4) and waits for lock locks['bob'] at {setup} line 6, held by task 2" in out
    assert f"  task 1 waits at {setup} line 6: async with locks[dst]:" in out


def test_why_finds_the_deadlock_among_tasks_a_users_own_task_factory_made(ip, capsys):
    run(ip, capsys, "class MyTask(asyncio.Task):\n    pass\ndef factory(loop, coro, **kwargs):\n    return MyTask(coro, loop=loop, **kwargs)")
    run(ip, capsys, "asyncio.get_running_loop().set_task_factory(factory)")
    try:
        run(ip, capsys, "one = asyncio.create_task(transfer('alice', 'bob')); two = asyncio.create_task(transfer('bob', 'alice'))")
        run(ip, capsys, "await asyncio.sleep(0.05)")
        assert type(ip.user_ns["one"]).__name__ == "MyTask"  # the user's factory made them
        _, out = run(ip, capsys, "%why")
        assert re.match(r"deadlock: tasks \d+, \d+ wait on each other\n", out), out
        assert "holds lock locks['alice']" in out and "holds lock locks['bob']" in out, out
    finally:
        run(ip, capsys, "asyncio.get_running_loop().set_task_factory(None)")


def test_why_without_an_argument_groups_and_o_returns_chains(ip, capsys):
    run(ip, capsys, "asyncio.create_task(transfer('alice', 'bob')); asyncio.create_task(transfer('bob', 'alice')); asyncio.create_task(nap())")
    run(ip, capsys, "await asyncio.sleep(0.05)")
    _, out = run(ip, capsys, "%why")
    assert out.startswith("deadlock: tasks 1, 2 wait on each other") or out.startswith("deadlock: tasks 2, 1 wait on each other"), out
    assert "nap" not in out  # a timer: not stuck
    result, _ = run(ip, capsys, "chains = %why -o\n[(c.cause.kind, sorted(ip_id for ip_id in (1, 2))) for c in chains]")
    assert result.result == [("cycle", [1, 2]), ("cycle", [1, 2])]
    result, _ = run(ip, capsys, "%why -o 3")
    assert result.result.cause.kind == "timer"


def test_why_html_for_jupyter(ip, capsys):
    from asyncrepl._magics.why import WhyReport

    html = WhyReport(["deadlock: tasks 1, 2 wait on each other", "  task 1 holds lock locks['a'] <x>"])._repr_html_()
    assert "<b>deadlock: tasks 1, 2 wait on each other</b>" in html and "&lt;x&gt;" in html


def test_why_bad_input_is_one_line_and_ended_or_running_tasks_say_what_they_do(ip, capsys):
    for line, message in (
        ("%why 99", "UsageError: no task matches '99' (see %tasks and %tasks --done)"),
        ("%why 1 2", "UsageError: usage: %why [-o] [ID|NAME]: one task, or none for every stuck task, not '1 2'"),
        ("%why --tree", "UsageError: usage: %why [-o] [ID|NAME]"),
    ):
        _, out = run(ip, capsys, line)
        assert message in out and "Traceback" not in out, out
    run(ip, capsys, "async def fine():\n    return 42\nt = asyncio.create_task(fine())")
    run(ip, capsys, "await asyncio.sleep(0.01)")
    _, out = run(ip, capsys, "%why 1")
    assert re.fullmatch(r"task 1 'Task-\d+' \(fine\(\)\) is not stuck: it has ended: it returned 42 \(%tasks 1 shows more\)", out.strip()), out
    _, by_variable = run(ip, capsys, "%why t")  # the variable that holds the task names it
    assert by_variable == out, by_variable
    run(ip, capsys, "napping = asyncio.create_task(nap(), name='napper')")
    _, out = run(ip, capsys, "%why napper")
    assert out.startswith("task 2 'napper' (nap()) is not stuck: a timer: it fires in ")
    _, by_variable = run(ip, capsys, "%tasks napping")
    assert by_variable.startswith("task 2 'napper' (nap()): waiting"), by_variable
    _, out = run(ip, capsys, "%why")
    assert out.strip().startswith("no stuck task: 1 pending task wait")


def test_asyncdebug_lists_the_deadlock_setting(ip, capsys):
    _, out = run(ip, capsys, "%asyncdebug")
    assert "deadlocks                  on   lasting 1 s (AsyncRepl.report_deadlocks" in out
    run(ip, capsys, "%config AsyncRepl.report_deadlocks = False")
    _, out = run(ip, capsys, "%asyncdebug")
    assert "deadlocks                  off" in out


def test_tasks_waits_on_says_who_holds_the_lock_and_a_deadlock(ip, capsys):
    run(ip, capsys, "one = asyncio.create_task(transfer('alice', 'bob')); two = asyncio.create_task(transfer('bob', 'alice'))")
    run(ip, capsys, "sem = asyncio.Semaphore(1)\nasync def holds():\n    async with sem:\n        await asyncio.sleep(100)\nasync def wants():\n    async with sem:\n        pass")
    run(ip, capsys, "h = asyncio.create_task(holds()); w = asyncio.create_task(wants())")
    run(ip, capsys, "await asyncio.sleep(0.05)")
    result, _ = run(ip, capsys, "%tasks -o")
    waits = {row.id: row.waits_on for row in result.result}
    assert waits[1] == "Lock (locked, 1 waiting), deadlock with task 2", waits
    assert waits[2] == "Lock (locked, 1 waiting), deadlock with task 1"
    assert waits[4] == "Semaphore sem (0 free, 1 waiting), permits held by task 3"
    _, out = run(ip, capsys, "%tasks --tree")
    assert "deadlock with task 2" in out and "permits held by task 3" in out


# -- on uvloop's loop -------------------------------------------------------------------------------


def test_why_on_uvloops_loop_finds_the_deadlock_the_leak_and_the_io():
    uvloop = pytest.importorskip("uvloop")

    async def leaks(lock):
        await lock.acquire()  # never released
        raise ValueError("gave up")

    async def waits(lock):
        async with lock:
            pass

    async def reads(stream):
        await stream.read(1)

    async def scenario(registry):
        locks = {"alice": asyncio.Lock(), "bob": asyncio.Lock()}
        one = asyncio.create_task(transfer(locks, "alice", "bob"))
        two = asyncio.create_task(transfer(locks, "bob", "alice"))
        pool = asyncio.Lock()
        leaker = asyncio.create_task(leaks(pool))
        waiter = asyncio.create_task(waits(pool))
        async with silent_server() as port:
            stream, writer = await asyncio.open_connection("127.0.0.1", port)
            reader = asyncio.create_task(reads(stream))
            await settle(0.05)
            chain, text = why(registry, one)
            assert chain.cause.kind == "cycle" and set(chain.cause.tasks) == {one, two}, text
            assert f"holds lock locks['alice'] (taken at {here(transfer, '# FIRST')})" in text, text
            chain, text = why(registry, waiter)
            assert chain.cause.kind == "leak" and "raised ValueError: gave up" in text, text
            chain, text = why(registry, reader)
            assert chain.cause.kind == "io" and f"127.0.0.1:{port}" in text, text
            assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
            leaker.exception()  # looked at: no report of it at the end
            writer.close()

    run_scenario(scenario, loop_factory=uvloop.new_event_loop)
