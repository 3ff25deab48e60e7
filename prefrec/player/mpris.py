"""Desktop players over D-Bus (MPRIS 2): listening sessions only.

`MprisPlayer` follows one player on the session bus (a given bus name such as `vlc` or
`org.mpris.MediaPlayer2.vlc`, else the first `org.mpris.MediaPlayer2.*` that appears) with
dbus-fast: the track and the play state come from `PropertiesChanged` signals, the position is
polled every `poll_s` while playing, `Seeked` signals are seeks, and `xesam:url` (a file:// URL)
names the file. When the player leaves the bus its open session ends (`gone`) and the client waits
for a player to appear; a lost bus is retried with back-off. MPRIS has no dependable queue, so
there is no autoqueue here; `now_playing` serves the CLI's like/skip/ban without a track.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from prefrec.player.base import Backoff, Clock, Emit, Library, PlayerClient, Song, UnknownSong
from prefrec.player.sessions import SessionTracker

log = logging.getLogger("prefrec.player.mpris")

PREFIX = "org.mpris.MediaPlayer2."
OBJECT = "/org/mpris/MediaPlayer2"
PLAYER = "org.mpris.MediaPlayer2.Player"
PROPERTIES = "org.freedesktop.DBus.Properties"
DBUS = "org.freedesktop.DBus"
STATES = {"Playing": "play", "Paused": "pause", "Stopped": "stop"}
CALL_TIMEOUT_S = 5.0
SEEK_SETTLE_S = 0.3  # a seek (signalled or polled) waits this long for a change of track that voids it


def full_name(name: str) -> str:
    """'vlc' -> 'org.mpris.MediaPlayer2.vlc'; a full name is kept."""
    return name if name.startswith(PREFIX) else PREFIX + name


def matches(wanted: str | None, name: str) -> bool:
    """Whether bus name `name` is the player `wanted` names (None: any MPRIS player); a
    player's extra instances (`org.mpris.MediaPlayer2.vlc.instance42`) match too."""
    if not name.startswith(PREFIX):
        return False
    if wanted is None:
        return True
    want = full_name(wanted)
    return name == want or name.startswith(want + ".")


def url_to_path(url: str) -> str | None:
    """A local path from a file:// URL ('%20' decoded); None for any other URL."""
    parsed = urlparse(url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return unquote(parsed.path) or None


def song_from_metadata(metadata: dict[str, Any]) -> Song | None:
    """A Song from MPRIS `Metadata` (values already unwrapped from their Variants); None
    without `xesam:url` (nothing loaded yet, or nothing prefrec could ever name)."""
    url = metadata.get("xesam:url")
    if not url:
        return None
    length = metadata.get("mpris:length")
    duration = float(length) / 1e6 if isinstance(length, (int, float)) and length > 0 else None
    return Song(f"{metadata.get('mpris:trackid')}|{url}", str(url), url_to_path(str(url)), duration)


def _unwrap(value: Any) -> Any:
    """Variants -> plain values, through dicts and lists."""
    value = getattr(value, "value", value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class BusError(OSError):
    """A D-Bus call failed (the player left, or refused)."""


async def _call(bus: Any, destination: str, path: str, interface: str, member: str,
                signature: str = "", body: list[Any] | None = None) -> list[Any]:
    from dbus_fast import Message, MessageType

    reply = await asyncio.wait_for(bus.call(Message(destination=destination, path=path, interface=interface,
                                                    member=member, signature=signature, body=body or [])),
                                   CALL_TIMEOUT_S)
    if reply.message_type == MessageType.ERROR:
        raise BusError(f"{destination} {member}: {reply.error_name}: {reply.body[0] if reply.body else ''}")
    return list(reply.body)


async def _players(bus: Any, wanted: str | None) -> list[str]:
    [names] = await _call(bus, DBUS, "/org/freedesktop/DBus", DBUS, "ListNames")
    return sorted(n for n in names if matches(wanted, n))


async def _player_properties(bus: Any, name: str) -> dict[str, Any]:
    [props] = await _call(bus, name, OBJECT, PROPERTIES, "GetAll", "s", [PLAYER])
    return _unwrap(props)


async def _get(bus: Any, name: str, prop: str) -> Any:
    [value] = await _call(bus, name, OBJECT, PROPERTIES, "Get", "ss", [PLAYER, prop])
    return _unwrap(value)


async def _position(bus: Any, name: str) -> float | None:
    value = await _get(bus, name, "Position")
    return float(value) / 1e6 if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class MprisNowPlaying:
    song: Song | None
    state: str
    position_s: float | None
    player: str  # its bus name


def _once(wanted: str | None, work: Any, bus_address: str | None) -> Any:
    """Connect to the session bus, run `work(bus, player_name)` on the first matching player,
    disconnect (one short conversation, for the CLI). Raises OSError (BusError)."""

    async def run() -> Any:
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_address=bus_address).connect()
        try:
            names = await _players(bus, wanted)
            if not names:
                raise BusError(f"no MPRIS player{' named ' + full_name(wanted) if wanted else ''} on the session bus")
            return await work(bus, names[0])
        finally:
            bus.disconnect()

    try:
        return asyncio.run(run())
    except TimeoutError as e:
        raise BusError("the MPRIS player did not answer in time") from e
    except OSError:
        raise
    except Exception as e:  # dbus-fast's own errors: no bus address, refused authentication
        raise BusError(f"D-Bus session bus: {e}") from e


def now_playing(wanted: str | None = None, *, advance: bool = False, bus_address: str | None = None
                ) -> MprisNowPlaying:
    """What the MPRIS player plays now; with `advance`, then `Next`. Raises OSError."""

    async def work(bus: Any, name: str) -> MprisNowPlaying:
        props = await _player_properties(bus, name)
        song = song_from_metadata(props.get("Metadata") or {})
        position = props.get("Position")
        if advance and song is not None:
            await _call(bus, name, OBJECT, PLAYER, "Next")
        return MprisNowPlaying(song, STATES.get(props.get("PlaybackStatus", ""), "stop"),
                               float(position) / 1e6 if isinstance(position, (int, float)) else None, name)

    return _once(wanted, work, bus_address)


def advance(wanted: str | None, key: str, *, bus_address: str | None = None) -> bool:
    """`Next`, if the song with `key` (Song.key) is still the current one; whether it moved on."""

    async def work(bus: Any, name: str) -> bool:
        song = song_from_metadata(await _get(bus, name, "Metadata") or {})
        if song is None or song.key != key:
            return False
        await _call(bus, name, OBJECT, PLAYER, "Next")
        return True

    return _once(wanted, work, bus_address)


class MprisPlayer(PlayerClient):
    """Follows one MPRIS player on the session bus and turns what it does into sessions."""

    source = "mpris"

    def __init__(self, library: Library, emit: Emit, *, bus_name: str | None = None, poll_s: float = 1.0,
                 clock: Clock | None = None, backoff: Backoff | None = None, bus_address: str | None = None) -> None:
        super().__init__(emit, clock=clock, backoff=backoff)
        self.library = library
        self.wanted = bus_name
        self.poll_s = poll_s
        self.bus_address = bus_address
        self.tracker = SessionTracker(self.source, self._emit, clock=self.clock)
        self.following: str | None = None  # the player's well-known bus name
        self._owner: str | None = None  # its unique name (signals carry it as sender)
        self._metadata: dict[str, Any] = {}
        self._status = "stop"
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._unknown: set[str] = set()
        self._pending_seek: tuple[float, float] | None = None  # (position_s, loop time of the signal)

    async def run(self) -> None:
        """Connect to the bus, follow a player, poll, reconnect with back-off, until `stop()`."""
        from dbus_fast.aio import MessageBus

        self._loop = asyncio.get_running_loop()
        down_since = self.clock.time()
        while not self._stop.is_set():
            try:
                bus = await MessageBus(bus_address=self.bus_address).connect()
            except Exception as e:  # no session bus (yet): OSError, or dbus-fast's address errors
                await self._retry_later(down_since, f"no D-Bus session bus: {e}")
                continue
            self.backoff.reset()
            try:
                await self._follow(bus)
                reason = "stopped"
            except asyncio.CancelledError:
                raise
            except Exception as e:
                reason = f"lost the D-Bus session bus: {e or type(e).__name__}"
            finally:
                bus.disconnect()
                self._detach()
            down_since = self.clock.time()
            if self._stop.is_set():
                self._state(False, down_since, detail="stopped")
                break
            await self._retry_later(down_since, reason)

    async def _follow(self, bus: Any) -> None:
        from dbus_fast import MessageType

        def on_message(message: Any) -> None:
            if message.message_type == MessageType.SIGNAL:
                self._inbox.put_nowait(message)

        bus.add_message_handler(on_message)
        for rule in (f"type='signal',interface='{DBUS}',member='NameOwnerChanged',arg0namespace='org.mpris.MediaPlayer2'",
                     f"type='signal',interface='{PROPERTIES}',member='PropertiesChanged',path='{OBJECT}'",
                     f"type='signal',interface='{PLAYER}',member='Seeked',path='{OBJECT}'"):
            await _call(bus, DBUS, "/org/freedesktop/DBus", DBUS, "AddMatch", "s", [rule])
        await self._find(bus)
        disconnected = asyncio.ensure_future(bus.wait_for_disconnect())
        stop = asyncio.ensure_future(self._stop.wait())
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + self.poll_s
        try:
            while not self._stop.is_set():
                getter = asyncio.ensure_future(self._inbox.get())
                playing = self._owner is not None and self.tracker.state == "play"
                wake = [next_poll] if playing else []
                if self._pending_seek is not None:
                    wake.append(self._pending_seek[1] + SEEK_SETTLE_S)
                done, _ = await asyncio.wait({getter, stop, disconnected}, return_when=asyncio.FIRST_COMPLETED,
                                             timeout=max(0.0, min(wake) - loop.time()) if wake else None)
                if self._pending_seek is not None and loop.time() >= self._pending_seek[1] + SEEK_SETTLE_S:
                    self._apply_seek()
                if getter in done:
                    await self._handle(bus, getter.result())
                else:
                    getter.cancel()
                if disconnected in done:
                    disconnected.result()  # raises the bus's error, if any
                    raise ConnectionError("the bus closed the connection")
                if loop.time() >= next_poll:
                    next_poll = loop.time() + self.poll_s
                    if self._owner is not None and self.tracker.state == "play":
                        await self._poll(bus)
        finally:
            disconnected.cancel()
            stop.cancel()

    async def _find(self, bus: Any) -> None:
        """Follow the first matching player on the bus, if there is one."""
        for name in await _players(bus, self.wanted):
            try:
                await self._attach(bus, name)
                return
            except (TimeoutError, BusError) as e:
                log.info("could not follow %s: %s", name, e)
        self._state(False, self.clock.time(), detail=f"waiting for {full_name(self.wanted) if self.wanted else 'an MPRIS player'}")

    async def _attach(self, bus: Any, name: str) -> None:
        [owner] = await _call(bus, DBUS, "/org/freedesktop/DBus", DBUS, "GetNameOwner", "s", [name])
        props = await _player_properties(bus, name)
        self.following, self._owner = name, owner
        self._metadata = props.get("Metadata") or {}
        self._status = STATES.get(props.get("PlaybackStatus", ""), "stop")
        position = props.get("Position")
        await self._observe(float(position) / 1e6 if isinstance(position, (int, float)) else None)
        self._state(True, self.clock.time(), detail=name)
        log.info("following the MPRIS player %s", name)

    def _detach(self) -> None:
        self._pending_seek = None
        self.tracker.gone()
        self.following = self._owner = None
        self._metadata, self._status = {}, "stop"

    async def _handle(self, bus: Any, message: Any) -> None:
        if message.member == "NameOwnerChanged":
            name, _old, new = message.body
            if self.following is not None and name == self.following and not new:
                log.info("the MPRIS player %s left the bus", name)
                self._detach()
                self._state(False, self.clock.time(), detail=f"{name} left the bus")
                await self._find(bus)
            elif self.following is None and new and matches(self.wanted, name):
                try:
                    await self._attach(bus, name)
                except (TimeoutError, BusError) as e:
                    log.info("could not follow %s: %s", name, e)
            return
        if self._owner is None or message.sender != self._owner:
            return
        if message.member == "Seeked":
            # Some players (mpv) signal a seek to 0 as they load the next track, just before its
            # Metadata: a seek waits SEEK_SETTLE_S for a change of track that would void it.
            self._apply_seek()
            self._pending_seek = (float(message.body[0]) / 1e6, asyncio.get_running_loop().time())
        elif message.member == "PropertiesChanged" and message.body[0] == PLAYER:
            changed = _unwrap(message.body[1])
            if "Metadata" not in changed and "PlaybackStatus" not in changed:
                return
            song, current = song_from_metadata(changed.get("Metadata", self._metadata)), self.tracker.song
            if song is not None and current is not None and song.key != current.key:
                self._pending_seek = None  # it was the new track starting
            else:
                self._apply_seek()
            self._metadata = changed.get("Metadata", self._metadata)
            self._status = STATES.get(changed.get("PlaybackStatus", ""), self._status)
            try:
                position = await _position(bus, self.following)
            except (TimeoutError, BusError):
                position = None
            await self._observe(position)

    def _apply_seek(self) -> None:
        """Hand a pending seek to the tracker, at where it has played to since."""
        if self._pending_seek is None:
            return
        position, at = self._pending_seek
        self._pending_seek = None
        if self.tracker.state == "play":
            position += asyncio.get_running_loop().time() - at
        self.tracker.seeked(position)

    async def _observe(self, position: float | None) -> None:
        song = song_from_metadata(self._metadata)
        before = self.tracker.song
        self.tracker.observe(song, self._status if song else "stop", position)
        if song is not None and (before is None or before.key != song.key) and song.uri not in self._unknown:
            if song.path is None or not await asyncio.to_thread(self.library.knows, song.path):
                self._unknown.add(song.uri)
                log.info("the MPRIS player plays a song prefrec does not know: %s", song.uri)
                self._emit(UnknownSong(self.source, song.uri))

    async def _poll(self, bus: Any) -> None:
        try:
            position = await _position(bus, self.following)
        except (TimeoutError, BusError):
            return  # it may be leaving: NameOwnerChanged will say
        if position is None:
            return
        expected = self.tracker.position_now()
        if expected is not None and abs(position - expected) > self.tracker.seek_tolerance_s:
            # a jump: a seek, or (mpv) the next track starting before its Metadata is signalled
            if self._pending_seek is None:
                self._pending_seek = (position, asyncio.get_running_loop().time())
            return
        self.tracker.position(position)

