"""What the player clients share: the records they hand over, the narrow interface through which
they ask prefrec for music, their connection state, and reconnect back-off.

The clients never touch the database. Everything they learn goes out through one callback
(`Emit`), called on the client's own thread; everything they need to know about the library comes
through `Library`, whose methods may block (the clients call them off their event loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Union

if TYPE_CHECKING:
    from prefrec.player.sessions import SessionRecord

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


PlayerEvent = Union["SessionRecord", PlayerAct, PlayerState, UnknownSong]
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


class PlayerClient:
    """What MpdPlayer and MprisPlayer share: stopping from any thread, interruptible waits,
    connection state going out through `emit`, and the back-off between attempts."""

    source = "player"

    def __init__(self, emit: Emit, *, clock: Clock | None = None, backoff: Backoff | None = None) -> None:
        self._emit = emit
        self.clock = clock or SystemClock()
        self.backoff = backoff or Backoff()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        """End `run` (from any thread): the open session ends with 'gone'."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop.set)
        else:
            self._stop.set()

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if `stop()` is called."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    def _state(self, connected: bool, since: float, *, retry_in_s: float | None = None, detail: str = "") -> None:
        self._emit(PlayerState(self.source, connected, since, retry_in_s, detail))

    async def _retry_later(self, down_since: float, detail: str) -> None:
        """Say the player is away (since `down_since`, because `detail`) and wait the back-off."""
        delay = self.backoff.next_delay()
        logging.getLogger(f"prefrec.player.{self.source}").info("%s; next try in %.0f s", detail, delay)
        self._state(False, down_since, retry_in_s=delay, detail=detail)
        await self._sleep(delay)
