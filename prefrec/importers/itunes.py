"""iTunes / Music.app "Library.xml" (File > Library > Export Library), an Apple property list.

Per track (the `Tracks` dictionary): `Name`, `Artist`, `Album`, `Total Time` (ms), `Location`
(a `file://` URL; `file://localhost/C:/...` on Windows), `Persistent ID`, `Rating` (0-100, 20 per
star), `Rating Computed` (true when the rating is the album's, not the track's: ignored), `Loved`
(newer versions: `Favorited`), `Disliked`, `Play Count`, `Skip Count`, `Play Date UTC`. The
top-level `Music Folder` is the library's folder, so moved libraries still match by relative path.

Podcasts, films, TV shows, music videos and audiobooks are passed over. Tracks without a
`Location` (streamed from the cloud) are kept: they can still match by artist and title.
"""

from __future__ import annotations

import datetime as dt
import plistlib
from pathlib import Path
from xml.parsers.expat import ExpatError

from prefrec.importers.base import (
    Entry,
    ImportSourceError,
    Source,
    as_float,
    as_int,
    clean,
    file_url_to_path,
    local_path,
    relative_to,
)

_NOT_MUSIC = ("Podcast", "Movie", "TV Show", "Has Video", "Music Video", "iTunesU", "Audiobook")


def looks_like_itunes(head: bytes) -> bool:
    """True when the first bytes are an Apple plist that holds a `Tracks` dictionary."""
    if head.startswith(b"bplist00"):
        return True
    text = head.decode("utf-8", "replace")
    return "<plist" in text and ("<key>Tracks</key>" in text or "<key>Major Version</key>" in text)


def read_itunes(path: Path) -> Source:
    """Read every music track of the library; keys are the tracks' Persistent IDs."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            library = plistlib.load(handle)
    except (OSError, plistlib.InvalidFileException, ValueError, ExpatError) as exc:
        raise ImportSourceError(f"cannot read iTunes library {path}: {exc}; export it again from "
                                "iTunes or Music (File > Library > Export Library)") from exc
    if not isinstance(library, dict) or not isinstance(library.get("Tracks"), dict):
        raise ImportSourceError(f"{path} is a property list without a 'Tracks' dictionary, not an "
                                "iTunes library export")
    source = Source(format="itunes", name="itunes", origin=local_path(path))
    folder = library.get("Music Folder")
    root = file_url_to_path(folder) if isinstance(folder, str) and folder.lower().startswith("file:") else None
    if root:
        source.music_roots.append(root.rstrip("/"))
    for track_id, track in library["Tracks"].items():
        if not isinstance(track, dict):
            continue
        label = clean(track.get("Name")) or str(track_id)
        kind = next((k for k in _NOT_MUSIC if track.get(k) is True), None)
        if kind is None and "audiobook" in str(track.get("Kind", "")).lower():
            kind = "Audiobook"
        if kind is not None:
            source.passed_over.append((label, f"not music ({kind.lower()})"))
            continue
        entry = _entry(track_id, track, root)
        if entry is None:
            source.passed_over.append((label, "a stream URL, not a file"))
        else:
            source.entries.append(entry)
    return source


def _entry(track_id: str, track: dict, root: str | None) -> Entry | None:
    location = track.get("Location")
    path = relpath = None
    if isinstance(location, str):
        if not location.lower().startswith("file:"):
            return None
        path = file_url_to_path(location)
        relpath = relative_to(path, root) if root else None
    rating = as_float(track.get("Rating"))
    if track.get("Rating Computed") is True or not rating:
        rating = None  # 0 is "no stars", the same as unrated in iTunes
    loved: bool | None = None
    if track.get("Loved") is True or track.get("Favorited") is True:
        loved = True
    elif track.get("Disliked") is True:
        loved = False
    played = track.get("Play Date UTC")
    last_played = played.replace(tzinfo=dt.UTC).timestamp() if isinstance(played, dt.datetime) else None
    total_ms = as_float(track.get("Total Time"))
    key = clean(track.get("Persistent ID")) or f"track:{track_id}"
    return Entry(
        key=key, location=location if isinstance(location, str) else None, path=path, relpath=relpath,
        artist=clean(track.get("Artist")), title=clean(track.get("Name")), album=clean(track.get("Album")),
        duration_s=total_ms / 1000.0 if total_ms else None, loved=loved,
        rating=rating, rating_max=100.0 if rating is not None else None,
        plays=as_int(track.get("Play Count")) or 0, skips=as_int(track.get("Skip Count")) or 0,
        last_played=last_played,
    )
