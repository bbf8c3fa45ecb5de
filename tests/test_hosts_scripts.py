"""asyncrepl in IPython run as a program: ``-c`` and script files, whose output is piped.

The load banner is for a person at a prompt; a script's stdout is the
script's own (IPython's own tests compare it exactly).
"""

import subprocess

from harness import BIN, fresh_env

DEBUG_ON_THE_RUNNING_LOOP = "import asyncio; print(asyncio.get_running_loop().get_debug())"


def run(command, *args, env=None):
    return subprocess.run(
        [str(BIN / command), *args], env=env or fresh_env(), capture_output=True, text=True, timeout=60
    )


def test_ipython_ext_with_c_prints_only_the_programs_output():
    done = run("ipython", "--ext=asyncrepl", "-c", "print(1)")
    assert (done.stdout, done.stderr, done.returncode) == ("1\n", "", 0)
    # and asyncrepl is loaded: the code runs on its loop, in debug mode
    done = run("ipython", "--ext=asyncrepl", "-c", DEBUG_ON_THE_RUNNING_LOOP)
    assert (done.stdout, done.stderr) == ("True\n", "")


def test_asyncrepl_script_prints_only_the_scripts_output(tmp_path):
    script = tmp_path / "script.py"
    # A script file runs as plain Python (as with ``ipython script.py``), so
    # it shows asyncrepl is there by asking the shell.
    script.write_text("print(1)\nprint('asyncrepl' in get_ipython().extension_manager.loaded)\n")
    done = run("asyncrepl", str(script))
    assert (done.stdout, done.stderr, done.returncode) == ("1\nTrue\n", "", 0)


def test_a_skipped_setting_of_a_script_goes_to_stderr(tmp_path):
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "ipython_config.py").write_text("c.AsyncRepl.slow_callback_duration = 'soon'\n")
    done = run("asyncrepl", "-c", "print(1)", env=fresh_env(str(tmp_path)))
    assert done.stdout == "1\n"
    assert done.stderr.startswith("asyncrepl: ignored AsyncRepl.slow_callback_duration = 'soon'")
