"""Use-cases that act on the song the listener's player plays now: like/skip/ban without a TRACK,
and radio. The CLI calls them; they talk to the player in one short conversation each (no daemon
needed, except for radio, which the daemon's MPD client carries out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefrec.errors import NotReady, PrefrecError, UnknownTrack, UsageError
from prefrec.feedback import Act
from prefrec.lock import running_daemon_pid
from prefrec.service.base import Controller
from prefrec.service.control import Rated, RateResult
from prefrec.service.names import resolve, track_label
from prefrec.store import Ban, Track


class PlayerUnavailable(PrefrecError):
    """The configured player cannot be reached, or plays nothing."""


@dataclass(frozen=True)
class Playing:
    """The track the player plays now, where it is in it (seconds), and the player's own key
    for the song (to move on only if it is still the same)."""

    track: Track
    position_s: float | None
    key: str
    player: str


class PlayerController(Controller):
    """like/skip/ban of the song playing now, and radio."""

    def _player(self) -> str:
        player = self.settings.player
        if player == "none":
            raise UsageError(f"name a TRACK, or set player = \"mpd\" or \"mpris\" in {self.settings.config_path} "
                             "to act on the song playing now")
        return player

    def _addresses(self) -> list[Any]:
        from prefrec.player.mpd import mpd_addresses

        s = self.settings
        return mpd_addresses(host=s.mpd_host or None, port=s.mpd_port or None, password=s.mpd_password or None)

    def _where(self) -> str:
        if self.settings.player == "mpd":
            return "MPD at " + " or ".join(map(str, self._addresses()))
        return f"the MPRIS player {self.settings.mpris_player or '(any)'}"

    def now_playing(self) -> Playing:
        """The track playing now; PlayerUnavailable / UnknownTrack otherwise (nothing written)."""
        from prefrec.player.host import StoreLibrary

        player = self._player()
        library = StoreLibrary(self.core)
        try:
            if player == "mpd":
                from prefrec.player.mpd import now_playing

                now: Any = now_playing(self._addresses(), library,
                                       music_directory=self.settings.mpd_music_directory or None)
            else:
                from prefrec.player import mpris

                now = mpris.now_playing(self.settings.mpris_player or None)
        except OSError as exc:
            raise PlayerUnavailable(f"cannot reach {self._where()}: {exc}; is it running? "
                                    "(or name a TRACK)") from exc
        if now.song is None:
            raise PlayerUnavailable(f"{self._where()} plays nothing now; name a TRACK")
        track = library.track(now.song.path) if now.song.path else None
        if track is None:
            raise UnknownTrack(f"{player} plays {now.song.uri}, which prefrec does not know (not analysed yet, "
                               "or outside the library); nothing recorded")
        return Playing(track, now.position_s, now.song.key, player)

    def _advance(self, playing: Playing) -> bool:
        try:
            if playing.player == "mpd":
                from prefrec.player.mpd import advance

                return advance(self._addresses(), playing.key)
            from prefrec.player import mpris

            return mpris.advance(self.settings.mpris_player or None, playing.key)
        except OSError as exc:
            raise PlayerUnavailable(f"recorded, but could not move {self._where()} on: {exc}") from exc

    def rate_current(self, kind: str) -> tuple[RateResult, bool]:
        """Like or skip the song playing now (a skip records where, then moves the player on).
        Returns the result and whether the player moved on."""
        if kind not in ("like", "skip"):
            raise ValueError(kind)
        playing = self.now_playing()
        position = playing.position_s if kind == "skip" else None
        if position is not None:
            position = max(0.0, min(position, playing.track.duration_s))
        previous = self.store.rating_of(playing.track.identity)
        feedback_id = self.store.add_act(Act(playing.track.identity, playing.track.path, kind, "cli",
                                             position_s=position))
        moved = self._advance(playing) if kind == "skip" else False
        pid = running_daemon_pid(self.settings.home)
        return RateResult([Rated(playing.track, previous)], kind, position, [feedback_id], daemon_pid=pid,
                          retrain_in_s=self.settings.quiet_period_s if pid else None), moved

    def ban_current(self) -> tuple[Ban, bool, bool]:
        """Ban the song playing now and move the player on: (the ban, whether new, whether moved)."""
        playing = self.now_playing()
        track = playing.track
        added = self.store.add_ban("track", track.identity, track_label(track))
        ban = next(b for b in self.store.bans() if (b.kind, b.value) == ("track", track.identity))
        return ban, added, self._advance(playing)

    def radio(self, query: str | None = None, *, off: bool = False) -> Track | None:
        """Tell the daemon's MPD client to fill the queue with tracks near `query` (default: the
        song playing now), or to go back to plain recommendations (`off`). Returns the seed."""
        from prefrec.player.mpd import NobodyListening, send_message

        if self._player() != "mpd":
            raise UsageError("radio needs player = \"mpd\": MPRIS players have no queue prefrec can fill")
        seed: Track | None = None
        if off:
            message = "radio off"
        else:
            if self.store.ranked_model_id() is None:
                raise NotReady("radio needs a model to find neighbours: rate a few tracks, then `prefrec train`")
            seed = resolve(self.store, query) if query else self.now_playing().track
            message = f"radio {seed.path}"
        try:
            send_message(self._addresses(), message)
        except NobodyListening as exc:
            raise PlayerUnavailable("no prefrec daemon follows MPD: start `prefrec daemon ~/Music` "
                                    "with player = \"mpd\"") from exc
        except OSError as exc:
            raise PlayerUnavailable(f"cannot reach {self._where()}: {exc}") from exc
        return seed
