"""Exploration harness for issue 12 (in-process; chooses settings on exploration repeats only).

Runs prefrec's own fitting code (train.fit's parts) on the cached features of a scanned data dir,
on the persona splits, next to the baseline. One deep fit per variant and split; for each of
several wide-part strengths C and deep shares of the blend, the wide part and the blend are
refitted (cheap), so their effect is measured on the same deep fit. Usage:

    python bench/explore_wide.py HOME --variants 'soup_seeds=3;epochs=15' ['soup_seeds=1' ...] \
        [--wide-c 0.1,1] [--share 0.5] [--pretrain-seed 0] [--personas a,b] [--ks 10,20,40] --out rows.json

A variant is TrainConfig overrides separated by ';' ("main" is today's defaults). The encoder is
pretrained once per --pretrain-seed exactly as `prefrec scan` does it (tracks in identity order)
and cached next to HOME. Rows are like bench/personas.py's; methods are named
"VARIANT|c=C|share=S", plus "VARIANT|deep" (deep part alone) and "wide|c=C" (wide part alone).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import persona_lib as pl  # noqa: E402

REPORTED = set(range(0, 5)) | set(range(10, 15))  # bench/RESULTS.md, issue 12 protocol


def parse_config(text: str):
    from prefrec.train import TrainConfig

    types = {f.name: f.type for f in fields(TrainConfig)}
    kw = {}
    for item in filter(None, text.split(";")):
        key, _, value = item.partition("=")
        kw[key] = {"int": int, "float": float}[types[key]](value)
    return TrainConfig(**kw)


def train_inputs(home: Path, corpus_dir: Path):
    """What `prefrec train` works from on the benchmark's data dir: the corpus, every track's
    features (corpus order), the encoder `prefrec scan` pretrains (seed 0) and the library sample
    Learning._library_sample gives fit_calibrated (up to 200 tracks evenly over the sorted identities)."""
    from prefrec.cache import FeatureCache
    from prefrec.train import library_sample

    corpus = pl.load_corpus(home, corpus_dir)
    cache = FeatureCache(home / "features")
    feats = [cache.load(i) for i in corpus.identities]
    pre = pretrained_model(home, corpus, feats, 0)
    order = sorted(range(len(feats)), key=lambda i: corpus.identities[i])  # Learning._library_sample's order
    step = max(1, len(order) // 200)
    return corpus, feats, pre, library_sample([feats[i] for i in order[::step]], init=pre)


def pretrained_model(home: Path, corpus, feats, seed: int):
    """The encoder `prefrec scan` would pretrain on this library with this seed (cached)."""
    from prefrec.checkpoint import load_checkpoint, save_checkpoint
    from prefrec.model import MODEL_VERSION, ModelConfig
    from prefrec.pretrain import PretrainConfig, pretrain

    path = home.parent / f"pretrained-v{MODEL_VERSION}-seed{seed}.pt"
    if path.exists():
        return load_checkpoint(path).model
    order = sorted(range(len(feats)), key=lambda i: corpus.identities[i])  # as the service: identity order
    t = time.perf_counter()
    model, report = pretrain((feats[i] for i in order), model_config=ModelConfig(), config=PretrainConfig(seed=seed))
    save_checkpoint(model, path)
    print(f"pretrained seed {seed}: {report.steps} steps in {time.perf_counter() - t:.0f} s", flush=True)
    return model


def calibrated_run(name: str, examples, sample, pre, feats, split) -> dict:
    """train.fit_calibrated with the variant's TrainConfig (and ModelConfig deep_share=S if given
    as share=S): ROC-AUC, precision@10 and ECE of the calibrated track scores over the unrated
    tracks, and the out-of-fold check `train` reports."""
    from dataclasses import replace as dc_replace

    from prefrec.calibration import expected_calibration_error
    from prefrec.scoring import score_track, track_score
    from prefrec.train import fit_calibrated

    text = name[len("cal:"):]
    share = None
    items = []
    for item in filter(None, text.split(";")):
        if item.startswith("share="):
            share = float(item.split("=")[1])
        else:
            items.append(item)
    init = pre
    if share is not None:
        import copy

        init = copy.deepcopy(pre)
        init.config = dc_replace(pre.config, deep_share=share)
    t = time.perf_counter()
    model, report = fit_calibrated(examples, sample, init=init, config=parse_config(";".join(items)))
    scores = {i: track_score(score_track(model, feats[i])[0]) for i in split.unrated}
    a, p = pl.metrics(split, scores)
    ece = expected_calibration_error([scores[i] for i in split.unrated], [split.labels[i] for i in split.unrated])
    oof = report.oof_auc
    return {"method": name, "auc": a, "p10": p, "ece": ece, "fit_s": time.perf_counter() - t,
            "warned": not report.separates, "oof_auc": None if oof is None else [oof.value, oof.low, oof.high],
            "calibration": list(report.calibration),
            "scores": [[scores[i], float(split.labels[i])] for i in split.unrated]}


def main() -> None:
    import torch

    from prefrec.cache import FeatureCache
    from prefrec.stats import wide_inputs
    from prefrec.train import _fit_deep, _fit_wide, _set_blend, average_weights, library_sample, make_example

    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--first-repeat", type=int, default=5)
    ap.add_argument("--personas", default="")
    ap.add_argument("--ks", default="10,20,40")
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--wide-c", default="0.1")
    ap.add_argument("--share", default="0.5")
    ap.add_argument("--pretrain-seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if set(range(args.first_repeat, args.first_repeat + args.repeats)) & REPORTED:
        raise SystemExit("repeats 0-4 and 10-14 are the reported ones: explore on 5-9 or 15-19")
    torch.set_num_threads(1)
    corpus = pl.load_corpus(args.home, args.corpus)
    cache = FeatureCache(args.home / "features")
    feats = [cache.load(i) for i in corpus.identities]
    pre = pretrained_model(args.home, corpus, feats, args.pretrain_seed)
    sample = library_sample(feats, init=pre)
    wide_of = {corpus.identities[i]: wide_inputs(f) for i, f in enumerate(feats)}
    summaries = np.stack([pl.baseline_features(f) for f in feats])
    cs = [float(c) for c in args.wide_c.split(",")]
    shares = [float(s) for s in args.share.split(",")]
    personas = args.personas.split(",") if args.personas else None
    ks = tuple(int(k) for k in args.ks.split(","))
    splits = pl.make_splits(corpus, ks=ks, repeats=args.repeats, personas=personas, first_repeat=args.first_repeat)
    splits.sort(key=lambda s: s.repeat)  # repeat by repeat: a run stopped early still covers every persona
    rows = []
    t_all = time.perf_counter()
    for split in splits:
        row = {"k": split.k, "persona": split.persona, "repeat": split.repeat}
        rows.append({"method": "baseline", **row,
                     **dict(zip(("auc", "p10"), pl.metrics(split, pl.baseline_scores(split, summaries))))})
        examples = [make_example(corpus.identities[i], feats[i], "like" if split.labels[i] else "skip", None)
                    for i in split.rated]
        wide_done = set()
        for name in args.variants:
            if name.startswith("cal:"):  # the product's whole fit: 5-fold calibration, then scores
                rows.append({**row, **calibrated_run(name, examples, sample, pre, feats, split)})
                continue
            config = parse_config("" if name == "main" else name)
            t = time.perf_counter()
            model = average_weights([_fit_deep(examples, pre.config, config, sample, pre, config.seed + s)[0]
                                     for s in range(max(1, config.soup_seeds))])
            fit_s = time.perf_counter() - t
            model.set_wide_normalisation(torch.from_numpy(sample.wide_mean), torch.from_numpy(sample.wide_std))
            with torch.inference_mode():
                deep = {i: model.track_parts(torch.from_numpy(feats[i]))[0].double().numpy() for i in split.unrated}
            a, p = pl.metrics(split, {i: float(np.mean(1 / (1 + np.exp(-d)))) for i, d in deep.items()})
            rows.append({"method": f"{name}|deep", **row, "auc": a, "p10": p, "fit_s": fit_s})
            for c in cs:
                _fit_wide(model, examples, wide_of, c)
                _set_blend(model, sample)
                dm, ds, wm, ws = model.blend.tolist()
                with torch.inference_mode():
                    wide = {i: model.wide_logits(torch.from_numpy(wide_of[corpus.identities[i]])).double().numpy()
                            for i in split.unrated}
                if c not in wide_done:
                    wide_done.add(c)
                    a, p = pl.metrics(split, {i: float(np.mean(1 / (1 + np.exp(-w)))) for i, w in wide.items()})
                    rows.append({"method": f"wide|c={c}", **row, "auc": a, "p10": p})
                for share in shares:
                    scores = {i: float(np.mean(1 / (1 + np.exp(-(share * (deep[i] - dm) / ds
                                                                 + (1 - share) * (wide[i] - wm) / ws)))))
                              for i in split.unrated}
                    a, p = pl.metrics(split, scores)
                    rows.append({"method": f"{name}|c={c}|share={share}", **row, "auc": a, "p10": p})
        summary = " ".join(f"{r['method'].split('|', 1)[-1] if len(args.variants) == 1 else r['method']}={r['auc']:.3f}"
                           for r in rows if (r["persona"], r["k"], r["repeat"]) == (split.persona, split.k, split.repeat))
        print(f"{split.persona:>22} K={split.k:<3} r={split.repeat} {summary}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(rows))
    print(f"{len(splits)} splits in {time.perf_counter() - t_all:.0f} s")
    print(pl.delta_summary(rows))


if __name__ == "__main__":
    main()
