"""What learning costs on a 1,000-track library (2 cores): pretraining, and `train` on 40 ratings.

Synthetic features stand in for analysed tracks (the cost depends on shapes, not on the music):
each track is [20, 9000] MFCC frames (3 min) of smoothed noise around a per-track random timbre,
written to a real feature cache. Pretraining and training use the defaults `prefrec scan` and
`prefrec train` use. "train" is what `prefrec train` computes: read a 200-track sample of the
library, fit with out-of-fold calibration (train.fit_calibrated: 5 fold fits and the final one),
then read and score every track; it runs in its own process, so its peak RSS is its own (the
database writes are not included). Usage:

    python bench/train_timing.py [--tracks 1000] [--rated 40] [--pretrained CACHED.pt]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def fake_track(seed: int, frames: int = 9000) -> np.ndarray:
    """float32 [20, frames]: a random timbre (per-coefficient level) plus slowly varying noise."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 30, size=(20, 1))
    noise = rng.normal(0, 10, size=(20, frames))
    kernel = np.ones(25) / 25
    smooth = np.stack([np.convolve(row, kernel, mode="same") for row in noise])
    return (level + smooth * 3).astype(np.float32)


def train_step(cache_dir: Path, pretrained: Path, tracks: int, rated: int, workers: int) -> dict:
    """In a child process: `prefrec train`'s computation, timed, with this process's peak RSS."""
    import torch

    from prefrec.cache import FeatureCache
    from prefrec.checkpoint import load_checkpoint, save_checkpoint
    from prefrec.reps import encoder_fingerprint
    from prefrec.rescoring import ScoringJob, score_tracks
    from prefrec.train import TrainConfig, fit_calibrated, make_example

    cache = FeatureCache(cache_dir)
    init = load_checkpoint(pretrained).model
    identities = [f"t{i:05d}" for i in range(tracks)]
    started = time.perf_counter()
    examples = [make_example(identities[i], cache.load(identities[i]), "like" if i % 3 == 0 else "skip", None)
                for i in range(rated)]
    sample = [cache.load(i) for i in identities[:: max(1, tracks // 200)]]
    read_s = time.perf_counter() - started
    t = time.perf_counter()
    model, report = fit_calibrated(examples, sample, init=init, config=TrainConfig(), workers=workers)
    fit_s = time.perf_counter() - t
    del sample
    t = time.perf_counter()
    # As Learning._score_and_publish after a full train: save the model, then score every track in
    # `workers` processes, storing the window representations for head updates.
    checkpoint = cache_dir.parent / "model.pt"
    sha256 = save_checkpoint(model, checkpoint)
    job = ScoringJob(str(checkpoint), sha256, str(cache_dir), str(cache_dir.parent / "reps"),
                     encoder_fingerprint(model))
    scored = sum(1 for _, probs, _ in score_tracks(model, job, identities, workers=workers) if probs is not None)
    score_s = time.perf_counter() - t
    return {"read_s": read_s, "fit_s": fit_s, "score_s": score_s, "total_s": time.perf_counter() - started,
            "scored": scored, "folds_auc": None if report.oof_auc is None else report.oof_auc.value,
            "threads": torch.get_num_threads(),
            "peak_rss_mb": _peak_rss_mb(), "workers": workers}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB. Not getrusage's ru_maxrss: on Linux that
    survives exec, so a child started by a large parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from prefrec.cache import FeatureCache
    from prefrec.checkpoint import load_checkpoint, save_checkpoint
    from prefrec.model import ModelConfig
    from prefrec.pretrain import PretrainConfig, pretrain
    from prefrec.scoring import score_track

    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=1000)
    ap.add_argument("--rated", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2, help="scoring processes (the `workers` setting)")
    ap.add_argument("--pretrained", type=Path, default=None, help="reuse (or write) the pretrained model here")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(train_step(Path(args._child[0]), Path(args._child[1]), args.tracks, args.rated, args.workers)))
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="prefrec-timing-") as tmp:
        cache = FeatureCache(Path(tmp) / "features")
        for i in range(args.tracks):
            cache.save(f"t{i:05d}", fake_track(i))
        pretrained = args.pretrained or Path(tmp) / "pretrained.pt"
        if pretrained.exists():
            model = load_checkpoint(pretrained).model
            print(f"pretrained model reused from {pretrained}")
        else:
            t = time.perf_counter()
            model, report = pretrain((cache.load(f"t{i:05d}") for i in range(args.tracks)), model_config=ModelConfig(),
                                     config=PretrainConfig())
            pretrain_s = time.perf_counter() - t
            save_checkpoint(model, pretrained)
            print(f"pretrain on {args.tracks} tracks (3 min each): {report.steps} steps, {pretrain_s:.0f} s wall; "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        t = time.perf_counter()
        for i in range(20):
            score_track(model, cache.load(f"t{i:05d}"))
        score_one = (time.perf_counter() - t) / 20
        child = subprocess.run([sys.executable, __file__, "--tracks", str(args.tracks), "--rated", str(args.rated),
                                "--workers", str(args.workers), "--_child", str(Path(tmp) / "features"), str(pretrained)],
                               capture_output=True, text=True)
        if child.returncode != 0:
            raise SystemExit(f"the timed train failed:\n{child.stderr}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"train on {args.rated} ratings, {args.tracks}-track library: {result['total_s']:.1f} s wall "
          f"(read {result['read_s']:.1f} s, fit with 5-fold calibration {result['fit_s']:.1f} s, "
          f"score {result['scored']} tracks {result['score_s']:.1f} s in {result['workers']} processes); "
          f"peak RSS {result['peak_rss_mb']:.0f} MB (the training process)")
    print(f"score one 3-min track (read from the cache + model): {score_one * 1000:.0f} ms")
    print(f"load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
