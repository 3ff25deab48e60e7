"""What the tests share: running the command line (in-process or as a real process), generated
audio, reading the database, finding worker processes, and a full disk.

Most command-line tests run `prefrec` in-process with typer's CliRunner on real SQLite files (as
sqlite-utils' tests do); `run_cli` starts a real process where exit codes, streams, signals or
what gets imported are the point.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# One analysis worker per scan: the libraries here are small, a worker's start-up (~0.5 s of CPU)
# is most of a small scan, and pytest-xdist keeps both cores busy anyway. Pretraining on a scanned
# library stops after 30 steps (the default, 300 on these libraries, is ~12 s of CPU a scan): the
# tests of what pretraining learns run it themselves (test_pretrain).
FAST_PRETRAIN = {"PREFREC_PRETRAIN_MAX_STEPS": "30"}
TEST_ENV = {"NO_COLOR": "1", "PREFREC_WORKERS": "1", **FAST_PRETRAIN}

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


# -- running the command line -----------------------------------------------------------------------


@dataclass
class Ran:
    """How a command ended: its exit code and what it wrote (like subprocess.CompletedProcess)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def _fail(args, code, stdout, stderr) -> AssertionError:
    return AssertionError(f"prefrec {' '.join(map(str, args))} exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr}")


def cli(home: Path | None, *args: str, check: bool = True, env: dict[str, str | None] | None = None,
        input: str | None = None) -> Ran:
    """Run `prefrec --home HOME ARGS...` in this process (typer's CliRunner), through the same
    error handling as the console script. Raises an exception that escaped it (a bug)."""
    from typer.testing import CliRunner

    from prefrec.cli import app

    argv = [*(["--home", str(home)] if home is not None else []), *map(str, args)]
    result = CliRunner().invoke(app, argv, env={**TEST_ENV, "PREFREC_HOME": None, **(env or {})},
                                input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if check and result.exit_code != 0:
        raise _fail(argv, result.exit_code, result.stdout, result.stderr)
    return Ran(argv, result.exit_code, result.stdout, result.stderr)


def cli_json(home: Path, *args: str):
    return cli(home, *args).json()


def invoke(home: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    """`cli` as (exit code, stdout, stderr), never raising for a non-zero exit."""
    ran = cli(home, *args, check=False, input=input)
    return ran.returncode, ran.stdout, ran.stderr


def run_cli(home: Path | None, *args: str, check: bool = True, timeout: float = 300,
            env: dict[str, str | None] | None = None, **popen) -> subprocess.CompletedProcess:
    """Run `python -m prefrec --home HOME ARGS...` as a real process."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), **TEST_ENV, **(env or {})}
    full = {k: v for k, v in full.items() if v is not None and k != "PREFREC_HOME"}
    argv = [*(["--home", str(home)] if home is not None else []), *map(str, args)]
    popen.setdefault("capture_output", "stdout" not in popen)
    proc = subprocess.run([sys.executable, "-m", "prefrec", *argv], text=True, env=full, timeout=timeout, **popen)
    if check and proc.returncode != 0:
        raise _fail(argv, proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_json(home: Path, *args: str):
    return json.loads(run_cli(home, *args).stdout)


# `python -c NO_TORCH --home HOME COMMAND...` runs the command and prints which heavy modules it
# imported (HEAVY=torch,... on stderr): the everyday commands must import none.
NO_TORCH = """
import sys
from prefrec.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "librosa", "soundfile") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code or 0)
"""


# -- data built once per run ---------------------------------------------------------------------------


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder `build(folder)` fills, made once per test run: under pytest-xdist the first worker
    to ask builds it in the run's shared temporary dir (under an flock), the others wait and reuse."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # .../pytest-N, above every worker's own dir
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


# -- audio ---------------------------------------------------------------------------------------------


def tone(seconds: float, freq: float = 440.0, rate: int = 22050, *, channels: int = 1) -> np.ndarray:
    """A sine tone float32 [n] or [n, channels] at 0.5 amplitude."""
    t = np.arange(int(seconds * rate)) / rate
    y = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(y[:, None], channels, axis=1) if channels > 1 else y


def music(seconds: float, rate: int = 22050, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A few seconds of varied audio: a gliding tone with a noise burst, float32 [n] or [n, channels]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * (300 + 40 * seed + 50 * t) * t) + 0.05 * rng.standard_normal(t.size)
    y = y.astype(np.float32)
    return np.stack([y * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1) if channels > 1 else y


def write_music(path: Path, seconds: float = 10.0, *, seed: int = 0, **tags: str) -> Path:
    """A FLAC or WAV file of `music(seconds, seed=seed)` with the given tags (title, artist, album)."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, music(seconds, seed=seed), 22050)
    if tags:
        from mutagen.flac import FLAC

        meta = FLAC(path)
        for key, value in tags.items():
            meta[key] = value
        meta.save()
    return path


def by_style(tracks, style):
    return [t for t in tracks if t.style == style]


# -- the database ----------------------------------------------------------------------------------------


def db_rows(home: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(home / "prefrec.sqlite", timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def feedback_rows(home: Path) -> list[tuple]:
    """(identity, path, kind, position_s) of every feedback row, oldest first."""
    return db_rows(home, "SELECT identity, path, kind, position_s FROM feedback ORDER BY id")


def rate(home: Path, tracks, liked_style: str, skipped_style: str, n: int = 3) -> None:
    """Like the first `n` tracks of one style, skip the first `n` of another (the first at 0:05)."""
    for t in by_style(tracks, liked_style)[:n]:
        cli(home, "like", str(t.path))
    for i, t in enumerate(by_style(tracks, skipped_style)[:n]):
        cli(home, "skip", str(t.path), *(["--at", "5"] if i == 0 else []))


# -- processes -----------------------------------------------------------------------------------------------


def children(parent: int) -> list[int]:
    """Pids of the live (not zombie) child processes of `parent`, from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def worker_pids(parent: int) -> list[int]:
    """Pids of prefrec analysis workers whose parent is `parent`, from /proc."""
    pids = []
    for pid in children(parent):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"prefrec.analysis" in cmdline and b"--worker" in cmdline:
            pids.append(pid)
    return pids


def open_music_file(pid: int, folder: Path) -> str | None:
    """The file under `folder` that process `pid` has open, if any."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(str(folder)):
                return target
    except OSError:
        pass
    return None


def segfault_a_busy_worker(parent: int, folder: Path, *, timeout_s: float = 60.0) -> str | None:
    """Send SIGSEGV to the first analysis worker of `parent` seen with a file under `folder` open (a
    decoder crashing mid-file); returns that file, or None if none was seen busy in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in worker_pids(parent):
            busy_with = open_music_file(pid, folder)
            if busy_with:
                os.kill(pid, signal.SIGSEGV)
                return busy_with
        time.sleep(0.005)
    return None


# -- files prefrec must leave alone, and a full disk ------------------------------------------------------------


def plant_temporaries(home: Path) -> tuple[list[Path], list[Path]]:
    """Temporary files as killed writers leave them in HOME's feature cache and models dir, two hours
    old, and files that must stay: a temporary file being written now and an old finished one.
    Returns (stale, kept)."""
    features, models = home / "features" / "v2" / "ab", home / "models"
    features.mkdir(parents=True)
    models.mkdir(parents=True)
    stale = [features / ".prefrec-tmp-41-k1ll3d.part", models / ".prefrec-tmp-42-x7q2.part"]
    # Kept: a temporary file being written now, finished files, and old files that only look
    # like temporaries (not prefrec's own prefix and suffix: never touched).
    kept = [features / ".prefrec-tmp-43-wr1t1ng.part", features / "a2-0123ab.prf", models / "model-1.pt",
            models / ".tmp-notes.txt", features / ".prefrec-tmp-44-x.prf", models / ".tmp-foo",
            features / ".tmp-foo"]
    two_hours_ago = time.time() - 7200
    for path in stale + kept:
        path.write_bytes(b"partial")
        if path not in (kept[0],):
            os.utime(path, (two_hours_ago, two_hours_ago))
    return stale, kept


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


CAN_MOUNT = _can_mount_tmpfs()
needs_mount = pytest.mark.skipif(not CAN_MOUNT, reason="cannot mount a small tmpfs in a private mount namespace")


def on_full_disk(folder: Path, argv: list[str], *, spare_kb: int = 64, fill: bool = True,
                 **run) -> subprocess.CompletedProcess:
    """Run `argv` with a tmpfs mounted over `folder` in a private mount namespace (unshare -rm): what
    `folder` held is copied onto it, and with `fill` the `spare_kb` KiB left over are filled, so the
    next write there fails with ENOSPC. A real full disk for that process alone, gone when it ends."""
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    used_kb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) // 1024
    size_kb = used_kb + 64 * (1 + sum(1 for _ in folder.rglob("*"))) + spare_kb  # blocks and inodes too
    stash = Path(tempfile.mkdtemp(prefix="prefrec-test-stash-"))
    shutil.copytree(folder, stash, dirs_exist_ok=True)
    script = (f'mount -t tmpfs -o size={size_kb}k tmpfs "$1" && cp -a "$2"/. "$1"/ && '
              + ('{ cat /dev/zero > "$1/.filler" 2>/dev/null; true; } && ' if fill else "")
              + 'shift 2 && exec "$@"')
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(folder), str(stash), *argv], **run)
    finally:
        shutil.rmtree(stash, ignore_errors=True)


def prefrec_argv(home: Path, *args: str) -> list[str]:
    """The argv of a real `python -m prefrec --home HOME ARGS...` (for on_full_disk)."""
    return [sys.executable, "-m", "prefrec", "--home", str(home), *map(str, args)]


def prefrec_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **TEST_ENV, **extra}
    env.pop("PREFREC_HOME", None)
    return env


# -- libraries without audio, terminals ------------------------------------------------------------


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
