"""The feedback log (acts and observations from every source) and the labels derived from it."""

import sqlite3

import numpy as np
import pytest

from prefrec.feedback import Act, LogRow, Observation, Session, mark_withdrawn
from prefrec.labels import Rules, classify, derive
from prefrec.store import MIGRATIONS, Store, _register_functions, _statements
from prefrec.train import example_from_label


def _session(played, *, duration=200.0, end=None, reason="next", started=1000.0, seeks=()):
    return Session(started, duration, played, played if end is None else end, reason, tuple(seeks))


def test_a_version_4_log_keeps_its_rows_and_ids_and_the_sequence_goes_on(tmp_path):
    path = tmp_path / "db.sqlite"
    old = sqlite3.connect(path)
    _register_functions(old)
    for script in MIGRATIONS[:4]:
        for statement in _statements(script):
            old.execute(statement)
    old.execute("PRAGMA user_version = 4")
    old.executemany("INSERT INTO feedback(identity, path, kind, position_s, created_at) VALUES (?, ?, ?, ?, ?)",
                    [("a", "/m/a.ogg", "like", None, 1.0), ("b", "/m/b.ogg", "skip", 12.5, 2.0),
                     ("a", "/m/a.ogg", "forget", None, 3.0)])
    old.commit()
    old.close()
    with Store(path) as store:
        log = store.feedback_log()
        assert [(r.id, r.identity, r.kind, r.source, r.position_s) for r in log] == [
            (1, "a", "like", "cli", None), (2, "b", "skip", "cli", 12.5), (3, "a", "forget", "cli", None)]
        assert [r.withdrawn for r in log] == [True, False, False]
        assert store.add_act(Act("c", "/m/c.ogg", "like")) == 4
        assert set(store.ratings()) == {"b", "c"}
        with pytest.raises(Exception, match="append-only"):
            with store.write() as conn:
                conn.execute("DELETE FROM feedback WHERE id = 1")


def test_forget_withdraws_acts_and_observations_of_the_music_and_forget_source_a_whole_source(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.add_act(Act("a", "/m/a.ogg", "like", "import:itunes", key="1"))
        store.add_observation(Observation("a", "/m/a.ogg", "mpd", session=_session(150.0)))
        store.add_act(Act("b", "/m/b.ogg", "skip", "import:itunes", key="2"))
        store.add_act(Act("c", "/m/c.ogg", "skip", "cli", position_s=30.0))
        assert {i: r.source for i, r in store.ratings().items()} == {"a": "import:itunes", "b": "import:itunes",
                                                                      "c": "cli"}
        store.add_act(Act("", "", "forget_source", "import:itunes"))
        assert set(store.ratings()) == {"c"}
        assert store.imported_keys("import:itunes") == {}
        labels = derive(store.feedback_log())
        assert set(labels) == {"a", "c"}  # a: its mpd listen is still there
        assert [(x.target, x.explicit, x.source) for x in labels["a"]] == [(1.0, False, "mpd")]
        store.add_act(Act("a", "/m/a.ogg", "forget"))
        assert set(derive(store.feedback_log())) == {"c"}
        # Importing again after forgetting the source counts again; nothing was deleted.
        store.add_act(Act("b", "/m/b.ogg", "like", "import:itunes", key="2"))
        assert store.ratings()["b"].kind == "like" and set(store.imported_keys("import:itunes")) == {"2"}
        assert store.counts()["feedback"] == 7
        history = store.history(10)
        assert [e.row.withdrawn for e in history] == [False, False, False, False, True, True, True]


@pytest.mark.parametrize("session, meaning", [
    (_session(5.0, end=5.0), "skip"),  # moved on after 5 s
    (_session(2.0), "nothing"),  # an accidental start
    (_session(100.0), "listen"),  # half of 200 s
    (_session(60.0, reason="stop"), "nothing"),  # stopped: not a judgement
    (_session(60.0, reason="gone"), "nothing"),
    (_session(60.0, reason="eof", duration=600.0), "nothing"),  # ended by itself early? (player quirk)
    (_session(240.0, duration=900.0), "listen"),  # 4 minutes of a long piece
    (_session(239.0, duration=900.0, reason="previous"), "skip"),
])
def test_sessions_are_classified_by_the_default_rules(session, meaning):
    assert classify(session, Rules()) == meaning


def test_a_repeat_within_the_songs_length_means_nothing():
    rules = Rules()
    assert classify(_session(5.0, started=1100.0), rules, previous_start=1000.0) == "nothing"
    assert classify(_session(5.0, started=1300.0), rules, previous_start=1000.0) == "skip"


def _row(i, identity, kind, source="cli", position=None, detail=None):
    return LogRow(i, identity, f"/m/{identity}", kind, source, position, float(i), detail=detail or {})


def test_a_rating_outweighs_everything_implicit_and_imported_ratings_weigh_less():
    rows = mark_withdrawn([
        _row(1, "a", "session", "mpd", detail=_session(150.0).to_json()),
        _row(2, "a", "skip", "cli", 40.0),
        _row(3, "b", "like", "import:beets"),
        _row(4, "c", "counts", "import:beets", detail={"plays": 2, "skips": 1}),
        _row(5, "d", "counts", "import:beets", detail={"plays": 9, "skips": 0}),
    ])
    labels = derive(rows)
    assert [(x.target, x.weight, x.skip_at_s, x.explicit) for x in labels["a"]] == [(0.0, 1.0, 40.0, True)]
    assert [(x.target, x.weight) for x in labels["b"]] == [(1.0, 0.7)]
    assert [(x.target, x.weight) for x in labels["c"]] == [(1.0, pytest.approx(0.6 / 1.1)), (0.0, pytest.approx(0.5 / 1.1))]
    assert sum(x.weight for x in labels["c"]) == pytest.approx(1.0)  # capped: 0.6 + 0.5 scaled to 1
    assert [(x.target, x.weight) for x in labels["d"]] == [(1.0, pytest.approx(1.0))]


def test_a_player_skip_labels_the_windows_heard_and_a_seek_keeps_jumped_windows_out_of_a_listen():
    features = np.zeros((20, 60 * 50), dtype=np.float32)  # 60 s: 53 windows
    skip = derive([_row(1, "a", "session", "mpd", detail=_session(12.0, duration=60.0, end=12.0).to_json())])["a"][0]
    ex = example_from_label(skip, features)
    assert ex.label == 0.0 and ex.weight == 0.5 and ex.weights[0] == 1.0 and ex.weights[4] == 1.0
    assert ex.weights[5] == pytest.approx(7 / 8) and ex.weights[12:].sum() == 0
    listen = _session(40.0, duration=60.0, seeks=[(10.0, 30.0), (31.0, 35.0)], reason="eof")
    label = derive([_row(1, "a", "session", "mpd", detail=listen.to_json())])["a"][0]
    assert label.target == 1.0 and label.excluded_s == ((10.0, 30.0),)  # the 4 s seek is not a jump
    ex = example_from_label(label, features)
    assert ex.weights[2] == 1.0 and ex.weights[3:30].sum() == 0 and ex.weights[30] == 1.0


def test_observations_must_be_well_formed():
    with pytest.raises(ValueError):
        Observation("a", "/m/a", "cli", session=_session(5.0))
    with pytest.raises(ValueError):
        Observation("a", "/m/a", "mpd")
    with pytest.raises(ValueError):
        Act("a", "/m/a", "like", "somewhere")
    with pytest.raises(ValueError):
        Session(0.0, 10.0, 5.0, 5.0, "exploded")


def test_history_says_what_each_session_means_as_training_sees_it(tmp_path):
    from prefrec.config import load_settings
    from prefrec.service import Service

    with Service(load_settings(tmp_path)) as service:
        store = service.store
        store.add_observation(Observation("a", "/m/a", "mpd", session=_session(150.0, started=1000.0, reason="eof")))
        store.add_observation(Observation("a", "/m/a", "mpd", session=_session(20.0, started=1100.0)))  # a replay
        store.add_observation(Observation("a", "/m/a", "mpd", session=_session(20.0, started=1400.0)))
        means = [e.means for e in service.control.history(10)]
        assert means == ["skip", "nothing", "listen"]
        labels = derive(store.feedback_log())["a"]
        assert [x.target for x in labels] == [1.0, 0.0]
