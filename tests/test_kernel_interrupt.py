"""Interrupt (Ctrl-C) and blocked-loop reports in a real ipykernel, driven through jupyter_client.

Issue 13: an interrupted awaiting cell shows one line; Interrupt stops a
background task that holds the loop (the kernel answers again); blocked-loop
reports are the terminal's.
"""

import re
import time

import pytest

from harness import strip_escapes

pytestmark = pytest.mark.kernel


@pytest.fixture
def loaded(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    return k


def test_interrupting_an_awaiting_cell_shows_one_line_and_runs_its_finally(loaded):
    msg_id = loaded.start(
        "import asyncio\ntry:\n    await asyncio.sleep(30)\nfinally:\n    print('cleaned up')\n",
        stop_on_error=False,  # ipykernel 6 would abort the next request, which arrives right after
    )
    time.sleep(1.0)
    loaded.interrupt()
    reply = loaded.finish(msg_id, timeout=10)  # at once: plain ipykernel 7.4 waits for the loop's next timer
    assert reply.stdout == "cleaned up\n"
    assert reply.status == "error" and reply.error["ename"] == "KeyboardInterrupt"
    assert reply.error["traceback"] == ["KeyboardInterrupt: the cell was waiting at In [2] line 3: await asyncio.sleep(30)"]
    assert "CancelledError" not in reply.stderr and "tasks.py" not in reply.stderr
    assert loaded.execute("1 + 1").results == ["2"]


SPIN = "import asyncio\nasync def spin():\n    await asyncio.sleep(0.3)\n    while True:\n        pass\n"


def test_interrupt_stops_a_spinning_background_task_while_the_kernel_is_idle(loaded):
    loaded.execute(SPIN)
    spawn = loaded.execute("spinner = asyncio.create_task(spin())")
    assert spawn.status == "ok"
    time.sleep(1.0)  # the kernel is frozen now: the task holds the loop
    loaded.interrupt()
    reply = loaded.execute("spinner.cancelled()", timeout=10)
    assert reply.results == ["True"]
    said = "".join(loaded.late.values())  # the report goes to the cell that made the task
    # In Jupyter the key is called Interrupt.
    assert re.search(r"asyncrepl: Interrupt cancelled task \d+ '[^']+' \(spin\(\)\), which held the loop at In \[\d+\] line [45]", said), said


def test_interrupt_stops_a_spinning_task_and_the_awaiting_cell(loaded):
    loaded.execute(SPIN)
    msg_id = loaded.start("spinner = asyncio.create_task(spin())\nawait asyncio.sleep(30)", stop_on_error=False)
    time.sleep(1.0)
    loaded.interrupt()
    reply = loaded.finish(msg_id, timeout=10)
    assert reply.error is not None and reply.error["ename"] == "KeyboardInterrupt"
    assert "Interrupt cancelled task" in reply.stderr and "(spin())" in reply.stderr
    assert loaded.execute("spinner.cancelled()", timeout=10).results == ["True"]


def test_interrupt_of_a_running_sync_cell_is_ipykernels_own(loaded):
    msg_id = loaded.start("import time\nfor i in range(100):\n    time.sleep(0.1)\n")
    time.sleep(1.0)
    loaded.interrupt()
    reply = loaded.finish(msg_id, timeout=10)
    traceback = strip_escapes("\n".join(reply.error["traceback"]))
    assert reply.error["ename"] == "KeyboardInterrupt"
    assert "----> 3     time.sleep(0.1)" in traceback and "asyncrepl" not in traceback


def test_an_interrupt_while_idle_and_nothing_holds_the_loop_changes_nothing(loaded):
    loaded.execute(
        "import asyncio\nbeats = []\nasync def beat():\n    while True:\n        beats.append(1)\n        await asyncio.sleep(0.02)\n"
        "beater = asyncio.create_task(beat())"
    )
    for _ in range(5):
        loaded.interrupt()
        time.sleep(0.2)
    assert loaded.execute("beater.done()").results == ["False"]
    before = int(loaded.execute("len(beats)").results[0])
    time.sleep(0.5)
    assert int(loaded.execute("len(beats)").results[0]) > before + 5


def test_a_task_blocking_twice_is_reported_twice_in_its_cell(loaded):
    reply = loaded.execute(
        "import asyncio, time\n"
        "async def busy():\n"
        "    time.sleep(0.5)\n"
        "    await asyncio.sleep(0)\n"
        "    time.sleep(0.5)\n"
        "await asyncio.create_task(busy())\n"
    )
    reports = re.findall(r"asyncrepl: task \d+ '[^']+' \(busy\(\)\) held the loop for 0\.\d+ s at In \[\d+\] line (\d)", reply.stderr)
    assert reports == ["3", "5"], reply.stderr
