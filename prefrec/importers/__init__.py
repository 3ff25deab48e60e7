"""Readers for the places listeners already keep their taste, and format detection.

`read_source(SOURCE)` detects the format by content (not only by the file name) and returns a
`Source` of neutral `Entry` objects. Nothing here writes anywhere; what an entry means for
training is `prefrec.importers.mapping`, and finding it in the library is `prefrec.importers.match`.
"""

from __future__ import annotations

from pathlib import Path

from prefrec.importers.base import Entry, ImportSourceError, Source

FORMATS: dict[str, str] = {
    "m3u": "M3U/M3U8 playlist (.m3u, .m3u8)",
    "itunes": "iTunes/Music library export (Library.xml)",
    "beets": "beets library database (library.db)",
    "strawberry": "Strawberry database (strawberry.db)",
    "clementine": "Clementine database (clementine.db)",
    "listenbrainz": "ListenBrainz export (zip, folder, listens .jsonl or feedback.jsonl)",
    "mpd": "MPD sticker database (sticker.sql) or a running MPD (mpd://HOST:PORT)",
}

__all__ = ["FORMATS", "Entry", "ImportSourceError", "Source", "detect", "read_source", "understood"]


def understood() -> str:
    """One line listing the formats prefrec can import."""
    return "; ".join(FORMATS.values())


def _unknown(source: str, why: str) -> ImportSourceError:
    return ImportSourceError(f"{source}: {why}. prefrec imports: {understood()}")


def detect(source: str | Path) -> str:
    """The format of `source` (a key of FORMATS), judged by its content.

    Raises ImportSourceError naming the formats understood when the source is missing,
    unreadable, or in none of them.
    """
    text = str(source)
    if text.lower().startswith("mpd:"):
        return "mpd"
    path = Path(text).expanduser()
    if not path.exists():
        raise _unknown(text, "no such file or folder")
    from prefrec.importers.listenbrainz import looks_like_listenbrainz

    if path.is_dir():
        if looks_like_listenbrainz(path, b""):
            return "listenbrainz"
        raise _unknown(text, "a folder that is not an unpacked ListenBrainz export")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise _unknown(text, f"cannot be read ({exc.strerror or exc})") from exc
    from prefrec.importers.sqlite_ro import SQLITE_MAGIC

    if head.startswith(SQLITE_MAGIC):
        return _detect_sqlite(path)
    from prefrec.importers.itunes import looks_like_itunes

    if looks_like_itunes(head):
        return "itunes"
    if looks_like_listenbrainz(path, head):
        return "listenbrainz"
    from prefrec.importers.m3u import looks_like_m3u

    if looks_like_m3u(path, head):
        return "m3u"
    if not head:
        raise _unknown(text, "the file is empty")
    raise _unknown(text, "not a format prefrec understands")


def _detect_sqlite(path: Path) -> str:
    from prefrec.importers.beets import is_beets
    from prefrec.importers.mpd_stickers import is_sticker_db
    from prefrec.importers.sqlite_ro import open_readonly, table_columns
    from prefrec.importers.strawberry import flavour

    notes: list[str] = []
    with open_readonly(path, notes) as conn:
        tables = table_columns(conn)
    if is_beets(tables):
        return "beets"
    kind = flavour(tables)
    if kind:
        return kind
    if is_sticker_db(tables):
        return "mpd"
    raise _unknown(str(path), "an SQLite database of no program prefrec knows")


def read_source(source: str | Path, *, format: str | None = None, music_dir: str | None = None) -> Source:
    """Read `source` (a path, or an mpd:// address) in `format` (detected when None).

    music_dir: the source's music folder when the source does not record it (beets keeps it in
    its config, MPD in mpd.conf); used to make relative locations absolute.
    """
    fmt = format or detect(source)
    if fmt not in FORMATS:
        raise ImportSourceError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    path = Path(str(source)).expanduser()
    if fmt == "m3u":
        from prefrec.importers.m3u import read_m3u

        return read_m3u(path)
    if fmt == "itunes":
        from prefrec.importers.itunes import read_itunes

        return read_itunes(path)
    if fmt == "beets":
        from prefrec.importers.beets import read_beets

        return read_beets(path, music_dir=music_dir)
    if fmt in ("strawberry", "clementine"):
        from prefrec.importers.strawberry import read_strawberry

        return read_strawberry(path, expect=fmt)
    if fmt == "listenbrainz":
        from prefrec.importers.listenbrainz import read_listenbrainz

        return read_listenbrainz(path)
    from prefrec.importers.mpd_stickers import read_live, read_sticker_db

    if str(source).lower().startswith("mpd:"):
        return read_live(str(source), music_dir=music_dir)
    return read_sticker_db(path, music_dir=music_dir)
