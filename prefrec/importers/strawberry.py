"""Strawberry (`strawberry.db`) and Clementine (`clementine.db`) collection databases.

Strawberry is Clementine's successor and kept its `songs` table: `title`, `artist`, `album`,
`length` (nanoseconds), `rating` (a float 0..1, one star = 0.2; -1 when unrated), `playcount`,
`skipcount`, `lastplayed` (Unix time, -1 never), `unavailable`, and the file as an encoded URL,
`url` in Strawberry (which also has `musicbrainz_recording_id`) and `filename` in Clementine.
The `directories` table lists the collection's folders.

Default locations: `~/.local/share/strawberry/strawberry/strawberry.db` and
`~/.config/Clementine/clementine.db`.
"""

from __future__ import annotations

from pathlib import Path

from prefrec.importers.base import (
    Entry,
    ImportSourceError,
    Source,
    as_float,
    as_int,
    clean,
    file_url_to_path,
    is_absolute,
    is_url,
    local_path,
    mbid,
    relative_to,
    to_slashes,
)
from prefrec.importers.sqlite_ro import open_readonly, table_columns


def flavour(tables: dict[str, set[str]]) -> str | None:
    """'strawberry' or 'clementine' for a database with their `songs` table, else None."""
    songs = tables.get("songs", set())
    if not {"title", "artist", "playcount", "rating"} <= songs:
        return None
    if "url" in songs:
        return "strawberry"
    if "filename" in songs:
        return "clementine"
    return None


def read_strawberry(path: Path, *, expect: str | None = None) -> Source:
    """Read every song of the collection (either program); keys are the songs' URLs."""
    path = Path(path)
    notes: list[str] = []
    with open_readonly(path, notes) as conn:
        tables = table_columns(conn)
        kind = flavour(tables)
        if kind is None or (expect is not None and kind != expect):
            what = expect.capitalize() if expect else "Strawberry or Clementine"
            raise ImportSourceError(f"{path} is an SQLite database but not a {what} database (no songs table)")
        songs = tables["songs"]
        url_column = "url" if kind == "strawberry" else "filename"
        wanted = [url_column, "title", "artist", "album", "length", "rating", "playcount", "skipcount", "lastplayed"]
        wanted += [c for c in ("musicbrainz_recording_id",) if c in songs]
        rows = conn.execute(f"SELECT {', '.join(wanted)} FROM songs").fetchall()
        roots = []
        if "path" in tables.get("directories", set()):
            roots = [to_slashes(r[0]) for r in conn.execute("SELECT path FROM directories") if r[0]]
    source = Source(format=kind, name=kind, origin=local_path(path), music_roots=roots, notes=notes)
    seen: set[str] = set()
    for row in rows:
        location = clean(row[url_column])
        if location is None or location in seen:
            continue
        seen.add(location)
        if is_url(location) and not location.lower().startswith("file:"):
            source.passed_over.append((location, "not a local file (a stream or a device)"))
            continue
        source.entries.append(_entry(dict(row), location, roots))
    return source


def _entry(row: dict, location: str, roots: list[str]) -> Entry:
    path = file_url_to_path(location) if is_url(location) else to_slashes(location)
    relpath = next((r for r in (relative_to(path, root) for root in roots) if r), None) if is_absolute(path) else None
    rating = as_float(row.get("rating"))
    if rating is None or rating <= 0:
        rating = None  # -1 is unrated; 0 stars is what the rating widget shows for "no rating" too
    length_ns = as_float(row.get("length"))
    last = as_float(row.get("lastplayed"))
    return Entry(
        key=location, location=location, path=path, relpath=relpath,
        mbid=mbid(row.get("musicbrainz_recording_id")),
        artist=clean(row.get("artist")), title=clean(row.get("title")), album=clean(row.get("album")),
        duration_s=length_ns / 1e9 if length_ns and length_ns > 0 else None,
        rating=rating, rating_max=1.0 if rating is not None else None,
        plays=as_int(row.get("playcount")) or 0, skips=as_int(row.get("skipcount")) or 0,
        last_played=last if last and last > 0 else None,
    )
