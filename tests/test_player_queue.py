"""The autoqueue and radio policy (prefrec.player.queue): pure functions over a queue."""

from __future__ import annotations

from prefrec.player.base import Candidate
from prefrec.player.queue import Plan, Policy, QueueEntry, early_skip_demotions, pick, plan, radio_order

HOUR = 3600.0


def cand(name: str, score: float, artist: str | None = None, album: str | None = None, **kw) -> Candidate:
    return Candidate(f"/m/{name}.flac", score, artist or f"artist {name}", album or f"album {name}", **kw)


def entry(name: str, key: str | None = None, *, ours: bool = False, artist=None, album=None) -> QueueEntry:
    return QueueEntry(key or name, f"/m/{name}.flac", ours, artist or f"artist {name}", album or f"album {name}")


RANKED = [cand(n, s) for n, s in zip("abcdefgh", (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2))]


def names(items) -> list[str]:
    return [c.path.rsplit("/", 1)[1].removesuffix(".flac") for c in items]


def test_keeps_three_after_the_current_song_best_first():
    p = plan(entry("x"), [], RANKED)
    assert p.remove == () and names(p.add) == ["a", "b", "c"]
    p = plan(entry("x"), [entry("y"), entry("z")], RANKED)
    assert names(p.add) == ["a"]
    assert plan(entry("x"), [entry(n) for n in "yzw"], RANKED) == Plan()
    assert names(plan(None, [], RANKED, policy=Policy(keep=5)).add) == ["a", "b", "c", "d", "e"]


def test_never_touches_the_listeners_songs():
    mine = [entry("a", "k1"), entry("q", "k2"), entry("b", "k3"), entry("r", "k4")]
    p = plan(entry("x"), mine, RANKED, banned={"/m/a.flac", "/m/q.flac"}, demoted={"/m/b.flac"},
             replace_ours=True)
    assert p == Plan()  # four of the listener's songs queued: nothing removed, nothing added


def test_takes_out_its_own_songs_that_became_wrong():
    upcoming = [entry("a", "k1", ours=True), entry("q", "k2"), entry("b", "k3", ours=True), entry("c", "k4", ours=True)]
    p = plan(entry("x"), upcoming, RANKED, banned={"/m/a.flac"}, demoted={"/m/c.flac"})
    assert p.remove == ("k1", "k4")
    # kept: q and b; one more needed; a is banned, b queued, c demoted: d, not c
    assert names(p.add) == ["d"]
    p = plan(entry("x"), upcoming, RANKED, replace_ours=True)
    assert p.remove == ("k1", "k3", "k4") and names(p.add) == ["a", "b"]  # q stays; fresh picks follow it


def test_skips_queued_playing_banned_and_recently_played():
    now = 100 * HOUR
    last = {"/m/b.flac": now - 2 * HOUR, "/m/d.flac": now - 9 * HOUR}
    p = plan(entry("a"), [entry("c")], RANKED, banned={"/m/e.flac"}, last_played=last, now=now)
    assert names(p.add) == ["d", "f"]  # a playing, c queued, b within 8 h, e banned; d's play is 9 h old
    p = plan(entry("a"), [entry("c")], RANKED, last_played=last, now=now, policy=Policy(cooldown_s=1 * HOUR))
    assert names(p.add) == ["b", "d"]
    recent = [entry("d"), entry("f")]  # played this session, not in the database yet
    assert names(plan(entry("a"), [entry("c")], RANKED, recent=recent).add) == ["b", "e"]


def test_demoted_neighbours_come_last():
    p = plan(None, [], RANKED, demoted={"/m/a.flac", "/m/b.flac"})
    assert names(p.add) == ["c", "d", "e"]
    few = RANKED[:4]
    assert names(plan(None, [], few, demoted={"/m/a.flac", "/m/b.flac"}).add) == ["c", "d", "a"]


def test_diversity_caps_an_artist_in_the_window_but_never_runs_dry():
    same = [cand(f"s{i}", 0.9 - i / 100, artist="Solo", album=f"al{i}") for i in range(5)]
    others = [cand("o1", 0.5), cand("o2", 0.4)]
    p = plan(None, [], same + others, policy=Policy(keep=4))
    assert names(p.add) == ["s0", "s1", "o1", "o2"]
    # the queue already ends with two songs by Solo: none more until others are exhausted
    before = [entry("p1", artist="Solo"), entry("p2", artist="Solo")]
    assert names(plan(entry("cur"), before[:1], same + others, recent=before[1:], policy=Policy(keep=3)).add) == ["o1", "o2"]
    # only Solo left: the rule gives way rather than leave the queue short
    assert names(plan(None, before, same, policy=Policy(keep=4)).add) == ["s0", "s1"]


def test_diversity_matches_names_case_and_accent_insensitively():
    ranked = [cand("a", 0.9, artist="Björk", album="x"), cand("b", 0.8, artist="BJORK", album="y"),
              cand("c", 0.7, artist="bjork", album="z"), cand("d", 0.1)]
    assert names(pick(ranked, 3)) == ["a", "b", "d"]


def test_pick_drops_duplicates_and_wants_nothing_for_zero():
    assert pick(RANKED, 0) == []
    assert names(pick([RANKED[0], RANKED[0], RANKED[1]], 3)) == ["a", "b"]


def test_radio_ranks_the_nearest_by_taste():
    near = [cand("n1", 0.2, similarity=0.99), cand("n2", 0.9, similarity=0.95), cand("n3", 0.5, similarity=0.9),
            cand("n4", 0.5, similarity=0.8), cand("far", 1.0, similarity=0.1)]
    assert names(radio_order(near, pool=4)) == ["n2", "n3", "n4", "n1"]
    assert names(radio_order(near)) == ["far", "n2", "n3", "n4", "n1"]


def test_early_skip_demotes_its_nearest_neighbours():
    near = [cand(f"n{i}", 0.5) for i in range(15)]
    assert early_skip_demotions(near, n=3) == {"/m/n0.flac", "/m/n1.flac", "/m/n2.flac"}
    assert len(early_skip_demotions(near)) == Policy().demote_neighbours
