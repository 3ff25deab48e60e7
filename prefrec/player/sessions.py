"""Player events -> listening sessions (the `session` observations of docs/feedback.md).

One `SessionTracker` serves both players. Its client tells it what the player shows whenever
something may have changed (`observe`: the song, play/pause/stop, the position), and, where the
player has them, polled positions (`position`), seek signals (`seeked`) and the player going away
(`gone`). The tracker keeps its own estimate of the position from a monotonic clock, so that it
knows where a song was when the player moved on (the player only reports the new song), and it
emits one `SessionRecord` per session when it ends:

- a session starts when a song starts playing and ends when another song is chosen
  (`next`/`previous`/`other`, as the client saw it), when it played to its end (`eof`: the
  estimate was within `eof_tolerance_s` of the length), on stop (`stop`) or when the player went
  away (`gone`); a song that starts again from the top after reaching its end (repeat) ends one
  session (`eof`) and starts the next;
- `played_s` counts only the time spent playing; a pause records where it paused;
- a reported position further than `seek_tolerance_s` from the estimate is a seek `[from, to]`.

What a session means (listen, skip at p, nothing) is decided later, at training time, by
prefrec.labels from `SessionRecord.session()`. Pure logic: the clocks are injected, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prefrec.player.base import Clock, Song, SystemClock

if TYPE_CHECKING:
    from prefrec.feedback import Session



@dataclass(frozen=True)
class SessionRecord:
    """One listening session as a player saw it (times in seconds; positions in track time)."""

    source: str  # 'mpd' | 'mpris'
    song: Song
    started_at: float  # wall clock, epoch seconds
    ended_at: float  # wall clock, epoch seconds
    start_position_s: float  # where in the song it started (0 unless joined mid-song)
    played_s: float  # time spent playing
    end_position_s: float
    end_reason: str  # next | previous | other | eof | stop | gone (prefrec.feedback.END_REASONS)
    seeks: tuple[tuple[float, float], ...] = ()  # (from_s, to_s)
    pauses: tuple[float, ...] = ()  # positions where it paused

    def session(self) -> Session:
        """The `detail` of its `session` row (prefrec.feedback.Session), rounded to milliseconds;
        an unknown length is 0."""
        from prefrec.feedback import Session

        r = _ms
        return Session(started_at=r(self.started_at), duration_s=r(self.song.duration_s or 0.0),
                       played_s=r(self.played_s), end_position_s=r(self.end_position_s),
                       end_reason=self.end_reason, seeks=tuple((r(a), r(b)) for a, b in self.seeks),
                       pauses=tuple(r(p) for p in self.pauses))


def _ms(value: float) -> float:
    return round(float(value), 3)


@dataclass
class _Open:
    song: Song
    started_at: float
    start_position_s: float
    played_s: float = 0.0
    seeks: list[tuple[float, float]] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)


class SessionTracker:
    """Turns one player's events into `SessionRecord`s, handed to `emit` as each session ends.

    eof_tolerance_s: a song whose estimated position is this close to its end when the player
    moves on ended by itself. seek_tolerance_s: a reported position this far from the estimate
    is a seek (explicit `seeked` signals use `signal_tolerance_s`).
    """

    def __init__(self, source: str, emit: Callable[[SessionRecord], None], *, clock: Clock | None = None,
                 eof_tolerance_s: float = 2.0, seek_tolerance_s: float = 1.5,
                 signal_tolerance_s: float = 0.5) -> None:
        self.source = source
        self._emit = emit
        self._clock = clock or SystemClock()
        self.eof_tolerance_s = eof_tolerance_s
        self.seek_tolerance_s = seek_tolerance_s
        self.signal_tolerance_s = signal_tolerance_s
        self._song: Song | None = None
        self._state = "stop"
        self._pos = 0.0  # position at monotonic time self._t
        self._t = self._clock.monotonic()
        self._open: _Open | None = None

    # -- what the client reports ---------------------------------------------------------------

    def observe(self, song: Song | None, state: str, position_s: float | None = None, *,
                reason: str = "other") -> None:
        """The player shows `song` (None: nothing loaded) in `state` ('play' | 'pause' | 'stop')
        at `position_s` (None: not reported). `reason`: how the client saw a change of song come
        about ('next' | 'previous' | 'other'); the tracker turns it into 'eof' when the song was
        at its end."""
        if state not in ("play", "pause", "stop"):
            raise ValueError(f"unknown player state {state!r}")
        self._advance()
        if song is None:
            state = "stop"
        if song is None or self._song is None or song.key != self._song.key:
            if self._open is not None:
                self._close("eof" if self._near_end() else reason)
            self._song, self._state = song, state
            self._pos = position_s if position_s is not None and state != "stop" else 0.0
            if state == "play":
                self._start()
            return
        self._song = song  # the same entry, perhaps with its length known by now
        if self._open is not None:
            self._open.song = song
        if position_s is not None and state != "stop":
            self._jump(position_s, self.seek_tolerance_s)
        if state == self._state:
            return
        if state == "pause" and self._state == "play" and self._open is not None:
            self._open.pauses.append(self._pos)
        elif state == "stop" and self._open is not None:
            self._close("eof" if self._near_end() else "stop")
        self._state = state
        if state == "stop":
            self._pos = 0.0
        elif state == "play" and self._open is None:
            self._start()

    def position(self, position_s: float) -> None:
        """A polled position of the current song (seconds)."""
        self._advance()
        self._jump(position_s, self.seek_tolerance_s)

    def seeked(self, position_s: float) -> None:
        """The player says it jumped to `position_s` (seconds) in the current song."""
        self._advance()
        self._jump(position_s, self.signal_tolerance_s)

    def gone(self) -> None:
        """The player went away (disconnected, exited): the open session ends with 'gone'."""
        self._advance()
        if self._open is not None:
            self._close("gone")
        self._song, self._state, self._pos = None, "stop", 0.0

    # -- what the client may ask ---------------------------------------------------------------

    @property
    def song(self) -> Song | None:
        return self._song

    @property
    def state(self) -> str:
        return self._state

    def position_now(self) -> float | None:
        """The estimated position in the current song (seconds), None when nothing is loaded."""
        if self._song is None:
            return None
        return self._estimate(self._clock.monotonic())

    # -- internals -----------------------------------------------------------------------------

    def _estimate(self, now: float) -> float:
        return self._pos + (now - self._t) if self._state == "play" else self._pos

    def _advance(self) -> None:
        """Bring the position estimate and the open session's played time up to now."""
        now = self._clock.monotonic()
        estimate = self._estimate(now)
        if self._open is not None and self._state == "play":
            self._open.played_s += max(0.0, now - self._t)
        self._pos, self._t = estimate, now

    def _near_end(self) -> bool:
        duration = self._song.duration_s if self._song else None
        return bool(duration) and self._pos >= duration - self.eof_tolerance_s

    def _jump(self, reported: float, tolerance: float) -> None:
        """Compare a reported position with the estimate: a seek, a restart, or drift."""
        if self._song is None or self._state == "stop":
            return
        if abs(reported - self._pos) <= tolerance:
            self._pos = reported  # drift: follow the player
            return
        if reported < self._pos and self._near_end() and reported <= self.seek_tolerance_s + 1.0:
            playing = self._state == "play"  # the song started again after its end (repeat)
            if self._open is not None:
                self._close("eof")
            self._pos = reported
            if playing:
                self._start()
            return
        if self._open is not None:
            self._open.seeks.append((self._pos, reported))
        self._pos = reported

    def _start(self) -> None:
        assert self._song is not None
        self._open = _Open(self._song, self._clock.time(), self._pos)

    def _close(self, reason: str) -> None:
        session, self._open = self._open, None
        assert session is not None
        duration = session.song.duration_s
        end = max(0.0, self._pos)
        if duration:
            end = duration if reason == "eof" else min(end, duration)
        self._emit(SessionRecord(
            source=self.source, song=session.song, started_at=session.started_at, ended_at=self._clock.time(),
            start_position_s=session.start_position_s, played_s=session.played_s, end_position_s=end,
            end_reason=reason, seeks=tuple(session.seeks), pauses=tuple(session.pauses)))
