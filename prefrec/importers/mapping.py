"""What an imported entry tells prefrec: an opinion (an imported like/skip act) and play counts.

The rules, one table for every format (README "Importing" documents the same):

| format | like | skip | counts |
|---|---|---|---|
| m3u | every entry (or `--as skip`) | with `--as skip` | none |
| itunes | Loved/Favorited, or Rating >= 80 (4-5 stars) | Disliked, or Rating <= 40 (1-2 stars) | Play Count, Skip Count |
| strawberry, clementine | rating >= 0.8 (4-5 stars) | rating <= 0.4 (1-2 stars) | playcount, skipcount |
| beets | rating >= 0.9 | rating <= 0.1 | play_count, skip_count |
| listenbrainz | feedback score 1 (loved) | feedback score -1 (hated) | listens (no skips) |
| mpd | like = 2, or rating >= 8 of 10 | like = 0, or rating <= 4 of 10 | playCount, skipCount |

Three stars (or a rating in between) say nothing either way and become no act; the counts of
the same entry are still imported. Unrated is not a rating (iTunes, Strawberry and MPD write 0 or
-1 for it). Loved/hated outweighs the stars. beets' mpdstats rating starts at 0.5 and moves a
little with every play and skip, so it is summarised from the counts; only its extremes are taken
as an opinion, the counts carry the rest (a beets rating above 1 was set by hand on a 0-5, 0-10 or
0-100 scale and follows the star thresholds).

Counts are never turned into a rating: they become one `counts` observation per entry, which the
label rules read as that many listens and skips (with a capped total weight).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prefrec.importers.base import Entry

Opinion = Literal["like", "skip"]

# (like at or above, skip at or below), as fractions of the rating scale.
STARS = (0.8, 0.4)
RATING_RULES: dict[str, tuple[float, float]] = {
    "itunes": STARS,
    "strawberry": STARS,
    "clementine": STARS,
    "mpd": STARS,
    "beets": (0.9, 0.1),
}


@dataclass(frozen=True)
class Plan:
    """What one entry adds to the feedback log.

    opinion: an imported act ('like'/'skip') or None. why: what in the source said so, for the
    report ('loved', 'rating 80/100', 'in the playlist'). plays/skips: the source's counts (totals;
    the importer records only what is new since the last import). last_played: Unix seconds or None.
    """

    opinion: Opinion | None
    why: str
    plays: int
    skips: int
    last_played: float | None

    @property
    def has_counts(self) -> bool:
        return self.plays > 0 or self.skips > 0


def plan(entry: Entry, format: str, *, as_opinion: Opinion | None = None) -> Plan:
    """Apply the rules above to one entry of a source in `format`."""
    plays, skips = entry.plays or 0, entry.skips or 0
    if format == "m3u":
        opinion: Opinion = as_opinion or "like"
        return Plan(opinion, "in the playlist", 0, 0, None)
    opinion_, why = _opinion(entry, format)
    return Plan(opinion_, why, plays, skips, entry.last_played)


def _opinion(entry: Entry, format: str) -> tuple[Opinion | None, str]:
    if entry.loved is True:
        return "like", "loved"
    if entry.loved is False:
        return "skip", "hated" if format == "listenbrainz" else "disliked"
    fraction = entry.rating_fraction
    if fraction is None:
        return None, ""
    like_at, skip_at = RATING_RULES.get(format, STARS)
    if format == "beets" and (entry.rating_max or 1) > 1:
        like_at, skip_at = STARS
    shown = f"rating {entry.rating:g}/{entry.rating_max:g}"
    fraction = round(fraction, 3)  # Strawberry stores 0.4 as the float32 0.4000000059604645
    if fraction >= like_at:
        return "like", shown
    if fraction <= skip_at:
        return "skip", shown
    return None, f"{shown} (neither)"
