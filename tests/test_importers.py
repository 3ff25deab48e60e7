"""Readers of every import format, on sources written in each program's real format and schema,
format detection by content, and read-only access to databases a running player holds."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from import_fixtures import (
    file_url,
    listen,
    write_beets,
    write_clementine,
    write_itunes,
    write_listenbrainz_zip,
    write_strawberry,
)
from prefrec.importers import FORMATS, ImportSourceError, detect, read_source

MBID_A = "0b1f7d7e-2a57-4c1b-9a0e-6b1f3e6c1a01"
MBID_B = "5c8d0f1e-3b6a-4d2c-8e1f-7a2b4c6d8e02"
MSID_A = "a1a1a1a1-0000-4000-8000-00000000000a"
MSID_B = "b2b2b2b2-0000-4000-8000-00000000000b"
MSID_C = "c3c3c3c3-0000-4000-8000-00000000000c"


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file in `folder`: (size, mtime_ns, bytes) — to prove a read changed nothing."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


# -- M3U -------------------------------------------------------------------------------------------

def test_m3u_reads_relative_absolute_file_url_and_windows_entries(tmp_path):
    music = tmp_path / "Music"
    (music / "Ünïcode Artist").mkdir(parents=True)
    lists = tmp_path / "lists"
    lists.mkdir()
    playlist = lists / "party mix.m3u8"
    playlist.write_text(
        "#EXTM3U\n"
        "#EXTINF:215,Glass Choir - Pads Study 1\n"
        "../Music/Glass Choir/pads 1.flac\n"
        "\n"
        f"{music}/abs one.flac\n"
        "#EXTINF:-1,Only A Title\n"
        f"{file_url(music / 'Ünïcode Artist' / 'a b#1.flac')}\n"
        "..\\Music\\Windows Folder\\song.mp3\n"
        "C:\\Users\\me\\Music\\Far Away\\track 7.mp3\n"
        "#EXTALB:Live at Home\n"
        "#EXTART:Some Band\n"
        "#EXTINF:100,Tune\n"
        "http://radio.example/stream.mp3\n"
        f"{music}/abs one.flac\n"
        "# a comment\n", encoding="utf-8")
    source = read_source(playlist)
    assert source.format == "m3u" and source.name == "m3u:party mix.m3u8"
    by_loc = {e.location: e for e in source.entries}
    assert len(source.entries) == 5, [e.location for e in source.entries]  # the repeat is one entry
    rel = by_loc["../Music/Glass Choir/pads 1.flac"]
    assert rel.path == f"{music}/Glass Choir/pads 1.flac".replace(os.sep, "/")
    assert (rel.artist, rel.title, rel.duration_s) == ("Glass Choir", "Pads Study 1", 215.0)
    assert by_loc[f"{music}/abs one.flac"].title is None  # EXTINF belongs to the next entry only
    url_entry = by_loc[file_url(music / "Ünïcode Artist" / "a b#1.flac")]
    assert url_entry.path == f"{music}/Ünïcode Artist/a b#1.flac"
    assert (url_entry.title, url_entry.duration_s, url_entry.artist) == ("Only A Title", None, None)
    win = by_loc["..\\Music\\Windows Folder\\song.mp3"]
    assert win.path == f"{music}/Windows Folder/song.mp3"
    far = by_loc["C:\\Users\\me\\Music\\Far Away\\track 7.mp3"]
    assert far.path == "C:/Users/me/Music/Far Away/track 7.mp3" and far.relpath is None
    assert source.passed_over == [("http://radio.example/stream.mp3", "not a local file (a stream or another kind of URL)")]
    assert source.notes == []


def test_m3u_in_windows_1252_is_decoded_and_says_so(tmp_path):
    playlist = tmp_path / "old.m3u"
    playlist.write_bytes("#EXTM3U\r\n#EXTINF:61,Beyoncé - Déjà Vu\r\nMúsica\\Café del Mar.mp3\r\n".encode("cp1252"))
    source = read_source(playlist)
    [entry] = source.entries
    assert (entry.artist, entry.title) == ("Beyoncé", "Déjà Vu")
    assert entry.path == f"{tmp_path}/Música/Café del Mar.mp3"
    assert source.notes == ["old.m3u is not UTF-8; read as cp1252"]


def test_m3u_entry_naming_a_legacy_encoded_file_is_taken_as_its_bytes(tmp_path):
    legacy_name = b"caf\xe9 cr\xe8me.ogg"  # a Latin-1 file name, as old systems wrote them
    target = os.path.join(os.fsencode(str(tmp_path)), legacy_name)
    with open(target, "wb") as handle:
        handle.write(b"OggS")
    playlist = tmp_path / "legacy.m3u"
    playlist.write_bytes(b"#EXTM3U\n" + legacy_name + b"\n")
    [entry] = read_source(playlist).entries
    assert entry.path == os.fsdecode(target)
    assert os.path.exists(entry.path)


@pytest.mark.parametrize("bom, encoding", [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le")])
def test_m3u_with_a_byte_order_mark(tmp_path, bom, encoding):
    playlist = tmp_path / "bom.m3u"
    playlist.write_bytes(bom + "#EXTM3U\n#EXTINF:10,Ærø - Ölê\n/music/ærø.flac\n".encode(encoding))
    [entry] = read_source(playlist).entries
    assert (entry.artist, entry.title, entry.path) == ("Ærø", "Ölê", "/music/ærø.flac")


def test_m3u_without_header_is_recognised_by_its_lines(tmp_path):
    playlist = tmp_path / "plain.m3u"
    playlist.write_text("a/b.flac\nc/d.mp3\n")
    assert detect(playlist) == "m3u"
    assert [e.relpath for e in read_source(playlist).entries] == ["a/b.flac", "c/d.mp3"]


# -- iTunes ----------------------------------------------------------------------------------------

def test_itunes_library_maps_every_key(tmp_path):
    folder = "file:///Users/me/Music/iTunes/iTunes%20Media/"
    xml = write_itunes(tmp_path / "Library.xml", [
        {"Name": "Tessellate", "Artist": "alt-J", "Album": "An Awesome Wave", "Total Time": 182674,
         "Play Count": 31, "Skip Count": 3, "Play Date UTC": __import__("datetime").datetime(2015, 5, 4, 12, 20, 51),
         "Rating": 80, "Album Rating": 80, "Album Rating Computed": True,
         "Location": "file:///Users/me/Music/iTunes/iTunes%20Media/Music/alt-J/An%20Awesome%20Wave/03%20Tessellate.mp3"},
        {"Name": "Computed", "Artist": "X", "Rating": 60, "Rating Computed": True, "Disliked": True,
         "Location": "file:///Volumes/Other/X/computed.m4a"},
        {"Name": "Favourite", "Artist": "Y", "Favorited": True, "Total Time": 200000},
        {"Name": "Ripe & Ruin", "Artist": "alt-J", "Loved": True, "Rating": 20,
         "Location": "file://localhost/G:/Music/Alt-J/02%20%E2%9D%A6%20(Ripe%20&%20Ruin).mp3"},
        {"Name": "A Podcast", "Podcast": True, "Location": "file:///Users/me/Podcasts/ep1.mp3"},
        {"Name": "Clip", "Has Video": True, "Location": "file:///Users/me/Movies/clip.m4v"},
        {"Name": "Radio", "Location": "http://radio.example/stream", "Track Type": "URL"},
    ], music_folder=folder)
    assert detect(xml) == "itunes"
    source = read_source(xml)
    assert source.music_roots == ["/Users/me/Music/iTunes/iTunes Media"]
    entries = {e.title: e for e in source.entries}
    assert set(entries) == {"Tessellate", "Computed", "Favourite", "Ripe & Ruin"}
    t = entries["Tessellate"]
    assert t.path == "/Users/me/Music/iTunes/iTunes Media/Music/alt-J/An Awesome Wave/03 Tessellate.mp3"
    assert t.relpath == "Music/alt-J/An Awesome Wave/03 Tessellate.mp3"
    assert (t.rating, t.rating_max, t.plays, t.skips, t.loved) == (80.0, 100.0, 31, 3, None)
    assert t.duration_s == pytest.approx(182.674)
    assert t.last_played == 1430742051.0
    assert t.key == "00000000000003E9"  # the Persistent ID
    c = entries["Computed"]
    assert (c.rating, c.loved, c.relpath) == (None, False, None)  # the album's rating is not the track's
    assert entries["Favourite"].loved is True and entries["Favourite"].path is None
    ripe = entries["Ripe & Ruin"]
    assert ripe.path == "G:/Music/Alt-J/02 ❦ (Ripe & Ruin).mp3" and ripe.loved is True
    assert sorted(why for _, why in source.passed_over) == [
        "a stream URL, not a file", "not music (has video)", "not music (podcast)"]


def test_itunes_detected_by_content_whatever_its_name(tmp_path):
    xml = write_itunes(tmp_path / "export.txt", [{"Name": "A", "Artist": "B"}], music_folder="file:///m/")
    assert detect(xml) == "itunes"


def test_a_broken_itunes_file_names_the_file(tmp_path):
    xml = write_itunes(tmp_path / "Library.xml", [{"Name": "A"}], music_folder="file:///m/")
    xml.write_bytes(xml.read_bytes()[:300])
    with pytest.raises(ImportSourceError, match="Library.xml.*Export Library"):
        read_source(xml)


# -- Strawberry and Clementine ---------------------------------------------------------------------

def strawberry_songs(music: Path) -> list[dict]:
    return [
        {"path": music / "Glass Choir" / "Pads Study 1.flac", "title": "Pads Study 1", "artist": "Glass Choir",
         "album": "Pads Sessions", "length_s": 41.5, "rating": 0.8, "playcount": 12, "skipcount": 1,
         "lastplayed": 1731000000, "musicbrainz_recording_id": MBID_A.upper()},
        {"path": music / "Drum Unit" / "Beat ñ 3.flac", "title": "Beat 3", "artist": "Drum Unit",
         "length_s": 20.0, "rating": 0.4, "playcount": 0, "skipcount": 7},
        {"path": music / "Other" / "x.flac", "title": "Unrated", "artist": "Other", "rating": -1, "playcount": 2},
        {"url": "http://radio.example/live", "title": "Live radio", "artist": "Radio", "source": 7},
    ]


def test_strawberry_database_maps_its_columns(tmp_path):
    music = tmp_path / "Music"
    db = write_strawberry(tmp_path / "strawberry.db", strawberry_songs(music), directories=[str(music)])
    assert detect(db) == "strawberry"
    source = read_source(db)
    assert source.format == "strawberry" and source.music_roots == [str(music)]
    entries = {e.title: e for e in source.entries}
    assert set(entries) == {"Pads Study 1", "Beat 3", "Unrated"}
    pads = entries["Pads Study 1"]
    assert pads.path == f"{music}/Glass Choir/Pads Study 1.flac" and pads.relpath == "Glass Choir/Pads Study 1.flac"
    assert pads.rating == pytest.approx(0.8) and pads.rating_max == 1.0
    assert (pads.plays, pads.skips, pads.last_played, pads.mbid) == (12, 1, 1731000000.0, MBID_A)
    assert pads.duration_s == pytest.approx(41.5)
    assert pads.key == file_url(music / "Glass Choir" / "Pads Study 1.flac")
    beat = entries["Beat 3"]
    assert beat.path.endswith("Drum Unit/Beat ñ 3.flac") and beat.rating == pytest.approx(0.4) and beat.skips == 7
    assert entries["Unrated"].rating is None and entries["Unrated"].last_played is None
    assert source.passed_over == [("http://radio.example/live", "not a local file (a stream or a device)")]


def test_clementine_database_built_by_its_migrations(tmp_path):
    music = tmp_path / "Music"
    songs = [{k: v for k, v in s.items() if k != "musicbrainz_recording_id"} for s in strawberry_songs(music)[:3]]
    songs[0]["filename"] = file_url(songs[0].pop("path"))
    db = write_clementine(tmp_path / "clementine.db", songs, directories=[str(music)])
    assert detect(db) == "clementine"
    source = read_source(db)
    assert source.name == "clementine"
    entries = {e.title: e for e in source.entries}
    assert entries["Pads Study 1"].relpath == "Glass Choir/Pads Study 1.flac"
    assert entries["Pads Study 1"].plays == 12 and entries["Pads Study 1"].mbid is None
    assert entries["Beat 3"].skips == 7 and entries["Unrated"].rating is None
    with pytest.raises(ImportSourceError, match="not a Strawberry database"):
        read_source(db, format="strawberry")


# -- beets -----------------------------------------------------------------------------------------

def beets_items(music: Path) -> list[dict]:
    return [
        {"path": str(music / "Glass Choir" / "Pads 1.flac"), "title": "Pads Study 1", "artist": "Glass Choir",
         "album": "Pads Sessions", "length": 41.5, "mb_trackid": MBID_A,
         "stats": {"rating": 0.93, "play_count": 14, "skip_count": 0, "last_played": 1731000000.25}},
        {"path": str(music / "Drum Unit" / "Beat 3.flac"), "title": "Beat 3", "artist": "Drum Unit", "length": 20.0,
         "stats": {"rating": 0.08, "play_count": 0, "skip_count": 6}},
        {"path": str(music / "Quiet" / "never played.flac"), "title": "Never Played", "artist": "Quiet"},
    ]


def test_beets_library_written_by_beets_relative_paths(tmp_path):
    music = tmp_path / "Music"
    config = tmp_path / "beets"
    config.mkdir()
    (config / "config.yaml").write_text(f"plugins: mpdstats\ndirectory: {music}\nimport:\n  directory: /elsewhere\n")
    db = write_beets(config / "library.db", beets_items(music), music_dir=music, relative=True)
    raw = sqlite3.connect(db).execute("SELECT path FROM items ORDER BY id").fetchall()
    assert raw[0][0] == b"Glass Choir/Pads 1.flac"  # beets >= 2.10 stores paths relative to its directory
    assert detect(db) == "beets"
    source = read_source(db)
    assert source.music_roots == [str(music)]
    first, second, third = source.entries
    assert (first.relpath, first.path) == ("Glass Choir/Pads 1.flac", f"{music}/Glass Choir/Pads 1.flac")
    assert (first.mbid, first.rating, first.rating_max, first.plays, first.skips) == (MBID_A, 0.93, 1.0, 14, 0)
    assert first.last_played == 1731000000.25 and first.duration_s == 41.5
    assert (second.rating, second.plays, second.skips) == (0.08, 0, 6)
    assert (third.rating, third.plays, third.skips) == (None, None, None)
    assert [e.key for e in source.entries] == ["item:1", "item:2", "item:3"]


def test_beets_library_with_absolute_paths_and_no_config(tmp_path):
    music = tmp_path / "Music"
    db = write_beets(tmp_path / "library.db", beets_items(music), music_dir=music, relative=False)
    source = read_source(db)
    assert source.music_roots == []
    assert source.entries[0].path == f"{music}/Glass Choir/Pads 1.flac"
    # Without its music directory a relative path stays relative: the matcher tries library roots.
    (tmp_path / "rel").mkdir()
    rel_db = write_beets(tmp_path / "rel" / "library.db", beets_items(music), music_dir=music, relative=True)
    rel_source = read_source(rel_db)
    assert (rel_source.entries[0].path, rel_source.entries[0].relpath) == (None, "Glass Choir/Pads 1.flac")
    assert read_source(rel_db, music_dir="/mnt/music").entries[0].path == "/mnt/music/Glass Choir/Pads 1.flac"


# -- ListenBrainz ----------------------------------------------------------------------------------

def listenbrainz_data() -> tuple[list[dict], list[dict]]:
    listens = [
        listen("Glass Choir", "Pads Study 1", 1704067200, msid=MSID_A, release="Pads Sessions", duration_ms=41500),
        listen("Glass Choir", "Pads Study 1", 1706745600, msid=MSID_A, mapped_mbid=MBID_A),
        listen("Glass Choir", "Pads Study 1", 1709251200.5, msid=MSID_A),
        listen("Drum Unit", "Beat 3", 1706745700, msid=MSID_B, mbid=MBID_B),
    ]
    feedback = [
        {"recording_msid": MSID_A, "recording_mbid": None, "score": 1, "created": 1709300000},
        {"recording_msid": None, "recording_mbid": MBID_B, "score": -1, "created": 1709300001},
        {"recording_msid": MSID_C, "recording_mbid": "d4d4d4d4-0000-4000-8000-00000000000d", "score": -1,
         "created": 1709300002},
    ]
    return listens, feedback


def test_listenbrainz_export_zip(tmp_path):
    listens, feedback = listenbrainz_data()
    archive = write_listenbrainz_zip(tmp_path / "listenbrainz_listener_1709400000.zip", listens, feedback)
    assert detect(archive) == "listenbrainz"
    source = read_source(archive)
    entries = {e.key: e for e in source.entries}
    assert set(entries) == {f"msid:{MSID_A}", f"msid:{MSID_B}", f"msid:{MSID_C}"}
    pads = entries[f"msid:{MSID_A}"]
    assert (pads.artist, pads.title, pads.album, pads.plays, pads.skips) == (
        "Glass Choir", "Pads Study 1", "Pads Sessions", 3, 0)
    assert pads.mbid == MBID_A and pads.loved is True and pads.duration_s == 41.5
    assert pads.last_played == 1709251200.5
    beat = entries[f"msid:{MSID_B}"]
    assert (beat.plays, beat.loved, beat.mbid) == (1, False, MBID_B)  # feedback joined by MusicBrainz id
    never = entries[f"msid:{MSID_C}"]
    assert (never.plays, never.loved, never.title, never.mbid) == (0, False, None,
                                                                  "d4d4d4d4-0000-4000-8000-00000000000d")
    assert source.notes == ["4 listens of 2 recordings"]


def test_listenbrainz_unpacked_folder_single_files_and_old_array(tmp_path):
    listens, feedback = listenbrainz_data()
    archive = write_listenbrainz_zip(tmp_path / "export.zip", listens, feedback)
    import zipfile

    folder = tmp_path / "unpacked"
    zipfile.ZipFile(archive).extractall(folder)
    assert detect(folder) == "listenbrainz"
    assert sorted(e.key for e in read_source(folder).entries) == sorted(e.key for e in read_source(archive).entries)
    only_feedback = folder / "feedback.jsonl"
    assert detect(only_feedback) == "listenbrainz"
    assert {e.loved for e in read_source(only_feedback).entries} == {True, False}
    old = tmp_path / "listens.json"
    import json

    old.write_text(json.dumps(listens, indent=2))
    assert detect(old) == "listenbrainz"
    assert {e.key: e.plays for e in read_source(old).entries} == {f"msid:{MSID_A}": 3, f"msid:{MSID_B}": 1}


def test_listenbrainz_truncated_line_is_reported(tmp_path):
    path = tmp_path / "3.jsonl"
    good = '{"listened_at": 1, "track_metadata": {"artist_name": "A", "track_name": "B"}}\n'
    path.write_text(good + good[:30] + "\n")
    with pytest.raises(ImportSourceError, match="3.jsonl line 2 is not JSON"):
        read_source(path)


# -- unknown and unreadable sources ---------------------------------------------------------------

def test_unknown_sources_say_what_is_understood(tmp_path):
    png = tmp_path / "cover.m3u"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    other_db = tmp_path / "other.db"
    sqlite3.connect(other_db).executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    for source, why in ((png, "not a format prefrec understands"), (other_db, "of no program prefrec knows"),
                        (empty, "the file is empty"), (tmp_path / "missing.xml", "no such file"),
                        (tmp_path, "not an unpacked ListenBrainz export")):
        with pytest.raises(ImportSourceError) as info:
            read_source(source)
        message = str(info.value)
        assert why in message and str(source) in message
        assert all(description in message for description in FORMATS.values()), message
        assert "\n" not in message


# -- read-only access ------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE songs SET playcount = 999")
conn.execute("INSERT INTO songs (url, title, artist) VALUES ('file:///uncommitted.flac', 'Uncommitted', 'X')")
print("locked", flush=True)
sys.stdin.readline()
"""


def test_a_database_locked_by_a_running_player_is_read_through_a_copy(tmp_path):
    music = tmp_path / "Music"
    folder = tmp_path / "strawberry"
    folder.mkdir()
    db = write_strawberry(folder / "strawberry.db", strawberry_songs(music), directories=[str(music)])
    player = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert player.stdout.readline().strip() == "locked"
        before = snapshot(folder)
        assert "strawberry.db-journal" in before  # the player's hot journal
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2).execute("SELECT 1 FROM songs").fetchone()
        started = time.monotonic()
        source = read_source(db)
        assert time.monotonic() - started < 10
        assert snapshot(folder) == before  # nothing written, created or removed next to the player's files
    finally:
        player.stdin.write("\n")
        player.stdin.close()
        player.wait(timeout=10)
    assert any(note.startswith("read from a copy of strawberry.db: database is locked") for note in source.notes)
    # The copy was rolled back to the last commit: the player's unfinished write is not seen.
    assert {e.title: e.plays for e in source.entries} == {"Pads Study 1": 12, "Beat 3": 0, "Unrated": 2}


def test_a_cleanly_closed_wal_database_is_read_without_leaving_files(tmp_path):
    music = tmp_path / "Music"
    folder = tmp_path / "db"
    folder.mkdir()
    db = write_strawberry(folder / "strawberry.db", strawberry_songs(music), directories=[str(music)], wal=True)
    before = snapshot(folder)
    assert list(before) == ["strawberry.db"]
    assert detect(db) == "strawberry"
    assert len(read_source(db).entries) == 3
    assert snapshot(folder) == before  # no -wal or -shm left behind


def test_a_wal_database_being_written_is_read_in_place(tmp_path):
    music = tmp_path / "Music"
    db = write_strawberry(tmp_path / "strawberry.db", strawberry_songs(music), directories=[str(music)], wal=True)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE songs SET playcount = 999")
    try:
        source = read_source(db)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert source.notes == []
    assert {e.title: e.plays for e in source.entries} == {"Pads Study 1": 12, "Beat 3": 0, "Unrated": 2}


@pytest.mark.parametrize("fmt", ["beets", "clementine"])
def test_reading_a_database_leaves_its_folder_unchanged(tmp_path, fmt):
    music = tmp_path / "Music"
    folder = tmp_path / fmt
    folder.mkdir()
    if fmt == "beets":
        db = write_beets(folder / "library.db", beets_items(music), music_dir=music)
        for leftover in folder.glob("*.bak"):  # beets' own migration backups
            leftover.unlink()
    else:
        db = write_clementine(folder / "clementine.db", [{"path": music / "a.flac", "title": "A"}],
                              directories=[str(music)])
    os.chmod(db, 0o444)
    before = snapshot(folder)
    assert read_source(db).entries
    assert snapshot(folder) == before


def test_itunes_on_windows_music_folder_compared_ignoring_case(tmp_path):
    xml = write_itunes(tmp_path / "iTunes Music Library.xml", [
        {"Name": "Breezeblocks", "Artist": "alt-J", "Total Time": 227082,
         "Location": "file://localhost/C:/Users/ME/Music/iTunes/iTunes%20Media/Music/alt-J/04%20Breezeblocks.mp3"},
    ], music_folder="file://localhost/C:/Users/me/Music/iTunes/iTunes%20Media/")
    source = read_source(xml)
    assert source.music_roots == ["C:/Users/me/Music/iTunes/iTunes Media"]
    [entry] = source.entries
    assert entry.path == "C:/Users/ME/Music/iTunes/iTunes Media/Music/alt-J/04 Breezeblocks.mp3"
    assert entry.relpath == "Music/alt-J/04 Breezeblocks.mp3"


def test_listenbrainz_listens_without_ids_group_by_artist_and_title(tmp_path):
    import json

    path = tmp_path / "listens.jsonl"
    lines = [{"listened_at": 100 + i, "track_metadata": {"artist_name": artist, "track_name": title}}
             for i, (artist, title) in enumerate([("Glass Choir", "Pads"), ("glass choir", "PADS"), ("Other", "Pads")])]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    entries = {e.key: e for e in read_source(path).entries}
    assert {k: e.plays for k, e in entries.items()} == {"tags:glass choir\x1fpads": 2, "tags:other\x1fpads": 1}
    assert entries["tags:glass choir\x1fpads"].last_played == 101


def test_a_zip_that_is_not_a_listenbrainz_export_is_unknown(tmp_path):
    import zipfile

    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("img/1.jpg", b"\xff\xd8\xff")
    with pytest.raises(ImportSourceError, match="photos.zip: not a format prefrec understands"):
        detect(archive)


def test_format_can_be_forced_and_a_wrong_one_is_refused(tmp_path):
    music = tmp_path / "Music"
    db = write_strawberry(tmp_path / "collection.sqlite", strawberry_songs(music), directories=[str(music)])
    assert read_source(db, format="strawberry").format == "strawberry"
    with pytest.raises(ImportSourceError, match="not a beets library"):
        read_source(db, format="beets")
    with pytest.raises(ImportSourceError, match="unknown format 'winamp'; choose one of m3u, itunes"):
        read_source(db, format="winamp")
