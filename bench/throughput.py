"""Throughput of analysis vs decoding alone, on the same files, measured side by side.

    .venv/bin/python bench/throughput.py [--corpus DIR] [--repeats 3] [--workers 1 2] [--profile 12]
    .venv/bin/python bench/throughput.py --mix [--mix-dir DIR] [--repeats 3] [--workers 2]

--compare TREE: also times `scan` with prefrec imported from another checkout (e.g. a worktree of
main) in every repeat, so a change's ratio is measured side by side with the code before it.

--mix: a library mixed as many listeners' are, converted from the corpus with ffmpeg once (kept in
--mix-dir): a sixth mp3 (LAME 192 kbit/s), a sixth m4a (AAC 192 kbit/s), a sixth FLAC and half Ogg
Vorbis as it comes, in a fixed order. It adds a per-format breakdown (decode vs scan on each format's
files alone, same workers) and profiles one file set per format. decode-native is left out there
(libsndfile cannot read m4a).

For each repeat and each worker count N (interleaved, so machine load hits every variant alike):
  decode-native  N processes decode every file with soundfile at its own rate (no mixdown/resample)
  decode         N processes run prefrec's decoder: soundfile, mono, 22050 Hz (prefrec.audio.stream,
                 without the identity hash, which is analysis)
  scan           a full `prefrec scan --no-train -j N` into a fresh data dir (CLI start-up included)
Each variant is a fresh subprocess timed by wall clock and by CPU time (user + system of it and
every process it started, the workers' decoders and multiprocessing's forkserver included: this
process adopts orphans as a subreaper and reaps them), so a busy machine's scheduling does not
decide the ratio: the CPU-time ratio is what a quiet machine's wall clock gives when the workers
are never idle. Prints medians, tracks/s, × real time,
the scan/decode ratios, the 2-worker/1-worker speed-up, the feature cache's size against the
audio's, and (--profile K) where the time of one worker goes, from cProfile over K files.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path.home() / ".cache/prefrec-bench/corpus"
DEFAULT_MIX = Path.home() / ".cache/prefrec-bench/mix"
# How the mix is made from the corpus (file i, in manifest order, goes to MIX_PLAN[i % 6]).
MIX_PLAN = ("mp3", "m4a", "flac", "ogg", "ogg", "ogg")
ENCODE = {"mp3": ["-c:a", "libmp3lame", "-b:a", "192k"], "m4a": ["-c:a", "aac", "-b:a", "192k"],
          "flac": ["-c:a", "flac"]}


def build_mix(files: list[str], dest: Path) -> list[str]:
    """The mixed library made from `files` (converted once with ffmpeg, then reused)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(files):
        fmt = MIX_PLAN[i % len(MIX_PLAN)]
        target = dest / f"{Path(src).stem}.{fmt}"
        if not target.exists():
            if fmt == "ogg":
                shutil.copyfile(src, target)
            else:
                tmp = target.with_name(".tmp-" + target.name)
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-map", "0:a",
                                *ENCODE[fmt], str(tmp)], check=True)
                tmp.rename(target)
        out.append(str(target))
    return out


def audio_seconds(path: str) -> float:
    import mutagen

    return float(mutagen.File(path).info.length)


def corpus_files(corpus: Path) -> list[str]:
    rows = (corpus / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    return [str(corpus / r.split("\t")[0]) for r in rows if r.strip()]


def _decode_one(args: tuple[str, str]) -> float:
    """Decode one file; returns seconds of audio. mode: 'native' or 'prefrec'."""
    path, mode = args
    import numpy as np

    if mode == "native":
        import soundfile as sf

        with sf.SoundFile(path) as f:
            out = np.empty((f.samplerate * 10, f.channels), dtype=np.float32)
            frames = 0
            while (n := f.buffer_read_into(out, dtype="float32")) > 0:
                frames += n
            return frames / f.samplerate
    from prefrec.audio import StreamInfo, stream

    info = StreamInfo(Path(path), hash_identity=False)
    return sum(b.shape[0] for b in stream(Path(path), info)) / 22050


def decode_main(mode: str, workers: int, files: list[str]) -> None:
    """Child process entry: decode `files` with a pool of `workers` processes; print audio seconds."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(workers) as pool:
        total = sum(pool.imap_unordered(_decode_one, [(f, mode) for f in files], chunksize=1))
    print(json.dumps({"audio_s": total}))


def child_env(tree: Path = ROOT) -> dict[str, str]:
    """The children's environment: prefrec imported from `tree` (this checkout unless told)."""
    return {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "NO_COLOR": "1"}


def become_subreaper() -> None:
    """Adopt orphaned descendants (PR_SET_CHILD_SUBREAPER), so that the CPU time of processes that
    outlive a variant's child (multiprocessing's forkserver, which reaps the decode pool's workers)
    is counted when `children_cpu_s` reaps them, instead of going to init."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1)


def children_cpu_s() -> float:
    """User + system CPU seconds of every descendant reaped so far (orphans reaped first)."""
    import resource

    while True:  # only orphans are left: the variant's own child was waited for
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_decode(mode: str, workers: int, list_file: Path) -> tuple[float, float]:
    """(wall s, CPU s of the child and all its descendants) of one decode run."""
    cpu, started = children_cpu_s(), time.perf_counter()
    subprocess.run([sys.executable, __file__, "_decode", mode, str(workers), str(list_file)], check=True,
                   env=child_env(), capture_output=True)
    elapsed = time.perf_counter() - started
    return elapsed, children_cpu_s() - cpu


def run_scan(workers: int, library: Path, home: Path, tree: Path = ROOT) -> tuple[float, float]:
    """(wall s, CPU s of the CLI, its workers and their decoders) of one `scan --no-train`, with
    prefrec from `tree`."""
    shutil.rmtree(home, ignore_errors=True)
    cpu, started = children_cpu_s(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(home), "scan", "--no-train", "--json",
                           "-j", str(workers), str(library)], env=child_env(tree), capture_output=True, text=True,
                          cwd=tree)  # `-m` puts the working directory first on sys.path, before PYTHONPATH
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or json.loads(proc.stdout)["failed"]:
        raise SystemExit(f"scan failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, children_cpu_s() - cpu


def profile(files: list[str], home: Path) -> None:
    """Where one worker's CPU time goes: cProfile of analyse_file over `files`, grouped by stage.

    The profiler's clock is this process's CPU time (time.process_time), not the wall clock, so
    the shares do not depend on what else the machine is running.
    """
    import resource

    from prefrec.analysis import analyse_file

    analyse_file(files[0], str(home / "warm"))  # imports and first-call set-up outside the profile
    profiler = cProfile.Profile(time.process_time)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    profiler.enable()
    for f in files:
        analyse_file(f, str(home / "features"))
    profiler.disable()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ffmpeg_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)  # decoders run as children
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    stages = {
        "fingerprint (Chromaprint, ctypes)": ("fingerprint.py", "CFuncPtr", "chromaprint"),
        "decode (libsndfile/vorbis)": ("buffer_read_into", "_cdata_io", "soundfile",
                                       "BufferedReader", "_stream_ffmpeg"),  # ffmpeg's pipe, for m4a
        "mono mixdown + NaN check": ("_mix_down",),
        "resample to 22050 (soxr)": ("resample_chunk", "soxr"),
        "FFT (scipy rfft)": ("rfft", "_pocketfft", "pocketfft", "c2r", "r2c"),
        "MFCC: window, power, mel, log, DCT": ("mfcc_of_padded", "mfcc_frames_into", "_log_mel_chunks", "_compute",
                                               "finish", "push", "reserve", "_grow"),
        "identity hash": ("add_to_identity", "sha256", "update"),
        "cache encode + write": ("encode", "compress", "zlib", "save"),
        "tags (mutagen)": ("read_tags", "mutagen"),
    }
    found = {k: 0.0 for k in stages}
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, keys in stages.items():
            if any(k in func or k in filename for k in keys):
                found[stage] += tt
                break
    audio = sum(audio_seconds(f) for f in files)
    print(f"\nprofile of one worker over {len(files)} files, {audio / 60:.0f} min of audio ({total:.1f} s of CPU "
          f"time, self time by stage; {1000 * total / audio:.2f} ms per audio second):")
    if ffmpeg_s:
        print(f"  {'(ffmpeg decoder processes)':30s} {ffmpeg_s:7.2f} s  (not in the total: its own process)")
    for stage, t in sorted(found.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:30s} {t:7.2f} s  {100 * t / total:5.1f}%")
    rest = total - sum(found.values())
    print(f"  {'other':30s} {rest:7.2f} s  {100 * rest / total:5.1f}%")
    decoding = sum(found[k] for k in ("decode (libsndfile/vorbis)", "mono mixdown + NaN check",
                                      "resample to 22050 (soxr)")) + ffmpeg_s
    print(f"  CPU-time prediction of scan / decode: {decoding / (total + ffmpeg_s):.3f} "
          f"(what the decoder does of all a worker and its decoder do)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files (smoke test)")
    parser.add_argument("--profile", type=int, default=12, help="files to profile (0: skip)")
    parser.add_argument("--mix", action="store_true", help="a sixth mp3, m4a and FLAC each, half Ogg (see above)")
    parser.add_argument("--mix-dir", type=Path, default=DEFAULT_MIX, help="where the converted mix is kept")
    parser.add_argument("--compare", type=Path, metavar="TREE",
                        help="also time the scan of another checkout (e.g. a worktree of main) in every repeat")
    args = parser.parse_args()

    become_subreaper()
    files = corpus_files(args.corpus)
    files = files[: args.limit] if args.limit else files
    if args.mix:
        files = build_mix(files, args.mix_dir)
    audio_s = sum(audio_seconds(f) for f in files)
    audio_bytes = sum(os.path.getsize(f) for f in files)
    scratch = Path(tempfile.mkdtemp(prefix="prefrec-throughput-"))
    try:
        library = scratch / "library"
        formats = sorted({Path(f).suffix[1:] for f in files})
        for i, f in enumerate(files):  # copies in one folder per format: the scan reads no links to outside it
            fmt_dir = library / Path(f).suffix[1:]
            fmt_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, fmt_dir / f"{i:03d}-{Path(f).name}")
        copies = sorted(str(p) for p in library.rglob("*.*"))
        lists = {"all": copies, **({fmt: [c for c in copies if c.endswith("." + fmt)] for fmt in formats}
                                   if args.mix else {})}
        list_files = {}
        for name, subset in lists.items():
            list_files[name] = scratch / f"files-{name}.json"
            list_files[name].write_text(json.dumps(subset))
        per_format = ", ".join(f"{fmt} {len(lists[fmt])}" for fmt in formats) if args.mix else ""
        print(f"corpus: {len(files)} files{' (' + per_format + ')' if per_format else ''}, "
              f"{audio_s / 3600:.2f} h of audio, {audio_bytes / 1e6:.0f} MB; load before: {os.getloadavg()[0]:.2f}")
        times: dict[tuple[str, int], list[float]] = {}
        fmt_times: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, object], list[float]] = {}  # CPU s of the same runs: (variant, workers or format)
        loads: list[float] = [os.getloadavg()[0]]
        variants = ("decode", "scan") if args.mix else ("decode-native", "decode", "scan")
        if args.compare:
            variants += ("scan-compare",)
        for rep in range(args.repeats):
            for n in args.workers:
                for variant in variants:
                    if variant.startswith("scan"):
                        t, c = run_scan(n, library, scratch / "home",
                                        args.compare if variant == "scan-compare" else ROOT)
                    else:
                        t, c = run_decode("native" if variant == "decode-native" else "prefrec", n, list_files["all"])
                    times.setdefault((variant, n), []).append(t)
                    cpu.setdefault((variant, n), []).append(c)
                    loads.append(os.getloadavg()[0])
                    print(f"  repeat {rep + 1} {variant:13s} {n} worker(s): {t:6.1f} s, CPU {c:6.1f} s  "
                          f"(load {loads[-1]:.2f})", flush=True)
            if args.mix:  # each format alone, with the most workers
                n = max(args.workers)
                for fmt in formats:
                    for variant in ("decode", "scan"):
                        t, c = (run_scan(n, library / fmt, scratch / "home") if variant == "scan"
                                else run_decode("prefrec", n, list_files[fmt]))
                        fmt_times.setdefault((fmt, variant), []).append(t)
                        cpu.setdefault((variant, fmt), []).append(c)
                    loads.append(os.getloadavg()[0])
                    print(f"  repeat {rep + 1} {fmt:5s} alone, {n} worker(s): decode {fmt_times[(fmt, 'decode')][-1]:.1f} s "
                          f"(CPU {cpu[('decode', fmt)][-1]:.1f} s), scan {fmt_times[(fmt, 'scan')][-1]:.1f} s "
                          f"(CPU {cpu[('scan', fmt)][-1]:.1f} s)  (load {loads[-1]:.2f})", flush=True)
        if not times:
            args.workers = []
        print(f"\n{'variant':14s} {'workers':>7s} {'median s':>9s} {'tracks/s':>9s} {'× real time':>12s} "
              f"{'CPU s':>7s} {'CPU ms per audio s':>19s}")
        med = {k: statistics.median(v) for k, v in times.items()}
        for (variant, n), t in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            c = statistics.median(cpu[(variant, n)])
            print(f"{variant:14s} {n:7d} {t:9.1f} {len(files) / t:9.2f} {audio_s / t:12.0f} {c:7.1f} "
                  f"{1000 * c / audio_s:19.3f}")
        print("\nratios (throughput; per repeat, then median):")
        for n in args.workers:
            for base in ("decode",) if args.mix else ("decode", "decode-native"):
                for scan in ("scan", "scan-compare") if args.compare else ("scan",):
                    per = [d / s for d, s in zip(times[(base, n)], times[(scan, n)])]
                    print(f"  {scan} / {base:13s} with {n} worker(s): {statistics.median(per):.3f}  "
                          f"({', '.join(f'{r:.3f}' for r in per)})")
                    per = [d / s for d, s in zip(cpu[(base, n)], cpu[(scan, n)])]
                    print(f"    in CPU time (what a quiet machine's wall clock would give): {statistics.median(per):.3f}  "
                          f"({', '.join(f'{r:.3f}' for r in per)})")
            if args.compare:
                per = [a / b for a, b in zip(cpu[("scan-compare", n)], cpu[("scan", n)])]
                print(f"  CPU of scan-compare ({args.compare}) / scan: {statistics.median(per):.3f}  "
                      f"({', '.join(f'{r:.3f}' for r in per)})")
        if 1 in args.workers and 2 in args.workers:
            for variant in ("scan", "decode"):
                per = [a / b for a, b in zip(times[(variant, 1)], times[(variant, 2)])]
                print(f"  {variant} 2 workers / 1 worker: {statistics.median(per):.2f}×  "
                      f"({', '.join(f'{r:.2f}' for r in per)})")
        if fmt_times:
            print(f"\nper format, {max(args.workers)} worker(s) (median s; scan / decode per repeat, then median):")
            print(f"  {'format':6s} {'files':>5s} {'audio h':>8s} {'decode s':>9s} {'scan s':>7s} {'scan/decode':>12s} "
                  f"{'decode CPU s':>13s} {'scan CPU s':>11s} {'in CPU time':>12s}")
            for fmt in formats:
                fmt_audio = sum(audio_seconds(f) for f in files if f.endswith("." + fmt))
                per = [d / s for d, s in zip(fmt_times[(fmt, "decode")], fmt_times[(fmt, "scan")])]
                per_cpu = [d / s for d, s in zip(cpu[("decode", fmt)], cpu[("scan", fmt)])]
                print(f"  {fmt:6s} {len(lists[fmt]):5d} {fmt_audio / 3600:8.2f} "
                      f"{statistics.median(fmt_times[(fmt, 'decode')]):9.1f} "
                      f"{statistics.median(fmt_times[(fmt, 'scan')]):7.1f} {statistics.median(per):12.3f} "
                      f"{statistics.median(cpu[('decode', fmt)]):13.1f} {statistics.median(cpu[('scan', fmt)]):11.1f} "
                      f"{statistics.median(per_cpu):12.3f}")
        cache_bytes = sum(p.stat().st_size for p in (scratch / "home" / "features").rglob("*.prf")) or 1
        print(f"\nfeature cache: {cache_bytes / 1e6:.2f} MB for {audio_bytes / 1e6:.0f} MB of audio = "
              f"{100 * cache_bytes / audio_bytes:.2f}% ({cache_bytes / audio_s:.0f} bytes per audio second)")
        print(f"load average during the runs: min {min(loads):.2f}, median {statistics.median(loads):.2f}, "
              f"max {max(loads):.2f} (2 cores)")
        if args.profile:  # in a child with the workers' environment (one BLAS thread)
            groups = {fmt: lists[fmt] for fmt in formats} if args.mix else {"all": copies}
            for name, subset in groups.items():
                per = max(1, args.profile // len(groups))
                picked = subset[:: max(1, len(subset) // per)][:per]
                if args.mix:
                    print(f"\n[{name}]", end="")
                subprocess.run([sys.executable, __file__, "_profile", str(scratch / f"profile-{name}"), *picked],
                               env=child_env(), check=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_decode"]:
        decode_main(sys.argv[2], int(sys.argv[3]), json.loads(Path(sys.argv[4]).read_text()))
    elif sys.argv[1:2] == ["_profile"]:
        profile(sys.argv[3:], Path(sys.argv[2]))
    else:
        main()
