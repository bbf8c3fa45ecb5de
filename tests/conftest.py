import atexit
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

# Never the user's own IPython directory: IPython writes every cell a shell
# runs into its profile's history.sqlite.  The in-process shell
# (InteractiveShell.instance() takes $IPYTHONDIR, else ~/.ipython, when it is
# made) and everything the tests start get a temporary one; the terminals and
# kernels started through harness.fresh_env get one each.  Set before any
# test makes a shell.  The connection files of the kernels the tests start go
# to a temporary Jupyter runtime folder too.
USERS_IPYTHON_DIR = Path(os.environ.get("IPYTHONDIR") or Path.home() / ".ipython").expanduser().resolve()
TEST_IPYTHON_DIR = Path(tempfile.mkdtemp(prefix="asyncrepl-tests-ipython-")).resolve()
os.environ["IPYTHONDIR"] = str(TEST_IPYTHON_DIR)
os.environ["JUPYTER_RUNTIME_DIR"] = str(TEST_IPYTHON_DIR / "jupyter-runtime")
atexit.register(shutil.rmtree, TEST_IPYTHON_DIR, ignore_errors=True)  # after IPython's own atexit (registered later)

import pytest  # noqa: E402

from harness import Kernel, Terminal  # noqa: E402


def pytest_configure(config):
    # Here, not in pyproject.toml's markers: CI keys its cached venvs on pyproject.toml.
    config.addinivalue_line(
        "markers",
        "corpus: the long end-to-end corpora (every example in a terminal and a kernel, the real services, "
        "the status line in a pty); CI runs them on some Pythons only (see .ci/run)",
    )
    config.addinivalue_line(
        "markers",
        "examples: the corpus's longest part, every example in a terminal and a kernel; "
        "CI runs it on the README's Python only (see .ci/run)",
    )


@pytest.fixture
def shell():
    """IPython's in-process InteractiveShell, with asyncrepl unloaded again afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("colors", "nocolor")
    yield ip
    if "asyncrepl" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "asyncrepl")
    ip.config.pop("AsyncRepl", None)  # %config in one test must not leak into the next


def run_cell(ip, capsys, code):
    """Run one cell in the in-process shell: its result, and stdout + stderr."""
    result = ip.run_cell(code, store_history=True)
    captured = capsys.readouterr()
    return result, captured.out + captured.err


def shell_state(ip):
    """Everything asyncrepl may touch, as comparable values."""
    from IPython.core.async_helpers import get_asyncio_loop

    loop = get_asyncio_loop()
    return {
        "autoawait": ip.autoawait,
        "loop_runner": ip.loop_runner,
        "trio_runner": ip.trio_runner,
        "custom_exceptions": ip.custom_exceptions,
        "CustomTB": ip.CustomTB,
        "input_transformers_post": list(ip.input_transformers_post),
        "ast_transformers": list(ip.ast_transformers),
        "configurables": list(ip.configurables),
        "line magics": sorted(ip.magics_manager.magics["line"]),
        "cell magics": sorted(ip.magics_manager.magics["cell"]),
        "events": {name: list(callbacks) for name, callbacks in ip.events.callbacks.items()},
        "sigint": signal.getsignal(signal.SIGINT),
        "asyncio log filters": list(logging.getLogger("asyncio").filters),
        "asyncio log handlers": list(logging.getLogger("asyncio").handlers),
        "loop debug": loop.get_debug(),
        "slow_callback_duration": loop.slow_callback_duration,
        "warnings filters": __import__("warnings").filters[:],
        "warnings.showwarning": __import__("warnings").showwarning,
        "loop exception handler": loop.get_exception_handler(),
        "loop task factory": loop.get_task_factory(),
        "bottom toolbar": getattr(getattr(ip, "pt_app", None), "bottom_toolbar", None),
        "asyncrepl threads": sorted(t.name for t in __import__("threading").enumerate() if t.name.startswith("asyncrepl")),
    }


@pytest.fixture
def terminal():
    """A real IPython terminal in a pty; call it with a command and arguments."""
    started = []

    def start(command="ipython", *args, **kwargs):
        term = Terminal(command, args, **kwargs)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


@pytest.fixture
def kernel():
    started = []

    def start(**kwargs):
        k = Kernel(**kwargs)
        started.append(k)
        return k

    yield start
    for k in started:
        k.close()
