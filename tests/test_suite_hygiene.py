"""The suite's own rule: a test that leaves a child process or a thread running fails (the autouse
fixture `nothing_left_behind` in conftest.py), checked on an inner pytest run."""

from __future__ import annotations

from tests.helpers import ROOT

pytest_plugins = "pytester"

INNER = '''
import subprocess, threading, time

def test_leaves_a_process():
    subprocess.Popen(["sleep", "60"])

def test_leaves_a_thread():
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()

def test_cleans_up():
    proc = subprocess.Popen(["sleep", "60"])
    proc.kill()
    proc.wait()
'''


def test_a_test_that_leaves_a_process_or_a_thread_behind_fails(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PREFREC_TEST_LEAK_GRACE_S", "0.5")  # how long the fixture waits for things to end
    pytester.makeconftest("from tests.conftest import nothing_left_behind  # noqa: F401\n")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3, errors=2)
    output = result.stdout.str()
    assert "the test left 0 thread(s) and 1 process(es) running: ['sleep 60']" in output
    assert "the test left 1 thread(s) and 0 process(es) running: ['Thread-1 (sleep)']" in output
