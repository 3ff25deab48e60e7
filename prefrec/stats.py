"""MFCC statistics: the 60-number summary of a stretch of music, per track and per 8 s window.

The summary is the mean and standard deviation of each of the 20 MFCCs and the standard deviation
of their first-order deltas (slope over 9 frames, edges repeated: librosa.feature.delta(width=9,
mode="nearest")). Per track it is the MFCC-statistics baseline's input; per window, together with
its track's, it is the taste model's "wide" input (model.TasteModel), which keeps this simple,
strong signal within reach of a model trained on tens of ratings. Pure numpy, no I/O.
"""

from __future__ import annotations

import numpy as np

from prefrec.features import STEP_FRAMES, WINDOW_FRAMES, n_windows

DELTA_WIDTH = 9
N_STATS = 60  # per stretch: 20 means, 20 stds, 20 delta stds


def delta(features: np.ndarray) -> np.ndarray:
    """features [C, T] -> float32 [C, T]: least-squares slope over 9 frames, edge frames repeated."""
    half = DELTA_WIDTH // 2
    t = features.shape[1]
    padded = np.pad(np.asarray(features, dtype=np.float32), ((0, 0), (half, half)), mode="edge")
    out = np.zeros((features.shape[0], t), dtype=np.float32)
    step = np.empty_like(out)
    for k in range(1, half + 1):
        np.subtract(padded[:, half + k : half + k + t], padded[:, half - k : half - k + t], out=step)
        step *= k
        out += step
    out /= 2.0 * sum(k * k for k in range(1, half + 1))
    return out


def _centred_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x float32 [C, T] -> (mean, std) float64 [C] over time, and x minus its mean (float32)."""
    mean = x.mean(axis=1, dtype=np.float64)
    centred = x - mean.astype(np.float32)[:, None]
    std = np.sqrt(np.einsum("ct,ct->c", centred, centred, dtype=np.float64) / max(x.shape[1], 1))
    return mean, std, centred


def track_stats(features: np.ndarray) -> np.ndarray:
    """features float [n_mfcc, T] -> float32 [3 * n_mfcc]: MFCC means, MFCC stds, delta stds."""
    return _wide(np.asarray(features, dtype=np.float32), windows=False)[1]


def _window_moments(centred: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """centred float32 [C, T] (a track minus `centre` [C], its mean: no rounding trouble) ->
    (mean, std) float64 [C, n_windows(T)] over each window. A window is 8 whole 1 s blocks, so
    block sums add up."""
    c, t = centred.shape
    if t <= WINDOW_FRAMES:  # one window over what there is
        mean = centred.mean(axis=1, dtype=np.float64)[:, None]
        var = np.einsum("ct,ct->c", centred, centred, dtype=np.float64)[:, None] / max(t, 1) - mean**2
        return mean + centre[:, None], np.sqrt(np.maximum(var, 0.0))
    per_window = WINDOW_FRAMES // STEP_FRAMES
    n_blocks = t // STEP_FRAMES
    blocks = centred[:, : n_blocks * STEP_FRAMES].reshape(c, n_blocks, STEP_FRAMES)
    zeros = np.zeros((c, 1))
    first = np.concatenate([zeros, np.cumsum(blocks.sum(axis=2, dtype=np.float64), axis=1)], axis=1)
    second = np.concatenate([zeros, np.cumsum(np.einsum("cbt,cbt->cb", blocks, blocks, dtype=np.float64), axis=1)],
                            axis=1)
    n = n_windows(t)
    mean = (first[:, per_window : per_window + n] - first[:, :n]) / WINDOW_FRAMES
    var = (second[:, per_window : per_window + n] - second[:, :n]) / WINDOW_FRAMES - mean**2
    return mean + centre[:, None], np.sqrt(np.maximum(var, 0.0))


def window_stats(features: np.ndarray) -> np.ndarray:
    """features float [n_mfcc, T] -> float32 [n_windows(T), 3 * n_mfcc]: the same statistics over
    each 8 s window (1 s step; a track shorter than a window has one window over all its frames).
    The deltas are the track's, so a window's edges see their neighbours as the track plays them."""
    return _wide(np.asarray(features, dtype=np.float32))[0]


def _wide(f: np.ndarray, *, windows: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """(window statistics [n_windows, 3C] or None, track statistics [3C]) of f float32 [C, T]."""
    mean, std, centred = _centred_moments(f)
    d_mean, d_std, d_centred = _centred_moments(delta(f))
    per_track = np.concatenate([mean, std, d_std]).astype(np.float32)
    if not windows:
        return None, per_track
    w_mean, w_std = _window_moments(centred, mean)
    _, wd_std = _window_moments(d_centred, d_mean)
    return np.concatenate([w_mean, w_std, wd_std]).T.astype(np.float32), per_track


def wide_inputs(features: np.ndarray) -> np.ndarray:
    """features [n_mfcc, T] -> float32 [n_windows(T), 6 * n_mfcc]: each window's statistics, then
    its track's (the same for every window of the track). Not standardised (the model does that)."""
    per_window, per_track = _wide(np.asarray(features, dtype=np.float32))
    return np.concatenate([per_window, np.broadcast_to(per_track[None, :], per_window.shape)], axis=1)
