"""What asyncio says reaches the program's own logging, as without asyncrepl,
showing the user's frames in debug mode; and every never-awaited hint is
valid where the call is.  In-process, then in a real terminal against plain
IPython and against the same code run as a script."""

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

import IPython
from conftest import run_cell as run
from harness import BIN, Terminal, asyncrepl_frames_in, fresh_env

IPYTHON_DIR = str(Path(IPython.__file__).parent)

DEFINITIONS = """\
import asyncio, gc, logging

async def bad():
    raise ValueError('boom')

def callback():
    raise RuntimeError('callback boom')

async def waits():
    await asyncio.get_running_loop().create_future()
"""
# Three things asyncio logs: an exception in a callback, a failed task nobody
# awaits, a task destroyed while pending.
CELLS = [
    "asyncio.get_running_loop().call_soon(callback)\nasyncio.create_task(bad())\nawait asyncio.sleep(0.05)",
    "asyncio.create_task(waits())\nawait asyncio.sleep(0)\ngc.collect()\nawait asyncio.sleep(0.05)",
]
EXPECTED = ["Exception in callback callback()", "Task exception was never retrieved", "Task was destroyed but it is pending!"]


class Records(logging.Handler):
    """What ``logging.basicConfig(...)`` in the user's program would receive."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def texts(self):
        return [self.format(record) for record in self.records]

    def messages(self):
        return [re.sub(r" at <ipython-input-\d+-\w+>:\d+$", "", r.getMessage().splitlines()[0]) for r in self.records]


@pytest.fixture
def programs_logging():
    handler = Records()
    logging.root.addHandler(handler)
    yield handler
    logging.root.removeHandler(handler)


def _created_at(text: str) -> list[str]:
    """The frames of the "Object created at" traceback in a record: 'file:line in function' each."""
    frames, inside = [], False
    for line in text.splitlines():
        if line.startswith("source_traceback: Object created at"):
            inside = True
            continue
        if inside:
            match = re.match(r'  File "([^"]+)", line (\d+), in (.+)$', line)
            if match:
                frames.append(f"{match[1]}:{match[2]} in {match[3]}")
            elif not line.startswith("    "):
                break
    return frames


def test_the_programs_logging_gets_asyncios_records_as_in_plain_ipython(shell, capsys, programs_logging):
    run(shell, capsys, DEFINITIONS)
    for cell in CELLS:  # plain IPython
        run(shell, capsys, cell)
    plain = programs_logging.messages()
    assert sorted(plain) == sorted(EXPECTED)

    programs_logging.records.clear()
    shell.run_line_magic("load_ext", "asyncrepl")
    outputs = [run(shell, capsys, cell)[1] for cell in CELLS]
    assert programs_logging.messages() == plain
    # and asyncrepl says its own words on stderr, as without a log
    assert "asyncrepl: task" in outputs[0] and "failed: ValueError: boom" in outputs[0]
    assert "was destroyed while still pending" in outputs[1]


def test_debug_modes_tracebacks_start_at_the_users_code(shell, capsys, programs_logging):
    shell.run_line_magic("load_ext", "asyncrepl")
    run(shell, capsys, DEFINITIONS)
    for cell in CELLS:
        run(shell, capsys, cell)
    texts = programs_logging.texts()
    assert len(texts) == 3
    for text in texts:
        frames = _created_at(text)
        assert frames and frames[0].startswith("<ipython-input-"), text  # the cell's own line first
        assert not asyncrepl_frames_in(text) and IPYTHON_DIR not in text, text


def _handle_created_at(text: str) -> list[str]:
    return _created_at(text.replace("handle_traceback: Handle created at", "source_traceback: Object created at"))


def test_the_running_steps_handle_traceback_is_the_users_or_none(shell, capsys, programs_logging):
    # A context without an object of its own: asyncio adds where the step
    # running now was scheduled ("Handle created at").
    shell.run_line_magic("load_ext", "asyncrepl")
    run(shell, capsys, "import asyncio\ndef note():\n    asyncio.get_running_loop().call_exception_handler({'message': 'said in a callback'})")
    run(shell, capsys, "asyncio.get_running_loop().call_soon(note)\nawait asyncio.sleep(0.01)")
    run(shell, capsys, "asyncio.get_running_loop().call_exception_handler({'message': 'said in a cell'})")
    in_callback, in_cell = programs_logging.texts()
    assert in_callback.startswith("said in a callback") and in_cell.startswith("said in a cell")
    frames = _handle_created_at(in_callback)
    assert frames and frames[0].startswith("<ipython-input-") and frames[0].endswith("in <module>"), in_callback
    # The cell's own step was scheduled by the REPL: nothing of the user's to show.
    assert "Handle created at" not in in_cell, in_cell
    for text in (in_callback, in_cell):
        assert not asyncrepl_frames_in(text) and IPYTHON_DIR not in text, text


def test_without_logging_configured_stderr_has_each_thing_said_once(shell, capsys, monkeypatch):
    monkeypatch.setattr(logging.root, "handlers", [])  # pytest's own handlers away: only lastResort is left
    shell.run_line_magic("load_ext", "asyncrepl")
    run(shell, capsys, DEFINITIONS)
    out = "".join(run(shell, capsys, cell)[1] for cell in CELLS)
    assert out.count("failed: ValueError: boom") == 1 and "never retrieved" not in out
    assert out.count("was destroyed while still pending") == 1 and "Task was destroyed" not in out
    # asyncrepl has no report of its own for a callback: asyncio's stands, with the user's frames
    assert out.count("Exception in callback callback()") == 1 and not asyncrepl_frames_in(out)
    assert _created_at(out)[0].startswith("<ipython-input-")


def test_a_never_awaited_call_in_a_plain_def_gets_a_fix_valid_there(shell, capsys):
    shell.run_line_magic("load_ext", "asyncrepl")
    run(shell, capsys, "import asyncio\nasync def add_one(x):\n    return x + 1")
    _, out = run(shell, capsys, "def compute():\n    add_one(1)\n    return 'done'\n\ncompute()")
    assert "coroutine add_one() was never awaited, at In [" in out and "line 2: add_one(1)" in out
    assert "did you mean: await" not in out
    assert "did you mean: asyncio.create_task(add_one(1))  (runs it in the background; keep a reference to the task)" in out
    assert "or make compute() an async def: await add_one(1) in it, and await compute() where it is called" in out
    # inside an async def, and at a cell's top level, await stays the fix
    _, out = run(shell, capsys, "async def compute_async():\n    add_one(2)\n\nawait compute_async()")
    assert "did you mean: await add_one(2)" in out
    _, out = run(shell, capsys, "add_one(3);")
    assert "did you mean: await add_one(3)" in out


# -- in a real terminal ------------------------------------------------------------------------

PROGRAM = """\
import asyncio, gc, logging
logging.basicConfig(filename={log!r}, format='%(name)s %(levelname)s %(message)s')

async def bad():
    raise ValueError('boom')

def callback():
    raise RuntimeError('callback boom')

async def waits():
    await asyncio.get_running_loop().create_future()

async def main():
    asyncio.get_running_loop().call_soon(callback)
    asyncio.create_task(bad())
    await asyncio.sleep(0.1)
    asyncio.create_task(waits())
    await asyncio.sleep(0)
    gc.collect()
    await asyncio.sleep(0.1)

asyncio.run(main())
"""


def _records(log: Path) -> list[str]:
    """The log file's records: each a block starting with 'asyncio ERROR'."""
    blocks = re.split(r"^(?=asyncio ERROR )", log.read_text(), flags=re.M)
    return [block for block in blocks if block.strip()]


def _headline(record: str) -> str:
    line = record.splitlines()[0].removeprefix("asyncio ERROR ")
    return re.sub(r" at (<ipython-input-\d+-\w+>|\S+\.py):\d+$", "", line)


def _users_frames(record: str, user_file: str) -> list[str]:
    """'function:line' of each "Object created at" frame in the user's code (the cell or the script)."""
    frames = []
    for frame in _created_at(record):
        match = re.match(r"(.+):(\d+) in (.+)$", frame)
        if match[1] == user_file or match[1].startswith("<ipython-input-"):
            frames.append(f"{match[3]}:{match[2]}")
    return frames


def _run_in(command: str, program: str) -> str:
    term = Terminal(command)
    try:
        return term.run(program, timeout=30)
    finally:
        term.close()


def test_the_log_file_gets_the_same_records_as_in_plain_ipython_and_a_script(tmp_path):
    logs = {name: tmp_path / f"{name}.log" for name in ("script", "ipython", "asyncrepl")}
    script = tmp_path / "program.py"
    script.write_text(PROGRAM.format(log=str(logs["script"])))
    env = fresh_env(PYTHONASYNCIODEBUG="1")  # debug mode, as asyncrepl runs the loop
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    shown = {name: _run_in(name, PROGRAM.format(log=str(logs[name]))) for name in ("ipython", "asyncrepl")}

    records = {name: _records(log) for name, log in logs.items()}
    headlines = {name: sorted(map(_headline, found)) for name, found in records.items()}
    assert headlines["script"] == sorted(EXPECTED)
    assert headlines["ipython"] == headlines["script"] and headlines["asyncrepl"] == headlines["script"]
    # asyncrepl's own report on the screen, besides the log
    assert "failed: ValueError: boom" in shown["asyncrepl"] and "was destroyed while still pending" in shown["asyncrepl"]
    assert "Traceback" not in shown["ipython"] + shown["asyncrepl"]  # the log has them, not the screen

    # Debug mode's "Object created at": a script's frames begin with its
    # <module>, asyncio.run's and the loop's, then main(); asyncrepl's with
    # main(), where the user's code begins (the cell's asyncio.run(main()) runs
    # main() as a task): never asyncrepl's, IPython's or the console script's.
    by_headline = {name: {_headline(record): record for record in found} for name, found in records.items()}
    for headline in EXPECTED:
        in_script = _users_frames(by_headline["script"][headline], str(script))
        in_repl = _users_frames(by_headline["asyncrepl"][headline], str(script))
        assert in_script[0] == f"<module>:{PROGRAM.count(chr(10))}" and in_script[1:] == in_repl, (in_script, in_repl)
        repl_record = by_headline["asyncrepl"][headline]
        assert not asyncrepl_frames_in(repl_record) and IPYTHON_DIR not in repl_record, repl_record
        assert _created_at(repl_record)[0].startswith("<ipython-input-"), repl_record
        assert str(BIN) not in repl_record  # the console script


def test_without_logging_the_terminal_shows_each_failure_once(terminal):
    term = terminal("asyncrepl")
    term.run(DEFINITIONS)
    out = term.run(CELLS[0])
    out += term.run(CELLS[1])
    assert out.count("failed: ValueError: boom") == 1 and "never retrieved" not in out
    assert out.count("was destroyed while still pending") == 1 and "Task was destroyed" not in out
    assert out.count("Exception in callback callback()") == 1  # asyncio's, as in plain IPython
    assert not asyncrepl_frames_in(out) and IPYTHON_DIR not in out


def test_a_never_awaited_call_in_a_plain_def_in_the_terminal(terminal):
    term = terminal("asyncrepl")
    term.run("import asyncio\nasync def add_one(x):\n    return x + 1")
    out = term.run("def compute():\n    add_one(1)\n\ncompute()")
    assert out.strip() == (
        "asyncrepl: coroutine add_one() was never awaited, at In [2] line 2: add_one(1)\n"
        "  did you mean: asyncio.create_task(add_one(1))  (runs it in the background; keep a reference to the task)\n"
        "  or make compute() an async def: await add_one(1) in it, and await compute() where it is called"
    )


# -- in a real kernel: each report in the cell that caused it ---------------------------------


@pytest.mark.kernel
def test_in_a_kernel_reports_land_in_their_cell_and_records_in_the_log(kernel, tmp_path):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    k.execute(DEFINITIONS + "\nimport time\nasync def add_one(x):\n    return x + 1\n"
              "async def blocker():\n    await asyncio.sleep(0.3)\n    time.sleep(0.4)")
    # A never-awaited call in a plain def: reported in its cell, with a fix valid in a def.
    reply = k.execute("def compute():\n    add_one(1)\n\ncompute()")
    assert "asyncrepl: coroutine add_one() was never awaited, at In [" in reply.stderr
    assert "did you mean: asyncio.create_task(add_one(1))" in reply.stderr and "did you mean: await" not in reply.stderr
    # Without logging configured: a failed task nobody holds is said once, in
    # the cell that made it, after that cell finished; nothing arrives without a cell.
    failed = k.start("asyncio.create_task(bad(), name='fire-and-forget'); None")
    k.finish(failed)
    blocked = k.start("held = asyncio.create_task(blocker(), name='blk')")
    k.finish(blocked)
    assert k.drain(1.5) == []
    assert k.late.get(failed, "").count("'fire-and-forget' (bad()) failed: ValueError: boom") == 1
    assert "never retrieved" not in "".join(k.late.values())
    assert "'blk' (blocker()) held the loop for 0." in k.late.get(blocked, "") and "time.sleep(0.4)" in k.late[blocked]
    # With the program's own log: asyncio's record goes there too, as without asyncrepl.
    log = tmp_path / "program.log"
    k.execute(f"logging.basicConfig(filename={str(log)!r}, format='%(name)s %(levelname)s %(message)s')")
    failed = k.start("asyncio.create_task(bad(), name='logged'); None")
    k.finish(failed)
    assert k.drain(0.5) == []
    assert "'logged' (bad()) failed: ValueError: boom" in k.late.get(failed, "")
    assert log.read_text().startswith("asyncio ERROR Task exception was never retrieved\nfuture: <Task finished name='logged'")
