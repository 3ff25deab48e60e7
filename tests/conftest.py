"""Shared fixtures: generated audio libraries scanned once per session, copied per test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(home: Path, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m prefrec --home HOME ARGS...` as a real subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PREFREC_WORKERS": "2"}
    env.pop("PREFREC_HOME", None)
    proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(home), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"prefrec {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_json(home: Path, *args: str):
    return json.loads(run_cli(home, *args).stdout)


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


def tone(seconds: float, freq: float = 440.0, rate: int = 22050, *, channels: int = 1) -> np.ndarray:
    """A sine tone float32 [n] or [n, channels] at 0.5 amplitude."""
    t = np.arange(int(seconds * rate)) / rate
    y = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(y[:, None], channels, axis=1) if channels > 1 else y
