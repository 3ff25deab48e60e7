"""Use-cases by which the listener steers: rate, forget, ban, history, import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefrec.errors import UnknownName, UsageError
from prefrec.feedback import Act
from prefrec.service.base import Controller
from prefrec.service.names import banned_by, parse_position, resolve, resolve_name, track_label
from prefrec.store import Ban, FeedbackEvent, FeedbackSource, Rating, Track, normalize_text

if TYPE_CHECKING:
    from prefrec.service.importing import ImportReport


@dataclass(frozen=True)
class RateResult:
    track: Track
    kind: str
    position_s: float | None
    feedback_id: int


@dataclass(frozen=True)
class ForgetResult:
    track: Track
    withdrawn: Rating | None  # the rating taken back, if there was one
    feedback_id: int | None  # None when there was nothing to withdraw (nothing written)
    rows: int = 0  # how many rows of the log (rating, sessions, counts) it withdrew




class ControlController(Controller):
    """Ratings, forgetting, bans and the feedback history."""

    def rate(self, query: str, kind: str, *, at: str | None = None, source: str = "cli") -> RateResult:
        """Record a like or skip (skip optionally at a position) for the track `query` names."""
        if kind not in ("like", "skip"):
            raise ValueError(kind)
        position = parse_position(at) if at is not None else None
        if position is not None and kind != "skip":
            raise UsageError("--at only goes with skip")
        track = resolve(self.store, query)  # before any write: nothing is written for an unresolved track
        if position is not None and position > track.duration_s + 1:
            raise UsageError(f"--at {at}: the track is only {track.duration_s:.0f} s long")
        feedback_id = self.store.add_act(Act(track.identity, track.path, kind, source, position_s=position))
        return RateResult(track, kind, position, feedback_id)

    def _ban_target(self, query: str | None, artist: str | None, album: str | None, *,
                    among_bans: bool) -> tuple[str, str, str]:
        """(kind, value, label) of what a ban/unban names: exactly one of track, artist, album."""
        given = [(k, v) for k, v in (("track", query), ("artist", artist), ("album", album)) if v is not None]
        if len(given) != 1:
            raise UsageError("name one thing: a TRACK, or --artist NAME, or --album NAME")
        kind, text = given[0]
        if kind == "track":
            track = resolve(self.store, text)
            return "track", track.identity, track_label(track)
        names = ([b.label for b in self.store.bans() if b.kind == kind] if among_bans
                 else self.store.distinct_names(kind))
        name = resolve_name(kind, text, names, banned=among_bans)
        return kind, normalize_text(name), name

    def ban(self, query: str | None = None, *, artist: str | None = None,
            album: str | None = None) -> tuple[Ban, bool]:
        """Never recommend a track (by its music, whatever the file), an artist or an album.
        Returns the ban and whether it is new."""
        kind, value, label = self._ban_target(query, artist, album, among_bans=False)
        added = self.store.add_ban(kind, value, label)
        return next(b for b in self.store.bans() if (b.kind, b.value) == (kind, value)), added

    def unban(self, query: str | None = None, *, artist: str | None = None,
              album: str | None = None) -> Ban:
        """Lift a ban; raises UnknownName when the thing named is not banned."""
        kind, value, label = self._ban_target(query, artist, album, among_bans=True)
        ban = next((b for b in self.store.bans() if (b.kind, b.value) == (kind, value)), None)
        if ban is None or not self.store.remove_ban(kind, value):
            raise UnknownName(f"{label} is not banned; `prefrec ban` lists the bans")
        return ban

    def bans(self) -> list[Ban]:
        return self.store.bans()

    def ban_of(self, track: Track) -> Ban | None:
        """The ban that keeps `track` out of recommendations, if any."""
        return banned_by(track, self.store.bans())

    def forget(self, query: str) -> ForgetResult:
        """Withdraw everything said and seen about a track's music (its rating, player sessions,
        imported counts): appends a 'forget' row, nothing is deleted. Writes nothing when there is
        nothing left to withdraw."""
        track = resolve(self.store, query)
        live = [r for r in self.store.feedback_log(identity=track.identity)
                if r.identity == track.identity and not r.withdrawn and r.kind != "forget"]
        if not live:
            return ForgetResult(track, None, None, 0)
        rating = self.store.rating_of(track.identity)
        feedback_id = self.store.add_act(Act(track.identity, track.path, "forget"))
        return ForgetResult(track, rating, feedback_id, len(live))

    def history(self, n: int = 20, *, source: str | None = None) -> list[FeedbackEvent]:
        """The latest `n` rows of the feedback log (acts and observations; of one `source` if given:
        'cli', 'mpd', 'import:itunes' or just 'itunes'), newest first; each session with what the
        label rules make of it (a withdrawn one means nothing)."""
        from dataclasses import replace

        from prefrec.labels import session_meanings

        if source is not None and source not in ("cli", "mpd", "mpris") and not source.startswith("import:"):
            source = f"import:{source}"
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
        return run_import(self.store, source, dry_run=dry_run, as_opinion=as_opinion,  # type: ignore[arg-type]
                          music_dir=music_dir, format=format)

    def forget_source(self, name: str) -> FeedbackSource:
        """Withdraw everything an import gave, as one event (nothing is deleted)."""
        from prefrec.service.importing import forget_source

        return forget_source(self.store, name)

    def feedback_sources(self) -> list[FeedbackSource]:
        return self.store.feedback_sources()

