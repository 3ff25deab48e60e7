"""M3U / M3U8 playlists: every entry is a piece of music the listener chose (a like, or `--as skip`).

Entries may be absolute paths, paths relative to the playlist's folder, `file://` URLs, Windows
paths (`C:\\Music\\a.mp3`, `..\\Music\\a.mp3`) and stream URLs (passed over). `#EXTINF:secs,Artist -
Title`, `#EXTART:` and `#EXTALB:` lines give tags for the entry that follows, so a moved file can
still be matched by its artist and title.

Encoding: a byte-order mark decides; otherwise UTF-8 when the bytes are valid UTF-8 (`.m3u8` and
most modern `.m3u`), else Windows-1252 (what Winamp-era `.m3u` files use), else Latin-1. When the
playlist is not UTF-8, an entry whose raw bytes name an existing file (a file named in a legacy
encoding) is taken as those bytes.
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
    clean,
    file_url_to_path,
    is_absolute,
    is_url,
    local_path,
    to_slashes,
)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_RAW_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_EXTINF = re.compile(r"^#EXTINF\s*:\s*(-?[0-9.]+)?[^,]*,(.*)$", re.IGNORECASE)


def decode_playlist(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a playlist's bytes, following the rules in the module docstring."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def looks_like_m3u(path: Path, head: bytes) -> bool:
    """True when the first bytes read like an M3U playlist: '#EXTM3U', or lines of paths/URLs."""
    text, _ = decode_playlist(head)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return path.suffix.lower() in (".m3u", ".m3u8")
    if lines[0].upper().startswith("#EXTM3U"):
        return True
    if path.suffix.lower() not in (".m3u", ".m3u8"):
        return False
    if "\x00" in text:
        return False
    # A .m3u without a header: plain lines that look like locations or comments.
    return all(line.startswith("#") or "/" in line or "\\" in line or "." in line for line in lines[:20])


def read_m3u(path: Path) -> Source:
    """Read a playlist into entries; keys are the locations as written (one entry per location)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportSourceError(f"cannot read playlist {path}: {exc.strerror or exc}") from exc
    text, encoding = decode_playlist(data)
    lines = _LINE_BREAK.split(text)
    raw_lines = _RAW_LINE_BREAK.split(data) if encoding in ("cp1252", "latin-1") else None
    base = local_path(path.parent)
    source = Source(format="m3u", name=f"m3u:{path.name}", origin=local_path(path), music_roots=[base])
    if encoding not in ("utf-8", "utf-8-sig"):
        source.notes.append(f"{path.name} is not UTF-8; read as {encoding}")
    seen: set[str] = set()
    pending: dict[str, object] = {}
    for number, line in enumerate(lines):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("#"):
            _read_directive(line, pending)
            continue
        extra, pending = pending, {}
        key = to_slashes(line) if not is_url(line) else line
        if key in seen:
            continue
        seen.add(key)
        entry = _entry(line, key, base, extra, raw_lines[number] if raw_lines and number < len(raw_lines) else None)
        if entry is None:
            source.passed_over.append((line, "not a local file (a stream or another kind of URL)"))
        else:
            source.entries.append(entry)
    return source


def _read_directive(line: str, pending: dict[str, object]) -> None:
    m = _EXTINF.match(line)
    if m:
        seconds = as_float(m.group(1))
        if seconds is not None and seconds > 0:
            pending["duration_s"] = seconds
        label = clean(m.group(2))
        if label:
            if " - " in label:
                artist, title = label.split(" - ", 1)
                pending.setdefault("artist", clean(artist))
                pending["title"] = clean(title)
            else:
                pending["title"] = label
        return
    upper = line.upper()
    if upper.startswith("#EXTART:"):
        pending["artist"] = clean(line[8:])
    elif upper.startswith("#EXTALB:"):
        pending["album"] = clean(line[8:])


def _entry(line: str, key: str, base: str, extra: dict[str, object], raw: bytes | None) -> Entry | None:
    relpath: str | None = None
    if is_url(line):
        if not line.lower().startswith("file:"):
            return None
        target = file_url_to_path(line)
    else:
        target = to_slashes(line)
        if not is_absolute(target):
            relpath = target
            target = to_slashes(f"{base}/{target}")
    if raw is not None and not os.path.exists(target):
        # A legacy-encoded playlist naming a file whose name is in the same legacy encoding.
        raw_text = os.fsdecode(raw.strip())
        raw_target = raw_text if is_absolute(to_slashes(raw_text)) else f"{base}/{raw_text}"
        if not is_url(raw_text) and os.path.exists(raw_target):
            target = to_slashes(raw_target)
    return Entry(key=key, location=line, path=target, relpath=relpath, **extra)  # type: ignore[arg-type]
