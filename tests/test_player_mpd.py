"""The MPD client against a real `mpd` (null output) on a tmp dir: sessions, acts, reconnects,
URI mapping and the autoqueue."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from prefrec.player.base import Backoff, PlayerAct, PlayerState, UnknownSong
from prefrec.player.mpd import MpdAddress, MpdPlayer, NobodyListening, advance, mpd_addresses, now_playing, send_message
from prefrec.player.queue import Policy
from prefrec.player.runner import PlayerThread
from prefrec.player.sessions import SessionRecord
from tests.player_helpers import ListLibrary, MpdServer, Recorder, free_port, meaning, wait_for, write_tracks

# -- where MPD is ---------------------------------------------------------------------------------

@pytest.mark.parametrize("env, settings, expected", [
    ({"MPD_HOST": "/run/user/1/mpd.sock"}, {}, [MpdAddress("/run/user/1/mpd.sock", 6600, None)]),
    ({"MPD_HOST": "secret@/tmp/s"}, {}, [MpdAddress("/tmp/s", 6600, "secret")]),
    ({"MPD_HOST": "pw@box", "MPD_PORT": "6601"}, {}, [MpdAddress("box", 6601, "pw")]),
    ({"MPD_HOST": "@abstract"}, {}, [MpdAddress("@abstract", 6600, None)]),
    ({"MPD_HOST": "pw@@abstract"}, {}, [MpdAddress("@abstract", 6600, "pw")]),
    ({"MPD_HOST": "envhost"}, {"host": "sethost", "port": 7000, "password": "p"}, [MpdAddress("sethost", 7000, "p")]),
    ({"MPD_HOST": "inhost@x"}, {"password": "setting"}, [MpdAddress("x", 6600, "setting")]),
    ({"XDG_RUNTIME_DIR": "/run/user/5"}, {}, [MpdAddress("/run/user/5/mpd/socket"), MpdAddress("/run/mpd/socket"),
                                             MpdAddress("localhost")]),
    ({"MPD_PORT": "6700"}, {}, [MpdAddress("localhost", 6700)]),
    ({"MPD_HOST": "pw@"}, {}, [MpdAddress("/run/mpd/socket", 6600, "pw"), MpdAddress("localhost", 6600, "pw")]),
])
def test_addresses_as_mpc_reads_them(env, settings, expected):
    assert mpd_addresses(environ=env, **settings) == expected


# -- against a real mpd -------------------------------------------------------------------------

def queued(server: MpdServer, seconds: list[float]) -> tuple[MpdServer, list[Path], ListLibrary]:
    """mpd with tracks of these lengths in its queue (stopped), and a library that knows them."""
    paths = write_tracks(server.music, len(seconds), seconds=seconds)
    server.update()
    server.mpc("add", "/")
    return server, paths, ListLibrary(paths)


@pytest.fixture
def rig(mpd_server: MpdServer):
    """mpd with 4 tracks of 12 s in its queue (stopped), and a library that knows them."""
    return queued(mpd_server, [12.0] * 4)


def start(server: MpdServer, library: ListLibrary, *, address: MpdAddress | None = None, **kw):
    events = Recorder()
    player = MpdPlayer([address or MpdAddress(server.socket)], library, events,
                       backoff=Backoff(first_s=0.2, max_s=1.0), **kw)
    thread = PlayerThread(player).start()
    events.wait(PlayerState, what="the first connection")
    assert events.of(PlayerState)[0].connected, events.events
    return player, thread, events


def test_next_after_5_s_is_a_skip_eof_is_a_listen_stop_is_nothing(mpd_server):
    server, paths, library = queued(mpd_server, [12.0, 6.0, 12.0])  # the second plays to its end
    player, thread, events = start(server, library)
    try:
        server.mpc("play", "1")
        time.sleep(4.5)  # under half of the 12 s
        server.mpc("next")
        [skip] = events.wait(SessionRecord)
        assert skip.song.path == str(paths[0]) and skip.end_reason == "next"
        assert 4.0 <= skip.end_position_s <= 5.5 and 4.0 <= skip.played_s <= 5.5
        assert meaning(skip) == "skip" and skip.session().end_position_s == pytest.approx(skip.end_position_s, abs=0.01)
        # the second track plays through to the third
        _, listen = events.wait(SessionRecord, 2, timeout=20)
        assert listen.song.path == str(paths[1]) and listen.end_reason == "eof"
        assert listen.end_position_s == pytest.approx(6.0) and 5.0 <= listen.played_s <= 7.0
        assert meaning(listen) == "listen"
        time.sleep(4)
        server.mpc("stop")
        *_, stopped = events.wait(SessionRecord, 3)
        assert stopped.song.path == str(paths[2]) and stopped.end_reason == "stop"
        assert meaning(stopped) == "nothing"
        assert events.of(UnknownSong) == []
    finally:
        thread.stop()
    assert not thread.alive


def test_pause_and_seek_are_recorded(rig):
    server, paths, library = rig
    player, thread, events = start(server, library)
    try:
        server.mpc("play", "2")
        time.sleep(1.5)
        server.mpc("pause")
        time.sleep(2)
        server.mpc("play")
        time.sleep(0.5)
        server.mpc("seek", "6")
        time.sleep(0.5)
        server.mpc("prev")
        [s] = events.wait(SessionRecord)
        assert s.song.path == str(paths[1]) and s.end_reason == "previous"
        assert len(s.pauses) == 1 and 1.0 <= s.pauses[0] <= 2.2
        assert len(s.seeks) == 1 and s.seeks[0][1] == pytest.approx(6.0, abs=0.3)
        assert 2.0 <= s.played_s <= 3.2  # the two seconds of pause do not count
    finally:
        thread.stop()


def test_sendmessage_like_skip_and_ban_act_on_the_current_song(rig):
    server, paths, library = rig
    player, thread, events = start(server, library)
    try:
        server.mpc("play", "2")
        time.sleep(1.0)
        server.mpc("sendmessage", "prefrec", "like")
        [like] = events.wait(PlayerAct)
        assert (like.kind, like.source, like.song.path) == ("like", "mpd", str(paths[1]))
        assert 0.5 <= like.position_s <= 2.0
        assert server.status()["song"] == "1"  # a like leaves the song playing
        time.sleep(2.5)
        server.mpc("sendmessage", "prefrec", "skip")
        _, skip = events.wait(PlayerAct, 2)
        assert skip.kind == "skip" and skip.song.path == str(paths[1]) and 3.0 <= skip.position_s <= 4.5
        wait_for(lambda: server.status().get("song") == "2", what="the skip to move MPD on")
        [session] = events.wait(SessionRecord)
        assert session.end_reason == "next" and meaning(session) == "skip"
        server.mpc("sendmessage", "prefrec", "ban")
        *_, ban = events.wait(PlayerAct, 3)
        assert ban.kind == "ban" and ban.song.path == str(paths[2])
        wait_for(lambda: server.status().get("song") == "3", what="the ban to move MPD on")
        server.mpc("sendmessage", "prefrec", "dance")  # unknown words are ignored
        time.sleep(0.5)
        assert len(events.of(PlayerAct)) == 3 and thread.alive
    finally:
        thread.stop()


def test_killed_mpd_is_reconnected_and_the_session_ends_gone(rig):
    server, paths, library = rig
    player, thread, events = start(server, library)
    try:
        server.mpc("play", "1")
        time.sleep(3.5)
        server.kill()
        [gone] = events.wait(SessionRecord)
        assert gone.end_reason == "gone" and 3.0 <= gone.played_s <= 4.5
        down = wait_for(lambda: [s for s in events.of(PlayerState) if not s.connected and s.retry_in_s],
                        what="a disconnected state")
        assert 0 < down[0].retry_in_s <= 1.0 and down[0].since >= gone.ended_at - 1
        time.sleep(1.0)
        assert thread.alive
        server.start()
        wait_for(lambda: events.of(PlayerState)[-1].connected, timeout=20, what="the reconnection")
        server.mpc("add", "/")  # SIGKILL left no state file: the queue is empty
        server.mpc("play", "1")
        time.sleep(3.5)
        server.mpc("next")
        sessions = events.wait(SessionRecord, 2)
        assert sessions[-1].end_reason == "next" and meaning(sessions[-1]) == "skip"
    finally:
        thread.stop()


def test_tcp_maps_uris_by_a_unique_suffix(rig):
    server, paths, library = rig
    # a same-named file elsewhere in the library must not be taken for MPD's
    other = [str(p) for p in paths] + ["/elsewhere/" + paths[0].name]
    library = ListLibrary(other)
    player, thread, events = start(server, library, address=MpdAddress("127.0.0.1", server.port))
    try:
        server.mpc("play", "1")
        time.sleep(0.5)
        server.mpc("next")
        [s] = events.wait(SessionRecord)
        assert s.song.path == str(paths[0])  # its relative URI names its album folder too
        assert "paths_ending_with" in library.calls
        assert events.of(UnknownSong) == []
        assert player._mapper.music_directory is None and player._mapper.learnt_directory == str(server.music)
    finally:
        thread.stop()


def test_a_song_outside_the_library_is_reported_once(rig):
    server, paths, _ = rig
    library = ListLibrary(paths[1:])  # prefrec has not analysed the first one
    player, thread, events = start(server, library)
    try:
        server.mpc("play", "1")
        time.sleep(0.4)
        server.mpc("pause")
        server.mpc("play")
        [unknown] = events.wait(UnknownSong)
        assert unknown.uri == str(paths[0].relative_to(server.music))
        time.sleep(0.5)
        assert len(events.of(UnknownSong)) == 1
    finally:
        thread.stop()


def test_one_shots_for_the_cli(rig):
    server, paths, library = rig
    addresses = mpd_addresses(environ={"MPD_HOST": server.socket})
    assert now_playing(addresses, library).song is None
    server.mpc("play", "2")
    time.sleep(1.2)
    playing = now_playing(addresses, library)
    assert playing.song.path == str(paths[1]) and playing.state == "play" and 0.8 <= playing.position_s <= 2.5
    assert advance(addresses, "no such id") is False and server.status()["song"] == "1"
    assert advance(addresses, playing.song.key) is True
    wait_for(lambda: server.status().get("song") == "2", what="the advance")
    with pytest.raises(NobodyListening):
        send_message(addresses, "radio off")  # no daemon follows the channel
    with pytest.raises(OSError):
        now_playing([MpdAddress("127.0.0.1", free_port())], library)
    # a password MPD does not know is refused, with the address in the message
    server.write_config('password "sesame@read,add,control"\n')
    server.stop()
    server.start()
    with pytest.raises(OSError, match="incorrect password"):
        now_playing([MpdAddress(server.socket, password="wrong")], library)
    again = now_playing(mpd_addresses(environ={"MPD_HOST": f"sesame@{server.socket}"}), library)
    assert again.song.path == str(paths[2])  # MPD restored its queue and song from its state file


def test_autoqueue_keeps_the_queue_full_without_bans_or_recent_plays(mpd_server):
    server = mpd_server
    paths = write_tracks(server.music, 8, seconds=4.0)
    server.update()
    library = ListLibrary(paths)
    library.banned_paths = {str(paths[1])}
    library.plays = {str(paths[2]): time.time() - 3600}  # within the 8 h cool-down
    server.mpc("add", str(paths[5].relative_to(server.music)))  # the listener's own song
    player, thread, events = start(server, library, autoqueue=Policy(keep=2))
    try:
        server.mpc("play", "1")

        def queue():
            return [v for k, v in server.raw("playlistinfo") if k == "file"]

        def upcoming():
            status = server.status()
            return queue()[int(status.get("song", 0)) + 1:]

        wait_for(lambda: len(upcoming()) >= 2, what="the queue to be filled")
        first = queue()
        assert first[0] == str(paths[5].relative_to(server.music))  # never removed or moved
        rel = [str(p.relative_to(server.music)) for p in paths]
        assert first[1:] == [rel[0], rel[3]]  # best first; 1 banned, 2 played an hour ago, 5 playing
        # after each song the queue is topped up again
        for _ in range(2):
            song = server.status()["song"]
            wait_for(lambda song=song: server.status().get("song") != song, timeout=10, what="the next song")
            wait_for(lambda: len(upcoming()) >= 2, what="a refill")
        files = queue()
        assert rel[1] not in files and rel[2] not in files
        assert len(files) == len(set(files))  # nothing queued twice
    finally:
        thread.stop()


def _queue(server: MpdServer) -> tuple[str | None, list[str]]:
    """(the current song's file, the files queued after it)."""
    status = server.status()
    files = [v for k, v in server.raw("playlistinfo") if k == "file"]
    if "song" not in status:
        return None, files
    pos = int(status["song"])
    return files[pos], files[pos + 1:]


def test_radio_switches_our_songs_for_neighbours_ranked_by_taste(mpd_server):
    server = mpd_server
    paths = write_tracks(server.music, 8, seconds=6.0)
    rel = [str(p.relative_to(server.music)) for p in paths]
    server.update()
    library = ListLibrary(paths)
    library.near = {str(paths[0]): [str(paths[6]), str(paths[7]), str(paths[4])]}
    server.mpc("add", rel[0])
    player, thread, events = start(server, library, autoqueue=Policy(keep=2))
    try:
        server.mpc("play", "1")
        wait_for(lambda: _queue(server)[1] == [rel[1], rel[2]], what="the plain autoqueue")
        server.mpc("add", rel[5])  # the listener adds one of their own
        server.mpc("sendmessage", "prefrec", "radio")  # around the song playing now
        # ours (1, 2) go; the listener's stays first; nearest by taste: 4 scores above 6 and 7
        wait_for(lambda: _queue(server)[1] == [rel[5], rel[4]], what="the radio queue")
        assert _queue(server)[0] == rel[0]
        server.mpc("sendmessage", "prefrec", "radio off")
        wait_for(lambda: _queue(server)[1] == [rel[5], rel[1]], what="back to the plain autoqueue")
    finally:
        thread.stop()


def test_early_skip_demotes_neighbours_before_moving_on(mpd_server):
    server = mpd_server
    paths = write_tracks(server.music, 8, seconds=6.0)
    rel = [str(p.relative_to(server.music)) for p in paths]
    server.update()
    library = ListLibrary(paths)
    library.near = {str(paths[0]): [str(paths[1]), str(paths[2])]}
    server.mpc("add", rel[0])
    player, thread, events = start(server, library, autoqueue=Policy(keep=2))
    try:
        server.mpc("play", "1")
        wait_for(lambda: _queue(server)[1] == [rel[1], rel[2]], what="the autoqueue")
        server.mpc("sendmessage", "prefrec", "skip")
        # 1 and 2 are the skipped song's nearest neighbours: taken out before MPD moves on
        wait_for(lambda: _queue(server) == (rel[3], [rel[4], rel[5]]), what=f"the demoted queue; have {_queue(server)}")
        [act] = events.of(PlayerAct)
        assert act.kind == "skip" and act.song.path == str(paths[0])
    finally:
        thread.stop()


def test_a_music_directory_reached_through_a_link_maps_to_the_librarys_paths(tmp_path):
    from prefrec.player.mpd import UriMapper

    real = tmp_path / "real"
    paths = write_tracks(real, 2, seconds=1.0)
    (tmp_path / "link").symlink_to(real)
    library = ListLibrary(paths)
    mapper = UriMapper(str(tmp_path / "link"), library, local=False)
    uri = str(paths[0].relative_to(real))
    assert mapper.to_path(uri) == str(paths[0])
    assert mapper.to_uri(str(paths[1])) == str(paths[1].relative_to(real))
    assert mapper.to_path("http://stream.example/x") is None and mapper.to_uri("/elsewhere/x.flac") is None
    assert UriMapper(None, library, local=True).to_uri("/elsewhere/x.flac") == "/elsewhere/x.flac"  # socket: absolute
