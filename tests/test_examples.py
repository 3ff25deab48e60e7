"""Every runnable example and the demo, run for real."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, TEST_ENV


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), **TEST_ENV}


def test_python_api_example_recommends_the_liked_style_first(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py"), str(tmp_path)],
                          capture_output=True, text=True, env=_env(), timeout=300, check=True)
    styles = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert styles == ["plucks", "plucks", "wind", "wind"], proc.stdout


def test_quickstart_script_runs_the_daily_loop(tmp_path):
    from prefrec.synth import write_library

    write_library(tmp_path / "music", ["chiptune", "pads"], 2, seed=5, min_s=10, max_s=12)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "prefrec").write_text(f"#!/bin/sh\nexec {sys.executable} -m prefrec \"$@\"\n")
    (bin_dir / "prefrec").chmod(0o755)
    env = {**_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}", "PREFREC_HOME": str(tmp_path / "home")}
    proc = subprocess.run(["bash", str(ROOT / "examples" / "quickstart.sh"), str(tmp_path / "music")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "best segments:" in proc.stdout and "library:  4 tracks, 4 analysed" in proc.stdout


@pytest.mark.slow  # the demo as `make demo` runs it: 24 tracks, about a minute
def test_demo_puts_the_liked_style_on_top(tmp_path):
    env = {k: v for k, v in _env().items() if k != "PREFREC_PRETRAIN_MAX_STEPS"}  # pretrained in full, as `make demo`
    proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(tmp_path / "home"), "demo"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "top 5 styles: pads, pads, pads, pads, pads" in proc.stderr, proc.stderr
    assert "best segments:" in proc.stdout


def test_systemd_unit_runs_the_daemon_as_documented(tmp_path):
    """Run examples/prefrec.service's ExecStart/ExecReload/KillSignal as systemd would (%h = HOME)."""
    import configparser
    import shlex
    import signal
    import time

    from prefrec.synth import write_library

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "examples" / "prefrec.service")
    service = unit["Service"]
    home = tmp_path / "user"
    write_library(home / "Music", ["pads"], 1, seed=2, min_s=9, max_s=10)
    shim = home / ".local" / "bin" / "prefrec"
    shim.parent.mkdir(parents=True)
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m prefrec \"$@\"\n")
    shim.chmod(0o755)
    env = {**_env(), "HOME": str(home), "PREFREC_SETTLE_S": "0.3", "PREFREC_WORKERS": "1"}
    for name in ("PREFREC_HOME", "XDG_DATA_HOME"):
        env.pop(name, None)
    command = shlex.split(service["ExecStart"].replace("%h", str(home)))
    log = home / ".local" / "share" / "prefrec" / "logs" / "daemon.log"  # where the README says
    daemon = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and "analysed" in log.read_text()):
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text() if log.exists() else ""
            time.sleep(0.1)
        reload = shlex.split(service["ExecReload"].replace("$MAINPID", str(daemon.pid)))
        subprocess.run(reload, check=True)
        while "SIGHUP: settings reloaded" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        daemon.send_signal(getattr(signal, service["KillSignal"]))
        daemon.wait(float(service["TimeoutStopSec"]))
        assert daemon.returncode == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
