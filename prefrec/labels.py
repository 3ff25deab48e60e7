"""Labels from the feedback log: the versioned rule set (docs/feedback.md, "Labels").

Acts and observations are never rewritten; training derives from them, each time, which music is
liked or not, how much that counts (weight) and which windows it covers. Changing a rule here
(and RULES_VERSION) re-derives every old row. Pure: no I/O, no numpy at import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from prefrec.feedback import PLAYER_SOURCES, RATING_KINDS, LogRow, Session, is_import

RULES_VERSION = 1


@dataclass(frozen=True)
class Rules:
    """Thresholds (seconds, fractions) and weights of rule set RULES_VERSION; recorded in each
    checkpoint. Thresholds are settings (config.Settings: skip_min_s, listen_fraction, ...)."""

    skip_min_s: float = 3.0  # less than this played: an accidental start, nothing
    listen_fraction: float = 0.5  # a listen: this fraction of the track played…
    listen_min_s: float = 240.0  # …or this many seconds (the scrobbling rule)
    seek_min_s: float = 10.0  # a forward seek this long keeps the windows jumped over out of a listen
    weight_explicit: float = 1.0  # a like/skip the listener gave through prefrec or a player
    weight_imported: float = 0.7  # a rating imported from another program
    weight_listen: float = 0.3  # one listen a player saw (or an imported play)
    weight_player_skip: float = 0.5  # one skip a player saw (or an imported skip)
    max_track_weight: float = 1.0  # a track's labels together weigh at most this

    def to_json(self) -> dict:
        return {"version": RULES_VERSION, **asdict(self)}


@dataclass(frozen=True)
class Label:
    """How one piece of music counts in training.

    target: 1.0 liked / listened, 0.0 skipped. weight: its share of the loss (a track's labels
    sum to at most Rules.max_track_weight). skip_at_s: for a skip, the windows heard before it
    count (None: every window). excluded_s: (start_s, end_s) spans left out (jumped over by a
    seek). explicit: from a rating (what `evaluate` scores), not from listening.
    """

    identity: str
    target: float
    weight: float
    explicit: bool
    source: str
    skip_at_s: float | None = None
    excluded_s: tuple[tuple[float, float], ...] = ()


def classify(session: Session, rules: Rules, *, previous_start: float | None = None) -> str:
    """What a listening session means: 'listen', 'skip', or 'nothing' (see docs/feedback.md).

    previous_start: when the previous session of the same music started (a session starting
    within one track length of it is a repeat, which means nothing).
    """
    if previous_start is not None and 0 <= session.started_at - previous_start < session.duration_s:
        return "nothing"
    if session.played_s < rules.skip_min_s:
        return "nothing"
    threshold = min(rules.listen_fraction * session.duration_s, rules.listen_min_s) if session.duration_s > 0 \
        else rules.listen_min_s
    if session.played_s >= threshold:
        return "listen"
    if session.end_reason in ("next", "previous", "other"):
        return "skip"
    return "nothing"  # stopped, paused for good, or the player went away


def _listen_exclusions(session: Session, rules: Rules) -> tuple[tuple[float, float], ...]:
    return tuple((a, b) for a, b in session.seeks if b - a >= rules.seek_min_s)


def derive(rows: Iterable[LogRow], rules: Rules | None = None) -> dict[str, list[Label]]:
    """Labels per identity from the feedback log (`rows` in id order, `withdrawn` marked, see
    feedback.mark_withdrawn). Music with nothing usable gets no entry."""
    rules = rules or Rules()
    by_identity: dict[str, list[LogRow]] = defaultdict(list)
    for row in rows:
        if not row.withdrawn and row.identity:
            by_identity[row.identity].append(row)
    labels: dict[str, list[Label]] = {}
    for identity, items in by_identity.items():
        found = _labels_of(identity, items, rules)
        if found:
            labels[identity] = found
    return labels


def _labels_of(identity: str, rows: list[LogRow], rules: Rules) -> list[Label]:
    rating = next((r for r in reversed(rows) if r.kind in RATING_KINDS), None)
    if rating is not None:  # 1. a rating outweighs everything implicit
        weight = rules.weight_imported if is_import(rating.source) else rules.weight_explicit
        if rating.kind == "like":
            return [Label(identity, 1.0, weight, True, rating.source)]
        return [Label(identity, 0.0, weight, True, rating.source, skip_at_s=rating.position_s)]
    found: list[Label] = []  # 2. sessions and counts
    meanings = session_meanings(rows, rules)
    for row in rows:
        if row.kind == "session":
            session = row.session
            assert session is not None
            meaning = meanings[row.id]
            if meaning == "listen":
                found.append(Label(identity, 1.0, rules.weight_listen, False, row.source,
                                   excluded_s=_listen_exclusions(session, rules)))
            elif meaning == "skip":
                found.append(Label(identity, 0.0, rules.weight_player_skip, False, row.source,
                                   skip_at_s=session.end_position_s))
        elif row.kind == "counts":
            plays, skips = int(row.detail.get("plays", 0)), int(row.detail.get("skips", 0))
            if plays:
                found.append(Label(identity, 1.0, rules.weight_listen * plays, False, row.source))
            if skips:
                found.append(Label(identity, 0.0, rules.weight_player_skip * skips, False, row.source))
    total = sum(label.weight for label in found)
    if total > rules.max_track_weight:
        scale = rules.max_track_weight / total
        found = [Label(x.identity, x.target, x.weight * scale, x.explicit, x.source, x.skip_at_s, x.excluded_s)
                 for x in found]
    return found


def session_meanings(rows: Iterable[LogRow], rules: Rules) -> dict[int, str]:
    """What each not-withdrawn `session` row of one piece of music means ('listen', 'skip',
    'nothing'), by row id; `rows` in id order. A session is judged with the one before it (repeats)."""
    meanings: dict[int, str] = {}
    previous_start: float | None = None
    for row in rows:
        if row.kind == "session" and not row.withdrawn:
            session = row.session
            assert session is not None
            meanings[row.id] = classify(session, rules, previous_start=previous_start)
            previous_start = session.started_at
    return meanings


__all__ = ["RULES_VERSION", "Rules", "Label", "classify", "derive", "session_meanings", "PLAYER_SOURCES"]
