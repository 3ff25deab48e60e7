"""The feature cache's on-disk format (FORMAT 2) must not drift: files written by an earlier build
(tests/data/cache-format2-*.prf, written by the whole-array encoder this format was defined with)
are read back to the same values, and the same arrays encode to the same bytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"


def golden_inputs() -> dict[str, np.ndarray]:
    """Arrays [20, frames] built with exact arithmetic only (small integer walks / 8 and / 7), so they
    are the same on every machine: smooth rows, a constant row, a row with big jumps (which needs
    32-bit planes), no frames and one frame."""
    frames = 2500
    t = np.arange(frames, dtype=np.int64)
    rows = []
    for r in range(20):
        steps = ((t + 2503 * r) * 1103515245 + 12345) % 2147483647 % 9 - 4  # -4..4, a different walk per row
        rows.append(np.cumsum(steps) / 8.0 + r)
    smooth = np.asarray(rows, dtype=np.float32)
    smooth[3] = 1.5  # a constant row: the minimum quantisation step
    jumpy = smooth.copy()
    jumpy[7] = 1000.0 + smooth[7] / 1024  # far from 0 with a tiny spread: a first code beyond 16 bits
    jumpy[9, ::97] += 40000.0 / 7  # sudden jumps
    return {"smooth": smooth, "jumpy": jumpy, "empty": np.zeros((20, 0), np.float32),
            "one": smooth[:, :1].copy()}


@pytest.mark.parametrize("name", ["smooth", "jumpy", "empty", "one"])
def test_cache_files_of_format_2_read_back_and_encode_the_same(name):
    from prefrec.cache import decode, encode, inflate

    x = golden_inputs()[name]
    blob = (DATA / f"cache-format2-{name}.prf").read_bytes()
    # the same header and byte planes; the compressed stream may differ (ISA-L's or zlib's deflate)
    written = encode(x)
    head = 8 + struct.unpack("<I", blob[4:8])[0]
    assert written[:head] == blob[:head] and inflate(written[head:]) == inflate(blob[head:])
    back = decode(blob)
    assert back.dtype == np.float32 and back.shape == x.shape
    assert json.loads(blob[8:8 + struct.unpack("<I", blob[4:8])[0]])["width"] == (4 if name == "jumpy" else 2)
    # Each value comes back as its row's quantisation step times the nearest whole number of steps.
    (length,) = struct.unpack("<I", blob[4:8])
    step = np.asarray(json.loads(blob[8:8 + length])["step"], dtype=np.float64)[:, None]
    np.testing.assert_array_equal(back, (np.rint(x / step.astype(np.float32)) * step).astype(np.float32))
    assert np.all(np.abs(back - x) <= step / 2 + 1e-6 * np.abs(x))


def test_inflate_gives_zlibs_bytes_and_a_value_error_for_damage():
    import zlib

    from prefrec.cache import deflate, inflate

    data = np.random.default_rng(3).integers(0, 4, 50_000, dtype=np.uint8).tobytes()
    packed = zlib.compress(data, 1)
    assert inflate(packed) == data
    # what prefrec writes (ISA-L's stream where it is installed) is zlib's format: files move between machines
    assert zlib.decompress(deflate(data)) == data and inflate(deflate(data)) == data
    with pytest.raises(ValueError, match="damaged"):
        inflate(packed[:-10] + b"\xff" * 10)
    with pytest.raises(ValueError, match="damaged"):
        inflate(b"not zlib at all")
