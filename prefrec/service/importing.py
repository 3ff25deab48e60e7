"""The import use-case: read a source, match it to the library, add only what is new to the log.

Safe to repeat. Every imported row carries its source (`import:<name>`) and the entry's key.
What a source already gave is every row of that source since its last `forget_source` — also
rows that a `forget` of their music withdrew, so that re-importing an unchanged source does not
bring back what the listener took back. For each (entry key, music) an import then adds:
- the entry's opinion (like/skip) when it differs from the last one this source gave;
- counts: the plays and skips beyond those this source already gave (nothing when a count
  went down, e.g. after the other program was reset).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prefrec.errors import UnknownName, UsageError
from prefrec.feedback import Act, LogRow, Observation
from prefrec.importers import Source, read_source
from prefrec.importers.mapping import Opinion, Plan, plan
from prefrec.importers.match import HOW, LibraryTrack, Match, Matcher

if TYPE_CHECKING:
    from prefrec.store import FeedbackSource, Store


@dataclass(frozen=True)
class EntryOutcome:
    """One entry of an import: how it matched, what it says, and what this import adds for it.

    adds_opinion: the like/skip this import records (None: nothing new, or nothing to say).
    adds_plays / adds_skips: counts this import records (0: nothing new).
    """

    match: Match
    plan: Plan
    adds_opinion: Opinion | None = None
    adds_plays: int = 0
    adds_skips: int = 0

    @property
    def adds_anything(self) -> bool:
        return self.adds_opinion is not None or self.adds_plays > 0 or self.adds_skips > 0

    @property
    def says_anything(self) -> bool:
        return self.plan.opinion is not None or self.plan.has_counts


@dataclass
class ImportReport:
    """What an import found and did (or, with dry_run, would do)."""

    source: Source
    log_source: str  # 'import:<name>'
    dry_run: bool
    outcomes: list[EntryOutcome] = field(default_factory=list)
    feedback_ids: list[int] = field(default_factory=list)

    @property
    def matched_by(self) -> dict[str, int]:
        counts = Counter(o.match.how for o in self.outcomes if o.match.how)
        return {how: counts.get(how, 0) for how in HOW}

    @property
    def unmatched(self) -> list[EntryOutcome]:
        return [o for o in self.outcomes if o.match.track is None]

    @property
    def added(self) -> dict[str, int]:
        """What was (with dry_run: would be) added: likes, skips, tracks given counts, and the
        plays and skips those counts hold."""
        return {
            "likes": sum(o.adds_opinion == "like" for o in self.outcomes),
            "skips": sum(o.adds_opinion == "skip" for o in self.outcomes),
            "counted_tracks": sum(o.adds_plays > 0 or o.adds_skips > 0 for o in self.outcomes),
            "plays": sum(o.adds_plays for o in self.outcomes),
            "skipped": sum(o.adds_skips for o in self.outcomes),
        }

    @property
    def unchanged(self) -> int:
        """Matched entries with something to say that this source had already said."""
        return sum(1 for o in self.outcomes if o.match.track is not None and o.says_anything
                   and not o.adds_anything)

    @property
    def silent(self) -> int:
        """Matched entries that say nothing (no rating of note, no counts)."""
        return sum(1 for o in self.outcomes if o.match.track is not None and not o.says_anything)


def log_source_name(name: str) -> str:
    """'itunes' or 'import:itunes' -> 'import:itunes'."""
    return name if name.startswith("import:") else f"import:{name}"


def run_import(store: Store, source_text: str, *, dry_run: bool = False, as_opinion: Opinion | None = None,
               music_dir: str | None = None, format: str | None = None) -> ImportReport:
    """Import `source_text` into `store`; with dry_run nothing is written to the feedback log."""
    source = read_source(source_text, format=format, music_dir=music_dir)
    if as_opinion is not None and source.format != "m3u":
        raise UsageError(f"--as goes with playlists; a {source.format} source carries its own ratings")
    present = store.tracks()
    if any(e.mbid for e in source.entries):
        present = _with_mbids(store, present, save=not dry_run)
    matcher = Matcher(LibraryTrack(t.path, t.identity, t.title, t.artist, t.album, t.duration_s, t.mbid or None)
                      for t in present)
    log_source = log_source_name(source.name)
    given = _given(row for rows in store.imported_keys(log_source).values() for row in rows)
    report = ImportReport(source, log_source, dry_run)
    acts: list[Act] = []
    observations: list[Observation] = []
    for entry in source.entries:
        found = matcher.match(entry)
        what = plan(entry, source.format, as_opinion=as_opinion)
        if found.track is None:
            report.outcomes.append(EntryOutcome(found, what))
            continue
        track = found.track
        last_opinion, plays, skips = given.get((entry.key, track.identity), (None, 0, 0))
        adds_opinion = what.opinion if what.opinion is not None and what.opinion != last_opinion else None
        adds_plays, adds_skips = max(0, what.plays - plays), max(0, what.skips - skips)
        report.outcomes.append(EntryOutcome(found, what, adds_opinion, adds_plays, adds_skips))
        if adds_opinion is not None:
            acts.append(Act(track.identity, track.path, adds_opinion, log_source, key=entry.key))
        if adds_plays or adds_skips:
            observations.append(Observation(track.identity, track.path, log_source, plays=adds_plays,
                                            skips=adds_skips, happened_at=what.last_played, key=entry.key))
    if not dry_run and (acts or observations):
        report.feedback_ids = store.add_import(acts, observations)
    return report


def _with_mbids(store: Store, tracks: list, *, save: bool) -> list:
    """`tracks` with the MusicBrainz ids of files analysed before prefrec read them (once; saved
    unless `save` is False, as in a dry run)."""
    from dataclasses import replace
    from pathlib import Path

    from prefrec.audio import read_tags

    missing = dict(store.tracks_without_mbid())
    if not missing:
        return tracks
    found = {track_id: read_tags(Path(path)).mbid for track_id, path in missing.items()}
    if save:
        store.set_mbids(found)
    return [replace(t, mbid=found[t.id]) if t.id in found else t for t in tracks]


def _given(rows) -> dict[tuple[str, str], tuple[str | None, int, int]]:
    """(key, identity) -> (last opinion, plays, skips) that rows of one source already gave."""
    state: dict[tuple[str, str], tuple[str | None, int, int]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        assert isinstance(row, LogRow)
        opinion, plays, skips = state.get((row.key, row.identity), (None, 0, 0))
        if row.kind in ("like", "skip"):
            opinion = row.kind
        elif row.kind == "counts":
            plays += int(row.detail.get("plays", 0))
            skips += int(row.detail.get("skips", 0))
        state[(row.key, row.identity)] = (opinion, plays, skips)
    return state


def forget_source(store: Store, name: str) -> FeedbackSource:
    """Withdraw every row an import gave (one `forget_source` row; nothing is deleted). Returns
    the source as it was. UnknownName when no import of that name has rows that still count."""
    log_source = log_source_name(name)
    live = {s.source: s for s in store.feedback_sources() if s.source.startswith("import:") and s.live_rows}
    if log_source not in live:
        known = ", ".join(s.removeprefix("import:") for s in live) or "none"
        raise UnknownName(f"no import named '{log_source.removeprefix('import:')}' to forget "
                          f"(imports that still count: {known})")
    store.add_act(Act("", "", "forget_source", log_source))
    return live[log_source]
