"""Self-supervised pretraining of the taste model's CNN and LSTM on the unlabelled library.

A listener rates tens of tracks; the library holds hundreds or thousands. Before any rating, the
CNN+LSTM learns what makes tracks tell apart from each other with a contrastive objective
(as in COLA and CLMR): two 8 s windows from the same track are a positive pair, windows from the
other tracks of the batch are negatives (NT-Xent loss on a small projection of the window
embedding, the LSTM's final state). Fine-tuning on feedback then starts from this encoder, and the
embeddings behind `prefrec similar` group tracks by style even where the listener rated nothing.

The result is a versioned checkpoint (checkpoint.save_checkpoint) whose `extra` records which tracks it
was pretrained on, so `needs_pretraining` can tell when the library has changed enough to redo it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from prefrec.features import STEP_FRAMES, WINDOW_FRAMES
from prefrec.model import ModelConfig, TasteModel

PRETRAIN_VERSION = 1


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of the contrastive pretraining; saved in the checkpoint."""

    seed: int = 0
    batch_tracks: int = 32  # tracks per step; each gives two windows
    draws_per_track: float = 300.0  # how many times each track is drawn, on average (step count)
    min_steps: int = 100
    max_steps: int = 1500
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    projection_dim: int = 32
    segments_per_track: int = 6  # parts of each track kept in memory to draw windows from
    segment_frames: int = 800  # 16 s each
    threads: int = 1  # torch threads (train.torch_threads)
    min_tracks: int = 8  # below this there is too little to contrast
    max_tracks: int = 2000  # a larger library is pretrained on a fixed-seed sample of this many
    version: int = PRETRAIN_VERSION

    def steps_for(self, n_tracks: int) -> int:
        batch = min(self.batch_tracks, n_tracks)
        return int(min(self.max_steps, max(self.min_steps, round(self.draws_per_track * n_tracks / max(batch, 1)))))


@dataclass
class PretrainReport:
    """n_tracks pretrained on; embeddings: float32 [n_tracks, H], each track's sound as the
    pretrained encoder hears it (the mean embedding of up to SOUND_WINDOWS of its windows), in
    the order the tracks were given (the starter set spreads over them)."""

    n_tracks: int
    steps: int
    seconds: float
    losses: list[float]
    embeddings: np.ndarray | None = None


SOUND_WINDOWS = 4  # windows per track averaged into its sound embedding (as good as all windows on the corpus)


def library_fingerprint(identities: list[str]) -> str:
    """A short digest of a set of audio identities (order does not matter)."""
    digest = hashlib.sha256("\n".join(sorted(identities)).encode("utf-8"))
    return digest.hexdigest()[:16]


def library_changed(pretrained_on: set[str], present: set[str], *, fraction: float = 0.2) -> bool:
    """True when enough of the library is new or gone since pretraining: the tracks added plus the
    tracks removed exceed `fraction` of the tracks pretrained on."""
    if not pretrained_on:
        return True
    moved = len(present - pretrained_on) + len(pretrained_on - present)
    return moved > fraction * len(pretrained_on)


def _segments(features: np.ndarray, count: int, frames: int) -> list[np.ndarray]:
    """Up to `count` evenly spaced parts of a track, float16 [n_mfcc, <= frames] each (a track
    shorter than a window is kept whole; _draw pads it as scoring does)."""
    n = features.shape[1]
    if n < WINDOW_FRAMES:
        return [features.astype(np.float16)]
    length = min(frames, n)
    starts = np.linspace(0, n - length, num=min(count, max(1, (n - length) // STEP_FRAMES + 1)))
    return [features[:, int(s) : int(s) + length].astype(np.float16) for s in starts]


class _Projection(torch.nn.Module):
    """The head the contrastive loss sees: [N, H] embeddings -> [N, D] unit vectors (discarded after)."""

    def __init__(self, hidden: int, dim: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.net(x), dim=1)


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """Contrastive loss of z: [2B, D] unit vectors where rows i and i+B are views of the same track."""
    n = z.shape[0] // 2
    sim = z @ z.T / temperature  # [2B, 2B]
    sim.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(sim, targets)


def _draw(segments: list[list[np.ndarray]], tracks: np.ndarray, rng: np.random.Generator,
          mean: np.ndarray) -> torch.Tensor:
    """Two random windows of each track in `tracks`: [2B, n_mfcc, 400] (views of track i at i and i+B).
    A track shorter than a window is padded with the library mean [n_mfcc], as scoring pads it."""
    views = []
    for _ in range(2):
        for t in tracks:
            seg = segments[int(t)][int(rng.integers(len(segments[int(t)])))]
            start = int(rng.integers(max(1, seg.shape[1] - WINDOW_FRAMES + 1)))
            view = seg[:, start : start + WINDOW_FRAMES].astype(np.float32)
            if view.shape[1] < WINDOW_FRAMES:
                view = np.concatenate([view, np.repeat(mean[:, None], WINDOW_FRAMES - view.shape[1], axis=1)], axis=1)
            views.append(view)
    return torch.from_numpy(np.stack(views))


def pretrain(library_features: Iterable[np.ndarray], *, model_config: ModelConfig | None = None,
             config: PretrainConfig | None = None,
             progress: Callable[[int, int], None] | None = None) -> tuple[TasteModel, PretrainReport]:
    """Pretrain a TasteModel's CNN and LSTM contrastively on unlabelled tracks.

    library_features: one float array [n_mfcc, T] per track (T may differ); consumed one at a time,
    only `segments_per_track` parts of each are kept (float16), so a large library fits in memory.
    The input standardisation is fitted on those parts. The returned model's head is untrained;
    fine-tuning (train.fit with init=...) learns it from feedback. progress(step, steps) is
    called after each step.
    """
    from prefrec.train import torch_threads

    config = config or PretrainConfig()
    with torch_threads(config.threads):
        return _pretrain(library_features, model_config or ModelConfig(), config, progress)


def _pretrain(library_features: Iterable[np.ndarray], model_config: ModelConfig,
              config: PretrainConfig,
              progress: Callable[[int, int], None] | None = None) -> tuple[TasteModel, PretrainReport]:
    from prefrec.train import normalisation

    started = time.perf_counter()
    segments = [_segments(f, config.segments_per_track, config.segment_frames) for f in library_features]
    if len(segments) < 2:
        raise ValueError("contrastive pretraining needs at least two tracks")
    mean, std = normalisation([seg for track in segments for seg in track])  # float16, no copies
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = TasteModel(model_config)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    projection = _Projection(model_config.lstm_hidden, config.projection_dim)
    params = list(model.cnn.parameters()) + list(model.lstm.parameters()) + list(projection.parameters())
    optimiser = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    n_tracks = len(segments)
    batch = min(config.batch_tracks, n_tracks)
    steps = config.steps_for(n_tracks)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate, total_steps=steps,
                                                   pct_start=0.1)
    losses: list[float] = []
    order = rng.permutation(n_tracks)
    cursor = 0
    model.train()
    projection.train()
    for step in range(steps):
        if cursor + batch > n_tracks:
            order, cursor = rng.permutation(n_tracks), 0
        tracks = order[cursor : cursor + batch]
        cursor += batch
        x = _draw(segments, tracks, rng, mean)  # [2B, n_mfcc, 400]
        emb = model.encode(x)  # [2B, H]
        loss = nt_xent(projection(emb), config.temperature)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress:
            progress(step + 1, steps)
    model.eval()
    embeddings = sound_embeddings(model, segments, mean)
    return model, PretrainReport(n_tracks, steps, time.perf_counter() - started, losses, embeddings)


def sound_embeddings(model: TasteModel, segments: list[list[np.ndarray]], mean: np.ndarray, *,
                     batch: int = 256) -> np.ndarray:
    """Each track's sound: the mean embedding of the first window of up to SOUND_WINDOWS of its
    kept parts (float16 [n_mfcc, <= frames] each, short ones padded with the library mean [n_mfcc]).
    Returns float32 [n_tracks, H]."""
    windows, owner = [], []
    for t, parts in enumerate(segments):
        for seg in parts[:: max(1, len(parts) // SOUND_WINDOWS)][:SOUND_WINDOWS]:
            view = seg[:, :WINDOW_FRAMES].astype(np.float32)
            if view.shape[1] < WINDOW_FRAMES:
                view = np.concatenate([view, np.repeat(mean[:, None], WINDOW_FRAMES - view.shape[1], axis=1)], axis=1)
            windows.append(view)
            owner.append(t)
    out = []
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            out.append(model.encode(torch.from_numpy(np.stack(windows[i : i + batch]))).numpy())  # [b, H]
    per_window = np.concatenate(out)  # [n_windows, H]
    sums = np.zeros((len(segments), per_window.shape[1]), dtype=np.float64)
    np.add.at(sums, np.asarray(owner), per_window)
    counts = np.bincount(np.asarray(owner), minlength=len(segments))[:, None]
    return (sums / np.maximum(counts, 1)).astype(np.float32)
