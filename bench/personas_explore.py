"""In-process exploration harness for the persona benchmark (to choose settings; not the reported run).

Calls the same functions the CLI's `train` calls (train.fit, pretrain.pretrain, scoring.score_track)
on features from the feature cache of a scanned home, for several variants side by side on the same
splits as bench/personas.py. Usage:

    python bench/personas_explore.py HOME [--repeats 2] [--personas a,b] --variants JSON

JSON is a list of variants, each {"name": str, "pretrain": {PretrainConfig overrides} or null for
training from scratch, "model": {ModelConfig overrides}, "train": {TrainConfig overrides},
"seeds": n (n separate fits, seeds seed.. seed+n-1, each with its own early stopping), "combine":
"soup" (train.average_weights) or "mean" (average their track scores)}. TrainConfig.soup_seeds is
the product's own weight average (one early stopping for all). Pretrained models are cached in /tmp by their settings.
"""

from __future__ import annotations

import argparse
import hashlib
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
    from prefrec.checkpoint import load_checkpoint, save_checkpoint
    from prefrec.features import FEATURE_VERSION
    from prefrec.model import ModelConfig
    from prefrec.pretrain import PretrainConfig, pretrain
    from prefrec.scoring import score_track, track_score
    from prefrec.train import TrainConfig, average_weights, fit, make_example

    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--first-repeat", type=int, default=5, help="explore on repeats the reported run does not use")
    ap.add_argument("--personas", default="")
    ap.add_argument("--ks", default="10,20,40")
    ap.add_argument("--variants", required=True, help="JSON list of variants (see the module docstring)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    corpus = pl.load_corpus(args.home)
    cache = FeatureCache(args.home / "features")
    feats = [cache.load(i) for i in corpus.identities]
    summaries = np.stack([pl.baseline_features(f) for f in feats])
    variants = json.loads(args.variants)
    pretrained = {}
    for v in variants:
        if v.get("pretrain") is None:
            continue
        mcfg = ModelConfig(**v.get("model", {}))
        pcfg = PretrainConfig(**v["pretrain"])
        key = hashlib.sha256(repr((FEATURE_VERSION, len(feats), mcfg, pcfg)).encode()).hexdigest()[:12]
        path = Path(f"/tmp/prefrec-explore-{key}.pt")
        if path.exists():
            pretrained[v["name"]] = load_checkpoint(path).model
            continue
        t = time.perf_counter()
        model, rep = pretrain(feats, model_config=mcfg, config=pcfg)
        save_checkpoint(model, path)
        pretrained[v["name"]] = model
        print(f"pretrain {v['name']}: {rep.steps} steps {time.perf_counter() - t:.1f} s loss "
              f"{rep.losses[0]:.3f}->{np.mean(rep.losses[-10:]):.3f}", flush=True)
    personas = args.personas.split(",") if args.personas else None
    ks = tuple(int(k) for k in args.ks.split(","))
    splits = pl.make_splits(corpus, ks=ks, repeats=args.repeats, personas=personas,
                            first_repeat=args.first_repeat)
    rows = []
    for split in splits:
        rows.append({"method": "baseline", "k": split.k, "persona": split.persona, "repeat": split.repeat,
                     **dict(zip(("auc", "p10"), pl.metrics(split, pl.baseline_scores(split, summaries))))})
        examples = [make_example(corpus.identities[i], feats[i], "like" if split.labels[i] else "skip", None)
                    for i in split.rated]
        for v in variants:
            t = time.perf_counter()
            base = TrainConfig(**v.get("train", {}))
            models = []
            for seed in range(int(v.get("seeds", 1))):
                config = replace(base, seed=base.seed + seed)
                if v["name"] in pretrained:
                    model, rep = fit(examples, [], init=pretrained[v["name"]], config=config)
                else:
                    model, rep = fit(examples, feats, model_config=ModelConfig(**v.get("model", {})), config=config)
                models.append(model)
            if v.get("combine", "soup") == "soup" or len(models) == 1:
                model = average_weights(models)
                scores = {i: track_score(score_track(model, feats[i])[0]) for i in split.unrated}
            else:
                scores = {i: float(np.mean([track_score(score_track(m, feats[i])[0]) for m in models]))
                          for i in split.unrated}
            auc, p10 = pl.metrics(split, scores)
            rows.append({"method": v["name"], "k": split.k, "persona": split.persona, "repeat": split.repeat,
                         "auc": auc, "p10": p10, "fit_s": time.perf_counter() - t, "epochs": rep.epochs})
        line = " ".join(f"{r['method']}={r['auc']:.3f}" for r in rows[-1 - len(variants):])
        print(f"{split.persona:>13} K={split.k:<3} r={split.repeat} {line}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(rows))
    names = ["baseline", *(v["name"] for v in variants)]
    print(pl.table(rows, names, ks))
    for name in names[1:]:
        for k in ks:
            d = [r["auc"] - b["auc"] for r in rows if r["method"] == name and r["k"] == k
                 for b in rows if b["method"] == "baseline" and b["k"] == k and b["persona"] == r["persona"]
                 and b["repeat"] == r["repeat"]]
            print(f"{name} K={k}: paired delta {np.mean(d):+.3f} over {len(d)}")
    fits = [r["fit_s"] for r in rows if "fit_s" in r]
    print(f"mean fit {np.mean(fits):.1f} s")


if __name__ == "__main__":
    main()
