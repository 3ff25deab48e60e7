"""Explaining a track's score: its best and worst segments, a terminal timeline, a plot, a clip.

Functions over window probabilities float32 [n_windows] (window i covers i..i+8 s); matplotlib
(plot) and soundfile (clip) are imported only by the functions that draw or write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
                  best: bool = True, avoid: Sequence[Segment] = ()) -> list[Segment]:
    """The `count` highest (best=True) or lowest scoring windows, spread over the track.

    scores: [n_windows]; bounds: [(start_s, end_s)] of the same length. Prefers windows that do
    not overlap those already chosen, then ones overlapping by at most half, then any, so a short
    track still gets `count` segments when it has that many windows. A window overlapping one of
    `avoid` (e.g. the best segments, when picking the worst) is never chosen, so there may be
    fewer. Best (or worst) first.
    """
    def clear(i: int) -> bool:
        return all(bounds[i][1] <= a.start_s or bounds[i][0] >= a.end_s for a in avoid)

    order = [i for i in sorted(range(len(scores)), key=lambda i: (-scores[i] if best else scores[i], i)) if clear(i)]
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


def is_flat(scores: Sequence[float], *, spread: float) -> bool:
    """Whether window scores [n_windows] span less than `spread` (max - min): no part stands out."""
    return not scores or max(scores) - min(scores) < spread


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


# The colour marking the best segment in plots (tests look for it in the image), and the skip.
BEST_COLOR = "#00c853"
SKIP_COLOR = "#d50000"
PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def figure_class() -> Any:
    """matplotlib's Figure on the non-interactive Agg backend; MissingExtra when matplotlib is
    not installed (it is the optional `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtra("--plot needs matplotlib, which is not installed; install it with "
                           "`pip install 'prefrec[plot]'` (or `pip install matplotlib`)") from exc
    return Figure


def plot_format(out: Path) -> str:
    """The file format `out`'s extension asks for (png, pdf, svg); UsageError for another."""
    from prefrec.errors import UsageError

    fmt = PLOT_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise UsageError(f"--plot {out}: give a file name ending in .png, .pdf or .svg")
    return fmt


def plot_explanation(out: Path, **drawing: object) -> None:
    """Draw a track's explanation (explanation_figure, with these arguments) into `out`: PNG, PDF
    or SVG, from its extension (UsageError for another)."""
    fmt = plot_format(out)
    explanation_figure(**drawing).savefig(out, format=fmt)  # type: ignore[arg-type]


def explanation_figure(*, windows: Sequence[tuple[float, float, float]], spectrogram: np.ndarray,
                       best: Segment | None, title: str, skip_at_s: float | None = None,
                       duration_s: float | None = None, dpi: int = 100):  # -> matplotlib.figure.Figure
    """A matplotlib Figure (10 x 6 inches) explaining a track's score.

    Above: the score curve (each window's score at its middle, 0..1) over time, the best segment
    shaded and edged in BEST_COLOR, where the listener skipped as a dashed SKIP_COLOR line, the
    two named in a legend (so no label sits on the curve or on another label). Below, on the same
    time axis: the log-mel spectrogram (spectrogram: float32 [n_mels, frames] in dB at 50
    frames/s, see features.log_mel) with the best segment edged and a colour bar in dB.
    Raises MissingExtra when matplotlib is not installed.
    """
    Figure = figure_class()
    import numpy as np
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from prefrec.features import FRAMES_PER_S, mel_edges_hz

    duration = duration_s if duration_s is not None else spectrogram.shape[1] / FRAMES_PER_S
    fig = Figure(figsize=(10, 6), dpi=dpi, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    mids = np.array([(s + e) / 2 for s, e, _ in windows])
    values = np.array([v for _, _, v in windows])
    top.plot(mids, values, color="#1f4e9c", linewidth=1.6, marker="." if len(windows) < 40 else None,
             label="window score")
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("score (0–1)")
    top.set_title(title)
    top.grid(alpha=0.3)
    if spectrogram.size:
        peak = float(spectrogram.max())
        bands = spectrogram.shape[0]
        image = bottom.imshow(spectrogram, aspect="auto", origin="lower", interpolation="nearest", cmap="magma",
                              vmin=peak - 80.0, vmax=peak, extent=(0.0, spectrogram.shape[1] / FRAMES_PER_S,
                                                                   0.0, float(bands)))
        bar = fig.colorbar(image, ax=bottom, pad=0.01)
        bar.set_label("level (dB)")
        # mel bands are spaced by pitch, not by Hz: label a few with the frequency at their centre
        centres = mel_edges_hz()[1:-1]
        marks = [hz for hz in (100, 500, 1000, 2000, 4000, 8000) if centres[0] <= hz <= centres[-1]]
        bottom.set_yticks([float(np.interp(hz, centres, np.arange(bands))) + 0.5 for hz in marks],
                          [f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in marks])
    bottom.set_ylabel("frequency (Hz, mel scale)")
    bottom.set_xlabel("time (m:ss)")
    bottom.set_xlim(0.0, duration)
    bottom.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 3, 6, 10]))
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: mmss(x)))
    if best is not None:
        top.axvspan(best.start_s, best.end_s, color=BEST_COLOR, alpha=0.18, linewidth=0,
                    label=f"best {mmss(best.start_s)}–{mmss(best.end_s)} ({best.score:.2f})")
        for ax in (top, bottom):
            for x in (best.start_s, best.end_s):
                ax.axvline(x, color=BEST_COLOR, linewidth=2.5)
    if skip_at_s is not None:
        for ax in (top, bottom):
            ax.axvline(skip_at_s, color=SKIP_COLOR, linewidth=1.8, linestyle="--",
                       label=f"you skipped at {mmss(skip_at_s)}" if ax is top else None)
    top.legend(loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=3, fontsize=9, frameon=False)
    return fig


def clip_source(source: Path, out: Path, start_s: float, end_s: float) -> str:
    """Cut start_s..end_s of the original file `source` into `out` at the original quality
    (its sample rate and channels, not the 22050 Hz mono of analysis). Returns how:

    - 'copy': `out` has the source's extension: ffmpeg copies the encoded audio (no re-encoding,
      no loss; cut at the nearest packet, within a few tens of ms);
    - 'pcm': `out` is .wav or .flac: the decoded samples at the source's rate (libsndfile when it
      reads the source, sample-exact; else ffmpeg);
    - 'encode': another format: ffmpeg encodes it with the format's default encoder.
    Raises AudioError naming what is missing or what failed."""
    import shutil
    import subprocess

    from prefrec.errors import AudioError

    lossless = Path(out).suffix.lower() in (".wav", ".flac")
    if lossless and _clip_with_soundfile(source, out, start_s, end_s):
        return "pcm"
    if shutil.which("ffmpeg") is None:
        raise AudioError(f"{out}: cutting {Path(source).suffix or 'this'} files into {Path(out).suffix or 'it'} "
                         "needs ffmpeg; install it (`apt install ffmpeg`) or give a .wav name")
    same = Path(out).suffix.lower() == Path(source).suffix.lower()
    how = "pcm" if lossless else "copy" if same else "encode"
    codec = ["-c", "copy"] if how == "copy" else []
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{start_s:.3f}", "-t",
               f"{end_s - start_s:.3f}", "-i", str(source), "-map", "0:a:0", *codec, str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AudioError(f"{out}: ffmpeg could not cut {source} ({(proc.stderr.strip() or 'no message')[:200]})")
    return how


def _clip_with_soundfile(source: Path, out: Path, start_s: float, end_s: float) -> bool:
    """Write the samples of source[start_s:end_s] at its own rate, channels and (for FLAC/WAV
    sources) sample format to `out` with libsndfile; False when libsndfile cannot read `source`."""
    import soundfile as sf

    try:
        f = sf.SoundFile(str(source))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return False
    with f:
        f.seek(min(f.frames, int(round(start_s * f.samplerate))))
        samples = f.read(int(round((end_s - start_s) * f.samplerate)), dtype="float32", always_2d=True)
        subtype = f.subtype if f.subtype in ("PCM_16", "PCM_24") else "PCM_16"
        rate = f.samplerate
    fmt = "FLAC" if Path(out).suffix.lower() == ".flac" else "WAV"
    sf.write(str(out), samples, rate, subtype=subtype, format=fmt)
    return True


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
