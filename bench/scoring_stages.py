"""Where a scoring worker's time goes, stage by stage, on a ranked data dir (issue 15).

    .venv/bin/python bench/scoring_stages.py --home /tmp/i15/scale/home-this [--tracks 400]

Runs what rescoring.score_tracks runs in one worker (one torch thread, freed memory kept), split
into its stages, over the first `--tracks` tracks of the data dir (the first 50 warm up and are not
counted), with the data dir's newest model, and prints the CPU milliseconds per track of each:
reading the features, standardising + CNN, the LSTM (window_states), the window statistics (the
wide input), the head, and storing the representations (into a temporary folder). The sum is the
model path of `prefrec.scoring.score_track_with_reps` plus the worker's reading and writing.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

WARM_UP = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a data dir with a trained model")
    parser.add_argument("--tracks", type=int, default=400)
    args = parser.parse_args()

    import numpy as np
    import torch

    from prefrec.analysis import retain_freed_memory
    from prefrec.cache import FeatureCache
    from prefrec.checkpoint import load_checkpoint
    from prefrec.features import n_windows
    from prefrec.reps import RepCache, encoder_fingerprint
    from prefrec.stats import wide_inputs

    torch.set_num_threads(1)
    retain_freed_memory()
    models = sorted((args.home / "models").glob("model-*.pt"))
    if not models:
        raise SystemExit(f"{args.home}: no trained model (run `prefrec train` there first)")
    model = load_checkpoint(models[-1]).model.eval()
    cache = FeatureCache(args.home / "features")
    with sqlite3.connect(args.home / "prefrec.sqlite") as db:
        ids = [r[0] for r in db.execute("SELECT identity FROM tracks LIMIT ?", (args.tracks + WARM_UP,))]
    scratch = Path(tempfile.mkdtemp(prefix="prefrec-stages-"))
    reps_cache = RepCache(scratch, encoder_fingerprint(model))
    stages = ["read features", "standardise + CNN", "LSTM", "window statistics", "head", "store reps"]
    spent = dict.fromkeys(stages, 0.0)
    clock = time.process_time
    try:
        for n, identity in enumerate(ids):
            t0 = clock()
            features = cache.load(identity)
            t1 = clock()
            with torch.inference_mode():  # TasteModel.track_representations, stage by stage
                feats = model.track_cnn(torch.from_numpy(features))
                t2 = clock()
                states = model.track_states(feats, n_windows(features.shape[1]))
                t3 = clock()
                wide = torch.from_numpy(wide_inputs(features))
                t4 = clock()
                reps = model._with_wide(states, wide)
                torch.sigmoid(model.head_logits(reps)).numpy().astype(np.float32)
                model.embed(reps).mean(dim=0).numpy().astype(np.float32)
                t5 = clock()
            reps_cache.save(identity, reps.numpy(), features.shape[1])
            t6 = clock()
            if n >= WARM_UP:
                for stage, (a, b) in zip(stages, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)]):
                    spent[stage] += b - a
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    counted = max(1, len(ids) - WARM_UP)
    for stage, seconds in spent.items():
        print(f"{stage:20s} {seconds / counted * 1000:6.2f} ms a track")
    print(f"{'all':20s} {sum(spent.values()) / counted * 1000:6.2f} ms a track ({counted} tracks, one thread)")


if __name__ == "__main__":
    main()
