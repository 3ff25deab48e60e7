import numpy as np
import pytest

from prefrec import features as F
from tests.helpers import tone


def test_mfcc_has_exactly_50_frames_per_second_and_20_coefficients():
    m = F.mfcc(tone(10.0))
    assert m.shape == (20, 500)
    assert m.dtype == np.float32
    assert F.n_frames_for(22050 * 3 + 1) == 151


def test_mfcc_tells_different_sounds_apart_and_is_deterministic():
    low, high = F.mfcc(tone(3.0, 110.0)), F.mfcc(tone(3.0, 3520.0))
    assert np.abs(low.mean(axis=1) - high.mean(axis=1)).max() > 5.0
    np.testing.assert_array_equal(F.mfcc(tone(3.0, 110.0)), low)


def test_mfcc_of_blocks_with_context_equals_whole_track():
    y = np.random.default_rng(0).standard_normal(22050 * 7).astype(np.float32) * 0.1
    whole = F.mfcc(y)
    half, hop = F.N_FFT // 2, F.HOP_SAMPLES
    padded = np.concatenate([np.zeros(half, np.float32), y, np.zeros(F.N_FFT, np.float32)])
    split = 150  # frames
    first = F.mfcc_of_padded(padded[: (split - 1) * hop + F.N_FFT], split)
    rest_frames = whole.shape[1] - split
    second = F.mfcc_of_padded(padded[split * hop : split * hop + (rest_frames - 1) * hop + F.N_FFT], rest_frames)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-3)


@pytest.mark.parametrize("frames, expected", [(0, 1), (120, 1), (400, 1), (449, 1), (450, 2), (1000, 13)])
def test_window_count(frames, expected):
    assert F.n_windows(frames) == expected
    assert len(F.window_bounds_s(frames)) == expected


def test_short_track_has_one_window_ending_at_its_end():
    assert F.window_bounds_s(300) == [(0.0, 6.0)]


def test_skip_without_position_weighs_every_window():
    np.testing.assert_array_equal(F.skip_window_weights(1000, None), np.ones(13, np.float32))


def test_skip_position_weighs_heard_windows_fully_and_unheard_not_at_all():
    # 20 s track: windows start at 0..12 s. Skip at 10 s: window 0 (0-8) heard fully,
    # window 1 (1-9) fully, window 2 (2-10) fully, window 3 (3-11) 7/8 heard, window 10+ never.
    w = F.skip_window_weights(1000, 10.0)
    assert w[:3].tolist() == [1.0, 1.0, 1.0]
    assert w[3] == pytest.approx(7 / 8)
    assert w[9] == pytest.approx(1 / 8)
    assert (w[10:] == 0).all()


def test_skip_at_the_very_start_still_counts_a_little():
    w = F.skip_window_weights(1000, 0.0)
    assert w[0] > 0 and (w[1:] == 0).all()
