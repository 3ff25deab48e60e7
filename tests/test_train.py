import numpy as np
import pytest
import torch

from prefrec.checkpoint import BadCheckpoint, load_checkpoint, save_checkpoint
from prefrec.errors import NotReady, PrefrecError
from prefrec.features import FEATURE_VERSION, mfcc, n_windows
from prefrec.model import ModelConfig
from prefrec.scoring import track_score, window_probabilities
from prefrec.synth import render
from prefrec.train import (
    TrainConfig,
    fit,
    fit_calibrated,
    library_sample,
    make_example,
    raw_window_logits,
    sample_window_logits,
)

TINY = ModelConfig(channels=(8, 8), lstm_hidden=8)
FAST = TrainConfig(epochs=8, windows_per_track=8)


def _features(style: str, seed: int, seconds: float = 14.0) -> np.ndarray:
    import soxr

    audio = soxr.resample(render(style, seed, seconds), 44100, 22050)
    return mfcc(audio.astype(np.float32))


@pytest.fixture(scope="module")
def examples():
    likes = [make_example(f"p{i}", _features("plucks", i), "like", None) for i in range(3)]
    skips = [make_example(f"w{i}", _features("wind", 10 + i), "skip", 4.0 if i == 0 else None) for i in range(3)]
    return likes + skips


def test_skip_position_becomes_window_weights(examples):
    skipped_at_4s = examples[3]
    assert skipped_at_4s.label == 0.0
    assert skipped_at_4s.weights[0] == pytest.approx(0.5) and skipped_at_4s.weights[1:].sum() == pytest.approx(3 / 8 + 2 / 8 + 1 / 8)
    assert (examples[0].weights == 1).all() and len(examples[0].weights) == n_windows(examples[0].features.shape[1])


def test_training_is_deterministic_for_a_seed(examples):
    a, _ = fit(examples, [], model_config=TINY, config=FAST)
    b, _ = fit(examples, [], model_config=TINY, config=FAST)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)


def test_the_training_loss_falls(examples):
    config = TrainConfig(epochs=20, windows_per_track=8, learning_rate=6e-3)
    _, report = fit(examples, [], model_config=TINY, config=config)
    assert report.n_likes == 3 and report.n_skips == 3 and len(report.losses) == 20
    assert np.mean(report.losses[-3:]) < 0.6 * np.mean(report.losses[:3]), report.losses


def test_trained_models_separate_the_styles_on_held_out_tracks_on_average_over_seeds(examples):
    # A capability claim on a tiny synthetic library: asserted on the mean over 3 training seeds,
    # with a margin, not on one lucky seed.
    gaps = []
    for seed in range(3):
        model, _ = fit(examples, [], model_config=TINY, config=TrainConfig(epochs=15, seed=seed))
        liked = [track_score(window_probabilities(model, _features("plucks", 100 + i))) for i in range(3)]
        other = [track_score(window_probabilities(model, _features("wind", 200 + i))) for i in range(3)]
        gaps.append(np.mean(liked) - np.mean(other))
    assert np.mean(gaps) > 0.2, gaps


def test_the_wide_part_is_the_weighted_logistic_regression_of_the_window_statistics(examples):
    from prefrec.evaluation import fit_logistic
    from prefrec.stats import wide_inputs

    model, _ = fit(examples, [], model_config=TINY, config=FAST)
    rows, targets, weights = [], [], []
    for ex in examples:  # 3 likes, 3 skips: each track weighs 1 in total over the windows it counts
        counted = np.flatnonzero(ex.weights > 0)
        rows.append(wide_inputs(ex.features)[counted])
        targets.append(np.full(len(counted), ex.label))
        weights.append(ex.weights[counted] / ex.weights[counted].sum())
    x = (np.concatenate(rows) - model.wide_mean.numpy()) / model.wide_std.numpy()
    coef, intercept = fit_logistic(x, np.concatenate(targets), c=FAST.wide_c, weights=np.concatenate(weights))
    np.testing.assert_allclose(model.wide_weight.detach().numpy(), coef, rtol=1e-4, atol=1e-5)
    assert model.wide_bias.item() == pytest.approx(intercept, abs=1e-5)


def test_the_blend_standardises_both_parts_over_the_library_sample(examples):
    features = [e.features for e in examples]
    sample = library_sample(features, model_config=TINY, config=FAST)
    model, _ = fit(examples, sample, model_config=TINY, config=FAST)
    with torch.no_grad():
        deep = model.deep_logits(model.encode(torch.from_numpy(sample.windows))).double()
        wide = model.wide_logits(torch.from_numpy(sample.wide)).double()
        blended = model.blended(deep, wide)
    # each part has mean 0 and std 1 over the sample before mixing, so the blend has mean 0
    assert abs(float(blended.mean())) < 1e-5
    share = TINY.deep_share
    assert float(blended.std()) <= share + (1 - share) + 1e-5
    torch.testing.assert_close((deep - model.blend[0]) / model.blend[1],
                               ((deep - deep.mean()) / deep.std()), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(sample_window_logits(model, sample), blended.numpy(), rtol=1e-6, atol=1e-6)
    # every sampled track's windows, in order, each window naming its track
    per_track = np.bincount(sample.window_track)
    assert len(per_track) == len(features) and per_track.min() >= 1 and len(sample.window_track) == len(sample.windows)
    assert np.all(np.diff(sample.window_track) >= 0)


def test_calibration_is_fitted_on_out_of_fold_predictions_and_applied_to_the_scores(examples):
    from prefrec.calibration import fit_calibration

    more = examples + [make_example(f"p{i}", _features("plucks", i), "like", None) for i in range(3, 5)] \
        + [make_example(f"w{i}", _features("wind", 10 + i), "skip", None) for i in range(3, 5)]
    config = TrainConfig(epochs=4, windows_per_track=6, folds=5)
    model, report = fit_calibrated(more, [], model_config=TINY, config=config)
    assert report.oof_n == 10 and report.oof_auc is not None
    assert len(report.oof_logits) == len(report.oof_labels) == 10 and sorted(report.oof_labels) == [0.0] * 5 + [1.0] * 5
    assert report.oof_auc.low <= report.oof_auc.value <= report.oof_auc.high
    assert model.calibration.tolist() == pytest.approx(list(report.calibration))
    # the model's logits are its raw blend, scaled and shifted by the calibration
    f = more[0].features
    raw = raw_window_logits(model, f)
    scale, bias = report.calibration
    with torch.no_grad():
        logits = model.track_outputs(torch.from_numpy(f))[0].double().numpy()
    np.testing.assert_allclose(logits, scale * raw + bias, rtol=1e-5, atol=1e-5)
    # the same folds again give the same calibration (it is a deterministic function of them)
    again, _ = fit_calibrated(more, [], model_config=TINY, config=config)
    assert again.calibration.tolist() == pytest.approx(model.calibration.tolist())
    assert fit_calibration([np.zeros(3)] * 4, [1, 0, 0, 0]).bias < 0  # more skips: a lower prior


def test_fits_in_worker_processes_give_the_same_model_as_one_after_another(examples):
    more = examples + [make_example(f"p{i}", _features("plucks", i), "like", None) for i in range(3, 5)] \
        + [make_example(f"w{i}", _features("wind", 10 + i), "skip", None) for i in range(3, 5)]
    config = TrainConfig(epochs=2, windows_per_track=4, folds=3, parallel_min_tracks=0)
    seen = []
    alone, report = fit_calibrated(more, [], model_config=TINY, config=config)
    shared, shared_report = fit_calibrated(more, [], model_config=TINY, config=config, workers=2,
                                           progress=lambda done, total: seen.append((done, total)))
    for (name, a), b in zip(alone.state_dict().items(), shared.state_dict().values()):
        assert torch.equal(a, b), name
    assert shared_report.calibration == report.calibration and shared_report.oof_auc == report.oof_auc
    assert seen[-1] == (4 * 2, 4 * 2)  # 3 folds and the final fit, 2 epochs each


def test_with_too_few_ratings_there_is_no_held_out_check(examples):
    _, report = fit_calibrated(examples[:2] + examples[3:4], [], model_config=TINY, config=FAST)
    assert report.oof_auc is None and not report.separates


def test_checkpoint_round_trip_gives_identical_scores(examples, tmp_path):
    model, _ = fit(examples, [], model_config=TINY, config=FAST)
    sha256 = save_checkpoint(model, tmp_path / "m.pt", train_config=FAST)
    loaded = load_checkpoint(tmp_path / "m.pt", sha256=sha256)
    assert loaded.model.config == TINY and loaded.train_config["epochs"] == FAST.epochs
    f = examples[0].features
    np.testing.assert_array_equal(window_probabilities(model, f), window_probabilities(loaded.model, f))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # the temporary file was renamed into place


def test_checkpoint_loading_refuses_other_files_with_a_clear_message(examples, tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BadCheckpoint, match="prefrec train"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(BadCheckpoint, match="not a prefrec model"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(BadCheckpoint, match="missing"):
        load_checkpoint(tmp_path / "absent.pt")
    model, _ = fit(examples, [], model_config=TINY, config=FAST)
    sha256 = save_checkpoint(model, tmp_path / "m.pt")
    with pytest.raises(BadCheckpoint, match="hash differs"):  # altered after it was recorded
        load_checkpoint(tmp_path / "m.pt", sha256=sha256[::-1])


def _payload(model, **changes):
    import json

    payload = {"format": "prefrec-checkpoint", "format_version": 1, "feature_version": FEATURE_VERSION,
               "model_config": json.dumps(model.config.to_json()), "train_config": "{}", "extra": "{}",
               "state_dict": model.state_dict()}
    payload.update(changes)
    return payload


@pytest.mark.parametrize("change, message", [
    ({"model_config": '{"channels": [100000000], "kernels": [3], "pools": [5]}'}, "configuration is invalid"),
    ({"model_config": '{"lstm_hidden": 64, "secret": 1}'}, "configuration is invalid"),
    ({"model_config": '{"version": 999}'}, "another version"),
    ({"feature_version": -1}, "another version"),
    ("nan", "not finite"),
    ("extra weight", "do not fit"),
    ("missing weight", "do not fit"),
])
def test_a_foreign_damaged_or_tampered_checkpoint_is_refused_before_use(examples, tmp_path, change, message):
    model, _ = fit(examples, [], model_config=TINY, config=FAST)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if change == "nan":
        state["head.bias"][0] = float("nan")
        payload = _payload(model, state_dict=state)
    elif change == "extra weight":
        payload = _payload(model, state_dict={**state, "smuggled": torch.zeros(3)})
    elif change == "missing weight":
        payload = _payload(model, state_dict={k: v for k, v in state.items() if k != "head.weight"})
    else:
        payload = _payload(model, **change)
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(BadCheckpoint, match=message):
        load_checkpoint(tmp_path / "m.pt")


def test_a_model_with_weights_that_are_not_finite_is_never_saved(examples, tmp_path):
    model, _ = fit(examples, [], model_config=TINY, config=FAST)
    with torch.no_grad():
        model.head.bias.fill_(float("inf"))
    with pytest.raises(PrefrecError, match="not finite"):
        save_checkpoint(model, tmp_path / "m.pt")
    assert not list(tmp_path.iterdir())


def test_training_needs_a_like_and_a_skip(examples):
    with pytest.raises(NotReady, match="at least one liked and one skipped"):
        fit(examples[:3], [], model_config=TINY, config=FAST)


def test_implicit_labels_count_with_their_weight_and_are_never_scored_out_of_fold(examples):
    from prefrec.evaluation import fit_logistic
    from prefrec.labels import Label
    from prefrec.stats import wide_inputs
    from prefrec.train import example_from_label

    listens = [example_from_label(Label(f"l{i}", 1.0, 0.3, False, "mpd"), _features("plucks", 40 + i))
               for i in range(2)]
    player_skip = example_from_label(Label("s0", 0.0, 0.5, False, "mpd", skip_at_s=6.0), _features("wind", 60))
    mixed = examples + listens + [player_skip]
    model, report = fit_calibrated(mixed, [], model_config=TINY, config=FAST)
    assert report.oof_n == 6  # only the six explicit ratings are predicted out of fold
    # the wide part weighs each track by its label's weight, and the classes by their total weight
    totals = {1.0: 3 + 0.6, 0.0: 3 + 0.5}
    rows, targets, weights = [], [], []
    for ex in mixed:
        counted = np.flatnonzero(ex.weights > 0)
        share = ex.weights[counted] / ex.weights[counted].sum()
        rows.append(wide_inputs(ex.features)[counted])
        targets.append(np.full(len(counted), ex.label))
        weights.append(share * ex.weight * (sum(totals.values()) / 2) / totals[ex.label])
    x = (np.concatenate(rows) - model.wide_mean.numpy()) / model.wide_std.numpy()
    coef, _ = fit_logistic(x, np.concatenate(targets), c=FAST.wide_c, weights=np.concatenate(weights))
    np.testing.assert_allclose(model.wide_weight.detach().numpy(), coef, rtol=1e-4, atol=1e-5)
    # a player skip at 6 s counts the windows heard before it only (6 of the first 8 s)
    assert player_skip.weights[0] == pytest.approx(0.75) and player_skip.weights[-1] == 0.0
