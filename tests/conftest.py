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


def invoke(home: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process (prefrec.cli.main with typer's CliRunner isolation) on data dir
    `home`: (exit code, stdout, stderr). For tests where a subprocess's start-up buys nothing."""
    from typer.testing import CliRunner

    from prefrec.cli import main

    runner = CliRunner(env={"NO_COLOR": "1", "PREFREC_HOME": None})
    with runner.isolation(input=input) as (out, err, _):
        try:
            main(["--home", str(home), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue().decode(), err.getvalue().decode()


def named_library(root: Path, tracks: list[tuple[str, str | None, str | None, str]], **extra) -> Path:
    """A data dir at root/home whose database knows `tracks` (title, artist, album, path relative to
    root/music), each an (empty) file on disk, recorded as analysed 3-minute tracks through the
    Store. No audio: for tests of naming, browsing and listing. Returns the data dir.
    `extra` (path -> dict of columns) overrides columns of some tracks (e.g. note, n_frames)."""
    from prefrec.store import Store

    home, music = root / "home", root / "music"
    rows = []
    for i, (title, artist, album, relative) in enumerate(tracks):
        path = music / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        rows.append({"path": str(path), "identity": f"a2-{i:032x}", "title": title, "artist": artist,
                     "album": album, "duration_s": 180.0, "n_frames": 9000, "truncated": 0, "size": 0,
                     "mtime_ns": 0, "feature_version": 2, "note": "", **extra.get(relative, {})})
    with Store(home / "prefrec.sqlite") as store:
        store.record_analysed(rows)
    return home


def read_terminal(fd: int, *, respond=None, timeout_s: float = 60.0) -> bytes:
    """Everything written to the pseudo-terminal `fd` until the program closes it (or timeout_s);
    respond(seen so far) may return bytes to type in reply (or None). Closes `fd`."""
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            reply = respond(seen) if respond else None
            if reply:
                os.write(fd, reply)
    finally:
        os.close(fd)
    return seen
