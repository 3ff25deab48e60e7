"""What every importer produces: neutral entries, and the helpers the readers share.

A reader turns one source (a playlist, a player's database, an export) into a `Source`: a list of
`Entry` objects that say where a piece of music is (or what it is called) and what the source
knows about the listener's opinion of it. Readers only read: they never write to the source, never
touch prefrec's store and never decide what an entry means for training (that is `mapping`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefrec.errors import ImportSourceError  # noqa: F401 - the readers raise it from here


@dataclass(frozen=True)
class Entry:
    """One piece of music as a source describes it.

    key: stable within the source (the same song gives the same key on every read), used to tell
        a re-import from new data. Never empty.
    location: where the source says the file is, as written (for reports); None when it gives none.
    path: an absolute path ('/' separated), local or from another machine (`C:/Music/a.mp3`).
    relpath: the path relative to the source's music folder ('/' separated), when known.
    mbid: MusicBrainz recording id (lower case), when the source has one.
    duration_s: playing time in seconds, when known.
    loved: True when the listener loved/favourited it, False when they marked it disliked/hated.
    rating: the listener's star rating on 0..rating_max (None: unrated).
    plays / skips: counts the source kept (None: it keeps none). last_played: Unix seconds (UTC).
    """

    key: str
    location: str | None = None
    path: str | None = None
    relpath: str | None = None
    mbid: str | None = None
    artist: str | None = None
    title: str | None = None
    album: str | None = None
    duration_s: float | None = None
    loved: bool | None = None
    rating: float | None = None
    rating_max: float | None = None
    plays: int | None = None
    skips: int | None = None
    last_played: float | None = None

    @property
    def rating_fraction(self) -> float | None:
        """The rating on 0..1, or None when unrated."""
        if self.rating is None or not self.rating_max:
            return None
        return max(0.0, min(1.0, self.rating / self.rating_max))

    def describe(self) -> str:
        """A short human label: 'Artist – Title' or the location or the key."""
        if self.title:
            return f"{self.artist} – {self.title}" if self.artist else self.title
        return self.location or self.path or self.relpath or self.key


@dataclass
class Source:
    """What a reader found in one source.

    format: one of `prefrec.importers.FORMATS`. name: what the feedback log records after
    'import:' (`itunes`, `m3u:party.m3u8`...). origin: the file, folder or URL read.
    music_roots: the source's own music folders, when it records them (absolute, '/' separated).
    notes: things the listener should know about the read (e.g. "read from a copy: locked").
    passed_over: (location or description, why) of items the source holds that are not music
    prefrec can use (streams, podcasts, videos).
    """

    format: str
    name: str
    origin: str
    entries: list[Entry] = field(default_factory=list)
    music_roots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)


# -- locations -------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_DRIVE = re.compile(r"^/?([A-Za-z]):[/\\]")


def is_url(text: str) -> bool:
    """True for 'scheme:...' locations (file://, http://, mpd://), False for paths ('C:\\x' is a path)."""
    m = _SCHEME.match(text)
    return bool(m) and len(m.group(1)) > 1


def file_url_to_path(url: str) -> str:
    """A file:// URL as a '/'-separated path: 'file:///a%20b/c.mp3' -> '/a b/c.mp3',
    'file://localhost/G:/Music/x.mp3' -> 'G:/Music/x.mp3', 'file://server/share/x' -> '//server/share/x'.

    Percent-escapes are decoded as UTF-8; bytes that are not UTF-8 become surrogate escapes, as the
    file system's own names do (os.fsdecode).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ValueError(f"not a file URL: {url}")
    path = unquote(parts.path, encoding="utf-8", errors="surrogateescape")
    host = parts.netloc
    if host and host.lower() != "localhost":
        path = f"//{host}{path}"
    m = _DRIVE.match(path)
    if m:  # '/C:/x' -> 'C:/x'
        path = path.lstrip("/")
    return to_slashes(path)


def to_slashes(path: str) -> str:
    """Backslashes as '/', repeated separators collapsed, '.' and '..' resolved (when it can)."""
    path = path.replace("\\", "/")
    lead = "//" if path.startswith("//") else ""
    parts: list[str] = []
    for part in path[len(lead):].split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(part)
    body = "/".join(parts)
    if lead:
        return lead + body
    return ("/" + body) if path.startswith("/") else body


def is_absolute(path: str) -> bool:
    """Absolute on this machine or on another: '/x', 'C:/x', '//server/x'."""
    return path.startswith("/") or bool(_DRIVE.match(path))


def relative_to(path: str, root: str) -> str | None:
    """`path` relative to `root` ('/' separated), or None when it is not under it.

    Compares case-insensitively and in Unicode NFC, since a library written on macOS or Windows
    may spell the same folder differently from the path it recorded.
    """
    p, r = to_slashes(path), to_slashes(root).rstrip("/")
    if not r:
        return None
    fold = lambda s: unicodedata.normalize("NFC", s).casefold()  # noqa: E731
    if fold(p).startswith(fold(r) + "/") and len(p) > len(r) + 1:
        return p[len(r) + 1:]
    return None


def local_path(path: str | Path) -> str:
    """An absolute local path as prefrec stores it ('/'-separated, normalised, NFC kept as is)."""
    return to_slashes(os.path.abspath(os.fspath(path)))


# -- small value parsers shared by the readers ----------------------------------------------------

def as_int(value: object) -> int | None:
    """An integer count from a number or text ('3', '3.0'); None for empty or junk, negatives -> None."""
    number = as_float(value)
    if number is None or number < 0:
        return None
    return int(number)


def as_float(value: object) -> float | None:
    """A finite float from a number or text; None for empty, junk or NaN/inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def clean(text: object) -> str | None:
    """Stripped text, or None when empty (bytes decoded as UTF-8, replacing what is not)."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text).strip()
    return text or None


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def mbid(value: object) -> str | None:
    """A MusicBrainz id in lower case, or None when `value` is not one."""
    text = clean(value)
    if text is None:
        return None
    text = text.lower()
    return text if _UUID.match(text) else None
