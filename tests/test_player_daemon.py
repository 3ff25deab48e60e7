"""The daemon following a real mpd, and the CLI acting on the song playing now (issue 11)."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.daemon_helpers import Daemon, query
from tests.helpers import cli as prefrec_cli
from tests.helpers import cli_json
from tests.player_helpers import MpdServer, Mpv, need, wait_for, write_tracks


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """Six tagged tracks of 12 s, scanned once (no model): (music dir, home, paths)."""
    base = tmp_path_factory.mktemp("player-lib")
    music, home = base / "music", base / "home"
    paths = write_tracks(music, 6, seconds=12.0)
    prefrec_cli(home, "scan", "--no-train", str(music))
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
        return prefrec_cli(home, *args, check=check)
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
        events = json.loads(cli(home, settings, "history", "--json").stdout)
        means = [(e["source"], e["detail"]["end_reason"], e["means"]) for e in events if e["kind"] == "session"]
        assert means[::-1] == [("mpd", "next", "skip"), ("mpd", "eof", "listen"), ("mpd", "next", "skip"),
                               ("mpd", "stop", "nothing")]
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
            wait_for(lambda song=song: server.status().get("song") != song, what="the next song")
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
    proc = prefrec_cli(home, "like", check=False)
    assert proc.returncode == 2 and "name a TRACK" in proc.stderr
    proc = cli(home, settings, "like", check=False)  # mpd runs but plays nothing
    assert proc.returncode == 1 and "plays nothing" in proc.stderr
    server.stop()
    proc = cli(home, settings, "skip", check=False)
    assert proc.returncode == 1 and "cannot reach MPD" in proc.stderr
    proc = cli(home, settings, "radio", "--off", check=False)
    assert proc.returncode == 1 and "cannot reach MPD" in proc.stderr
    assert acts(home) == []
    assert cli_json(home, "ban", "--json") == []  # no player set: a bare ban lists the bans


@pytest.fixture(scope="module")
def trained(scanned, tmp_path_factory):
    """The scanned library with two likes, two skips and a trained model: (music, home, paths)."""
    music, home, paths = scanned
    trained_home = tmp_path_factory.mktemp("player-trained") / "home"
    shutil.copytree(home, trained_home)
    for path, kind in zip(paths[:4], ("like", "skip", "like", "skip")):
        prefrec_cli(trained_home, kind, str(path))
    prefrec_cli(trained_home, "train")
    return music, trained_home, paths


def test_radio_queues_the_neighbours_of_a_track_until_off(trained, tmp_path):
    need("mpd")
    music, home0, paths = trained
    home = tmp_path / "home"
    shutil.copytree(home0, home)
    server = MpdServer(tmp_path / "mpd", music)
    server.start()
    rel = {str(p): str(p.relative_to(music)) for p in paths}
    try:
        server.update()
        server.mpc("add", rel[str(paths[5])])
        settings = {"PREFREC_PLAYER": "mpd", "PREFREC_MPD_HOST": server.socket}
        with Daemon(home, music, **settings) as daemon:  # no autoqueue: radio alone feeds the queue
            daemon.wait_started()
            wait_for(lambda: player_status(home, settings)["connected"], timeout=30, what="the daemon to follow MPD")
            server.mpc("play", "1")
            time.sleep(0.5)
            assert len([1 for k, _ in server.raw("playlistinfo") if k == "file"]) == 1  # nothing added yet
            proc = cli(home, settings, "radio", str(paths[0]))
            assert "queueing tracks near" in proc.stderr
            files = wait_for(lambda: (f := [v for k, v in server.raw("playlistinfo") if k == "file"])[1:] and f,
                             what="the radio to queue tracks")
            time.sleep(0.5)
            files = [v for k, v in server.raw("playlistinfo") if k == "file"]
            # the seed's neighbours, less the skipped tracks (1, 3), the seed and the song playing
            assert files[0] == rel[str(paths[5])] and sorted(files[1:]) == sorted([rel[str(paths[2])], rel[str(paths[4])]])
            scores = dict(query(home, "SELECT t.path, r.score FROM rankings r JOIN tracks t USING (identity)"))
            queued = [str(music / f) for f in files[1:]]
            assert [scores[p] for p in queued] == sorted((scores[p] for p in queued), reverse=True)  # by taste
            proc = cli(home, settings, "radio", "--off")
            assert "radio off" in proc.stderr
            # off: the radio's songs go (the autoqueue is off, so nothing replaces them)
            wait_for(lambda: len([1 for k, _ in server.raw("playlistinfo") if k == "file"]) == 1,
                     what="the radio's songs to be taken out")
            daemon.stop()
    finally:
        server.close()


@pytest.mark.parametrize("command", [["like"], ["skip"], ["status"], ["radio", "--off"]])
def test_player_commands_stay_fast(rig, command):
    """like/skip without a TRACK talk to MPD but never import torch, librosa or soundfile."""
    import subprocess
    import sys

    from tests.helpers import NO_TORCH, ROOT

    server, home, paths, settings = rig
    server.mpc("play", "1")
    time.sleep(0.5)
    env = {**__import__("os").environ, **settings, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, "--home", str(home), *command],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.stderr.rstrip().endswith("HEAVY="), proc.stderr
    assert proc.returncode == (1 if command[0] == "radio" else 0), proc.stderr  # radio: no daemon listens


def test_the_daemon_learns_from_an_mpris_player(scanned, tmp_path, session_bus):
    music, home0, paths = scanned
    home = tmp_path / "home"
    shutil.copytree(home0, home)
    settings = {"PREFREC_PLAYER": "mpris", "PREFREC_MPRIS_PLAYER": "mpv"}
    mpv = Mpv(session_bus, paths[:3], tmp_path)
    try:
        with Daemon(home, music, **settings) as daemon:
            daemon.wait_started()
            wait_for(lambda: player_status(home, settings)["connected"], timeout=30, what="the daemon to follow mpv")
            time.sleep(4.0)
            mpv.command("playlist-next")
            [s] = wait_for(lambda: sessions(home), what="the session mpv's next ended")
            assert (s["path"], s["source"], s["end_reason"]) == (str(paths[0]), "mpris", "other")
            assert 3.5 <= s["end_position_s"] <= 5.5
            time.sleep(1.0)
            cli(home, settings, "like")
            time.sleep(2.0)
            proc = cli(home, settings, "skip")
            assert "moved the player on" in proc.stderr
            wait_for(lambda: mpv.get("playlist-pos") == 2, what="mpv to move on after `prefrec skip`")
            like, skip = acts(home)
            assert like[:3] == (str(paths[1]), "like", "cli")
            assert skip[:3] == (str(paths[1]), "skip", "cli") and 2.5 <= skip[3] <= 4.5
            wait_for(lambda: len(sessions(home)) >= 2, what="the second session")
            assert "mpris, connected since" in cli(home, settings, "status").stdout
            daemon.stop()
    finally:
        mpv.close()
