"""Evaluation mechanics: folds never share a track or an album, metrics, intervals, the baseline."""

import numpy as np
import pytest

from prefrec.evaluation import (
    assign_folds,
    auc,
    auc_interval,
    baseline_scores,
    bootstrap,
    cross_validate,
    fit_logistic,
    paired_bootstrap,
    precision_at,
    usable_folds,
)
from prefrec.stats import delta, track_stats, wide_inputs, window_stats


def test_auc_counts_pairs_and_ties():
    assert auc([0.9, 0.8, 0.1], [1, 0, 0]) == 1.0
    assert auc([0.1, 0.8, 0.9], [1, 0, 0]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5
    assert auc([3, 1, 2, 2], [1, 0, 1, 0]) == pytest.approx(0.875)  # 3 wins and one tie of 4 pairs
    assert np.isnan(auc([1, 2], [1, 1]))
    assert precision_at([5, 4, 3, 2, 1], [1, 0, 1, 1, 1], n=2) == 0.5
    assert precision_at([1, 2], [1, 0], n=10) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_folds_never_split_a_group_and_mix_the_classes(seed):
    rng = np.random.default_rng(seed)
    groups = [f"album{int(g)}" for g in rng.integers(0, 12, size=60)]
    labels = np.array([1.0 if g in ("album1", "album2", "album3") else 0.0 for g in groups])
    folds = assign_folds(groups, labels, 5, seed)
    for g in set(groups):
        assert len({folds[i] for i in range(60) if groups[i] == g}) == 1
    assert set(folds) == set(range(5))
    # by track: every track its own group, so each fold holds about a fifth of each class
    by_track = assign_folds([str(i) for i in range(60)], labels, 5, seed)
    for f in range(5):
        assert abs((by_track == f).sum() - 12) <= 1
        assert abs(labels[by_track == f].sum() - labels.sum() / 5) <= 1


def test_cross_validation_predicts_each_item_out_of_its_fold_only():
    labels = np.array([1, 0] * 10, dtype=float)
    groups = [f"a{i // 4}" for i in range(20)]
    seen = []

    def fit_predict(train, test):
        assert not set(train) & set(test)
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        seen.append(test)
        return {"m": np.asarray(test, dtype=float)}

    out = cross_validate(labels, groups, fit_predict, repeats=2, n_folds=5)
    assert len(out) == 2
    for rep in out:
        assert np.array_equal(rep["m"], np.arange(20, dtype=float))  # each item scored once, by index
    assert sorted(np.concatenate(seen[:5]).tolist()) == list(range(20))


def test_a_fold_whose_training_part_lacks_a_class_is_not_used():
    folds = np.array([0, 0, 1, 1, 2, 2])
    labels = [1, 1, 0, 0, 0, 0]  # holding out fold 0 leaves no like to learn from
    assert usable_folds(folds, labels) == [1, 2]


def test_bootstrap_interval_contains_the_value_and_narrows_with_more_tracks():
    rng = np.random.default_rng(0)

    def sample(n):
        y = (rng.random(n) < 0.4).astype(float)
        return y + rng.normal(0, 0.8, size=n), y

    small = bootstrap(auc, *sample(30), [str(i) for i in range(30)])
    large = bootstrap(auc, *sample(600), [str(i) for i in range(600)])
    for e in (small, large):
        assert e.low <= e.value <= e.high
    assert large.high - large.low < (small.high - small.low) / 2
    s, y = sample(100)
    same = paired_bootstrap(auc, s, s, y, [str(i) for i in range(100)])
    assert same.value == same.low == same.high == 0.0


@pytest.mark.parametrize("likes, skips, shift", [(2, 8, 1.19), (3, 12, 1.19), (3, 12, 2.3), (5, 35, 0.0)])
def test_the_auc_interval_holds_its_95_percent_with_a_handful_of_likes(likes, skips, shift):
    """Scores of liked tracks ~ N(shift, 1), of the others ~ N(0, 1): the true ROC-AUC is
    Phi(shift / sqrt 2) (0.80, 0.95, 0.50 here). Over 1,000 draws the interval must hold it in
    95% of them within 0.03 (the binomial standard error of 1,000 draws is 0.007). A percentile
    bootstrap over tracks holds it in only 54-89% of draws with 2-5 likes."""
    from scipy.stats import norm

    rng = np.random.default_rng(likes * 100 + skips)
    truth = norm.cdf(shift / np.sqrt(2))
    y = np.r_[np.ones(likes), np.zeros(skips)]
    held = 0
    for _ in range(1000):
        e = auc_interval(np.r_[rng.normal(shift, 1, likes), rng.normal(0, 1, skips)], y)
        assert e.low <= e.value <= e.high
        held += e.low <= truth <= e.high
    assert 0.92 <= held / 1000 <= 0.98


def test_the_auc_interval_does_not_collapse_on_a_perfect_ranking_and_narrows_with_more_tracks():
    two_first = auc_interval([0.9, 0.8] + [0.1] * 8, [1, 1] + [0] * 8)
    assert two_first.value == 1.0 and two_first.high == 1.0 and 0.5 < two_first.low < 0.9
    many_first = auc_interval([0.9] * 20 + [0.1] * 80, [1] * 20 + [0] * 80)
    assert many_first.low > two_first.low
    chance = auc_interval([0.5] * 10, [1, 1] + [0] * 8)  # all tied: 0.5, and the interval says little
    assert chance.value == 0.5 and chance.low < 0.2 and chance.high > 0.8
    assert np.isnan(auc_interval([0.1, 0.2], [1, 1]).low)


def test_logistic_regression_matches_the_closed_form_optimum():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] - x[:, 1] + rng.normal(size=40) > 0).astype(float)
    coef, intercept = fit_logistic(x, y, c=0.5)
    # stationarity: C * X'(w (p - y)) + coef = 0, and the intercept's component of it = 0
    w = np.where(y == 1, 40 / (2 * y.sum()), 40 / (2 * (40 - y.sum())))
    p = 1 / (1 + np.exp(-(x @ coef + intercept)))
    assert np.allclose(0.5 * x.T @ (w * (p - y)) + coef, 0, atol=1e-6)
    assert abs(np.sum(w * (p - y))) < 1e-6
    # the baseline standardises with the training tracks' statistics, then applies the regression
    train = rng.normal(5, 3, size=(30, 4))
    labels = (train[:, 1] > 5).astype(float)
    test = rng.normal(5, 3, size=(7, 4))
    z = (train - train.mean(0)) / train.std(0)
    coef, intercept = fit_logistic(z, labels)
    expected = 1 / (1 + np.exp(-(((test - train.mean(0)) / train.std(0)) @ coef + intercept)))
    assert np.allclose(baseline_scores(train, labels, test), expected)


def test_statistics_per_window_are_the_statistics_of_the_window():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(20, 1234)).astype(np.float32) * 10 + 3
    stats = window_stats(f)
    d = delta(f)
    assert stats.shape == (17, 60)  # (1234 - 400) // 50 + 1 windows
    for i in (0, 7, 16):
        part = f[:, i * 50 : i * 50 + 400].astype(np.float64)
        expected = np.concatenate([part.mean(1), part.std(1), d[:, i * 50 : i * 50 + 400].std(1)])
        assert np.allclose(stats[i], expected, atol=1e-4)
    whole = f.astype(np.float64)
    assert np.allclose(track_stats(f), np.concatenate([whole.mean(1), whole.std(1), d.std(1)]), atol=1e-4)
    wide = wide_inputs(f)
    assert wide.shape == (17, 120) and np.allclose(wide[:, 60:], track_stats(f)[None])
    short = window_stats(f[:, :100])  # shorter than a window: one window over what there is
    assert short.shape == (1, 60) and np.allclose(short[0], track_stats(f[:, :100]), atol=1e-4)


def test_delta_is_librosas():
    librosa = pytest.importorskip("librosa")
    f = np.random.default_rng(1).normal(size=(20, 300)).astype(np.float32)
    assert np.allclose(delta(f), librosa.feature.delta(f, width=9, mode="nearest"), atol=1e-5)
