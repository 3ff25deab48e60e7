"""What is recommended (issue 13, point 2), on real SQLite files with a published ranking: no
flagged file unless asked, one file per recording, --folder, and diversity that never lifts a
low score above a high one, through the in-process CLI."""

import json
import sqlite3

import pytest

from prefrec.feedback import Act
from prefrec.store import Store
from tests.helpers import invoke, named_library

TRACKS = [
    ("Good", "A", "Alpha", "a/alpha/good.ogg"),
    ("Short", "A", "Alpha", "a/alpha/short.ogg"),
    ("Cut", "B", "Beta", "b/beta/cut.ogg"),
    ("Nan", "B", "Beta", "b/beta/nan.ogg"),
    ("Fine", "B", "Beta", "b/beta/fine.ogg"),
    ("Loose 1", None, None, "loose/one.ogg"),
    ("Loose 2", None, None, "loose/two.ogg"),
    ("Loose 3", None, None, "loose/three.ogg"),
    ("Other 1", None, None, "other/one.ogg"),
    ("Copy of Good", "A", "Alpha", "a/copies/good.mp3"),
    ("Rated", "C", "Gamma", "c/rated.ogg"),
]
SCORES = {"Good": 0.95, "Short": 0.99, "Cut": 0.98, "Nan": 0.97, "Fine": 0.5, "Loose 1": 0.90, "Loose 2": 0.89,
          "Loose 3": 0.88, "Other 1": 0.30, "Copy of Good": 0.96, "Rated": 0.999}


@pytest.fixture
def ranked(tmp_path):
    home = named_library(tmp_path, TRACKS, **{
        "a/alpha/short.ogg": {"n_frames": 300, "duration_s": 6.0},
        "b/beta/cut.ogg": {"truncated": 1, "note": "only 60.0 s of 180.0 s decode"},
        "b/beta/nan.ogg": {"note": "12 NaN/infinite samples replaced by silence"}})
    with Store(home / "prefrec.sqlite") as store:
        tracks = {t.title: t for t in store.tracks()}
        store.add_recordings([(tracks["Good"].identity, tracks["Good"].identity, None, []),
                              (tracks["Copy of Good"].identity, tracks["Good"].identity, None, [])], [])
        store.add_act(Act(tracks["Rated"].identity, tracks["Rated"].path, "like"))
        model_id = store.add_model("models/x.pt", {}, last_feedback_id=store.last_feedback_id(), n_rated=1,
                                   train_s=0.0)
        store.publish_rankings(model_id, [(t.identity, SCORES[title], 0.1) for title, t in tracks.items()])
    return home, tmp_path / "music"


def titles(home, *args):
    code, out, err = invoke(home, "recommend", "--json", *args)
    assert code == 0, err
    return [r["title"] for r in json.loads(out)]


def test_flagged_files_and_second_copies_are_not_recommended_unless_asked(ranked):
    home, _ = ranked
    shown = titles(home, "-n", "20")
    assert "Short" not in shown and "Cut" not in shown and "Nan" not in shown  # flagged
    assert "Rated" not in shown
    assert ("Good" in shown) != ("Copy of Good" in shown), "one file of the recording"
    everything = titles(home, "-n", "20", "--include-flagged")
    assert {"Short", "Cut", "Nan"} <= set(everything)
    assert everything[:3] == ["Short", "Cut", "Nan"]  # by score, once allowed
    flagged = {i["title"]: i["flags"] for i in json.loads(invoke(home, "list", "--json", "--flagged")[1])}
    assert flagged == {"Short": ["short"], "Cut": ["truncated"], "Nan": ["nan"]}


def test_the_whole_file_of_a_recording_is_the_one_recommended(ranked):
    home, _ = ranked
    conn = sqlite3.connect(home / "prefrec.sqlite")
    conn.execute("UPDATE tracks SET n_frames = 5000 WHERE title = 'Good'")  # the copy is now the longer file
    conn.commit()
    conn.close()
    shown = titles(home, "-n", "20")
    assert "Copy of Good" in shown and "Good" not in shown


def test_folder_filter_takes_a_path_or_a_folder_name(ranked):
    home, music = ranked
    assert titles(home, "--folder", str(music / "loose")) == ["Loose 1", "Loose 2", "Loose 3"]
    assert titles(home, "--folder", "loose") == ["Loose 1", "Loose 2", "Loose 3"]
    code, _, err = invoke(home, "recommend", "--folder", "nowhere")
    assert code == 1 and "no folder" in err


def test_untagged_files_are_spread_by_folder_among_comparable_scores(ranked):
    home, _ = ranked
    shown = titles(home, "-n", "20")
    # Loose 1-3 share a folder (no tags) and score 0.90/0.89/0.88; the next track of another folder
    # (Fine, 0.5) scores far below, so the third loose track is not held back behind it

    assert shown.index("Loose 3") < shown.index("Fine") < shown.index("Other 1")
    conn = sqlite3.connect(home / "prefrec.sqlite")
    conn.execute("UPDATE rankings SET score = 0.875 WHERE identity = (SELECT identity FROM tracks "
                 "WHERE title = 'Other 1')")
    conn.commit()
    conn.close()
    shown = titles(home, "-n", "20")
    assert shown.index("Other 1") < shown.index("Loose 3"), "a comparable track of another folder goes first"
    plain = titles(home, "-n", "20", "--no-diversify")
    assert plain.index("Loose 3") < plain.index("Other 1")
