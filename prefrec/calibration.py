"""Calibrated scores: a track's score should mean "about this share of such tracks are liked".

The taste model is trained with likes and skips weighing the same in total, so its raw window
probabilities say "like" at 0.5 whatever the share of liked music, and a weight-averaged model is
flatter than any one fit. `train` therefore fits a scale and a bias of the window logits on
out-of-fold predictions (tracks scored by a model that did not see their rating): calibrated window
probability = sigmoid(scale * logit + bias), and the track score stays the mean of its window
probabilities. Two numbers fitted on tens of ratings would overfit, so they are pulled towards
"no change of scale, and the rated share of likes as the prior" (a Gaussian prior worth a few
ratings). Pure numpy/scipy, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PRIOR_TRACKS = 4.0  # the prior on (log scale, bias) weighs as much as this many ratings


@dataclass(frozen=True)
class Calibration:
    """Window probability = sigmoid(scale * logit + bias); saved with the model."""

    scale: float = 1.0
    bias: float = 0.0

    def window_probabilities(self, logits: np.ndarray) -> np.ndarray:
        """logits [n] -> float32 probabilities [n] in 0..1."""
        return _sigmoid(self.scale * np.asarray(logits, dtype=np.float64) + self.bias).astype(np.float32)

    def track_score(self, logits: np.ndarray) -> float:
        """The calibrated track score: the mean calibrated window probability."""
        return float(self.window_probabilities(logits).mean()) if np.size(logits) else 0.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), written with tanh so that no z overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_calibration(window_logits: Sequence[np.ndarray], labels: Sequence[float], *,
                    prior_tracks: float = PRIOR_TRACKS) -> Calibration:
    """Fit scale and bias on out-of-fold window logits (one array [n_windows] per rated track)
    and the tracks' labels (1 liked, 0 not) by penalised maximum likelihood of the track scores.

    The prior: log(scale) ~ 0 and bias ~ log(likes / skips) (for a class-balanced model, the
    rated share of likes), each with weight prior_tracks / 2. With no tracks of one class, the
    prior alone decides the bias (clipped to a share between 1/(n+2) and (n+1)/(n+2)).
    """
    from scipy.optimize import minimize

    y = np.asarray(labels, dtype=np.float64)
    n = len(y)
    if n == 0:
        return Calibration()
    n_pos = float(y.sum())
    share = (n_pos + 1.0) / (n + 2.0) if n_pos in (0.0, float(n)) else n_pos / n
    prior_bias = float(np.log(share / (1.0 - share)))
    flat = np.concatenate([np.asarray(w, dtype=np.float64) for w in window_logits])
    owner = np.repeat(np.arange(n), [len(w) for w in window_logits])
    counts = np.bincount(owner, minlength=n).astype(np.float64)
    half = prior_tracks / 2.0

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        log_scale, bias = params
        scale = np.exp(log_scale)
        p = _sigmoid(scale * flat + bias)
        dp = p * (1.0 - p)
        s = np.clip(np.bincount(owner, p, minlength=n) / counts, 1e-9, 1 - 1e-9)
        ds_dlog = np.bincount(owner, dp * flat * scale, minlength=n) / counts
        ds_db = np.bincount(owner, dp, minlength=n) / counts
        nll = -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s))
        g = (s - y) / (s * (1 - s))  # d nll / d s
        value = nll + half * (log_scale**2 + (bias - prior_bias) ** 2)
        grad = np.array([np.sum(g * ds_dlog) + 2 * half * log_scale, np.sum(g * ds_db) + 2 * half * (bias - prior_bias)])
        return float(value), grad

    result = minimize(objective, np.array([0.0, prior_bias]), jac=True, method="L-BFGS-B",
                      bounds=[(-5.0, 3.0), (-20.0, 20.0)])
    return Calibration(float(np.exp(result.x[0])), float(result.x[1]))


def expected_calibration_error(scores: Sequence[float], labels: Sequence[float], *, bins: int = 10) -> float:
    """ECE: over `bins` equal-width score bins, the share of tracks in the bin times the gap between
    their mean score and their share of likes, summed. 0 is perfect."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.size == 0:
        return float("nan")
    which = np.minimum((s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() / s.size * abs(s[inside].mean() - y[inside].mean())
    return float(total)


def reliability(scores: Sequence[float], labels: Sequence[float], *, bins: int = 10) -> list[dict]:
    """Per non-empty bin: its range, how many tracks, their mean score and their share of likes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    which = np.minimum((s * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            out.append({"low": b / bins, "high": (b + 1) / bins, "tracks": int(inside.sum()),
                        "mean_score": float(s[inside].mean()), "liked": float(y[inside].mean())})
    return out
