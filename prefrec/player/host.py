"""The daemon's side of the player: record what the client reports, answer what it asks.

The player client runs on its own thread (PlayerThread); `PlayerHost` gives it a database thread
of its own, with its own connection, on which every write and every question runs, in order:

- a `SessionRecord` becomes a `session` observation, a `PlayerAct` a `like`/`skip` act (with its
  position) or a track ban, each in one short `BEGIN IMMEDIATE` transaction, committed durably
  at once (nothing waits for the daemon's main loop, which may be busy rescanning; the daemon
  sees the new feedback through the log's ids as it does for the CLI's);
- `PlayerState` and `UnknownSong` go to the `meta` table as JSON (`player_state`) for `status`;
- `StoreLibrary` answers the client's questions (paths, candidates, neighbours, plays, bans).

A song that maps to no track of the library is logged once and counted, never an error.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prefrec.errors import PrefrecError
from prefrec.player import STATE_KEY
from prefrec.player.base import Candidate, PlayerAct, PlayerState, UnknownSong
from prefrec.player.sessions import SessionRecord

if TYPE_CHECKING:
    from prefrec.config import Settings
    from prefrec.player.runner import PlayerThread
    from prefrec.service import Service
    from prefrec.store import Track

log = logging.getLogger("prefrec.player")



class StoreLibrary:
    """prefrec.player.base.Library over a Service (call it on one thread: the host's)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def store(self):  # -> Store
        return self.service.store

    def track(self, path: str) -> Track | None:
        """The present track at `path`, if any."""
        return next((t for t in self.store.tracks_by_path(path) if not t.gone), None)

    def paths_ending_with(self, suffix: str) -> list[str]:
        return self.store.paths_ending_with(suffix)

    def knows(self, path: str) -> bool:
        return self.track(path) is not None

    def _candidate(self, track: Track, score: float, similarity: float | None = None) -> Candidate:
        return Candidate(track.path, score, track.artist, track.album, track.duration_s, similarity)

    def candidates(self, n: int) -> list[Candidate]:
        """The recommendations, best first; before there is a ranking, tracks neither banned nor
        skipped, in an order that changes daily (something to listen to, and so to learn from)."""
        from prefrec.service.names import banned_by
        from prefrec.store import RecommendFilter

        if self.store.ranked_model_id() is not None:
            out = []
            for ranked in self.store.candidates(RecommendFilter()):
                out.append(self._candidate(ranked.track, ranked.score))
                if len(out) >= n:
                    break
            if out:
                return out
        bans = self.store.bans()
        skipped = {i for i, r in self.store.ratings().items() if r.kind == "skip"}
        tracks = [t for t in self.store.tracks() if banned_by(t, bans) is None and t.identity not in skipped]
        random.Random(int(time.time() // 86400)).shuffle(tracks)
        return [self._candidate(t, 0.5) for t in tracks[:n]]

    def neighbours(self, path: str, n: int) -> list[Candidate]:
        """Nearest first; banned tracks and tracks you skipped left out."""
        from prefrec.service.names import banned_by

        track = self.track(path)
        if track is None:
            return []
        bans = self.store.bans()
        skipped = {i for i, r in self.store.ratings().items() if r.kind == "skip"}
        out = []
        for near in self.service.queries.nearest(track, n):
            if banned_by(near.track, bans) is None and near.track.identity not in skipped:
                rank = self.store.rank_of(near.track.identity)
                out.append(self._candidate(near.track, rank[1] if rank else 0.0, near.similarity))
        return out

    def last_played(self, since: float) -> dict[str, float]:
        played = self.store.played_since(since)
        return {t.path: played[t.identity] for identity in played
                for t in self.store.tracks_by_identity(identity) if not t.gone}

    def banned(self, paths: list[str]) -> set[str]:
        from prefrec.service.names import banned_by

        bans = self.store.bans()
        return {p for p in paths if (t := self.track(p)) is not None and banned_by(t, bans) is not None}


class _OnHostThread:
    """A Library whose calls run on the host's database thread (the client calls it from others)."""

    def __init__(self, host: PlayerHost) -> None:
        self._host = host

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(StoreLibrary, name)

        def call(*args: Any) -> Any:
            return self._host.run(lambda: method(self._host.library_now, *args))
        return call


class PlayerHost:
    """Records a player client's events and answers its questions on one database thread."""

    def __init__(self, settings: Settings, source: str) -> None:
        self.settings = settings
        self.source = source
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"player-{source}-db")
        self._service: Service | None = None
        self.unknown: set[str] = set()
        self.state: PlayerState | None = None
        self.library = _OnHostThread(self)

    # -- the database thread ---------------------------------------------------------------------

    @property
    def library_now(self) -> StoreLibrary:
        """The StoreLibrary (only on the host's thread)."""
        from prefrec.service import Service

        if self._service is None:
            self._service = Service(self.settings)
        return StoreLibrary(self._service)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the database thread and wait for its result."""
        return self._pool.submit(fn).result()

    def emit(self, event: Any) -> None:
        """The client's callback (any thread): queue the event for the database thread, in order."""
        self._pool.submit(self._record, event)

    def _record(self, event: Any) -> None:
        try:
            if isinstance(event, SessionRecord):
                self._session(event)
            elif isinstance(event, PlayerAct):
                self._act(event)
            elif isinstance(event, UnknownSong):
                if event.uri not in self.unknown:
                    self.unknown.add(event.uri)
                    self._publish()
            elif isinstance(event, PlayerState):
                if event.connected != (self.state.connected if self.state else None) or event.retry_in_s:
                    log.info("player %s: %s%s", event.source, "connected" if event.connected else "away",
                             f" ({event.detail})" if event.detail else "")
                self.state = event
                self._publish()
        except PrefrecError as exc:
            log.error("could not record what %s reported (%s): %s", self.source, type(event).__name__, exc)
        except Exception:  # noqa: BLE001 - a bug must not stop the recording of the next events
            log.exception("could not record what %s reported (%s)", self.source, type(event).__name__)

    def _known(self, path: str | None, uri: str) -> Track | None:
        track = self.library_now.track(path) if path else None
        if track is None and uri not in self.unknown:
            self.unknown.add(uri)
            log.info("%s plays a song prefrec does not know (not analysed, or outside the library): %s",
                     self.source, uri)
            self._publish()
        return track

    def _session(self, record: SessionRecord) -> None:
        from prefrec.feedback import Observation

        track = self._known(record.song.path, record.song.uri)
        if track is None:
            return
        session = record.session()
        self.library_now.store.add_observation(Observation(track.identity, track.path, record.source,
                                                           session=session, happened_at=session.started_at))

    def _act(self, act: PlayerAct) -> None:
        from prefrec.feedback import Act
        from prefrec.service.names import track_label

        track = self._known(act.song.path, act.song.uri)
        if track is None:
            log.info("%s over %s ignored: the song is not in the library", act.kind, act.source)
            return
        store = self.library_now.store
        if act.kind == "ban":
            store.add_ban("track", track.identity, track_label(track))
        else:
            store.add_act(Act(track.identity, track.path, act.kind, act.source,
                              position_s=act.position_s if act.kind == "skip" else None))
        log.info("%s %s (from %s)", act.kind, track.path, act.source)

    def _publish(self) -> None:
        state = self.state
        data = {"player": self.source, "connected": bool(state and state.connected),
                "since": state.since if state else None, "retry_in_s": state.retry_in_s if state else None,
                "detail": state.detail if state else "", "unknown_songs": len(self.unknown),
                "updated_at": time.time()}
        self.library_now.store.set_meta(STATE_KEY, json.dumps(data))

    def close(self) -> None:
        """Finish what is queued, then close the database connection."""
        def finish() -> None:
            if self._service is not None:
                self._service.close()
                self._service = None
        self._pool.submit(finish)
        self._pool.shutdown(wait=True)


def start_player(settings: Settings, *, autoqueue: bool | None = None) -> tuple[PlayerThread, PlayerHost] | None:
    """Start following the configured player (None when `player` is "none"). Never raises for a
    player that is not there: the client retries with back-off."""
    from prefrec.player.runner import PlayerThread

    if settings.player == "none":
        return None
    host = PlayerHost(settings, settings.player)
    client: Any
    if settings.player == "mpd":
        from prefrec.player.mpd import MpdPlayer, mpd_addresses
        from prefrec.player.queue import Policy

        addresses = mpd_addresses(host=settings.mpd_host or None, port=settings.mpd_port or None,
                                  password=settings.mpd_password or None)
        queue = settings.autoqueue if autoqueue is None else autoqueue
        policy = Policy(keep=settings.autoqueue_keep, cooldown_s=settings.autoqueue_cooldown_h * 3600.0)
        client = MpdPlayer(addresses, host.library, host.emit, music_directory=settings.mpd_music_directory or None,
                           autoqueue=policy if queue else None, rules=settings.label_rules(), radio_policy=policy)
        log.info("following MPD at %s%s", " or ".join(map(str, addresses)), " with the autoqueue" if queue else "")
    else:
        from prefrec.player.mpris import MprisPlayer

        client = MprisPlayer(host.library, host.emit, bus_name=settings.mpris_player or None)
        log.info("following %s over D-Bus", settings.mpris_player or "the first MPRIS player")
    return PlayerThread(client).start(), host


def stop_player(running: tuple[PlayerThread, PlayerHost] | None) -> None:
    """Stop the client (its open session is recorded as 'gone'), then the host."""
    if running is None:
        return
    thread, host = running
    thread.stop()
    host.close()
