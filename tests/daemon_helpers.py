"""Running `python -m prefrec daemon` as a real process in tests, and reading what it wrote."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import FAST_PRETRAIN, ROOT, db_rows

# Small, fast settings: files settle in half a second, training is a few epochs, pretraining a few steps.
FAST = {"PREFREC_SETTLE_S": "0.5", "PREFREC_QUIET_PERIOD_S": "600", "PREFREC_TRAIN_AFTER_EVENTS": "1000",
        "PREFREC_TRAIN_MAX_EPOCHS": "3", "PREFREC_WORKERS": "1", **FAST_PRETRAIN}


query = db_rows


def wait_until(check, *, timeout: float = 90.0, what: str = "condition", daemon: Daemon | None = None):
    """Poll check() until it returns something truthy; fail with the daemon's log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except sqlite3.OperationalError:  # e.g. the schema is not there yet
            value = None
        if value:
            return value
        if daemon is not None and daemon.proc.poll() is not None:
            raise AssertionError(f"the daemon exited ({daemon.proc.returncode}) while waiting for {what}\n"
                                 f"{daemon.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{daemon.log() if daemon else ''}")
        time.sleep(0.1)


class Daemon:
    """A `prefrec daemon` subprocess with its stderr in a file."""

    def __init__(self, home: Path, *roots: Path, **settings: str | None) -> None:
        """settings: PREFREC_* variables over FAST; None removes one (so config.toml decides)."""
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **FAST, **settings}
        env = {k: v for k, v in env.items() if v is not None and k != "PREFREC_HOME"}
        self.stderr_path = home.parent / f"daemon-stderr-{time.monotonic_ns()}.txt"
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefrec", "--home", str(home), "daemon", *map(str, roots)],
            stdout=subprocess.DEVNULL, stderr=self.stderr, env=env)

    def log(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def state(self) -> dict | None:
        try:
            rows = query(self.home, "SELECT pid, state, queue, watcher, last_error FROM daemon")
        except sqlite3.OperationalError:
            return None
        if not rows:
            return None
        return dict(zip(("pid", "state", "queue", "watcher", "last_error"), rows[0]))

    def wait_started(self) -> dict:
        return wait_until(lambda: (s := self.state()) and s["pid"] == self.proc.pid and s, what="start",
                          daemon=self)

    def wait_idle(self, timeout: float = 120.0) -> None:
        wait_until(lambda: (s := self.state()) and s["pid"] == self.proc.pid and s["state"] == "idle"
                   and s["queue"] == 0, timeout=timeout, what="idle", daemon=self)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Send `sig`, wait for the exit; returns the seconds it took."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout)
        self.stderr.close()
        return time.monotonic() - started

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self.stderr.close()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.stderr.close()


def tracks_by_path(home: Path) -> dict[str, tuple]:
    """path -> (identity, gone, analysed_at, duration_s) for every row of `tracks`."""
    return {r[0]: r[1:] for r in query(home, "SELECT path, identity, gone, analysed_at, duration_s FROM tracks")}
