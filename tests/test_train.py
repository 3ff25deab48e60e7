import numpy as np
import pytest
import torch

from prefrec.checkpoint import BadCheckpoint, load_checkpoint, save_checkpoint
from prefrec.errors import NotReady, PrefrecError
from prefrec.features import FEATURE_VERSION, mfcc, n_windows
from prefrec.model import ModelConfig
from prefrec.scoring import track_score, window_probabilities
from prefrec.synth import render
from prefrec.train import TrainConfig, fit, make_example

TINY = ModelConfig(channels=(8, 8), lstm_hidden=8)
FAST = TrainConfig(max_epochs=8, windows_per_track=8)


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


def test_trained_model_separates_the_styles_on_held_out_tracks(examples):
    model, report = fit(examples, [], model_config=TINY, config=TrainConfig(max_epochs=25))
    assert report.n_likes == 3 and report.n_skips == 3
    liked = [track_score(window_probabilities(model, _features("plucks", 100 + i))) for i in range(3)]
    other = [track_score(window_probabilities(model, _features("wind", 200 + i))) for i in range(3)]
    assert min(liked) > max(other), (liked, other)


def test_checkpoint_round_trip_gives_identical_scores(examples, tmp_path):
    model, _ = fit(examples, [], model_config=TINY, config=FAST)
    sha256 = save_checkpoint(model, tmp_path / "m.pt", train_config=FAST)
    loaded = load_checkpoint(tmp_path / "m.pt", sha256=sha256)
    assert loaded.model.config == TINY and loaded.train_config["max_epochs"] == FAST.max_epochs
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
