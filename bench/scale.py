"""Scale and freshness (DESIGN.md benchmark 4, issue 15): a 10,000-track library, measured side by
side for this checkout and a baseline checkout (e.g. main at the commit the work started from).

    .venv/bin/python bench/scale.py --baseline MAIN_CHECKOUT [--tracks 10000] [--big 100000]
                                    [--ratings 5] [--idle-s 60] [--repeat 5] [--work DIR] [--json]

The library: `--tracks` tracks of 3 minutes whose features are synthetic (12 "styles": a per-style
MFCC level plus a per-track offset and smoothed noise), written in the real feature-cache format,
recorded in a real database through `Store`, with a placeholder file per track in a library folder
(a sparse file whose size and mtime the database records, so the daemon's rescan finds every track
analysed and never decodes it), 40 ratings, and a contrastive pretraining run on it. It is built once
with the *baseline's* code (so a newer checkout upgrades its database, as a listener's would) and
kept in `--work` for later runs. Each variant then gets its own copy of the data dir (the feature
cache is shared through a link) and runs, in one process tree per step:

  rescore     `prefrec train`'s use-case in a child process: fine-tune on the 40 ratings, then the
              full rescore (cache reads, model, score writes, ranking publish); its own timer.
  daemon      `prefrec daemon LIBRARY` running: first `--idle-s` seconds idle (its CPU rate), then
              `--ratings` times: `prefrec like|skip` on an unrated track, the time until the ranked
              model has seen that feedback (freshness), and the CPU the daemon and its children spent
              until it is idle again. The clock is shortened: the next rating comes as soon as the
              daemon is idle, not 3 minutes later; the CPU share for one rating every 3 minutes is
              (idle rate x 180 s + CPU per rating above idle) / 180 s, which is what a 3-minute clock
              gives as long as one rating's work ends within 3 minutes (checked, printed). A variant
              whose config has `full_retrain_quiet_s` (the deferred full retrain) is then left quiet
              until that retrain has run, and its cost is reported on its own line.
              Peak RSS (VmHWM) of the daemon and of each child kind is sampled every 0.1 s.
  latency     `like`, `recommend`, `status`, `explain` as real subprocesses, median of `--repeat`,
              on the 10,000-track data dir and on a `--big`-track database built as bench/latency.py
              does (window scores and embeddings of the real shapes, no features).
Sizes: the database, the feature cache, anything else in the data dir.

Prints one table (baseline, this checkout, ratio, goal); `--json` prints one JSON object with the
keys rescore_s, freshness_s, daemon_cpu_pct, daemon_rss_mb, train_rss_mb, latency_100k_s for this
checkout, plus "baseline" with the same keys when a baseline ran. Child processes of a variant run
with PYTHONPATH set to its checkout and a scratch working directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A child of this script runs one variant's code: SCALE_ROOT names its checkout.
sys.path.insert(0, os.environ.get("SCALE_ROOT") or str(ROOT))

TRACK_S = 180.0
N_STYLES = 12
LIKED_STYLES = (0, 1)
N_RATINGS = 40
GOALS = {"rescore_s": 60.0, "freshness_s": 30.0, "daemon_cpu_pct": 10.0, "daemon_rss_mb": 150.0,
         "train_rss_mb": 1500.0, "latency_100k_s": 0.3}


# -- the synthetic library (runs in a child with the baseline's code) -----------------------------


def _style_levels(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    base = np.concatenate([[-250.0], rng.normal(0, 20, 19)])
    return base[None, :] + rng.normal(0, 12, (N_STYLES, 20))  # [styles, 20]


def _features(index: int, levels):
    """float32 [20, 9000]: the style's level, a per-track offset, AR(1)-smoothed noise and a slow swell."""
    import numpy as np
    from scipy.signal import lfilter

    rng = np.random.default_rng(1000 + index)
    frames = int(TRACK_S * 50)
    level = levels[index % N_STYLES] + rng.normal(0, 4, 20)
    noise = lfilter([0.3], [1.0, -0.7], rng.normal(0, 12, (20, frames)), axis=1)
    swell = 8 * np.sin(np.linspace(0, rng.uniform(2, 12), frames))[None, :] * rng.normal(0, 1, (20, 1))
    return (level[:, None] + noise + swell).astype(np.float32)


def _write_features(job: tuple[str, int, int]) -> int:
    from prefrec.cache import FeatureCache

    root, start, stop = job
    os.nice(10)
    cache, levels = FeatureCache(Path(root)), _style_levels()
    for i in range(start, stop):
        cache.save(_identity(i), _features(i, levels))
    return stop - start


def _identity(i: int) -> str:
    return f"s1-{i:032x}"


def _title(i: int) -> str:
    return f"Synthetic opus {i:05d}"


def build_library(home: Path, library: Path, n_tracks: int) -> None:
    """Placeholder files, database rows, features, 40 ratings and the pretrained encoder."""
    import multiprocessing

    from prefrec.config import load_settings
    from prefrec.features import FEATURE_VERSION
    from prefrec.feedback import Act
    from prefrec.service import Service

    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home)
    jobs = [(str(settings.features_dir), s, min(s + 250, n_tracks)) for s in range(0, n_tracks, 250)]
    started = time.perf_counter()
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        done = 0
        for n in pool.imap_unordered(_write_features, jobs):
            done += n
            print(f"\r  features {done}/{n_tracks}", end="", file=sys.stderr, flush=True)
    print(f"\r  features of {n_tracks} tracks in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    mtime_ns = 1_700_000_000_000_000_000
    size = int(TRACK_S * 20_000)  # 160 kbit/s
    rows = []
    for i in range(n_tracks):
        folder = library / f"artist-{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i % 100:02d} {_title(i)}.mp3"
        with open(path, "wb") as f:
            f.truncate(size)  # sparse: no disk space
        os.utime(path, ns=(mtime_ns, mtime_ns))
        rows.append({"path": str(path), "identity": _identity(i), "title": _title(i),
                     "artist": f"Artist {i // 100:04d} style {i % N_STYLES}", "album": f"Album {i // 100:04d}",
                     "duration_s": TRACK_S, "n_frames": int(TRACK_S * 50), "truncated": 0, "size": size,
                     "mtime_ns": mtime_ns, "feature_version": FEATURE_VERSION})
    with Service(settings) as service:
        for start in range(0, len(rows), 1000):
            service.store.record_analysed(rows[start:start + 1000])
        rated: set[int] = set()
        for k in range(N_RATINGS):  # likes of the liked styles, skips of others (a quarter at 1:00)
            like = k < N_RATINGS // 2
            i = N_STYLES * k + (LIKED_STYLES[k % 2] if like else 2 + k % (N_STYLES - 2))
            if n_tracks < N_STYLES * N_RATINGS:  # a small smoke-test library: every other track
                like, i = k % 2 == 0, k
            if i >= n_tracks - 2:
                break
            if i in rated:
                continue
            rated.add(i)
            service.store.add_act(Act(_identity(i), rows[i]["path"], "like" if like else "skip",
                                      position_s=60.0 if not like and k % 4 == 1 else None))
        started = time.perf_counter()
        result = service.learning.pretrain_if_needed()
        print(f"  pretrained on {result.n_tracks if result else 0} tracks in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)


def train_child(home: Path) -> None:
    """`prefrec train`'s use-case; prints its timings as JSON: wall seconds of the fine-tune and of the
    rescore (as the use-case reports them), the CPU seconds of the rescore (this process and its
    reaped workers, so independent of the machine's load) and peak RSS."""
    import resource

    from prefrec.config import load_settings
    from prefrec.service import Service
    from prefrec.service.learning import LearningController

    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    measured: dict[str, float] = {}
    original = LearningController._score_and_publish

    def timed(self, *args, **kwargs):  # the rescore alone, in CPU seconds
        before = cpu()
        try:
            return original(self, *args, **kwargs)
        finally:
            measured["score_cpu_s"] = cpu() - before

    LearningController._score_and_publish = timed
    started = time.perf_counter()
    with Service(load_settings(home)) as service:
        result = service.learning.train()
    print(json.dumps({"wall_s": time.perf_counter() - started, "train_s": result.train_s,
                      "score_s": result.score_s, "scored": result.scored, **measured,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def big_child(home: Path, n_tracks: int) -> None:
    """A latency-only database of `n_tracks` tracks, built as bench/latency.py builds it."""
    import prefrec  # noqa: F401 - cached first, so bench/latency.py's own path insertion changes nothing

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import latency

    latency.build(home, n_tracks)


# -- measuring a variant's process tree ------------------------------------------------------------


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def _descendants(pid: int) -> list[int]:
    tree, todo, found = _children(), [pid], []
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cpu_s(pid: int, *, with_reaped: bool) -> float:
    """utime + stime of `pid` (plus the reaped children it waited for), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if with_reaped else 0)
    return ticks / CLK_TCK


def _kind(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "prefrec.trainer" in cmd:
        return "trainer"
    if "multiprocessing" in cmd or "forkserver" in cmd:
        return "worker"
    return "other"


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeWatch:
    """Samples a process tree every 0.1 s: peak RSS by kind (daemon, trainer, worker) and which
    trainer children are alive; cpu_s() is the tree's CPU time so far (reaped children included)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb: dict[str, float] = {}
        self.live: dict[int, float] = {}  # live descendants' last CPU seconds (not yet reaped)
        self.trainer_alive = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self) -> None:
        kinds: dict[int, str] = {pid: _kind(pid) for pid in _descendants(self.pid)}
        with self._lock:
            self.peak_mb["daemon"] = max(self.peak_mb.get("daemon", 0.0), _hwm_mb(self.pid))
            for pid, kind in kinds.items():
                self.peak_mb[kind] = max(self.peak_mb.get(kind, 0.0), _hwm_mb(pid))
            self.trainer_alive = "trainer" in kinds.values()

    def cpu_s(self) -> float:
        """The tree's CPU seconds: the daemon, its reaped children, and live descendants."""
        total = _cpu_s(self.pid, with_reaped=True)
        return total + sum(_cpu_s(pid, with_reaped=False) for pid in _descendants(self.pid))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- a variant ---------------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    root: Path
    work: Path
    config: dict[str, object] = field(default_factory=dict)
    results: dict[str, object] = field(default_factory=dict)
    threads: int = 0  # OMP_NUM_THREADS for its processes (0: unset, torch's default)

    @property
    def home(self) -> Path:
        return self.work / f"home-{self.name}"

    def env(self) -> dict[str, str]:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFREC_")},
               "PYTHONPATH": str(self.root), "SCALE_ROOT": str(self.root), "NO_COLOR": "1"}
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def prefrec(self, home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(home), *args], env=self.env(),
                              cwd=self.work, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise SystemExit(f"[{self.name}] prefrec {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def child(self, *args: str) -> str:
        proc = subprocess.run([sys.executable, __file__, *args], env=self.env(), cwd=self.work,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"[{self.name}] {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout


def copy_home(base: Path, home: Path, config: dict[str, object]) -> None:
    """A fresh data dir for one variant: the database and models copied, the feature cache linked."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    src = sqlite3.connect(base / "prefrec.sqlite")
    dst = sqlite3.connect(home / "prefrec.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    if (base / "models").is_dir():
        shutil.copytree(base / "models", home / "models")
    (home / "features").symlink_to(base / "features")
    if config:
        (home / "config.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()))


def _db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{home / 'prefrec.sqlite'}?mode=ro", uri=True, timeout=30)
    return conn


def _ranked_feedback_id(home: Path) -> int:
    """The last feedback id the ranked model has seen (-1 before any ranking)."""
    conn = _db(home)
    try:
        row = conn.execute("SELECT m.last_feedback_id FROM meta k JOIN models m ON m.id = CAST(k.value AS INTEGER) "
                           "WHERE k.key = 'ranked_model_id'").fetchone()
        return int(row[0]) if row else -1
    finally:
        conn.close()


def _settled(home: Path) -> bool:
    """The daemon reports idle and the newest model is the ranked one and has seen all feedback."""
    conn = _db(home)
    try:
        state = conn.execute("SELECT state FROM daemon WHERE id = 1").fetchone()
        latest = conn.execute("SELECT id, last_feedback_id FROM models ORDER BY id DESC LIMIT 1").fetchone()
        ranked = conn.execute("SELECT value FROM meta WHERE key = 'ranked_model_id'").fetchone()
        last = conn.execute("SELECT coalesce(max(id), 0) FROM feedback").fetchone()[0]
    finally:
        conn.close()
    return (state is not None and state[0] == "idle" and latest is not None and ranked is not None
            and int(ranked[0]) == latest[0] and latest[1] == last)


def _scalar(home: Path, sql: str) -> int:
    conn = _db(home)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _last_feedback_id(home: Path) -> int:
    return _scalar(home, "SELECT coalesce(max(id), 0) FROM feedback")


def _unrated(home: Path, count: int) -> list[int]:
    conn = _db(home)
    try:
        rated = {r[0] for r in conn.execute("SELECT DISTINCT identity FROM feedback")}
        total = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
    finally:
        conn.close()
    candidates = [i for i in range(total) if _identity(i) not in rated]
    random.Random(7).shuffle(candidates)
    return candidates[:count] if len(candidates) >= count else [*candidates, *range(count - len(candidates))]


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.1) -> float:
    """Seconds until predicate() held; TimeoutError after timeout_s."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)
    return time.perf_counter() - started


def run_daemon_phase(v: Variant, library: Path, *, ratings: int, idle_s: float, timeout_s: float = 900.0) -> None:
    log = open(v.work / f"daemon-{v.name}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "prefrec", "--home", str(v.home), "daemon", str(library)],
                            env=v.env(), cwd=v.work, stdout=log, stderr=subprocess.STDOUT)
    watch = TreeWatch(proc.pid)
    try:
        started = time.perf_counter()
        wait_for(lambda: _settled(v.home) and not watch.trainer_alive, 900, f"[{v.name}] the daemon to settle")
        print(f"  [{v.name}] daemon settled after {time.perf_counter() - started:.1f} s", file=sys.stderr)
        time.sleep(2.0)
        cpu0, t0 = watch.cpu_s(), time.perf_counter()
        time.sleep(idle_s)
        idle_rate = (watch.cpu_s() - cpu0) / (time.perf_counter() - t0)
        fresh, extra, spans, loads = [], [], [], []
        for n, i in enumerate(_unrated(v.home, ratings)):
            kind = "like" if n % 2 == 0 else "skip"
            cpu_before, t_before = watch.cpu_s(), time.perf_counter()
            v.prefrec(v.home, kind, _title(i), *(["--at", "1:00"] if kind == "skip" else []))
            fid = _last_feedback_id(v.home)
            wait_for(lambda fid=fid: _ranked_feedback_id(v.home) >= fid, timeout_s,
                     f"[{v.name}] the ranking to reflect {kind} #{fid}")
            fresh.append(time.perf_counter() - t_before)  # from the start of the command
            wait_for(lambda: _settled(v.home) and not watch.trainer_alive, 900, f"[{v.name}] idle again")
            span = time.perf_counter() - t_before
            spans.append(span)
            extra.append(watch.cpu_s() - cpu_before - idle_rate * span)
            loads.append(os.getloadavg()[0])
            print(f"  [{v.name}] {kind} {_title(i)}: ranked after {fresh[-1]:.1f} s, idle after {span:.1f} s, "
                  f"{extra[-1]:.1f} CPU s above idle (load {loads[-1]:.2f})", file=sys.stderr)
        v.results.update({
            "freshness_s": max(fresh), "freshness_median_s": statistics.median(fresh),
            "idle_cpu_pct": 100 * idle_rate, "cpu_per_rating_s": statistics.mean(extra),
            "longest_rating_span_s": max(spans),
            "daemon_cpu_pct": 100 * (idle_rate * 180 + statistics.mean(extra)) / 180,
        })
        if "full_retrain_quiet_s" in v.config:  # the deferred full retrain, on its own line
            cpu0, t0 = watch.cpu_s(), time.perf_counter()
            model0 = _latest_model_id(v.home)
            wait_for(lambda: _latest_model_id(v.home) > model0 and _settled(v.home) and not watch.trainer_alive,
                     900 + float(v.config["full_retrain_quiet_s"]), f"[{v.name}] the deferred full retrain")
            span = time.perf_counter() - t0
            v.results["full_retrain_cpu_s"] = watch.cpu_s() - cpu0 - idle_rate * span
            v.results["full_retrain_after_s"] = span
        watch.sample()
        v.results["daemon_rss_mb"] = watch.peak_mb.get("daemon", 0.0)
        v.results["train_rss_mb"] = watch.peak_mb.get("trainer", 0.0)
        v.results["worker_rss_mb"] = watch.peak_mb.get("worker", 0.0)
        v.results["daemon_phase_load"] = statistics.mean(loads) if loads else os.getloadavg()[0]
    finally:
        watch.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _latest_model_id(home: Path) -> int:
    return _scalar(home, "SELECT coalesce(max(id), 0) FROM models")


LATENCY_COMMANDS = {
    "like": lambda i: ["like", _title(i)],
    "recommend": lambda i: ["recommend"],
    "status": lambda i: ["status"],
    "explain": lambda i: ["explain", _title(i)],
}
BIG_COMMANDS = {
    "like": ["like", "opus 04242"],
    "recommend": ["recommend"],
    "status": ["status"],
    "explain": ["explain", "opus 04242"],
}


def time_commands(v: Variant, home: Path, commands: dict[str, list[str]], repeat: int) -> dict[str, float]:
    out = {}
    for name, args in commands.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            v.prefrec(home, *args)
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times)
    return out


def _size_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return total / 1e6


def run_variant(v: Variant, base: Path, library: Path, big_base: Path | None, args: argparse.Namespace,
                phases: set[str]) -> None:
    print(f"[{v.name}] {v.root} (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    copy_home(base, v.home, v.config)
    if "rescore" in phases:
        run_rescore(v)
    if "daemon" in phases:
        try:
            run_daemon_phase(v, library, ratings=args.ratings, idle_s=args.idle_s, timeout_s=args.timeout_s)
        except TimeoutError as exc:
            print(f"  [{v.name}] {exc}", file=sys.stderr)
            v.results["timed_out"] = str(exc)
    if "latency" in phases:
        run_latency(v, base, big_base, args)


def run_rescore(v: Variant) -> None:
    out = json.loads(v.child("_train", str(v.home)).strip().splitlines()[-1])
    v.results.update({"rescore_s": out["score_s"], "finetune_s": out["train_s"], "train_wall_s": out["wall_s"],
                      "rescore_cpu_s": out.get("score_cpu_s"),
                      "rescore_rss_mb": max(out["rss_mb"], out["children_rss_mb"]),
                      "rescore_load": os.getloadavg()[0]})
    print(f"  [{v.name}] fine-tune {out['train_s']:.1f} s, rescore of {out['scored']} tracks {out['score_s']:.1f} s "
          f"(load {os.getloadavg()[0]:.2f})", file=sys.stderr)


def run_latency(v: Variant, base: Path, big_base: Path | None, args: argparse.Namespace) -> None:
    if _ranked_feedback_id(v.home) >= 0:  # (a variant measured for latency alone has no ranking here)
        i = _unrated(v.home, 1)[0]
        lat = time_commands(v, v.home, {k: f(i) for k, f in LATENCY_COMMANDS.items()}, args.repeat)
        v.results.update({f"latency_10k_{k}_s": t for k, t in lat.items()})
        v.results["latency_10k_s"] = max(lat.values())
    v.results["db_mb"] = (v.home / "prefrec.sqlite").stat().st_size / 1e6
    v.results["features_mb"] = _size_mb(base / "features")
    v.results["other_cache_mb"] = sum(_size_mb(p) for p in v.home.iterdir()
                                      if p.is_dir() and p.name not in ("features", "models", "logs"))
    if big_base is not None:
        big = v.work / f"big-{v.name}"
        copy_home(big_base, big, {})
        lat = time_commands(v, big, BIG_COMMANDS, args.repeat)
        v.results.update({f"latency_big_{k}_s": t for k, t in lat.items()})
        v.results["latency_100k_s"] = max(lat.values())
        v.results["latency_load"] = os.getloadavg()[0]


ROWS = [
    ("rescore_s", "full rescore after a fine-tune, s", "{:.1f}"),
    ("rescore_cpu_s", "  (its CPU time: the process and its workers, s)", "{:.1f}"),
    ("finetune_s", "  (the fine-tune before it, s)", "{:.1f}"),
    ("freshness_s", "like -> ranking reflects it, daemon running, s (worst)", "{:.1f}"),
    ("freshness_median_s", "  (median)", "{:.1f}"),
    ("idle_cpu_pct", "daemon CPU while idle, % of a core", "{:.2f}"),
    ("cpu_per_rating_s", "CPU per rating above idle (daemon + children), s", "{:.1f}"),
    ("longest_rating_span_s", "  (longest rating -> idle again, s; must be < 180)", "{:.1f}"),
    ("daemon_cpu_pct", "daemon CPU, one rating every 3 min, % of a core", "{:.1f}"),
    ("full_retrain_cpu_s", "deferred full retrain: CPU s (once per quiet spell)", "{:.1f}"),
    ("daemon_rss_mb", "peak RSS daemon, MB", "{:.0f}"),
    ("train_rss_mb", "peak RSS training child, MB", "{:.0f}"),
    ("worker_rss_mb", "peak RSS of one worker process, MB", "{:.0f}"),
    ("rescore_rss_mb", "peak RSS `train` process / its children, MB", "{:.0f}"),
    ("latency_10k_like_s", "like at 10k tracks, s", "{:.3f}"),
    ("latency_10k_recommend_s", "recommend at 10k, s", "{:.3f}"),
    ("latency_10k_status_s", "status at 10k, s", "{:.3f}"),
    ("latency_10k_explain_s", "explain at 10k, s", "{:.3f}"),
    ("latency_big_like_s", "like at 100k, s", "{:.3f}"),
    ("latency_big_recommend_s", "recommend at 100k, s", "{:.3f}"),
    ("latency_big_status_s", "status at 100k, s", "{:.3f}"),
    ("latency_big_explain_s", "explain at 100k, s", "{:.3f}"),
    ("latency_100k_s", "slowest of the four at 100k, s", "{:.3f}"),
    ("db_mb", "database, MB", "{:.1f}"),
    ("features_mb", "feature cache, MB", "{:.0f}"),
    ("other_cache_mb", "other caches in the data dir, MB", "{:.0f}"),
]


def print_table(variants: list[Variant], out=sys.stdout) -> None:
    names = [v.name for v in variants]
    head = "| what | " + " | ".join(names) + (" | ratio |" if len(variants) == 2 else " |") + " goal |"
    print(head, file=out)
    print("|---" * (len(names) + (3 if len(variants) == 2 else 2)) + "|", file=out)
    for key, label, fmt in ROWS:
        values = [v.results.get(key) for v in variants]
        if all(x is None for x in values):
            continue
        cells = [fmt.format(x) if isinstance(x, (int, float)) else "–" for x in values]
        if len(variants) == 2:
            a, b = values
            cells.append(f"{a / b:.2f}×" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "–")
        goal = GOALS.get(key)
        print(f"| {label} | " + " | ".join(cells) + f" | {'≤ ' + format(goal, 'g') if goal else ''} |", file=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, default=None, help="checkout to compare with (e.g. a worktree of main)")
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000, help="tracks of the latency-only database (0: skip)")
    parser.add_argument("--ratings", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/prefrec-scale"))
    parser.add_argument("--full-retrain-quiet-s", type=float, default=60.0,
                        help="this checkout's deferred full retrain, shortened for the benchmark")
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS for both variants (1 keeps torch's threads from spinning on a "
                             "loaded machine; 0: torch's default)")
    parser.add_argument("--phases", default="rescore,daemon,latency", help="what to measure for this checkout")
    parser.add_argument("--baseline-phases", default="rescore,daemon,latency", help="what to measure for the baseline")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="longest wait for one rating to be ranked")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="build the libraries, measure nothing")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    builder = Variant("build", (args.baseline or ROOT).resolve(), work)
    base, library = work / f"base-{args.tracks}", work / f"library-{args.tracks}"
    if not (base / "built").exists():
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(library, ignore_errors=True)
        print(f"building {args.tracks} tracks in {base} with {builder.root}", file=sys.stderr)
        builder.child("_build", str(base), str(library), str(args.tracks))
        (base / "built").write_text("ok\n")
    big_base = None
    if args.big:
        big_base = work / f"big-base-{args.big}"
        if not (big_base / "built").exists():
            shutil.rmtree(big_base, ignore_errors=True)
            print(f"building the {args.big}-track latency database", file=sys.stderr)
            builder.child("_big", str(big_base), str(args.big))
            (big_base / "models").mkdir(exist_ok=True)
            (big_base / "features").mkdir(exist_ok=True)
            (big_base / "built").write_text("ok\n")
    if args.build_only:
        return
    variants = []
    if args.baseline:
        variants.append(Variant("baseline", args.baseline.resolve(), work, threads=args.threads))
    variants.append(Variant("this", ROOT, work, {"full_retrain_quiet_s": args.full_retrain_quiet_s},
                            threads=args.threads))
    load_before = os.getloadavg()
    for v in variants:
        phases = args.baseline_phases if v.name == "baseline" else args.phases
        run_variant(v, base, library, big_base, args, set(phases.split(",")))
    load_after = os.getloadavg()
    out = sys.stderr if args.json else sys.stdout
    print(f"\n{args.tracks} tracks of {TRACK_S / 60:.0f} min; {args.ratings} ratings; OMP_NUM_THREADS "
          f"{args.threads or 'unset'}; load before "
          f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} "
          f"{load_after[1]:.2f} {load_after[2]:.2f} (1/5/15 min), {os.cpu_count()} cores\n", file=out)
    print_table(variants, out)
    for v in variants:
        print(f"\n[{v.name}] load: rescore {v.results.get('rescore_load', 0):.2f}, daemon phase "
              f"{v.results.get('daemon_phase_load', 0):.2f}, latency {v.results.get('latency_load', 0):.2f}", file=out)
    if args.json:
        keys = ("rescore_s", "freshness_s", "daemon_cpu_pct", "daemon_rss_mb", "train_rss_mb", "latency_100k_s")
        this = variants[-1].results
        out: dict[str, object] = {k: this.get(k) for k in keys}
        if args.baseline:
            out["baseline"] = {k: variants[0].results.get(k) for k in keys}
        print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:2] == ["_build"]:
        build_library(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1:2] == ["_train"]:
        train_child(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["_big"]:
        big_child(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
