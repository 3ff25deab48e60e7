"""Exploration harness for issue 12 (in-process; chooses settings on exploration repeats only).

Variants of the window scorer with a "wide" input (each window's MFCC statistics and its track's
statistics, standardised over the library) next to the LSTM state, compared with the baseline and
with today's model on the same splits. Usage:

    python bench/explore_wide.py HOME --variants main,wide,wd --out rows.json [--personas a,b] [--ks 10,20,40]

HOME is a scanned data dir (features + pretrained.pt). Results are rows like bench/personas.py's.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import persona_lib as pl  # noqa: E402
from prefrec.stats import track_stats, window_stats  # noqa: E402

STEP, WIN = 50, 400
REPORTED = set(range(0, 5)) | set(range(10, 15))  # bench/RESULTS.md, issue 12 protocol


@dataclass(frozen=True)
class WDConfig:
    epochs: int = 15
    lr: float = 2e-3
    encoder_lr_scale: float = 0.3
    weight_decay: float = 1e-3
    windows_per_track: int = 24
    batch: int = 64
    seeds: int = 3
    wide: str = "both"  # "both" | "window" | "track" | "none"
    wide_c: float = 1.0  # L2 of the wide weights as in logistic regression with this C (per rated track)
    deep: bool = True
    deep_scale: float = 1.0
    offset: bool = False  # wide part fitted first (LR), frozen; the deep part learns the rest


def wide_columns(kind: str) -> slice:
    return {"both": slice(0, 120), "window": slice(0, 60), "track": slice(60, 120), "none": slice(0, 0)}[kind]


def make_model(pretrained, n_wide: int):
    import torch

    model = copy.deepcopy(pretrained)
    model.head = torch.nn.Linear(model.config.lstm_hidden, 1)
    wide = torch.nn.Linear(max(n_wide, 1), 1)
    torch.nn.init.zeros_(wide.weight)
    torch.nn.init.zeros_(wide.bias)
    return model, wide


def fit_lr(X: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression (sklearn's objective: C * sum w_i loss_i + |coef|^2 / 2)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(X, y, sample_weight=w)
    return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])


def window_weights(rated, labels, n_win) -> list[np.ndarray]:
    """Per rated track, its windows' weights: each track sums to 1, each class to half the tracks."""
    n = len(rated)
    n_pos = sum(labels[i] for i in rated)
    out = []
    for i in rated:
        cls = n_pos if labels[i] else n - n_pos
        out.append(np.full(n_win[i], (n / 2) / cls / n_win[i], dtype=np.float64))
    return out


def fit_wd(ctx, split, cfg: WDConfig, seed: int):
    import torch

    cols = wide_columns(cfg.wide)
    n_wide = cols.stop - cols.start
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, wide = make_model(ctx["pretrained"], n_wide)
    rated = split.rated
    labels = split.labels
    if cfg.offset and n_wide:
        ww = window_weights(rated, labels, ctx["n_win"])
        X = np.concatenate([ctx["wide"][i][:, cols] for i in rated])
        y = np.concatenate([np.full(ctx["n_win"][i], labels[i]) for i in rated])
        coef, b = fit_lr(X, y, np.concatenate(ww), cfg.wide_c)
        wide.weight.data[:] = torch.from_numpy(coef)[None]
        wide.bias.data[:] = b
        wide.requires_grad_(False)
    groups = []
    if cfg.deep:
        groups.append({"params": list(model.head.parameters())})
        groups.append({"params": list(model.cnn.parameters()) + list(model.lstm.parameters()),
                       "lr": cfg.lr * cfg.encoder_lr_scale})
    if n_wide and not cfg.offset:
        groups.append({"params": list(wide.parameters()), "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    n_pos = sum(labels[i] for i in rated)
    n = len(rated)
    l2 = 1.0 / (2.0 * cfg.wide_c * n)
    for _ in range(cfg.epochs):
        xs, zs, ys, ws = [], [], [], []
        for i in rated:
            k = ctx["n_win"][i]
            chosen = rng.choice(k, size=min(cfg.windows_per_track, k), replace=False)
            tw = 0.5 / (n_pos if labels[i] else n - n_pos) / len(chosen)
            for j in chosen:
                w = ctx["feats"][i][:, j * STEP : j * STEP + WIN]
                if w.shape[1] < WIN:
                    w = np.concatenate([w, np.repeat(ctx["mean"][:, None], WIN - w.shape[1], axis=1)], axis=1)
                xs.append(w)
                zs.append(ctx["wide"][i][j, cols])
                ys.append(labels[i])
                ws.append(tw)
        x = torch.from_numpy(np.stack(xs))
        z = torch.from_numpy(np.stack(zs)) if n_wide else torch.zeros(len(xs), 1)
        y = torch.tensor(ys, dtype=torch.float32)
        wt = torch.tensor(ws, dtype=torch.float32)
        order = torch.from_numpy(rng.permutation(len(y)))
        model.train()
        for s in range(0, len(order), cfg.batch):
            idx = order[s : s + cfg.batch]
            logit = torch.zeros(len(idx))
            if cfg.deep:
                logit = logit + cfg.deep_scale * model(x[idx])
            if n_wide:
                logit = logit + wide(z[idx]).squeeze(-1)
            loss = (lossf(logit, y[idx]) * wt[idx]).sum() / wt[idx].sum()
            if n_wide and not cfg.offset:
                loss = loss + l2 * (wide.weight**2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model, wide


def average(models):
    from prefrec.train import average_weights

    import torch

    heads = [m for m, _ in models]
    wides = [w for _, w in models]
    model = average_weights(heads)
    if len(wides) > 1:
        sd = [w.state_dict() for w in wides]
        wides[0].load_state_dict({k: torch.stack([s[k] for s in sd]).mean(0) for k in sd[0]})
    return model, wides[0]


def window_logits(ctx, model, wide, cfg: WDConfig, i: int) -> np.ndarray:
    import torch

    cols = wide_columns(cfg.wide)
    with torch.inference_mode():
        out = np.zeros(ctx["n_win"][i], dtype=np.float64)
        if cfg.deep:
            out += cfg.deep_scale * model.track_window_logits(torch.from_numpy(ctx["feats"][i])).numpy()
        if cols.stop > cols.start:
            out += wide(torch.from_numpy(ctx["wide"][i][:, cols])).squeeze(-1).numpy()
    return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def run_wd(ctx, split, cfg: WDConfig) -> tuple[dict[int, float], dict[int, np.ndarray]]:
    models = [fit_wd(ctx, split, cfg, s) for s in range(cfg.seeds)]
    model, wide = average(models)
    logits = {i: window_logits(ctx, model, wide, cfg, i) for i in split.unrated}
    return {i: float(sigmoid(v).mean()) for i, v in logits.items()}, logits


def run_wide_lr(ctx, split, kind: str, c: float) -> dict[int, float]:
    cols = wide_columns(kind)
    ww = window_weights(split.rated, split.labels, ctx["n_win"])
    X = np.concatenate([ctx["wide"][i][:, cols] for i in split.rated])
    y = np.concatenate([np.full(ctx["n_win"][i], split.labels[i]) for i in split.rated])
    coef, b = fit_lr(X, y, np.concatenate(ww), c)
    return {i: float(sigmoid(ctx["wide"][i][:, cols] @ coef + b).mean()) for i in split.unrated}


def run_main(ctx, split) -> dict[int, float]:
    from prefrec.scoring import score_track, track_score
    from prefrec.train import TrainConfig, fit, make_example

    ex = [make_example(ctx["ids"][i], ctx["feats"][i], "like" if split.labels[i] else "skip", None)
          for i in split.rated]
    model, _ = fit(ex, [], init=ctx["pretrained"], config=TrainConfig())
    return {i: track_score(score_track(model, ctx["feats"][i])[0]) for i in split.unrated}


VARIANTS = {
    "main": lambda ctx, s: (run_main(ctx, s), None),
    "wide": lambda ctx, s: (run_wide_lr(ctx, s, "both", 1.0), None),
    "wide-win": lambda ctx, s: (run_wide_lr(ctx, s, "window", 1.0), None),
}


def parse_variant(name: str):
    """'wd:key=value,...' -> a WDConfig fit; other names from VARIANTS."""
    if name in VARIANTS:
        return VARIANTS[name]
    kind, _, rest = name.partition(":")
    if kind != "wd":
        raise SystemExit(f"unknown variant {name}")
    fields = {f.name: f.type for f in WDConfig.__dataclass_fields__.values()}
    kw = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        typ = fields[key]
        kw[key] = (value.lower() in ("1", "true")) if typ in ("bool", bool) else \
            (int(value) if typ in ("int", int) else (float(value) if typ in ("float", float) else value))
    cfg = WDConfig(**kw)
    return lambda ctx, s: run_wd(ctx, s, cfg)


def main() -> None:
    import torch

    from prefrec.cache import FeatureCache
    from prefrec.train import load_checkpoint

    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--first-repeat", type=int, default=5)
    ap.add_argument("--personas", default="")
    ap.add_argument("--ks", default="10,20,40")
    ap.add_argument("--variants", required=True)
    ap.add_argument("--pretrained", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--save", type=Path, default=None, help="save window logits of deep variants here (npz per split)")
    args = ap.parse_args()
    if set(range(args.first_repeat, args.first_repeat + args.repeats)) & REPORTED:
        raise SystemExit("repeats 0-4 and 10-14 are the reported ones: explore on 5-9 or 15-19")
    torch.set_num_threads(1)
    corpus = pl.load_corpus(args.home, args.corpus)
    cache = FeatureCache(args.home / "features")
    feats = [cache.load(i) for i in corpus.identities]
    pretrained = load_checkpoint(args.pretrained or args.home / "models" / "pretrained.pt")
    wstats = [window_stats(f) for f in feats]
    tstats = np.stack([track_stats(f) for f in feats])
    allw = np.concatenate(wstats)
    wm, ws = allw.mean(0), allw.std(0) + 1e-6
    tm, ts = tstats.mean(0), tstats.std(0) + 1e-6
    wide = [np.concatenate([(w - wm) / ws, np.repeat(((t - tm) / ts)[None], len(w), axis=0)], axis=1).astype(np.float32)
            for w, t in zip(wstats, tstats)]
    ctx = {"feats": feats, "ids": corpus.identities, "pretrained": pretrained, "wide": wide,
           "n_win": [len(w) for w in wstats], "mean": pretrained.mfcc_mean.numpy()}
    summaries = np.stack([pl.baseline_features(f) for f in feats])
    names = args.variants.split(",")
    personas = args.personas.split(",") if args.personas else None
    ks = tuple(int(k) for k in args.ks.split(","))
    splits = pl.make_splits(corpus, ks=ks, repeats=args.repeats, personas=personas, first_repeat=args.first_repeat)
    rows = []
    for split in splits:
        rows.append({"method": "baseline", "k": split.k, "persona": split.persona, "repeat": split.repeat,
                     **dict(zip(("auc", "p10"), pl.metrics(split, pl.baseline_scores(split, summaries))))})
        saved = {}
        for name in names:
            t = time.perf_counter()
            scores, logits = parse_variant(name)(ctx, split)
            if logits is not None:
                saved[name] = logits
            auc, p10 = pl.metrics(split, scores)
            rows.append({"method": name, "k": split.k, "persona": split.persona, "repeat": split.repeat,
                         "auc": auc, "p10": p10, "fit_s": time.perf_counter() - t})
        if args.save and saved:
            args.save.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.save / f"{split.persona}-{split.repeat}-{split.k}.npz",
                                **{f"{name}|{i}": v.astype(np.float16) for name, lg in saved.items() for i, v in lg.items()})
        line = " ".join(f"{r['method']}={r['auc']:.3f}" for r in rows[-1 - len(names):])
        print(f"{split.persona:>22} K={split.k:<3} r={split.repeat} {line}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(rows))
    print(pl.table(rows, ["baseline", *names], ks))


if __name__ == "__main__":
    main()
