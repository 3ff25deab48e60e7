"""Maintained libraries against prefrec's own code where prefrec has its own (issue 10).

    .venv/bin/python bench/libraries.py [--repeats 5]

For each piece it prints what an analysis worker would pay: the mel filter bank (prefrec's
features.mel_filters against librosa.filters.mel: import time, memory, equality) and the MFCCs of
60 s of audio (features.mfcc against librosa.feature.mfcc). Each measurement runs in a fresh
interpreter, as a worker starts, after the libraries a worker loads anyway (numpy, scipy.fft,
soundfile, soxr, mutagen).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
import mutagen, numpy as np, scipy.fft, soundfile, soxr

def memory():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) // 1024 for l in f if l.startswith(("VmSize", "VmRSS"))}

which = sys.argv[1]
base = memory()
started = time.perf_counter()
if which == "own-filters":
    from prefrec.features import mel_filters
    filters = mel_filters()
elif which == "librosa-filters":
    import librosa.filters
    filters = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=64)
elif which == "own-mfcc" or which == "librosa-mfcc":
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(60 * 22050)).astype(np.float32)
    if which == "own-mfcc":
        from prefrec.features import mfcc
        mfcc(audio[:22050])  # first call builds the matrices
        t = time.perf_counter(); out = mfcc(audio); seconds = time.perf_counter() - t
    else:
        import librosa
        kw = dict(sr=22050, n_mfcc=20, n_fft=2048, hop_length=441, n_mels=64, htk=False)
        librosa.feature.mfcc(y=audio[:22050], **kw)
        t = time.perf_counter(); out = librosa.feature.mfcc(y=audio, **kw); seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds}))
    raise SystemExit
elapsed = time.perf_counter() - started
after = memory()
np.save(sys.argv[2], filters)
print(json.dumps({"seconds": elapsed, "rss_mb": after["VmRSS"] - base["VmRSS"],
                  "vm_mb": after["VmSize"] - base["VmSize"]}))
"""


def run(which: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, which, str(out)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    import tempfile

    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, list[dict]] = {}
        for _ in range(args.repeats):
            for which in ("own-filters", "librosa-filters", "own-mfcc", "librosa-mfcc"):
                results.setdefault(which, []).append(run(which, Path(tmp) / f"{which}.npy"))
        own, lib = np.load(Path(tmp) / "own-filters.npy"), np.load(Path(tmp) / "librosa-filters.npy")
    print("| piece | prefrec's own | librosa | note |")
    print("|---|---:|---:|---|")
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    rss = {k: statistics.median(r.get("rss_mb", 0) for r in v) for k, v in results.items()}
    vm = {k: statistics.median(r.get("vm_mb", 0) for r in v) for k, v in results.items()}
    print(f"| mel filters, per worker start | {med['own-filters'] * 1000:.1f} ms, +{rss['own-filters']:.0f} MB RSS "
          f"| {med['librosa-filters'] * 1000:.0f} ms, +{rss['librosa-filters']:.0f} MB RSS, "
          f"+{vm['librosa-filters']:.0f} MB address space | max difference {abs(own - lib).max():.1e}, "
          f"{'bit-identical' if (own == lib).all() else 'not bit-identical'} |")
    print(f"| MFCCs of 60 s | {med['own-mfcc'] * 1000:.0f} ms | {med['librosa-mfcc'] * 1000:.0f} ms | "
          f"median of {args.repeats} |")


if __name__ == "__main__":
    main()
