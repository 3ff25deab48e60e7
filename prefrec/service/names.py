"""Reading what the listener types: track names and paths, artist/album names, positions."""

from __future__ import annotations

import math
import os
from pathlib import Path

from prefrec.errors import AmbiguousName, AmbiguousTrack, UnknownName, UnknownTrack, UsageError
from prefrec.store import Ban, Store, Track, normalize_text


def parse_position(text: str) -> float:
    """'1:23' -> 83.0, '83' -> 83.0, '1:02:03' -> 3723.0; raises UsageError otherwise."""
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        parts = []
    if (not 1 <= len(parts) <= 3 or not all(math.isfinite(p) for p in parts) or any(p < 0 for p in parts)
            or any(p >= 60 for p in parts[1:])):
        raise UsageError(f"--at {text!r}: give a position as seconds (83) or m:ss (1:23)")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def resolve(store: Store, query: str) -> Track:
    """The track the listener means: a path, or words matching title/artist/album/file name.

    Raises UnknownTrack (nothing matches) or AmbiguousTrack (several pieces of music match).
    """
    query = query.strip()
    if not query:
        raise UsageError("name a track: a path, or words from its title, artist or file name")
    if os.sep in query or os.path.exists(query):
        tracks = store.tracks_by_path(os.path.realpath(query)) or store.tracks_by_path(
            os.path.abspath(query))
        if tracks:
            return tracks[0]
        if os.path.exists(query):
            raise UnknownTrack(f"{query}: not in the library yet; run `prefrec scan` on its folder first")
    candidates = store.search_tracks(query.split())
    if not candidates:
        raise UnknownTrack(f"no track matches {query!r}; try other words or a path "
                           "(`prefrec recommend` lists tracks)")
    by_identity: dict[str, Track] = {}
    for track in candidates:
        by_identity.setdefault(track.identity, track)
    if len(by_identity) == 1:
        return candidates[0]
    wanted = normalize_text(query)
    exact = {t.identity: t for t in candidates
             if wanted in (normalize_text(t.title), normalize_text(Path(t.path).stem))}
    if len(exact) == 1:
        return next(iter(exact.values()))
    raise AmbiguousTrack(f"{query!r} matches {len(by_identity)} tracks; be more precise or give a path",
                         list(by_identity.values()))



def resolve_name(kind: str, text: str, names: list[str], *, banned: bool = False) -> str:
    """The one artist/album name in `names` that `text` means: equal ignoring case and accents,
    else the only one containing it. Raises UnknownName / AmbiguousName."""
    wanted = normalize_text(text.strip())
    if not wanted:
        raise UsageError(f"--{kind}: give a name")
    exact = [n for n in names if normalize_text(n) == wanted]
    if exact:
        return exact[0]
    partial = sorted({normalize_text(n): n for n in names if wanted in normalize_text(n)}.values())
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousName(f"{text!r} matches {len(partial)} {kind}s; be more precise", partial)
    if banned:
        raise UnknownName(f"{text!r}: not banned (no banned {kind} matches it); `prefrec ban` lists the bans")
    raise UnknownName(f"no {kind} in the library matches {text!r}; check the spelling")


def banned_by(track: Track, bans: list[Ban]) -> Ban | None:
    """The first of `bans` that covers `track` (its music, its artist or its album), if any."""
    keys = {("track", track.identity)} | set(diversity_keys(track))
    return next((b for b in bans if (b.kind, b.value) in keys), None)


def track_label(track: Track) -> str:
    return f"{track.artist} – {track.title}" if track.artist else track.title



def diversity_keys(track: Track) -> list[tuple[str, str]]:
    """("artist", name) and ("album", name), normalised, for the tags `track` has."""
    keys = []
    if track.artist:
        keys.append(("artist", normalize_text(track.artist)))
    if track.album:
        keys.append(("album", normalize_text(track.album)))
    return keys
