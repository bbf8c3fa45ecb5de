"""The tests never write into the user's own IPython directory."""

import os
import tempfile
from pathlib import Path

import conftest
from conftest import run_cell
from harness import fresh_env

# What the user's IPython directory is, outside the tests: $IPYTHONDIR as
# pytest found it, else ~/.ipython.
USERS_IPYTHON_DIR = getattr(conftest, "USERS_IPYTHON_DIR", Path.home() / ".ipython")
TEMPORARY = Path(tempfile.gettempdir())


def _inside(path, folder) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def test_the_in_process_shell_keeps_its_history_in_a_temporary_ipython_dir(shell, capsys):
    run_cell(shell, capsys, "isolation_check = 1")  # a cell with store_history=True, as every test's
    history = shell.history_manager.hist_file
    assert str(history) != ":memory:"  # a real file, where the user's history would be written
    assert _inside(history, shell.profile_dir.location)
    for path in (shell.ipython_dir, shell.profile_dir.location, history):
        assert not _inside(path, USERS_IPYTHON_DIR), path
        assert _inside(path, TEMPORARY), path


def test_terminals_and_kernels_get_a_temporary_ipython_dir_of_their_own():
    env = fresh_env()
    assert not _inside(env["IPYTHONDIR"], USERS_IPYTHON_DIR) and _inside(env["IPYTHONDIR"], TEMPORARY)
    assert env["IPYTHONDIR"] != os.environ.get("IPYTHONDIR")  # not even the in-process shell's
    # The kernels' connection files: not in the user's ~/.local/share/jupyter/runtime.
    assert _inside(env.get("JUPYTER_RUNTIME_DIR", Path.home() / ".local"), TEMPORARY)
