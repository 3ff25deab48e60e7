"""`prefrec import` end to end on a scanned library: dry run, import, repeat, changed sources,
`forget --source`, sources in `history` and `status`, MusicBrainz ids, and errors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from import_fixtures import file_url, listen, write_beets, write_itunes, write_listenbrainz_zip
from tests.helpers import cli, cli_json

MBID_1 = "11111111-2222-4333-8444-555555555555"
MBID_2 = "66666666-7777-4888-9999-aaaaaaaaaaaa"


def status(home: Path) -> dict:
    return cli_json(home, "status", "--json")


def imported(home: Path, *args: str) -> dict:
    return cli_json(home, "import", *args, "--json")


def write_playlist(path: Path, tracks) -> Path:
    """One entry of each kind: absolute, file:// URL, relative, another machine's path, a renamed
    file known by its tags, and music that is not in the library."""
    t = tracks
    rel = os.path.relpath(t[2].path, path.parent)
    path.write_text(
        "#EXTM3U\n"
        f"{t[0].path}\n"
        f"{file_url(t[1].path)}\n"
        f"{rel}\n"
        f"/home/olduser/Musik/{t[3].artist}/{t[3].album}/{t[3].path.name}\n"
        f"#EXTINF:{t[4].seconds:.0f},{t[4].artist} - {t[4].title}\n"
        "/media/usb/renamed by hand.flac\n"
        "#EXTINF:200,Nobody - Nothing Like It\n"
        "/media/usb/gone.flac\n", encoding="utf-8")
    return path


def test_playlist_dry_run_import_repeat_skip_and_forget_the_source(library, tmp_path):
    music, home, tracks = library
    playlist = write_playlist(tmp_path / "Road Trip.m3u8", tracks)

    report = imported(home, str(playlist), "--dry-run")
    assert report["source"] == "import:m3u:Road Trip.m3u8" and report["dry_run"] is True
    hows = [e["how"] for e in report["entries"]]
    assert hows == ["path", "path", "path", "relative", "tags", None]
    assert [e["track"]["path"] for e in report["entries"][:5]] == [str(t.path) for t in tracks[:5]]
    assert report["entries"][3]["detail"] == "last 3 path parts"
    gone = report["entries"][5]
    assert gone["track"] is None and gone["adds"] == {"opinion": None, "plays": 0, "skips": 0}
    assert report["summary"]["added"]["likes"] == 5 and report["summary"]["matched_by"]["tags"] == 1
    assert status(home)["feedback"] == 0  # a dry run writes nothing

    first = imported(home, str(playlist))
    assert len(first["summary"]["feedback_ids"]) == 5
    info = status(home)
    assert (info["feedback"], info["likes"], info["skips"]) == (5, 5, 0)
    assert info["sources"] == [{"source": "import:m3u:Road Trip.m3u8", "rows": 5, "live_rows": 5,
                                "last_at": info["sources"][0]["last_at"]}]
    events = cli_json(home, "history", "--source", "m3u:Road Trip.m3u8", "--json")
    assert sorted(e["path"] for e in events) == sorted(str(t.path) for t in tracks[:5])
    assert {(e["kind"], e["source"]) for e in events} == {("like", "import:m3u:Road Trip.m3u8")}
    assert cli_json(home, "history", "--source", "cli", "--json") == []

    again = imported(home, str(playlist))
    assert again["summary"]["added"] == {"likes": 0, "skips": 0, "counted_tracks": 0, "plays": 0, "skipped": 0}
    assert again["summary"]["unchanged"] == 5 and again["summary"]["feedback_ids"] == []
    assert status(home)["feedback"] == 5

    as_skip = imported(home, str(playlist), "--as", "skip")
    assert as_skip["summary"]["added"]["skips"] == 5
    assert (status(home)["likes"], status(home)["skips"]) == (0, 5)  # the latest act wins

    forgot = cli(home, "forget", "--source", "m3u:Road Trip.m3u8")
    assert "forgot everything import:m3u:Road Trip.m3u8 gave (10 rows" in forgot.stderr
    info = status(home)
    assert (info["feedback"], info["likes"], info["skips"]) == (11, 0, 0)  # nothing deleted
    assert info["sources"][0]["live_rows"] == 0
    text = cli(home, "history", "-n", "3").stdout
    assert "forgot everything from import:m3u:Road Trip.m3u8" in text and "(withdrawn)" in text
    assert "import:m3u:Road Trip.m3u8 10 (10 withdrawn)" in cli(home, "status").stdout

    # After forgetting a source, importing it is a fresh start.
    assert imported(home, str(playlist))["summary"]["added"]["likes"] == 5
    assert status(home)["likes"] == 5


def test_dry_run_text_report_shows_how_each_entry_matched(library, tmp_path):
    music, home, tracks = library
    playlist = write_playlist(tmp_path / "trip.m3u", tracks)
    proc = cli(home, "import", str(playlist), "--dry-run")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("path      ") and lines[1].strip() == f"-> {tracks[0].path}: like (in the playlist)"
    assert any(line.startswith("relative  ") for line in lines)
    assert any(line.startswith("tags      ") for line in lines)
    assert "not found Nobody – Nothing Like It  (/media/usb/gone.flac)" in proc.stdout
    assert "import:m3u:trip.m3u" in proc.stderr and "5 found in the library (path 3, relative 1, tags 1), 1 not found" \
        in proc.stderr
    assert "would add 5 likes and 0 skips" in proc.stderr and "dry run: nothing was written" in proc.stderr


def test_itunes_counts_are_imported_as_their_difference(library, tmp_path):
    music, home, tracks = library
    a, b, c = tracks[5], tracks[6], tracks[7]

    def library_xml(a_plays: int, b_rating: int) -> Path:
        return write_itunes(tmp_path / "Library.xml", [
            {"Name": a.title, "Artist": a.artist, "Location": file_url(a.path), "Loved": True,
             "Play Count": a_plays, "Skip Count": 1, "Total Time": int(a.seconds * 1000)},
            {"Name": b.title, "Artist": b.artist, "Location": file_url(b.path), "Rating": b_rating, "Skip Count": 5},
            {"Name": c.title, "Artist": c.artist, "Location": file_url(c.path), "Rating": 60, "Play Count": 3},
            {"Name": "Not Here", "Artist": "Nobody", "Location": "file:///Users/me/Music/x.mp3", "Play Count": 9},
        ], music_folder=file_url(f"{music}/"))

    first = imported(home, str(library_xml(10, 40)))
    assert first["summary"]["added"] == {"likes": 1, "skips": 1, "counted_tracks": 3, "plays": 13, "skipped": 6}
    says = {e["title"]: e["says"] for e in first["entries"]}
    assert says[c.title]["opinion"] is None and says[c.title]["why"] == "rating 60/100 (neither)"
    info = status(home)
    assert (info["likes"], info["skips"]) == (1, 1)
    counts = {e["path"]: e["detail"] for e in cli_json(home, "history", "--json") if e["kind"] == "counts"}
    assert counts == {str(a.path): {"plays": 10, "skips": 1}, str(b.path): {"plays": 0, "skips": 5},
                      str(c.path): {"plays": 3, "skips": 0}}

    # Two more plays of A, B rated five stars: only that is added.
    second = imported(home, str(library_xml(12, 100)))
    assert second["summary"]["added"] == {"likes": 1, "skips": 0, "counted_tracks": 1, "plays": 2, "skipped": 0}
    adds = {e["title"]: e["adds"] for e in second["entries"] if e["track"]}
    assert adds == {a.title: {"opinion": None, "plays": 2, "skips": 0},
                    b.title: {"opinion": "like", "plays": 0, "skips": 0},
                    c.title: {"opinion": None, "plays": 0, "skips": 0}}
    assert (status(home)["likes"], status(home)["skips"]) == (2, 0)

    # What the listener took back stays taken back when the same source is imported again.
    cli(home, "forget", str(a.path))
    third = imported(home, str(library_xml(12, 100)))
    assert third["summary"]["feedback_ids"] == []
    assert status(home)["likes"] == 1


def test_listenbrainz_listens_and_loves_by_artist_and_title(library, tmp_path):
    music, home, tracks = library
    a, b = tracks[8], tracks[9]
    msid_a, msid_b = "a1a1a1a1-0000-4000-8000-00000000000a", "b2b2b2b2-0000-4000-8000-00000000000b"
    export = write_listenbrainz_zip(tmp_path / "listenbrainz_me.zip", [
        listen(a.artist, a.title, 1704067200, msid=msid_a, duration_ms=int(a.seconds * 1000)),
        listen(a.artist, a.title, 1704070000, msid=msid_a),
        listen(b.artist.upper(), b.title, 1704080000, msid=msid_b),
    ], [{"recording_msid": msid_b, "recording_mbid": None, "score": -1, "created": 1704090000}])
    report = imported(home, str(export))
    by_title = {e["title"]: e for e in report["entries"]}
    assert by_title[a.title]["how"] == "tags" and by_title[a.title]["adds"] == {"opinion": None, "plays": 2, "skips": 0}
    assert by_title[b.title]["adds"]["opinion"] == "skip"
    history = cli_json(home, "history", "--json")
    assert {(e["kind"], e["source"]) for e in history} == {("counts", "import:listenbrainz"),
                                                           ("skip", "import:listenbrainz")}
    counts = next(e for e in history if e["kind"] == "counts" and e["path"] == str(a.path))
    assert counts["time"] == 1704070000  # when it was last played


def test_musicbrainz_ids_read_from_tags_match_a_beets_library(tmp_path):
    from mutagen.flac import FLAC

    from prefrec.synth import write_library

    music, home = tmp_path / "music", tmp_path / "home"
    one, two = write_library(music, ["pads"], 2, seed=4, min_s=9, max_s=10)
    for track, mbid in ((one, MBID_1), (two, MBID_2)):
        tags = FLAC(track.path)
        tags["musicbrainz_trackid"] = mbid.upper()
        tags.save()
    cli(home, "scan", "--no-train", str(music))
    db = home / "prefrec.sqlite"
    assert dict(sqlite3.connect(db).execute("SELECT path, mbid FROM tracks").fetchall()) == {
        str(one.path): MBID_1, str(two.path): MBID_2}
    # A beets library on another machine, other titles: only the MusicBrainz ids can tell.
    (tmp_path / "beets").mkdir()
    beets = write_beets(tmp_path / "beets" / "library.db", [
        {"path": "/nas/music/A/x.flac", "title": "Completely Different", "artist": "Someone", "mb_trackid": MBID_1,
         "stats": {"rating": 0.95, "play_count": 20}},
        {"path": "/nas/music/B/y.flac", "title": "Also Different", "artist": "Someone", "mb_trackid": MBID_2,
         "stats": {"rating": 0.5, "skip_count": 2}},
    ], music_dir=tmp_path / "nowhere", relative=False)
    # A database from before prefrec read MusicBrainz ids: the import reads them once.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tracks SET mbid = NULL")
    dry = imported(home, str(beets), "--dry-run")
    assert [(e["how"], e["track"]["path"]) for e in dry["entries"]] == [("mbid", str(one.path)), ("mbid", str(two.path))]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM tracks WHERE mbid IS NULL").fetchone()[0] == 2
    report = imported(home, str(beets))
    assert report["summary"]["added"] == {"likes": 1, "skips": 0, "counted_tracks": 2, "plays": 20, "skipped": 2}
    assert sqlite3.connect(db).execute("SELECT count(*) FROM tracks WHERE mbid IS NULL").fetchone()[0] == 0


def test_import_errors_are_one_line_with_what_to_do(library, tmp_path):
    music, home, tracks = library
    odd = tmp_path / "notes.txt"
    odd.write_text("just some words, not a playlist\n")
    proc = cli(home, "import", str(odd), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"prefrec: {odd}: not a format prefrec understands. prefrec imports: M3U/M3U8")
    assert len(proc.stderr.strip().splitlines()) == 1
    xml = write_itunes(tmp_path / "Library.xml", [{"Name": "A"}], music_folder="file:///m/")
    proc = cli(home, "import", str(xml), "--as", "skip", check=False)
    assert proc.returncode == 2 and "--as goes with playlists; a itunes source carries its own ratings" in proc.stderr
    proc = cli(home, "import", str(tmp_path / "missing.m3u"), check=False)
    assert proc.returncode == 1 and "no such file or folder" in proc.stderr
    proc = cli(home, "forget", str(tracks[0].path), "--source", "itunes", check=False)
    assert proc.returncode == 2 and "name a TRACK or --source NAME" in proc.stderr
    proc = cli(home, "forget", "--source", "itunes", check=False)
    assert proc.returncode == 1 and "no import named 'itunes' to forget (imports that still count: none)" in proc.stderr
    assert status(home)["feedback"] == 0
    assert cli_json(home, "history", "--json") == []
