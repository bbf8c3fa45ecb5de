"""pytest plugin for the host projects' own suites (see run_host_suites.py).

Loaded with ``-p asyncrepl_hosts_plugin`` into IPython's and ipykernel's own
test runs, in both modes, it

* writes every test's outcome, one JSON line each, to $ASYNCREPL_HOSTS_OUTCOMES;
* with $ASYNCREPL_HOSTS_LOAD set, loads asyncrepl into IPython's global test
  shell (the ``TerminalInteractiveShell`` instance that IPython's
  tests/conftest.py makes at import) once collection has made it, and notes in
  $ASYNCREPL_HOSTS_MARK whether it was loaded then and is still loaded at the end.
"""

from __future__ import annotations

import json
import os

import pytest


def _mark(line: str) -> None:
    path = os.environ.get("ASYNCREPL_HOSTS_MARK")
    if path:
        with open(path, "a") as marks:
            marks.write(line + "\n")


def _global_shell():
    from IPython.terminal.interactiveshell import TerminalInteractiveShell

    return TerminalInteractiveShell._instance


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session) -> None:
    if not os.environ.get("ASYNCREPL_HOSTS_LOAD"):
        return
    shell = _global_shell()
    if shell is None:
        _mark("ipython-shell loaded=False (no global test shell)")
        return
    shell.extension_manager.load_extension("asyncrepl")
    _mark(f"ipython-shell loaded={'asyncrepl' in shell.extension_manager.loaded}")


def pytest_sessionfinish(session) -> None:
    if not os.environ.get("ASYNCREPL_HOSTS_LOAD"):
        return
    shell = _global_shell()
    loaded = shell is not None and "asyncrepl" in shell.extension_manager.loaded
    _mark(f"ipython-shell at-end={loaded}")


def pytest_runtest_logreport(report) -> None:
    path = os.environ.get("ASYNCREPL_HOSTS_OUTCOMES")
    if not path:
        return
    if report.when == "call" or report.outcome != "passed":
        with open(path, "a") as outcomes:
            outcomes.write(json.dumps({"id": report.nodeid, "when": report.when, "outcome": report.outcome}) + "\n")
