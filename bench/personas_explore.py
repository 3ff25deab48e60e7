"""In-process exploration harness for the persona benchmark (to choose settings; not the reported run).

Calls the same functions the CLI's `train` calls (train.fit, pretrain.pretrain, scoring.score_track)
on features from the feature cache of a scanned home, for several variants side by side on the same
splits as bench/personas.py. Usage:

    python bench/personas_explore.py HOME [--repeats 3] [--personas a,b] [--variants scratch,frozen,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import persona_lib as pl  # noqa: E402


def main() -> None:
    import torch

    from prefrec.cache import FeatureCache
    from prefrec.model import ModelConfig
    from prefrec.pretrain import PretrainConfig, pretrain
    from prefrec.scoring import score_track, track_score
    from prefrec.train import TrainConfig, fit, load_checkpoint, make_example, save_checkpoint

    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--personas", default="")
    ap.add_argument("--ks", default="10,20,40")
    ap.add_argument("--variants", default="frozen,ft0.1")
    ap.add_argument("--pretrain-seed", type=int, default=0)
    ap.add_argument("--pretrain", default="{}", help="JSON overrides of PretrainConfig")
    ap.add_argument("--model", default="{}", help="JSON overrides of ModelConfig")
    ap.add_argument("--train", default="{}", help="JSON overrides of TrainConfig")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    corpus = pl.load_corpus(args.home)
    cache = FeatureCache(args.home / "features")
    feats = [cache.load(i) for i in corpus.identities]
    summaries = np.stack([pl.baseline_features(f) for f in feats])
    model_config = ModelConfig(**json.loads(args.model))
    base_train = TrainConfig(**json.loads(args.train))
    variants = args.variants.split(",")
    pretrained = None
    if any(v != "scratch" for v in variants):
        t = time.perf_counter()
        pcfg = PretrainConfig(seed=args.pretrain_seed, **json.loads(args.pretrain))
        key = Path(f"/tmp/prefrec-explore-{abs(hash((repr(model_config), repr(pcfg)))) % 10**8}.pt")
        if key.exists():
            pretrained = load_checkpoint(key)
        else:
            pretrained, rep = pretrain(feats, model_config=model_config, config=pcfg)
            save_checkpoint(pretrained, key)
            print(f"pretrain: {rep.steps} steps {time.perf_counter() - t:.1f} s loss {rep.losses[0]:.3f}->"
                  f"{np.mean(rep.losses[-10:]):.3f}", flush=True)
    personas = args.personas.split(",") if args.personas else None
    ks = tuple(int(k) for k in args.ks.split(","))
    splits = pl.make_splits(corpus, ks=ks, repeats=args.repeats, personas=personas)
    rows = []
    for split in splits:
        rows.append({"method": "baseline", "k": split.k, "persona": split.persona,
                     **dict(zip(("auc", "p10"), pl.metrics(split, pl.baseline_scores(split, summaries))))})
        examples = [make_example(corpus.identities[i], feats[i], "like" if split.labels[i] else "skip", None)
                    for i in split.rated]
        for v in variants:
            t = time.perf_counter()
            if v == "scratch":
                model, rep = fit(examples, feats[::1], model_config=model_config, config=base_train)
            else:
                scale = 0.0 if v == "frozen" else float(v[2:])
                model, rep = fit(examples, [], init=pretrained,
                                 config=replace(base_train, encoder_lr_scale=scale))
            fit_s = time.perf_counter() - t
            scores = {i: track_score(score_track(model, feats[i])[0]) for i in split.unrated}
            auc, p10 = pl.metrics(split, scores)
            rows.append({"method": v, "k": split.k, "persona": split.persona, "auc": auc, "p10": p10,
                         "fit_s": fit_s, "epochs": rep.epochs})
        line = " ".join(f"{r['method']}={r['auc']:.3f}" for r in rows[-1 - len(variants):])
        print(f"{split.persona:>13} K={split.k:<3} r={split.repeat} {line}", flush=True)
    print(pl.table(rows, ["baseline", *variants], ks))
    fits = [r["fit_s"] for r in rows if "fit_s" in r]
    print(f"mean fit {np.mean(fits):.1f} s")
    if args.out:
        args.out.write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
