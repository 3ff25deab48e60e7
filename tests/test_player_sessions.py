"""SessionTracker: player events -> sessions, and what prefrec.labels makes of them (docs/feedback.md)."""

from __future__ import annotations

import pytest

from prefrec.feedback import LogRow
from prefrec.labels import Rules, derive
from prefrec.player.base import Song
from prefrec.player.sessions import SessionRecord, SessionTracker
from tests.player_helpers import FakeClock, meaning

A = Song("1", "a.flac", "/music/a.flac", 200.0)
B = Song("2", "b.flac", "/music/b.flac", 300.0)
C = Song("3", "c.flac", "/music/c.flac", 600.0)


def labels_of(record: SessionRecord):
    row = LogRow(1, "x", record.song.path or "", "session", "mpd", None, record.ended_at,
                 detail=record.session().to_json())
    return derive([row]).get("x", [])


@pytest.fixture
def rig():
    clock = FakeClock()
    out: list[SessionRecord] = []
    return clock, SessionTracker("mpd", out.append, clock=clock), out


def test_next_after_5_s_is_a_skip_at_its_position(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(5.2)
    tr.observe(B, "play", 0.0, reason="next")
    [s] = out
    assert (s.song, s.end_reason) == (A, "next")
    assert s.played_s == pytest.approx(5.2) and s.end_position_s == pytest.approx(5.2)
    assert s.started_at == pytest.approx(clock.epoch) and s.ended_at == pytest.approx(clock.epoch + 5.2)
    assert meaning(s) == "skip" and s.session().end_position_s == pytest.approx(5.2)
    assert tr.song == B and tr.position_now() == pytest.approx(0.0)


def test_played_through_is_a_listen_ending_at_eof(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(199.5)  # the player moves on half a second before the length: still its end
    tr.observe(B, "play", 0.0, reason="next")
    [s] = out
    assert s.end_reason == "eof" and s.end_position_s == 200.0
    assert meaning(s) == "listen"


def test_stop_records_a_session_that_says_nothing(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(30)
    tr.observe(A, "stop", None)
    [s] = out
    assert s.end_reason == "stop" and s.end_position_s == pytest.approx(30)
    assert meaning(s) == "nothing"
    # a stop after the listen threshold is still a listen
    tr.observe(A, "play", 0.0)
    clock.advance(150)
    tr.observe(A, "stop", None)
    assert out[1].played_s == pytest.approx(150) and meaning(out[1]) == "listen"


def test_under_3_s_is_nothing(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(2.5)
    tr.observe(B, "play", 0.0, reason="next")
    assert out[0].end_reason == "next"
    assert meaning(out[0]) == "nothing"
    clock.advance(3.5)
    tr.observe(C, "play", 0.0, reason="next")
    assert meaning(out[1]) == "skip"


def test_pause_counts_no_time_and_records_where(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(20)
    tr.observe(A, "pause", 20.0)
    clock.advance(600)  # a long pause: no played time, no position change
    assert tr.position_now() == pytest.approx(20)
    tr.observe(A, "play", 20.0)
    clock.advance(10)
    tr.observe(B, "play", 0.0, reason="next")
    [s] = out
    assert s.played_s == pytest.approx(30) and s.end_position_s == pytest.approx(30)
    assert s.pauses == (20.0,) and s.seeks == ()
    assert s.session().pauses == (20.0,)
    assert meaning(s) == "skip" and s.session().end_position_s == pytest.approx(30)


def test_forward_seek_is_recorded_and_excluded_from_a_listen(rig):
    clock, tr, out = rig
    tr.observe(C, "play", 0.0)
    clock.advance(12)
    tr.observe(C, "play", 40.0)  # the player says 40 s where we expect 12 s: a seek
    clock.advance(290)
    tr.position(330.5)  # a polled position within the tolerance: drift, no seek
    clock.advance(5)
    tr.observe(A, "play", 0.0, reason="next")
    [s] = out
    assert s.seeks == (pytest.approx((12.0, 40.0)),)
    assert s.played_s == pytest.approx(307) and s.end_position_s == pytest.approx(335.5)
    assert meaning(s) == "listen"
    [label] = labels_of(s)
    assert label.target == 1.0 and label.excluded_s == ((12.0, 40.0),)  # the windows jumped over


def test_short_forward_and_backward_seeks(rig):
    clock, tr, out = rig
    tr.observe(C, "play", 0.0)
    clock.advance(100)
    tr.seeked(105.0)  # 5 s forward: recorded, but under seek_min_s
    clock.advance(150)
    tr.seeked(50.0)  # backward
    clock.advance(60)
    tr.gone()
    [s] = out
    assert [tuple(round(x, 3) for x in pair) for pair in s.seeks] == [(100.0, 105.0), (255.0, 50.0)]
    assert s.end_reason == "gone" and s.end_position_s == pytest.approx(110)
    assert meaning(s) == "listen" and labels_of(s)[0].excluded_s == ()  # 310 s played of 600 s
    assert tr.song is None and tr.position_now() is None


def test_seek_signal_below_tolerance_is_drift(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(10)
    tr.seeked(10.3)
    tr.position(11.0)  # within seek_tolerance_s
    clock.advance(5)
    tr.observe(B, "play", 0.0, reason="next")
    assert out[0].seeks == () and out[0].end_position_s == pytest.approx(16.0)


def test_repeat_of_one_song_ends_a_session_and_starts_another(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(200.3)
    tr.observe(A, "play", 0.3)  # same queue entry, back at the top: single-song repeat
    clock.advance(50)
    tr.observe(B, "play", 0.0, reason="next")
    first, second = out
    assert first.end_reason == "eof" and first.seeks == ()
    assert second.start_position_s == pytest.approx(0.3) and second.end_position_s == pytest.approx(50.3)
    assert meaning(first) == "listen" and meaning(second, previous=first) == "skip"


def test_a_replay_within_the_songs_length_means_nothing(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(30)
    tr.observe(B, "play", 0.0, reason="next")
    clock.advance(20)
    tr.observe(A, "play", 0.0, reason="previous")  # back to A, 50 s after it started (A is 200 s)
    clock.advance(150)
    tr.observe(B, "play", 0.0, reason="next")
    first, _, again = out
    assert meaning(first) == "skip" and meaning(again) == "listen"
    assert meaning(again, previous=first) == "nothing"  # the labels' repeat rule
    rows = [LogRow(i, "a", "/music/a.flac", "session", "mpd", None, r.ended_at, detail=r.session().to_json())
            for i, r in enumerate((first, again), start=1)]
    [label] = derive(rows)["a"]  # only the first session labels A
    assert label.target == 0.0 and label.skip_at_s == pytest.approx(30)


def test_paused_then_next_does_not_count_paused_time(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(4)
    tr.observe(A, "pause", 4.0)
    clock.advance(300)
    tr.observe(B, "pause", 0.0, reason="next")  # next while paused: B is loaded, not playing
    assert out[0].played_s == pytest.approx(4) and out[0].end_reason == "next"
    clock.advance(100)
    assert len(out) == 1  # no session for B until it plays
    tr.observe(B, "play", 0.0)
    clock.advance(7)
    tr.observe(A, "play", 0.0, reason="previous")
    assert out[1].song == B and out[1].played_s == pytest.approx(7) and out[1].end_reason == "previous"


def test_the_estimate_decides_eof_even_when_the_player_reports_late(rig):
    clock, tr, out = rig
    tr.observe(B, "play", 0.0)
    clock.advance(301)  # the change of song is reported a second after B's end
    tr.observe(C, "play", 1.0, reason="next")
    assert out[0].end_reason == "eof" and out[0].end_position_s == 300.0
    assert out[0].played_s == pytest.approx(301)  # wall time spent playing; the label uses the position


def test_a_length_learnt_later_is_kept(rig):
    clock, tr, out = rig
    tr.observe(Song("7", "u", "/u", None), "play", 0.0)  # MPRIS players often send the length later
    clock.advance(1)
    tr.observe(Song("7", "u", "/u", 10.0), "play", None)
    clock.advance(9.2)
    tr.observe(A, "play", 0.0)
    assert out[0].song.duration_s == 10.0 and out[0].end_reason == "eof"


def test_unknown_duration_uses_four_minutes(rig):
    clock, tr, out = rig
    stream = Song("9", "http://radio/x", None, None)
    tr.observe(stream, "play", 0.0)
    clock.advance(239)
    tr.observe(A, "play", 0.0, reason="other")
    assert out[0].end_reason == "other" and meaning(out[0]) == "skip"
    clock.advance(1)
    tr.observe(stream, "play", 0.0)
    clock.advance(241)
    tr.observe(A, "play", 0.0)
    assert meaning(out[2]) == "listen"


def test_joined_mid_song(rig):
    clock, tr, out = rig
    tr.observe(C, "play", 400.0)  # the client connected while C was playing
    clock.advance(200)
    tr.observe(A, "play", 0.0, reason="next")
    [s] = out
    assert s.start_position_s == 400.0 and s.played_s == pytest.approx(200) and s.end_reason == "eof"
    assert meaning(s) == "nothing"  # 200 s of a 600 s song, never chose to move on


def test_thresholds_are_settings(rig):
    clock, tr, out = rig
    tr.observe(Song("5", "d", "/d", 100.0), "play", 0.0)
    clock.advance(40)
    tr.observe(A, "play", 0.0, reason="next")
    [s] = out
    assert meaning(s) == "skip"
    assert meaning(s, rules=Rules(skip_min_s=45.0)) == "nothing"
    assert meaning(s, rules=Rules(listen_fraction=0.3)) == "listen"


def test_session_matches_the_contract(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(1.23456)
    tr.gone()
    d = out[0].session().to_json()
    assert set(d) == {"duration_s", "played_s", "end_position_s", "end_reason", "seeks", "pauses", "started_at"}
    assert d["played_s"] == 1.235 and d["end_reason"] == "gone" and d["duration_s"] == 200.0
    stream = Song("s", "http://x", None, None)
    tr.observe(stream, "play", 0.0)
    clock.advance(2)
    tr.gone()
    assert out[1].session().duration_s == 0.0  # unknown length


def test_bad_state_is_refused(rig):
    _, tr, _ = rig
    with pytest.raises(ValueError):
        tr.observe(A, "playing", 0.0)
