"""Shutdown and restart of a real kernel with asyncrepl loaded, and ``jupyter console``: Ctrl-D, the banner.

ipykernel (6.x and 7.x) answers ``shutdown_request`` on its control thread;
with the loop in debug mode that must still be answered, and as fast as
without asyncrepl.
"""

import time

import pexpect
import pytest

from harness import BIN, Kernel, fresh_env, strip_escapes

pytestmark = pytest.mark.kernel


def test_shutdown_request_is_answered_and_the_kernel_exits(kernel):
    k = kernel()
    assert k.execute("%load_ext asyncrepl").status == "ok"
    k.client.shutdown()
    reply = k.client.get_control_msg(timeout=10)
    assert reply["msg_type"] == "shutdown_reply"
    assert reply["content"]["status"] == "ok"
    deadline = time.monotonic() + 10
    while k.manager.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not k.manager.is_alive(), "the kernel process still runs 10 s after its shutdown_reply"


def _restart_seconds(k: Kernel) -> float:
    start = time.monotonic()
    k.manager.restart_kernel(now=False)
    seconds = time.monotonic() - start
    k.client.wait_for_ready(timeout=60)
    return seconds


def test_restart_is_as_fast_as_without_asyncrepl(kernel):
    plain = kernel()
    plain.execute("1")
    with_asyncrepl = kernel()
    assert with_asyncrepl.execute("%load_ext asyncrepl").status == "ok"
    plain_seconds = _restart_seconds(plain)
    asyncrepl_seconds = _restart_seconds(with_asyncrepl)
    print(f"restart_kernel(now=False): plain {plain_seconds:.2f} s, with asyncrepl {asyncrepl_seconds:.2f} s")
    # A polite restart that is refused waits for jupyter_client's timeout
    # (several seconds) and then kills the kernel.
    assert asyncrepl_seconds <= plain_seconds + 1.5
    # The new kernel is a fresh one, without asyncrepl, and works.
    reply = with_asyncrepl.execute("import asyncio; asyncio.get_running_loop().get_debug()")
    assert reply.status == "ok" and reply.results == ["False"]


def _console(ipython_dir):
    return pexpect.spawn(
        str(BIN / "jupyter"),
        ["console", "--simple-prompt", "--no-confirm-exit"],
        env=fresh_env(str(ipython_dir), JUPYTER_RUNTIME_DIR=str(ipython_dir / "runtime")),
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 160),
    )


def test_jupyter_console_exits_cleanly_on_ctrl_d(tmp_path):
    child = _console(tmp_path)
    try:
        child.expect(r"In \[1\]:")
        child.sendline("%load_ext asyncrepl")
        child.expect(r"In \[2\]:")
        assert "asyncrepl 0.1.0" in child.before
        started = time.monotonic()
        child.sendeof()
        child.expect(pexpect.EOF, timeout=30)
        seconds = time.monotonic() - started
        output = strip_escapes(child.before)
        child.close()
        assert "Traceback" not in output and "Non-thread-safe" not in output, output
        assert child.exitstatus == 0, output
        print(f"jupyter console: Ctrl-D to exit took {seconds:.2f} s")
        assert seconds < 10, output
    finally:
        child.close(force=True)


def test_jupyter_console_with_asyncrepl_in_the_kernel_config_shows_no_banner(tmp_path):
    # No cell ran %load_ext, so no cell gets the banner (it was glued to the
    # first cell's output).
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "ipython_kernel_config.py").write_text('c.InteractiveShellApp.extensions = ["asyncrepl"]\n')
    child = _console(tmp_path)
    try:
        child.expect(r"In \[1\]:")
        startup = strip_escapes(child.before)
        child.sendline("import asyncio; asyncio.get_running_loop().get_debug()")
        child.expect(r"In \[2\]:")
        first_cell = strip_escapes(child.before)
        assert "Out[1]: True" in first_cell  # asyncrepl is loaded
        assert "asyncrepl 0.1.0" not in startup + first_cell, startup + first_cell
    finally:
        child.close(force=True)


def test_unload_gives_the_exit_now_observer_back(kernel):
    k = kernel()
    observers = "[getattr(o, 'name', o) for o in get_ipython()._trait_notifiers['exit_now']['change']]"
    before = k.execute(observers).results
    k.execute("%load_ext asyncrepl")
    assert k.execute(observers).results != before
    k.execute("%unload_ext asyncrepl")
    assert k.execute(observers).results == before == ["['_update_exit_now']"]
