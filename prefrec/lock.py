"""Locks on the data dir: one daemon, and one trainer at a time.

Each is an flock on a small file in the data dir holding its holder's pid; the kernel frees it
when the process dies, however it dies. Standard library only: `prefrec status` reads them.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from prefrec.errors import PrefrecError

DAEMON_LOCK = "daemon.lock"
TRAINER_LOCK = "trainer.lock"


class LockHeld(PrefrecError):
    """Another process holds the lock; `pid` is its pid (0 when not written yet)."""

    def __init__(self, message: str, pid: int) -> None:
        super().__init__(message)
        self.pid = pid


def lock_holder(path: Path) -> int | None:
    """The pid holding the lock file `path`, 0 if it is held but the pid is not written yet, or
    None when nobody holds it. Fast; never creates the file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class PidLock:
    """An exclusive flock on a file that holds the holder's pid. Use as a context manager."""

    def __init__(self, path: Path, *, what: str) -> None:
        self.path = Path(path)
        self.what = what  # e.g. "a daemon", "a training" (for messages)
        self.fd: int | None = None

    def acquire(self, *, wait_s: float = 1.0) -> None:
        """Take the lock, waiting up to `wait_s` seconds, or raise LockHeld naming the holder.

        Even with wait_s=0 it retries briefly: `prefrec status` takes a shared lock for an instant.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(wait_s, 0.2)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                pid = int(text) if text.isdigit() else 0
                raise LockHeld(f"{self.what} (pid {pid or 'unknown'}) is already running on {self.path.parent}",
                               pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> PidLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_daemon_pid(home: Path) -> int | None:
    """The pid of the daemon running on data dir `home`, or None."""
    return lock_holder(Path(home) / DAEMON_LOCK)


def running_trainer_pid(home: Path) -> int | None:
    """The pid of the process training on data dir `home` (`prefrec train`, scan, or the daemon's
    training child), or None."""
    return lock_holder(Path(home) / TRAINER_LOCK)
