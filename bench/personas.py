"""Persona benchmark on real music (DESIGN.md, Benchmarks 1), driving prefrec through its CLI.

1. `prefrec scan CORPUS` once into a base data dir (analysis, then self-supervised pretraining).
2. For each persona (likes one source) and repeat: a copy of the base data dir; for K = 10, 20, 40
   (nested random rating sets, see persona_lib.make_splits) `prefrec like`/`prefrec skip` each newly
   rated track, `prefrec train`, `prefrec recommend --json -n 1000`; ROC-AUC and precision@10 of the
   scores over the unrated tracks.
3. The baseline (mean/std of the MFCCs and std of their deltas, standardised, L2 logistic
   regression) on the same splits, from the same cached features.

Usage (a few minutes per persona on 2 cores; run it with nohup):

    python bench/personas.py [--base DIR] [--repeats 5] [--first-repeat 0] [--personas a,b] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import persona_lib as pl  # noqa: E402


def cli(home: Path, *args: str, stderr: list[str] | None = None, check: bool = True) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("PREFREC_HOME", None)
    proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(home), *args],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0 and check:
        raise SystemExit(f"prefrec {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    if stderr is not None:
        stderr.append(proc.stderr)
    return proc.stdout


def main() -> None:
    from prefrec.cache import FeatureCache

    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, default=Path.home() / ".cache/prefrec-bench/personas-home")
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--first-repeat", type=int, default=0,
                    help="number of the first repeat (settings were chosen on repeats 5-9: report others)")
    ap.add_argument("--personas", default="")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--evaluate-k", type=int, default=0,
                    help="also run `prefrec evaluate --json` after training on this K (first repeat of each persona)")
    args = ap.parse_args()

    started = time.perf_counter()
    t = time.perf_counter()
    scan = json.loads(cli(args.base, "scan", "--json", str(args.corpus)))
    print(f"scan: {scan['found']} found, {scan['analysed']} analysed, pretrained={scan.get('pretrained')} "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    corpus = pl.load_corpus(args.base, args.corpus)
    cache = FeatureCache(args.base / "features")
    summaries = np.stack([pl.baseline_features(cache.load(i)) for i in corpus.identities])
    personas = args.personas.split(",") if args.personas else None
    splits = pl.make_splits(corpus, repeats=args.repeats, personas=personas, first_repeat=args.first_repeat)
    rows: list[dict] = []
    train_s: list[float] = []
    work = Path(tempfile.mkdtemp(prefix="prefrec-personas-"))
    try:
        for persona, repeat in dict.fromkeys((s.persona, s.repeat) for s in splits):
            home = work / f"{persona}-{repeat}"
            shutil.copytree(args.base, home)
            rated: set[int] = set()
            for split in sorted((s for s in splits if (s.persona, s.repeat) == (persona, repeat)), key=lambda s: s.k):
                for i in split.rated:
                    if i not in rated:
                        cli(home, "like" if split.labels[i] else "skip", corpus.paths[i])
                        rated.add(i)
                t = time.perf_counter()
                said: list[str] = []
                cli(home, "train", stderr=said)
                train_s.append(time.perf_counter() - t)
                recs = json.loads(cli(home, "recommend", "--json", "-n", "100000"))
                by_path = {r["path"]: float(r["score"]) for r in recs}
                index = {p: i for i, p in enumerate(corpus.paths)}
                scores = {index[p]: s for p, s in by_path.items() if p in index}
                missing = set(split.unrated) - set(scores)
                if missing:
                    raise SystemExit(f"recommend did not list {len(missing)} unrated tracks")
                auc, p10 = pl.metrics(split, scores)
                b_auc, b_p10 = pl.metrics(split, pl.baseline_scores(split, summaries))
                extra = {"warned": "don't separate" in said[0] or "too few ratings" in said[0],
                         "scores": [[scores[i], float(split.labels[i])] for i in split.unrated]}
                if split.k == args.evaluate_k and repeat == args.first_repeat:
                    t = time.perf_counter()
                    said = []
                    out = cli(home, "evaluate", "--json", stderr=said, check=False)
                    extra["evaluate"] = json.loads(out) if out.strip() else {"refused": said[-1].strip()}
                    extra["evaluate_s"] = time.perf_counter() - t
                rows += [{"method": "prefrec (CLI)", "k": split.k, "persona": persona, "repeat": repeat,
                          "auc": auc, "p10": p10, "train_s": train_s[-1], **extra},
                         {"method": "baseline", "k": split.k, "persona": persona, "repeat": repeat,
                          "auc": b_auc, "p10": b_p10}]
                print(f"{persona:>13} r={repeat} K={split.k:<3} prefrec {auc:.3f} / {p10:.2f}   "
                      f"baseline {b_auc:.3f} / {b_p10:.2f}   train {train_s[-1]:.0f} s", flush=True)
                if args.out:  # after every split, so a run that stops keeps what it measured
                    args.out.write_text(json.dumps(rows, indent=1))
            shutil.rmtree(home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(pl.table(rows, ["prefrec (CLI)", "baseline"]))
    print(f"{len(splits)} splits; `prefrec train` (fine-tune + rescore {len(corpus.paths)} tracks) "
          f"{np.mean(train_s):.1f} s mean wall; total {time.perf_counter() - started:.0f} s; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
