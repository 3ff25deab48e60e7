"""The player loop with a real mpd (DESIGN.md benchmark 5, issue 11).

    .venv/bin/python bench/player.py [--changes 12] [--tracks 16] [--keep 3]

Generates a small tagged library, scans it, starts a real `mpd` (null output, its own socket)
on it and `prefrec daemon --autoqueue` following that mpd. Then, `--changes` times: let a song
play 3.5 s, send `next` to MPD and poll (every 5 ms) until

- the session that `next` ended is in the database (a `session` row of the feedback log, the
  record its label is derived from): goal <= 1 s;
- MPD's queue holds `--keep` songs after the new current one again: goal <= 2 s.

Both are measured from the moment `next` is sent. Prints one line per change and a table
(median, worst) for bench/RESULTS.md; state the load average (printed) next to the figures.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.player_helpers import MpdServer, write_tracks  # noqa: E402


def sessions(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM feedback WHERE kind = 'session'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def queued_after_current(server: MpdServer) -> int:
    status = server.status()
    length = int(status.get("playlistlength", 0))
    return length - int(status["song"]) - 1 if "song" in status else 0


def wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=12, help="song changes measured")
    ap.add_argument("--tracks", type=int, default=16, help="tracks in the generated library")
    ap.add_argument("--keep", type=int, default=3, help="songs the autoqueue keeps after the current one")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each generated track")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="prefrec-bench-player-"))
    music, home = base / "music", base / "home"
    write_tracks(music, args.tracks, seconds=args.seconds)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("PREFREC_HOME", None)
    subprocess.run([sys.executable, "-m", "prefrec", "--home", str(home), "scan", "--no-train", str(music)],
                   check=True, env=env, capture_output=True)
    server = MpdServer(base / "mpd", music)
    server.start()
    server.update()
    first = sorted(p.relative_to(music) for p in music.rglob("*.flac"))[0]
    server.mpc("add", str(first))
    daemon_env = {**env, "PREFREC_PLAYER": "mpd", "PREFREC_MPD_HOST": server.socket,
                  "PREFREC_AUTOQUEUE_KEEP": str(args.keep), "PREFREC_AUTOQUEUE_COOLDOWN_H": "8",
                  "PREFREC_WORKERS": "1"}
    log = open(base / "daemon.stderr", "wb")
    daemon = subprocess.Popen([sys.executable, "-m", "prefrec", "--home", str(home), "daemon", "--autoqueue",
                               str(music)], env=daemon_env, stdout=subprocess.DEVNULL, stderr=log)
    label_s: list[float] = []
    queue_s: list[float] = []
    try:
        server.mpc("play", "1")
        wait(lambda: queued_after_current(server) >= args.keep, 30, "the first fill of the queue")
        db = home / "prefrec.sqlite"
        for i in range(args.changes):
            time.sleep(3.5)
            before = sessions(db)
            song = server.status().get("song")
            t0 = time.monotonic()
            server.raw("next")
            label = queue = None
            while label is None or queue is None:
                now = time.monotonic() - t0
                if now > 10:
                    raise SystemExit(f"change {i}: no {'label' if label is None else 'refill'} after 10 s\n"
                                     f"{(base / 'daemon.stderr').read_text()[-2000:]}")
                if label is None and sessions(db) > before:
                    label = now
                if queue is None:
                    status = server.status()
                    if status.get("song") != song and queued_after_current(server) >= args.keep:
                        queue = now
                time.sleep(0.005)
            label_s.append(label)
            queue_s.append(queue)
            print(f"change {i + 1:2d}: session in the database after {label:.3f} s, queue refilled after {queue:.3f} s",
                  flush=True)
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
        server.close()
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores; "
          f"{args.changes} song changes, {args.tracks} tracks, keep {args.keep}\n")
    print("| from a song change to | median s | worst s | goal s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| its session in the database | {statistics.median(label_s):.3f} | {max(label_s):.3f} | 1.0 |")
    print(f"| the queue refilled | {statistics.median(queue_s):.3f} | {max(queue_s):.3f} | 2.0 |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
