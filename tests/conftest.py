"""Shared fixtures: generated audio libraries scanned once per session and copied per test, and a
check that no test leaves worker processes or threads behind (helpers live in tests/helpers.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import built_once, children, cli, rate, run_cli
from tests.player_helpers import mpd_server, session_bus  # noqa: F401 - fixtures for every test module


def pytest_configure(config):
    """One OpenMP (torch) thread per process unless the environment says otherwise: pytest-xdist
    already runs one test per core, and torch's second intra-op thread in each worker (and in each
    process a test starts) only oversubscribes the cores, its threads spinning while they wait
    (measured with -n 2 on 2 cores: the model, train, order and pretrain tests 38 s -> 24 s of wall
    time, 69 -> 43 s of CPU). Set before anything imports torch; prefrec itself already trains,
    pretrains and rescores on one thread."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Fail a test that leaves child processes (analysis workers, trainers, daemons, ffmpeg) or
    threads running after it ends, as watchdog's tests do for threads; they are stopped so the next
    test starts clean."""
    threads_before = set(threading.enumerate())
    children_before = set(children(os.getpid()))
    yield
    deadline = time.monotonic() + float(os.environ.get("PREFREC_TEST_LEAK_GRACE_S", "5"))
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        procs = [p for p in children(os.getpid()) if p not in children_before and not _interpreter_helper(p)]
        if not (threads or procs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    names = [t.name for t in threads] + [_cmdline(p) for p in procs]
    for pid in procs:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if threads or procs:
        pytest.fail(f"the test left {len(threads)} thread(s) and {len(procs)} process(es) running: {names}")


def _interpreter_helper(pid: int) -> bool:
    """Whether `pid` is the interpreter's own multiprocessing resource tracker: one per interpreter,
    started by the first multiprocessing pool (prefrec.rescoring's), ending with the interpreter."""
    return "multiprocessing.resource_tracker" in _cmdline(pid)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip() or str(pid)
    except OSError:
        return str(pid)


@pytest.fixture(scope="session")
def scanned_library(tmp_path_factory):
    """A library of 5 short tracks in each of four styles, scanned once: (music dir, home dir, tracks)."""
    from prefrec.synth import SynthTrack, write_library

    def build(base):
        tracks = write_library(base / "music", ["plucks", "wind", "chiptune", "drums"], 5, seed=3, min_s=12, max_s=20)
        # the others wait for it; pretrained for 30 steps like every test library (helpers.FAST_PRETRAIN)
        run_cli(base / "home", "scan", str(base / "music"), env={"PREFREC_WORKERS": "2"})
        (base / "tracks.json").write_text(json.dumps([{**vars(t), "path": str(t.path)} for t in tracks]))

    base = built_once(tmp_path_factory, "library", build)
    tracks = [SynthTrack(**{**t, "path": Path(t["path"])}) for t in json.loads((base / "tracks.json").read_text())]
    return base / "music", base / "home", tracks


def _private_copy(shared: tuple, tmp_path: Path) -> tuple:
    """(music dir, a copy of the shared home dir under tmp_path, tracks) of a shared fixture's value."""
    music, home, tracks = shared
    private = tmp_path / "home"
    shutil.copytree(home, private)
    return music, private, tracks


@pytest.fixture
def library(scanned_library, tmp_path):
    """A private copy of the scanned library's data dir: (music dir, home dir, tracks)."""
    return _private_copy(scanned_library, tmp_path)


@pytest.fixture(scope="session")
def trained_library(scanned_library, tmp_path_factory):
    """The scanned library with 2 plucks liked, 2 wind skipped (one at 0:05) and a model trained:
    (music dir, home dir, tracks). Copy it (the `trained` fixture) before changing it."""
    music, home, tracks = scanned_library

    def build(base):
        shutil.copytree(home, base / "home")
        rate(base / "home", tracks, "plucks", "wind", n=2)
        cli(base / "home", "train")

    return music, built_once(tmp_path_factory, "trained", build) / "home", tracks


@pytest.fixture
def trained(trained_library, tmp_path):
    """A private copy of the trained data dir: (music dir, home dir, tracks)."""
    return _private_copy(trained_library, tmp_path)
