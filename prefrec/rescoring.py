"""Scoring many tracks after the model changed: in up to `workers` processes, one torch thread each.

Each worker loads the model from its checkpoint (hash checked) with its first task, reads features
from the cache, and runs the reference computation of prefrec.scoring (one CNN pass per track, the
LSTM per window, track score = mean window probability); it also stores each track's window
representations (prefrec.reps) so that a later head-only update rescores without the CNN and LSTM.
A small job (fewer than MIN_TRACKS_PER_WORKER tracks per worker) runs in the calling process:
starting a worker costs a torch import. Workers inherit the caller's CPU priority (the daemon's
training child is niced), and die with it.

Measured on a 3-minute track, one core (bench/scoring_stages.py): about 7.3 ms of model time (CNN
2.7, LSTM 2.9, the window statistics of the wide input 1.2, the head 0.35), 1.5 ms to read the
features, 0.6 ms to store representations; two workers on two cores score about twice as fast as
one. Workers keep freed memory for the next track (analysis.retain_freed_memory) instead of faulting
it back in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefrec.model import TasteModel

MIN_TRACKS_PER_WORKER = 100
CHUNK = 32  # tracks per task sent to a worker

Scored = tuple[str, "bytes | None", "bytes | None"]
"""(identity, window probabilities as float32 bytes, track embedding as float32 bytes); both None
when the track's features are not in the cache."""


@dataclass(frozen=True)
class ScoringJob:
    """What a worker needs to rebuild the model and find the data (all plain, picklable)."""

    checkpoint: str
    sha256: str | None
    features_dir: str
    reps_dir: str | None = None  # where prefrec.reps stores representations (None: not stored)
    fingerprint: str | None = None  # the model's encoder fingerprint (reps.encoder_fingerprint)


class _Scorer:
    """Scores one track at a time with a loaded model (in a worker or in the caller)."""

    def __init__(self, model: TasteModel, job: ScoringJob) -> None:
        from prefrec.cache import FeatureCache
        from prefrec.reps import RepCache
        from prefrec.scoring import encode_f32, score_track_with_reps

        self._encode, self._score = encode_f32, score_track_with_reps

        self.model = model.eval()
        self.cache = FeatureCache(Path(job.features_dir))
        self.reps = RepCache(Path(job.reps_dir), job.fingerprint) if job.reps_dir and job.fingerprint else None

    def __call__(self, identity: str) -> Scored:
        try:
            features = self.cache.load(identity)
        except FileNotFoundError:
            return identity, None, None
        probs, embedding, reps = self._score(self.model, features)
        if self.reps is not None:
            self.reps.save(identity, reps, features.shape[1])
        return identity, self._encode(probs), self._encode(embedding)


_WORKER: _Scorer | None = None  # a worker's scorer, built with its first task (a pool serves one job)


def _init_worker(parent_pid: int) -> None:
    """A worker's start: die with the parent, keep freed memory, import torch (one thread). The
    model is loaded with the first task (`_score_chunk`): a checkpoint that fails to load there
    reaches the caller as BadCheckpoint, where an initializer's error made multiprocessing start
    new workers forever (the rescore hung)."""
    from prefrec.analysis import die_with_parent, retain_freed_memory

    die_with_parent(parent_pid)
    retain_freed_memory()
    import torch

    torch.set_num_threads(1)


def _score_chunk(job: ScoringJob, identities: list[str]) -> list[Scored]:
    global _WORKER
    if _WORKER is None:
        from prefrec.checkpoint import load_checkpoint

        _WORKER = _Scorer(load_checkpoint(Path(job.checkpoint), sha256=job.sha256).model, job)
    return [_WORKER(identity) for identity in identities]


def score_tracks(model: TasteModel, job: ScoringJob, identities: Iterable[str], *, workers: int,
                 min_per_worker: int = MIN_TRACKS_PER_WORKER) -> Iterator[Scored]:
    """Window probabilities and embeddings of every identity, in no particular order, computed by
    min(workers, len / min_per_worker) processes (this one when that is 1 or less). `model` must
    be the model saved at job.checkpoint (it scores here when the job is small). Raises
    scoring.NonFiniteScores when the model's outputs are not finite, checkpoint.BadCheckpoint when
    a worker cannot load the model."""
    import multiprocessing
    from functools import partial

    from prefrec.train import torch_threads

    todo = list(identities)
    processes = min(max(1, workers), len(todo) // max(1, min_per_worker))
    if processes <= 1:
        scorer = _Scorer(model, job)
        with torch_threads(1):
            for identity in todo:
                yield scorer(identity)
        return
    chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(os.getpid(),)) as pool:
        for results in pool.imap_unordered(partial(_score_chunk, job), chunks):
            yield from results


def job_for(row: Any, settings: Any, *, fingerprint: str | None) -> ScoringJob:
    """The ScoringJob of a models-table row (store.ModelRow) under `settings` (config.Settings);
    representations are stored when `fingerprint` is given."""
    return ScoringJob(str(row.file(settings.home)), row.sha256, str(settings.features_dir),
                      str(settings.reps_dir) if fingerprint else None, fingerprint)
