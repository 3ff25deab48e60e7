"""Naming tracks as a listener types them (issue 13, point 1): whole words, no exact title winning
silently, a pick on a terminal, "did you mean", words without quotes, several paths, folders,
albums and artists, file:// URIs and stdin, and browsing with `search` and `list`. In-process CLI on
real SQLite files (no audio is needed to name tracks); real subprocesses where the terminal or the
exit code is the point."""

import json
import os
import pty
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, invoke, named_library, read_terminal

TRACKS = [
    ("Town", "Kai", "Village", "kai/village/01 town.ogg"),
    ("Town Theme", "Kai", "Village", "kai/village/02 town theme.ogg"),
    ("Together", "Mira", "Songs", "mira/songs/01 together.ogg"),
    ("The Battle Theme", "Mira", "Songs", "mira/songs/02 the battle theme.ogg"),
    ("Dungeon Theme", "Orin", "Depths", "orin/depths/01 dungeon theme.ogg"),
    ("Cave", "Orin", "Depths", "orin/depths/02 cave.ogg"),
    ("Plucks Study 1", "Nylon", "Plucks Sessions 1", "nylon/s1/01 plucks study 1.ogg"),
    ("Plucks Study 3", "Nylon", "Plucks Sessions 1", "nylon/s1/03 plucks study 3.ogg"),
    ("Beyoncé Été", None, None, "loose/été.ogg"),
]


@pytest.fixture
def lib(tmp_path):
    home = named_library(tmp_path, TRACKS, **{"orin/depths/02 cave.ogg": {"note": "only 80.0 s of 180.0 s decode",
                                                                          "truncated": 1}})
    return home, tmp_path / "music"


def rated(home):
    conn = sqlite3.connect(home / "prefrec.sqlite")
    try:
        return [(kind, Path(path).name) for kind, path in
                conn.execute("SELECT kind, path FROM feedback ORDER BY id").fetchall()]
    finally:
        conn.close()


def test_an_exact_title_does_not_win_silently_when_other_titles_hold_the_words(lib):
    home, _ = lib
    code, out, err = invoke(home, "like", "town")
    assert code == 2
    assert "'town' matches 2 tracks" in err and "1. Kai – Town (3:00)" in err and "2. Kai – Town Theme" in err
    assert rated(home) == []


def test_words_match_whole_words_only(lib):
    home, _ = lib
    # "the" is a word of one title; "Together" and "Theme" hold it only inside a word
    code, _, err = invoke(home, "like", "the")
    assert code == 0 and "liked: Mira – The Battle Theme" in err, err
    assert invoke(home, "like", "gether")[0] == 1  # part of a word is no match
    assert rated(home) == [("like", "02 the battle theme.ogg")]


def test_words_need_no_quotes_and_ignore_case_and_accents(lib):
    home, _ = lib
    assert invoke(home, "like", "battle", "THEME")[0] == 0
    assert invoke(home, "skip", "beyonce", "ete", "--at", "0:10")[0] == 0
    assert rated(home) == [("like", "02 the battle theme.ogg"), ("skip", "été.ogg")]


def test_a_name_held_by_one_title_wins_over_tracks_matching_through_their_album(lib):
    home, _ = lib
    # "1" is also a word of the album "Plucks Sessions 1" that Plucks Study 3 is on
    code, _, err = invoke(home, "like", "plucks", "study", "1")
    assert code == 0, err
    assert rated(home) == [("like", "01 plucks study 1.ogg")]


def test_unknown_names_suggest_the_closest_ones(lib):
    home, _ = lib
    code, out, err = invoke(home, "like", "dungen", "theme")
    assert code == 1 and out == ""
    assert "no track matches 'dungen theme'; did you mean 'Orin – Dungeon Theme'?" in err
    code, _, err = invoke(home, "like", "batle")
    assert code == 1 and "did you mean 'Mira – The Battle Theme'" in err
    code, _, err = invoke(home, "like", "cave", "town")  # known words, never together
    assert code == 1 and "did you mean" in err and ("Cave" in err or "Town" in err)
    code, _, err = invoke(home, "like", "zzzzqqq")
    assert code == 1 and "did you mean" not in err and "prefrec search" in err
    assert rated(home) == []


def test_several_paths_a_folder_an_album_and_an_artist_rate_all_their_tracks(lib, monkeypatch):
    home, music = lib
    monkeypatch.chdir(music / "kai" / "village")
    code, _, err = invoke(home, "like", "01 town.ogg", "02 town theme.ogg")  # what `prefrec like *.ogg` passes
    assert code == 0 and "liked 2 tracks (2 paths)" in err
    code, _, err = invoke(home, "skip", str(music / "mira"))
    assert code == 0 and f"skipped 2 tracks (folder {music / 'mira'})" in err
    code, _, err = invoke(home, "like", "--album", "depths")
    assert code == 0 and "liked 2 tracks (album 'Depths')" in err
    code, _, err = invoke(home, "skip", "--artist", "NYLON")
    assert code == 0 and "skipped 2 tracks (artist 'Nylon')" in err
    assert [k for k, _ in rated(home)] == ["like"] * 2 + ["skip"] * 2 + ["like"] * 2 + ["skip"] * 2


def test_a_rating_that_reverses_an_earlier_one_says_so(lib):
    home, _ = lib
    assert "reverses" not in invoke(home, "like", "cave")[2]
    code, _, err = invoke(home, "skip", "cave", "--at", "1:00")
    assert code == 0 and "this reverses your earlier like of it" in err
    code, _, err = invoke(home, "skip", "cave")
    assert "(already skipped)" in err
    code, _, err = invoke(home, "like", "--album", "depths")
    assert "liked 2 tracks (album 'Depths') (1 earlier rating reversed)" in err


def test_nothing_is_written_unless_every_name_resolves(lib, monkeypatch):
    home, music = lib
    monkeypatch.chdir(music / "kai" / "village")
    code, _, err = invoke(home, "like", "01 town.ogg", "nosuch.ogg")
    assert code == 1 and "nosuch.ogg: no such file" in err
    code, _, err = invoke(home, "like", "01 town.ogg", str(music / "elsewhere" / "x.ogg"))
    assert code == 1
    (music / "not-scanned.ogg").write_bytes(b"")
    code, _, err = invoke(home, "like", str(music / "not-scanned.ogg"), "01 town.ogg")
    assert code == 1 and "not in the library yet; run `prefrec scan`" in err
    code, _, err = invoke(home, "skip", "--album", "depths", "--at", "3")
    assert code == 2 and "--at" in err
    assert invoke(home, "like", "--artist", "nobody")[0] == 1
    assert rated(home) == []


def test_file_uris_and_paths_on_stdin_are_accepted(lib):
    home, music = lib
    town = music / "kai" / "village" / "01 town.ogg"
    code, _, err = invoke(home, "like", town.as_uri())  # file:///…/01%20town.ogg
    assert code == 0 and "Kai – Town" in err
    cave, theme = music / "orin" / "depths" / "02 cave.ogg", music / "kai" / "village" / "02 town theme.ogg"
    code, _, err = invoke(home, "skip", "-", input=f"{cave}\n\n{theme.as_uri()}\n")
    assert code == 0 and "skipped 2 tracks (2 paths)" in err
    code, _, err = invoke(home, "skip", "-", input="town\n")  # stdin gives paths, not words
    assert code == 1 and "town: no such file" in err
    assert rated(home) == [("like", "01 town.ogg"), ("skip", "02 cave.ogg"), ("skip", "02 town theme.ogg")]


def test_search_and_list_show_score_rating_and_flags(lib):
    home, music = lib
    invoke(home, "skip", "cave", "--at", "0:30")
    code, out, err = invoke(home, "search", "theme")
    assert code == 0 and "3 tracks" in err
    assert out.index("Town Theme") < out.index("Battle Theme") or "Dungeon Theme" in out
    code, out, _ = invoke(home, "search", "--json", "depths")
    items = {i["title"]: i for i in json.loads(out)}
    assert set(items) == {"Dungeon Theme", "Cave"}
    assert items["Cave"]["rating"] == "skip" and items["Cave"]["skipped_at"] == 30.0
    assert items["Cave"]["flags"] == ["truncated"] and items["Dungeon Theme"]["flags"] == []
    assert items["Cave"]["score"] is None  # nothing is ranked yet
    code, _, err = invoke(home, "search", "dungen")
    assert code == 1 and "did you mean" in err
    listed = json.loads(invoke(home, "list", "--json")[1])
    assert [i["path"] for i in listed] == sorted(str(music / t[3]) for t in TRACKS)
    assert [i["title"] for i in json.loads(invoke(home, "list", "--json", "--flagged")[1])] == ["Cave"]
    assert len(json.loads(invoke(home, "list", "--json", "--unrated")[1])) == len(TRACKS) - 1
    assert {i["title"] for i in json.loads(invoke(home, "list", "--json", "--artist", "kai")[1])} == {"Town",
                                                                                                    "Town Theme"}
    assert {i["title"] for i in json.loads(invoke(home, "list", "--json", "--album", "songs")[1])} == {
        "Together", "The Battle Theme"}
    by_name = json.loads(invoke(home, "list", "--json", "--folder", "depths")[1])  # a folder's name…
    by_path = json.loads(invoke(home, "list", "--json", "--folder", str(music / "orin" / "depths"))[1])  # …or path
    assert [i["title"] for i in by_name] == [i["title"] for i in by_path] == ["Dungeon Theme", "Cave"]
    code, _, err = invoke(home, "list", "--folder", "nowhere")
    assert code == 1 and "no folder" in err


def test_every_command_says_to_scan_first_before_any_scan(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "list.m3u").write_text("#EXTM3U\n/m/a.ogg\n")
    for args in (["recommend"], ["recommend", "--json"], ["like", "x"], ["skip", "a", "b"], ["explain", "x"],
                 ["similar", "x"], ["search", "x"], ["list"], ["train"], ["forget", "x"], ["history"],
                 ["ban", "--artist", "x"], ["import", str(tmp_path / "list.m3u")]):
        code, out, err = invoke(home, *args)
        assert code == 1 and "run `prefrec scan" in err, (args, code, err)
    code, out, err = invoke(home, "status")
    assert code == 0 and "run `prefrec scan" in err


def _on_a_terminal(home, args, answers, tmp_path):
    """Run prefrec ARGS with stdin, stdout and stderr on a pseudo-terminal, type the next of
    `answers` each time it asks which track, and return (exit code, everything it wrote)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "TERM": "dumb"}
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "prefrec", "--home", str(home), *args],
                            stdin=child, stdout=child, stderr=child, env=env, cwd=tmp_path)
    os.close(child)
    asked = [0]

    def respond(seen):
        if seen.count(b"which one?") > asked[0] and answers:
            asked[0] += 1
            return answers.pop(0).encode() + b"\r"
        return None

    try:
        seen = read_terminal(main, respond=respond)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.wait(timeout=30), seen.decode(errors="replace")


def test_on_a_terminal_an_ambiguous_name_lets_the_listener_pick(lib, tmp_path):
    home, _ = lib
    code, shown = _on_a_terminal(home, ["like", "town"], ["2"], tmp_path)
    assert code == 0, shown
    assert "1. Kai – Town (3:00)" in shown and "2. Kai – Town Theme" in shown and "liked: Kai – Town Theme" in shown
    assert rated(home) == [("like", "02 town theme.ogg")]
    code, shown = _on_a_terminal(home, ["skip", "theme"], [""], tmp_path)  # Enter: cancel
    assert code == 2 and "nothing chosen" in shown
    code, shown = _on_a_terminal(home, ["skip", "theme"], ["7", ""], tmp_path)  # out of range, then cancel
    assert "give a number from 1 to 3" in shown and code == 2
    assert rated(home) == [("like", "02 town theme.ogg")]


def test_whole_word_search_goes_through_the_index_not_through_every_track(tmp_path):
    # What keeps naming a track fast on a large library is the query plan, not this machine's speed:
    # every query `find` and `suggest` run reaches tracks through the full-text index or by primary
    # key, never by reading the whole tracks table (bench/latency.py measures the time).
    from prefrec.service.names import find, suggest
    from prefrec.store import Store

    words = ["blue", "night", "river", "glass", "paper", "storm", "quiet", "golden", "falling", "electric"]
    titles = [f"{words[i % 10].title()} {words[(i // 10) % 10]} {i}" for i in range(3000)]
    with Store(tmp_path / "db.sqlite") as store:
        store.record_analysed([
            {"path": f"/m/{i // 10}/{i:06d}.ogg", "identity": f"a2-{i:032x}", "feature_version": 2,
             "title": title, "artist": f"Artist {i // 100}", "album": f"Album {i // 10}", "duration_s": 200.0,
             "n_frames": 10000, "truncated": 0, "size": 0, "mtime_ns": 0, "note": ""}
            for i, title in enumerate(titles)])
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        assert [t.title for t in find(store, "paper storm 2345")] == ["Storm paper 2345"]
        assert len(find(store, "storm")) == sum("storm" in t.lower().split() for t in titles) == 570
        assert "Artist 23 – Storm paper 2345" in suggest(store, "papr storm 2345")
        store.conn.set_trace_callback(None)
        plans = [[row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]
                 for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    lines = [line for plan in plans for line in plan]
    assert any("VIRTUAL TABLE INDEX 0:M" in line for line in lines)  # the full-text MATCH is used
    whole_table = [line for line in lines if line.split()[:2] in (["SCAN", "t"], ["SCAN", "tracks"])]
    assert not whole_table, whole_table
