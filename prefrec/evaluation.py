"""How good the taste model is on the listener's own ratings: folds, metrics, intervals, baseline.

Cross-validation here never lets a track (or, grouped, an album) be on both sides of a fold. The
metrics are ROC-AUC (how often a liked track outranks a skipped one) and precision@10 (the share
of likes among the 10 best-scored held-out tracks), with 95% intervals: for ROC-AUC over single
tracks, Newcombe's score interval (auc_interval: it keeps its 95% with 2-5 likes, where a bootstrap
over tracks collapses), otherwise a bootstrap over the rated tracks (or albums). The baseline is
the MFCC-statistics logistic regression of DESIGN.md's benchmark (stats.track_stats,
standardised, L2, classes balanced). Pure numpy; no I/O, no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_FOLDS = 5
BOOTSTRAP = 1000


def auc(scores: Sequence[float], labels: Sequence[float]) -> float:
    """ROC-AUC: P(a liked track scores above a skipped one), ties counting half. NaN without both classes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels) > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(s)  # 1-based, ties get their average rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def precision_at(scores: Sequence[float], labels: Sequence[float], n: int = 10) -> float:
    """Share of likes among the `n` best-scored tracks (all of them if fewer)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    top = np.argsort(-s, kind="stable")[:n]
    return float(y[top].mean()) if len(top) else float("nan")


def assign_folds(groups: Sequence[str], labels: Sequence[float], n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) of every item; items of one group always share a fold.

    Groups are shuffled, ordered by their share of likes, and dealt to the folds in turn, so each
    fold gets a similar mix of liked and skipped music. Fewer groups than folds: one group a fold.
    """
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    y = np.asarray(labels, dtype=np.float64)
    index = {g: i for i, g in enumerate(names)}
    member = np.array([index[g] for g in groups])
    share = np.bincount(member, y, minlength=len(names)) / np.bincount(member, minlength=len(names))
    shuffled = rng.permutation(len(names))
    order = shuffled[np.argsort(share[shuffled], kind="stable")]
    fold_of_group = np.empty(len(names), dtype=int)
    k = max(1, min(n_folds, len(names)))
    offset = int(rng.integers(k))
    for position, g in enumerate(order):
        fold_of_group[g] = (position + offset) % k
    return fold_of_group[member]


def usable_folds(folds: np.ndarray, labels: Sequence[float]) -> list[int]:
    """Folds whose held-out part is not empty and whose training part holds both classes."""
    y = np.asarray(labels) > 0.5
    out = []
    for f in np.unique(folds):
        train = folds != f
        if (folds == f).any() and y[train].any() and (~y[train]).any():
            out.append(int(f))
    return out


def cross_validate(labels: Sequence[float], groups: Sequence[str], fit_predict: Callable[[np.ndarray, np.ndarray], dict],
                   *, repeats: int, n_folds: int = N_FOLDS, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> list[dict[str, np.ndarray]]:
    """Out-of-fold predictions, `repeats` times with different folds.

    fit_predict(train_index, test_index) -> {method: scores of the test items}. Returns, per
    repeat, {method: float array [n] of out-of-fold scores (NaN where a fold was unusable)}.
    """
    y = np.asarray(labels, dtype=np.float64)
    plans = []
    for r in range(repeats):
        folds = assign_folds(groups, y, n_folds, seed + r)
        plans.append((folds, usable_folds(folds, y)))
    total = sum(len(u) for _, u in plans)
    done = 0
    results = []
    for folds, usable in plans:
        out: dict[str, np.ndarray] = {}
        for f in usable:
            test = np.flatnonzero(folds == f)
            predicted = fit_predict(np.flatnonzero(folds != f), test)
            for method, scores in predicted.items():
                out.setdefault(method, np.full(len(y), np.nan))[test] = scores
            done += 1
            if progress:
                progress(done, total)
        results.append(out)
    return results


@dataclass(frozen=True)
class Estimate:
    """A metric's value with its 95% interval."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


def _resamples(labels: np.ndarray, groups: Sequence[str], samples: int, seed: int) -> Iterator[np.ndarray]:
    """Up to `samples` index arrays, each the items of len(groups) groups drawn with replacement;
    draws without both classes are skipped (at most 20 * samples draws in all)."""
    names = sorted(set(groups))
    as_array = np.asarray(groups, dtype=object)
    members = [np.flatnonzero(as_array == g) for g in names]
    rng = np.random.default_rng(seed)
    kept = 0
    for _ in range(samples * 20):
        pick = np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))])
        if 0 < labels[pick].sum() < len(pick):
            kept += 1
            yield pick
            if kept == samples:
                return


def _interval(value: float, values: list[float]) -> Estimate:
    if not values:
        return Estimate(value, float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


def _auc_variance(theta: float, n_pos: int, n_neg: int) -> float:
    """Hanley and McNeil's variance of an ROC-AUC estimate at true value theta, with Newcombe's
    (2006) modification: both sample sizes replaced by N* = (n_pos + n_neg) / 2 - 1, which keeps
    it sensible when one class holds only a few tracks."""
    star = (n_pos + n_neg) / 2.0 - 1.0
    return theta * (1.0 - theta) * (1.0 + (star - 1.0) * ((1.0 - theta) / (2.0 - theta) + theta / (1.0 + theta))) / (n_pos * n_neg)


def auc_interval(scores: Sequence[float], labels: Sequence[float], *, z: float = 1.959964) -> Estimate:
    """ROC-AUC with a 95% interval that holds up with a handful of likes: Newcombe's score-type
    interval with the N* variance ("method 5" of Newcombe, Stat Med 2006;25:559-573), the set of
    true values theta for which (estimate - theta)^2 <= z^2 * var(theta). Unlike a bootstrap over
    tracks it does not collapse when 2 likes both rank first (estimate 1.0, interval 1.0-1.0):
    the variance is taken at each candidate value, not at the estimate. NaN without both classes."""
    y = np.asarray(labels) > 0.5
    return auc_score_interval(auc(scores, labels), int(y.sum()), int((~y).sum()), z=z)


def auc_score_interval(value: float, n_pos: int, n_neg: int, *, z: float = 1.959964) -> Estimate:
    """auc_interval from the ROC-AUC `value` of n_pos liked and n_neg other tracks alone."""
    if n_pos == 0 or n_neg == 0:
        return Estimate(value, float("nan"), float("nan"))

    def outside(theta: float) -> bool:
        return (value - theta) ** 2 > z * z * _auc_variance(theta, n_pos, n_neg)

    def boundary(inner: float, outer: float) -> float:
        if not outside(outer):
            return outer
        for _ in range(60):  # bisection: inner is inside the interval, outer outside
            middle = 0.5 * (inner + outer)
            inner, outer = (inner, middle) if outside(middle) else (middle, outer)
        return 0.5 * (inner + outer)

    return Estimate(value, boundary(value, 0.0), boundary(value, 1.0))


def bootstrap(metric: Callable[[np.ndarray, np.ndarray], float], scores: np.ndarray, labels: np.ndarray,
              groups: Sequence[str], *, samples: int = BOOTSTRAP, seed: int = 0) -> Estimate:
    """metric(scores, labels) on all items, and its 95% percentile interval from resampling the
    groups (tracks or albums) with replacement."""
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    values = [metric(s[pick], y[pick]) for pick in _resamples(y, groups, samples, seed)]
    return _interval(metric(s, y), values)


def paired_bootstrap(metric: Callable[[np.ndarray, np.ndarray], float], first: np.ndarray, second: np.ndarray,
                     labels: np.ndarray, groups: Sequence[str], *, samples: int = BOOTSTRAP,
                     seed: int = 0) -> Estimate:
    """metric(first) - metric(second) on the same items, with a 95% interval from the same resamples."""
    y = np.asarray(labels, dtype=np.float64)
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    values = [metric(a[pick], y[pick]) - metric(b[pick], y[pick]) for pick in _resamples(y, groups, samples, seed)]
    return _interval(metric(a, y) - metric(b, y), values)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, c: float = 1.0, weights: np.ndarray | None = None,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """L2 logistic regression by Newton's method: minimises C * sum_i w_i * log-loss_i + |coef|^2 / 2
    (intercept not penalised). Without `weights`, w balances the classes as scikit-learn's
    class_weight="balanced" does. x [n, d], y [n] in {0, 1} -> (coef [d], intercept)."""
    n, d = x.shape
    y = np.asarray(y, dtype=np.float64)
    if weights is None:
        w = np.ones(n)
        for cls in (0.0, 1.0):
            count = (y == cls).sum()
            if count:
                w[y == cls] = n / (2.0 * count)
    else:
        w = np.asarray(weights, dtype=np.float64)
    xb = np.concatenate([x.astype(np.float64), np.ones((n, 1))], axis=1)
    beta = np.zeros(d + 1)
    penalty = np.ones(d + 1) / c
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (xb @ beta)))
        grad = xb.T @ (w * (p - y)) + penalty * beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def baseline_scores(train_summaries: np.ndarray, train_labels: np.ndarray, test_summaries: np.ndarray) -> np.ndarray:
    """The MFCC-statistics baseline: summaries [n, 60] standardised on the training tracks, L2
    logistic regression (C = 1, balanced classes) -> probabilities of the test tracks [m]."""
    mean = train_summaries.mean(axis=0)
    std = train_summaries.std(axis=0)
    std[std < 1e-12] = 1.0
    coef, intercept = fit_logistic((train_summaries - mean) / std, train_labels)
    z = ((test_summaries - mean) / std) @ coef + intercept
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def plot_evaluation(out: Path, evaluation: dict, *, dpi: int = 100) -> None:
    """A PNG at `out` of an evaluation (service.learning.Evaluation.to_json()): ROC-AUC and
    precision@10 with their 95% intervals for prefrec and the baseline, split by track and by
    album, and the reliability of the calibrated scores (mean score against share liked per bin).
    Raises MissingExtra when matplotlib is not installed."""
    from prefrec.explain import figure_class

    fig = figure_class()(figsize=(10, 4.2), dpi=dpi, layout="constrained")
    left, middle, right = fig.subplots(1, 3, width_ratios=(1, 1, 1.1))
    colours = {"prefrec": "#1f4e9c", "baseline": "#999999"}
    names = [n for n in ("track", "album") if "unavailable" not in evaluation["splits"].get(n, {"unavailable": 1})]
    for axis, metric, label in ((left, "auc", "ROC-AUC"), (middle, "p10", "precision@10")):
        for offset, method in ((-0.12, "prefrec"), (0.12, "baseline")):
            for x, name in enumerate(names):
                e = evaluation["splits"][name][method][metric]
                axis.errorbar([x + offset], [e["value"]], yerr=[[e["value"] - e["low"]], [e["high"] - e["value"]]],
                              fmt="o", color=colours[method], capsize=4, label=method if x == 0 else None)
        axis.set_xticks(range(len(names)), [f"by {n}" for n in names])
        axis.set_xlim(-0.6, max(len(names), 1) - 0.4)
        axis.set_ylim(0, 1.02)
        axis.set_title(label)
        if metric == "auc":
            axis.axhline(0.5, color="#cc3333", linewidth=0.8, linestyle=":")
        axis.legend(loc="lower right", fontsize=8)
    bins = evaluation["splits"].get("track", {}).get("reliability", [])
    right.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle=":")
    if bins:
        right.plot([b["mean_score"] for b in bins], [b["liked"] for b in bins], marker="o", color=colours["prefrec"])
        for b in bins:
            right.annotate(str(b["tracks"]), (b["mean_score"], b["liked"]), fontsize=7, xytext=(3, 3),
                           textcoords="offset points")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_xlabel("score (calibrated, held out)")
    right.set_ylabel("share liked")
    ece = evaluation["splits"].get("track", {}).get("ece")
    right.set_title("calibration" + (f" (ECE {ece:.2f})" if ece is not None else ""))
    fig.suptitle(f"prefrec evaluate: {evaluation['likes']} likes, {evaluation['skips']} skips")
    fig.savefig(out, format="png")
