"""Loop management written for scripts, in a real kernel: each pattern runs as
its script does, and the kernel keeps answering."""

import time

import pytest

from harness import strip_escapes

pytestmark = pytest.mark.kernel

MAIN = """\
import asyncio, signal
async def main():
    await asyncio.sleep(1)
    print('main done')
    return 'result'
"""


@pytest.fixture
def loaded(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    assert k.execute(MAIN).status == "ok"
    return k


def test_queued_cells_after_an_asyncio_run_all_get_their_reply(loaded):
    # Run All: the kernel's own tasks for the messages that arrive while
    # main() runs are not main()'s to clean up.
    cells = ["x = 1", "asyncio.run(main())", "x += 1", "await asyncio.sleep(0.1)", "x += 1", "x"]
    ids = [loaded.start(code) for code in cells]
    completion = loaded.client.complete("asyncio.sle", 11)  # answered after the cells (one at a time)
    replies = [loaded.finish(msg_id, timeout=30) for msg_id in ids]
    assert [reply.status for reply in replies] == ["ok"] * 6
    assert replies[1].stdout == "main done\n" and replies[-1].results == ["3"]
    while True:
        message = loaded.client.get_shell_msg(timeout=10)
        if message["parent_header"].get("msg_id") == completion:
            break
    assert message["content"]["status"] == "ok" and any("sleep" in m for m in message["content"]["matches"])


def test_asyncio_run_in_a_function_runs_as_in_a_script(loaded):
    reply = loaded.execute("def deeper():\n    return asyncio.run(main())\ndeeper()")
    assert reply.status == "ok", reply.error
    assert reply.stdout == "main done\n" and reply.results == ["'result'"]
    assert "on a fresh loop, as in a script" in reply.stderr


def test_a_never_retrieved_exception_is_reported_inside_its_cell(loaded):
    # The Python docs' example; nbclient keeps only what arrives before the cell ends.
    reply = loaded.execute(
        "async def bug():\n    raise Exception('not consumed')\n"
        "async def main2():\n    asyncio.create_task(bug())\nasyncio.run(main2())"
    )
    assert "Exception: not consumed" in reply.stderr


def test_a_signal_handler_installed_by_main_goes_when_the_run_ends(loaded):
    reply = loaded.execute(
        "before = signal.getsignal(signal.SIGINT)\n"
        "async def with_handler():\n"
        "    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, print, 'handled')\n"
        "    await asyncio.sleep(0.01)\n"
        "asyncio.run(with_handler())"
    )
    assert reply.status == "ok", reply.error
    # Interrupt still cancels an awaiting cell, and the kernel lives on.
    msg_id = loaded.start("await asyncio.sleep(30)", stop_on_error=False)
    time.sleep(1)
    loaded.interrupt()
    reply = loaded.finish(msg_id, timeout=15)
    assert reply.status == "error" and reply.error["ename"] == "KeyboardInterrupt"
    assert loaded.execute("1 + 1").results == ["2"]


def test_a_task_that_stops_the_loop_ends_run_forever_and_not_the_kernel(loaded):
    reply = loaded.execute(
        "async def stopper():\n    await asyncio.sleep(0.05)\n    asyncio.get_running_loop().stop()\n"
        "loop = asyncio.get_event_loop()\nloop.create_task(stopper())\nloop.run_forever()\nprint('after')"
    )
    assert reply.status == "ok", reply.error
    assert reply.stdout == "after\n"
    time.sleep(0.3)
    assert loaded.execute("1 + 1").results == ["2"]


def test_a_failing_main_shows_the_line_as_typed(loaded):
    reply = loaded.execute("async def boom():\n    raise ValueError('boom')\nasyncio.run(boom())")
    assert reply.status == "error" and reply.error["ename"] == "ValueError"
    traceback = strip_escapes("\n".join(reply.error["traceback"]))
    assert "asyncio.run(boom())" in traceback and "_entry" not in traceback
    assert "failed" not in reply.stderr  # the cell's error, shown once, not a task report
