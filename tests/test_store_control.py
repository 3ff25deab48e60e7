"""Store-level behaviour behind bans, history, filters and --explore, on real SQLite files."""

import sqlite3

import numpy as np
import pytest

from prefrec.feedback import Act
from prefrec.scoring import encode_f32, ranking
from prefrec.store import MIGRATIONS, RecommendFilter, Store, _statements


def _tracks(store, n=6):
    store.record_analysed([{
        "path": f"/m/{i}.flac", "identity": f"id{i}", "title": f"Song {i}", "artist": "Ártist A" if i < 3 else "B",
        "album": f"Album {i % 2}", "duration_s": 60.0 * (i + 1), "n_frames": 3000 * (i + 1), "truncated": 0,
        "size": 1, "mtime_ns": 1, "feature_version": 1} for i in range(n)])


def test_the_bans_migration_fills_the_spread_of_rankings_made_before_it(tmp_path):
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    scores = np.array([0.1, 0.5, 0.9, 0.3], dtype="<f4")
    conn.execute("INSERT INTO window_scores VALUES ('id0', 7, ?, NULL)", (scores.tobytes(),))
    conn.execute("INSERT INTO rankings VALUES ('id0', 7, ?)", (float(scores.mean()),))
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS) >= 2
        spread = store.conn.execute("SELECT spread FROM rankings WHERE identity = 'id0'").fetchone()[0]
        assert spread == pytest.approx(float(scores.std()), abs=1e-6)
        assert store.bans() == []


def test_candidates_honour_bans_filters_ratings_and_order(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        _tracks(store)
        model = store.add_model("m", {}, last_feedback_id=0, n_rated=0, train_s=0)
        rng = np.random.default_rng(0)
        windows = {f"id{i}": np.clip(0.2 + 0.1 * i + rng.normal(0, 0.02 * (6 - i), 50), 0, 1).astype("f4")
                   for i in range(6)}
        store.save_window_scores(model, [(k, encode_f32(v), encode_f32(np.ones(4))) for k, v in windows.items()])
        store.publish_rankings(model, ranking(store.window_score_blobs(model)))
        ids = lambda f=RecommendFilter(), by="score": [r.track.identity for r in store.candidates(f, by=by)]  # noqa
        assert ids() == ["id5", "id4", "id3", "id2", "id1", "id0"]
        assert ids(by="spread") == sorted(windows, key=lambda k: -float(windows[k].std()))  # noisiest first
        assert ids(by="spread")[0] == "id0"
        store.add_act(Act("id5", "/m/5.flac", "like"))
        assert "id5" not in ids()
        store.add_act(Act("id5", "/m/5.flac", "forget"))
        assert "id5" in ids()
        assert ids(RecommendFilter(artist="artist a")) == ["id2", "id1", "id0"]  # accents and case ignored
        assert ids(RecommendFilter(album="album 1", min_duration_s=150, max_duration_s=300)) == ["id3"]
        assert store.add_ban("artist", "b", "B") and not store.add_ban("artist", "b", "B")
        assert store.add_ban("track", "id1", "Song 1")
        assert ids() == ["id2", "id0"]
        assert store.remove_ban("artist", "b") and not store.remove_ban("artist", "b")
        assert ids() == ["id5", "id4", "id3", "id2", "id0"]


def test_history_is_newest_first_and_survives_a_gone_file(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        _tracks(store, 2)
        store.add_act(Act("id0", "/m/0.flac", "like"))
        store.add_act(Act("id1", "/m/1.flac", "skip", position_s=12.0))
        store.add_act(Act("gone", "/m/old.flac", "skip"))
        events = store.history(10)
        assert [(e.row.kind, e.row.identity) for e in events] == [("skip", "gone"), ("skip", "id1"), ("like", "id0")]
        assert events[0].track is None and events[1].track.title == "Song 1" and events[1].row.position_s == 12.0
        assert {e.row.source for e in events} == {"cli"} and not any(e.row.withdrawn for e in events)
        assert len(store.history(2)) == 2


def test_record_analysed_updates_a_known_path_in_place(tmp_path):
    """A re-analysed file keeps its track id; every column given is replaced, its search words
    (and the full-text index) follow the new tags; a file that failed before loses its error."""
    with Store(tmp_path / "db.sqlite") as store:
        _tracks(store, n=2)
        store.record_failed([("/m/2.flac", "/m/2.flac: broken", 1, 1, False)])
        before = dict(store.conn.execute("SELECT path, id FROM tracks").fetchall())
        row = {"identity": "new1", "title": "Nocturne", "artist": None, "album": None, "duration_s": 99.5,
               "n_frames": 4975, "truncated": 1, "size": 7, "mtime_ns": 8, "feature_version": 2}
        store.record_analysed([{**row, "path": "/m/1.flac"}, {**row, "path": "/m/2.flac", "identity": "id2"}])
        rows = store.conn.execute("SELECT path, id, identity, title, artist, album, duration_s, n_frames, truncated, "
                                  "size, mtime_ns, feature_version FROM tracks ORDER BY path").fetchall()
        assert rows[:2] == [
            ("/m/0.flac", before["/m/0.flac"], "id0", "Song 0", "Ártist A", "Album 0", 60.0, 3000, 0, 1, 1, 1),
            ("/m/1.flac", before["/m/1.flac"], "new1", "Nocturne", None, None, 99.5, 4975, 1, 7, 8, 2)]
        assert rows[2][0] == "/m/2.flac" and rows[2][2] == "id2" and len(rows) == 3
        match = "SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ? ORDER BY rowid"
        assert store.conn.execute(match, ("song",)).fetchall() == [(before["/m/0.flac"],)]
        assert store.conn.execute(match, ("nocturne",)).fetchall() == [(before["/m/1.flac"],), (rows[2][1],)]
        assert store.conn.execute("SELECT count(*) FROM errors").fetchone() == (0,)
