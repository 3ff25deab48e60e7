"""Shared fixtures: generated audio libraries scanned once per session and copied per test, and a
check that no test leaves worker processes or threads behind (helpers live in tests/helpers.py)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest

from tests.helpers import children, cli, rate, run_cli


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Fail a test that leaves child processes (analysis workers, trainers, daemons, ffmpeg) or
    threads running after it ends, as watchdog's tests do for threads; they are stopped so the next
    test starts clean."""
    threads_before = set(threading.enumerate())
    children_before = set(children(os.getpid()))
    yield
    deadline = time.monotonic() + 5.0
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        procs = [p for p in children(os.getpid()) if p not in children_before]
        if not (threads or procs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in procs:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if threads or procs:
        names = [t.name for t in threads] + [_cmdline(p) for p in procs]
        pytest.fail(f"the test left {len(threads)} thread(s) and {len(procs)} process(es) running: {names}")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip() or str(pid)
    except OSError:
        return str(pid)


@pytest.fixture(scope="session")
def scanned_library(tmp_path_factory):
    """A library of 5 short tracks in each of four styles, scanned once: (music dir, home dir, tracks)."""
    from prefrec.synth import write_library

    base = tmp_path_factory.mktemp("library")
    music, home = base / "music", base / "home"
    tracks = write_library(music, ["plucks", "wind", "chiptune", "drums"], 5, seed=3, min_s=12, max_s=20)
    run_cli(home, "scan", str(music))
    return music, home, tracks


@pytest.fixture
def library(scanned_library, tmp_path):
    """A private copy of the scanned library's data dir: (music dir, home dir, tracks)."""
    music, home, tracks = scanned_library
    private = tmp_path / "home"
    shutil.copytree(home, private)
    return music, private, tracks


@pytest.fixture(scope="session")
def trained_library(scanned_library, tmp_path_factory):
    """The scanned library with 2 plucks liked, 2 wind skipped (one at 0:05) and a model trained:
    (music dir, home dir, tracks). Copy it (the `trained` fixture) before changing it."""
    music, home, tracks = scanned_library
    trained = tmp_path_factory.mktemp("trained") / "home"
    shutil.copytree(home, trained)
    rate(trained, tracks, "plucks", "wind", n=2)
    cli(trained, "train")
    return music, trained, tracks


@pytest.fixture
def trained(trained_library, tmp_path):
    """A private copy of the trained data dir: (music dir, home dir, tracks)."""
    music, home, tracks = trained_library
    private = tmp_path / "home"
    shutil.copytree(home, private)
    return music, private, tracks
