"""One trainer at a time per data dir: `prefrec train` while another process holds the trainer
lock waits for it, or after `trainer_wait_s` says in one line who holds it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from tests.helpers import ROOT, cli, db_rows, run_cli

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from prefrec.lock import TRAINER_LOCK, PidLock
    lock = PidLock(Path(sys.argv[1]) / TRAINER_LOCK, what="a training")
    lock.acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def hold_trainer_lock(home, seconds: float) -> subprocess.Popen:
    """Another process holding HOME's trainer lock for `seconds` (it has it when this returns)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(home), str(seconds)], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_train_while_another_process_trains_says_who_after_trainer_wait_s(trained):
    _, home, _ = trained
    models = db_rows(home, "SELECT count(*) FROM models")
    holder = hold_trainer_lock(home, 60)
    try:
        started = time.monotonic()
        ran = run_cli(home, "train", check=False, env={"PREFREC_TRAINER_WAIT_S": "1"})
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert ran.returncode == 1 and ran.stdout == ""
    assert ran.stderr == (f"prefrec: {home}: another prefrec process (pid {holder.pid}) is training; wait for it "
                          "to finish (`prefrec status` shows the daemon's state)\n")
    assert waited >= 1.0
    assert db_rows(home, "SELECT count(*) FROM models") == models


def test_train_waits_for_the_other_trainer_then_trains(trained):
    _, home, _ = trained
    (models,), = db_rows(home, "SELECT count(*) FROM models")
    holder = hold_trainer_lock(home, 2)
    try:
        started = time.monotonic()
        cli(home, "train", env={"PREFREC_TRAIN_MAX_EPOCHS": "1"})
        waited = time.monotonic() - started
    finally:
        holder.wait()
    assert waited >= 1.5
    assert db_rows(home, "SELECT count(*) FROM models") == [(models + 1,)]
