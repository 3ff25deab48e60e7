"""Persona benchmark in-process: `prefrec train`'s own fit on the persona splits (issue 12's reported run).

What `prefrec train` computes, without the CLI's process start-ups and file copies per split:
- the rated tracks become Examples as an explicit `prefrec like` / `prefrec skip` makes them
  (train.make_example: label weight 1, every window counted);
- the library sample is what Learning._library_sample gives `fit_calibrated` (up to 200 tracks
  evenly over the sorted identities, here all 181);
- the encoder is the one `prefrec scan` pretrains on this library (tracks in identity order, the
  data dir's train_seed 0; cached next to HOME by bench/explore_wide.py's pretrained_model);
- train.fit_calibrated with TrainConfig() (the product's defaults: the data dir's settings are
  the defaults), then every unrated track scored as the rescoring does (scoring.score_track,
  track score = mean window probability).
Rows (saved after every split) hold ROC-AUC, precision@10, ECE of the calibrated scores over the
unrated tracks, the out-of-fold interval `train` reports and whether `train` warned, the fit's
seconds, and the scores; the baseline runs on the same splits. Usage:

    python bench/personas_inprocess.py HOME [--first-repeat 0] [--repeats 5] [--personas a,b] \
        [--shard 0/2] [--capture DIR] --out rows.json

`--capture DIR` also saves, per split, DIR/PERSONA-REPEAT-K.npz with what the calibration and the
interval are computed from, so that their methods can be compared without fitting again:
oof_logits / oof_lengths / oof_labels (the out-of-fold window logits of every rated track,
concatenated, windows per track, and its label), calibration (the scale and bias set),
sample_logits / sample_track (the final model's uncalibrated logits of the library sample's
windows, and which sampled track each comes from), track_logits / track_lengths (its
uncalibrated window logits of every corpus track, corpus order), labels, rated (indices).

`--shard i/n` takes every n-th split from the i-th (so two processes split the work evenly).
torch runs one thread per process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import persona_lib as pl  # noqa: E402


def main() -> None:
    import torch

    import prefrec
    from explore_wide import train_inputs
    from prefrec.calibration import expected_calibration_error
    from prefrec.scoring import score_track, track_score
    from prefrec.train import TrainConfig, fit_calibrated, make_example, raw_window_logits, sample_window_logits

    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--first-repeat", type=int, default=0)
    ap.add_argument("--personas", default="")
    ap.add_argument("--ks", default="10,20,40")
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--capture", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    shard, shards = (int(x) for x in args.shard.split("/"))
    print(f"prefrec from {Path(prefrec.__file__).parent}; TrainConfig() = {TrainConfig()}", flush=True)
    corpus, feats, pre, sample = train_inputs(args.home, args.corpus)
    summaries = np.stack([pl.baseline_features(f) for f in feats])
    personas = args.personas.split(",") if args.personas else None
    ks = tuple(int(k) for k in args.ks.split(","))
    splits = pl.make_splits(corpus, ks=ks, repeats=args.repeats, personas=personas, first_repeat=args.first_repeat)
    splits.sort(key=lambda s: (s.repeat, s.persona, s.k))  # repeat by repeat: a stopped run covers every persona
    splits = splits[shard::shards]
    rows: list[dict] = []
    if args.out.exists():  # resume: keep what an earlier run of the same shard saved
        rows = json.loads(args.out.read_text())
    done = {(r["persona"], r["k"], r["repeat"]) for r in rows if r["method"] == "prefrec"}
    t_all = time.perf_counter()
    for split in splits:
        key = (split.persona, split.k, split.repeat)
        if key in done:
            continue
        row = {"k": split.k, "persona": split.persona, "repeat": split.repeat}
        base = dict(zip(("auc", "p10"), pl.metrics(split, pl.baseline_scores(split, summaries))))
        # in identity order, as Learning._train builds them (the order sets the training's draws)
        examples = [make_example(corpus.identities[i], feats[i], "like" if split.labels[i] else "skip", None)
                    for i in sorted(split.rated, key=lambda i: corpus.identities[i])]
        t = time.perf_counter()
        model, report = fit_calibrated(examples, sample, init=pre, config=TrainConfig())
        fit_s = time.perf_counter() - t
        scores = {i: track_score(score_track(model, feats[i])[0]) for i in split.unrated}
        a, p = pl.metrics(split, scores)
        ece = expected_calibration_error([scores[i] for i in split.unrated], [split.labels[i] for i in split.unrated])
        oof = report.oof_auc
        if args.capture:
            args.capture.mkdir(parents=True, exist_ok=True)
            tracks = [raw_window_logits(model, f) for f in feats]
            np.savez_compressed(
                args.capture / f"{split.persona}-{split.repeat}-{split.k}.npz",
                oof_logits=np.concatenate(report.oof_logits or [np.zeros(0)]),
                oof_lengths=np.array([len(z) for z in report.oof_logits]), oof_labels=np.array(report.oof_labels),
                calibration=np.array(report.calibration), sample_logits=sample_window_logits(model, sample),
                sample_track=sample.window_track, track_logits=np.concatenate(tracks),
                track_lengths=np.array([len(z) for z in tracks]), labels=split.labels, rated=np.array(split.rated))
        rows.append({"method": "baseline", **row, **base})
        rows.append({"method": "prefrec", **row, "auc": a, "p10": p, "ece": ece, "fit_s": fit_s,
                     "total_s": time.perf_counter() - t, "warned": not report.separates,
                     "oof_auc": None if oof is None else [oof.value, oof.low, oof.high],
                     "calibration": list(report.calibration),
                     "scores": [[scores[i], float(split.labels[i])] for i in split.unrated]})
        args.out.write_text(json.dumps(rows))
        print(f"{split.persona:>22} K={split.k:<3} r={split.repeat} baseline={base['auc']:.3f} prefrec={a:.3f} "
              f"ece={ece:.3f} warned={not report.separates} fit={fit_s:.1f}s "
              f"{time.strftime('%H:%M:%S')}", flush=True)
    print(f"{len(splits)} splits in {time.perf_counter() - t_all:.0f} s", flush=True)


if __name__ == "__main__":
    main()
