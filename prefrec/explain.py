"""Explaining a track's score: its best and worst segments, and a terminal timeline.

Pure functions over window probabilities float32 [n_windows] (window i covers i..i+8 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SPARK_CHARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    score: float


def mmss(seconds: float) -> str:
    """83.4 -> '1:23'; 3725 -> '1:02:05'."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def pick_segments(scores: Sequence[float], bounds: Sequence[tuple[float, float]], *, count: int = 3,
                  best: bool = True) -> list[Segment]:
    """The `count` highest (best=True) or lowest scoring windows, spread over the track.

    scores: [n_windows]; bounds: [(start_s, end_s)] of the same length. Prefers windows that do
    not overlap those already chosen, then ones overlapping by at most half, then any, so a short
    track still gets `count` segments when it has that many windows. Best (or worst) first.
    """
    order = sorted(range(len(scores)), key=lambda i: (-scores[i] if best else scores[i], i))
    chosen: list[int] = []
    for min_gap in (1.0, 0.5, 0.0):  # fraction of a window's length between chosen starts
        for i in order:
            if len(chosen) == count:
                break
            length = bounds[i][1] - bounds[i][0]
            if i not in chosen and all(abs(bounds[i][0] - bounds[j][0]) >= min_gap * length for j in chosen):
                chosen.append(i)
    chosen.sort(key=lambda i: (-scores[i] if best else scores[i], i))
    return [Segment(bounds[i][0], bounds[i][1], float(scores[i])) for i in chosen]


def sparkline(scores: Sequence[float], *, width: int = 60) -> str:
    """Scores in 0..1 as block characters, averaged down to at most `width` characters."""
    if not scores:
        return ""
    n = len(scores)
    cells = min(width, n)
    out = []
    for c in range(cells):
        lo, hi = c * n // cells, max((c + 1) * n // cells, c * n // cells + 1)
        value = sum(scores[lo:hi]) / (hi - lo)
        out.append(SPARK_CHARS[min(len(SPARK_CHARS) - 1, max(0, int(value * len(SPARK_CHARS))))])
    return "".join(out)


def time_axis(duration_s: float, width: int, *, marks: int = 4) -> str:
    """A line of mm:ss marks under a sparkline `width` characters wide spanning `duration_s`."""
    line = [" "] * (width + 8)
    for k in range(marks + 1):
        pos = round(k * (width - 1) / marks) if marks else 0
        label = mmss(duration_s * k / marks if marks else 0)
        start = min(pos, len(line) - len(label)) if k < marks else max(0, pos - len(label) + 1)
        if all(ch == " " for ch in line[max(0, start - 1) : start + len(label) + 1]):
            line[start : start + len(label)] = label
    return "".join(line).rstrip()
