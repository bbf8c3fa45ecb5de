"""Run IPython's and ipykernel's own test suites with asyncrepl loaded, against a plain run.

    python tests/hosts/run_host_suites.py [--suite ipython|ipykernel] [--work DIR]

Uses the IPython and ipykernel installed in this interpreter's environment
(which needs the suites' test requirements: pytest-asyncio, pytest-cov, testpath, flaky,
setuptools>=80): their sdists, which ship ``tests/``, are fetched with pip for
exactly those versions (ipyparallel is left out: the one test that needs it
fails in both modes).  Each suite runs twice, in its own copy of the sdist:

* plain;
* with asyncrepl: for IPython, loaded into its global test shell (the
  ``asyncrepl_hosts_plugin`` beside this file); for ipykernel, into every
  kernel its tests start (an IPYTHONDIR profile whose ipython_kernel_config.py
  lists the extension).  Both runs note whether asyncrepl was loaded, and the
  check fails unless it was loaded in the one and not in the other.

A test that passed (or was skipped) plain and fails with asyncrepl is a
difference.  The only ones allowed are listed in ``expected_differences``
beside this file, one a line as ``SUITE: NODE ID | why``.  Every other
difference is run again, alone, in both modes: one that then passes with
asyncrepl is reported as flaky; one that fails again fails the check.

With ``--baseline-cache DIR`` a plain run's outcomes are kept in *DIR* and
reused by the next check with the same Python, the same installed packages
and the same two files of this check (the plain runs never load asyncrepl,
so nothing of asyncrepl's can change them): CI then runs only the two suites
with asyncrepl, at once.  Every failure with asyncrepl is then run again,
alone, in both modes (a kept plain failure may have been a flaky one).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected_differences"
TIMEOUT_PER_TEST = 300  # seconds; a hang is a failure, not a stuck CI job

# A line every kernel the ipykernel tests start runs after its extensions
# load (a statement, so that it displays nothing): whether asyncrepl is there.
KERNEL_MARK_LINE = (
    "with open(__import__('os').environ['ASYNCREPL_HOSTS_MARK'], 'a') as _asyncrepl_hosts_mark: "
    "_asyncrepl_hosts_mark.write('kernel loaded=%s\\n' % ('asyncrepl' in get_ipython().extension_manager.loaded))"
)


@dataclass
class Run:
    suite: str
    mode: str  # "plain" or "asyncrepl"
    root: Path  # the sdist's folder
    work: Path
    outcomes: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    seconds: float = 0.0

    @property
    def kept(self) -> bool:
        """A plain run's outcomes taken from the baseline cache: not run this time."""
        return self.mode == "plain-kept"

    @property
    def loads_asyncrepl(self) -> bool:
        return self.mode.startswith("asyncrepl")

    @property
    def name(self) -> str:
        return f"{self.suite}-{self.mode}"

    @property
    def log(self) -> Path:
        return self.work / f"{self.name}.log"

    @property
    def marks(self) -> list[str]:
        path = self.work / f"{self.name}.marks"
        return path.read_text().splitlines() if path.exists() else []


def installed_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def fetch_sdist(name: str, version: str, into: Path) -> Path:
    """The sdist of *name* at *version*, unpacked in *into*; its folder."""
    downloads = into / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", name,
               "-d", str(downloads), f"{name}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(downloads.glob(f"{name}-{version}.tar.gz"))
    if done.returncode != 0 or not archives:
        raise SystemExit(
            f"could not fetch the sdist of {name}=={version} (its tests ship only there):\n{done.stderr.strip()}"
        )
    return archives[0]


def unpack(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(into)
    return into / archive.name[: -len(".tar.gz")]


def kernel_profile(ipython_dir: Path, with_asyncrepl: bool) -> None:
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    extensions = '["asyncrepl"]' if with_asyncrepl else "[]"
    (profile / "ipython_kernel_config.py").write_text(
        f"c.InteractiveShellApp.extensions = {extensions}\n"
        f"c.InteractiveShellApp.exec_lines = [{KERNEL_MARK_LINE!r}]\n"
    )


def pytest_command(run: Run, node_ids: list[str] = ()) -> tuple[list[str], dict[str, str]]:
    marks = run.work / f"{run.name}.marks"
    outcomes = run.work / f"{run.name}.outcomes"
    env = dict(os.environ)
    env.pop("PYTHONASYNCIODEBUG", None)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        ASYNCREPL_HOSTS_MARK=str(marks),
        ASYNCREPL_HOSTS_OUTCOMES=str(outcomes),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("ASYNCREPL_HOSTS_LOAD", None)
    command = [sys.executable, "-m", "pytest", "-p", "asyncrepl_hosts_plugin", "-p", "no:cacheprovider",
               f"--timeout={TIMEOUT_PER_TEST}", "-q", "--color=no"]
    if run.suite == "ipython":
        if run.loads_asyncrepl:
            env["ASYNCREPL_HOSTS_LOAD"] = "1"
        if node_ids:
            # IPython's tests/conftest.py makes the global test shell (the
            # doctests under IPython/ need it too): collected first, it is loaded.
            command.append("tests/test_imports.py")
    else:
        ipython_dir = run.work / f"{run.name}-ipythondir"
        kernel_profile(ipython_dir, with_asyncrepl=run.loads_asyncrepl)
        env["IPYTHONDIR"] = str(ipython_dir)
        # ipykernel's suite turns warnings into errors, and pytest-asyncio 1.x
        # warns at start-up unless this is set.
        command += ["-o", "asyncio_default_fixture_loop_scope=function"]
        if not node_ids:
            command.append("tests")
    command.extend(node_ids)
    return command, env


def run_suite(run: Run, node_ids: list[str] = ()) -> Run:
    for name in (f"{run.name}.marks", f"{run.name}.outcomes"):
        (run.work / name).unlink(missing_ok=True)
    command, env = pytest_command(run, list(node_ids))
    start = time.monotonic()
    with open(run.log, "w") as log:
        run.returncode = subprocess.run(command, cwd=run.root, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    run.seconds = time.monotonic() - start
    run.outcomes = read_outcomes(run.work / f"{run.name}.outcomes")
    return run


def baseline_path(cache: Path, suite: str) -> Path:
    """Where a plain run of *suite* in this environment keeps its outcomes."""
    return cache / f"{suite}-plain-{_environment_key()}.json"


@functools.cache
def _environment_key() -> str:
    """A name that changes with Python, every installed package's version and
    the check's own two files (read once: the packages do not change while it runs)."""
    from importlib.metadata import distributions

    digest = hashlib.sha256(sys.version.encode())
    for line in sorted(f"{dist.metadata['Name']}=={dist.version}" for dist in distributions()):
        if not line.startswith("asyncrepl=="):  # the plain runs never load it
            digest.update(line.encode())
    for name in ("run_host_suites.py", "asyncrepl_hosts_plugin.py"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def reuse_baseline(run: Run, cache: Path | None) -> bool:
    """Give a plain *run* the outcomes kept from an earlier one; True if there were some."""
    path = baseline_path(cache, run.suite) if cache is not None else None
    if path is None or not path.exists():
        return False
    kept = json.loads(path.read_text())
    run.outcomes, run.returncode = kept["outcomes"], kept["returncode"]
    run.mode = "plain-kept"
    return True


def keep_baseline(run: Run, cache: Path | None) -> None:
    if cache is not None and run.returncode in (0, 1) and run.outcomes:
        cache.mkdir(parents=True, exist_ok=True)
        path = baseline_path(cache, run.suite)
        path.write_text(json.dumps({"outcomes": run.outcomes, "returncode": run.returncode}))


def read_outcomes(path: Path) -> dict[str, str]:
    """Each test's outcome: failed if any phase failed, else skipped if any was, else passed."""
    outcomes: dict[str, str] = {}
    if not path.exists():
        return outcomes
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        previous = outcomes.get(record["id"], "passed")
        outcomes[record["id"]] = max(previous, record["outcome"], key=rank.__getitem__)
    return outcomes


def read_expected() -> dict[str, str]:
    expected = {}
    for number, line in enumerate(EXPECTED.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, bar, reason = line.partition(" | ")
        if not bar or not reason.strip() or ": " not in key:
            raise SystemExit(f"{EXPECTED.name}:{number}: want 'SUITE: NODE ID | why', got {line!r}")
        expected[key.strip()] = reason.strip()
    return expected


def counts(outcomes: dict[str, str]) -> str:
    values = list(outcomes.values())
    return ", ".join(f"{values.count(kind)} {kind}" for kind in ("passed", "failed", "skipped"))


def load_problems(plain: Run, with_asyncrepl: Run) -> list[str]:
    """Whether asyncrepl really was loaded in the one run and not in the other."""
    problems = []
    if plain.suite == "ipython":
        marks = with_asyncrepl.marks
        if "ipython-shell loaded=True" not in marks:
            problems.append(f"ipython: asyncrepl was not loaded into the global test shell ({marks})")
        elif "ipython-shell at-end=True" not in marks:
            print("ipython: note: the global test shell no longer had asyncrepl at the end")
        if plain.marks:
            problems.append(f"ipython: the plain run noted {plain.marks}")
    else:
        loaded = with_asyncrepl.marks
        if not loaded or any(mark != "kernel loaded=True" for mark in loaded):
            problems.append(f"ipykernel: not every kernel had asyncrepl: {sorted(set(loaded)) or 'no kernel noted'}")
        if any(mark != "kernel loaded=False" for mark in plain.marks):
            problems.append(f"ipykernel: the plain run's kernels noted {sorted(set(plain.marks))}")
        plain_kernels = "the plain run's kept" if plain.kept else f"{len(plain.marks)} plain"
        print(f"ipykernel: {len(loaded)} kernels started with asyncrepl, {plain_kernels}")
    return problems


def compare(plain: Run, with_asyncrepl: Run, expected: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(differences listed as expected, other differences, listed ones that did not differ)."""
    listed, other = [], []
    for node_id, outcome in sorted(with_asyncrepl.outcomes.items()):
        # A kept plain run's failure may have been a flaky one: every failure
        # with asyncrepl is then run again in both modes, not taken as shared.
        if outcome == "failed" and (plain.kept or plain.outcomes.get(node_id) in ("passed", "skipped")):
            (listed if f"{plain.suite}: {node_id}" in expected else other).append(node_id)
    for node_id in sorted(plain.outcomes.keys() - with_asyncrepl.outcomes.keys()):
        if plain.outcomes[node_id] == "passed":
            other.append(node_id)  # did not even run with asyncrepl
    stale = [
        key.partition(": ")[2]
        for key in expected
        if key.startswith(f"{plain.suite}: ") and key.partition(": ")[2] not in listed
    ]
    return listed, other, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["ipython", "ipykernel"], action="append",
                        help="run only this suite (default: both)")
    parser.add_argument("--work", type=Path, help="where the sdists, logs and outcomes go (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at the same time (default 2)")
    parser.add_argument("--baseline-cache", type=Path,
                        help="keep the plain runs' outcomes here and reuse them while nothing they depend on changed")
    args = parser.parse_args(argv)
    suites = args.suite or ["ipython", "ipykernel"]
    work = (args.work or Path(tempfile.mkdtemp(prefix="asyncrepl-hosts-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    expected = read_expected()

    packages = {"ipython": "ipython", "ipykernel": "ipykernel"}
    print(f"Python {sys.version.split()[0]}; work in {work}")
    runs: list[tuple[Run, Run]] = []
    for suite in suites:
        version = installed_version(packages[suite])
        archive = fetch_sdist(packages[suite], version, work)
        print(f"{suite} {version}: {archive.name}")
        pair = []
        for mode in ("plain", "asyncrepl"):
            folder = work / mode
            shutil.rmtree(folder / archive.name[: -len(".tar.gz")], ignore_errors=True)
            pair.append(Run(suite, mode, unpack(archive, folder), work))
        runs.append((pair[0], pair[1]))

    for plain, _ in runs:
        if reuse_baseline(plain, args.baseline_cache):
            print(f"  {plain.suite}-plain: {counts(plain.outcomes)}, kept from an earlier run (--baseline-cache)")
    every_run = [run for pair in runs for run in pair if not run.kept]
    # The long ones first, so that the two cores stay busy.
    every_run.sort(key=lambda run: run.suite != "ipython")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for run in pool.map(run_suite, every_run):
            print(f"  {run.name}: {counts(run.outcomes)} in {run.seconds:.0f} s (pytest exit {run.returncode}; log {run.log})")

    failed = False
    for plain, with_asyncrepl in runs:
        print(f"\n== {plain.suite}")
        for run in (plain, with_asyncrepl):
            if run.returncode not in (0, 1) or not run.outcomes:
                print(f"{run.name}: pytest did not run the suite (exit {run.returncode}); see {run.log}")
                failed = True
        problems = load_problems(plain, with_asyncrepl)
        for problem in problems:
            print(problem)
            failed = True
        if not problems and not plain.kept:
            keep_baseline(plain, args.baseline_cache)
        listed, other, stale = compare(plain, with_asyncrepl, expected)
        for node_id in listed:
            print(f"expected difference: {node_id}: {expected[f'{plain.suite}: {node_id}']}")
        for node_id in stale:
            print(f"note: listed in {EXPECTED.name} but did not differ this time: {node_id}")
        if other:
            print(f"{len(other)} other differences; running each again, alone, in both modes")
            again_plain = run_suite(Run(plain.suite, "plain-again", plain.root, plain.work), other)
            again = run_suite(Run(plain.suite, "asyncrepl-again", with_asyncrepl.root, with_asyncrepl.work), other)
            for node_id in other:
                outcome, outcome_plain = again.outcomes.get(node_id), again_plain.outcomes.get(node_id)
                if outcome in ("passed", "skipped"):
                    print(f"flaky (failed once with asyncrepl, then passed): {node_id}")
                elif outcome_plain not in ("passed", "skipped"):
                    print(f"not a difference (failed plain too when run again): {node_id}")
                else:
                    print(f"NEW DIFFERENCE: {node_id} (plain {plain.outcomes.get(node_id)}, with asyncrepl {outcome})")
                    failed = True
    print()
    print("host suites: " + ("FAILED, see above" if failed else "no differences but the expected ones"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
