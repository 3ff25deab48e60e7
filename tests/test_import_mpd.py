"""MPD stickers written by a real `mpd` (Debian's, null output, all files in a tmp dir), read from
its sticker database and asked of the running MPD."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from prefrec.importers import ImportSourceError, detect, read_source
from prefrec.importers.mapping import plan

pytestmark = pytest.mark.skipif(not (shutil.which("mpd") and shutil.which("mpc")), reason="needs mpd and mpc")

SONGS = {
    "Glass Choir/pads 1.flac": {"rating": "8", "playCount": "12", "skipCount": "1", "lastPlayed": "1731000000"},
    "Drum Unit/beat 3.flac": {"rating": "2", "skipCount": "6"},
    "Ünïcode/ö ä.flac": {"like": "2"},
    "Quiet/neutral.flac": {"like": "1", "lastPlayed": "1731000500"},  # nothing worth importing
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RealMPD:
    """A private mpd: music, database, state and sticker files under `base`, a unix socket and a port."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.music = base / "music"
        self.socket = base / "mpd.sock"
        self.sticker_file = base / "sticker.sql"
        self.port = _free_port()
        self.config = base / "mpd.conf"
        self.config.write_text(
            f'music_directory "{self.music}"\n'
            f'db_file "{base / "database"}"\n'
            f'state_file "{base / "state"}"\n'
            f'sticker_file "{self.sticker_file}"\n'
            f'log_file "{base / "log"}"\n'
            f'bind_to_address "{self.socket}"\n'
            f'bind_to_address "127.0.0.1"\n'
            f'port "{self.port}"\n'
            'audio_output {\n  type "null"\n  name "null"\n  mixer_type "none"\n}\n')
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["mpd", "--no-daemon", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mpd exited: {self.process.stderr.read().decode(errors='replace')}")
            if self.socket.exists() and self.mpc("status", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("mpd did not start within 20 s")

    def mpc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["mpc", "--host", str(self.socket), *args], capture_output=True, text=True,
                              check=check, timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def mpd_with_stickers(tmp_path):
    server = RealMPD(tmp_path)
    rate = 22050
    for number, uri in enumerate(SONGS):
        target = server.music / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(2.0 * rate)) / rate
        sf.write(target, (0.3 * np.sin(2 * np.pi * (220 + 110 * number) * t)).astype(np.float32), rate)
    server.start()
    try:
        server.mpc("update", "--wait")
        assert len(server.mpc("listall").stdout.splitlines()) == len(SONGS)
        for uri, stickers in SONGS.items():
            for name, value in stickers.items():
                server.mpc("sticker", uri, "set", name, value)
        yield server
    finally:
        server.stop()


def _check(source, music_root: str | None) -> None:
    entries = {e.relpath: e for e in source.entries}
    assert set(entries) == {"Glass Choir/pads 1.flac", "Drum Unit/beat 3.flac", "Ünïcode/ö ä.flac"}
    pads = entries["Glass Choir/pads 1.flac"]
    assert (pads.rating, pads.rating_max, pads.plays, pads.skips, pads.last_played) == (8.0, 10.0, 12, 1, 1731000000.0)
    assert plan(pads, "mpd").opinion == "like"
    beat = entries["Drum Unit/beat 3.flac"]
    assert (beat.rating, beat.plays, beat.skips) == (2.0, None, 6) and plan(beat, "mpd").opinion == "skip"
    assert entries["Ünïcode/ö ä.flac"].loved is True
    assert pads.key == "Glass Choir/pads 1.flac"
    if music_root:
        assert pads.path == f"{music_root}/Glass Choir/pads 1.flac"
    else:
        assert pads.path is None


def test_sticker_database_written_by_mpd(mpd_with_stickers):
    server = mpd_with_stickers
    assert detect(server.sticker_file) == "mpd"
    # Read while mpd runs (it keeps the database open), then after it has stopped.
    _check(read_source(server.sticker_file), None)
    server.stop()
    before = server.sticker_file.read_bytes()
    source = read_source(server.sticker_file, music_dir=str(server.music))
    _check(source, str(server.music))
    assert server.sticker_file.read_bytes() == before


def test_stickers_asked_of_a_running_mpd(mpd_with_stickers):
    server = mpd_with_stickers
    over_socket = read_source(f"mpd://{server.socket}")  # mpd:///tmp/.../mpd.sock
    assert over_socket.origin == f"mpd://{server.socket}"
    _check(over_socket, str(server.music))  # over a local socket MPD tells its music directory
    over_tcp = read_source(f"mpd://127.0.0.1:{server.port}")
    _check(over_tcp, None)
    assert read_source(f"mpd://127.0.0.1:{server.port}", music_dir="/mnt/music").entries[0].path.startswith("/mnt/music/")
    # Reading changed nothing in MPD.
    assert server.mpc("sticker", "Quiet/neutral.flac", "get", "like").stdout.strip() == "like=1"


def test_no_mpd_listening_says_so():
    port = _free_port()
    with pytest.raises(ImportSourceError, match=f"cannot connect to MPD at 127.0.0.1:{port}.*is it running"):
        read_source(f"mpd://127.0.0.1:{port}")


def test_prefrec_import_from_a_running_mpd_and_its_sticker_file(mpd_with_stickers, tmp_path):
    from tests.helpers import cli, cli_json

    server = mpd_with_stickers
    home = tmp_path / "home"
    cli(home, "scan", "--no-train", str(server.music))
    report = cli_json(home, "import", f"mpd://{server.socket}", "--json")
    assert report["source"] == "import:mpd"
    assert sorted((e["relpath"], e["how"]) for e in report["entries"]) == [
        ("Drum Unit/beat 3.flac", "path"), ("Glass Choir/pads 1.flac", "path"), ("Ünïcode/ö ä.flac", "path")]
    assert report["summary"]["added"] == {"likes": 2, "skips": 1, "counted_tracks": 2, "plays": 12, "skipped": 7}
    # The same stickers read from MPD's database file add nothing more...
    again = cli_json(home, "import", str(server.sticker_file), "--music-dir", str(server.music), "--json")
    assert again["source"] == "import:mpd" and again["summary"]["feedback_ids"] == []
    # ...and without the music directory the relative paths still find the files.
    server.mpc("sticker", "Glass Choir/pads 1.flac", "set", "playCount", "15")
    relative = cli_json(home, "import", str(server.sticker_file), "--json")
    assert {e["how"] for e in relative["entries"]} == {"relative"}
    assert relative["summary"]["added"] == {"likes": 0, "skips": 0, "counted_tracks": 1, "plays": 3, "skipped": 0}
