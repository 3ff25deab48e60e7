"""The records of the feedback log (see docs/feedback.md): acts, observations, and log rows.

An *act* is something the listener said (like, skip, forget, forget a whole source); an
*observation* is something a player saw (a listening session) or another program counted (imported
play/skip counts). Both are appended to one table and never changed; labels for training are
derived from them by prefrec.labels. Plain data, no I/O, no heavy imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ACT_KINDS = frozenset({"like", "skip", "forget", "forget_source"})
OBSERVATION_KINDS = frozenset({"session", "counts"})
KINDS = ACT_KINDS | OBSERVATION_KINDS
RATING_KINDS = frozenset({"like", "skip"})
PLAYER_SOURCES = frozenset({"mpd", "mpris"})
END_REASONS = frozenset({"next", "previous", "other", "eof", "stop", "gone"})


def check_source(source: str) -> str:
    """`source` if it is one the log knows: cli, mpd, mpris or import:<name>; else ValueError."""
    if source == "cli" or source in PLAYER_SOURCES or (source.startswith("import:") and len(source) > 7):
        return source
    raise ValueError(f"unknown feedback source {source!r}")


def is_import(source: str) -> bool:
    return source.startswith("import:")


@dataclass(frozen=True)
class Act:
    """Something the listener said about a piece of music (or, for forget_source, about a source).

    kind: like | skip | forget | forget_source. position_s: where a skip happened (seconds into
    the track), if known. happened_at: unix time it happened when that is not now (an import).
    key: a stable key of an imported entry, so that importing it again adds nothing.
    """

    identity: str
    path: str
    kind: str
    source: str = "cli"
    position_s: float | None = None
    happened_at: float | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACT_KINDS:
            raise ValueError(f"not an act: {self.kind!r}")
        check_source(self.source)
        if self.position_s is not None and self.kind != "skip":
            raise ValueError("only a skip has a position")


@dataclass(frozen=True)
class Session:
    """A listening session a player saw (the `detail` of a `session` row; times in seconds).

    played_s counts only time spent playing; end_position_s is where playback was when the
    session ended and end_reason why (next | previous | other | eof | stop | gone); seeks are
    (from_s, to_s) jumps in track time, pauses the positions where it paused.
    """

    started_at: float
    duration_s: float
    played_s: float
    end_position_s: float
    end_reason: str
    seeks: tuple[tuple[float, float], ...] = ()
    pauses: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.end_reason not in END_REASONS:
            raise ValueError(f"unknown end of session {self.end_reason!r}")

    def to_json(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "duration_s": self.duration_s, "played_s": self.played_s,
                "end_position_s": self.end_position_s, "end_reason": self.end_reason,
                "seeks": [list(s) for s in self.seeks], "pauses": list(self.pauses)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(float(data["started_at"]), float(data["duration_s"]), float(data["played_s"]),
                   float(data["end_position_s"]), str(data["end_reason"]),
                   tuple((float(a), float(b)) for a, b in data.get("seeks", ())),
                   tuple(float(p) for p in data.get("pauses", ())))


@dataclass(frozen=True)
class Observation:
    """Something seen rather than said: a player's listening `session`, or imported `counts`
    (plays and skips this import adds for the music)."""

    identity: str
    path: str
    source: str
    session: Session | None = None
    plays: int = 0
    skips: int = 0
    happened_at: float | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        check_source(self.source)
        if self.source == "cli":
            raise ValueError("observations come from a player or an import")
        if (self.session is None) == (self.plays == 0 and self.skips == 0):
            raise ValueError("an observation is either a session or counts")
        if self.plays < 0 or self.skips < 0:
            raise ValueError("counts cannot be negative")

    @property
    def kind(self) -> str:
        return "session" if self.session is not None else "counts"

    def detail(self) -> str:
        data = self.session.to_json() if self.session is not None else {"plays": self.plays, "skips": self.skips}
        return json.dumps(data, sort_keys=True)


@dataclass(frozen=True)
class LogRow:
    """One row of the feedback log as stored: an act or an observation.

    `detail` is the parsed JSON of an observation ({} for acts); `withdrawn` is filled in by
    readers that compute it (a later forget of the identity or forget_source of the source).
    """

    id: int
    identity: str
    path: str
    kind: str
    source: str
    position_s: float | None
    created_at: float
    happened_at: float | None = None
    key: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    withdrawn: bool = False

    @property
    def when(self) -> float:
        """When it happened: happened_at if known, else when it was recorded."""
        return self.happened_at if self.happened_at is not None else self.created_at

    @property
    def session(self) -> Session | None:
        return Session.from_json(self.detail) if self.kind == "session" else None


def mark_withdrawn(rows: list[LogRow]) -> list[LogRow]:
    """`rows` (in id order) with `withdrawn` set: a row is withdrawn by a later `forget` of its
    identity or a later `forget_source` of its source (docs/feedback.md)."""
    from dataclasses import replace

    last_forget: dict[str, int] = {}
    last_source_forget: dict[str, int] = {}
    for row in rows:
        if row.kind == "forget":
            last_forget[row.identity] = row.id
        elif row.kind == "forget_source":
            last_source_forget[row.source] = row.id
    return [replace(row, withdrawn=row.id < last_forget.get(row.identity, 0)
                    or row.id < last_source_forget.get(row.source, 0)) for row in rows]
