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
    """features [C, T] -> float64 [C, T]: least-squares slope over 9 frames, edge frames repeated."""
    half = DELTA_WIDTH // 2
    t = features.shape[1]
    padded = np.pad(features.astype(np.float64), ((0, 0), (half, half)), mode="edge")
    norm = 2.0 * sum(k * k for k in range(1, half + 1))
    out = np.zeros((features.shape[0], t))
    for k in range(1, half + 1):
        out += k * (padded[:, half + k : half + k + t] - padded[:, half - k : half - k + t])
    return out / norm


def track_stats(features: np.ndarray) -> np.ndarray:
    """features float [n_mfcc, T] -> float32 [3 * n_mfcc]: MFCC means, MFCC stds, delta stds."""
    d = delta(features)
    f = features.astype(np.float64)
    return np.concatenate([f.mean(axis=1), f.std(axis=1), d.std(axis=1)]).astype(np.float32)


def window_stats(features: np.ndarray) -> np.ndarray:
    """features float [n_mfcc, T] -> float32 [n_windows(T), 3 * n_mfcc]: the same statistics over
    each 8 s window (1 s step; a track shorter than a window has one window over all its frames).
    The deltas are the track's, so a window's edges see their neighbours as the track plays them."""
    c = features.shape[0]
    x = np.concatenate([features.astype(np.float64), delta(features)])  # [2C, T]
    zeros = np.zeros((2 * c, 1))
    first = np.concatenate([zeros, np.cumsum(x, axis=1)], axis=1)  # [2C, T + 1]
    second = np.concatenate([zeros, np.cumsum(x * x, axis=1)], axis=1)
    t = features.shape[1]
    starts = np.arange(n_windows(t)) * STEP_FRAMES
    ends = np.minimum(starts + WINDOW_FRAMES, t)
    length = np.maximum(ends - starts, 1)[None, :]
    mean = (first[:, ends] - first[:, starts]) / length  # [2C, n]
    std = np.sqrt(np.maximum((second[:, ends] - second[:, starts]) / length - mean**2, 0.0))
    return np.concatenate([mean[:c], std[:c], std[c:]]).T.astype(np.float32)  # [n, 3C]


def wide_inputs(features: np.ndarray) -> np.ndarray:
    """features [n_mfcc, T] -> float32 [n_windows(T), 6 * n_mfcc]: each window's statistics, then
    its track's (the same for every window of the track). Not standardised (the model does that)."""
    per_window = window_stats(features)
    per_track = np.broadcast_to(track_stats(features)[None, :], per_window.shape)
    return np.concatenate([per_window, per_track], axis=1)
