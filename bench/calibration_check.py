"""Issue 12's open points, from saved runs (no fitting): why the calibrated scores miss at K = 10,
and how often `train`'s out-of-fold interval holds the benchmark's ROC-AUC.

From rows of bench/personas_inprocess.py (--rows), per K:
- ECE of the calibrated scores over the unrated tracks, their mean against the unrated tracks'
  share of likes and the rated tracks' share; the ECE once the unrated likes and skips are
  reweighted to hold the rated share (label shift: what the ECE would be if the library held as
  many likes as the ratings);
- the interval in the rows: how often it holds the benchmark's figure (ROC-AUC over the unrated
  tracks), its width, how often `train` warned, and on which side the misses fall; the score
  interval (evaluation.auc_score_interval) recomputed from each row's out-of-fold ROC-AUC and the
  split's likes and skips (for rows written before it); the benchmark figure's own standard error
  (Hanley-McNeil, from its unrated likes and skips) and so the share an exact 95% interval for the
  model's true ROC-AUC would hold of these noisy figures.
From a --capture DIR of the same script, per K, calibration variants re-applied to the saved
logits: as fitted; stronger priors on the scale; prior-shift EM on the library sample (Saerens et
al. 2002) and the probabilistic adjusted count (Bella et al. 2010), which estimate the library's
share of likes from the model's scores; and, as bounds rather than methods, the bias (or scale
and bias) that fits each split's unrated tracks.

    python bench/calibration_check.py HOME --corpus CORPUS [--rows r.json ... [--ks 10,20,40]] [--capture DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import persona_lib as pl  # noqa: E402
from prefrec.calibration import _sigmoid, expected_calibration_error, fit_calibration  # noqa: E402
from prefrec.evaluation import auc, auc_score_interval  # noqa: E402

Z = 1.959964


def weighted_ece(s: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int = 10) -> float:
    which = np.minimum((s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        i = which == b
        if i.any():
            total += w[i].sum() / w.sum() * abs(np.average(s[i], weights=w[i]) - np.average(y[i], weights=w[i]))
    return total


def bench_se(value: float, n_pos: int, n_neg: int) -> float:
    """Hanley-McNeil standard error of a ROC-AUC over n_pos liked and n_neg other tracks."""
    q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
    return float(np.sqrt((value * (1 - value) + (n_pos - 1) * (q1 - value ** 2) + (n_neg - 1) * (q2 - value ** 2))
                         / (n_pos * n_neg)))


def rows_report(rows: list[dict], splits: dict) -> None:
    from scipy.stats import norm

    for k in sorted({r["k"] for r in rows}):
        mine = [r for r in rows if r["k"] == k]
        s_all, y_all, w_all, rated_share = [], [], [], []
        cover, width, warned, above, below, nc_cover, nc_width, nc_warn, nc_above, expected = ([] for _ in range(10))
        for r in mine:
            split = splits[(r["persona"], k, r["repeat"])]
            a = np.array(r["scores"])
            s, y = a[:, 0], a[:, 1]
            pr, pu = float(split.labels[split.rated].mean()), float(y.mean())
            s_all.append(s)
            y_all.append(y)
            w_all.append(np.where(y > 0.5, pr / pu, (1 - pr) / (1 - pu)))
            rated_share.append(pr)
            warned.append(r["warned"])
            if not r["oof_auc"]:
                continue
            value, low, high = r["oof_auc"]
            bench = r["auc"]
            cover.append(low <= bench <= high)
            width.append(high - low)
            above.append(bench > high)
            below.append(bench < low)
            likes = int(split.labels[split.rated].sum())
            nc = auc_score_interval(value, likes, k - likes)
            nc_cover.append(nc.low <= bench <= nc.high)
            nc_width.append(nc.high - nc.low)
            nc_warn.append(nc.low <= 0.5)
            nc_above.append(bench > nc.high)
            se_i = (nc.high - nc.low) / (2 * Z)
            se_b = bench_se(bench, int(y.sum()), int(len(y) - y.sum()))
            expected.append(2 * norm.cdf(Z * se_i / np.hypot(se_i, se_b)) - 1)
        s, y, w = (np.concatenate(v) for v in (s_all, y_all, w_all))
        print(f"K = {k}, {len(mine)} splits")
        print(f"  calibration: ECE {expected_calibration_error(s, y):.3f}; mean score {s.mean():.3f}, unrated liked "
              f"{y.mean():.3f}, rated liked {np.mean(rated_share):.3f}; ECE reweighted to the rated share "
              f"{weighted_ece(s, y, w):.3f}")
        print(f"  interval in the rows: holds the benchmark figure in {np.mean(cover):.2f} of {len(cover)} (misses: "
              f"{sum(above)} with the figure above, {sum(below)} below), width {np.mean(width):.2f}; warned "
              f"{np.mean(warned):.2f}")
        print(f"  score interval from the rows' values: holds {np.mean(nc_cover):.2f} ({sum(nc_above)} misses above), "
              f"width {np.mean(nc_width):.2f}, would warn {np.mean(nc_warn):.2f}; an exact 95% interval would hold "
              f"{np.mean(expected):.2f} of these figures (their own s.e.)")


def load_capture(directory: Path) -> list[dict]:
    out = []
    for path in sorted(directory.glob("*.npz")):
        z = np.load(path)
        cut = lambda lengths: np.cumsum(lengths)[:-1]  # noqa: E731
        oof = np.split(z["oof_logits"], cut(z["oof_lengths"])) if len(z["oof_lengths"]) else []
        owner = z["sample_track"]
        out.append({"k": int(path.stem.rsplit("-", 1)[1]), "oof": oof, "oof_y": z["oof_labels"],
                    "calibration": tuple(z["calibration"]), "labels": z["labels"], "rated": set(z["rated"].tolist()),
                    "tracks": np.split(z["track_logits"], cut(z["track_lengths"])),
                    "sample": [z["sample_logits"][owner == t] for t in np.unique(owner)]})
    return out


def _scores(tracks: list[np.ndarray], scale: float, bias: float) -> np.ndarray:
    return np.array([float(_sigmoid(scale * t + bias).mean()) for t in tracks])


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _unrated(split: dict) -> list[int]:
    return [i for i in range(len(split["labels"])) if i not in split["rated"]]


def _bias_for_share(tracks: list[np.ndarray], scale: float, bias: float, share: float) -> float:
    low, high = -15.0, 15.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (low, middle) if _scores(tracks, scale, bias + middle).mean() > share else (middle, high)
    return bias + 0.5 * (low + high)


def variants() -> dict:
    def as_fitted(sp):
        return sp["calibration"]

    def prior(weight):
        def fitted(sp):
            c = fit_calibration(sp["oof"], sp["oof_y"], prior_tracks=weight)
            return c.scale, c.bias
        return fitted

    def em(sp):  # Saerens et al.: iterate the library share through the shifted posteriors
        scale, bias = sp["calibration"]
        rated = float(np.mean(sp["oof_y"]))
        share = rated
        for _ in range(200):
            new = float(np.clip(_scores(sp["sample"], scale, bias + _logit(share) - _logit(rated)).mean(), 1e-4, 1 - 1e-4))
            if abs(new - share) < 1e-7:
                break
            share = new
        return scale, bias + _logit(share) - _logit(rated)

    def pacc(sp):  # Bella et al.: (mean library score - mean OOF score of skips) / (of likes - of skips)
        scale, bias = sp["calibration"]
        y = np.asarray(sp["oof_y"])
        oof = _scores(sp["oof"], scale, bias)
        rated = float(y.mean())
        gap = oof[y > 0.5].mean() - oof[y < 0.5].mean()
        share = rated if gap < 1e-3 else (_scores(sp["sample"], scale, bias).mean() - oof[y < 0.5].mean()) / gap
        share = float(np.clip(share, 0.5 / len(y), 1 - 0.5 / len(y)))
        return scale, bias + _logit(share) - _logit(rated)

    def bound_bias(sp):
        un = _unrated(sp)
        scale, bias = sp["calibration"]
        return scale, _bias_for_share([sp["tracks"][i] for i in un], scale, bias, float(sp["labels"][un].mean()))

    def bound_both(sp):
        un = _unrated(sp)
        c = fit_calibration([sp["tracks"][i] for i in un], sp["labels"][un], prior_tracks=1e-6)
        return c.scale, c.bias

    return {"as fitted": as_fitted, "scale prior worth 8 ratings": prior(8.0), "... 16": prior(16.0),
            "... 32": prior(32.0), "EM on the library sample": em, "adjusted count on the library sample": pacc,
            "bound: bias fitted on the unrated": bound_bias, "bound: scale and bias fitted on the unrated": bound_both}


def capture_report(splits: list[dict]) -> None:
    for k in sorted({s["k"] for s in splits}):
        mine = [s for s in splits if s["k"] == k]
        print(f"K = {k}, {len(mine)} captured splits")
        for name, variant in variants().items():
            scores, labels, aucs, scales = [], [], [], []
            for sp in mine:
                scale, bias = variant(sp)
                un = _unrated(sp)
                s = _scores([sp["tracks"][i] for i in un], scale, bias)
                scores.append(s)
                labels.append(sp["labels"][un])
                aucs.append(auc(s, sp["labels"][un]))
                scales.append(scale)
            s, y = np.concatenate(scores), np.concatenate(labels)
            print(f"  {name:>44}: ECE {expected_calibration_error(s, y):.3f}, mean score {s.mean():.3f} "
                  f"(liked {y.mean():.3f}), ROC-AUC {np.mean(aucs):.4f}, scale median {np.median(scales):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--rows", type=Path, nargs="*", default=[])
    ap.add_argument("--ks", default="10,20,40", help="the --ks the rows were run with (it sets the splits: "
                    "persona_lib.make_splits draws until the first min(ks) rated tracks hold 2 likes)")
    ap.add_argument("--capture", type=Path, default=None)
    args = ap.parse_args()
    if args.rows:
        rows = [r for path in args.rows for r in json.loads(path.read_text()) if r["method"] == "prefrec"]
        corpus = pl.load_corpus(args.home, args.corpus)
        repeats = sorted({r["repeat"] for r in rows})
        splits = {(s.persona, s.k, s.repeat): s
                  for s in pl.make_splits(corpus, ks=tuple(int(k) for k in args.ks.split(",")),
                                          repeats=repeats[-1] - repeats[0] + 1, first_repeat=repeats[0])}
        rows_report(rows, splits)
    if args.capture:
        capture_report(load_capture(args.capture))


if __name__ == "__main__":
    main()
