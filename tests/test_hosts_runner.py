"""The comparison in tests/hosts/run_host_suites.py (the suites themselves run in CI, ~10 minutes)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "hosts"))

import run_host_suites as hosts  # noqa: E402


def write_outcomes(path, records):
    path.write_text("".join(json.dumps(dict(zip(("id", "when", "outcome"), r))) + "\n" for r in records))


def test_a_test_failing_in_any_phase_is_failed_and_a_skip_is_a_skip(tmp_path):
    path = tmp_path / "outcomes"
    write_outcomes(path, [
        ("a", "call", "passed"),
        ("b", "call", "passed"), ("b", "teardown", "failed"),
        ("c", "setup", "skipped"),
        ("d", "call", "failed"),
    ])
    assert hosts.read_outcomes(path) == {"a": "passed", "b": "failed", "c": "skipped", "d": "failed"}


def test_only_new_failures_are_differences_and_listed_ones_are_expected(tmp_path):
    plain = hosts.Run("ipython", "plain", tmp_path, tmp_path)
    loaded = hosts.Run("ipython", "asyncrepl", tmp_path, tmp_path)
    plain.outcomes = {"same": "passed", "listed": "passed", "new": "skipped", "broken": "failed", "vanished": "passed", "gone": "skipped"}
    loaded.outcomes = {"same": "passed", "listed": "failed", "new": "failed", "broken": "failed", "extra": "failed"}
    expected = {"ipython: listed": "why", "ipython: fixed": "why", "ipykernel: new": "another suite"}
    listed, other, stale = hosts.compare(plain, loaded, expected)
    assert listed == ["listed"]
    assert other == ["new", "vanished"]
    assert stale == ["fixed"]


def test_every_expected_difference_names_its_suite_and_says_why():
    expected = hosts.read_expected()
    assert expected  # the file is read, and its format holds
    for key, reason in expected.items():
        suite, _, node_id = key.partition(": ")
        assert suite in ("ipython", "ipykernel") and "::" in node_id and reason
