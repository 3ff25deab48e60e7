"""Real players for tests: an `mpd` on a tmp dir, a private D-Bus session bus, mpv + mpv-mpris.

Import the fixtures into a test module (`from tests.player_helpers import mpd_server`) to use them.
A missing program makes the test skip with the reason (`.ci/run` installs them all).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

MPRIS_PLUGIN_PLACES = ("/usr/lib/mpv-mpris/mpris.so", "/etc/mpv/scripts/mpris.so",
                       "/usr/lib/*/mpv/scripts/mpris.so", "/usr/share/mpv/scripts/mpris.so")


def meaning(record, *, previous=None, rules=None) -> str:
    """What prefrec.labels makes of a player's SessionRecord: 'listen', 'skip' or 'nothing'
    (`previous`: the record of the previous session of the same music, for the repeat rule)."""
    from prefrec.labels import Rules, classify

    return classify(record.session(), rules or Rules(),
                    previous_start=previous.session().started_at if previous is not None else None)


class FakeClock:
    """Both clocks of prefrec.player.base.Clock, moved by hand (seconds)."""

    def __init__(self, start: float = 1000.0, epoch: float = 1_764_480_000.0) -> None:
        self.now, self.epoch, self._start = start, epoch, start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + (self.now - self._start)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (apt-get install {program}; .ci/run installs it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, *, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    """Poll check() until it returns something truthy; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def end(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
    """Stop a child we started (`sig`, then SIGKILL after `timeout_s`) and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class MpdServer:
    """A real `mpd --no-daemon` with a null output, its own port, unix socket, database and state.

    The unix socket lives in a short tmp dir of its own (socket paths are limited to 107 bytes)."""

    def __init__(self, base: Path, music: Path) -> None:
        self.base, self.music = base, music
        base.mkdir(parents=True, exist_ok=True)
        music.mkdir(parents=True, exist_ok=True)
        (base / "playlists").mkdir(exist_ok=True)
        self._sockdir = tempfile.mkdtemp(prefix="mpd-", dir="/tmp")
        self.socket = os.path.join(self._sockdir, "socket")
        self.port = free_port()
        self.conf = base / "mpd.conf"
        self.log = base / "mpd.log"
        self.proc: subprocess.Popen | None = None
        self.write_config()

    def write_config(self, extra: str = "") -> None:
        q = json.dumps  # a double-quoted, escaped string
        self.conf.write_text(
            f"music_directory {q(str(self.music))}\n"
            f"db_file {q(str(self.base / 'database'))}\n"
            f"state_file {q(str(self.base / 'state'))}\n"
            f"sticker_file {q(str(self.base / 'sticker.sql'))}\n"
            f"playlist_directory {q(str(self.base / 'playlists'))}\n"
            f"log_file {q(str(self.log))}\n"
            f"bind_to_address \"127.0.0.1\"\n"
            f"bind_to_address {q(self.socket)}\n"
            f"port \"{self.port}\"\n"
            "zeroconf_enabled \"no\"\n"
            "restore_paused \"no\"\n"
            'audio_output {\n  type "null"\n  name "null"\n  mixer_type "none"\n}\n' + extra,
            encoding="utf-8")

    def start(self) -> None:
        need("mpd")
        self.proc = subprocess.Popen(["mpd", "--no-daemon", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.base / "mpd.stderr", "ab"))
        wait_for(self._answers, timeout=20, what=f"mpd to answer on {self.socket}\n{self.log_text()}")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"mpd exited with {self.proc.returncode}\n{self.log_text()}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.socket)
                return s.recv(64).startswith(b"OK MPD")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM and reap (mpd saves its state file)."""
        if self.proc is not None:
            end(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL and reap: the player vanishes without a goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if os.path.exists(self.socket):
            os.unlink(self.socket)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._sockdir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def env(self) -> dict[str, str]:
        """Environment pointing mpc (and prefrec) at this server's unix socket."""
        env = {k: v for k, v in os.environ.items() if k not in ("MPD_HOST", "MPD_PORT")}
        return {**env, "MPD_HOST": self.socket}

    def mpc(self, *args: str, timeout: float = 30) -> str:
        need("mpc")
        proc = subprocess.run(["mpc", *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"mpc {' '.join(args)} exited {proc.returncode}: {proc.stderr}\n{self.log_text()}")
        return proc.stdout

    def update(self) -> None:
        self.mpc("update", "--wait")

    def status(self) -> dict[str, str]:
        """MPD's `status` as a dict, read over the socket without any client library."""
        return dict(self.raw("status"))

    def raw(self, command: str) -> list[tuple[str, str]]:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket)
            f = s.makefile("rwb")
            f.readline()
            f.write(command.encode() + b"\n")
            f.flush()
            pairs = []
            for line in iter(f.readline, b""):
                line = line.decode().rstrip("\n")
                if line == "OK" or line.startswith("ACK"):
                    if line.startswith("ACK"):
                        raise AssertionError(f"mpd: {command}: {line}")
                    break
                key, _, value = line.partition(": ")
                pairs.append((key, value))
            return pairs


def write_tracks(music: Path, n: int, *, seconds: float | Sequence[float] = 8.0, seed: int = 0) -> list[Path]:
    """n short tagged FLAC files (distinct artists/albums) under music/, sorted (MPD's order); each
    `seconds` long, or seconds[k] for the k-th in that order (a track a test plays through to its
    end can be shorter than the others)."""
    import soundfile as sf
    from mutagen.flac import FLAC

    from prefrec.synth import RATE, render

    styles = ["plucks", "wind", "chiptune", "drums", "pads"]
    names = sorted((music / f"Artist {i % 4}" / f"Album {i % 3}" / f"{i:02d} {styles[i % len(styles)]}.flac", i)
                   for i in range(n))
    for k, (path, i) in enumerate(names):
        style = styles[i % len(styles)]
        path.parent.mkdir(parents=True, exist_ok=True)
        length = seconds if isinstance(seconds, int | float) else seconds[k]
        sf.write(path, render(style, seed * 1000 + i, length), RATE, format="FLAC")
        tags = FLAC(path)
        tags["title"], tags["artist"], tags["album"] = f"{style} {i}", f"Artist {i % 4}", f"Album {i % 3}"
        tags.save()
    return [path for path, _ in names]


@pytest.fixture
def mpd_server(tmp_path):
    """A running MpdServer on tmp_path/music (empty; write files, then .update())."""
    need("mpd")
    server = MpdServer(tmp_path / "mpd", tmp_path / "music")
    server.start()
    try:
        yield server
    finally:
        server.close()


class SessionBus:
    """A private D-Bus session bus (dbus-daemon --session), its address in `address`."""

    def __init__(self) -> None:
        need("dbus-daemon")
        self.proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            self.proc.kill()
            raise AssertionError("dbus-daemon printed no address")

    def close(self) -> None:
        end(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def session_bus(monkeypatch):
    """A private session bus; DBUS_SESSION_BUS_ADDRESS points at it for the test."""
    bus = SessionBus()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
    try:
        yield bus
    finally:
        bus.close()


def mpris_plugin() -> str:
    for pattern in MPRIS_PLUGIN_PLACES:
        for path in glob.glob(pattern):
            return path
    pytest.skip("mpv-mpris is not installed (apt-get install mpv-mpris; .ci/run installs it)")


class Mpv:
    """mpv with the mpv-mpris plugin on a given bus, driven through its JSON IPC socket."""

    def __init__(self, bus: SessionBus, files: list[Path], base: Path, *, pause: bool = False) -> None:
        need("mpv")
        self._sockdir = tempfile.mkdtemp(prefix="mpv-", dir="/tmp")
        self.ipc = os.path.join(self._sockdir, "ipc")
        args = ["mpv", "--no-config", "--idle=yes", "--no-video", "--ao=null", "--no-terminal",
                f"--script={mpris_plugin()}", f"--input-ipc-server={self.ipc}", *(["--pause"] if pause else []),
                *map(str, files)]
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address}
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(base / "mpv.stderr", "ab"), env=env)
        wait_for(lambda: os.path.exists(self.ipc), what="mpv's IPC socket")

    def command(self, *args: object) -> object:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.ipc)
            s.sendall(json.dumps({"command": list(args)}).encode() + b"\n")
            buf = b""
            while True:
                buf += s.recv(65536)
                for line in buf.split(b"\n"):
                    if line.strip():
                        msg = json.loads(line)
                        if "error" in msg:
                            if msg["error"] != "success":
                                raise AssertionError(f"mpv {args}: {msg['error']}")
                            return msg.get("data")
                buf = buf[buf.rfind(b"\n") + 1:] if b"\n" in buf else buf

    def get(self, prop: str) -> object:
        return self.command("get_property", prop)

    def close(self) -> None:
        end(self.proc)
        shutil.rmtree(self._sockdir, ignore_errors=True)


class ListLibrary:
    """prefrec.player.base.Library over a list of paths, for testing the player clients alone
    (the daemon's own implementation reads the Store). Scores fall with the list order; bans,
    plays and neighbours are set by the test."""

    def __init__(self, paths: list[Path], *, tags: dict[str, tuple[str, str]] | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.tags = tags or {}
        self.banned_paths: set[str] = set()
        self.plays: dict[str, float] = {}
        self.near: dict[str, list[str]] = {}
        self.calls: list[str] = []

    def _candidate(self, path: str, score: float, similarity: float | None = None):
        from prefrec.player.base import Candidate

        artist, album = self.tags.get(path, (None, None))
        return Candidate(path, score, artist, album, None, similarity)

    def paths_ending_with(self, suffix: str) -> list[str]:
        self.calls.append("paths_ending_with")
        return [p for p in self.paths if p.endswith(suffix)]

    def knows(self, path: str) -> bool:
        return path in self.paths

    def candidates(self, n: int):
        self.calls.append("candidates")
        ranked = [self._candidate(p, 1.0 - i / (len(self.paths) + 1)) for i, p in enumerate(self.paths)]
        return [c for c in ranked if c.path not in self.banned_paths][:n]

    def neighbours(self, path: str, n: int):
        self.calls.append("neighbours")
        near = self.near.get(path, [])
        return [self._candidate(p, 1.0 - self.paths.index(p) / (len(self.paths) + 1), 1.0 - i / 100)
                for i, p in enumerate(near) if p not in self.banned_paths][:n]

    def last_played(self, since: float) -> dict[str, float]:
        return {p: t for p, t in self.plays.items() if t >= since}

    def banned(self, paths: list[str]) -> set[str]:
        return set(paths) & self.banned_paths


class Recorder:
    """A thread-safe emit callback that keeps every event, with helpers to wait for some."""

    def __init__(self) -> None:
        import threading

        self.events: list = []
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def wait(self, kind: type, count: int = 1, *, timeout: float = 20.0, what: str | None = None) -> list:
        return wait_for(lambda: len(self.of(kind)) >= count and self.of(kind), timeout=timeout,
                        what=what or f"{count} {kind.__name__} event(s); have {self.events}")
