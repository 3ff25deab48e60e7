"""What learning costs: pretraining on a 1,000-track library, fine-tuning on 40 ratings (2 cores).

Synthetic features stand in for analysed tracks (the cost depends on shapes, not on the music):
each track is [20, 9000] MFCC frames (3 min) of smoothed noise around a per-track random timbre.
Pretraining and fine-tuning use the defaults that `prefrec scan` and `prefrec train` use.
Usage:  python bench/train_timing.py [--tracks 1000] [--rated 40]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
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


def main() -> None:
    from prefrec.model import ModelConfig
    from prefrec.pretrain import PretrainConfig, pretrain
    from prefrec.scoring import score_track
    from prefrec.train import TrainConfig, fit, make_example

    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=1000)
    ap.add_argument("--rated", type=int, default=40)
    args = ap.parse_args()
    config = PretrainConfig()
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    model, report = pretrain((fake_track(i) for i in range(args.tracks)), model_config=ModelConfig(), config=config)
    pretrain_s = time.perf_counter() - t
    examples = [make_example(f"t{i}", fake_track(i), "like" if i % 3 == 0 else "skip", None)
                for i in range(args.rated)]
    t = time.perf_counter()
    _, fit_report = fit(examples, [], init=model, config=TrainConfig())
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(20):
        score_track(model, fake_track(i))
    score_s = (time.perf_counter() - t) / 20
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pretrain on {args.tracks} tracks (3 min each): {report.steps} steps, {pretrain_s:.0f} s wall "
          f"(includes building the features); peak RSS {rss_mb:.0f} MB")
    print(f"fine-tune on {args.rated} ratings: {fit_s:.1f} s wall ({fit_report.epochs} epochs after early stopping)")
    print(f"score one 3-min track: {score_s * 1000:.0f} ms")
    print(f"load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
