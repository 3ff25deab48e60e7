"""The MPD client: listening sessions, acts over the `prefrec` channel, autoqueue and radio.

Built on python-mpd2's asyncio client: one connection waits in `idle` (player, playlist,
message) while commands go out on it as needed. What it sees goes out through `emit`
(prefrec.player.base): `SessionRecord`s from its SessionTracker, `PlayerAct`s for
`mpc sendmessage prefrec like|skip|ban`, `PlayerState` on connecting and losing the
connection, `UnknownSong` once per song that maps to no known file.

Where MPD is (`mpd_addresses`): the settings `mpd_host`/`mpd_port`/`mpd_password`, else
`MPD_HOST`/`MPD_PORT` as mpc reads them (`password@host`, a socket path, `@abstract`), else
`$XDG_RUNTIME_DIR/mpd/socket`, `/run/mpd/socket` and `localhost:6600` in that order.

Songs are named by MPD relative to its music directory (`UriMapper`): that directory comes from
MPD's `config` command (unix socket only), else the `mpd_music_directory` setting, else a song
maps to the one library path that ends with its name (and the directory is learnt from it).

A lost connection ends the open session (`gone`) and is retried with back-off (2 s doubling to
5 minutes); nothing here ever raises out of `run` for a player problem.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from prefrec.player.base import ACT_KINDS, Backoff, Clock, Emit, Library, PlayerAct, PlayerClient, Song, UnknownSong
from prefrec.player.queue import Policy, QueueEntry, early_skip_demotions, plan, radio_order
from prefrec.player.sessions import SessionRecord, SessionTracker

log = logging.getLogger("prefrec.player.mpd")

CHANNEL = "prefrec"
DEFAULT_PORT = 6600
CONNECT_TIMEOUT_S = 5.0
HELD_S = 30.0  # a connection that lasted this long resets the back-off
IDLE_SUBSYSTEMS = ["player", "playlist", "message"]


@dataclass(frozen=True)
class MpdAddress:
    """Where to reach MPD: `host` is a host name, a socket path ('/...') or an abstract socket
    ('@name'); `port` is ignored for sockets."""

    host: str
    port: int = DEFAULT_PORT
    password: str | None = None

    @property
    def is_socket(self) -> bool:
        return self.host.startswith(("/", "@"))

    def __str__(self) -> str:
        return self.host if self.is_socket else f"{self.host}:{self.port}"


def split_password(host: str) -> tuple[str, str | None]:
    """'secret@host' -> ('host', 'secret'), as libmpdclient does; '@abstract' has no password."""
    if host.startswith("@") or "@" not in host:
        return host, None
    password, _, rest = host.partition("@")
    return rest, password


def mpd_addresses(*, host: str | None = None, port: int | None = None, password: str | None = None,
                  environ: Mapping[str, str] | None = None) -> list[MpdAddress]:
    """The addresses to try, in order: the settings, else MPD_HOST/MPD_PORT, else the defaults.

    A password given as a setting wins over one in `password@host`."""
    env = os.environ if environ is None else environ
    if port is None and env.get("MPD_PORT", "").strip().isdigit():
        port = int(env["MPD_PORT"])
    host = host or env.get("MPD_HOST") or None
    if host:
        host, in_host = split_password(host)
        password = password or in_host
        if not host:  # 'password@' alone: the default places with that password
            host = None
    if host:
        return [MpdAddress(host, port or DEFAULT_PORT, password)]
    places = []
    if port is None:  # like libmpdclient: a local socket only when no port was asked for
        runtime = env.get("XDG_RUNTIME_DIR")
        for sock in ([f"{runtime}/mpd/socket"] if runtime else []) + ["/run/mpd/socket"]:
            places.append(MpdAddress(sock, DEFAULT_PORT, password))
    places.append(MpdAddress("localhost", port or DEFAULT_PORT, password))
    return places


async def connect(address: MpdAddress, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A connected python-mpd2 asyncio client (the password sent); raises OSError/MPDError."""
    from mpd.asyncio import MPDClient

    client = MPDClient()
    host = address.host
    if address.is_socket and not host.startswith("@") and not os.path.exists(host):
        raise FileNotFoundError(f"no MPD socket at {host}")
    await asyncio.wait_for(client.connect(host, address.port), timeout_s)
    if address.password:
        try:
            await client.password(address.password)
        except Exception:
            client.disconnect()
            raise
    return client


async def connect_first(addresses: list[MpdAddress], *, timeout_s: float = CONNECT_TIMEOUT_S
                        ) -> tuple[Any, MpdAddress]:
    """Connect to the first address that answers; the last error (as OSError) if none does."""
    error: Exception = OSError("no MPD address to try")
    for address in addresses:
        try:
            return await connect(address, timeout_s=timeout_s), address
        except (TimeoutError, OSError) as e:
            error = OSError(f"{address}: {e or type(e).__name__}")
        except Exception as e:  # python-mpd2's errors (a refused password, a bad greeting)
            error = OSError(f"{address}: {e}")
    raise error


async def music_directory_of(client: Any) -> str | None:
    """MPD's music directory from its `config` command (allowed on a unix socket only)."""
    from mpd.base import CommandError

    try:
        value = await client.config()
    except CommandError:
        return None
    if isinstance(value, dict):
        value = value.get("music_directory")
    return value.rstrip("/") or "/" if isinstance(value, str) and value.startswith("/") else None


class UriMapper:
    """MPD song URIs <-> local paths.

    music_directory: MPD's, when known (from `config` or the setting). Without it a relative
    URI maps to the single library path ending with it, and the directory is learnt from that
    match (for `to_uri`). Negative answers are remembered for `retry_s` (the library grows)."""

    def __init__(self, music_directory: str | None, library: Library, *, local: bool,
                 retry_s: float = 60.0) -> None:
        self.music_directory = music_directory.rstrip("/") or "/" if music_directory else None
        self.learnt_directory: str | None = None
        self.library = library
        self.local = local  # connected over a unix socket: MPD plays absolute paths we give it
        self.retry_s = retry_s
        self._known: dict[str, str] = {}
        self._missed: dict[str, float] = {}

    def to_path(self, uri: str) -> str | None:
        """The local file of `uri`, or None (a stream, or no unique match). May block (library)."""
        if uri.startswith("file://"):
            return unquote(urlparse(uri).path) or None
        if uri.startswith("/"):
            return uri
        if "://" in uri:
            return None
        if self.music_directory:
            path = posixpath.join(self.music_directory, uri)
            # the library holds resolved paths: MPD's folder may be reached through a link
            return path if self.library.knows(path) else os.path.realpath(path)
        if uri in self._known:
            return self._known[uri]
        missed = self._missed.get(uri)
        if missed is not None and time.monotonic() - missed < self.retry_s:
            return None
        matches = self.library.paths_ending_with("/" + uri)
        if len(matches) != 1:
            self._missed[uri] = time.monotonic()
            return None
        path = matches[0]
        self._known[uri] = path
        self.learnt_directory = self.learnt_directory or path[: -len(uri) - 1] or "/"
        return path

    def to_uri(self, path: str) -> str | None:
        """What to `add` to MPD's queue for `path`, or None when MPD cannot be given it."""
        real = os.path.realpath(self.music_directory) if self.music_directory else None
        for root in (self.music_directory, real, self.learnt_directory):
            if root and path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1:]
        return path if self.local else None


@dataclass(frozen=True)
class NowPlaying:
    """What MPD plays now: `song` (None when nothing is loaded), `state`, `position_s`."""

    song: Song | None
    state: str
    position_s: float | None
    address: MpdAddress


async def song_of(client: Any, status: Mapping[str, str],
                  to_path: Callable[[str], Awaitable[str | None]]) -> tuple[Song | None, dict[str, Any]]:
    """The song MPD's `status` names (None when nothing is loaded) and its tags."""
    songid = status.get("songid")
    if songid is None:
        return None, {}
    found = await client.playlistid(songid)
    if not found:  # it changed in between: the next idle event tells
        return None, {}
    info = found[0]
    uri = info.get("file", "")
    duration = status.get("duration") or info.get("duration") or info.get("time")
    return Song(str(songid), uri, await to_path(uri), float(duration) if duration else None), info


def _elapsed(status: Mapping[str, str]) -> float | None:
    elapsed = status.get("elapsed")
    return float(elapsed) if elapsed is not None else None


class NobodyListening(OSError):
    """No client follows the `prefrec` channel (the daemon is not running, or not on MPD)."""


def _once(addresses: list[MpdAddress], work: Callable[[Any, MpdAddress], Awaitable[Any]], *,
          timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """Connect, run `work(client, address)`, disconnect: one short conversation (for the CLI).
    Raises OSError when MPD cannot be reached or refuses."""
    from mpd.base import MPDError

    async def run() -> Any:
        client, address = await connect_first(addresses, timeout_s=timeout_s)
        try:
            return await asyncio.wait_for(work(client, address), timeout_s)
        finally:
            client.disconnect()

    try:
        return asyncio.run(run())
    except TimeoutError as e:
        raise OSError("MPD did not answer in time") from e
    except MPDError as e:
        if "nobody is subscribed" in str(e):
            raise NobodyListening(str(e)) from e
        raise OSError(f"MPD: {e}") from e


def now_playing(addresses: list[MpdAddress], library: Library, *, music_directory: str | None = None,
                timeout_s: float = CONNECT_TIMEOUT_S) -> NowPlaying:
    """What MPD plays now (the song mapped to a file as the daemon does). Raises OSError."""

    async def work(client: Any, address: MpdAddress) -> NowPlaying:
        folder = music_directory
        if address.is_socket:
            folder = await music_directory_of(client) or folder
        mapper = UriMapper(folder, library, local=address.is_socket)

        async def to_path(uri: str) -> str | None:
            return mapper.to_path(uri)

        status = await client.status()
        song, _ = await song_of(client, status, to_path)
        return NowPlaying(song, status.get("state", "stop"), _elapsed(status), address)

    return _once(addresses, work, timeout_s=timeout_s)


def advance(addresses: list[MpdAddress], key: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """Move MPD to the next song if the song with id `key` is still the current one; whether it did."""

    async def work(client: Any, address: MpdAddress) -> bool:
        status = await client.status()
        if status.get("songid") != key:
            return False
        await client.next()
        return True

    return _once(addresses, work, timeout_s=timeout_s)


def send_message(addresses: list[MpdAddress], text: str, *, channel: str = CHANNEL,
                 timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Send `text` on `channel` (e.g. 'radio off'). Raises NobodyListening when no client (no
    prefrec daemon) follows the channel, OSError when MPD cannot be reached."""

    async def work(client: Any, address: MpdAddress) -> None:
        await client.sendmessage(channel, text)

    _once(addresses, work, timeout_s=timeout_s)


class MpdPlayer(PlayerClient):
    """Follows one MPD: sessions, acts, and (with `autoqueue`) a queue that never runs dry.

    Run `run()` on an event loop (prefrec.player.runner.PlayerThread does it on a thread of its
    own); `stop()` ends it. `library` is called off the loop (it may block on the database)."""

    source = "mpd"

    def __init__(self, addresses: list[MpdAddress], library: Library, emit: Emit, *,
                 music_directory: str | None = None, autoqueue: Policy | None = None,
                 radio_policy: Policy | None = None, rules: Any = None, clock: Clock | None = None,
                 backoff: Backoff | None = None, channel: str = CHANNEL) -> None:
        super().__init__(emit, clock=clock, backoff=backoff)
        self.addresses = addresses
        self.library = library
        self.music_directory = music_directory
        self.policy = autoqueue
        self.radio_policy = radio_policy or autoqueue or Policy()  # radio feeds the queue even without autoqueue
        from prefrec.labels import Rules

        self.rules = rules or Rules()  # what makes a session an early skip (prefrec.labels)
        self.channel = channel
        self.tracker = SessionTracker(self.source, self._session_ended, clock=self.clock)
        self.radio_seed: str | None = None
        self._radio_changed = False
        self._demoted: set[str] = set()
        self._ours: set[str] = set()  # song ids the autoqueue appended
        self._unaddable: set[str] = set()
        self._recent: deque[QueueEntry] = deque(maxlen=20)
        self._ended: list[SessionRecord] = []
        self._pending_demote: list[str] = []  # early skips whose neighbours are to be demoted
        self._unknown: set[str] = set()
        self._last_status: dict[str, str] = {}
        self._mapper: UriMapper | None = None
        self._client: Any = None
        self._wake: asyncio.Event | None = None
        self.connected = False

    # -- control (thread-safe) --------------------------------------------------------------------

    def set_radio(self, seed: str | None) -> None:
        """Radio around the track at path `seed`, or back to plain autoqueue (None); any thread."""
        def apply() -> None:
            self.radio_seed, self._radio_changed = seed, True
            if self._wake is not None:
                self._wake.set()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(apply)
        else:
            apply()

    # -- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, follow, reconnect with back-off, until `stop()`."""
        self._loop = asyncio.get_running_loop()
        down_since = self.clock.time()
        while not self._stop.is_set():
            try:
                client, address = await connect_first(self.addresses)
            except OSError as e:
                await self._retry_later(down_since, f"MPD not reachable: {e}")
                continue
            started = time.monotonic()
            self.connected = True
            self._state(True, self.clock.time(), detail=str(address))
            log.info("connected to MPD at %s", address)
            try:
                await self._follow(client, address)
                reason = "stopping"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the connection broke: python-mpd2 raises its own errors
                reason = str(e) or type(e).__name__
            finally:
                client.disconnect()
                self._client = None
                self.connected = False
                self.tracker.gone()
                self._last_status = {}
                self._flush_ended()
            down_since = self.clock.time()
            if self._stop.is_set():
                self._state(False, down_since, detail="stopped")
                break
            if time.monotonic() - started >= HELD_S:
                self.backoff.reset()
            await self._retry_later(down_since, f"lost MPD at {address}: {reason}")

    async def _follow(self, client: Any, address: MpdAddress) -> None:
        self._client = client
        folder = self.music_directory
        if address.is_socket:
            folder = await music_directory_of(client) or folder
        self._mapper = UriMapper(folder, self.library, local=address.is_socket)
        self._ours.clear()  # song ids do not survive a restart of MPD
        await client.subscribe(self.channel)
        await self._sync(client)
        await self._after_change(client)
        self._wake = asyncio.Event()
        events = client.idle(IDLE_SUBSYSTEMS).__aiter__()
        next_event = asyncio.ensure_future(events.__anext__())
        try:
            while not self._stop.is_set():
                stop = asyncio.ensure_future(self._stop.wait())
                wake = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait({next_event, stop, wake}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                wake.cancel()
                if next_event in done:
                    changes = next_event.result()  # raises when the connection broke
                    next_event = asyncio.ensure_future(events.__anext__())
                    if "message" in changes:
                        for message in await client.readmessages():
                            await self._message(client, message)
                    if "player" in changes:
                        await self._sync(client)
                    await self._after_change(client)
                elif self._wake.is_set():
                    self._wake.clear()
                    await self._after_change(client)
        finally:
            next_event.cancel()

    # -- sessions -----------------------------------------------------------------------------------

    async def _sync(self, client: Any) -> None:
        """Read MPD's status and tell the tracker what it shows."""
        status = await client.status()
        song, tags = await song_of(client, status, self._to_path)
        prev = self._last_status
        reason = "other"
        songid = status.get("songid")
        if prev and songid is not None and songid != prev.get("songid"):
            if prev.get("nextsongid") == songid:
                reason = "next"
            elif prev.get("song") is not None and status.get("song") is not None \
                    and int(status["song"]) == int(prev["song"]) - 1:
                reason = "previous"
        self._last_status = status
        before = self.tracker.song
        self.tracker.observe(song, status.get("state", "stop"), _elapsed(status), reason=reason)
        if song is not None and (before is None or before.key != song.key):
            self._recent.append(QueueEntry(song.key, song.path, song.key in self._ours,
                                           _first(tags.get("artist")), _first(tags.get("album"))))
            if song.path is None or not await asyncio.to_thread(self.library.knows, song.path):
                if song.uri not in self._unknown:
                    self._unknown.add(song.uri)
                    log.info("MPD plays a song prefrec does not know: %s", song.uri)
                    self._emit(UnknownSong(self.source, song.uri))
        self._flush_ended()

    async def _to_path(self, uri: str) -> str | None:
        return await asyncio.to_thread(self._mapper_or_raise().to_path, uri)

    def _mapper_or_raise(self) -> UriMapper:
        assert self._mapper is not None
        return self._mapper

    def _session_ended(self, record: SessionRecord) -> None:
        self._ended.append(record)

    def _flush_ended(self) -> None:
        from prefrec.labels import classify

        ended, self._ended = self._ended, []
        for record in ended:
            self._emit(record)
            if record.song.path and classify(record.session(), self.rules) == "skip":
                self._pending_demote.append(record.song.path)

    # -- acts ---------------------------------------------------------------------------------------

    async def _message(self, client: Any, message: dict[str, str]) -> None:
        if message.get("channel") != self.channel:
            return
        text = (message.get("message") or "").strip()
        word, _, arg = text.partition(" ")
        word = word.lower()
        if word in ACT_KINDS:
            await self._act(client, word)
        elif word == "radio":  # `radio` (around the song playing now), `radio PATH`, `radio off`
            arg = arg.strip()
            song = self.tracker.song
            seed = None if arg.lower() == "off" else (await self._to_path(arg) if arg else song.path if song else None)
            if seed is None and arg.lower() != "off":
                log.info("radio: nothing to start it from (%r)", arg)
                return
            self.radio_seed, self._radio_changed = seed, True
        else:
            log.info("ignored a message on channel %r: %r (expected like, skip, ban, radio [off])",
                     self.channel, text)

    async def _act(self, client: Any, kind: str) -> None:
        """The listener said `kind` about the song playing now (skip and ban move to the next)."""
        await self._sync(client)
        song = self.tracker.song
        if song is None:
            log.info("%s over the %s channel with nothing playing: ignored", kind, self.channel)
            return
        position = self.tracker.position_now()
        self._emit(PlayerAct(kind, self.source, song, position, self.clock.time()))
        if kind in ("skip", "ban"):
            if song.path:  # demote its neighbours (and take ours out) before moving on to one of them
                self._pending_demote.append(song.path)
                await self._after_change(client)
            await client.next()

    # -- autoqueue ----------------------------------------------------------------------------------

    async def _after_change(self, client: Any) -> None:
        if self._pending_demote:
            skipped, self._pending_demote = self._pending_demote, []
            policy = self._queue_policy()
            if policy is not None:
                for path in skipped:
                    near = await asyncio.to_thread(self.library.neighbours, path, policy.demote_neighbours)
                    self._demoted |= early_skip_demotions(near, n=policy.demote_neighbours)
        if self._queue_policy() is not None or self._radio_changed:
            await self.refill(client)

    async def _delete(self, client: Any, key: str) -> None:
        """Take one of our own songs out of the queue (it may be gone already)."""
        from mpd.base import CommandError

        try:
            await client.deleteid(key)
        except CommandError:
            pass
        self._ours.discard(key)

    def _queue_policy(self) -> Policy | None:
        """The autoqueue's policy; radio feeds the queue even when the autoqueue is off."""
        return self.policy or (self.radio_policy if self.radio_seed else None)

    async def refill(self, client: Any) -> None:
        """Bring the queue up to `policy.keep` songs after the current one (with neither the
        autoqueue nor radio on, only take out what radio had queued when it was switched off)."""
        policy = self._queue_policy()
        if policy is None and not self._radio_changed:
            return
        status = await client.status()
        if status.get("state") == "stop" or status.get("song") is None:
            if status.get("state") == "stop":
                self._demoted.clear()  # the listening session is over
            return
        current_pos = int(status["song"])
        queue = await client.playlistinfo()
        mapper = self._mapper_or_raise()
        entries = []
        for info in queue:
            uri = info.get("file", "")
            path = await asyncio.to_thread(mapper.to_path, uri)
            entries.append((int(info.get("pos", 0)), QueueEntry(str(info.get("id")), path, str(info.get("id")) in self._ours,
                                                             _first(info.get("artist")), _first(info.get("album")))))
        current = next((e for pos, e in entries if pos == current_pos), None)
        upcoming = [e for pos, e in entries if pos > current_pos]
        replace, self._radio_changed = self._radio_changed, False
        if policy is None:  # radio switched off, no autoqueue: take its songs out, add nothing
            for entry in upcoming:
                if entry.ours:
                    await self._delete(client, entry.key)
            return
        if not replace and len(upcoming) >= policy.keep and not any(e.ours for e in upcoming):
            return  # full, and nothing of ours that may have gone wrong
        now = self.clock.time()
        seed = self.radio_seed
        want = policy.keep + len(entries) + 30
        if seed:
            near = await asyncio.to_thread(self.library.neighbours, seed, max(policy.radio_pool, want))
            candidates = radio_order(near, pool=policy.radio_pool)
        else:
            candidates = await asyncio.to_thread(self.library.candidates, want)
        candidates = [c for c in candidates if c.path not in self._unaddable]
        ours = [e.path for e in upcoming if e.ours and e.path]
        banned = await asyncio.to_thread(self.library.banned, ours) if ours else set()
        last = await asyncio.to_thread(self.library.last_played, now - policy.cooldown_s)
        todo = plan(current, upcoming, candidates, banned=banned, last_played=last, now=now,
                    demoted=self._demoted, recent=[e for e in self._recent if current is None or e.key != current.key],
                    replace_ours=replace, policy=policy)
        from mpd.base import CommandError

        for key in todo.remove:
            await self._delete(client, key)
        for candidate in todo.add:
            uri = mapper.to_uri(candidate.path)
            if uri is None:
                self._unaddable.add(candidate.path)
                log.info("cannot queue %s: outside MPD's music directory", candidate.path)
                continue
            try:
                songid = await client.addid(uri)
            except CommandError as e:
                self._unaddable.add(candidate.path)
                log.info("MPD would not queue %s: %s", uri, e)
                continue
            self._ours.add(str(songid))


def _first(value: Any) -> str | None:
    """A tag's first value (MPD repeats a tag for several values)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value
