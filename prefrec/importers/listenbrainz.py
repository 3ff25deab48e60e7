"""A ListenBrainz export (Settings > Export: a zip, or the folder it unpacks to, or one of its files).

The export holds `user.json`, `listens/YEAR/MONTH.jsonl` (one listen a line: `listened_at`,
`track_metadata` with `artist_name`, `track_name`, `release_name`, `recording_msid`,
`additional_info` (`recording_mbid`, `duration_ms`...) and `mbid_mapping` (`recording_mbid`) when
ListenBrainz linked it to MusicBrainz) and `feedback.jsonl` (`recording_msid`, `recording_mbid`,
`score`: 1 loved, -1 hated). Older exports put all listens in one JSON array (`listens.json`).

Listens of one recording become one entry whose play count is the number of listens (ListenBrainz
records no skips). The entry's key is the recording's MessyBrainz id (`msid`, fixed by the
listen's own text), so a listen that ListenBrainz links to MusicBrainz later keeps its key. Loved
and hated recordings join the listens of the same msid or MusicBrainz id; feedback on recordings
never listened to is kept with its ids alone (it can match a track only by MusicBrainz id).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prefrec.importers.base import Entry, ImportSourceError, Source, as_float, clean, local_path, mbid

_LISTENS_FILE = re.compile(r"(^|/)listens(/.*)?\.jsonl?$|(^|/)listens\.json$")


@dataclass
class _Recording:
    key: str
    artist: str | None = None
    title: str | None = None
    album: str | None = None
    mbid: str | None = None
    msid: str | None = None
    duration_s: float | None = None
    plays: int = 0
    last_played: float | None = None
    loved: bool | None = None
    feedback_at: float = field(default=float("-inf"))


def looks_like_listenbrainz(path: Path, head: bytes) -> bool:
    """True for an export zip or folder, a listens JSON(L) file or a feedback.jsonl."""
    if path.is_dir():
        return (path / "feedback.jsonl").exists() or (path / "listens").is_dir() or (path / "listens.json").exists()
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile):
            return False
        return any(_LISTENS_FILE.search(n) or n.endswith("feedback.jsonl") for n in names)
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n[")
    return text.startswith("{") and ('"track_metadata"' in text or '"recording_msid"' in text)


def read_listenbrainz(path: Path) -> Source:
    """Read listens and feedback from the export at `path`."""
    path = Path(path)
    source = Source(format="listenbrainz", name="listenbrainz", origin=local_path(path))
    recordings: dict[str, _Recording] = {}
    by_id: dict[str, _Recording] = {}
    feedback: list[dict] = []
    n_listens = 0
    for name, lines in _documents(path):
        for number, record in _records(name, lines):
            if "track_metadata" in record:
                n_listens += _add_listen(record, recordings, by_id)
            elif "score" in record:
                feedback.append(record)
            else:
                source.passed_over.append((f"{name}:{number}", "neither a listen nor a feedback record"))
    for record in feedback:
        _add_feedback(record, recordings, by_id)
    if not recordings:
        raise ImportSourceError(f"{path} holds no ListenBrainz listens or feedback; export them from "
                                "ListenBrainz (Settings > Export) and import the zip")
    source.entries = [
        Entry(key=r.key, mbid=r.mbid, artist=r.artist, title=r.title, album=r.album, duration_s=r.duration_s,
              loved=r.loved, plays=r.plays, skips=0 if r.plays else None, last_played=r.last_played)
        for r in recordings.values()
    ]
    if n_listens:
        source.notes.append(f"{n_listens} listens of {sum(1 for r in recordings.values() if r.plays)} recordings")
    return source


def _documents(path: Path) -> Iterator[tuple[str, Iterable[str]]]:
    """(name, lines) of each JSON(L) document in the export."""
    try:
        if path.is_dir():
            for file in sorted(path.rglob("*.json*")):
                rel = file.relative_to(path).as_posix()
                if _LISTENS_FILE.search(rel) or rel.endswith("feedback.jsonl"):
                    with open(file, encoding="utf-8", errors="replace") as handle:
                        yield rel, handle
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in sorted(archive.namelist()):
                    if _LISTENS_FILE.search(name) or name.endswith("feedback.jsonl"):
                        with archive.open(name) as raw:
                            yield name, io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
        else:
            with open(path, encoding="utf-8", errors="replace") as handle:
                yield path.name, handle
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportSourceError(f"cannot read ListenBrainz export {path}: {exc}") from exc


def _records(name: str, lines: Iterable[str]) -> Iterator[tuple[int, dict]]:
    """Objects of a JSON-lines document, or of a JSON array (older exports)."""
    iterator = iter(lines)
    first = ""
    for first in iterator:
        if first.strip():
            break
    if first.lstrip("\ufeff \t").startswith("["):
        text = first + "".join(iterator)
        try:
            items = json.loads(text.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            raise ImportSourceError(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        yield from ((n, x) for n, x in enumerate(items, 1) if isinstance(x, dict))
        return
    for number, line in enumerate(itertools.chain([first], iterator) if first else (), 1):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportSourceError(f"{name} line {number} is not JSON ({exc.msg}); is the export complete?") from exc
        if isinstance(record, dict):
            yield number, record


def _add_listen(record: dict, recordings: dict[str, _Recording], by_id: dict[str, _Recording]) -> int:
    meta = record.get("track_metadata") or {}
    info = meta.get("additional_info") or {}
    mapping = meta.get("mbid_mapping") or {}
    artist, title = clean(meta.get("artist_name")), clean(meta.get("track_name"))
    if not title:
        return 0
    msid = mbid(meta.get("recording_msid") or record.get("recording_msid") or info.get("recording_msid"))
    rec_mbid = mbid(info.get("recording_mbid")) or mbid(mapping.get("recording_mbid"))
    key = f"msid:{msid}" if msid else f"tags:{(artist or '').casefold()}\x1f{title.casefold()}"
    rec = recordings.get(key)
    if rec is None:
        rec = recordings[key] = _Recording(key=key, artist=artist, title=title, album=clean(meta.get("release_name")),
                                           msid=msid)
    rec.plays += 1
    rec.mbid = rec.mbid or rec_mbid
    duration_ms = as_float(info.get("duration_ms"))
    duration_s = duration_ms / 1000.0 if duration_ms else as_float(info.get("duration"))
    if duration_s and duration_s > 0:
        rec.duration_s = duration_s
    at = as_float(record.get("listened_at"))
    if at is not None and (rec.last_played is None or at > rec.last_played):
        rec.last_played = at
    for ident in (msid, rec_mbid):
        if ident:
            by_id.setdefault(ident, rec)
    return 1


def _add_feedback(record: dict, recordings: dict[str, _Recording], by_id: dict[str, _Recording]) -> None:
    score = as_float(record.get("score"))
    if score not in (1.0, -1.0):
        return  # 0 withdraws feedback; ListenBrainz does not export it
    msid, rec_mbid = mbid(record.get("recording_msid")), mbid(record.get("recording_mbid"))
    rec = next((by_id[i] for i in (msid, rec_mbid) if i and i in by_id), None)
    if rec is None:
        ident = rec_mbid or msid
        if ident is None:
            return
        key = f"msid:{msid}" if msid else f"mbid:{rec_mbid}"
        rec = recordings[key] = _Recording(key=key, mbid=rec_mbid, msid=msid)
        for i in (msid, rec_mbid):
            if i:
                by_id[i] = rec
    at = as_float(record.get("created")) or 0.0
    if at >= rec.feedback_at:  # the latest feedback on a recording counts
        rec.loved, rec.feedback_at = score > 0, at
        rec.mbid = rec.mbid or rec_mbid

