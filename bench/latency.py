"""Latency of the everyday commands on a 10,000-track library (DESIGN.md benchmark 4, issue 6).

    .venv/bin/python bench/latency.py [--tracks 10000] [--repeat 9] [--home DIR]

Builds a library database through Store methods (no audio, no model training: the tracks,
window scores, track embeddings and rankings are synthetic but have the real shapes: one
window per second of music, 32-dim embeddings, 60 ratings), then runs each command as a real
subprocess of the installed `prefrec` console script and prints the median and worst wall time.
The target is <= 0.3 s each for like, skip, recommend, status and explain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prefrec.features import FRAMES_PER_S, n_windows  # noqa: E402
from prefrec.feedback import Act  # noqa: E402
from prefrec.scoring import encode_f32, ranking  # noqa: E402
from prefrec.store import Store  # noqa: E402

WORDS = ["blue", "night", "river", "glass", "paper", "storm", "quiet", "golden", "falling", "electric",
         "morning", "velvet", "iron", "silver", "lonely", "distant", "summer", "winter", "wild", "hollow"]


def build(home: Path, n_tracks: int, *, seed: int = 0, n_ratings: int = 60, embed_dim: int = 32) -> None:
    """A data dir at `home` whose database holds `n_tracks` synthetic tracks, ratings and a ranking."""
    rng = np.random.default_rng(seed)
    home.mkdir(parents=True, exist_ok=True)
    with Store(home / "prefrec.sqlite") as store:
        n_artists = max(1, n_tracks // 12)
        rows, identities = [], []
        for i in range(n_tracks):
            artist_no = int(rng.integers(n_artists))
            artist = f"{WORDS[artist_no % 20].title()} {WORDS[(artist_no // 20) % 20].title()} {artist_no}"
            album = f"{artist} Album {int(rng.integers(3)) + 1}"
            title = f"{WORDS[int(rng.integers(20))].title()} {WORDS[int(rng.integers(20))]} opus {i:05d}"
            duration = float(rng.uniform(90, 420))
            identity = f"a1-{i:032x}"
            identities.append(identity)
            rows.append({
                "path": f"/music/{artist}/{album}/{i % 20 + 1:02d} {title}.flac", "identity": identity,
                "title": title, "artist": artist, "album": album, "duration_s": duration,
                "n_frames": int(duration * FRAMES_PER_S), "truncated": 0, "size": int(duration * 120_000),
                "mtime_ns": 1_700_000_000_000_000_000 + i, "feature_version": 1,
            })
            if len(rows) == 500:
                store.record_analysed(rows)
                rows = []
        if rows:
            store.record_analysed(rows)
        if n_ratings == 0:  # the first day: a starter order as pretraining leaves it, no model
            store.set_starter([identities[int(i)] for i in rng.choice(n_tracks, min(200, n_tracks), replace=False)])
            return
        rated = rng.choice(n_tracks, size=min(n_ratings, n_tracks), replace=False)
        for k, i in enumerate(rated):
            track = store.tracks_by_identity(identities[int(i)])[0]
            kind = "like" if k % 2 else "skip"
            store.add_act(Act(track.identity, track.path, kind, position_s=30.0 if kind == "skip" and not k % 3
                              else None))
        model_id = store.add_model(str(home / "models" / "synthetic.pt"), {"synthetic": True},
                                   last_feedback_id=store.last_feedback_id(), n_rated=len(rated), train_s=0.0)
        batch = []
        for track in store.tracks():
            level = rng.uniform(0.05, 0.95)
            probs = np.clip(level + rng.normal(0, rng.uniform(0.01, 0.2), n_windows(track.n_frames)), 0, 1)
            batch.append((track.identity, encode_f32(probs), encode_f32(rng.normal(size=embed_dim))))
            if len(batch) == 500:
                store.save_window_scores(model_id, batch)
                batch = []
        if batch:
            store.save_window_scores(model_id, batch)
        store.publish_rankings(model_id, ranking(store.window_score_blobs(model_id)))


def time_command(prefrec: str, home: Path, args: list[str], repeat: int) -> tuple[float, float]:
    """(median, max) wall seconds of `prefrec --home HOME ARGS` run `repeat` times."""
    env = {**os.environ, "NO_COLOR": "1"}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run([prefrec, "--home", str(home), *args], capture_output=True, env=env)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"prefrec {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--home", type=Path, default=None, help="keep the generated data dir here")
    args = parser.parse_args()
    prefrec = shutil.which("prefrec", path=str(Path(sys.executable).parent)) or "prefrec"
    home = args.home or Path(tempfile.mkdtemp(prefix="prefrec-latency-")) / "home"
    if home.exists():
        shutil.rmtree(home)
    started = time.perf_counter()
    build(home, args.tracks)
    first_day = home.parent / "first-day"
    build(first_day, args.tracks, n_ratings=0)
    size_mb = (home / "prefrec.sqlite").stat().st_size / 1e6
    print(f"built {args.tracks} synthetic tracks in {time.perf_counter() - started:.1f} s "
          f"({size_mb:.1f} MB database) at {home}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} cores; {args.repeat} runs each\n")
    some = "opus 04242"
    with Store(home / "prefrec.sqlite") as store:
        two_paths = [t.path for t in store.tracks()[:2]]
    commands = [
        ("python -c pass (interpreter floor)", None),
        ("--version (startup floor)", ["--version"]),
        ("like WORDS", ["like", some]),
        ("like PATH PATH", ["like", *two_paths]),
        ("skip WORDS --at 1:00", ["skip", "opus 04243", "--at", "1:00"]),
        ("recommend", ["recommend"]),
        ("recommend, before any rating (starter set)", ["recommend"], first_day),
        ("search WORDS", ["search", "opus", "04242"]),
        ("recommend --json -n 50", ["recommend", "--json", "-n", "50"]),
        ("recommend --m3u --explore 0.2", ["recommend", "--m3u", "--explore", "0.2"]),
        ("recommend --artist X --max-duration 5:00", ["recommend", "--artist", "blue", "--max-duration", "5:00"]),
        ("status", ["status"]),
        ("status --json", ["status", "--json"]),
        ("explain WORDS", ["explain", some]),
        ("explain WORDS --json", ["explain", some, "--json"]),
        ("history", ["history"]),
        ("similar WORDS", ["similar", some]),
    ]
    print("| command | median s | max s |\n| --- | ---: | ---: |")
    for label, cmd, *where in commands:
        if cmd is None:
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                times.append(time.perf_counter() - t0)
            median, worst = statistics.median(times), max(times)
        else:
            median, worst = time_command(prefrec, where[0] if where else home, cmd, args.repeat)
        print(f"| {label} | {median:.3f} | {worst:.3f} |", flush=True)


if __name__ == "__main__":
    main()
