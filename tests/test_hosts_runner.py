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


def test_a_kept_plain_run_is_reused_while_nothing_it_depends_on_changed(tmp_path):
    cache = tmp_path / "cache"
    plain = hosts.Run("ipykernel", "plain", tmp_path, tmp_path)
    assert not hosts.reuse_baseline(plain, cache)  # nothing kept yet: it runs
    plain.outcomes, plain.returncode = {"a": "passed", "flaky": "failed"}, 1
    hosts.keep_baseline(plain, cache)
    again = hosts.Run("ipykernel", "plain", tmp_path, tmp_path)
    assert hosts.reuse_baseline(again, cache) and again.kept
    assert again.outcomes == {"a": "passed", "flaky": "failed"} and again.returncode == 1
    assert not hosts.reuse_baseline(hosts.Run("ipython", "plain", tmp_path, tmp_path), cache)  # another suite's
    assert not hosts.reuse_baseline(hosts.Run("ipykernel", "plain", tmp_path, tmp_path), None)  # no cache asked for


def test_with_a_kept_plain_run_every_failure_with_asyncrepl_is_run_again(tmp_path):
    # A failure the kept plain run had may have been a flaky one, not one both modes share.
    plain = hosts.Run("ipython", "plain-kept", tmp_path, tmp_path)
    loaded = hosts.Run("ipython", "asyncrepl", tmp_path, tmp_path)
    plain.outcomes = {"same": "passed", "both": "failed", "listed": "passed"}
    loaded.outcomes = {"same": "passed", "both": "failed", "listed": "failed", "unknown": "failed"}
    listed, other, _ = hosts.compare(plain, loaded, {"ipython: listed": "why"})
    assert listed == ["listed"] and other == ["both", "unknown"]


def test_every_expected_difference_names_its_suite_and_says_why():
    expected = hosts.read_expected()
    assert expected  # the file is read, and its format holds
    for key, reason in expected.items():
        suite, _, node_id = key.partition(": ")
        assert suite in ("ipython", "ipykernel") and "::" in node_id and reason
