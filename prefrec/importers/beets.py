"""A beets library database (`library.db`).

Fixed fields come from the `items` table: `id`, `path` (bytes; absolute in beets before 2.10,
relative to the music directory, '/' separated, since), `artist`, `title`, `album`, `length`
(seconds), `mb_trackid` (the MusicBrainz *recording* id). Ratings and counts are flexible
attributes in `item_attributes` (`entity_id`, `key`, `value` as text), as the mpdstats plugin
writes them: `rating` (0..1, starting at 0.5 and moved by every play and skip), `play_count`,
`skip_count`, `last_played` (Unix time).

beets keeps its music directory in `config.yaml`, not in the database: it is looked for next to
the database (beets' own layout), so relative paths can be made absolute.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prefrec.importers.base import (
    Entry,
    ImportSourceError,
    Source,
    as_float,
    as_int,
    clean,
    is_absolute,
    local_path,
    mbid,
    relative_to,
    to_slashes,
)
from prefrec.importers.sqlite_ro import open_readonly, table_columns

_DIRECTORY = re.compile(r"^directory\s*:\s*(.+?)\s*$")


def is_beets(tables: dict[str, set[str]]) -> bool:
    """True for a database with beets' `items` and `item_attributes` tables."""
    return {"id", "path", "title"} <= tables.get("items", set()) and "item_attributes" in tables


def music_directory(db_path: Path) -> str | None:
    """beets' `directory:` from the config.yaml beside the database, expanded; None if not found."""
    config = db_path.parent / "config.yaml"
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        m = _DIRECTORY.match(line)  # a top-level key: no indentation
        if m:
            value = m.group(1).strip().strip("'\"")
            return to_slashes(os.path.abspath(os.path.expanduser(value)))
    return None


def read_beets(path: Path, *, music_dir: str | None = None) -> Source:
    """Read every item; keys are beets' item ids (kept by beets across its own upgrades and moves)."""
    path = Path(path)
    source = Source(format="beets", name="beets", origin=local_path(path))
    root = music_dir or music_directory(path)
    if root:
        source.music_roots.append(root)
    with open_readonly(path, source.notes) as conn:
        tables = table_columns(conn)
        if not is_beets(tables):
            raise ImportSourceError(f"{path} is an SQLite database but not a beets library (no items table)")
        columns = tables["items"]
        wanted = [c for c in ("id", "path", "artist", "title", "album", "length", "mb_trackid") if c in columns]
        items = conn.execute(f"SELECT {', '.join(wanted)} FROM items").fetchall()
        flex: dict[int, dict[str, str]] = {}
        for row in conn.execute("SELECT entity_id, key, value FROM item_attributes WHERE key IN "
                                "('rating', 'play_count', 'skip_count', 'last_played')"):
            flex.setdefault(row["entity_id"], {})[row["key"]] = row["value"]
    for item in items:
        source.entries.append(_entry(dict(item), flex.get(item["id"], {}), root))
    return source


def _entry(item: dict, attrs: dict[str, str], root: str | None) -> Entry:
    raw = item.get("path")
    stored = to_slashes(os.fsdecode(raw) if isinstance(raw, bytes) else str(raw or "")) or None
    path = relpath = None
    if stored and is_absolute(stored):
        path = stored
        relpath = relative_to(stored, root) if root else None
    elif stored:
        relpath = stored
        path = to_slashes(f"{root}/{stored}") if root else None
    rating = as_float(attrs.get("rating"))
    scale = None
    if rating is not None:
        scale = 1.0 if rating <= 1 else 5.0 if rating <= 5 else 10.0 if rating <= 10 else 100.0
    length = as_float(item.get("length"))
    return Entry(
        key=f"item:{item['id']}", location=stored, path=path, relpath=relpath, mbid=mbid(item.get("mb_trackid")),
        artist=clean(item.get("artist")), title=clean(item.get("title")), album=clean(item.get("album")),
        duration_s=length if length and length > 0 else None,
        rating=rating, rating_max=scale,
        plays=as_int(attrs.get("play_count")), skips=as_int(attrs.get("skip_count")),
        last_played=as_float(attrs.get("last_played")),
    )
