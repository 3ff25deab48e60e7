"""MFCC features and 8-second windows: pure functions with documented shapes.

Fixed parameters (the contract between modules and benchmarks):
audio is mono at 22050 Hz; MFCCs have 20 coefficients with a hop of 441 samples,
exactly 50 frames per second; a window is 8 s = 400 frames and slides by 1 s = 50 frames.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 22050
HOP_SAMPLES = 441
FRAMES_PER_S = SAMPLE_RATE // HOP_SAMPLES  # 50
N_MFCC = 20
N_FFT = 2048
N_MELS = 64
WINDOW_S = 8
STEP_S = 1
WINDOW_FRAMES = WINDOW_S * FRAMES_PER_S  # 400
STEP_FRAMES = STEP_S * FRAMES_PER_S  # 50
# Bump when anything above or in `mfcc` changes: cached features of another version are recomputed.
FEATURE_VERSION = 2

assert SAMPLE_RATE == HOP_SAMPLES * FRAMES_PER_S


def n_frames_for(n_samples: int) -> int:
    """Number of MFCC frames for `n_samples` of 22050 Hz audio: one per started hop."""
    return -(-n_samples // HOP_SAMPLES) if n_samples > 0 else 0


def mfcc(samples: np.ndarray) -> np.ndarray:
    """MFCCs of mono 22050 Hz audio.

    samples: float32 [n_samples], values in [-1, 1].
    Returns float32 [N_MFCC, n_frames] with n_frames = ceil(n_samples / 441): frame f describes
    the audio around sample f * 441 (an N_FFT-long frame centred there, zero beyond the ends).
    Frames are computed from zero-padded audio, so MFCCs of consecutive blocks of a long track,
    each cut on a hop boundary and given N_FFT/2 samples of context on both sides, are the same
    as those of the whole track.
    """
    import numpy as np

    n = int(samples.shape[0])
    frames = n_frames_for(n)
    if frames == 0:
        return np.zeros((N_MFCC, 0), dtype=np.float32)
    half = N_FFT // 2
    total = (frames - 1) * HOP_SAMPLES + N_FFT
    padded = np.zeros(total, dtype=np.float32)
    usable = min(n, total - half)
    padded[half : half + usable] = samples[:usable]
    return mfcc_of_padded(padded, frames)


def mfcc_of_padded(padded: np.ndarray, frames: int) -> np.ndarray:
    """MFCCs of `frames` frames of already-padded audio.

    padded: float32 [(frames - 1) * 441 + N_FFT]; frame f covers padded[f*441 : f*441 + N_FFT].
    Returns float32 [N_MFCC, frames].

    The same computation as librosa's melspectrogram (periodic Hann window, power 2, Slaney mel
    filters) followed by librosa's MFCC (orthonormal DCT-II), done with precomputed float32
    matrices over chunks of frames: about twice as fast, and bounded temporary memory.
    """
    import numpy as np

    out = np.empty((frames, N_MFCC), dtype=np.float32)
    mfcc_frames_into(padded, frames, out)
    return np.ascontiguousarray(out.T)


def mfcc_frames_into(padded: np.ndarray, frames: int, out: np.ndarray) -> None:
    """`mfcc_of_padded`, written time-major into `out`: float32 [frames, N_MFCC] (e.g. a slice of a
    longer array, so a long track's MFCCs are never copied from block results into a whole)."""
    import numpy as np

    _, _, dct_t = _mfcc_matrices()
    for start, stop, log_mel in _log_mel_chunks(padded, frames):
        np.matmul(log_mel, dct_t, out=out[start:stop])


def log_mel(samples: np.ndarray) -> np.ndarray:
    """The log-mel spectrogram the MFCCs are computed from (what a spectrogram viewer shows).

    samples: float32 [n_samples] mono 22050 Hz. Returns float32 [N_MELS, n_frames] in dB (power,
    floor -100 dB), frames as in `mfcc` (50 per second), bands from 0 Hz to 11025 Hz."""
    import numpy as np

    frames = n_frames_for(int(samples.shape[0]))
    out = np.empty((frames, N_MELS), dtype=np.float32)
    if frames:
        half = N_FFT // 2
        padded = np.zeros((frames - 1) * HOP_SAMPLES + N_FFT, dtype=np.float32)
        usable = min(int(samples.shape[0]), padded.shape[0] - half)
        padded[half : half + usable] = samples[:usable]
        for start, stop, chunk in _log_mel_chunks(padded, frames):
            out[start:stop] = chunk
    return np.ascontiguousarray(out.T)


def _log_mel_chunks(padded: np.ndarray, frames: int):  # -> Iterator[(start, stop, float32 [n, N_MELS])]
    """Log-mel power (dB) of `frames` frames of padded audio (as `mfcc_of_padded` takes it), in
    chunks of _CHUNK_FRAMES: yields (first frame, last frame + 1, a reused float32 [n, N_MELS])."""
    import numpy as np

    window, mel_bands, _ = _mfcc_matrices()
    rfft = real_fft()
    view = np.lib.stride_tricks.sliding_window_view(padded[: (frames - 1) * HOP_SAMPLES + N_FFT], N_FFT)
    view = view[::HOP_SAMPLES]
    windowed, spectrum, power, mel = _workspace()
    for start in range(0, frames, _CHUNK_FRAMES):
        stop = min(frames, start + _CHUNK_FRAMES)
        n = stop - start
        np.multiply(view[start:stop], window, out=windowed[:n])
        rfft(windowed[:n], spectrum[:n])
        # |X|^2 without temporaries: square real and imaginary parts in place (the same float32
        # products as squaring .real and .imag), then add each pair.
        parts = spectrum[:n].view(np.float32)  # [n, 2 * N_BINS]: re, im, re, im...
        np.square(parts, out=parts)
        np.add(parts[:, 0::2], parts[:, 1::2], out=power[:n])
        for first, last, lo, hi, weights in mel_bands:  # each group of filters over its own bins only
            np.matmul(power[:n, lo:hi], weights, out=mel[:n, first:last])
        # An absolute floor (not relative to the loudest frame), so a block's values do not depend
        # on the rest of the track: -100 dB is far below anything audible.
        # 10 log10(x) as (10 / ln 10) ln(x): numpy's float32 log is vectorised and its log10 is not
        # (30 against 104 µs a chunk, 2% of a scan); the dB values differ in their last bit or so
        # (at most 1.5e-5 dB), far inside the cache's quantisation step.
        np.log(np.maximum(mel[:n], 1e-10, out=mel[:n]), out=mel[:n])
        mel[:n] *= _DB_PER_NEPER
        yield start, stop, mel[:n]


N_BINS = N_FFT // 2 + 1  # frequency bins of a real FFT frame, 0 Hz to 11025 Hz
_DB_PER_NEPER = 4.342944819032518  # 10 / ln(10): 10 log10(x) = _DB_PER_NEPER * ln(x)


def real_fft():  # -> Callable[[float32 [n, N_FFT], complex64 [n, N_BINS]], complex64 [n, N_BINS]]
    """rfft(x, out): the unnormalised real FFT of each row of x, written into `out` (returned).

    scipy's pocketfft, called directly: `import scipy.fft` costs every analysis worker about
    0.4 s of CPU at start-up (it imports scipy.special and scipy's array-API layer) for this one
    function. Its compiled module is loaded alone (`_pocketfft_module`), or, should scipy's layout
    change, through scipy.fft: the same code either way, so the same bits (a test checks).
    """
    module = _pocketfft_module()
    if module is not None:
        return lambda x, out: module.r2c(x, (1,), True, 0, out, 1)  # axes, forward, no scaling, 1 thread
    return scipy_rfft


def scipy_rfft(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`real_fft()`'s fallback through the scipy.fft package (x float32 [n, N_FFT] -> out)."""
    import scipy.fft

    out[...] = scipy.fft.rfft(x, axis=1, workers=1)
    return out


@functools.lru_cache(maxsize=1)
def _pocketfft_module():  # -> the scipy.fft._pocketfft.pypocketfft module, or None
    """scipy's compiled pocketfft module without importing the scipy.fft package around it, under
    its own name (so a later `import scipy.fft` uses this copy); None when it is not where scipy
    1.x keeps it, or does not compute a known transform exactly."""
    import importlib.machinery
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np

    name = "scipy.fft._pocketfft.pypocketfft"
    try:
        module = sys.modules.get(name)
        if module is None:
            scipy = importlib.util.find_spec("scipy")  # locates the package without running it
            folder = Path(scipy.origin).parent / "fft" / "_pocketfft"
            path = next(p for s in importlib.machinery.EXTENSION_SUFFIXES if (p := folder / f"pypocketfft{s}").is_file())
            loader = importlib.machinery.ExtensionFileLoader(name, str(path))
            spec = importlib.util.spec_from_file_location(name, path, loader=loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            sys.modules[name] = module
        probe = np.zeros((1, 8), dtype=np.float32)
        probe[0, 1] = 1.0  # a unit impulse at sample 1: X[k] = exp(-2 pi i k / 8)
        out = np.empty((1, 5), dtype=np.complex64)
        got = module.r2c(probe, (1,), True, 0, out, 1)
        expected = np.exp(-2j * np.pi * np.arange(5) / 8)
        if got is not out or np.abs(out[0] - expected).max() > 1e-6:
            return None
        return module
    except Exception:  # noqa: BLE001 - any surprise: use scipy.fft as published
        return None


def _workspace():  # -> (float32 [C, N_FFT], complex64 [C, N_BINS], float32 [C, N_BINS], float32 [C, N_MELS])
    """This thread's reused chunk buffers (C = _CHUNK_FRAMES): 2.6 MB that a long track's blocks
    would otherwise allocate (and fault in) afresh every 1000 frames."""
    import numpy as np

    space = getattr(_local, "space", None)
    if space is None or space[0].shape[0] != _CHUNK_FRAMES:
        space = _local.space = (np.empty((_CHUNK_FRAMES, N_FFT), dtype=np.float32),
                                np.empty((_CHUNK_FRAMES, N_BINS), dtype=np.complex64),
                                np.empty((_CHUNK_FRAMES, N_BINS), dtype=np.float32),
                                np.empty((_CHUNK_FRAMES, N_MELS), dtype=np.float32))
    return space


_local = threading.local()
_CHUNK_FRAMES = 128  # frames per FFT batch: ~2.5 MB of temporaries stay in cache (measured 1.6x faster than 500)
_FILTERS_PER_BAND = 8  # mel filters multiplied together over the bins they cover (4.5x faster than all bins)


@functools.lru_cache(maxsize=1)
def _mfcc_matrices() -> tuple[np.ndarray, list[tuple[int, int, int, int, np.ndarray]], np.ndarray]:
    """Hann window float32 [N_FFT]; the mel filters in groups of _FILTERS_PER_BAND, each as
    (first filter, last filter + 1, first bin, last bin + 1, float32 [bins, filters]) covering every
    bin where one of them is non-zero; DCT-II rows transposed [N_MELS, N_MFCC] (orthonormal, as
    librosa.feature.mfcc)."""
    import numpy as np

    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    dct = dct_matrix()
    filters = mel_filters()  # [N_MELS, bins]
    bands = []
    for first in range(0, N_MELS, _FILTERS_PER_BAND):
        last = min(N_MELS, first + _FILTERS_PER_BAND)
        used = np.flatnonzero(filters[first:last].any(axis=0))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        bands.append((first, last, lo, hi, np.ascontiguousarray(filters[first:last, lo:hi].T)))
    return window, bands, np.ascontiguousarray(dct.T)


def dct_matrix() -> np.ndarray:
    """The first N_MFCC rows of the orthonormal DCT-II of N_MELS points, float32 [N_MFCC, N_MELS]
    (scipy.fft.dct(..., norm="ortho"), as librosa.feature.mfcc uses; computed here so that analysis
    workers need not import scipy.fft): row k is sqrt(2/N) cos(pi k (2n + 1) / 2N), row 0 times
    1/sqrt(2)."""
    import numpy as np

    k = np.arange(N_MFCC)[:, None]
    n = np.arange(N_MELS)[None, :]
    dct = np.sqrt(2.0 / N_MELS) * np.cos(np.pi * k * (2 * n + 1) / (2 * N_MELS))
    dct[0] /= np.sqrt(2.0)
    return dct.astype(np.float32)


def mel_filters() -> np.ndarray:
    """Slaney-style mel filter bank, float32 [N_MELS, N_FFT//2+1], 0 Hz to SAMPLE_RATE/2, area-normalised.

    The same matrix as librosa.filters.mel(sr=22050, n_fft=2048, n_mels=64) (a test checks it),
    computed here because importing librosa.filters costs every analysis worker about 2 s.
    """
    import numpy as np

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_hz = mel_edges_hz()
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_edges_hz() -> np.ndarray:
    """Edges of the Slaney mel filters in Hz, float64 [N_MELS + 2]: filter i rises from edge i,
    peaks at edge i + 1 (its centre) and falls to edge i + 2."""
    import numpy as np

    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(hz: float) -> float:
        return min_log_mel + np.log(hz / min_log_hz) / logstep if hz >= min_log_hz else hz / f_sp

    mel = np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2)
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def n_windows(n_frames: int) -> int:
    """Number of 8 s windows of a track with `n_frames` MFCC frames (at least 1)."""
    if n_frames <= WINDOW_FRAMES:
        return 1
    return (n_frames - WINDOW_FRAMES) // STEP_FRAMES + 1


def window_bounds_s(n_frames: int) -> list[tuple[float, float]]:
    """Start and end of every window in seconds: [(start_s, end_s)] of length n_windows(n_frames).

    A short track's only window ends at the track's end, not at 8 s.
    """
    track_end = n_frames / FRAMES_PER_S
    return [
        (float(i * STEP_S), float(min(i * STEP_S + WINDOW_S, track_end)))
        for i in range(n_windows(n_frames))
    ]


def skip_window_weights(n_frames: int, skip_at_s: float | None) -> np.ndarray:
    """Training weights of a skipped track's windows (all labelled 0, "disliked").

    A skip without a position weighs every window 1. A skip at `skip_at_s` weighs each window by
    the fraction of it the listener heard before skipping: windows heard in full weigh 1, the one
    the skip fell in weighs in proportion, windows never heard weigh 0. If nothing at all was
    heard (a skip at 0 s), the first window still weighs a little, so the skip is not lost.
    Returns float32 [n_windows(n_frames)].
    """
    import numpy as np

    bounds = np.asarray(window_bounds_s(n_frames), dtype=np.float32)
    if skip_at_s is None:
        return np.ones(len(bounds), dtype=np.float32)
    starts, ends = bounds[:, 0], bounds[:, 1]
    heard = np.clip(skip_at_s - starts, 0.0, None)
    weights = np.clip(heard / np.maximum(ends - starts, 1e-6), 0.0, 1.0).astype(np.float32)
    if weights.sum() == 0:
        weights[0] = 0.1
    return weights
