"""What the player clients share: the records they hand over, the narrow interface through which
they ask prefrec for music, their connection state, and reconnect back-off.

The clients never touch the database. Everything they learn goes out through one callback
(`Emit`), called on the client's own thread; everything they need to know about the library comes
through `Library`, whose methods may block (the clients call them off their event loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Union

ACT_KINDS = ("like", "skip", "ban")


@dataclass(frozen=True)
class Song:
    """A song as a player shows it.

    key: what tells one play-queue entry from another (MPD's song id, MPRIS's track id and URL);
    uri: the player's name for the file (MPD: relative to its music directory, MPRIS: a URL);
    path: the local file it maps to, or None when it maps to none (a stream, an unknown file);
    duration_s: its length in seconds, when the player knows it.
    """

    key: str
    uri: str
    path: str | None
    duration_s: float | None = None


@dataclass(frozen=True)
class PlayerAct:
    """Something the listener said through the player (e.g. `mpc sendmessage prefrec like`).

    position_s: where in the song it was said (seconds), when known."""

    kind: str  # one of ACT_KINDS
    source: str  # 'mpd' | 'mpris'
    song: Song
    position_s: float | None
    at: float  # wall-clock seconds since the epoch


@dataclass(frozen=True)
class PlayerState:
    """The connection to the player, for `prefrec status`.

    connected: whether it is connected now; since: wall-clock time of the last change;
    retry_in_s: seconds until the next attempt while disconnected; detail: the address, or why
    the last attempt failed."""

    source: str
    connected: bool
    since: float
    retry_in_s: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class UnknownSong:
    """A song the player played that maps to no file prefrec knows (reported once per URI)."""

    source: str
    uri: str


PlayerEvent = Union["SessionRecord", PlayerAct, PlayerState, UnknownSong]  # noqa: F821
Emit = Callable[[Any], None]  # called with one PlayerEvent


@dataclass(frozen=True)
class Candidate:
    """A track the autoqueue may append. score: the model's mean window score (0..1);
    similarity: to the radio seed (cosine, -1..1), None outside radio."""

    path: str
    score: float
    artist: str | None = None
    album: str | None = None
    duration_s: float | None = None
    similarity: float | None = None


class Library(Protocol):
    """What the player clients ask of prefrec. Implementations may block on the database."""

    def paths_ending_with(self, suffix: str) -> list[str]:
        """Library paths ending with `suffix` (a '/'-separated relative path), any order."""

    def knows(self, path: str) -> bool:
        """Whether `path` is a track of the library."""

    def candidates(self, n: int) -> list[Candidate]:
        """Up to `n` tracks to queue, best first by taste; banned tracks left out."""

    def neighbours(self, path: str, n: int) -> list[Candidate]:
        """Up to `n` tracks nearest to `path` by the model's learned features, nearest first,
        each with its taste score and similarity; banned tracks left out; [] without a model."""

    def last_played(self, since: float) -> dict[str, float]:
        """{path: wall-clock start of its latest session} for sessions started after `since`."""

    def banned(self, paths: list[str]) -> set[str]:
        """Which of `paths` are banned now."""


@dataclass
class Backoff:
    """Reconnect delays: `first_s`, doubling up to `max_s`; reset after a connection that held."""

    first_s: float = 2.0
    max_s: float = 300.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        """The delay before the next attempt (seconds), and grow the one after."""
        delay = self._next or self.first_s
        self._next = min(self.max_s, delay * self.factor)
        return delay

    def reset(self) -> None:
        self._next = 0.0


class Clock(Protocol):
    """Two clocks: `monotonic()` measures durations, `time()` stamps records (epoch seconds)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()
