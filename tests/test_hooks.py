"""Hooks with many subscribers: every one is told, a failing one is logged and
detached, and nothing of its error reaches the loop (the monitor's hooks are
called from inside the selector's select() and from the monitor's thread)."""

import asyncio
import logging
import signal
import time

import pytest

from asyncrepl._hooks import Hook
from asyncrepl._interrupt import Interrupter
from asyncrepl._monitor import BlockedLoopReporter, LoopMonitor
from asyncrepl._tasks import TaskRegistry


def test_every_subscriber_is_told_in_order():
    hook, seen = Hook("ended"), []
    hook.subscribe(lambda x: seen.append(("a", x)))
    hook.subscribe(lambda x: seen.append(("b", x)))
    hook(1)
    assert seen == [("a", 1), ("b", 1)]


def test_a_failing_subscriber_is_logged_once_and_detached(caplog):
    hook, seen = Hook("ended"), []

    def broken(x):
        raise ValueError("broken subscriber")

    hook.subscribe(broken)
    hook.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="asyncrepl"):
        hook(1)
        hook(2)
    assert seen == [1, 2]
    assert len(hook) == 1
    assert [r.getMessage() for r in caplog.records if "broken" in (r.exc_text or "")] != []
    assert sum("'ended' hook failed" in r.getMessage() for r in caplog.records) == 1


def test_unsubscribe_and_empty_hooks_are_false():
    hook = Hook("h")
    assert not hook
    unsubscribe = hook.subscribe(print)
    assert hook
    unsubscribe()
    assert not hook
    unsubscribe()  # twice is fine


def test_fold_and_any_skip_a_failing_subscriber():
    hook = Hook("wrap")
    hook.subscribe(lambda v: v + 1)
    hook.subscribe(lambda v: 1 / 0)
    hook.subscribe(lambda v: v * 10)
    assert hook.fold(1) == 20
    asks = Hook("asks")
    asks.subscribe(lambda t: 1 / 0)
    asks.subscribe(lambda t: t == "x")
    assert asks.any("x") and not asks.any("y")


def test_two_subscribers_of_the_monitor_both_hear_of_a_blocked_loop_and_a_broken_one_harms_nothing(capsys):
    heard, iterations = [], []

    async def main():
        loop = asyncio.get_running_loop()
        registry = TaskRegistry(loop)
        registry.install()
        monitor = LoopMonitor(loop, 0.1, describe=lambda task, hold: registry.label(task))
        monitor.held.subscribe(BlockedLoopReporter(loop, registry))
        monitor.held.subscribe(heard.append)
        monitor.iteration_ended.subscribe(lambda start, end: 1 / 0)  # inside select(): must not escape
        monitor.iteration_ended.subscribe(lambda start, end: iterations.append(end))
        monitor.sampled.subscribe(lambda hold: 1 / 0)  # on the monitor's thread: must not kill it
        monitor.start()
        await asyncio.sleep(0)  # watched from the next iteration on
        try:
            time.sleep(0.3)
            await asyncio.sleep(0.05)
            time.sleep(0.3)  # the monitor's thread still samples
            await asyncio.sleep(0.05)
        finally:
            monitor.stop()
            registry.uninstall()

    asyncio.run(main())
    assert len(heard) == 2
    assert capsys.readouterr().err.count("held the loop for") == 2
    assert iterations


def test_blocked_loop_report_stays_quiet_about_a_task_another_part_named():
    loop = asyncio.new_event_loop()
    try:
        reporter = BlockedLoopReporter(loop)
        named = set()
        reporter.named_elsewhere.subscribe(named.__contains__)
        task = loop.create_task(asyncio.sleep(0))
        named.add(task)
        assert reporter.named_elsewhere.any(task)
        loop.run_until_complete(task)
    finally:
        loop.close()


def test_interrupt_routes_nest_the_outer_one_comes_back():
    loop = asyncio.new_event_loop()
    try:
        interrupter = Interrupter(loop, TaskRegistry(loop), LoopMonitor(loop), cells=None)
        seen = []
        with interrupter.routed("outside_loop", lambda: seen.append("outer")):
            with interrupter.routed("outside_loop", lambda: seen.append("inner")):
                interrupter(signal.SIGINT, None)
            interrupter(signal.SIGINT, None)
        assert seen == ["inner", "outer"]
        with pytest.raises(KeyboardInterrupt):
            interrupter(signal.SIGINT, None)  # no route: as plain Python
    finally:
        loop.close()
