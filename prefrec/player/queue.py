"""The autoqueue and radio policy, as pure functions over what the player's queue holds.

The queue never runs dry: `plan` keeps `Policy.keep` songs queued after the current one by
appending the best candidates. It never removes or reorders a song the listener queued; it only
takes out songs it appended itself that have become wrong (banned since, demoted after an early
skip, or left from before a switch to or from radio). A candidate is passed over when it is
banned, already queued or playing, or played within the cool-down; among what is left the
demoted ones (nearest neighbours of an early skip, for the rest of the listening session) come
last, and no artist and no album has more than `diversity_cap` songs among the last
`diversity_window` songs (played and queued) unless nothing else is left.

Radio (`radio_order`): the `radio_pool` tracks nearest to a seed track, ranked by taste.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prefrec.player.base import Candidate
from prefrec.store import normalize_text


@dataclass(frozen=True)
class Policy:
    """Autoqueue settings (seconds unless named otherwise)."""

    keep: int = 3  # songs kept queued after the current one
    cooldown_s: float = 8 * 3600.0  # no song again within this long of its last play
    diversity_cap: int = 2  # at most this many songs per artist and per album…
    diversity_window: int = 10  # …among this many songs around the end of the queue
    demote_neighbours: int = 10  # neighbours of an early skip demoted for the session
    radio_pool: int = 50  # radio picks among this many nearest tracks


@dataclass(frozen=True)
class QueueEntry:
    """A song in the player's queue: `key` the player's id for it, `ours` when the autoqueue
    appended it."""

    key: str
    path: str | None
    ours: bool = False
    artist: str | None = None
    album: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to do to the queue: take out `remove` (keys of our own entries), then append `add`."""

    remove: tuple[str, ...] = ()
    add: tuple[Candidate, ...] = ()


def _keys(artist: str | None, album: str | None) -> list[tuple[str, str]]:
    keys = []
    if artist:
        keys.append(("artist", normalize_text(artist)))
    if album:
        keys.append(("album", normalize_text(album)))
    return keys


def pick(candidates: Iterable[Candidate], n: int, *, exclude: set[str] = frozenset(),
         banned: set[str] = frozenset(), last_played: dict[str, float] | None = None, now: float = 0.0,
         demoted: set[str] = frozenset(), context: Sequence[tuple[str | None, str | None]] = (),
         policy: Policy = Policy()) -> list[Candidate]:
    """Up to `n` of `candidates` (best first) to append, in order.

    exclude: paths queued or playing; banned: paths banned; last_played: {path: epoch seconds of
    its latest play}, with `now` for the cool-down; demoted: paths that go after all others;
    context: (artist, album) of the songs before the end of the queue, oldest first, for the
    diversity rule."""
    if n <= 0:
        return []
    last_played = last_played or {}
    fresh: list[Candidate] = []
    late: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        if c.path in seen or c.path in exclude or c.path in banned:
            continue
        played = last_played.get(c.path)
        if played is not None and now - played < policy.cooldown_s:
            continue
        seen.add(c.path)
        (late if c.path in demoted else fresh).append(c)
    window = [_keys(a, b) for a, b in context][-(policy.diversity_window - 1):] if policy.diversity_window > 1 else []
    chosen: list[Candidate] = []
    passed: list[Candidate] = []
    for c in fresh + late:
        if len(chosen) >= n:
            break
        keys = _keys(c.artist, c.album)
        counts: dict[tuple[str, str], int] = {}
        for ks in window:
            for k in ks:
                counts[k] = counts.get(k, 0) + 1
        if any(counts.get(k, 0) >= policy.diversity_cap for k in keys):
            passed.append(c)
            continue
        chosen.append(c)
        window = (window + [keys])[-(policy.diversity_window - 1):] if policy.diversity_window > 1 else []
    chosen.extend(passed[: n - len(chosen)])  # a library of few artists: rather repeat than run dry
    return chosen


def plan(current: QueueEntry | None, upcoming: Sequence[QueueEntry], candidates: Iterable[Candidate], *,
         banned: set[str] = frozenset(), last_played: dict[str, float] | None = None, now: float = 0.0,
         demoted: set[str] = frozenset(), recent: Sequence[QueueEntry] = (), replace_ours: bool = False,
         policy: Policy = Policy()) -> Plan:
    """What to do to a queue whose current song is `current` and which holds `upcoming` after it.

    recent: songs played before the current one, oldest first (diversity context);
    replace_ours: take out every song the autoqueue appended (radio switched on or off)."""
    remove = [e.key for e in upcoming if e.ours and (replace_ours or e.path in banned or e.path in demoted)]
    kept = [e for e in upcoming if e.key not in remove]
    need = policy.keep - len(kept)
    if need <= 0:
        return Plan(tuple(remove), ())
    around = [*recent, *([current] if current else []), *kept]
    exclude = {e.path for e in around if e.path}
    add = pick(candidates, need, exclude=exclude, banned=banned, last_played=last_played, now=now,
               demoted=demoted, context=[(e.artist, e.album) for e in around], policy=policy)
    return Plan(tuple(remove), tuple(add))


def radio_order(neighbours: Sequence[Candidate], *, pool: int = Policy.radio_pool) -> list[Candidate]:
    """The first `pool` of `neighbours` (nearest first), best taste score first (nearer first
    among equal scores)."""
    near = list(neighbours[:pool])
    rank = {c.path: i for i, c in enumerate(near)}
    return sorted(near, key=lambda c: (-c.score, rank[c.path]))


def early_skip_demotions(neighbours: Sequence[Candidate], *, n: int = Policy.demote_neighbours) -> set[str]:
    """The paths to demote after an early skip: its `n` nearest neighbours."""
    return {c.path for c in neighbours[:n]}
