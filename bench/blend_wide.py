"""Offline blends of saved deep window logits (bench/explore_wide.py --save) with wide logistic
regressions, on the same exploration splits. Usage:

    python bench/blend_wide.py HOME SAVED_DIR --deep NAME [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import explore_wide as ew  # noqa: E402
import persona_lib as pl  # noqa: E402


def main() -> None:
    from prefrec.cache import FeatureCache

    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("saved", type=Path)
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--deep", required=True)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    corpus = pl.load_corpus(args.home, args.corpus)
    cache = FeatureCache(args.home / "features")
    feats = [cache.load(i) for i in corpus.identities]
    wstats = [ew.window_stats(f) for f in feats]
    tstats = np.stack([ew.track_stats(f) for f in feats])
    allw = np.concatenate(wstats)
    wm, ws = allw.mean(0), allw.std(0) + 1e-6
    tm, ts = tstats.mean(0), tstats.std(0) + 1e-6
    wide = [np.concatenate([(w - wm) / ws, np.repeat(((t - tm) / ts)[None], len(w), axis=0)], axis=1)
            for w, t in zip(wstats, tstats)]
    n_win = [len(w) for w in wstats]
    summaries = np.stack([pl.baseline_features(f) for f in feats])
    personas = pl.default_personas(corpus)
    rows = []
    for path in sorted(args.saved.glob("*.npz")):
        persona, repeat, k = path.stem.rsplit("-", 2)
        split = next(s for s in pl.make_splits(corpus, repeats=1, personas=[persona], first_repeat=int(repeat))
                     if s.k == int(k))
        assert persona in personas
        data = np.load(path)
        deep = {int(key.split("|")[1]): data[key].astype(np.float64) for key in data.files
                if key.split("|")[0] == args.deep}
        if not deep:
            continue
        ww = ew.window_weights(split.rated, split.labels, n_win)
        y = np.concatenate([np.full(n_win[i], split.labels[i]) for i in split.rated])
        variants = {}
        wl = {}
        for kind, c in (("both", 1.0), ("both", 0.1), ("window", 1.0), ("track", 1.0)):
            cols = ew.wide_columns(kind)
            X = np.concatenate([wide[i][:, cols] for i in split.rated])
            coef, b = ew.fit_lr(X, y, np.concatenate(ww), c)
            wl[(kind, c)] = {i: wide[i][:, cols] @ coef + b for i in split.unrated}
        variants["deep"] = {i: ew.sigmoid(deep[i]).mean() for i in split.unrated}
        variants["deep-meanlogit"] = {i: deep[i].mean() for i in split.unrated}
        for (kind, c), lg in wl.items():
            variants[f"wide-{kind}-c{c}"] = {i: ew.sigmoid(lg[i]).mean() for i in split.unrated}
        sd_d = np.std(np.concatenate([deep[i] for i in split.unrated]))
        for (kind, c), lg in wl.items():
            sd_w = np.std(np.concatenate([lg[i] for i in split.unrated]))
            for a in (0.25, 0.5, 0.75):
                variants[f"blend-{kind}-c{c}-a{a}"] = {
                    i: ew.sigmoid(a * deep[i] / sd_d + (1 - a) * lg[i] / sd_w).mean() for i in split.unrated}
            variants[f"sum-{kind}-c{c}"] = {i: ew.sigmoid(deep[i] + lg[i]).mean() for i in split.unrated}
        base = pl.metrics(split, pl.baseline_scores(split, summaries))
        rows.append({"method": "baseline", "k": split.k, "persona": persona, "repeat": split.repeat,
                     "auc": base[0], "p10": base[1]})
        for name, scores in variants.items():
            a, p = pl.metrics(split, {i: float(v) for i, v in scores.items()})
            rows.append({"method": name, "k": split.k, "persona": persona, "repeat": split.repeat, "auc": a, "p10": p})
    if args.out:
        args.out.write_text(json.dumps(rows))
    report(rows)


def report(rows: list[dict]) -> None:
    """Per method and K: mean AUC, delta vs baseline, worst persona delta."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ks = sorted({r["k"] for r in rows})
    base = {(r["persona"], r["repeat"], r["k"]): r["auc"] for r in rows if r["method"] == "baseline"}
    print(f"{'method':<28}" + "".join(f"  K={k}: mean   Δ    worst(persona)         " for k in ks))
    for m in methods:
        line = f"{m:<28}"
        for k in ks:
            sel = [r for r in rows if r["method"] == m and r["k"] == k]
            if not sel:
                continue
            d = {}
            for r in sel:
                d.setdefault(r["persona"], []).append(r["auc"] - base[(r["persona"], r["repeat"], k)])
            worst = min(d, key=lambda p: np.mean(d[p]))
            line += (f"  {np.mean([r['auc'] for r in sel]):.3f} {np.mean([x for v in d.values() for x in v]):+.3f} "
                     f"{np.mean(d[worst]):+.3f}({worst[:12]:<12}) n={len(sel):<3}")
        print(line)


if __name__ == "__main__":
    main()
