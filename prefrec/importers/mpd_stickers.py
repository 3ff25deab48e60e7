"""MPD stickers: read from MPD's sticker database file, or asked of a running MPD.

MPD keeps stickers in SQLite (`sticker_file` in mpd.conf), table `sticker(type, uri, name,
value)`; a song's `uri` is its path relative to MPD's `music_directory`. MPD gives stickers no
meaning; clients agree on names. Read here, case-insensitively:

- `rating`: 0..10 (two per star; Cantata, myMPD, ncmpcpp's rating script); 0 is unrated;
- `like`: myMPD's thumbs, 0 hate, 1 neutral, 2 love;
- `playCount` / `play_count`, `skipCount` / `skip_count`, `lastPlayed` / `last_played` (Unix time).

A running MPD is named `mpd://HOST[:PORT]`, `mpd:///path/to/socket`, or `mpd:` alone (then
`$MPD_HOST`/`$MPD_PORT`, else localhost:6600; `$MPD_HOST` may be `password@host`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefrec.importers.base import Entry, ImportSourceError, Source, as_float, as_int, local_path, to_slashes
from prefrec.importers.sqlite_ro import open_readonly, table_columns

NAMES = {
    "rating": "rating", "like": "like",
    "playcount": "plays", "play_count": "plays",
    "skipcount": "skips", "skip_count": "skips",
    "lastplayed": "last_played", "last_played": "last_played",
}
# Names as clients spell them, for asking a running MPD (its `sticker find` is case-sensitive).
LIVE_NAMES = ("rating", "like", "playCount", "skipCount", "lastPlayed", "play_count", "skip_count", "last_played")


def is_sticker_db(tables: dict[str, set[str]]) -> bool:
    """True for a database with MPD's `sticker` table."""
    return {"type", "uri", "name", "value"} <= tables.get("sticker", set())


def read_sticker_db(path: Path, *, music_dir: str | None = None) -> Source:
    """Read the stickers of songs from MPD's sticker database; keys are the songs' URIs."""
    path = Path(path)
    source = Source(format="mpd", name="mpd", origin=local_path(path))
    with open_readonly(path, source.notes) as conn:
        if not is_sticker_db(table_columns(conn)):
            raise ImportSourceError(f"{path} is an SQLite database but not an MPD sticker database")
        rows = conn.execute("SELECT uri, name, value FROM sticker WHERE type = 'song'").fetchall()
    _fill(source, ((r["uri"], r["name"], r["value"]) for r in rows), music_dir)
    return source


def parse_address(text: str) -> tuple[str, int, str | None]:
    """(host or socket path, port, password) of 'mpd://[password@]host[:port]', 'mpd:///socket' or 'mpd:'."""
    parts = urlsplit(text)
    if parts.scheme.lower() != "mpd":
        raise ImportSourceError(f"{text} is not an MPD address; write mpd://HOST:PORT or mpd:///path/to/socket")
    if parts.path and not parts.netloc:
        return unquote(parts.path), 0, None
    if parts.netloc:
        host = parts.hostname or "localhost"
        return host, parts.port or 6600, unquote(parts.password or parts.username or "") or None
    env_host = os.environ.get("MPD_HOST", "localhost")
    password = None
    if "@" in env_host and not env_host.startswith("@"):
        password, env_host = env_host.split("@", 1)
    port = as_int(os.environ.get("MPD_PORT")) or 6600
    return env_host, (0 if env_host.startswith("/") else port), password


def read_live(address: str, *, music_dir: str | None = None, timeout_s: float = 10.0) -> Source:
    """Ask the MPD at `address` for its songs' stickers (nothing is changed in MPD)."""
    try:
        from mpd import CommandError, MPDClient
        from mpd import ConnectionError as MPDConnectionError
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ImportSourceError("reading a running MPD needs python-mpd2: pip install python-mpd2") from exc
    host, port, password = parse_address(address)
    where = host if not port else f"{host}:{port}"
    client = MPDClient()
    client.timeout = timeout_s
    try:
        client.connect(host, port or None)
    except (OSError, MPDConnectionError) as exc:
        raise ImportSourceError(f"cannot connect to MPD at {where}: {exc}; is it running?") from exc
    source = Source(format="mpd", name="mpd", origin=f"mpd://{where}" if port else f"mpd://{host}")
    triples: list[tuple[str, str, str]] = []
    try:
        if password:
            client.password(password)
        if music_dir is None:
            try:  # only answered over a local socket
                music_dir = client.config()
            except (CommandError, MPDConnectionError):
                music_dir = None
        for name in LIVE_NAMES:
            for found in client.sticker_find("song", "", name):
                value = str(found.get("sticker", "")).split("=", 1)
                if len(value) == 2:
                    triples.append((found["file"], value[0], value[1]))
    except CommandError as exc:
        raise ImportSourceError(f"MPD at {where} refused to list stickers: {exc}; is sticker_file set "
                                "in mpd.conf?") from exc
    except (OSError, MPDConnectionError) as exc:
        raise ImportSourceError(f"lost the connection to MPD at {where}: {exc}") from exc
    finally:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 - closing a socket that may already be gone
            pass
    _fill(source, triples, music_dir if isinstance(music_dir, str) else None)
    return source


def _fill(source: Source, triples, music_dir: str | None) -> None:
    """Group (uri, name, value) stickers into one entry per song."""
    root = to_slashes(os.path.abspath(os.path.expanduser(music_dir))) if music_dir else None
    if root:
        source.music_roots.append(root)
    songs: dict[str, dict[str, str]] = {}
    for uri, name, value in triples:
        field = NAMES.get(str(name).casefold())
        if field is not None and uri:
            songs.setdefault(str(uri), {})[field] = value
    for uri, values in songs.items():
        rel = to_slashes(uri)
        is_remote = "://" in uri
        if is_remote:
            source.passed_over.append((uri, "not a local file (a stream)"))
            continue
        rating = as_float(values.get("rating"))
        if rating is not None and rating <= 0:
            rating = None
        like = as_int(values.get("like"))
        loved = True if like == 2 else False if like == 0 else None
        if not any(v is not None for v in (rating, loved, as_int(values.get("plays")), as_int(values.get("skips")))):
            continue  # stickers of no interest (e.g. only lastPlayed, or 'like' = 1, neutral)
        source.entries.append(Entry(
            key=uri, location=uri, path=to_slashes(f"{root}/{rel}") if root else None, relpath=rel,
            rating=rating, rating_max=10.0 if rating is not None else None, loved=loved,
            plays=as_int(values.get("plays")), skips=as_int(values.get("skips")),
            last_played=as_float(values.get("last_played")),
        ))
