"""The daemon following a real mpd, and the CLI acting on the song playing now (issue 11)."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.conftest import run_cli, run_json
from tests.daemon_helpers import Daemon, query
from tests.player_helpers import MpdServer, need, wait_for, write_tracks


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """Six tagged tracks of 12 s, scanned once (no model): (music dir, home, paths)."""
    base = tmp_path_factory.mktemp("player-lib")
    music, home = base / "music", base / "home"
    paths = write_tracks(music, 6, seconds=12.0)
    run_cli(home, "scan", "--no-train", str(music))
    return music, home, paths


@pytest.fixture
def rig(scanned, tmp_path):
    """A private data dir over the scanned library, an mpd on the same folder with every track
    queued (stopped), and the settings that point prefrec at it."""
    need("mpd")
    music, home, paths = scanned
    private = tmp_path / "home"
    shutil.copytree(home, private)
    server = MpdServer(tmp_path / "mpd", music)
    server.start()
    server.update()
    server.mpc("add", "/")
    settings = {"PREFREC_PLAYER": "mpd", "PREFREC_MPD_HOST": server.socket}
    try:
        yield server, private, paths, settings
    finally:
        server.close()


def sessions(home) -> list[dict]:
    rows = query(home, "SELECT path, source, detail FROM feedback WHERE kind = 'session' ORDER BY id")
    return [{"path": p, "source": s, **json.loads(d)} for p, s, d in rows]


def acts(home) -> list[tuple]:
    return query(home, "SELECT path, kind, source, position_s FROM feedback WHERE kind IN ('like', 'skip') ORDER BY id")


def cli(home, settings, *args, check=True):
    import os

    old = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        return run_cli(home, *args, check=check)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def player_status(home, settings) -> dict:
    return json.loads(cli(home, settings, "status", "--json").stdout)["player"]


def test_the_daemon_learns_from_mpd_and_the_cli_acts_on_the_song_playing_now(rig):
    server, home, paths, settings = rig
    with Daemon(home, server.music, **settings) as daemon:
        daemon.wait_started()
        wait_for(lambda: player_status(home, settings)["connected"], timeout=30, what="the daemon to follow MPD")
        server.mpc("play", "1")
        time.sleep(4.5)
        server.mpc("next")  # a skip after 4.5 s of a 12 s song
        [skip] = wait_for(lambda: sessions(home), what="the first session in the database")
        assert skip["path"] == str(paths[0]) and skip["source"] == "mpd" and skip["end_reason"] == "next"
        assert 4.0 <= skip["end_position_s"] <= 5.5
        # the second song plays through: a listen
        _, listen = wait_for(lambda: len(sessions(home)) >= 2 and sessions(home), timeout=20,
                             what="the second session")
        assert listen["path"] == str(paths[1]) and listen["end_reason"] == "eof"
        # the third: liked through the client-to-client channel, then skipped with `prefrec skip`
        time.sleep(1.0)
        server.mpc("sendmessage", "prefrec", "like")
        wait_for(lambda: acts(home), what="the like from mpc")
        time.sleep(2.5)
        proc = cli(home, settings, "skip")
        assert "moved the player on" in proc.stderr
        wait_for(lambda: server.status().get("song") == "3", what="MPD to move on after `prefrec skip`")
        like, skipped = acts(home)
        assert like[:3] == (str(paths[2]), "like", "mpd")
        assert skipped[:3] == (str(paths[2]), "skip", "cli") and 3.0 <= skipped[3] <= 5.0
        # the fourth is stopped: recorded, but it means nothing
        time.sleep(4.0)
        server.mpc("stop")
        wait_for(lambda: len(sessions(home)) >= 4, what="the stopped session")
        assert [s["end_reason"] for s in sessions(home)] == ["next", "eof", "next", "stop"]
        history = cli(home, settings, "history").stdout.splitlines()
        mine = [line for line in history if " mpd " in line]
        assert any("next: skip at" in line and paths[0].stem.split(" ", 1)[1] in line.lower() for line in mine)
        assert any("eof: listen" in line for line in mine)
        assert any("stop: nothing" in line for line in mine)
        assert any(" like " in f" {line} " for line in mine)
        assert daemon.proc.poll() is None
        daemon.stop()


def test_autoqueue_refills_without_banned_or_recently_played_tracks(rig):
    server, home, paths, settings = rig
    server.mpc("clear")
    first = str(paths[0].relative_to(server.music))
    server.mpc("add", first)
    cli(home, settings, "ban", str(paths[4]))  # never queued
    with Daemon(home, server.music, **settings, PREFREC_AUTOQUEUE="1", PREFREC_AUTOQUEUE_KEEP="2") as daemon:
        daemon.wait_started()
        wait_for(lambda: player_status(home, settings)["connected"], timeout=30, what="the daemon to follow MPD")
        server.mpc("play", "1")

        def upcoming():
            status = server.status()
            files = [v for k, v in server.raw("playlistinfo") if k == "file"]
            return files[int(status.get("song", 0)) + 1:] if "song" in status else []

        wait_for(lambda: len(upcoming()) >= 2, what="the autoqueue to fill the queue")
        banned = str(paths[4].relative_to(server.music))
        seen = []
        for _ in range(2):  # two song changes, each followed by a refill (6 tracks: 1 banned, 3 played)
            song = server.status()["song"]
            server.mpc("next")
            wait_for(lambda: server.status().get("song") != song, what="the next song")
            t0 = time.monotonic()
            wait_for(lambda: len(upcoming()) >= 2, timeout=5, what="a refill")
            seen.append(time.monotonic() - t0)
            assert banned not in upcoming()
        files = [v for k, v in server.raw("playlistinfo") if k == "file"]
        assert files[0] == first and banned not in files
        assert len(files) == len(set(files))  # nothing played (or queued) twice within the cool-down
        daemon.stop()


def test_mpd_killed_and_restarted_leaves_the_daemon_running_and_reconnected(rig):
    server, home, paths, settings = rig
    with Daemon(home, server.music, **settings) as daemon:
        daemon.wait_started()
        wait_for(lambda: player_status(home, settings)["connected"], timeout=30, what="the first connection")
        server.mpc("play", "1")
        time.sleep(3.5)
        server.kill()
        [gone] = wait_for(lambda: sessions(home), what="the session the kill ended")
        assert gone["end_reason"] == "gone" and gone["played_s"] >= 3.0
        away = wait_for(lambda: (p := player_status(home, settings)) and not p["connected"] and p["retry_in_s"] and p,
                        what="status to say disconnected, retrying")
        assert "disconnected since" in cli(home, settings, "status").stdout
        assert away["followed"] and daemon.proc.poll() is None
        server.start()
        wait_for(lambda: player_status(home, settings)["connected"], timeout=30, what="the reconnection")
        server.mpc("add", "/")
        server.mpc("play", "2")
        time.sleep(3.5)
        server.mpc("next")
        wait_for(lambda: len(sessions(home)) >= 2, what="a session after the reconnection")
        assert sessions(home)[-1]["end_reason"] == "next" and daemon.proc.poll() is None
        daemon.stop()


def test_cli_without_a_player_or_with_mpd_away(rig):
    server, home, paths, settings = rig
    proc = run_cli(home, "like", check=False)
    assert proc.returncode == 2 and "name a TRACK" in proc.stderr
    proc = cli(home, settings, "like", check=False)  # mpd runs but plays nothing
    assert proc.returncode == 1 and "plays nothing" in proc.stderr
    server.stop()
    proc = cli(home, settings, "skip", check=False)
    assert proc.returncode == 1 and "cannot reach MPD" in proc.stderr
    proc = cli(home, settings, "radio", "--off", check=False)
    assert proc.returncode == 1 and "cannot reach MPD" in proc.stderr
    assert acts(home) == []
    assert run_json(home, "ban", "--json") == []  # no player set: a bare ban lists the bans
