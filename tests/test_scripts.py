"""Loop management written for scripts, in the in-process shell: each pattern
does what the same code does as a script, and the REPL's loop survives it."""

import ast
import gc
import signal
import sys
import textwrap

import pytest

from harness import asyncrepl_frames_in

MAIN = """\
import asyncio, signal
async def child():
    try:
        await asyncio.sleep(10)
    finally:
        print('child cleaned up')
async def main():
    asyncio.create_task(child())
    await asyncio.sleep(0.01)
    print('main done')
    return 42
"""


@pytest.fixture
def ip(shell, capsys):
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.run_cell(MAIN)
    # A background task of the REPL's, which no run of the user's may touch.
    shell.run_cell("bg = asyncio.create_task(asyncio.sleep(60), name='bg')")
    gc.collect()
    capsys.readouterr()
    yield shell
    # What a test's runs left pending on the REPL's loop (run_until_complete
    # leaves tasks pending, as a script's loop does) must not reach the next.
    shell.run_cell("for _t in asyncio.all_tasks():\n    _t is asyncio.current_task() or _t.cancel()")
    shell.run_cell("await asyncio.sleep(0.01)")
    # Tasks a test left on a loop it closed print their cleanup when collected:
    # now, not in the next test's output.
    gc.collect()
    capsys.readouterr()


def run(ip, capsys, code):
    result = ip.run_cell(textwrap.dedent(code), store_history=True)
    captured = capsys.readouterr()
    return result, captured.out, captured.err


def healthy(ip, capsys):
    result, out, _ = run(ip, capsys, "await asyncio.sleep(0.01); print(not bg.done(), asyncio.get_running_loop().is_running())")
    # (a task left on a loop a test closed may print its cleanup when collected)
    return result.success and out.endswith("True True\n")


def test_top_level_asyncio_run_cleans_up_only_what_main_started(ip, capsys):
    result, out, err = run(ip, capsys, "result = asyncio.run(main())")
    assert ip.user_ns["result"] == 42
    assert out.splitlines() == ["main done", "child cleaned up"]  # as the script prints
    assert healthy(ip, capsys)  # the REPL's task was not cancelled


def test_asyncio_run_in_a_function_runs_on_a_fresh_loop_as_in_a_script(ip, capsys):
    result, out, err = run(ip, capsys, "def go():\n    print('got', asyncio.run(main()))\ngo()")
    assert result.success, err
    assert out.splitlines() == ["main done", "child cleaned up", "got 42"]
    assert "on a fresh loop, as in a script" in err
    assert healthy(ip, capsys)


def test_asyncio_run_inside_a_coroutine_fails_as_in_a_script(ip, capsys):
    result, out, _ = run(ip, capsys, "async def outer():\n    return asyncio.run(main())\nawait outer()")
    assert isinstance(result.error_in_exec, RuntimeError)
    assert "asyncio.run() cannot be called from a running event loop" in out
    assert healthy(ip, capsys)


def test_asyncio_run_in_a_callback_fails_as_in_a_script(ip, capsys):
    result, out, err = run(
        ip,
        capsys,
        "def go():\n    try:\n        asyncio.run(main())\n    except RuntimeError as error:\n        print(error)\n"
        "asyncio.get_running_loop().call_soon(go)\nawait asyncio.sleep(0.01)",
    )
    assert out == "asyncio.run() cannot be called from a running event loop\n", out + err
    assert healthy(ip, capsys)


def test_asyncio_run_from_a_module_explains_itself(ip, capsys, tmp_path, monkeypatch):
    (tmp_path / "helper_mod.py").write_text(
        "import asyncio\nasync def work():\n    return 1\ndef deeper():\n    return asyncio.run(work())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result, out, err = run(ip, capsys, "import helper_mod\nhelper_mod.deeper()")
    assert isinstance(result.error_in_exec, RuntimeError)
    assert "asyncio.run() cannot be called from a running event loop" in out
    assert "await work() instead, or run the file with %run" in out
    assert out.count("Traceback") == 1
    assert "never awaited" not in err  # the abandoned coroutine was closed
    sys.modules.pop("helper_mod", None)


def test_run_forever_from_a_module_gets_the_hint_that_fits_it(ip, capsys, tmp_path, monkeypatch):
    (tmp_path / "forever_mod.py").write_text("def serve(loop):\n    loop.run_forever()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result, out, _ = run(ip, capsys, "import forever_mod\nforever_mod.serve(asyncio.get_event_loop())")
    assert isinstance(result.error_in_exec, RuntimeError)
    assert "call loop.run_forever() at a cell's top level, or run the file with %run" in out
    assert "await" not in out.split("asyncrepl:")[-1]  # no coroutine to await here
    sys.modules.pop("forever_mod", None)
    assert healthy(ip, capsys)


@pytest.mark.parametrize(
    "make_loop, closed",
    [
        ("asyncio.new_event_loop()", "True"),  # the script's own loop: run as in a script, and closed
        ("asyncio.get_event_loop()", "False"),  # the REPL's: awaited on, and never closed
    ],
)
def test_run_until_complete_then_close_runs_as_in_a_script(ip, capsys, make_loop, closed):
    result, out, err = run(
        ip,
        capsys,
        f"""\
        loop = {make_loop}
        try:
            print(loop.run_until_complete(main()))
        finally:
            loop.close()
        print(loop.is_closed())
        """,
    )
    assert result.success, out + err
    # (the new loop's leftover child may print its cleanup when collected)
    assert out.splitlines()[:2] == ["main done", "42"] and out.splitlines()[-1] == closed
    assert "Cannot close a running event loop" not in out + err
    assert healthy(ip, capsys)


def test_run_forever_ends_at_the_users_stop_and_the_repls_loop_goes_on(ip, capsys):
    result, out, err = run(
        ip,
        capsys,
        """\
        loop = asyncio.get_event_loop()
        loop.call_soon(print, 'soon')
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        print('after')
        """,
    )
    assert result.success, out + err
    assert out.splitlines() == ["soon", "after"]
    assert healthy(ip, capsys)


def test_a_task_that_stops_the_loop_ends_run_forever(ip, capsys):
    result, out, err = run(
        ip,
        capsys,
        """\
        async def stopper():
            await asyncio.sleep(0.02)
            print('stopping')
            asyncio.get_running_loop().stop()
        loop = asyncio.get_event_loop()
        loop.create_task(stopper())
        loop.run_forever()
        print('after')
        """,
    )
    assert result.success, out + err
    assert out.splitlines() == ["stopping", "after"]
    assert healthy(ip, capsys)


def test_a_stop_outside_any_run_of_the_users_is_ignored_in_one_line(ip, capsys):
    result, out, err = run(ip, capsys, "asyncio.get_running_loop().stop()\nawait asyncio.sleep(0.05)\nprint('still here')")
    assert result.success and out == "still here\n"
    assert "nothing to stop, the REPL's loop goes on" in err
    assert healthy(ip, capsys)


def test_stop_during_asyncio_run_fails_it_as_in_a_script(ip, capsys):
    result, out, _ = run(
        ip, capsys, "async def halt():\n    asyncio.get_running_loop().stop()\n    await asyncio.sleep(1)\nasyncio.run(halt())"
    )
    assert isinstance(result.error_in_exec, RuntimeError)
    assert "Event loop stopped before Future completed." in out
    assert healthy(ip, capsys)


def test_signal_handlers_added_by_a_run_go_when_it_ends(ip, capsys):
    before = signal.getsignal(signal.SIGINT)
    result, out, err = run(
        ip,
        capsys,
        """\
        async def with_handler():
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, print, 'interrupted')
            await asyncio.sleep(0.01)
            return 'ran'
        asyncio.run(with_handler())
        """,
    )
    assert result.result == "ran", out + err
    assert signal.getsignal(signal.SIGINT) is before
    assert healthy(ip, capsys)


def test_asyncio_run_debug_true_turns_debug_mode_on_for_the_run(ip, capsys):
    run(ip, capsys, "%config AsyncRepl.debug = False")
    result, out, _ = run(
        ip,
        capsys,
        "async def check():\n    return asyncio.get_running_loop().get_debug()\n"
        "print(asyncio.run(check(), debug=True), asyncio.get_running_loop().get_debug())",
    )
    assert out == "True False\n"


def test_asyncio_runner_runs_twice_on_its_own_loop(ip, capsys):
    result, out, err = run(
        ip,
        capsys,
        """\
        async def loop_id():
            return id(asyncio.get_running_loop())
        with asyncio.Runner() as runner:
            first = runner.run(loop_id())
            second = runner.run(loop_id())
        print(first == second, first != id(asyncio.get_running_loop()))
        """,
    )
    assert result.success, out + err
    assert out == "True True\n"
    assert healthy(ip, capsys)


def test_a_failing_main_is_shown_once_at_the_users_line(ip, capsys):
    result, out, err = run(ip, capsys, "async def boom():\n    raise ValueError('boom')\nasyncio.run(boom())")
    assert isinstance(result.error_in_exec, ValueError)
    assert out.count("ValueError: boom") == 1 and "failed" not in err
    # The traceback shows the line as typed, not asyncrepl's rewrite of it.
    assert "----> 3 asyncio.run(boom())" in out
    assert "_entry" not in out and not asyncrepl_frames_in(out)


def test_a_cell_that_never_awaits_runs_with_only_the_users_own_ast_transformers(ip, capsys):
    # IPython runs ast.fix_missing_locations over every cell once any AST
    # transformer is registered: asyncrepl's are there only for the cells
    # that need them, and the user's own stays and runs for every cell.
    class Doubles(ast.NodeTransformer):
        def visit_Constant(self, node):
            return ast.Constant(node.value * 2) if type(node.value) is int else node

    mine = Doubles()
    ip.ast_transformers.append(mine)
    try:
        result, out, err = run(ip, capsys, "x = 21")
        assert result.success and ip.user_ns["x"] == 42
        assert ip.ast_transformers == [mine]
        # An awaiting cell with a rewritten line gets them back: the line as typed in its traceback.
        result, out, err = run(ip, capsys, "async def boom():\n    raise ValueError('boom')\nasyncio.run(boom())")
        assert "----> 3 asyncio.run(boom())" in out and "_entry" not in out
        result, out, err = run(ip, capsys, "y = await asyncio.sleep(0, 5)")
        assert result.success and ip.user_ns["y"] == 10
        result, out, err = run(ip, capsys, "z = 1")
        assert ip.user_ns["z"] == 2 and ip.ast_transformers == [mine]
    finally:
        ip.ast_transformers.remove(mine)


def test_a_never_retrieved_task_exception_is_reported_inside_its_cell(ip, capsys):
    # The Python docs' example: a task's exception that nobody retrieves.
    result, out, err = run(
        ip,
        capsys,
        "async def bug():\n    raise Exception('not consumed')\n"
        "async def main2():\n    asyncio.create_task(bug())\nasyncio.run(main2())",
    )
    assert "Exception: not consumed" in err


def test_run_runs_a_script_as_python_would(ip, capsys, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import asyncio\nasync def main():\n    await asyncio.sleep(0.01)\n"
        "    print('loop running in the script:', asyncio.get_running_loop() is not None)\n"
        "asyncio.run(main())\n"
        "try:\n    asyncio.get_running_loop()\nexcept RuntimeError:\n    print('no loop at the top level')\n"
    )
    result, out, err = run(ip, capsys, f"%run {script}")
    assert result.success, out + err
    assert out.splitlines() == ["loop running in the script: True", "no loop at the top level"]
    assert healthy(ip, capsys)


def test_a_scripts_own_loop_is_not_reported_as_the_repls_blocked_loop(ip, capsys):
    # The REPL's loop waits for the cell meanwhile; the script's loop is the
    # script's (asyncio's own debug mode reports on it when asked for).
    result, out, err = run(
        ip,
        capsys,
        "import time\nasync def busy():\n    time.sleep(0.3)\n    await asyncio.sleep(0.2)\n"
        "def go():\n    asyncio.run(busy())\ngo()",
    )
    assert result.success and "held the loop" not in err, err
    # and the monitor watches the REPL's loop again afterwards
    _, _, err = run(ip, capsys, "async def hold():\n    time.sleep(0.3)\nawait asyncio.create_task(hold())")
    assert "held the loop for 0.3" in err


def test_a_pasted_script_reading_its_own_file_gets_one_hint(ip, capsys):
    result, out, _ = run(ip, capsys, "import pathlib\nhere = pathlib.Path(__file__).parent")
    assert isinstance(result.error_in_exec, NameError)
    assert out.count("NameError: name '__file__' is not defined") == 1
    assert out.count("asyncrepl:") == 1 and "%run FILE runs the file as the script it is" in out
    result, out, _ = run(ip, capsys, "undefined_name")
    assert isinstance(result.error_in_exec, NameError) and "asyncrepl" not in out  # other names: as IPython shows them


@pytest.mark.parametrize("call", ["loop.run_until_complete(asyncio.sleep(1))", "asyncio.run(asyncio.sleep(1))"])
def test_a_loop_stopped_before_its_future_completed_ends_at_the_users_call(ip, capsys, call):
    # As a script's traceback ends (at asyncio's run_until_complete, below the
    # user's call): never in asyncrepl's stand-ins, which raise it for asyncio.
    result = ip.run_cell(f"loop = asyncio.get_event_loop()\nloop.call_later(0.05, loop.stop)\n{call}")
    out = capsys.readouterr()
    shown = out.out + out.err
    assert str(result.error_in_exec) == "Event loop stopped before Future completed."
    assert not asyncrepl_frames_in(shown), shown
    assert out.out.rstrip().endswith(f"----> 3 {call}\n\nRuntimeError: Event loop stopped before Future completed."), shown
