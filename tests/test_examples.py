"""Every runnable example and the demo, run for real."""

import os
import subprocess
import sys

from tests.conftest import ROOT


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "PREFREC_WORKERS": "2", "NO_COLOR": "1"}


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


def test_demo_puts_the_liked_style_on_top(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(tmp_path / "home"), "demo"],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "top 5 styles: pads, pads, pads, pads, pads" in proc.stderr, proc.stderr
    assert "best segments:" in proc.stdout
