"""Scoring: window probabilities of a track (one CNN pass per track), the track-score rule, and
the ranking to publish.

A track's score is the mean of its window probabilities (the sum of its window scores divided by
its length in windows); its spread, the standard deviation of those probabilities, says how unsure
the model is within the track (`recommend --explore`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from prefrec.errors import PrefrecError

if TYPE_CHECKING:
    from prefrec.model import TasteModel


class NonFiniteScores(PrefrecError):
    """The model produced NaN or infinite scores: it must not be used (train rebuilds it)."""


def score_track(model: TasteModel, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features: float32 [n_mfcc, T] -> (window probabilities float32 [n_windows(T)] in 0..1,
    track embedding float32 [H]: the mean over windows of the LSTM's final state).

    Raises NonFiniteScores when the model's output is not finite."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        logits, embeddings = model.track_outputs(x)  # [n_windows], [n_windows, H]
        probs = torch.sigmoid(logits).numpy().astype(np.float32)
        embedding = embeddings.mean(dim=0).numpy().astype(np.float32)  # [H]
    _check_finite(probs, embedding)
    return probs, embedding


def score_track_with_reps(model: TasteModel, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """score_track's (window probabilities [n_windows], track embedding [H]) and the head's inputs
    float32 [n_windows, D] (model.track_representations), from one pass of the model: the same
    computation as score_track, so the same numbers."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        reps = model.track_representations(x)  # [n_windows, D]
        probs = torch.sigmoid(model.head_logits(reps)).numpy().astype(np.float32)
        embedding = model.embed(reps).mean(dim=0).numpy().astype(np.float32)  # [H]
    _check_finite(probs, embedding)
    return probs, embedding, reps.numpy()


def score_reps(model: TasteModel, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window probabilities [n_windows], track embedding [H]) from stored head inputs [n_windows, D]
    (prefrec.reps): only the head runs. Equal to score_track up to the storage's float16 rounding."""
    import torch

    with torch.inference_mode():
        r = torch.from_numpy(np.ascontiguousarray(reps, dtype=np.float32))
        probs = torch.sigmoid(model.head_logits(r)).numpy().astype(np.float32)
        embedding = model.embed(r).mean(dim=0).numpy().astype(np.float32)
    _check_finite(probs, embedding)
    return probs, embedding


def _check_finite(probs: np.ndarray, embedding: np.ndarray) -> None:
    if not (np.isfinite(probs).all() and np.isfinite(embedding).all()):
        raise NonFiniteScores("the model's scores are not finite numbers; run `prefrec train` to rebuild it")


def window_probabilities(model: TasteModel, features: np.ndarray) -> np.ndarray:
    """features: float32 [n_mfcc, T] -> float32 [n_windows(T)] probabilities in 0..1."""
    return score_track(model, features)[0]


def track_score(probabilities: np.ndarray) -> float:
    """The track's score: the mean window probability (0 for no windows)."""
    return float(np.mean(probabilities)) if probabilities.size else 0.0


def encode_f32(values: np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes (how window scores and embeddings are stored)."""
    return np.asarray(values, dtype="<f4").tobytes()


def decode_f32(blob: bytes) -> np.ndarray:
    """The inverse of encode_f32: float32 [n]."""
    return np.frombuffer(blob, dtype="<f4")


def ranking(blobs: Iterable[tuple[str, bytes]]) -> list[tuple[str, float, float]]:
    """(identity, track score, spread) for each (identity, stored window probabilities)."""
    out = []
    for identity, blob in blobs:
        p = decode_f32(blob)
        out.append((identity, track_score(p), float(p.std()) if p.size else 0.0))
    return out
