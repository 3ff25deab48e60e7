"""Calibration maths: the fitted scale and bias, the prior, ECE."""

import numpy as np
import pytest

from prefrec.calibration import Calibration, expected_calibration_error, fit_calibration, reliability


def _tracks(rng, n, scale_true, bias_true, windows=(5, 40)):
    """Tracks whose like-probability is the mean of sigmoid(scale_true * logit + bias_true)."""
    logits, labels = [], []
    for _ in range(n):
        centre = rng.normal(0, 2)
        w = centre + rng.normal(0, 0.5, size=int(rng.integers(*windows)))
        p = Calibration(scale_true, bias_true).track_score(w)
        logits.append(w)
        labels.append(float(rng.random() < p))
    return logits, np.array(labels)


def test_fit_recovers_scale_and_bias_from_many_tracks():
    rng = np.random.default_rng(0)
    logits, labels = _tracks(rng, 4000, 0.4, -1.0)
    cal = fit_calibration(logits, labels)
    assert cal.scale == pytest.approx(0.4, abs=0.05)
    assert cal.bias == pytest.approx(-1.0, abs=0.1)


def test_the_gradient_is_the_objectives():
    # The fit uses an analytic gradient: check it reaches the same optimum as a coarse grid search.
    rng = np.random.default_rng(1)
    logits, labels = _tracks(rng, 60, 0.7, 0.5)
    cal = fit_calibration(logits, labels, prior_tracks=0.0)

    def nll(scale, bias):
        s = np.clip([Calibration(scale, bias).track_score(w) for w in logits], 1e-9, 1 - 1e-9)
        return -np.sum(labels * np.log(s) + (1 - labels) * np.log(1 - s))

    best = min((nll(a, b), a, b) for a in np.linspace(0.1, 3, 59) for b in np.linspace(-3, 3, 61))
    assert nll(cal.scale, cal.bias) <= best[0] + 1e-6


def test_with_few_ratings_the_prior_keeps_the_scale_and_sets_the_rated_share_of_likes():
    # 3 likes, 9 skips, separated perfectly: unpenalised, the scale would run off to its bound.
    logits = [np.full(10, 3.0)] * 3 + [np.full(10, -3.0)] * 9
    labels = [1, 1, 1] + [0] * 9
    cal = fit_calibration(logits, labels)
    assert 1.0 <= cal.scale < 4.0
    free = fit_calibration(logits, labels, prior_tracks=0.0)
    assert free.scale > cal.scale
    # An uninformative model (all logits 0): the score becomes the rated share of likes.
    flat = fit_calibration([np.zeros(8)] * 12, labels)
    assert flat.track_score(np.zeros(8)) == pytest.approx(3 / 12, abs=1e-3)


def test_calibrated_probabilities_are_monotone_and_bounded():
    cal = Calibration(0.5, -2.0)
    z = np.linspace(-50, 50, 101)
    p = cal.window_probabilities(z)
    assert np.all(np.diff(p) >= 0) and p.min() >= 0 and p.max() <= 1
    assert cal.track_score(np.array([0.0])) == pytest.approx(1 / (1 + np.exp(2.0)), rel=1e-5)


def test_expected_calibration_error():
    assert expected_calibration_error([0.05, 0.05, 0.95, 0.95], [0, 0, 1, 1]) == pytest.approx(0.05)
    # Two bins: 0.2 with 1 like of 2 (gap 0.3), 0.8 with 2 of 2 (gap 0.2): ECE = 0.5*0.3 + 0.5*0.2.
    assert expected_calibration_error([0.2, 0.2, 0.8, 0.8], [1, 0, 1, 1]) == pytest.approx(0.25)
    rows = reliability([0.2, 0.2, 0.8, 0.8], [1, 0, 1, 1])
    assert [(r["tracks"], r["liked"]) for r in rows] == [(2, 0.5), (2, 1.0)]
    assert expected_calibration_error([1.0], [1]) == 0.0  # a score of exactly 1 falls in the last bin
