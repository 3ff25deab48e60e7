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


def test_real_fft_is_scipys_rfft_to_the_bit():
    """The FFT the MFCCs use (scipy's pocketfft module loaded alone) and its fallback through the
    scipy.fft package give exactly scipy.fft.rfft's numbers."""
    import scipy.fft

    x = np.random.default_rng(0).standard_normal((37, F.N_FFT)).astype(np.float32)
    expected = scipy.fft.rfft(x, axis=1, workers=1)
    assert F._pocketfft_module() is not None  # the fast path is really taken with this scipy
    for rfft in (F.real_fft(), F.scipy_rfft):
        out = np.empty((37, F.N_BINS), dtype=np.complex64)
        assert rfft(x, out) is out and np.array_equal(out, expected)


def test_dct_matrix_is_scipys_orthonormal_dct():
    import scipy.fft

    expected = scipy.fft.dct(np.eye(F.N_MELS), type=2, norm="ortho", axis=0)[: F.N_MFCC].astype(np.float32)
    assert np.array_equal(F.dct_matrix(), expected)


def test_features_need_no_scipy_fft_package():
    """An analysis worker computes MFCCs without importing scipy.fft (0.4 s of CPU per worker)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from prefrec.features import mfcc; "
            "m = mfcc(np.random.default_rng(0).standard_normal(30000).astype(np.float32)); "
            "assert m.shape == (20, 69) and np.isfinite(m).all(); "
            "print(sorted(n for n in sys.modules if n.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['scipy.fft._pocketfft.pypocketfft']"


def test_reused_chunk_buffers_give_the_same_mfccs_in_any_order_and_thread():
    """The chunk buffers are reused from call to call (per thread): interleaved calls on different
    audio, and calls from two threads at once, give exactly what a call alone gives."""
    import threading

    rng = np.random.default_rng(3)
    tracks = [rng.standard_normal(n).astype(np.float32) for n in (50000, 3000, 90000)]
    alone = [F.mfcc(y) for y in tracks]
    assert all(np.array_equal(F.mfcc(y), a) for y, a in zip(tracks[::-1], alone[::-1]))
    got: dict[int, list[bool]] = {}

    def worker(k: int) -> None:
        got[k] = [np.array_equal(F.mfcc(tracks[(k + i) % 3]), alone[(k + i) % 3]) for i in range(6)]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {0: [True] * 6, 1: [True] * 6}
