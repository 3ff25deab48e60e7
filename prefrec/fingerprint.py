"""Acoustic fingerprints (Chromaprint) to tell when two files hold the same recording.

A file's identity is a hash of its decoded samples, so an ogg converted to mp3, a copy cut short
or a re-encode at another bitrate is different music to it. Chromaprint (the fingerprint behind
AcoustID) is built to survive exactly these: it describes how the chroma (the energy of the 12
pitch classes) changes over time, as one 32-bit item about every 0.12 s.

The analysis worker feeds the audio it already decoded (mono 22050 Hz, resampled with soxr to the
11025 Hz Chromaprint works at) to libchromaprint through ctypes, from the first sound (leading
silence skipped, so encoder delay and padding do not shift it) for FINGERPRINT_S seconds: a few
milliseconds of CPU per track, against about 70 ms for running `fpcalc`, which decodes the file a
second time (bench/RESULTS.md). Two files are the same recording when, at the
best alignment within MAX_SHIFT items, at most MATCH_BIT_ERRORS of their fingerprints' bits differ
over at least MIN_OVERLAP items (a copy cut short matches the start of the whole). Measured on 31
tracks of the real-music corpus (bench/RESULTS.md):
re-encodes to mp3 128k and opus 48k differ in at most 1.5% and 5.6% of bits, copies cut in half
in 0%, and any two different tracks (465 pairs) in at least 39%.

Because music with little pitch content (synthetic drums) can fool a chroma fingerprint, a match
is confirmed on the MFCC features analysis already keeps (feature_distance). To find candidates
among many tracks without comparing every pair, each fingerprint gives
N_KEYS keys (a min-hash of its distinct items): copies share several of them, unrelated tracks
almost never (none of the 465 pairs shared one). Pure Python besides ctypes: no numpy.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

FINGERPRINT_S = 30.0  # seconds of audio fingerprinted, from the first sound
SILENCE = 1e-3  # samples below this (absolute, full scale 1.0) before the first sound are skipped
MATCH_BIT_ERRORS = 0.15  # at most this fraction of differing bits: the same recording
MAX_SHIFT = 16  # items (about 2 s) of misalignment tried either way
MIN_OVERLAP = 40  # items (about 5 s) two fingerprints must share to be compared
MIN_ITEMS = 16  # a fingerprint shorter than this (about 2 s) matches nothing
N_KEYS = 16  # min-hash keys per fingerprint
COMMON_KEY = 50  # a key held by more identities than this (silence, a test tone) finds nothing
_ALGORITHM = 1  # CHROMAPRINT_ALGORITHM_TEST2, the default of fpcalc and AcoustID
CHROMAPRINT_RATE = 11025  # what Chromaprint works at: resampled here with soxr (3x cheaper than its own)


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    """libchromaprint through ctypes, or None when it is not installed."""
    name = ctypes.util.find_library("chromaprint") or "libchromaprint.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.chromaprint_new.restype = ctypes.c_void_p
    lib.chromaprint_new.argtypes = [ctypes.c_int]
    lib.chromaprint_start.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.chromaprint_feed.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.chromaprint_finish.argtypes = [ctypes.c_void_p]
    lib.chromaprint_get_raw_fingerprint.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)), ctypes.POINTER(ctypes.c_int)]
    lib.chromaprint_dealloc.argtypes = [ctypes.c_void_p]
    lib.chromaprint_free.argtypes = [ctypes.c_void_p]
    return lib


def available() -> bool:
    """Whether libchromaprint can be loaded (Debian: libchromaprint1)."""
    return _library() is not None


class Fingerprinter:
    """Feeds decoded audio to Chromaprint as it streams past.

    feed() takes mono float32 blocks [n] at `rate` Hz in [-1, 1]; finish() returns the raw
    fingerprint as little-endian uint32 bytes (about 8 items per second), or None when
    libchromaprint is missing or the audio held no sound.
    """

    def __init__(self, rate: int = 22050, *, seconds: float = FINGERPRINT_S) -> None:
        self.rate = rate
        self.remaining = int(seconds * rate)
        self.started = False
        self._ctx: int | None = None
        self._resampler = None
        lib = _library()
        if lib is not None:
            self._ctx = lib.chromaprint_new(_ALGORITHM)
            lib.chromaprint_start(self._ctx, CHROMAPRINT_RATE, 1)
            if rate != CHROMAPRINT_RATE:
                import soxr

                self._resampler = soxr.ResampleStream(rate, CHROMAPRINT_RATE, 1, dtype="float32", quality="HQ")

    def feed(self, block: np.ndarray) -> None:
        import numpy as np

        if self._ctx is None or self.remaining <= 0 or block.size == 0:
            return
        if not self.started:
            loud = np.flatnonzero(np.abs(block) > SILENCE)
            if loud.size == 0:
                return
            block = block[int(loud[0]):]
            self.started = True
        block = block[: self.remaining]
        self.remaining -= int(block.shape[0])
        self._feed(block, last=self.remaining <= 0)

    def _feed(self, block: np.ndarray, *, last: bool) -> None:
        """Hand mono float32 audio at self.rate to Chromaprint, at CHROMAPRINT_RATE."""
        import numpy as np

        if self._resampler is not None:
            block = self._resampler.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)
        if block.size:
            pcm = np.ascontiguousarray(np.clip(block * 32767.0, -32768, 32767).astype("<i2"))
            _library().chromaprint_feed(self._ctx, pcm.ctypes.data, int(pcm.shape[0]))

    def finish(self) -> bytes | None:
        import numpy as np

        lib = _library()
        if self._ctx is None or lib is None or not self.started:
            self.close()
            return None
        try:
            if self.remaining > 0:  # the track ended before FINGERPRINT_S: flush the resampler
                self._feed(np.zeros(0, dtype=np.float32), last=True)
            lib.chromaprint_finish(self._ctx)
            items = ctypes.POINTER(ctypes.c_uint32)()
            size = ctypes.c_int()
            if not lib.chromaprint_get_raw_fingerprint(self._ctx, ctypes.byref(items), ctypes.byref(size)):
                return None
            try:
                values = array.array("I", items[: size.value])
            finally:
                lib.chromaprint_dealloc(items)
        finally:
            self.close()
        if sys.byteorder == "big":
            values.byteswap()
        return values.tobytes() if len(values) else None

    def close(self) -> None:
        """Free the Chromaprint context (finish() does; call it when giving up early)."""
        lib = _library()
        if self._ctx is not None and lib is not None:
            lib.chromaprint_free(self._ctx)
        self._ctx = None


def items(blob: bytes) -> list[int]:
    """A fingerprint's items [n] (unsigned 32-bit) from its little-endian bytes."""
    values = array.array("I", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def keys(values: list[int], *, count: int = N_KEYS) -> list[int]:
    """The `count` smallest hashes of the fingerprint's distinct items (a run of one repeated item,
    as silence gives, counts once): files of the same recording share several."""
    distinct = {v for i, v in enumerate(values) if i == 0 or v != values[i - 1]}
    hashed = sorted({((v * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 33 for v in distinct})
    return hashed[:count]


def bit_error_rate(a: list[int], b: list[int], *, max_shift: int = MAX_SHIFT,
                   min_overlap: int = MIN_OVERLAP) -> float:
    """The smallest fraction of differing bits between fingerprints `a` and `b` over the shifts
    -max_shift..max_shift (items), counting only shifts where they overlap by >= min_overlap
    items (or by all of the shorter one, if that is less); 1.0 when none does."""
    best = 1.0
    need = min(min_overlap, len(a), len(b))
    if need < MIN_ITEMS:
        return best
    for shift in range(-max_shift, max_shift + 1):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(len(x), len(y))
        if n < need:
            continue
        errors = sum((p ^ q).bit_count() for p, q in zip(x[:n], y[:n]))
        best = min(best, errors / (32 * n))
    return best


FEATURE_MATCH = 1.0  # at most this (feature_distance) for the same recording
FEATURE_FRAMES = 1500  # the first 30 s of MFCC frames are compared…
FEATURE_MIN_FRAMES = 250  # …when both have at least 5 s; shorter ones rely on the fingerprint alone
FEATURE_MAX_LAG = 25  # frames (0.5 s) of misalignment tried either way


def feature_distance(a: np.ndarray, b: np.ndarray, *, max_lag: int = FEATURE_MAX_LAG) -> float | None:
    """How far apart two tracks' MFCCs [n_mfcc, T] are at their best alignment (lags within
    ±max_lag frames) over their first FEATURE_FRAMES frames: the mean absolute difference divided
    by `a`'s mean absolute deviation from its own mean. Measured on the corpus: re-encodes to mp3
    128k at most 0.48, to opus 48k at most 0.82; different tracks at least 1.16. None when they
    overlap by less than FEATURE_MIN_FRAMES."""
    import numpy as np

    best: float | None = None
    for lag in range(-max_lag, max_lag + 1):
        x, y = a[:, max(0, lag):], b[:, max(0, -lag):]
        n = min(x.shape[1], y.shape[1], FEATURE_FRAMES)
        if n < FEATURE_MIN_FRAMES:
            continue
        x, y = x[:, :n].astype(np.float32), y[:, :n].astype(np.float32)
        spread = float(np.mean(np.abs(x - x.mean(axis=1, keepdims=True)))) + 1e-6
        distance = float(np.mean(np.abs(x - y))) / spread
        best = distance if best is None else min(best, distance)
    return best


def same_recording(a: list[int], b: list[int]) -> bool:
    """Whether two fingerprints say the same recording (a re-encode, or a copy cut short: the
    shorter one matches the start of the longer). Music with little pitch content can fool the
    chroma fingerprint (different synthetic drum loops of one kit differ in only 5-7% of bits, as
    a re-encode does), so the caller confirms a match with feature_distance."""
    return bit_error_rate(a, b) <= MATCH_BIT_ERRORS
