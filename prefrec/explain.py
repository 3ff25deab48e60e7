"""Explaining a track's score: its best and worst segments, a terminal timeline, a plot, a clip.

Functions over window probabilities float32 [n_windows] (window i covers i..i+8 s); matplotlib
(plot) and soundfile (clip) are imported only by the functions that draw or write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefrec.errors import MissingExtra

if TYPE_CHECKING:
    import numpy as np

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


def cell_values(scores: Sequence[float], *, width: int = 60) -> list[float]:
    """Scores [n_windows] averaged down to at most `width` consecutive cells."""
    n = len(scores)
    cells = min(width, n)
    out = []
    for c in range(cells):
        lo, hi = c * n // cells, max((c + 1) * n // cells, c * n // cells + 1)
        out.append(sum(scores[lo:hi]) / (hi - lo))
    return out


def _spark_char(value: float) -> str:
    return SPARK_CHARS[min(len(SPARK_CHARS) - 1, max(0, int(value * len(SPARK_CHARS))))]


def sparkline(scores: Sequence[float], *, width: int = 60) -> str:
    """Scores in 0..1 as block characters, averaged down to at most `width` characters."""
    return "".join(_spark_char(v) for v in cell_values(scores, width=width))


# 256-colour terminal codes from red (disliked) through yellow to green (liked).
_GRADIENT = (196, 202, 208, 214, 220, 190, 154, 118, 46)


def color_sparkline(scores: Sequence[float], *, width: int = 60) -> str:
    """sparkline() with each character coloured by its score (ANSI 256 colours), for terminals
    that want colour (the caller checks NO_COLOR and isatty)."""
    parts = []
    for v in cell_values(scores, width=width):
        code = _GRADIENT[min(len(_GRADIENT) - 1, max(0, int(v * len(_GRADIENT))))]
        parts.append(f"\x1b[38;5;{code}m{_spark_char(v)}")
    return "".join(parts) + "\x1b[0m" if parts else ""


# The colour marking the best segment in plots (tests look for it in the PNG).
BEST_COLOR = "#00c853"


def plot_explanation(out: Path, *, windows: Sequence[tuple[float, float, float]], features: np.ndarray,
                     best: Segment | None, title: str, dpi: int = 100) -> None:
    """A PNG at `out`: window scores over time (each window's score at its middle, in 0..1) above
    the track's MFCC image, sharing the time axis in seconds; the best segment is shaded and edged
    in BEST_COLOR on both. features: float32 [n_mfcc, frames] at 50 frames/s.
    Raises MissingExtra when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise MissingExtra("--plot needs matplotlib, which is not installed; install it with "
                           "`pip install 'prefrec[plot]'` (or `pip install matplotlib`)") from exc
    import numpy as np

    from prefrec.features import FRAMES_PER_S

    duration = features.shape[1] / FRAMES_PER_S
    fig = Figure(figsize=(10, 6), dpi=dpi, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    mids = np.array([(s + e) / 2 for s, e, _ in windows])
    values = np.array([v for _, _, v in windows])
    top.plot(mids, values, color="#1f4e9c", linewidth=1.6, marker="." if len(windows) < 40 else None)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("window score")
    top.set_title(title)
    top.grid(alpha=0.3)
    # each coefficient standardised over the track, so the loud 0th one does not wash out the rest
    shown = (features - features.mean(axis=1, keepdims=True)) / (features.std(axis=1, keepdims=True) + 1e-6)
    bottom.imshow(np.clip(shown, -3, 3), aspect="auto", origin="lower", interpolation="nearest", cmap="magma",
                  extent=(0.0, duration, 0.0, float(features.shape[0])))
    bottom.set_ylabel("MFCC (standardised)")
    bottom.set_xlabel("time (m:ss)")
    bottom.set_xlim(0.0, duration)
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: mmss(x)))
    if best is not None:
        for ax in (top, bottom):
            ax.axvspan(best.start_s, best.end_s, color=BEST_COLOR, alpha=0.18, linewidth=0)
            for x in (best.start_s, best.end_s):
                ax.axvline(x, color=BEST_COLOR, linewidth=2.5)
        top.annotate(f"best {mmss(best.start_s)}–{mmss(best.end_s)} ({best.score:.2f})",
                     xy=((best.start_s + best.end_s) / 2, 1.0), xytext=(0, -14), textcoords="offset points",
                     ha="center", fontsize=9, color="#1b5e20")
    fig.savefig(out, format="png")


def write_clip(out: Path, samples: np.ndarray, start_s: float, end_s: float, *,
               sample_rate: int = 22050) -> int:
    """Write samples[start_s:end_s] of mono audio float32 [n_samples] at `sample_rate` as a
    16-bit PCM WAV at `out`. Returns the number of samples written."""
    import soundfile as sf

    lo = max(0, int(round(start_s * sample_rate)))
    hi = min(samples.shape[0], int(round(end_s * sample_rate)))
    piece = samples[lo:hi]
    sf.write(str(out), piece, sample_rate, subtype="PCM_16", format="WAV")
    return int(piece.shape[0])


def time_axis(duration_s: float, width: int, *, marks: int = 4) -> str:
    """A line of mm:ss marks under a sparkline `width` characters wide spanning `duration_s`.

    The start (0:00) and the end always show; the end moves right past the start when the line is
    too short for both; the marks between show where they fit.
    """
    start_label, end_label = mmss(0), mmss(duration_s)
    line = list(start_label) + [" "] * max(0, width + 8 - len(start_label))
    end_at = max(width - len(end_label), len(start_label) + 1)
    line[end_at : end_at + len(end_label)] = end_label
    for k in range(1, marks):
        label = mmss(duration_s * k / marks)
        at = min(round(k * (width - 1) / marks), len(line) - len(label))
        if all(ch == " " for ch in line[max(0, at - 1) : at + len(label) + 1]):
            line[at : at + len(label)] = label
    return "".join(line).rstrip()
