"""The loop monitor without IPython: who holds the loop, for how long, and the loop's lag."""

import asyncio
import inspect
import os
import re
import threading
import time

import pytest

from asyncrepl._monitor import BlockedLoopReporter, LagStats, LoopMonitor, _SelectorProbe
from asyncrepl._tasks import TaskRegistry


def line_of(function, marker):
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, text in enumerate(lines) if marker in text)


def watch(scenario, threshold=0.1):
    """Run scenario() on a loop watched by a LoopMonitor that reports blocked steps."""

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        monitor = LoopMonitor(loop, threshold, describe=lambda task, hold: registry.label(task))
        monitor.held.subscribe(BlockedLoopReporter(loop, registry))
        monitor.start()
        try:
            await scenario()
            await asyncio.sleep(0.05)  # the reports are printed on the loop
        finally:
            monitor.stop()
            registry.uninstall()

    asyncio.run(main())


async def blocker():
    await asyncio.sleep(0.05)
    time.sleep(0.4)  # BLOCKING LINE


def test_names_the_task_and_the_line_that_blocked(capsys):
    async def scenario():
        await asyncio.create_task(blocker(), name="blk")

    watch(scenario)
    err = capsys.readouterr().err
    assert err.count("asyncrepl:") == 1  # once per step
    assert re.search(r"task \d+ 'blk' \(blocker\(\)\) held the loop for 0\.[345]\d s", err), err
    assert f"at test_monitor.py:{line_of(blocker, 'BLOCKING LINE')}: time.sleep(0.4)" in err


async def blocker_then_quick_line():
    await asyncio.sleep(0.05)
    time.sleep(0.4)  # SLOW LINE
    time.sleep(0.03)  # QUICK LINE, where the last samples land


def test_the_line_reported_is_where_the_step_spent_its_time(capsys):
    # A blocking request, then reading its answer: the report named the line
    # the last sample found (the read), not the request.
    async def scenario():
        await asyncio.create_task(blocker_then_quick_line(), name="blk")

    watch(scenario)
    err = capsys.readouterr().err
    assert f"at test_monitor.py:{line_of(blocker_then_quick_line, 'SLOW LINE')}: time.sleep(0.4)" in err, err


def test_quiet_when_nothing_blocks(capsys):
    async def scenario():
        await asyncio.gather(*(asyncio.sleep(0.01) for _ in range(200)))
        await asyncio.sleep(0.3)

    watch(scenario)
    assert capsys.readouterr().err == ""


def test_a_busy_loop_running_many_short_steps_is_not_blamed_on_one_of_them(capsys):
    async def step():
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    async def scenario():
        await asyncio.gather(*(step() for _ in range(30_000)))  # one iteration takes > 0.05 s

    watch(scenario, threshold=0.05)
    assert capsys.readouterr().err == ""


async def cpu_bound(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end: pass  # CPU LINE (one line: 3.14 samples the body's line)  # noqa: E701


def test_two_long_steps_in_one_iteration_are_each_reported(capsys):
    # Two tasks created together run back to back in the same iteration, as in
    # the books' chapter on CPU-bound code.
    async def scenario():
        first = asyncio.create_task(cpu_bound(0.3), name="first")
        second = asyncio.create_task(cpu_bound(0.3), name="second")
        await first
        await second

    watch(scenario)
    err = capsys.readouterr().err
    line = line_of(cpu_bound, "CPU LINE")
    for name in ("first", "second"):
        assert re.search(
            rf"task \d+ '{name}' \(cpu_bound\(\)\) held the loop for 0\.[234]\d s at test_monitor.py:{line}", err
        ), err
    assert err.count("asyncrepl:") == 2


def test_one_task_blocking_in_two_steps_is_reported_twice(capsys):
    async def busy():
        time.sleep(0.25)  # FIRST
        await asyncio.sleep(0)
        time.sleep(0.25)  # SECOND

    async def scenario():
        await asyncio.create_task(busy(), name="busy")

    watch(scenario)
    err = capsys.readouterr().err
    assert err.count("held the loop for 0.2") == 2, err
    assert f"test_monitor.py:{line_of(busy, 'FIRST')}" in err and f"test_monitor.py:{line_of(busy, 'SECOND')}" in err


def test_names_a_callback(capsys):
    async def scenario():
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)
        await asyncio.sleep(0.4)

    watch(scenario)
    err = capsys.readouterr().err
    assert "a callback held the loop for 0." in err


def test_the_threshold_is_read_live():
    seen = []

    async def main():
        loop = asyncio.get_running_loop()
        threshold = [0.5]
        monitor = LoopMonitor(loop, lambda: threshold[0])
        monitor.held.subscribe(seen.append)
        monitor.start()
        try:
            time.sleep(0.2)  # under 0.5: not a hold
            await asyncio.sleep(0.05)
            threshold[0] = 0.1
            time.sleep(0.2)  # over 0.1 now
            await asyncio.sleep(0.05)
        finally:
            monitor.stop()

    asyncio.run(main())
    assert len(seen) == 1 and 0.15 < seen[0].duration < 0.35


def test_the_monitor_sleeps_while_the_loop_waits():
    """An idle loop costs nothing: no sample taken, no thread wakeup, no timer."""
    sampled = []

    async def main():
        loop = asyncio.get_running_loop()
        monitor = LoopMonitor(loop, 0.1)
        original = monitor._sample
        monitor._sample = lambda *args: (sampled.append(args), original(*args))
        monitor.start()
        try:
            assert isinstance(monitor.probe, _SelectorProbe)
            await asyncio.sleep(1.0)  # the loop waits in select() for a whole second
            assert sampled == []
            assert not [h for h in loop._scheduled if not h.cancelled()]  # no heartbeat timer
        finally:
            monitor.stop()

    asyncio.run(main())


def test_ctrl_c_asks_who_held_the_loop():
    answers = {}

    async def spin():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            if time.monotonic() > end - 0.2 and "held" not in answers:
                # What the SIGINT handler would see now, from the loop's thread.
                task = asyncio.current_task()
                answers["held"] = monitor.holding(task, inspect.currentframe(), at_least=0.1)
                answers["other"] = monitor.holding(other, inspect.currentframe(), at_least=0.1)
                answers["too long"] = monitor.holding(task, inspect.currentframe(), at_least=5)

    async def main():
        global monitor, other
        loop = asyncio.get_running_loop()
        monitor = LoopMonitor(loop, 0.1)
        monitor.start()
        other = asyncio.create_task(asyncio.sleep(10))
        try:
            await asyncio.sleep(0.01)
            assert monitor.holding(None, inspect.currentframe(), at_least=0) is None  # nothing holds it now
            await asyncio.create_task(spin())
        finally:
            other.cancel()
            monitor.stop()

    asyncio.run(main())
    assert answers["held"] is not None and answers["held"].samples >= 2
    assert answers["other"] is None and answers["too long"] is None


def test_the_selector_probe_is_put_back():
    async def main():
        loop = asyncio.get_running_loop()
        selector = loop._selector
        monitor = LoopMonitor(loop, 0.1)
        monitor.start()
        assert loop._selector is not selector
        await asyncio.sleep(0.01)
        monitor.stop()
        assert loop._selector is selector
        assert not [t for t in threading.enumerate() if t.name == "asyncrepl-monitor"]

    asyncio.run(main())


# -- lag --------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_lag_is_zero_while_the_loop_waits_and_weighted_by_time():
    clock = Clock()
    lag = LagStats(clock)
    # 60 s: 1,000 iterations of 1 ms, and one of 1.2 s (2% of the time).
    for _ in range(1000):
        lag.add(clock.now, clock.now + 0.001)
        clock.now += 0.05
    lag.add(clock.now, clock.now + 1.2)
    clock.now += 10.0
    p50, p99 = lag.percentiles((0.5, 0.99))
    assert p50 == 0.0  # the loop waited most of the time
    assert 0.4 < p99 < 1.2  # during the 1.2 s iteration, lag fell from 1.2 s to 0
    assert lag.maximum() == pytest.approx(1.2)


def test_lag_forgets_what_is_older_than_a_minute():
    clock = Clock()
    lag = LagStats(clock)
    lag.add(clock.now, clock.now + 2.0)
    clock.now += 75
    lag.add(clock.now, clock.now + 0.002)
    assert lag.maximum() == pytest.approx(0.002)
    assert lag.percentiles((0.99,))[0] < 0.002


# -- %asyncdebug's lag report, in IPython's in-process shell ------------------------------------


def test_asyncdebug_shows_the_lag_and_the_longest_holds(shell, capsys):
    from conftest import run_cell

    shell.run_line_magic("load_ext", "asyncrepl")
    run_cell(shell, capsys, "import asyncio, time\nasync def blocker():\n    time.sleep(0.3)\n")
    blocker_cell = shell.execution_count - 1
    _, out = run_cell(shell, capsys, "await asyncio.create_task(blocker(), name='blk')")
    assert "held the loop for 0.3" in out
    _, out = run_cell(shell, capsys, "%asyncdebug")
    lag_line = next(line for line in out.splitlines() if line.startswith("loop lag, last"))
    assert re.search(r"p50 [\d.]+ \S+, p99 [\d.]+ \S+, max 3\d\d ms", lag_line), lag_line
    assert re.search(
        rf"^  0\.3\d s  \d+ 'blk' \(blocker\(\)\) at In \[{blocker_cell}\] line 3: time.sleep\(0.3\) \(\d+ s ago\)$",
        out,
        re.M,
    ), out
    result, _ = run_cell(shell, capsys, "%asyncdebug -o")
    report = result.result
    assert 0.3 <= report.max < 1 and report.p50 <= report.p99 <= report.max
    assert report.holds[0].who.endswith("'blk' (blocker())") and 0.29 < report.holds[0].duration < 1


def test_asyncdebug_names_a_cells_own_computing_as_the_cell(shell, capsys):
    # In ipykernel a cell runs in the kernel's shell_main task: an import in
    # a cell was listed as "r4 'Task-12' (Kernel.shell_main())".
    from conftest import run_cell

    shell.run_line_magic("load_ext", "asyncrepl")
    run_cell(shell, capsys, "import asyncio, time")
    _, out = run_cell(shell, capsys, "await asyncio.sleep(0)\ntime.sleep(0.3)")
    cell = shell.execution_count - 1
    _, out = run_cell(shell, capsys, "%asyncdebug")
    assert re.search(rf"^  0\.3\d s  In \[{cell}\] \(the cell's own code\) at In \[{cell}\] line 2: time.sleep\(0.3\)", out, re.M), out


def test_asyncdebug_names_ipython_drawing_a_cells_error_as_ipythons_not_the_cells(shell, capsys):
    # IPython draws a cell's traceback in the cell's own task; a long one
    # (a library's deep stack) held the loop, listed as the cell's own code.
    # Here the drawing is slow in a library's frame (site-packages).
    import sysconfig

    from conftest import run_cell

    shell.run_line_magic("load_ext", "asyncrepl")
    library = {"time": time}
    source = "def render(self):\n    time.sleep(0.3)\n    return ['SlowError: drawn slowly']\n"
    exec(compile(source, os.path.join(sysconfig.get_paths()["purelib"], "slow_render.py"), "exec"), library)
    shell.user_ns["render"] = library["render"]
    run_cell(shell, capsys, "import asyncio\nclass SlowError(Exception):\n    _render_traceback_ = render")
    _, out = run_cell(shell, capsys, "await asyncio.sleep(0)\nraise SlowError()")
    assert "SlowError: drawn slowly" in out, out
    cell = shell.execution_count - 1
    _, out = run_cell(shell, capsys, "%asyncdebug")
    assert re.search(rf"^  \d\.\d\d s  In \[{cell}\] \(IPython's code around it: showing its error or output\)", out, re.M), out
    assert "the cell's own code" not in out, out


def test_current_lag_is_zero_while_the_loop_waits_and_grows_while_a_step_holds_it():
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        monitor = LoopMonitor(loop, 10)  # never reports
        monitor.start()
        try:
            await asyncio.sleep(0.05)
            idle_reader = threading.Timer(0.1, lambda: seen.setdefault("waiting", monitor.current_lag()))
            idle_reader.start()
            await asyncio.sleep(0.3)  # the loop waits for its timer the whole while
            idle_reader.join()
            reader = threading.Timer(0.1, lambda: seen.setdefault("holding", monitor.current_lag()))
            reader.start()
            time.sleep(0.3)  # holds the loop; the thread reads the lag meanwhile
            reader.join()
        finally:
            monitor.stop()
        return monitor.current_lag()

    stopped = asyncio.run(main())
    assert seen["waiting"] == 0.0
    assert 0.05 < seen["holding"] < 5  # about 0.1 s, with a generous bound
    assert stopped == 0.0 or stopped < 1


def test_code_run_inline_is_never_reported_nor_counted_to_the_callback_after_it():
    # A cell that never awaits runs inline, at the start of an iteration (no
    # task, no callback): a 0.3 s cell, then a 20 ms callback it scheduled,
    # must not make "a callback held the loop for 0.3 s".
    seen = []
    loop = asyncio.new_event_loop()
    try:
        monitor = LoopMonitor(loop, 0.1)
        monitor.held.subscribe(seen.append)
        monitor.start()
        ran = []

        def cell_code():
            time.sleep(0.3)
            loop.call_soon(time.sleep, 0.03)
            ran.append(True)

        assert monitor.can_run_inline()
        monitor.run_inline(cell_code)
        loop.run_forever()  # one iteration: the code, then the callback
        monitor.paused()
        loop.run_until_complete(asyncio.sleep(0.05))
        monitor.stop()
    finally:
        loop.close()
    assert ran == [True]
    assert seen == [], [(hold.who, hold.duration) for hold in seen]


def test_a_step_the_monitors_samples_missed_is_reported_from_asyncios_timing(shell, capsys, caplog):
    # On a loaded machine the monitor's thread may not run while a step holds
    # the loop, so there are no samples to report the step from.  It went
    # unreported (one of two back-to-back CPU-bound tasks, in the terminal
    # and the kernel); debug mode's own timing of the step reports it now,
    # in asyncrepl's words and to the task's cell, without the line.
    import asyncrepl
    from conftest import run_cell

    shell.run_line_magic("load_ext", "asyncrepl")
    monitor = asyncrepl._loaded[id(shell)].session.monitor
    shell.user_ns["monitor_is_busy"] = monitor._lock  # held, the monitor's thread cannot sample
    run_cell(shell, capsys, "import asyncio, time\nasync def unseen():\n    with monitor_is_busy:\n        time.sleep(0.3)\n")
    caplog.clear()
    _, out = run_cell(shell, capsys, "await asyncio.create_task(unseen(), name='unseen')")
    assert re.fullmatch(r"asyncrepl: task \d+ 'unseen' \(unseen\(\)\) held the loop for 0\.3\d s\n", out), out
    assert not [record for record in caplog.records if record.name == "asyncio"]  # not twice
    # A callback so missed is named as its Handle knows it.
    run_cell(shell, capsys, "def unseen_callback():\n    with monitor_is_busy:\n        time.sleep(0.3)\n")
    _, out = run_cell(shell, capsys, "asyncio.get_running_loop().call_soon(unseen_callback)\nawait asyncio.sleep(0.01)")
    assert re.fullmatch(r"asyncrepl: a callback \(unseen_callback\) held the loop for 0\.3\d s\n", out), out
    # A step the samples saw: reported once, with its line.
    run_cell(shell, capsys, "async def seen():\n    time.sleep(0.3)\n")
    _, out = run_cell(shell, capsys, "await asyncio.create_task(seen(), name='seen')")
    assert re.fullmatch(r"asyncrepl: task \d+ 'seen' \(seen\(\)\) held the loop for 0\.3\d s at In \[\d+\] line 2: time.sleep\(0.3\)\n", out), out
    assert not [record for record in caplog.records if record.name == "asyncio"]
