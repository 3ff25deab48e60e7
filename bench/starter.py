"""How well the first day's starter set covers a library (issue 13; prefrec/starter.py).

    .venv/bin/python bench/starter.py HOME [--subsets 30] [--seed 0]

HOME is a data dir where `prefrec scan` of the real-music corpus (../shared/bench/corpus.sh) has
run; a track's source is its folder (one game each). Prints how many of the sources the first 13
and 20 tracks cover:
- as `prefrec recommend` offers them (the stored order: sound, spread over artists and folders);
- by sound alone (every track in one folder, no tags), on random subsets of 70% of the library:
  the greedy k-medoids order over the pretrained encoder's sound embeddings and over MFCC
  statistics, farthest-point sampling over the embeddings, and random draws.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prefrec.cache import FeatureCache  # noqa: E402
from prefrec.checkpoint import load_checkpoint  # noqa: E402
from prefrec.pretrain import PretrainConfig, _segments, sound_embeddings  # noqa: E402
from prefrec.starter import library_groups, starter_order  # noqa: E402


def farthest_points(vectors: np.ndarray, count: int, start: int) -> list[int]:
    x = (vectors - vectors.mean(axis=0)) / (vectors.std(axis=0) + 1e-9)
    chosen = [start]
    distance = np.linalg.norm(x - x[start], axis=1)
    for _ in range(count - 1):
        i = int(np.argmax(distance))
        chosen.append(i)
        distance = np.minimum(distance, np.linalg.norm(x - x[i], axis=1))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--subsets", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    conn = sqlite3.connect(args.home / "prefrec.sqlite")
    rows = conn.execute("SELECT identity, min(path), artist FROM tracks WHERE gone = 0 GROUP BY identity "
                        "ORDER BY 2").fetchall()
    stored = [r[0] for r in conn.execute("SELECT s.identity FROM starter s ORDER BY s.position")]
    conn.close()
    source_of = {identity: Path(path).parent.name for identity, path, _ in rows}
    sources = set(source_of.values())
    print(f"{len(rows)} tracks from {len(sources)} sources in {args.home}\n")
    print("| order | sources covered by 13 | by 20 |\n|---|--:|--:|")
    if stored:
        print(f"| stored by the scan | {len({source_of[i] for i in stored[:13]})} "
              f"| {len({source_of[i] for i in stored[:20]})} |")
    cache = FeatureCache(args.home / "features")
    model = load_checkpoint(args.home / "models" / "pretrained.pt").model.eval()
    config = PretrainConfig()
    features = [cache.load(identity) for identity, _, _ in rows]
    segments = [_segments(f, config.segments_per_track, config.segment_frames) for f in features]
    mean = model.mfcc_mean.numpy()
    embeddings = sound_embeddings(model, segments, mean)
    stats = np.stack([np.concatenate([f.mean(1), f.std(1), np.diff(f, axis=1).std(1)]) for f in features])
    source = np.array([source_of[i] for i, _, _ in rows])
    layout = library_groups([p for _, p, _ in rows], [a for _, _, a in rows])
    order = starter_order(embeddings, layout, count=20)
    print(f"| as recommend offers it: sound within the library's layout (top folders, folders, artists) "
          f"| {len(set(source[order[:13]]))} | {len(set(source[order[:20]]))} |")
    rng = np.random.default_rng(args.seed)
    cover: dict[str, list[tuple[int, int]]] = {k: [] for k in ("embeddings", "statistics", "farthest", "random")}
    for _ in range(args.subsets):
        keep = np.sort(rng.choice(len(rows), int(0.7 * len(rows)), replace=False))
        one_folder = [("", "")] * len(keep)
        orders = {"embeddings": starter_order(embeddings[keep], one_folder, count=20),
                  "statistics": starter_order(stats[keep], one_folder, count=20),
                  "farthest": farthest_points(embeddings[keep], 20, int(rng.integers(len(keep)))),
                  "random": list(rng.permutation(len(keep))[:20])}
        for name, order in orders.items():
            picked = source[keep][order]
            cover[name].append((len(set(picked[:13])), len(set(picked[:20]))))
    labels = {"embeddings": "sound alone: k-medoids over the pretrained embeddings (prefrec)",
              "statistics": "sound alone: k-medoids over MFCC statistics",
              "farthest": "sound alone: farthest-point sampling over the embeddings",
              "random": "random draws"}
    for name, values in cover.items():
        c13, c20 = np.array(values).T
        full = np.mean(c20 == len(sources))
        print(f"| {labels[name]}, {args.subsets} subsets of 70% | {c13.mean():.2f} | {c20.mean():.2f} "
              f"(all {len(sources)}: {full:.0%}) |")


if __name__ == "__main__":
    main()
