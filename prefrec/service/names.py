"""Reading what the listener types: track names and paths, artist/album/folder names, positions.

A track is named by a path (relative, absolute or a `file://` URI, as players pass them), by a
folder (every track below it), or by words. Words match whole words of the title, artist, album
and file name, ignoring case and accents (`the` never matches "together"). When words match
several pieces of music, the listener chooses: `choose` (a terminal prompt, from the CLI) is asked,
and without it AmbiguousTrack lists the candidates. An exact title never wins silently over other
titles holding the same words ("town" lists "Town" and "Town Theme"). Only when a single track
holds every word in its own title, artist or file name does it win over tracks that match only
through their album's name ("plucks study 1" over the tracks of the album "Plucks Sessions 1").
Nothing here writes: a use-case writes only once everything it was given is resolved.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefrec.errors import AmbiguousName, AmbiguousTrack, NotReady, UnknownName, UnknownTrack, UsageError
from prefrec.store import Ban, Store, Track, normalize_text

Chooser = Callable[[str, list[Track]], "Track | None"]
"""choose(what was typed, candidates best first) -> the track meant, or None to give up."""

_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 64  # more words than this are not a track name


def ensure_scanned(store: Store) -> None:
    """Raise NotReady when nothing has been analysed yet: every command needs a scan first."""
    if not store.has_tracks():
        raise NotReady(f"{store.path.parent}: no music analysed yet; run `prefrec scan ~/Music` (your music "
                       "folder) first")


def search_words(text: str) -> list[str]:
    """The whole words of `text`, normalised as the library's names are ('AC/DC' -> ['ac', 'dc'])."""
    return _WORD.findall(normalize_text(text))


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


# -- paths -------------------------------------------------------------------------------------------


def path_of(text: str) -> str | None:
    """The file-system path `text` names when it is one: a `file://` URI, anything with a path
    separator, '.', '..', or an existing file. None for words (a bare word that happens to be a
    folder's name in the current directory stays words)."""
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"{text}: a file:// URI of another machine ({parts.netloc}); give a local path")
        return unquote(parts.path)
    if os.sep in text or text in (".", "..") or os.path.isfile(text):
        return text
    return None


def _tracks_at(store: Store, text: str, path: str) -> list[Track]:
    """The tracks the path `path` (typed as `text`) names: one file, or every track below a folder."""
    real = os.path.realpath(path)
    if os.path.isdir(real):
        tracks = store.tracks_under(real)
        if not tracks:
            raise UnknownTrack(f"{text}: no analysed track in this folder; run `prefrec scan` on it first")
        return tracks
    tracks = [t for t in store.tracks_by_path(real) + store.tracks_by_path(os.path.abspath(path)) if not t.gone]
    if tracks:
        return tracks[:1]
    if os.path.exists(real):
        raise UnknownTrack(f"{text}: not in the library yet; run `prefrec scan` on its folder first")
    raise UnknownTrack(f"{text}: no such file")


# -- words -------------------------------------------------------------------------------------------


def _one_per_recording(store: Store, tracks: list[Track]) -> list[Track]:
    """`tracks` (best first) with later files of music already listed left out."""
    recordings = store.recording_map()
    seen: set[str] = set()
    out = []
    for track in tracks:
        key = recordings.get(track.identity, track.identity)
        if key not in seen:
            seen.add(key)
            out.append(track)
    return out


def _order(words: list[str], tracks: list[Track]) -> tuple[list[Track], list[Track]]:
    """(tracks whose title, artist or file name hold every word, the others), each best first:
    exact titles, then the titles with the fewest other words, then by title."""
    wanted = set(words)

    def own_words(t: Track) -> set[str]:
        return set(search_words(" ".join(x for x in (t.title, t.artist, Path(t.path).stem) if x)))

    def key(t: Track) -> tuple:
        title = search_words(t.title)
        return (title != words, len(set(title) - wanted), normalize_text(t.title), t.id)

    holds = {t.id: wanted <= own_words(t) for t in tracks}
    named = [t for t in tracks if holds[t.id]]
    others = [t for t in tracks if not holds[t.id]]
    return sorted(named, key=key), sorted(others, key=key)


def find(store: Store, text: str, *, limit: int = 1000) -> list[Track]:
    """Tracks whose names hold every word of `text` as a whole word, one file per recording,
    best first (see module docstring); [] for none."""
    words = search_words(text)
    if len(words) > MAX_WORDS:
        raise UsageError(f"{len(words)} words is more than a track name; give at most {MAX_WORDS} or a path")
    if not words:
        return []
    named, others = _order(words, store.match_words(words, limit=limit))
    return _one_per_recording(store, named + others)


def resolve(store: Store, query: str, *, choose: Chooser | None = None) -> Track:
    """The one track the listener means by `query`: a path, or words (see module docstring).

    Raises UnknownTrack (nothing matches: with suggestions) or AmbiguousTrack (several pieces of
    music match and `choose` is None or gave up).
    """
    query = query.strip()
    if not query:
        raise UsageError("name a track: a path, or words from its title, artist or file name")
    ensure_scanned(store)
    path = path_of(query)
    if path is not None:
        tracks = _tracks_at(store, query, path)
        if len(tracks) > 1:
            raise UsageError(f"{query}: is a folder of {len(tracks)} tracks; name one track")
        return tracks[0]
    return _pick(store, query, choose)


def _pick(store: Store, query: str, choose: Chooser | None) -> Track:
    words = search_words(query)
    if not words:
        raise UsageError(f"{query!r}: has no letters or digits to look for; give words or a path")
    candidates = find(store, query)
    if not candidates:
        raise UnknownTrack(unknown_message(store, query))
    named, others = _order(words, candidates)
    if len(named) == 1 or len(candidates) == 1:  # the one title/artist/file holding every word
        return (named or others)[0]
    shown = named or others
    if choose is not None:
        chosen = choose(query, shown)
        if chosen is not None:
            return chosen
        raise UsageError("nothing chosen; nothing was written")
    raise AmbiguousTrack(f"{query!r} matches {len(shown)} tracks; be more precise (more words, or a path)", shown)


def unknown_message(store: Store, query: str) -> str:
    """'no track matches …' with "did you mean" suggestions when close names exist."""
    suggestions = suggest(store, query)
    hint = (f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions
            else "; try other words or a path (`prefrec search WORDS` browses the library)")
    return f"no track matches {query!r}{hint}"


def suggest(store: Store, query: str, *, count: int = 3) -> list[str]:
    """Names of up to `count` tracks the listener may have meant by `query`, which matches none:
    its unknown words replaced by the closest words of the library's names with the same first
    letter (typos, a word cut short), else the tracks holding most of its words."""
    words = search_words(query)[:MAX_WORDS]
    if not words:
        return []
    known = store.known_words(words)
    options: list[list[str]] = []
    for word in words:
        if word in known:
            options.append([word])
            continue
        pool = store.vocabulary(initial=word[0], min_length=max(1, len(word) - 3), max_length=len(word) + 3)
        close = difflib.get_close_matches(word, pool, n=2, cutoff=0.7)
        close += [w for w in pool if len(w) > len(word) and w.startswith(word) and w not in close][:1]
        options.append(close)
    found: list[Track] = []
    if all(options):
        for combination in _combinations(options, limit=6):
            found += find(store, " ".join(combination), limit=20)
    if not found:
        found = store.match_words([w for w in words if w in known], limit=count * 4, any_word=True)
    labels: list[str] = []
    for track in _one_per_recording(store, found):
        label = track_label(track)
        if label not in labels:
            labels.append(label)
    return labels[:count]


def _combinations(options: list[list[str]], *, limit: int) -> list[list[str]]:
    """The first `limit` ways of taking one word from each list, best (first) words first."""
    combos: list[list[str]] = [[]]
    for choices in options:
        combos = [c + [w] for c in combos for w in choices][:limit]
    return combos


# -- several tracks at once -------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The tracks a rating command names, one per recording, and how they were named.

    group: a description when they were named as a group ("album 'Blue'", "folder /m/jazz",
    "3 paths"), for the message that says how many; None for one track named by itself.
    """

    tracks: list[Track]
    group: str | None = None


def select(store: Store, targets: list[str], *, artist: str | None = None, album: str | None = None,
           choose: Chooser | None = None, paths_only: bool = False) -> Selection:
    """What `like`/`skip` were given: TARGETS (paths, folders, `file://` URIs, or words: several
    arguments that are not paths are one name, so quotes are not needed), or every track of
    `artist` and/or `album`. paths_only: every target is a path (lines read from stdin). All or
    nothing: raises on the first thing that does not resolve."""
    targets = [t for t in targets if t.strip()]
    if (artist is not None or album is not None) and targets:
        raise UsageError("name tracks either by TRACK or by --artist/--album, not both")
    if artist is not None or album is not None:
        ensure_scanned(store)
        parts, tracks = [], None
        for kind, text in (("artist", artist), ("album", album)):
            if text is None:
                continue
            name = resolve_name(kind, text, store.distinct_names(kind))
            named = store.tracks_named(**{kind: name})
            tracks = named if tracks is None else [t for t in tracks if t.id in {n.id for n in named}]
            parts.append(f"{kind} {name!r}")
        if not tracks:
            raise UnknownTrack(f"no track is by {' on '.join(parts)}")
        return Selection(_one_per_recording(store, tracks), " and ".join(parts))
    if not targets:
        raise UsageError("name a track: a path, words from its title, artist or file name, or --artist/--album")
    ensure_scanned(store)
    paths = [path_of(t) for t in targets]
    if not paths_only and not any(p is not None for p in paths):
        return Selection([_pick(store, " ".join(targets), choose)])
    tracks: list[Track] = []
    for text, path in zip(targets, paths):
        if path is None:
            raise UnknownTrack(f"{text}: no such file" + ("" if paths_only else
                                                          " (the other arguments are paths; quote words as one name)"))
        tracks += _tracks_at(store, text, path)
    folders = sum(1 for p in paths if p is not None and os.path.isdir(os.path.realpath(p)))
    group = None
    if folders == 1 and len(targets) == 1:
        group = f"folder {os.path.realpath(paths[0])}"
    elif len(targets) > 1 or folders:
        group = f"{len(targets)} paths"
    return Selection(_one_per_recording(store, tracks), group)


# -- artist, album and folder names ----------------------------------------------------------------


def resolve_name(kind: str, text: str, names: list[str], *, banned: bool = False) -> str:
    """The one artist/album name in `names` that `text` means: equal ignoring case and accents,
    else the only one containing it. Raises UnknownName / AmbiguousName (with suggestions)."""
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
    close = difflib.get_close_matches(wanted, {normalize_text(n): n for n in names}, n=3, cutoff=0.6)
    by_norm = {normalize_text(n): n for n in names}
    hint = (f"; did you mean {' or '.join(repr(by_norm[c]) for c in close)}?" if close
            else "; check the spelling (`prefrec list` shows the library)")
    raise UnknownName(f"no {kind} in the library matches {text!r}{hint}")


def resolve_folder(store: Store, text: str) -> str:
    """The absolute folder `text` names: an existing folder (relative or absolute), else the one
    folder of the library whose name is or contains `text`. Raises UnknownName/AmbiguousName."""
    path = path_of(text) or text
    if os.path.isdir(path):
        return os.path.realpath(path)
    folders = store.folders()
    wanted = normalize_text(text.strip().rstrip("/"))
    if not wanted:
        raise UsageError("--folder: give a folder")
    exact = [f for f in folders if normalize_text(os.path.basename(f)) == wanted]
    partial = exact or [f for f in folders if wanted in normalize_text(os.path.basename(f))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousName(f"{text!r} matches {len(partial)} folders; give more of its name or its path", partial)
    raise UnknownName(f"no folder of the library is called {text!r}; give its path")


# -- how tracks are shown and grouped ----------------------------------------------------------------


def banned_by(track: Track, bans: list[Ban], *, equivalents: frozenset[str] | set[str] = frozenset()) -> Ban | None:
    """The first of `bans` that covers `track`: its music (or another file of the same recording,
    whose identities are `equivalents`), its artist or its album."""
    keys = ({("track", i) for i in {track.identity, *equivalents}}
            | {(k, v) for k, v in diversity_keys(track) if k in ("artist", "album")})
    return next((b for b in bans if (b.kind, b.value) in keys), None)


def track_label(track: Track) -> str:
    return f"{track.artist} – {track.title}" if track.artist else track.title


def folder_of(track: Track) -> str:
    return os.path.dirname(track.path)


def diversity_keys(track: Track) -> list[tuple[str, str]]:
    """What a list should not repeat too often: ("artist", name) when tagged, and ("album", name)
    when tagged, else ("folder", its folder): an untagged library is spread over its folders."""
    keys = []
    if track.artist:
        keys.append(("artist", normalize_text(track.artist)))
    if track.album:
        keys.append(("album", normalize_text(track.album)))
    else:
        keys.append(("folder", folder_of(track)))
    return keys
