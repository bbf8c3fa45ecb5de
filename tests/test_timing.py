"""The async timer, without IPython."""

import asyncio
import re
import sys

import pytest

from asyncrepl._timing import (
    AsyncTimeitResult,
    AsyncTimer,
    NotAwaitableError,
    NothingToAwaitError,
    format_time,
    paused_debug,
    plan_timing,
    time_once,
)


async def noop():
    pass


async def add_one(x):
    return x + 1


def namespace():
    return {"asyncio": asyncio, "noop": noop, "add_one": add_one, "calls": []}


def run(coro, debug=False):
    return asyncio.run(coro, debug=debug)


@pytest.mark.parametrize(
    "statement, awaitable, timed",
    [
        ("add_one(1)", True, "add_one(1)"),
        ("await add_one(1)", True, "await add_one(1)"),  # kept as typed, for tracebacks
        ("asyncio.sleep(0.01)", True, "asyncio.sleep(0.01)"),
        ("x = await add_one(1)", False, "x = await add_one(1)"),
        ("await noop(); await noop()", False, "await noop(); await noop()"),
        ("async with lock:\n    pass", False, "async with lock:\n    pass"),
    ],
)
def test_plans_tell_expressions_from_code(statement, awaitable, timed):
    plan = plan_timing(statement)
    assert (plan.awaitable, plan.statement) == (awaitable, timed)


def test_plain_statements_have_nothing_to_await():
    with pytest.raises(NothingToAwaitError):
        plan_timing("x = 1")
    with pytest.raises(NothingToAwaitError):
        plan_timing("async def f():\n    await g()")  # the await is in another scope
    with pytest.raises(SyntaxError):
        plan_timing("noop(")
    with pytest.raises(SyntaxError):
        plan_timing("noop()", setup="x = (")


@pytest.mark.parametrize(
    "statement, message",
    [
        ("await noop(); return 0", "'return' outside function"),
        ("return 3", "'return' outside function"),
        ("await noop(); yield 1", "'yield' outside function"),
        ("await noop(); break", "'break' outside loop"),
        ("await noop(); continue", "'continue' not properly in loop"),
        ("await noop(); nonlocal x", "nonlocal declaration not allowed at module level"),
    ],
)
def test_code_that_a_cell_cannot_hold_is_a_syntax_error_not_a_wrong_time(statement, message):
    # In the timing function, "return 0" would end the loop at once and time
    # nothing ("0 ns"); as a cell, IPython would say SyntaxError: so do we.
    for where in ({"statement": statement}, {"statement": "noop()", "setup": statement}):
        with pytest.raises(SyntaxError) as info:
            plan_timing(**where, filename="<cell>", statement_line=2)
        assert info.value.msg == message and info.value.filename == "<cell>"
    assert info.value.lineno == 1  # the setup's line
    with pytest.raises(SyntaxError) as info:
        plan_timing(f"await noop()\n{statement}", filename="<cell>", statement_line=2)
    assert info.value.lineno == 3  # the statement's second line, counted in the cell


def test_errors_point_at_the_users_line():
    ns = namespace()
    source = "await noop()\n[] + missing"

    async def main():
        await AsyncTimer(plan_timing(source, filename="<cell>", statement_line=2), ns).timeit(1)

    with pytest.raises(NameError) as info:
        run(main())
    frame = info.traceback[-1]
    assert (frame.path, frame.lineno + 1, frame.name) == ("<cell>", 3, "inner")


def test_sleep_reads_its_own_duration():
    async def main():
        timer = AsyncTimer(plan_timing("asyncio.sleep(0.02)"), namespace())
        return await timer.repeat(3, 2)

    runs = run(main())
    assert len(runs) == 3
    for seconds in runs:
        assert 0.035 <= seconds <= 0.2  # two loops of about 20 ms


def test_the_loop_runs_inside_one_coroutine_in_the_given_namespace():
    ns = namespace()

    async def record():
        ns["calls"].append(asyncio.current_task())

    ns["record"] = record

    async def main():
        timer = AsyncTimer(plan_timing("record()"), ns)
        await timer.timeit(5)
        return asyncio.current_task()

    task = run(main())
    assert ns["calls"] == [task] * 5  # awaited in the caller's task, no task per loop


def test_code_with_awaits_and_setup_runs_as_written():
    ns = namespace()
    plan = plan_timing("calls.append(await add_one(start))", setup="start = 41")

    async def main():
        await AsyncTimer(plan, ns).timeit(3)

    run(main())
    assert ns["calls"] == [42, 42, 42]
    assert "start" not in ns  # setup is local to the timing function, as in %timeit


def test_autorange_picks_a_power_of_ten_reaching_two_tenths_of_a_second():
    async def main():
        timer = AsyncTimer(plan_timing("asyncio.sleep(0.03)"), namespace())
        return await timer.autorange()

    assert run(main()) == 10  # 1 loop: 0.03 s, 10 loops: 0.3 s


def test_the_first_run_checks_the_expression_is_awaitable():
    async def main(statement):
        await AsyncTimer(plan_timing(statement), namespace()).check()

    with pytest.raises(NotAwaitableError) as info:
        run(main("1 + 1"))
    assert info.value.value == 2
    run(main("add_one(1)"))  # fine


def test_errors_of_the_timed_code_propagate_unchanged():
    ns = namespace()

    async def boom():
        raise KeyError("inside")

    ns["boom"] = boom

    async def main():
        await AsyncTimer(plan_timing("boom()"), ns).timeit(3)

    with pytest.raises(KeyError, match="inside"):
        run(main())


def test_concurrency_runs_copies_at_once():
    async def main(concurrency):
        timer = AsyncTimer(plan_timing("asyncio.sleep(0.05)"), namespace(), concurrency=concurrency)
        return (await timer.repeat(1, 2))[0] / 2

    per_loop = run(main(20))
    assert 0.04 <= per_loop <= 0.3  # 20 sleeps at once take one sleep, not 1 s
    result = AsyncTimeitResult(2, 1, per_loop, per_loop, [per_loop * 2], 0.0, concurrency=20)
    assert 60 <= result.throughput <= 500
    assert "each loop ran 20 at once" in str(result)


def test_debug_mode_is_paused_while_timing_and_restored_after_errors():
    seen = {}

    async def probe():
        loop = asyncio.get_running_loop()
        seen["debug"] = loop.get_debug()
        seen["tracking"] = sys.get_coroutine_origin_tracking_depth()

    async def boom():
        raise RuntimeError("x")

    async def main():
        loop = asyncio.get_running_loop()
        async with paused_debug(loop):
            await probe()
        with pytest.raises(RuntimeError):
            async with paused_debug(loop):
                await boom()
        await asyncio.sleep(0)
        return loop.get_debug(), sys.get_coroutine_origin_tracking_depth()

    assert run(main(), debug=True) == (True, 10)
    assert seen == {"debug": False, "tracking": 0}


def test_debug_mode_comes_back_after_a_cancel_in_the_pause_itself():
    async def timing():
        async with paused_debug(asyncio.get_running_loop()):
            await asyncio.sleep(10)

    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(timing())
        await asyncio.sleep(0)  # the task ran to the pause's own yield to the loop
        paused = loop.get_debug()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return paused, task.cancelled(), loop.get_debug()

    assert run(main(), debug=True) == (False, True, True)


def test_result_has_timeit_results_attributes_and_line():
    runs = [0.010, 0.011, 0.012]
    result = AsyncTimeitResult(10, 3, 0.001, 0.0012, runs, 0.0001)
    assert result.timings == pytest.approx([0.001, 0.0011, 0.0012])
    assert result.average == pytest.approx(0.0011)
    assert result.stdev == pytest.approx(((0.0001**2 * 2) / 3) ** 0.5)
    line = str(result)
    assert re.fullmatch(r"1\.1 ms (±|\+-) 81\.6 (μs|us) per loop \(mean (±|\+-) std\. dev\. of 3 runs, 10 loops each\)", line)
    assert repr(result) == f"<AsyncTimeitResult : {line}>"


@pytest.mark.parametrize("seconds", [75.5, 1.5, 0.0123, 7.2e-5, 7.2e-8, 0.0])
def test_time_format_matches_ipythons(seconds):
    from IPython.core.magics.execution import _format_time

    assert format_time(seconds) == _format_time(seconds)
    assert format_time(seconds, 5) == _format_time(seconds, 5)


@pytest.mark.parametrize(
    "seconds, shown",
    [(9.9999e-7, "1 μs"), (9.996e-7, "1 μs"), (9.995e-7, "999 ns"), (0.0009996, "1 ms"), (0.9996, "1 s"), (1e-6, "1 μs")],
)
def test_a_time_that_rounds_up_to_1000_of_a_unit_is_shown_in_the_next_one(seconds, shown):
    # IPython's own _format_time prints "1e+03 ns" there (%time_async printed "sys: 1e+03 ns").
    assert format_time(seconds).replace("us", "μs") == shown


def test_time_once_runs_in_the_namespace_and_gives_the_value():
    ns = namespace()

    async def main():
        single = await time_once(plan_timing("asyncio.sleep(0.03, result='slept')"), ns)
        code = await time_once(plan_timing("y = await add_one(1)\ny * 10"), ns)
        return single, code

    single, code = run(main())
    assert single.value == "slept" and 0.025 <= single.wall <= 0.5
    assert code.value == 20 and ns["y"] == 2
    assert str(single).startswith("CPU times: user ") and "\nWall time: " in str(single)
    with pytest.raises(NotAwaitableError):
        run(time_once(plan_timing("1 + 1"), ns))


def test_time_once_compiles_the_users_code_as_the_user_wrote_it():
    ns = namespace()

    async def main():
        run = await time_once(plan_timing("async def f(x: int):\n    pass\nawait asyncio.sleep(0)\nf.__annotations__"), ns)
        return run.value

    assert run(main()) == {"x": int}  # not {'x': 'int'}: asyncrepl's own __future__ imports stay out
