"""Sources to import, written in each program's real format and schema.

- iTunes: a real property list (plistlib), with the keys and layout iTunes' "Export Library" writes.
- Strawberry: the `songs`/`directories`/`schema_version` tables of Strawberry's schema (version 23),
  values as Strawberry binds them (URL-encoded `url`, length in ns, rating float 0..1 or -1).
- Clementine: the `songs` table built as Clementine builds it, from its first schema plus the
  migrations that added columns to it (schema version 51), `filename` holding the encoded URL.
- beets: written by beets itself (the `beets` package), ratings and counts as flexible attributes
  the way its mpdstats plugin stores them.
- ListenBrainz: the zip its "Export" produces (user.json, listens/YEAR/MONTH.jsonl, feedback.jsonl).
- MPD: tests/test_import_mpd.py has a real `mpd` write its sticker database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import plistlib
import sqlite3
import zipfile
from pathlib import Path
from urllib.parse import quote


def file_url(path: str | Path, *, localhost: bool = False) -> str:
    """A file:// URL as Qt's QUrl::toEncoded and iTunes write it (UTF-8 percent-encoded)."""
    encoded = quote(os.fsencode(str(path)), safe="/!$&'()*+,;=:@~")
    return ("file://localhost" if localhost else "file://") + encoded


# -- iTunes ----------------------------------------------------------------------------------------

def write_itunes(path: Path, tracks: list[dict], *, music_folder: str) -> Path:
    """An iTunes Library.xml; `tracks` are dicts of iTunes keys ('Name', 'Location', 'Rating'...).

    'Track ID' and 'Persistent ID' are filled in when missing; music_folder is a file:// URL.
    """
    table = {}
    for number, track in enumerate(tracks, start=1001):
        track = {"Track ID": number, "Persistent ID": f"{number:016X}", "Kind": "MPEG audio file",
                 "Track Type": "File" if "Location" in track else "Remote", **track}
        table[str(track["Track ID"])] = track
    library = {
        "Major Version": 1, "Minor Version": 1,
        "Date": dt.datetime(2025, 11, 2, 9, 30, 0),
        "Application Version": "1.4.5.7",
        "Features": 5, "Show Content Ratings": True,
        "Music Folder": music_folder,
        "Library Persistent ID": "8C2B1A9F0E3D4C5B",
        "Tracks": table,
        "Playlists": [{"Name": "Library", "Master": True, "Playlist ID": 1,
                       "Playlist Items": [{"Track ID": t["Track ID"]} for t in table.values()]}],
    }
    with open(path, "wb") as handle:
        plistlib.dump(library, handle, fmt=plistlib.FMT_XML, sort_keys=False)
    return path


# -- Strawberry ------------------------------------------------------------------------------------

_STRAWBERRY_SONG_COLUMNS = """
  title TEXT, titlesort TEXT, album TEXT, albumsort TEXT, artist TEXT, artistsort TEXT,
  albumartist TEXT, albumartistsort TEXT, track INTEGER NOT NULL DEFAULT -1,
  disc INTEGER NOT NULL DEFAULT -1, year INTEGER NOT NULL DEFAULT -1,
  originalyear INTEGER NOT NULL DEFAULT -1, genre TEXT, compilation INTEGER NOT NULL DEFAULT 0,
  composer TEXT, composersort TEXT, performer TEXT, performersort TEXT, grouping TEXT, comment TEXT,
  lyrics TEXT, artist_id TEXT, album_id TEXT, song_id TEXT,
  beginning INTEGER NOT NULL DEFAULT 0, length INTEGER NOT NULL DEFAULT 0,
  bitrate INTEGER NOT NULL DEFAULT -1, samplerate INTEGER NOT NULL DEFAULT -1,
  bitdepth INTEGER NOT NULL DEFAULT -1, source INTEGER NOT NULL DEFAULT 0,
  directory_id INTEGER NOT NULL DEFAULT -1, url TEXT NOT NULL, filetype INTEGER NOT NULL DEFAULT 0,
  filesize INTEGER NOT NULL DEFAULT -1, mtime INTEGER NOT NULL DEFAULT -1,
  ctime INTEGER NOT NULL DEFAULT -1, unavailable INTEGER DEFAULT 0, fingerprint TEXT,
  playcount INTEGER NOT NULL DEFAULT 0, skipcount INTEGER NOT NULL DEFAULT 0,
  lastplayed INTEGER NOT NULL DEFAULT -1, lastseen INTEGER NOT NULL DEFAULT -1,
  compilation_detected INTEGER DEFAULT 0, compilation_on INTEGER NOT NULL DEFAULT 0,
  compilation_off INTEGER NOT NULL DEFAULT 0, compilation_effective INTEGER NOT NULL DEFAULT 0,
  art_embedded INTEGER DEFAULT 0, art_automatic TEXT, art_manual TEXT, art_unset INTEGER DEFAULT 0,
  effective_albumartist TEXT, effective_originalyear INTEGER NOT NULL DEFAULT 0, cue_path TEXT,
  rating INTEGER DEFAULT -1, acoustid_id TEXT, acoustid_fingerprint TEXT,
  musicbrainz_album_artist_id TEXT, musicbrainz_artist_id TEXT, musicbrainz_original_artist_id TEXT,
  musicbrainz_album_id TEXT, musicbrainz_original_album_id TEXT, musicbrainz_recording_id TEXT,
  musicbrainz_track_id TEXT, musicbrainz_disc_id TEXT, musicbrainz_release_group_id TEXT,
  musicbrainz_work_id TEXT, ebur128_integrated_loudness_lufs REAL, ebur128_loudness_range_lu REAL,
  bpm REAL, mood TEXT, initial_key TEXT
"""


def write_strawberry(path: Path, songs: list[dict], *, directories: list[str], wal: bool = False) -> Path:
    """A strawberry.db; `songs` are dicts of column values (url, title, artist, rating, ...).

    Lengths are given as `length_s` and stored in nanoseconds; `path` is turned into the `url`.
    """
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(f"""
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version (version) VALUES (23);
        CREATE TABLE directories (path TEXT NOT NULL, subdirs INTEGER NOT NULL);
        CREATE TABLE subdirectories (directory_id INTEGER NOT NULL, path TEXT NOT NULL, mtime INTEGER NOT NULL);
        CREATE TABLE songs ({_STRAWBERRY_SONG_COLUMNS});
        CREATE TABLE playlists (name TEXT NOT NULL, last_played INTEGER NOT NULL DEFAULT -1);
    """)
    conn.executemany("INSERT INTO directories (path, subdirs) VALUES (?, 1)", [(d,) for d in directories])
    for song in songs:
        row = _qt_song(song, url_column="url")
        row.setdefault("directory_id", 1)
        row.setdefault("source", 2)  # Song::Source::Collection
        conn.execute(f"INSERT INTO songs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     list(row.values()))
    conn.commit()
    conn.close()
    return path


def _qt_song(song: dict, *, url_column: str) -> dict:
    row = dict(song)
    if "path" in row:
        row[url_column] = file_url(row.pop("path"))
    if "length_s" in row:
        row["length"] = int(round(row.pop("length_s") * 1e9))
    if "rating" in row and row["rating"] is not None and row["rating"] >= 0:
        # Strawberry and Clementine keep ratings as C++ floats: 0.4 is stored as 0.4000000059604645.
        import struct

        row["rating"] = struct.unpack("f", struct.pack("f", row["rating"]))[0]
    return row


# -- Clementine ------------------------------------------------------------------------------------

_CLEMENTINE_FIRST_SCHEMA = """
CREATE TABLE directories (path TEXT NOT NULL, subdirs INTEGER NOT NULL);
CREATE TABLE songs (
  title TEXT, album TEXT, artist TEXT, albumartist TEXT, composer TEXT, track INTEGER, disc INTEGER,
  bpm REAL, year INTEGER, genre TEXT, comment TEXT, compilation INTEGER,
  length INTEGER, bitrate INTEGER, samplerate INTEGER,
  directory INTEGER NOT NULL, filename TEXT NOT NULL, mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,
  filesize INTEGER NOT NULL
);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (0);
"""
# The columns Clementine's migrations 1-50 added to `songs`, in order.
_CLEMENTINE_ADDED = [
    "sampler INTEGER NOT NULL DEFAULT 0", "art_automatic TEXT", "art_manual TEXT",
    "filetype INTEGER NOT NULL DEFAULT 0", "playcount INTEGER NOT NULL DEFAULT 0", "lastplayed INTEGER",
    "rating INTEGER", "forced_compilation_on INTEGER NOT NULL DEFAULT 0",
    "forced_compilation_off INTEGER NOT NULL DEFAULT 0", "effective_compilation NOT NULL DEFAULT 0",
    "skipcount INTEGER NOT NULL DEFAULT 0", "score INTEGER NOT NULL DEFAULT 0",
    "beginning INTEGER NOT NULL DEFAULT 0", "cue_path TEXT", "unavailable INTEGER DEFAULT 0",
    "effective_albumartist TEXT", "etag TEXT", "performer TEXT", "grouping TEXT", "lyrics TEXT",
    "originalyear INTEGER", "effective_originalyear INTEGER",
]


def write_clementine(path: Path, songs: list[dict], *, directories: list[str]) -> Path:
    """A clementine.db as Clementine 1.4 leaves it (schema version 51)."""
    conn = sqlite3.connect(path)
    conn.executescript(_CLEMENTINE_FIRST_SCHEMA)
    for column in _CLEMENTINE_ADDED:
        conn.execute(f"ALTER TABLE songs ADD COLUMN {column}")
    conn.execute("UPDATE schema_version SET version = 51")
    conn.executemany("INSERT INTO directories (path, subdirs) VALUES (?, 1)", [(d,) for d in directories])
    for song in songs:
        row = _qt_song(song, url_column="filename")
        row.setdefault("directory", 1)
        row.setdefault("mtime", 1700000000)
        row.setdefault("ctime", 1700000000)
        row.setdefault("filesize", 123456)
        row.setdefault("rating", -1.0)
        row.setdefault("lastplayed", -1)
        conn.execute(f"INSERT INTO songs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     list(row.values()))
    conn.commit()
    conn.close()
    return path


# -- beets -----------------------------------------------------------------------------------------

def write_beets(path: Path, items: list[dict], *, music_dir: Path, relative: bool = True) -> Path:
    """A beets library written by beets; each item's `stats` dict becomes mpdstats' flexible
    attributes (rating, play_count, skip_count, last_played). relative=False writes absolute
    paths, as beets before 2.10 did."""
    from beets.library import Item, Library

    lib = Library(str(path), str(music_dir), set_music_dir=relative)
    for spec in items:
        spec = dict(spec)
        stats = spec.pop("stats", {})
        item = Item(**{k: (os.fsencode(v) if k == "path" else v) for k, v in spec.items()})
        lib.add(item)
        for key, value in stats.items():
            item[key] = value
        item.store()
    del lib
    return path


# -- ListenBrainz ----------------------------------------------------------------------------------

def listen(artist: str, title: str, at: float, *, msid: str, mbid: str | None = None, release: str | None = None,
           duration_ms: int | None = None, mapped_mbid: str | None = None) -> dict:
    """One listen as a line of listens/YEAR/MONTH.jsonl."""
    info: dict = {"submission_client": "Rhythmbox ListenBrainz Plugin", "media_player": "Rhythmbox"}
    if mbid:
        info["recording_mbid"] = mbid
    if duration_ms:
        info["duration_ms"] = duration_ms
    meta = {"artist_name": artist, "track_name": title, "additional_info": info, "recording_msid": msid,
            "mbid_mapping": ({"recording_mbid": mapped_mbid, "recording_name": title, "artist_mbids": [],
                              "artists": [{"artist_credit_name": artist, "join_phrase": ""}]}
                             if mapped_mbid else None)}
    if release:
        meta["release_name"] = release
    return {"listened_at": at, "inserted_at": at + 2.5, "track_metadata": meta}


def write_listenbrainz_zip(path: Path, listens: list[dict], feedback: list[dict], *, user: str = "listener") -> Path:
    """The zip ListenBrainz's export produces: user.json, listens/YEAR/MONTH.jsonl, feedback.jsonl."""
    by_month: dict[tuple[int, int], list[dict]] = {}
    for item in listens:
        when = dt.datetime.fromtimestamp(item["listened_at"], dt.UTC)
        by_month.setdefault((when.year, when.month), []).append(item)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"user_id": 4242, "username": user}) + "\n")
        for (year, month), items in sorted(by_month.items()):
            archive.writestr(f"listens/{year}/{month}.jsonl", "".join(json.dumps(i) + "\n" for i in items))
        if feedback:
            archive.writestr("feedback.jsonl", "".join(json.dumps(f) + "\n" for f in feedback))
    return path
