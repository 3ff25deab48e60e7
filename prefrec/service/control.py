"""Use-cases by which the listener steers: rate, forget, ban, history, import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefrec.errors import UnknownName, UsageError
from prefrec.feedback import Act
from prefrec.service.base import Controller
from prefrec.service.names import (
    Chooser,
    banned_by,
    ensure_scanned,
    parse_position,
    resolve,
    resolve_name,
    select,
    track_label,
)
from prefrec.store import Ban, FeedbackEvent, FeedbackSource, Rating, Track, normalize_text

if TYPE_CHECKING:
    from prefrec.service.importing import ImportReport


@dataclass(frozen=True)
class Rated:
    """One track rated, and its rating before (None if it had none): a like after a skip reverses it."""

    track: Track
    previous: Rating | None


@dataclass(frozen=True)
class RateResult:
    """What `like`/`skip` recorded.

    rated: each track and its rating before; group: how the tracks were named when as a group
    (names.Selection.group); daemon_pid: the daemon that will retrain on its own, if one runs;
    retrain_in_s: when it will (its quiet period), for the message.
    """

    rated: list[Rated]
    kind: str
    position_s: float | None
    feedback_ids: list[int]
    group: str | None = None
    daemon_pid: int | None = None
    retrain_in_s: float | None = None

    @property
    def track(self) -> Track:
        return self.rated[0].track

    @property
    def feedback_id(self) -> int:
        return self.feedback_ids[0]


@dataclass(frozen=True)
class ForgetResult:
    track: Track
    withdrawn: Rating | None  # the rating taken back, if there was one
    feedback_id: int | None  # None when there was nothing to withdraw (nothing written)
    rows: int = 0  # how many rows of the log (rating, sessions, counts) it withdrew
    nothing_left: bool = False  # no rating or observation is left at all: back to the starter set
    daemon_pid: int | None = None


class ControlController(Controller):
    """Ratings, forgetting, bans and the feedback history."""

    def rate(self, query: str | list[str], kind: str, *, at: str | None = None, source: str = "cli",
             artist: str | None = None, album: str | None = None, choose: Chooser | None = None,
             paths_only: bool = False) -> RateResult:
        """Record a like or skip (skip optionally at a position) for the tracks `query` names: a
        path, words, several paths, a folder, or (with `artist`/`album`) every track of those
        (names.select). Resolves everything before writing: nothing is written when a name does
        not resolve. Each piece of music is rated once, whichever of its files was named."""
        from prefrec.lock import running_daemon_pid

        if kind not in ("like", "skip"):
            raise ValueError(kind)
        position = parse_position(at) if at is not None else None
        if position is not None and kind != "skip":
            raise UsageError("--at only goes with skip")
        targets = [query] if isinstance(query, str) else list(query)
        selection = select(self.store, targets, artist=artist, album=album, choose=choose, paths_only=paths_only)
        if position is not None and len(selection.tracks) > 1:
            raise UsageError("--at gives where you skipped one track; name one track with it")
        track = selection.tracks[0]
        if position is not None and position > track.duration_s + 1:
            raise UsageError(f"--at {at}: the track is only {track.duration_s:.0f} s long")
        ratings = self.store.ratings()
        rated = [Rated(t, ratings.get(t.identity)) for t in selection.tracks]
        ids = self.store.add_acts([Act(t.identity, t.path, kind, source, position_s=position)
                                   for t in selection.tracks])
        pid = running_daemon_pid(self.settings.home)
        return RateResult(rated, kind, position, ids, selection.group, pid,
                          self.settings.quiet_period_s if pid else None)

    def _ban_target(self, query: str | None, artist: str | None, album: str | None, *,
                    among_bans: bool, choose: Chooser | None = None) -> tuple[str, str, str]:
        """(kind, value, label) of what a ban/unban names: exactly one of track, artist, album."""
        ensure_scanned(self.store)
        given = [(k, v) for k, v in (("track", query), ("artist", artist), ("album", album)) if v is not None]
        if len(given) != 1:
            raise UsageError("name one thing: a TRACK, or --artist NAME, or --album NAME")
        kind, text = given[0]
        if kind == "track":
            track = resolve(self.store, text, choose=choose)
            return "track", track.identity, track_label(track)
        names = ([b.label for b in self.store.bans() if b.kind == kind] if among_bans
                 else self.store.distinct_names(kind))
        name = resolve_name(kind, text, names, banned=among_bans)
        return kind, normalize_text(name), name

    def ban(self, query: str | None = None, *, artist: str | None = None,
            album: str | None = None, choose: Chooser | None = None) -> tuple[Ban, bool]:
        """Never recommend a track (by its music, whatever the file), an artist or an album.
        Returns the ban and whether it is new."""
        kind, value, label = self._ban_target(query, artist, album, among_bans=False, choose=choose)
        added = self.store.add_ban(kind, value, label)
        return next(b for b in self.store.bans() if (b.kind, b.value) == (kind, value)), added

    def unban(self, query: str | None = None, *, artist: str | None = None,
              album: str | None = None, choose: Chooser | None = None) -> Ban:
        """Lift a ban; raises UnknownName when the thing named is not banned."""
        kind, value, label = self._ban_target(query, artist, album, among_bans=True, choose=choose)
        values = set(self.store.equivalents(value)) if kind == "track" else {value}
        ban = next((b for b in self.store.bans() if b.kind == kind and b.value in values), None)
        if ban is not None:
            value = ban.value
        if ban is None or not self.store.remove_ban(kind, value):
            raise UnknownName(f"{label} is not banned; `prefrec ban` lists the bans")
        return ban

    def bans(self) -> list[Ban]:
        return self.store.bans()

    def ban_of(self, track: Track) -> Ban | None:
        """The ban that keeps `track` out of recommendations, if any (a ban of another file of
        the same recording counts)."""
        return banned_by(track, self.store.bans(), equivalents=set(self.store.equivalents(track.identity)))

    def forget(self, query: str | list[str], *, choose: Chooser | None = None) -> ForgetResult:
        """Withdraw everything said and seen about a track's music (its rating, player sessions,
        imported counts), whichever of its files it was given to: appends a 'forget' row per file
        of the recording that has something to withdraw; nothing is deleted. Writes nothing when
        there is nothing left to withdraw. When nothing at all is left in the log, the ranking
        built from it is set aside too (recommend offers the starter set again)."""
        from prefrec.lock import running_daemon_pid

        track = resolve(self.store, " ".join(query) if isinstance(query, list) else query, choose=choose)
        rating = self.store.rating_of(track.identity)
        live: dict[str, list] = {}
        for member in self.store.equivalents(track.identity):
            rows = [r for r in self.store.feedback_log(identity=member)
                    if r.identity == member and not r.withdrawn and r.kind != "forget"]
            if rows:
                live[member] = rows
        if not live:
            return ForgetResult(track, None, None, 0)
        ids = self.store.add_acts([Act(member, rows[-1].path, "forget") for member, rows in sorted(live.items())])
        nothing_left = not self.store.has_live_feedback()
        if nothing_left:
            self.store.clear_rankings()
        return ForgetResult(track, rating, ids[-1], sum(len(r) for r in live.values()), nothing_left,
                            running_daemon_pid(self.settings.home))

    def history(self, n: int = 20, *, source: str | None = None) -> list[FeedbackEvent]:
        """The latest `n` rows of the feedback log (acts and observations; of one `source` if given:
        'cli', 'mpd', 'import:itunes' or just 'itunes'), newest first; each session with what the
        label rules make of it (a withdrawn one means nothing)."""
        from dataclasses import replace

        from prefrec.labels import session_meanings

        if source is not None and source not in ("cli", "mpd", "mpris") and not source.startswith("import:"):
            source = f"import:{source}"
        if not self.store.last_feedback_id():  # nothing said yet: maybe nothing scanned either
            ensure_scanned(self.store)
        events = self.store.history(n, source=source)
        rules = self.settings.label_rules()
        meanings: dict[int, str] = {}
        for identity in {e.row.identity for e in events if e.row.kind == "session"}:
            meanings.update(session_meanings(self.store.feedback_log(identity=identity), rules))
        return [replace(e, means=meanings.get(e.row.id, "nothing")) if e.row.kind == "session" else e
                for e in events]

    def import_source(self, source: str, *, dry_run: bool = False, as_opinion: str | None = None,
                      music_dir: str | None = None, format: str | None = None) -> ImportReport:
        """Import ratings and counts from another program or a playlist (see service.importing)."""
        from prefrec.service.importing import run_import

        if as_opinion is not None and as_opinion not in ("like", "skip"):
            raise UsageError(f"--as {as_opinion}: say like or skip")
        ensure_scanned(self.store)  # entries are matched to the analysed library
        return run_import(self.store, source, dry_run=dry_run, as_opinion=as_opinion,  # type: ignore[arg-type]
                          music_dir=music_dir, format=format)

    def forget_source(self, name: str) -> FeedbackSource:
        """Withdraw everything an import gave, as one event (nothing is deleted)."""
        from prefrec.service.importing import forget_source

        forgotten = forget_source(self.store, name)
        if not self.store.has_live_feedback():  # nothing left to learn from: set the ranking aside
            self.store.clear_rankings()
        return forgotten

    def feedback_sources(self) -> list[FeedbackSource]:
        return self.store.feedback_sources()

