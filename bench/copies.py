"""Finding copies of the same recording: cost and robustness of Chromaprint against comparing the
MFCC features analysis already keeps (issue 13; prefrec/fingerprint.py).

    .venv/bin/python bench/copies.py [--corpus DIR] [--every 6] [--work DIR]

Takes every `every`-th track of the real-music corpus (../shared/bench/corpus.sh builds it), makes
three copies of each with ffmpeg (mp3 at 128 kbit/s, opus at 48 kbit/s, and the ogg cut after 45% of
its bytes, as a broken download is), and prints:
- CPU per track: decoding the whole file, Chromaprint of its first 30 s fed from the decoded audio
  (what analysis does), and `fpcalc -length 30` (Debian libchromaprint-tools), which decodes again;
- for each kind of copy, the worst bit error rate of the fingerprints and the worst feature
  distance against the original, and how many copies share a min-hash key with it;
- the closest pair of different tracks by either measure, and whether any shares a key.
Opus is decoded through ffmpeg here (libsndfile fails on some ffmpeg-made opus files).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prefrec import fingerprint  # noqa: E402
from prefrec.audio import StreamInfo, _stream_ffmpeg, stream  # noqa: E402
from prefrec.features import SAMPLE_RATE, mfcc  # noqa: E402

KINDS = ("mp3 128k", "opus 48k", "cut at 45%")


def make_copies(source: Path, work: Path) -> dict[str, Path]:
    name = f"{source.parent.name}_{source.stem}"
    out = {"original": work / f"{name}.ogg"}
    shutil.copy(source, out["original"])
    out["mp3 128k"] = work / f"{name}.mp3"
    out["opus 48k"] = work / f"{name}.opus"
    for kind, args in (("mp3 128k", ["-c:a", "libmp3lame", "-b:a", "128k"]), ("opus 48k", ["-c:a", "libopus",
                                                                                            "-b:a", "48k"])):
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), *args, str(out[kind])],
                       check=True)
    data = source.read_bytes()
    out["cut at 45%"] = work / f"{name}.cut.ogg"
    out["cut at 45%"].write_bytes(data[: len(data) * 45 // 100])
    return out


def analyse(path: Path) -> tuple[list[int], np.ndarray, float, float]:
    """(fingerprint items, MFCCs of the first 40 s, decode CPU s, fingerprint CPU s) of one file."""
    info = StreamInfo(path)
    blocks = _stream_ffmpeg(path, info, 10.0) if path.suffix == ".opus" else stream(path, info)
    fp = fingerprint.Fingerprinter(SAMPLE_RATE)
    decoded, decode_s, fp_s = [], 0.0, 0.0
    started = time.process_time()
    for block in blocks:
        decode_s += time.process_time() - started
        t = time.process_time()
        fp.feed(block)
        fp_s += time.process_time() - t
        decoded.append(block)
        started = time.process_time()
    t = time.process_time()
    items = fingerprint.items(fp.finish() or b"")
    fp_s += time.process_time() - t
    samples = np.concatenate(decoded)
    return items, mfcc(samples[: 40 * SAMPLE_RATE]), decode_s, fp_s


def fpcalc_cpu(path: Path) -> float | None:
    if shutil.which("fpcalc") is None:
        return None
    proc = subprocess.run(["bash", "-c", f'TIMEFORMAT="%U %S"; time fpcalc -raw -length 30 "{path}" > /dev/null'],
                          capture_output=True, text=True)
    user, system = proc.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/cache/corpus"))
    parser.add_argument("--every", type=int, default=6, help="take every N-th track of the corpus")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    sources = sorted(args.corpus.glob("*/*.ogg"))[:: args.every]
    work = args.work or Path(tempfile.mkdtemp(prefix="prefrec-copies-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], tuple[list[int], np.ndarray]] = {}
    decode_s = fp_s = 0.0
    fpcalc: list[float] = []
    for source in sources:
        files = make_copies(source, work)
        for kind, path in files.items():
            items, features, d, f = analyse(path)
            results[source.name + source.parent.name, kind] = (items, features)
            if kind == "original":
                decode_s += d
                fp_s += f
                cpu = fpcalc_cpu(path)
                if cpu is not None:
                    fpcalc.append(cpu)
    names = sorted({name for name, _ in results})
    n = len(names)
    print(f"{n} tracks of {args.corpus}, copies in {work}\n")
    print("| per track (CPU) | ms |\n|---|--:|")
    print(f"| decode the whole file | {1000 * decode_s / n:.0f} |")
    print(f"| Chromaprint of the first 30 s, from the decoded audio (analysis) | {1000 * fp_s / n:.1f} |")
    if fpcalc:
        print(f"| `fpcalc -length 30` (decodes again) | {1000 * float(np.mean(fpcalc)):.0f} |")
    print("\n| copy | worst bit errors | worst feature distance | sharing a key |\n|---|--:|--:|--:|")
    for kind in KINDS:
        errors = [fingerprint.bit_error_rate(results[m, "original"][0], results[m, kind][0]) for m in names]
        dist = [fingerprint.feature_distance(results[m, "original"][1], results[m, kind][1]) for m in names]
        shared = sum(bool(set(fingerprint.keys(results[m, "original"][0])) & set(fingerprint.keys(results[m, kind][0])))
                     for m in names)
        print(f"| {kind} | {max(errors):.3f} | {max(d for d in dist if d is not None):.2f} | {shared}/{n} |")
    pairs = list(itertools.combinations(names, 2))
    errors = [fingerprint.bit_error_rate(results[a, "original"][0], results[b, "original"][0]) for a, b in pairs]
    dist = [fingerprint.feature_distance(results[a, "original"][1], results[b, "original"][1]) for a, b in pairs]
    shared = sum(bool(set(fingerprint.keys(results[a, "original"][0])) & set(fingerprint.keys(results[b, "original"][0])))
                 for a, b in pairs)
    print(f"| different tracks ({len(pairs)} pairs), closest | {min(errors):.3f} | "
          f"{min(d for d in dist if d is not None):.2f} | {shared}/{len(pairs)} |")
    print(f"\nthresholds: bit errors <= {fingerprint.MATCH_BIT_ERRORS}, feature distance <= {fingerprint.FEATURE_MATCH}")


if __name__ == "__main__":
    main()
