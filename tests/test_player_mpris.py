"""The MPRIS client against mpv + mpv-mpris on a private D-Bus session bus."""

from __future__ import annotations

import time

import pytest

from prefrec.player.base import Backoff, PlayerState, UnknownSong
from prefrec.player.mpris import MprisPlayer, matches, now_playing, song_from_metadata, url_to_path
from prefrec.player.runner import PlayerThread
from prefrec.player.sessions import SessionRecord
from tests.player_helpers import ListLibrary, Mpv, Recorder, meaning, wait_for, write_tracks


def test_names_and_urls():
    assert matches(None, "org.mpris.MediaPlayer2.vlc") and not matches(None, "org.gnome.Shell")
    assert matches("vlc", "org.mpris.MediaPlayer2.vlc.instance42")
    assert not matches("vlc", "org.mpris.MediaPlayer2.vlcx")
    assert matches("org.mpris.MediaPlayer2.mpv", "org.mpris.MediaPlayer2.mpv")
    assert url_to_path("file:///music/A%20B/%C3%A9t%C3%A9.flac") == "/music/A B/été.flac"
    assert url_to_path("file://localhost/x.ogg") == "/x.ogg"
    assert url_to_path("https://radio.example/stream") is None and url_to_path("file://otherhost/x") is None
    song = song_from_metadata({"xesam:url": "file:///m/a.flac", "mpris:trackid": "/1", "mpris:length": 241_300_000})
    assert (song.path, song.duration_s, song.key) == ("/m/a.flac", 241.3, "/1|file:///m/a.flac")
    assert song_from_metadata({}) is None and song_from_metadata({"mpris:trackid": "/0"}) is None


@pytest.fixture
def tracks(tmp_path):
    return write_tracks(tmp_path / "music", 3, seconds=12.0)


def follow(library, **kw):
    events = Recorder()
    player = MprisPlayer(library, events, poll_s=0.5, backoff=Backoff(first_s=0.2, max_s=1.0), **kw)
    return player, PlayerThread(player).start(), events


def test_sessions_from_mpv(session_bus, tmp_path):
    tracks = write_tracks(tmp_path / "music", 3, seconds=[12.0, 6.0, 12.0])  # the second plays to its end
    library = ListLibrary(tracks)
    mpv = Mpv(session_bus, tracks, tmp_path)
    player, thread, events = follow(library)
    try:
        wait_for(lambda: [s for s in events.of(PlayerState) if s.connected], what="following mpv")
        assert player.following == "org.mpris.MediaPlayer2.mpv"
        time.sleep(1.5)
        mpv.command("set_property", "pause", True)
        time.sleep(1.5)
        mpv.command("set_property", "pause", False)
        time.sleep(1.0)
        mpv.command("seek", 3, "relative")  # a Seeked signal
        time.sleep(1.0)
        mpv.command("playlist-next")
        [s] = events.wait(SessionRecord)
        assert s.source == "mpris" and s.song.path == str(tracks[0])  # spaces in the URL decoded
        assert s.song.duration_s == pytest.approx(12.0, abs=0.1)
        assert s.end_reason == "other" and 3.0 <= s.played_s <= 4.5  # the pause does not count
        assert len(s.pauses) == 1 and 1.0 <= s.pauses[0] <= 2.5
        assert len(s.seeks) == 1 and s.seeks[0][1] - s.seeks[0][0] == pytest.approx(3.0, abs=0.6)
        assert meaning(s) == "skip" and 5.5 <= s.end_position_s <= 8.0
        # the second plays through
        _, listen = events.wait(SessionRecord, 2, timeout=25)
        assert listen.song.path == str(tracks[1]) and listen.end_reason == "eof"
        assert meaning(listen) == "listen"
        # mpv quits: the open session ends 'gone', the client waits for another player
        time.sleep(1.0)
        mpv.close()
        *_, gone = events.wait(SessionRecord, 3)
        assert gone.song.path == str(tracks[2]) and gone.end_reason == "gone"
        wait_for(lambda: not events.of(PlayerState)[-1].connected, what="the disconnected state")
        assert events.of(UnknownSong) == [] and thread.alive
    finally:
        mpv.close()
        thread.stop()
    assert not thread.alive


def test_waits_for_a_named_player_and_reports_unknown_songs(session_bus, tracks, tmp_path):
    library = ListLibrary(tracks[1:])  # the first is not in prefrec's library
    player, thread, events = follow(library, bus_name="mpv")
    try:
        waiting = events.wait(PlayerState)
        assert not waiting[0].connected and "org.mpris.MediaPlayer2.mpv" in waiting[0].detail
        mpv = Mpv(session_bus, tracks, tmp_path)
        try:
            wait_for(lambda: events.of(PlayerState)[-1].connected, what="following mpv once it appears")
            [unknown] = events.wait(UnknownSong)
            assert unknown.uri.startswith("file://") and url_to_path(unknown.uri) == str(tracks[0])
            playing = now_playing("mpv")
            assert playing.song.path == str(tracks[0]) and playing.state == "play"
            time.sleep(3.5)
            playing = now_playing(None, advance=True)
            assert playing.song.path == str(tracks[0]) and 3.0 <= playing.position_s <= 5.0
            wait_for(lambda: mpv.get("playlist-pos") == 1, what="Next through the CLI's one-shot")
            [first] = events.wait(SessionRecord)
            assert first.song.path == str(tracks[0]) and first.end_reason == "other" and first.seeks == ()
            assert meaning(first) == "skip"  # sessions of unknown songs still go out
            time.sleep(1.0)
        finally:
            mpv.close()
        _, second = events.wait(SessionRecord, 2)
        assert second.song.path == str(tracks[1]) and second.end_reason == "gone"
    finally:
        thread.stop()


def test_no_bus_is_retried_not_raised(tracks):
    library = ListLibrary(tracks)
    player, thread, events = follow(library, bus_address="unix:path=/nonexistent/bus")
    try:
        states = events.wait(PlayerState, 2)
        assert not any(s.connected for s in states) and all(s.retry_in_s for s in states)
        assert "bus" in states[0].detail and thread.alive
    finally:
        thread.stop()
    assert not thread.alive
    with pytest.raises(OSError):
        now_playing(bus_address="unix:path=/nonexistent/bus")
