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
    with torch.inference_mode():
        logits = model.track_window_logits(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
    return torch.sigmoid(logits).numpy().astype(np.float32)


def track_score(probabilities: np.ndarray) -> float:
    """The track's score: the mean window probability."""
    return float(np.mean(probabilities)) if probabilities.size else 0.0


def track_embedding(model: TasteModel, features: np.ndarray) -> np.ndarray:
    """The model's learnt features of a track: mean LSTM state over its windows, float32 [H]."""
    with torch.inference_mode():
        seqs = model.track_sequences(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
        return model.window_embedding(seqs).mean(dim=0).numpy().astype(np.float32)


def score_identities(model: TasteModel, cache: FeatureCache,
                     identities: Iterable[str]) -> Iterator[tuple[str, np.ndarray | None]]:
    """(identity, window probabilities) for each identity; None when its features are not cached."""
    model.eval()
    for identity in identities:
        try:
            features = cache.load(identity)
        except FileNotFoundError:
            yield identity, None
            continue
        yield identity, window_probabilities(model, features)
