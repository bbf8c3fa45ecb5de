"""asyncrepl in IPython's in-process InteractiveShell."""

import gc

from conftest import shell_state
from harness import asyncrepl_frames_in


def load(ip, capsys):
    ip.run_line_magic("load_ext", "asyncrepl")
    return capsys.readouterr().out


def run(ip, capsys, code):
    result = ip.run_cell(code, store_history=True)
    captured = capsys.readouterr()
    return result, captured.out, captured.err


def test_load_says_one_line(shell, capsys):
    out = load(shell, capsys)
    assert len(out.strip().splitlines()) == 1
    assert out.startswith("asyncrepl ") and "debug mode on" in out


def test_every_cell_runs_with_the_loop_running_in_debug_mode(shell, capsys):
    load(shell, capsys)
    result, out, _ = run(shell, capsys, "import asyncio\nprint(asyncio.get_running_loop().get_debug())")
    assert result.success and out == "True\n"

    async def later():
        return "ran"

    shell.user_ns["later"] = later
    result, _, _ = run(shell, capsys, "task = asyncio.create_task(later())")
    assert result.success
    result, out, _ = run(shell, capsys, "print(await task)")
    assert out == "ran\n"


def test_background_task_runs_during_a_plain_cell(shell, capsys):
    load(shell, capsys)
    run(shell, capsys, "import asyncio, time\nticks = []\nasync def tick():\n    while True:\n        ticks.append(1)\n        await asyncio.sleep(0.01)")
    run(shell, capsys, "t = asyncio.create_task(tick())")
    # A plain cell that yields nothing still lets the task run at its end...
    run(shell, capsys, "n = len(ticks)")
    # ...and an awaiting cell lets it tick many times.
    run(shell, capsys, "await asyncio.sleep(0.2)")
    assert len(shell.user_ns["ticks"]) > shell.user_ns["n"] + 5
    run(shell, capsys, "t.cancel()")


def test_a_cell_that_never_awaits_runs_with_the_loop_running_and_no_task(shell, capsys):
    load(shell, capsys)
    run(shell, capsys, "import asyncio, contextvars\nvar = contextvars.ContextVar('var', default='unset')")
    run(shell, capsys, "started = []\nasync def note():\n    started.append(True)")
    code = (
        "loop = asyncio.get_running_loop()\n"
        "print(asyncio.current_task())\n"
        "t = asyncio.create_task(note())\n"
        "_ = var.set('set in the cell')"
    )
    result, out, err = run(shell, capsys, code)
    assert result.success and out == "None\n" and not err
    # The task it started took its first step before the cell came back, as after a cell's task.
    assert shell.user_ns["started"] == [True] and shell.user_ns["t"].done()
    # What the cell set in a context variable stays in the cell, as in a task.
    result, out, _ = run(shell, capsys, "print(var.get())")
    assert out == "unset\n"


def test_a_cell_an_ast_transformer_makes_await_still_runs_to_its_end(shell, capsys):
    # asyncrepl reads a cell's text to see that it never awaits; another's AST
    # transformer may add an await anyway: the cell goes on as a task.
    import ast

    class AwaitsFirst(ast.NodeTransformer):
        def visit_Module(self, node):
            slept = ast.parse("await asyncio.sleep(0.01)").body
            node.body = slept + node.body
            return node

    load(shell, capsys)
    run(shell, capsys, "import asyncio")
    awaits_first = AwaitsFirst()
    shell.ast_transformers.append(awaits_first)
    try:
        result, out, err = run(shell, capsys, "x = 6 * 7\nx")
    finally:
        shell.ast_transformers.remove(awaits_first)
    assert result.success and result.result == 42, (out, err)
    assert not err


def test_asyncio_run_in_a_cell_runs_as_printed(shell, capsys):
    load(shell, capsys)
    run(shell, capsys, "import asyncio\nasync def main():\n    await asyncio.sleep(0.01)\n    print('hello from main')\n    return 'done'")
    result, out, err = run(shell, capsys, "asyncio.run(main())")
    assert result.success and result.result == "done"
    assert "hello from main" in out
    assert "asyncio.run() runs main() on the REPL's loop" in err
    result, out, err = run(shell, capsys, "result = asyncio.run(main())\nprint(result)")
    assert out.endswith("done\n") and err == ""  # the note is said once
    result, out, _ = run(shell, capsys, "if __name__ == '__main__':\n    asyncio.run(main())")
    assert result.success and "hello from main" in out


def test_user_errors_are_shown_once_as_ipython_shows_them(shell, capsys):
    load(shell, capsys)
    result, out, _ = run(shell, capsys, "import asyncio\nasync def bad():\n    raise KeyError('nope')\nawait bad()")
    assert isinstance(result.error_in_exec, KeyError)
    assert out.count("Traceback") == 1
    assert out.count("KeyError: 'nope'") == 1
    result, out, _ = run(shell, capsys, "raise RuntimeError('mine')")
    assert out.count("RuntimeError: mine") == 1 and not asyncrepl_frames_in(out)


def test_slow_cell_is_not_reported_as_a_blocked_loop(shell, capsys, caplog):
    load(shell, capsys)
    with caplog.at_level("WARNING", logger="asyncio"):
        run(shell, capsys, "import time\ntime.sleep(0.25)")
    assert not [r for r in caplog.records if r.getMessage().startswith("Executing")]


def test_cell_inside_a_cell_may_yield_but_not_wait(shell, capsys):
    load(shell, capsys)
    run(shell, capsys, "import asyncio")
    result, _, _ = run(shell, capsys, "%%capture captured\nprint('plain')")
    assert result.success and shell.user_ns["captured"].stdout == "plain\n"
    result, _, _ = run(shell, capsys, "%%capture captured\nawait asyncio.sleep(0)\nprint('yielded fine')")
    assert result.success
    assert shell.user_ns["captured"].stdout == "yielded fine\n"
    result, _, _ = run(shell, capsys, "%%capture captured\nawait asyncio.sleep(0.01)\nprint('not reached')")
    shown = shell.user_ns["captured"].stdout
    assert "cannot wait for anything: the loop is busy running the outer cell" in shown
    assert "await asyncio.sleep(0.01)" in shown  # shown at the user's line...
    assert not asyncrepl_frames_in(shown)  # ...not inside asyncrepl
    assert shown.rstrip().endswith("the loop is busy running the outer cell")  # print() never ran


def test_settings_are_configurable_and_live(shell, capsys):
    load(shell, capsys)
    run(shell, capsys, "%config AsyncRepl.slow_callback_duration = 0.5")
    run(shell, capsys, "%config AsyncRepl.debug = False")
    _, out, _ = run(shell, capsys, "import asyncio\nloop = asyncio.get_running_loop()\nprint(loop.slow_callback_duration, loop.get_debug())")
    assert out == "0.5 False\n"
    _, out, _ = run(shell, capsys, "%config AsyncRepl")
    assert "AsyncRepl.debug" in out and "AsyncRepl.slow_callback_duration" in out


def test_bad_setting_gets_one_line_and_changes_nothing(shell, capsys, caplog):
    load(shell, capsys)
    result, out, err = run(shell, capsys, "%config AsyncRepl.slow_callback_duration = -1")
    messages = [r.getMessage() for r in caplog.records] + (out + err).splitlines()
    assert any("should not be less than 0.001" in m for m in messages)
    assert "Traceback" not in out + err
    _, out, _ = run(shell, capsys, "import asyncio\nprint(asyncio.get_running_loop().slow_callback_duration)")
    assert out == "0.1\n"
    # and the bad value, which IPython keeps in its config, neither breaks a
    # reload nor is said again there: it was said at %config
    shell.run_line_magic("reload_ext", "asyncrepl")
    out = capsys.readouterr().out
    assert out.startswith("asyncrepl 0.1.0") and len(out.splitlines()) == 1, out
    # a bad value met at a load (a config file's) is said at that load, once
    shell.run_line_magic("unload_ext", "asyncrepl")
    shell.config.AsyncRepl.cell_timeout = "x"
    shell.run_line_magic("load_ext", "asyncrepl")
    out = capsys.readouterr().out
    assert out.startswith("asyncrepl: ignored AsyncRepl.cell_timeout = 'x'") and len(out.splitlines()) == 2, out
    shell.run_line_magic("reload_ext", "asyncrepl")
    assert "ignored" not in capsys.readouterr().out


def test_load_twice_is_harmless(shell, capsys):
    load(shell, capsys)
    before = shell_state(shell)
    out = load(shell, capsys)
    assert "already loaded" in out
    assert shell_state(shell) == before


def test_unload_puts_everything_back(shell, capsys):
    shell.autoawait = False
    before = shell_state(shell)
    load(shell, capsys)
    assert shell_state(shell) != before
    shell.run_line_magic("unload_ext", "asyncrepl")
    assert shell_state(shell) == before
    shell.autoawait = True
    # and cells no longer run on the loop
    result, out, _ = run(shell, capsys, "import asyncio\nasyncio.get_running_loop()")
    assert "no running event loop" in out


def test_reload_works(shell, capsys):
    load(shell, capsys)
    shell.run_line_magic("reload_ext", "asyncrepl")
    result, out, _ = run(shell, capsys, "import asyncio\nprint(asyncio.get_running_loop().get_debug())")
    assert out.endswith("True\n")


def test_reset_and_xdel_free_the_last_cells_value(shell, capsys):
    # IPython's own test_reset_hard and test_xdel, which failed with asyncrepl
    # loaded: the ended cell's task kept IPython's ExecutionResult, and the value.
    shell.run_line_magic("load_ext", "asyncrepl")
    shell.run_cell("class Watched:\n    freed = []\n    def __del__(self):\n        self.freed.append(1)")
    freed = shell.user_ns["Watched"].freed
    shell.run_cell("a = Watched()")
    shell.run_cell("a")
    shell.run_line_magic("xdel", "a")
    gc.collect()
    assert freed == [1]
    shell.run_cell("b = Watched()")
    shell.run_cell("import asyncio\nawait asyncio.sleep(0)\nb")
    shell.run_line_magic("reset", "-f")
    gc.collect()
    assert freed == [1, 1]
    capsys.readouterr()
