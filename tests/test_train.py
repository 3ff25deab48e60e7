import numpy as np
import pytest
import torch

from prefrec.errors import NotReady, PrefrecError
from prefrec.features import mfcc, n_windows
from prefrec.model import ModelConfig
from prefrec.scoring import track_score, window_probabilities
from prefrec.synth import render
from prefrec.train import TrainConfig, fit, load_checkpoint, make_example, save_checkpoint

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
    path = save_checkpoint(model, tmp_path / "m.pt", train_config=FAST)
    loaded = load_checkpoint(path)
    assert loaded.config == TINY
    f = examples[0].features
    np.testing.assert_array_equal(window_probabilities(model, f), window_probabilities(loaded, f))
    assert not list(tmp_path.glob(".tmp-*"))  # the temporary file was renamed into place


def test_checkpoint_loading_refuses_other_files_with_a_clear_message(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PrefrecError, match="prefrec train"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(PrefrecError, match="not a prefrec model"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(NotReady, match="missing"):
        load_checkpoint(tmp_path / "absent.pt")


def test_training_needs_a_like_and_a_skip(examples):
    with pytest.raises(NotReady, match="at least one liked and one skipped"):
        fit(examples[:3], [], model_config=TINY, config=FAST)
