"""Peak memory of an analysis worker against track length (block-wise decode and featurise).

    .venv/bin/python bench/memory.py [--minutes 5 30 120]

Writes a 44.1 kHz stereo FLAC of each length (a slowly changing chord with a little noise), analyses
it with one worker process (`prefrec.analysis.analyse_many`) from a fresh child process, and prints
the worker's peak RSS (getrusage of the waited-for children) next to the size of the feature array
and of the whole decoded audio that a whole-file decoder would have held. Then the memory the
feature cache's encoder and decoder allocate for a feature array of each length.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_flac(path: Path, minutes: float) -> None:
    import numpy as np
    import soundfile as sf

    rate, block = 44100, 44100 * 10
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", rate, 2, format="FLAC") as f:
        for start in range(0, int(minutes * 60 * rate), block):
            t = (start + np.arange(block)) / rate
            y = 0.2 * np.sin(2 * np.pi * (220 + 20 * np.sin(t / 30)) * t) + 0.01 * rng.standard_normal(block)
            f.write(np.stack([y, 0.8 * y], axis=1).astype(np.float32))


def child(path: str, cache: str) -> None:
    from prefrec.analysis import analyse_many

    started = time.perf_counter()
    (result,) = list(analyse_many([path], cache_root=Path(cache), workers=1, timeout_s=3600))
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": time.perf_counter() - started,
                      "frames": getattr(result, "n_frames", 0), "reason": getattr(result, "reason", "")}))


def cache_codec_peaks(minutes: float) -> tuple[float, float, float]:
    """(features MB, peak MB allocated while encoding, while decoding incl. the result) for a
    float32 [20, minutes x 3000] feature array, measured with tracemalloc (numpy reports to it)."""
    import tracemalloc

    import numpy as np

    from prefrec.cache import decode, encode

    rng = np.random.default_rng(0)
    frames = int(minutes * 60 * 50)
    features = (np.cumsum(rng.standard_normal((20, frames)), axis=1) * 0.05
                + rng.uniform(-50, 50, (20, 1))).astype(np.float32)
    tracemalloc.start()
    blob = encode(features)
    encode_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    decode(blob)
    decode_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return features.nbytes / 2**20, encode_peak / 2**20, decode_peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 30, 120])
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="prefrec-memory-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        print(f"load before: {os.getloadavg()[0]:.2f}")
        print(f"{'minutes':>7s} {'file MB':>8s} {'worker peak RSS MB':>19s} {'features MB':>12s} "
              f"{'whole decode MB':>16s} {'× real time':>12s}")
        for minutes in args.minutes:
            path = scratch / f"{minutes:g}min.flac"
            write_flac(path, minutes)
            out = subprocess.run([sys.executable, __file__, "_child", str(path), str(scratch / "cache")],
                                 env=env, capture_output=True, text=True, check=True).stdout
            r = json.loads(out)
            if r["reason"]:
                raise SystemExit(r["reason"])
            features_mb = r["frames"] * 20 * 4 / 2**20
            whole_mb = minutes * 60 * 44100 * 2 * 4 / 2**20
            print(f"{minutes:7g} {path.stat().st_size / 2**20:8.0f} {r['peak_mb']:19.0f} {features_mb:12.1f} "
                  f"{whole_mb:16.0f} {minutes * 60 / r['seconds']:12.0f}", flush=True)
            path.unlink()
        print(f"load after: {os.getloadavg()[0]:.2f}")
        print(f"\nfeature cache codec (in this process):\n{'minutes':>7s} {'features MB':>12s} "
              f"{'encode peak MB':>15s} {'decode peak MB (with result)':>29s}")
        for minutes in args.minutes:
            features_mb, encode_mb, decode_mb = cache_codec_peaks(minutes)
            print(f"{minutes:7g} {features_mb:12.1f} {encode_mb:15.1f} {decode_mb:29.1f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main()
