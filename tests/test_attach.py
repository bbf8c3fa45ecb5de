"""Attaching to a running program (issue 21): ``asyncrepl.serve()`` inside a real
separate process, front ends from outside: jupyter_client's BlockingKernelClient
here; the ``asyncrepl attach PID`` terminal front end in a real pty further down.

The programs are tests/attach_targets/stdlib_server.py (a stdlib asyncio HTTP
service whose ``GET /state`` shows everything of the program's an attach may
touch) and tests/attach_targets/service.py (the aiohttp services of
tests/services/, run with serve()).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("zmq")  # the attach extra's; the test extra installs it
pytest.importorskip("jupyter_client")

from jupyter_client import BlockingKernelClient  # noqa: E402

HERE = Path(__file__).parent
TARGETS = HERE / "attach_targets"


class Program:
    """A real program, started as a user would, with its output collected."""

    def __init__(self, *args: str, script: str = "stdlib_server.py", python: str = sys.executable, env: dict | None = None):
        environment = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.runtime_dir = Path(environment["JUPYTER_RUNTIME_DIR"])
        self.process = subprocess.Popen(
            [python, str(TARGETS / script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
            cwd=str(TARGETS),
        )
        self.pid = self.process.pid
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        first = self.expect("serving on ")
        self.url = first.split("serving on ", 1)[1].strip()
        if "--serve" in args:
            # serve() returns at once; its thread writes the connection file a
            # moment later (on a loaded machine, after "serving on").
            self.wait_for_connection_file()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the program did not print {text!r}; it printed:\n{''.join(self.output)}") from None
            if text in line:
                return line

    @property
    def connection_file(self) -> Path:
        return self.runtime_dir / f"asyncrepl-{self.pid}.json"

    def wait_for_connection_file(self, timeout: float = 20) -> Path:
        deadline = time.monotonic() + timeout
        while not self.connection_file.exists():
            assert time.monotonic() < deadline, "no connection file"
            time.sleep(0.05)
        return self.connection_file

    def get(self, path: str = "/", timeout: float = 10) -> str:
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=timeout) as response:
            return response.read().decode()

    def state(self) -> dict:
        return json.loads(self.get("/state"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Load:
    """A request every 20 ms from a thread, for as long as it runs; failures counted."""

    def __init__(self, program: Program, every: float = 0.02):
        self.program = program
        self.every = every
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.program.get("/", timeout=5)
                self.done += 1
            except urllib.error.HTTPError:  # an answer (a 404 of a service without "/"): it serves
                self.done += 1
            except Exception as error:  # noqa: BLE001 - counted, shown by the test
                self.failures.append(repr(error))


def connect(program: Program, key: str | None = None) -> BlockingKernelClient:
    client = BlockingKernelClient(connection_file=str(program.wait_for_connection_file()))
    client.load_connection_file()
    if key is not None:
        client.session.key = key.encode()
    client.start_channels()
    return client


def run(client: BlockingKernelClient, code: str, timeout: float = 30, everything: list | None = None):
    """Run *code*; its reply's content and what it sent (type, content), without
    status messages.  Messages for other cells go to *everything* if given."""
    msg_id = client.execute(code)
    sent: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    idle = False
    while not idle:
        msg = client.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            if everything is not None:
                everything.append(msg)
            continue
        if msg["msg_type"] == "status":
            idle = msg["content"]["execution_state"] == "idle"
        elif msg["msg_type"] != "execute_input":
            sent.append((msg["msg_type"], msg["content"]))
    while True:
        reply = client.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], sent


def text_of(sent) -> str:
    """What the front end shows of *sent*: streams, results, errors."""
    parts = []
    for kind, content in sent:
        if kind == "stream":
            parts.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            parts.append(content["data"].get("text/plain", "") + "\n")
        elif kind == "error":
            parts.append("\n".join(content["traceback"]) + "\n")
    return "".join(parts)


def detach(client: BlockingKernelClient) -> None:
    client.shutdown()
    client.stop_channels()


@pytest.fixture
def programs():
    started: list[Program] = []

    def start(*args: str, **kwargs) -> Program:
        program = Program(*args, **kwargs)
        started.append(program)
        return program

    yield start
    for program in started:
        program.close()


@pytest.fixture
def clients():
    made: list[BlockingKernelClient] = []

    def make(program: Program, key: str | None = None) -> BlockingKernelClient:
        client = connect(program, key)
        made.append(client)
        return client

    yield make
    for client in made:
        client.stop_channels()


def wait_until(predicate, timeout: float = 20, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def listening_addresses(pid: int) -> set[str]:
    """The local addresses (``ip:port``) process *pid* listens on over TCP (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # LISTEN
                address, port = local.split(":")
                if len(address) == 8:
                    ip = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    ip = address
                found.add(f"{ip}:{int(port, 16)}")
    return found


# -- serve() and a Jupyter client ----------------------------------------------------------------


def test_cells_run_as_tasks_on_the_programs_loop_while_it_serves_under_load(programs, clients):
    program = programs("--serve", "--chatty")
    connection_file = program.wait_for_connection_file()
    # Only its owner gets in: readable by the owner only, loopback only, signed.
    assert connection_file.stat().st_mode & 0o777 == 0o600
    info = json.loads(connection_file.read_text())
    assert info["ip"] == "127.0.0.1" and info["signature_scheme"] == "hmac-sha256" and len(info["key"]) >= 32
    ports = {info[name] for name in ("shell_port", "control_port", "stdin_port", "iopub_port", "hb_port")}
    listening = listening_addresses(program.pid)
    assert {f"127.0.0.1:{port}" for port in ports} <= listening
    assert not [address for address in listening if address.split(":")[1] in map(str, ports) and not address.startswith("127.0.0.1:")]

    client = clients(program)
    with Load(program) as load:
        reply, sent = run(client, "import asyncio\n[t.get_name() for t in asyncio.all_tasks()]")
        assert reply["status"] == "ok"
        assert "'ticker'" in text_of(sent) and "'In [1]'" in text_of(sent)  # the program's tasks, and the cell's own
        before = int(run(client, "requests_served")[1][0][1]["data"]["text/plain"])
        reply, sent = run(client, "await asyncio.sleep(1)\nprint('the cell printed', requests_served > %d)" % before)
        assert text_of(sent) == "the cell printed True\n"  # the program served meanwhile
        reply, sent = run(client, "%tasks")
        assert "ticker" in text_of(sent) and "tick()" in text_of(sent)
        # A task the cell started prints to the front end, into that cell's output.
        run(client, "async def later():\n    await asyncio.sleep(0.3)\n    print('from the background')")
        started_in = client.execute("background = asyncio.create_task(later())")
        client.get_shell_msg(timeout=10)
        others: list = []
        run(client, "await background", everything=others)
        streams = [m for m in others if m["msg_type"] == "stream"]
        assert "".join(m["content"]["text"] for m in streams) == "from the background\n"
        assert {m["parent_header"]["msg_id"] for m in streams} == {started_in}
    assert load.failures == [] and load.done > 20
    # The program's own output stayed the program's; the cell's went to the front end only.
    assert any("program served /" in line for line in program.output)
    assert not any("the cell printed" in line or "from the background" in line for line in program.output)


def iter_iopub(client):
    """The iopub messages that came already."""
    while True:
        try:
            yield client.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            return


def test_a_client_with_a_wrong_key_runs_nothing(programs, clients, tmp_path):
    program = programs("--serve")
    marker = tmp_path / "ran"
    intruder = clients(program, key="0" * 32)
    msg_id = intruder.execute(f"open({str(marker)!r}, 'w').close()")
    with pytest.raises(queue.Empty):
        intruder.get_shell_msg(timeout=3)  # no reply: unsigned to the program, the message was dropped
    assert not marker.exists()
    assert msg_id
    owner = clients(program)
    reply, sent = run(owner, "1 + 1")
    assert text_of(sent) == "2\n"
    assert not marker.exists()


def test_interrupt_cancels_the_cell_never_the_program(programs, clients):
    program = programs("--serve")
    client = clients(program)
    run(client, "import asyncio, time")
    msg_id = client.execute("await asyncio.sleep(60)")
    time.sleep(0.5)
    client.control_channel.send(client.session.msg("interrupt_request", {}))
    reply = client.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "error"
    program.get("/")  # still serving
    # A cell that holds the loop blocks the program, the report says so, and Interrupt stops it.
    msg_id = client.execute("t0 = time.monotonic()\nwhile time.monotonic() - t0 < 30:\n    pass")
    time.sleep(1.5)
    client.control_channel.send(client.session.msg("interrupt_request", {}))
    reply = client.get_shell_msg(timeout=10)
    assert reply["content"]["status"] == "error"
    outputs = [m for m in iter_iopub(client) if m["parent_header"].get("msg_id") == msg_id]
    shown = text_of([(m["msg_type"], m["content"]) for m in outputs])
    assert "held the program's loop" in shown, shown
    assert program.process.poll() is None
    assert "served" in program.get("/")
    reply, sent = run(client, "'still here'")
    assert text_of(sent) == "'still here'\n"
    # A cell never stops nor closes the program's loop.
    reply, sent = run(client, "loop = asyncio.get_running_loop()\nloop.stop()\nloop.close()\nloop.is_closed()")
    assert "False" in text_of(sent) and "the program's loop stays open" in text_of(sent), text_of(sent)
    time.sleep(0.3)
    assert "served" in program.get("/")
    assert program.state()["loop running"] is True


def test_detach_leaves_the_program_as_before_and_attach_again_works(programs, clients):
    program = programs("--serve")
    before = program.state()
    client = clients(program)
    run(client, "cell_x = 41")
    attached = program.state()
    assert attached["task factory"] != before["task factory"]  # asyncrepl's parts are on the program's loop
    run(client, "%asyncdebug on")
    assert program.state()["debug"] is True
    detach(client)
    after = wait_until(lambda: (state := program.state()) == before and state)
    assert after == before

    # Attach again: the program's globals still have what the cells left.
    again = clients(program)
    reply, sent = run(again, "cell_x + 1")
    assert text_of(sent) == "42\n"
    detach(again)
    wait_until(lambda: program.state() == before)


def test_a_killed_front_end_detaches(programs):
    program = programs("--serve")
    before = program.state()
    code = (
        "import sys, time\n"
        "from jupyter_client import BlockingKernelClient\n"
        f"c = BlockingKernelClient(connection_file={str(program.wait_for_connection_file())!r})\n"
        "c.load_connection_file(); c.start_channels()\n"
        "c.execute_interactive('cell_y = 1', timeout=30)\n"
        "print('attached', flush=True)\n"
        "time.sleep(600)\n"
    )
    front_end = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert front_end.stdout.readline() == "attached\n"
        assert program.state() != before
        front_end.kill()
    finally:
        front_end.wait()
    wait_until(lambda: program.state() == before)
    assert "served" in program.get("/")


def test_an_aiohttp_service_keeps_serving_while_attached(programs, clients):
    pytest.importorskip("aiohttp")
    program = programs("task_per_request", "--serve", script="service.py")
    client = clients(program)
    with Load(program, every=0.05) as load:
        reply, sent = run(client, "%tasks")
        assert reply["status"] == "ok"
        shown = text_of(sent)
        assert "runner" in shown or "run_jobs" in shown, shown
        reply, sent = run(client, "import asyncio\nawait asyncio.sleep(0.5)\n'ok'")
        assert text_of(sent) == "'ok'\n"
    assert load.failures == []


# -- asyncrepl attach PID: the terminal front end, in a real pty ----------------------------------

from harness import BIN, ScreenTerminal, fresh_env, strip_escapes  # noqa: E402

PROMPT_COLOURS = r"(?:\x1b\[[0-9;]*m)*"


class AttachTerminal(ScreenTerminal):
    """``asyncrepl attach PID`` in a pty, with a terminal emulator behind it (the status line)."""

    def __init__(self, *args: str, timeout: float = 30, wait: bool = True, command: str = "asyncrepl"):
        import pexpect
        import pyte

        self.screen = pyte.Screen(self.COLUMNS, self.ROWS)
        self.stream = pyte.Stream(self.screen)
        self.screen.write_process_input = self._answer
        self.received = 0
        env = fresh_env()
        env.pop("PROMPT_TOOLKIT_NO_CPR", None)
        self.child = pexpect.spawn(
            str(BIN / command), list(args), env=env, encoding="utf-8", timeout=timeout, dimensions=(self.ROWS, self.COLUMNS)
        )
        self.transcript: list[str] = []
        self.count = 1
        self._spawned()
        if wait:
            self.startup = self._wait_for_prompt(1)

    def _wait_for_prompt(self, number: int, timeout: float | None = None) -> str:
        self.child.expect(rf"In \[{PROMPT_COLOURS}{number}{PROMPT_COLOURS}\]:", timeout=-1 if timeout is None else timeout)
        text = strip_escapes(self.child.before)
        self.transcript.append(text)
        return text

    def rest(self, timeout: float = 15) -> str:
        """Everything until the front end exits."""
        import pexpect

        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.wait()
        return strip_escapes(self.child.before)

    def close(self) -> None:
        self.child.close(force=True)


@pytest.fixture
def attach():
    made: list[AttachTerminal] = []

    def start(*args: str, **kwargs) -> AttachTerminal:
        terminal = AttachTerminal("attach", *args, **kwargs)
        made.append(terminal)
        return terminal

    yield start
    for terminal in made:
        terminal.close()


@pytest.mark.terminal
def test_attach_from_a_terminal_ctrl_c_stops_the_cell_and_ctrl_d_detaches(programs, attach):
    program = programs("--serve")
    before = program.state()
    terminal = attach(str(program.pid))
    assert f"attached to stdlib_server.py (pid {program.pid})" in terminal.startup
    assert "Ctrl-C cancels the cell, never the program; Ctrl-D detaches" in terminal.startup
    # The status line is the program's, pushed by it.
    terminal.wait_for_bottom(lambda line: "task" in line)
    with Load(program) as load:
        terminal.type("import asyncio\nawait asyncio.sleep(30)\n")
        terminal.settle(1.0)
        terminal.ctrl_c()
        out = terminal.wait()
        assert re.search(r"^KeyboardInterrupt: the cell was waiting at In \[1\] line 2: await asyncio.sleep\(30\)", out, re.M), out
        assert "held the program's loop" not in out
        out = terminal.run("%tasks")
        assert "ticker" in out
        # The program's tables fill the front end's terminal, not the program's 120 columns.
        width = terminal.value("__import__('asyncrepl._render', fromlist=['terminal_width']).terminal_width()")
        assert width == str(terminal.COLUMNS), width
        out = terminal.run("requests_served > 0")
        assert "True" in out
    assert load.failures == []
    assert program.process.poll() is None  # Ctrl-C never reached the program
    terminal.child.sendcontrol("d")
    rest = terminal.rest()
    assert f"asyncrepl: detached from program {program.pid} (stdlib_server.py), which goes on" in rest
    wait_until(lambda: program.state() == before)

    # Attach again; a program that exits ends the front end with one line.
    again = attach(str(program.pid))
    assert again.value("cell_z = 1; 'attached again'") == "'attached again'"
    program.process.send_signal(signal.SIGTERM)
    rest = again.rest()
    assert rest.strip().splitlines()[-1] == f"asyncrepl: program {program.pid} (stdlib_server.py) exited"


@pytest.mark.terminal
def test_a_report_while_the_prompt_waits_is_printed_above_it(programs, attach):
    # It was printed after the prompt's text: "In [2]: asyncrepl: task 3 ... failed".
    program = programs("--serve")
    terminal = attach(str(program.pid))
    terminal.run("import asyncio\nasync def later():\n    await asyncio.sleep(1)\n    raise ValueError('late')\n\nt = asyncio.create_task(later())")
    deadline = time.monotonic() + 20
    while not any("failed: ValueError: late" in line for line in terminal.screen.display):
        assert time.monotonic() < deadline, "\n".join(terminal.screen.display)
        terminal.settle(0.2)
    terminal.settle(0.5)
    lines = [line.rstrip() for line in terminal.screen.display]
    report = max(index for index, line in enumerate(lines) if "failed: ValueError: late" in line)
    prompt = max(index for index, line in enumerate(lines) if re.match(r"In \[\d+\]:", line))
    assert lines[report].startswith("asyncrepl: task "), "\n".join(lines)
    assert report < prompt and re.fullmatch(r"In \[\d+\]:", lines[prompt]), "\n".join(lines)


@pytest.mark.terminal
def test_a_killed_terminal_front_end_detaches_and_a_second_one_is_told(programs, attach):
    program = programs("--serve")
    before = program.state()
    first = attach(str(program.pid))
    second = attach(str(program.pid))
    assert "another front end is attached" in second.startup
    assert second.value("'both'") == "'both'"
    first.child.kill(signal.SIGKILL)
    second.child.kill(signal.SIGKILL)
    wait_until(lambda: program.state() == before)
    assert "served" in program.get("/")


def test_ps_lists_the_programs_tasks_once_and_leaves_it_as_before(programs):
    program = programs("--serve")
    before = program.state()
    done = subprocess.run([str(BIN / "asyncrepl"), "ps", str(program.pid)], capture_output=True, text=True, timeout=60, env=fresh_env())
    assert done.returncode == 0 and done.stderr == "", done
    assert "ticker" in done.stdout and "main()" in done.stdout
    wait_until(lambda: program.state() == before)


def test_a_program_with_a_runtime_directory_of_its_own_is_found(programs, tmp_path):
    # A program started with another JUPYTER_RUNTIME_DIR than the terminal's
    # writes its connection file there: asyncrepl ps and attach said it was
    # not serving.
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    program = programs("--serve", env={"JUPYTER_RUNTIME_DIR": str(theirs)})
    assert program.connection_file.parent == theirs
    done = subprocess.run([str(BIN / "asyncrepl"), "ps", str(program.pid)], capture_output=True, text=True, timeout=60, env=fresh_env())
    assert done.returncode == 0 and done.stderr == "", done
    assert "ticker" in done.stdout


def test_attach_refuses_in_one_line(programs, tmp_path):
    def refusal(*args: str) -> str:
        done = subprocess.run([str(BIN / "asyncrepl"), *args], capture_output=True, text=True, timeout=60, env=fresh_env())
        assert done.returncode == 1 and done.stdout == "", done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]

    assert refusal("attach", "999999999") == "asyncrepl attach: no process 999999999"
    assert refusal("attach", str(tmp_path / "nothing.json")).endswith("is neither a process id nor a connection file")
    if sys.version_info < (3, 14):  # (3.14+ starts serve() inside it: see the remote_exec tests)
        program = programs()
        line = refusal("attach", str(program.pid))
        assert "add asyncrepl.serve() to it" in line and "3.14" in line, line


@pytest.mark.terminal
def test_jupyter_console_existing_attaches_too(programs):
    program = programs("--serve")
    before = program.state()
    console = AttachTerminal("console", "--existing", str(program.wait_for_connection_file()), command="jupyter")
    try:
        assert "attached to stdlib_server.py" in console.startup
        assert "ticker" in console.run("%tasks")
        assert console.value("import asyncio\nawait asyncio.sleep(0.1)\nrequests_served >= 0") == "True"
        console.child.sendcontrol("d")
        console.child.expect("exit")
        console.child.send("y\r")
        console.rest()
    finally:
        console.close()
    wait_until(lambda: program.state() == before)


# -- Python 3.14+: sys.remote_exec on a program that never imported asyncrepl ----------------------

needs_remote_exec = pytest.mark.skipif(not hasattr(sys, "remote_exec"), reason="sys.remote_exec is Python 3.14+")


def asyncrepl_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "asyncrepl"), *args], capture_output=True, text=True, timeout=timeout, env=fresh_env())


@needs_remote_exec
def test_remote_exec_makes_a_program_that_never_imported_asyncrepl_attachable(programs, clients):
    program = programs("--chatty")
    before = program.state()
    assert before["asyncrepl imported"] is False
    with Load(program) as load:
        # The program sleeps in epoll between requests; the attach runs at its next wake-up.
        done = asyncrepl_command("ps", str(program.pid))
        assert done.returncode == 0, done.stderr
        assert "ticker" in done.stdout and "tick()" in done.stdout
        assert program.connection_file.stat().st_mode & 0o777 == 0o600
        client = clients(program)
        reply, sent = run(client, "requests_served > 0")
        assert text_of(sent) == "True\n"
        detach(client)
    assert load.failures == []
    after = wait_until(lambda: (state := program.state())["task factory"] == before["task factory"] and state)
    assert {**after, "asyncrepl imported": False} == before


@needs_remote_exec
def test_remote_exec_with_the_loop_in_another_thread_says_so_and_serves(programs):
    program = programs("--loop-in-thread")
    done = asyncrepl_command("ps", str(program.pid))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "asyncrepl ps: the program's loop runs in thread 'loop': cells run there\n"
    assert "ticker" in done.stdout


@needs_remote_exec
def test_remote_exec_refusals_are_one_line(programs, tmp_path):
    def refusal(pid: int) -> str:
        done = asyncrepl_command("ps", str(pid))
        assert done.returncode == 1 and done.stdout == "", done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]

    disabled = programs(env={"PYTHON_DISABLE_REMOTE_DEBUG": "1"})
    assert "runs with remote debugging disabled" in refusal(disabled.pid)
    # A Python without asyncrepl installed: nothing changes in the program.
    bare = programs(python=str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"))
    before = bare.state()
    assert "asyncrepl is not importable in the program" in refusal(bare.pid)
    assert bare.state() == before
    # No asyncio loop at all.
    busy = subprocess.Popen([sys.executable, "-c", "print('up', flush=True)\nwhile True: sum(range(1000))"], stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout.readline() == "up\n"
        assert "no asyncio loop is running in the program" in refusal(busy.pid)
    finally:
        busy.kill()
        busy.wait()
