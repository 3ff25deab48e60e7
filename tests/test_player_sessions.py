"""SessionTracker and classify: player events -> sessions -> skip / listen / nothing (docs/feedback.md)."""

from __future__ import annotations

import pytest

from prefrec.player.base import Song
from prefrec.player.sessions import SessionRecord, SessionTracker, Thresholds, classify
from tests.player_helpers import FakeClock

A = Song("1", "a.flac", "/music/a.flac", 200.0)
B = Song("2", "b.flac", "/music/b.flac", 300.0)
C = Song("3", "c.flac", "/music/c.flac", 600.0)


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
    c = classify(s.detail())
    assert c.kind == "skip" and c.position_s == pytest.approx(5.2)
    assert tr.song == B and tr.position_now() == pytest.approx(0.0)


def test_played_through_is_a_listen_ending_at_eof(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(199.5)  # the player moves on half a second before the length: still its end
    tr.observe(B, "play", 0.0, reason="next")
    [s] = out
    assert s.end_reason == "eof" and s.end_position_s == 200.0
    assert classify(s.detail()).kind == "listen"


def test_stop_records_a_session_that_says_nothing(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(30)
    tr.observe(A, "stop", None)
    [s] = out
    assert s.end_reason == "stop" and s.end_position_s == pytest.approx(30)
    assert classify(s.detail()).kind == "nothing"
    # a stop after the listen threshold is still a listen
    tr.observe(A, "play", 0.0)
    clock.advance(150)
    tr.observe(A, "stop", None)
    assert out[1].played_s == pytest.approx(150) and classify(out[1].detail()).kind == "listen"


def test_under_3_s_is_nothing(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(2.5)
    tr.observe(B, "play", 0.0, reason="next")
    assert out[0].end_reason == "next"
    assert classify(out[0].detail()).kind == "nothing"
    clock.advance(3.5)
    tr.observe(C, "play", 0.0, reason="next")
    assert classify(out[1].detail()).kind == "skip"


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
    assert s.detail()["pauses"] == [20.0]
    assert classify(s.detail()).kind == "skip" and classify(s.detail()).position_s == pytest.approx(30)


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
    c = classify(s.detail())
    assert c.kind == "listen" and c.excluded == (pytest.approx((12.0, 40.0)),)


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
    c = classify(s.detail())
    assert c.kind == "listen" and c.excluded == ()  # 310 s played of 600 s
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
    assert classify(first.detail()).kind == "listen"
    # the repeat started right after the first ended: within the song's length, so nothing
    assert classify(second.detail(), previous=first.detail()).kind == "nothing"
    # the same session without a previous one would be a skip
    assert classify(second.detail()).kind == "skip"


def test_repeat_rule_measures_from_the_previous_end(rig):
    prev = {"started_at": 1000.0, "ended_at": 1200.0, "played_s": 200.0, "duration_s": 200.0}
    now = {"duration_s": 200.0, "played_s": 150.0, "end_position_s": 150.0, "end_reason": "stop",
           "seeks": [], "pauses": []}
    assert classify({**now, "started_at": 1390.0}, previous=prev).kind == "nothing"
    assert classify({**now, "started_at": 1401.0}, previous=prev).kind == "listen"
    # without ended_at (an older row): its start plus the time it played
    old = {k: v for k, v in prev.items() if k != "ended_at"}
    assert classify({**now, "started_at": 1399.0}, previous=old).kind == "nothing"


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
    assert out[0].end_reason == "other" and classify(out[0].detail()).kind == "skip"
    clock.advance(1)
    tr.observe(stream, "play", 0.0)
    clock.advance(241)
    tr.observe(A, "play", 0.0)
    assert classify(out[2].detail()).kind == "listen"


def test_joined_mid_song(rig):
    clock, tr, out = rig
    tr.observe(C, "play", 400.0)  # the client connected while C was playing
    clock.advance(200)
    tr.observe(A, "play", 0.0, reason="next")
    [s] = out
    assert s.start_position_s == 400.0 and s.played_s == pytest.approx(200) and s.end_reason == "eof"
    assert classify(s.detail()).kind == "nothing"  # 200 s of a 600 s song, never chose to move on


def test_thresholds_are_settings():
    detail = {"duration_s": 100.0, "played_s": 40.0, "end_position_s": 40.0, "end_reason": "next",
              "seeks": [[5.0, 12.0]], "pauses": [], "started_at": 0.0}
    assert classify(detail).kind == "skip"
    strict = Thresholds(skip_min_s=45.0)
    assert classify(detail, thresholds=strict).kind == "nothing"
    loose = Thresholds(listen_fraction=0.3, seek_min_s=5.0)
    c = classify(detail, thresholds=loose)
    assert c.kind == "listen" and c.excluded == ((5.0, 12.0),)


def test_detail_matches_the_contract(rig):
    clock, tr, out = rig
    tr.observe(A, "play", 0.0)
    clock.advance(1.23456)
    tr.gone()
    d = out[0].detail()
    assert set(d) >= {"duration_s", "played_s", "end_position_s", "end_reason", "seeks", "pauses", "started_at"}
    assert d["played_s"] == 1.235 and d["end_reason"] == "gone" and d["duration_s"] == 200.0


def test_bad_state_is_refused(rig):
    _, tr, _ = rig
    with pytest.raises(ValueError):
        tr.observe(A, "playing", 0.0)
