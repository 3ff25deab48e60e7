"""PlayerHost: what a player client reports, recorded in a real data dir's feedback log."""

from __future__ import annotations

import json

from prefrec.config import load_settings
from prefrec.player import STATE_KEY
from prefrec.player.base import PlayerAct, PlayerState, Song, UnknownSong
from prefrec.player.host import PlayerHost
from prefrec.player.sessions import SessionRecord
from prefrec.store import Store


def record(path: str, reason: str = "next", played: float = 5.0) -> SessionRecord:
    return SessionRecord("mpd", Song("1", "x.flac", path, 20.0), started_at=1000.0, ended_at=1005.0,
                         start_position_s=0.0, played_s=played, end_position_s=played, end_reason=reason,
                         seeks=((1.0, 2.0),), pauses=(3.0,))


def test_sessions_acts_bans_and_state_reach_the_database(library):
    music, home, tracks = library
    settings = load_settings(home)
    host = PlayerHost(settings, "mpd")
    known, other = str(tracks[0].path), str(tracks[1].path)
    host.emit(PlayerState("mpd", True, 123.0, None, "/run/mpd/socket"))
    host.emit(record(known))
    host.emit(record("/not/in/the/library.flac"))
    host.emit(UnknownSong("mpd", "stream://x"))
    host.emit(PlayerAct("like", "mpd", Song("2", "y", other, 20.0), 4.0, 1010.0))
    host.emit(PlayerAct("skip", "mpd", Song("2", "y", other, 20.0), 7.5, 1011.0))
    host.emit(PlayerAct("ban", "mpd", Song("1", "x", known, 20.0), 1.0, 1012.0))
    assert host.library.knows(known) and not host.library.knows("/not/in/the/library.flac")
    assert host.library.paths_ending_with("/" + tracks[0].path.name) == [known]
    host.close()
    with Store(settings.db_path) as store:
        rows = [r for r in store.feedback_log() if r.source == "mpd"]
        assert [(r.kind, r.path) for r in rows] == [("session", known), ("like", other), ("skip", other)]
        session = rows[0].session
        assert (session.end_reason, session.played_s, session.seeks, session.pauses) == ("next", 5.0, ((1.0, 2.0),), (3.0,))
        assert rows[0].happened_at == 1000.0 and rows[2].position_s == 7.5 and rows[1].position_s is None
        identity = store.tracks_by_path(known)[0].identity
        assert [(b.kind, b.value) for b in store.bans()] == [("track", identity)]
        state = json.loads(store.get_meta(STATE_KEY))
        assert state["connected"] and state["since"] == 123.0 and state["detail"] == "/run/mpd/socket"
        assert state["unknown_songs"] == 2  # the unknown file and the stream, once each
        assert store.played_since(999.0) == {identity: 1000.0} and store.played_since(1001.0) == {}
