"""Finding an imported entry in the listener's library: a ladder of ever looser evidence.

1. `path`: the entry's absolute path is a library file (compared in Unicode NFC: macOS writes
   decomposed accents).
2. `relative`: the entry's path relative to the source's music folder exists under one of the
   library roots; failing that, the last 2-4 parts of its path (folder and file name, compared
   ignoring case) name exactly one library file — a library moved to another disk or machine —
   or, with the extension left out, exactly one file re-encoded to another format. Such a tail is
   refused when the artist or the duration says it is other music.
3. `mbid`: both sides have a MusicBrainz recording id and they are equal.
4. `tags`: normalised artist + title are equal (case, accents, punctuation, a leading track
   number, "feat." credits and "(Remastered)"-style suffixes ignored) and durations agree within the tolerance
   (max(3 s, 2 %) by default). With several candidates, the album and then the closest duration
   decide. An entry without artist matches on title alone only when both durations are known.

An entry that climbs no rung is unmatched; its closest library track (by similarity of artist,
title and file name, among tracks sharing a word with it) is reported with why it was not taken.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prefrec.importers.base import Entry, is_absolute, to_slashes
from prefrec.store import normalize_text

HOW = ("path", "relative", "mbid", "tags")
HINT_TOLERANCE_S = 1.0  # a closest-track hint from folder and duration alone (M3U rounds to seconds)


@dataclass(frozen=True)
class LibraryTrack:
    """A track of the library as the matcher sees it. path: absolute, as the store records it."""

    path: str
    identity: str = ""
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    duration_s: float | None = None
    mbid: str | None = None


@dataclass(frozen=True)
class Match:
    """The outcome for one entry. how: a rung of HOW, or None when unmatched.

    detail: how exactly ('under /music', 'last 2 path parts', 'duration 181.0 vs 182.7 s').
    closest / closest_why: for an unmatched entry, the most similar track and why it was not taken.
    """

    entry: Entry
    track: LibraryTrack | None
    how: str | None
    detail: str = ""
    closest: LibraryTrack | None = None
    closest_why: str = ""


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_BRACKETS = re.compile(r"\s*[\(\[][^\)\]]*\b(remaster\w*|remix\w*|live|mono|stereo|edit|version|demo|"
                       r"feat\.?|ft\.?|featuring|bonus|explicit|deluxe)\b[^\)\]]*[\)\]]", re.IGNORECASE)
_FEAT = re.compile(r"\s+(feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)
_DASH_VERSION = re.compile(r"\s+-\s+(\d{4}\s+)?(digital(ly)?\s+)?(remaster\w*|live\b|mono\b|stereo\b|single\s+version|"
                           r"radio\s+edit|album\s+version|bonus\s+track)[^-]*$", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+")
_TRACK_NUMBER = re.compile(r"^\s*\d{1,3}(\s*[-._)]\s*|\s+)(?=\S)")


def normalise(text: str | None, *, artist: bool = False) -> str:
    """Lower case, accents and punctuation dropped, '&' as 'and', featured credits and
    version suffixes ('(Remastered 2011)', '[Live]') removed, words single-spaced."""
    if not text:
        return ""
    if not artist:
        text = _TRACK_NUMBER.sub("", text)  # '07 - Song', '07. Song': file names used as titles
    text = _BRACKETS.sub("", text)
    text = _FEAT.sub("", text)
    text = _DASH_VERSION.sub("", text)
    text = normalize_text(text)
    text = text.replace("&", " and ")
    text = _NON_WORD.sub(" ", text).strip()
    if artist and text.startswith("the "):
        text = text[4:]
    return text


def _parts(path: str) -> list[str]:
    return [p for p in _nfc(to_slashes(path)).casefold().split("/") if p]


class Matcher:
    """Matches entries against one library; build once, then call `match` per entry.

    roots: the library's root folders (absolute). Indexes are built in O(n) over the tracks.
    """

    def __init__(self, tracks: Iterable[LibraryTrack], *, roots: Sequence[str] = (),
                 duration_tolerance_s: float = 3.0, duration_tolerance_fraction: float = 0.02) -> None:
        self.tracks = list(tracks)
        self.roots = [to_slashes(r).rstrip("/") for r in roots]
        self.tolerance_s = duration_tolerance_s
        self.tolerance_fraction = duration_tolerance_fraction
        self._by_path: dict[str, LibraryTrack] = {}
        self._by_suffix: dict[tuple[str, ...], list[LibraryTrack]] = defaultdict(list)
        self._by_stem_suffix: dict[tuple[str, ...], list[LibraryTrack]] = defaultdict(list)
        self._by_mbid: dict[str, list[LibraryTrack]] = defaultdict(list)
        self._by_tags: dict[tuple[str, str], list[LibraryTrack]] = defaultdict(list)
        self._by_title: dict[str, list[LibraryTrack]] = defaultdict(list)
        self._by_folder: dict[str, list[LibraryTrack]] = defaultdict(list)
        self._labels: list[str] = []  # per track: normalised 'artist title file-stem'
        self._word_index: dict[str, list[int]] | None = None  # built when first needed (closest)
        for track in self.tracks:
            self._by_path[_nfc(to_slashes(track.path))] = track
            parts = _parts(track.path)
            for k in range(2, min(4, len(parts)) + 1):
                self._by_suffix[tuple(parts[-k:])].append(track)
                self._by_stem_suffix[_without_extension(parts[-k:])].append(track)
            if track.mbid:
                self._by_mbid[track.mbid.lower()].append(track)
            title, artist = normalise(track.title), normalise(track.artist, artist=True)
            if title:
                self._by_tags[(artist, title)].append(track)
                self._by_title[title].append(track)
            self._labels.append(_join(artist, title, normalise(_stem(track.path))))
            if len(parts) > 1:
                self._by_folder[parts[-2]].append(track)

    # -- the ladder --------------------------------------------------------------------------------

    def match(self, entry: Entry) -> Match:
        """Climb the ladder for one entry (see the module docstring)."""
        for rung in (self._path, self._relative, self._mbid, self._tags):
            found = rung(entry)
            if found is not None:
                return found
        closest, why = self.closest(entry)
        return Match(entry, None, None, closest=closest, closest_why=why)

    def match_all(self, entries: Iterable[Entry]) -> list[Match]:
        return [self.match(e) for e in entries]

    def _path(self, entry: Entry) -> Match | None:
        if entry.path and is_absolute(entry.path):
            track = self._by_path.get(_nfc(to_slashes(entry.path)))
            if track is not None:
                return Match(entry, track, "path")
        return None

    def _relative(self, entry: Entry) -> Match | None:
        rel = entry.relpath
        if rel and not rel.startswith("../") and not is_absolute(rel):
            for root in self.roots:
                track = self._by_path.get(_nfc(to_slashes(f"{root}/{rel}")))
                if track is not None:
                    return Match(entry, track, "relative", f"under {root}")
        parts = _parts(entry.path or rel or "")
        parts = [p for p in parts if p != ".."]
        for index, other, note in ((self._by_suffix, tuple, ""),
                                   (self._by_stem_suffix, _without_extension, ", another file type")):
            for k in range(min(4, len(parts)), 1, -1):
                found = index.get(other(parts[-k:]), [])
                if len(found) == 1 and self._agrees(entry, found[0]):
                    return Match(entry, found[0], "relative", f"last {k} path parts{note}")
                if found:
                    break  # several files share this tail (or it disagrees): shorter tails are no better
        return None

    def _agrees(self, entry: Entry, track: LibraryTrack) -> bool:
        """A path tail found elsewhere is the same music unless the tags or the duration say not."""
        if not self._duration_fits(entry, track):
            return False
        if entry.artist and track.artist and normalise(entry.artist, artist=True) != normalise(track.artist, artist=True):
            return False
        return True

    def _mbid(self, entry: Entry) -> Match | None:
        if not entry.mbid:
            return None
        found = self._by_mbid.get(entry.mbid.lower(), [])
        if not found:
            return None
        track = min(found, key=lambda t: self._gap(entry, t) if self._gap(entry, t) is not None else 0.0)
        return Match(entry, track, "mbid")

    def _tags(self, entry: Entry) -> Match | None:
        title = normalise(entry.title)
        if not title:
            return None
        artist = normalise(entry.artist, artist=True)
        if artist:
            candidates = self._by_tags.get((artist, title), [])
        elif entry.duration_s:
            candidates = [t for t in self._by_title.get(title, []) if t.duration_s]
        else:
            return None
        fitting = [t for t in candidates if self._duration_fits(entry, t)]
        if not fitting:
            return None
        album = normalise(entry.album)

        def rank(track: LibraryTrack) -> tuple[int, float]:
            gap = self._gap(entry, track)
            return (0 if album and normalise(track.album) == album else 1, gap if gap is not None else 0.0)

        track = min(fitting, key=rank)
        gap = self._gap(entry, track)
        detail = f"duration {entry.duration_s:.1f} vs {track.duration_s:.1f} s" if gap is not None else "no duration"
        if len(fitting) > 1:
            detail += f", best of {len(fitting)}"
        return Match(entry, track, "tags", detail)

    # -- durations and the closest candidate -----------------------------------------------------------

    def _gap(self, entry: Entry, track: LibraryTrack) -> float | None:
        if entry.duration_s is None or track.duration_s is None:
            return None
        return abs(entry.duration_s - track.duration_s)

    def _duration_fits(self, entry: Entry, track: LibraryTrack) -> bool:
        gap = self._gap(entry, track)
        if gap is None:
            return True
        return gap <= max(self.tolerance_s, self.tolerance_fraction * max(entry.duration_s or 0, track.duration_s or 0))

    def _words(self) -> dict[str, list[int]]:
        if self._word_index is None:
            self._word_index = defaultdict(list)
            for number, label in enumerate(self._labels):
                for word in set(label.split()):
                    if len(word) > 1:
                        self._word_index[word].append(number)
        return self._word_index

    def closest(self, entry: Entry, *, shortlist: int = 5) -> tuple[LibraryTrack | None, str]:
        """The most similar library track and why it was not a match ('' when there is none).

        Candidates share at least one word (of artist, title or file name) with the entry; the
        `shortlist` sharing the largest fraction of words are compared character by character.
        """
        mine = _join(normalise(entry.artist, artist=True), normalise(entry.title),
                     normalise(_stem(entry.path or entry.relpath or "")))
        words = {w for w in mine.split() if len(w) > 1}
        index = self._words()
        votes: Counter[int] = Counter()
        crowded = max(50, len(self.tracks) // 20)  # words shared by 5 % of the library say little
        for word in words:
            ids = index.get(word, [])
            if len(ids) <= crowded:
                votes.update(ids)
        if not votes:
            return self._same_folder_and_length(entry)

        def dice(item: tuple[int, int]) -> float:
            number, shared = item
            return 2 * shared / (len(words) + len(set(self._labels[number].split())))

        ranked = sorted(votes.items(), key=dice, reverse=True)[:shortlist]
        best = max(ranked, key=lambda item: difflib.SequenceMatcher(None, mine, self._labels[item[0]]).ratio())
        track = self.tracks[best[0]]
        return track, self._why_not(entry, track)

    def _same_folder_and_length(self, entry: Entry) -> tuple[LibraryTrack | None, str]:
        """For an entry sharing no word with any track (a file renamed to 'Track 042'): the track
        of the same folder name whose duration is nearest, if within `HINT_TOLERANCE_S`."""
        parts = _parts(entry.path or entry.relpath or "")
        if len(parts) < 2 or entry.duration_s is None:
            return None, ""
        near = [t for t in self._by_folder.get(parts[-2], [])
                if t.duration_s and abs(t.duration_s - entry.duration_s) <= HINT_TOLERANCE_S]
        if not near:
            return None, ""
        track = min(near, key=lambda t: self._gap(entry, t) or 0.0)
        return track, "only the folder and the duration are alike"

    def _why_not(self, entry: Entry, track: LibraryTrack) -> str:
        reasons = []
        if entry.title and normalise(entry.title) != normalise(track.title):
            reasons.append("title differs")
        if entry.artist and normalise(entry.artist, artist=True) != normalise(track.artist, artist=True):
            reasons.append("artist differs")
        if entry.title and not entry.artist and not entry.duration_s:
            reasons.append("no artist and no duration to confirm the title")
        if not self._duration_fits(entry, track):
            reasons.append(f"duration {entry.duration_s:.0f} s vs {track.duration_s:.0f} s")
        if not entry.title and not reasons:
            reasons.append("only the file name is alike")
        return ", ".join(reasons) or "path differs"


def _without_extension(parts: Sequence[str]) -> tuple[str, ...]:
    """Path parts with the file name's extension dropped (a file re-encoded to another format)."""
    *folders, name = parts
    return (*folders, name.rsplit(".", 1)[0] if "." in name else name)


def _stem(path: str) -> str:
    name = to_slashes(path).rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)
