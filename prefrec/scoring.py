"""Scoring: window probabilities of a track (one CNN pass per track), and of a whole library.

A track's score is the mean of its window probabilities (seed 003: the sum of window scores
divided by the track's length in windows).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from prefrec.cache import FeatureCache
from prefrec.model import TasteModel


def window_probabilities(model: TasteModel, features: np.ndarray) -> np.ndarray:
    """features: float32 [n_mfcc, T] -> float32 [n_windows(T)] probabilities in 0..1."""
    return score_track(model, features)[0]


def score_track(model: TasteModel, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features: float32 [n_mfcc, T] -> (window probabilities float32 [n_windows(T)] in 0..1,
    track embedding float32 [H]: the mean over windows of the LSTM's final state)."""
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        logits, embeddings = model.track_window_outputs(x)
        return (torch.sigmoid(logits).numpy().astype(np.float32),
                embeddings.mean(dim=0).numpy().astype(np.float32))


def track_score(probabilities: np.ndarray) -> float:
    """The track's score: the mean window probability."""
    return float(np.mean(probabilities)) if probabilities.size else 0.0


def score_identities(model: TasteModel, cache: FeatureCache,
                     identities: Iterable[str]) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray] | None]]:
    """(identity, (window probabilities [n_windows], embedding [H])) for each identity; None when
    its features are not cached."""
    model.eval()
    for identity in identities:
        try:
            features = cache.load(identity)
        except FileNotFoundError:
            yield identity, None
            continue
        yield identity, score_track(model, features)
