"""What the daemon's fast path costs in quality: a head update (train.fit_head on stored window
representations) against the full fine-tune, on the persona benchmark's nested splits.

    PREFREC_BENCH_CORPUS=CORPUS python bench/head_update.py HOME [--repeats 2] [--first-repeat 5]

HOME is a data dir where `prefrec scan CORPUS` ran (features and models/pretrained.pt). For each
persona and repeat the splits are nested (K = 10 ⊂ 20 ⊂ 40, bench/persona_lib.py), as for a listener
who keeps rating. For K0 -> K1 in (10 -> 20, 20 -> 40) it compares, on the tracks unrated at K1:
  full K0     the full fine-tune on the first K0 ratings (what was ranked before the new ratings)
  head K1     that model's head refitted on all K1 ratings (what the daemon ranks seconds later)
  full K1     the full fine-tune on all K1 ratings (what the quiet-spell retrain ranks)
  baseline    MFCC statistics + logistic regression on K1 ratings
Mean ROC-AUC and precision@10 over the splits; the same functions `prefrec train` and the daemon call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import persona_lib as pl  # noqa: E402


def main() -> None:
    import torch

    from prefrec.cache import FeatureCache
    from prefrec.checkpoint import load_checkpoint
    from prefrec.features import FEATURE_VERSION
    from prefrec.scoring import score_reps, score_track_with_reps, track_score
    from prefrec.train import RepExample, TrainConfig, fit, fit_head, make_example

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--first-repeat", type=int, default=5)
    parser.add_argument("--personas", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = pl.load_corpus(args.home)
    cache = FeatureCache(args.home / "features", version=FEATURE_VERSION)
    features = [cache.load(i) for i in corpus.identities]
    summaries = np.stack([pl.baseline_features(f) for f in features])
    pretrained = load_checkpoint(args.home / "models" / "pretrained.pt").model
    splits = pl.make_splits(corpus, repeats=args.repeats, first_repeat=args.first_repeat,
                            personas=args.personas.split(",") if args.personas else None)
    by_key = {(s.persona, s.repeat, s.k): s for s in splits}
    rows: dict[tuple[int, int, str], list[tuple[float, float]]] = {}
    seconds: dict[str, list[float]] = {"full": [], "head": []}
    config = TrainConfig()

    def full_fit(split):
        examples = [make_example(corpus.identities[i], features[i], "like" if split.labels[i] else "skip", None)
                    for i in split.rated]
        started = time.perf_counter()
        model, _ = fit(examples, [], init=pretrained, config=config)
        seconds["full"].append(time.perf_counter() - started)
        return model

    for (persona, repeat, k), split in sorted(by_key.items()):
        if k == max(pl.KS):
            continue
        k1 = pl.KS[pl.KS.index(k) + 1]
        later = by_key[(persona, repeat, k1)]
        before = full_fit(split)
        reps, full_scores, head_scores = {}, {}, {}
        for i, f in enumerate(features):
            probs, _emb, r = score_track_with_reps(before, f)
            reps[i] = r.astype(np.float16).astype(np.float32)  # as stored by prefrec.reps
            full_scores[i] = track_score(probs)
        examples = [RepExample(corpus.identities[i], reps[i], float(later.labels[i]),
                               np.ones(len(reps[i]), dtype=np.float32)) for i in later.rated]
        started = time.perf_counter()
        head, _ = fit_head(before, examples, config=config)
        seconds["head"].append(time.perf_counter() - started)
        for i in reps:
            head_scores[i] = track_score(score_reps(head, reps[i])[0])
        after = full_fit(later)
        after_scores = {i: track_score(score_track_with_reps(after, f)[0]) for i, f in enumerate(features)}
        for name, scores in (("full K0", full_scores), ("head K1", head_scores), ("full K1", after_scores),
                             ("baseline K1", pl.baseline_scores(later, summaries))):
            rows.setdefault((k, k1, name), []).append(pl.metrics(later, scores))
        line = ", ".join(f"{name} {rows[(k, k1, name)][-1][0]:.3f}"
                         for name in ("full K0", "head K1", "full K1", "baseline K1"))
        print(f"{persona} r{repeat} {k}->{k1}: {line}", flush=True)
    print("\n| K0 -> K1 | method | ROC-AUC on tracks unrated at K1 | precision@10 | splits |")
    print("|---|---|---|---|---|")
    for (k, k1, name), values in sorted(rows.items()):
        auc = statistics.mean(v[0] for v in values)
        p10 = statistics.mean(v[1] for v in values)
        print(f"| {k} -> {k1} | {name} | {auc:.3f} | {p10:.3f} | {len(values)} |")
    print(f"\nmean fit time: full fine-tune {statistics.mean(seconds['full']):.1f} s, "
          f"head update {statistics.mean(seconds['head']):.2f} s (one torch thread)")


if __name__ == "__main__":
    main()
