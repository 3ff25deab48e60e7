"""Use-cases shared by the CLI and the daemon: scan, rate, train, recommend, explain, status.

Nothing here prints or exits: results are returned as dataclasses, problems raised as
PrefrecError subclasses. Torch and librosa are imported only inside the use-cases that need
them (scan, train), so rating and querying start fast.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefrec.config import AUDIO_EXTENSIONS, Settings
from prefrec.errors import AmbiguousTrack, NotReady, UnknownTrack, UsageError
from prefrec.features import WINDOW_FRAMES
from prefrec.store import Ranked, Rating, Store, Track, normalize_text

Progress = Callable[[int, int, str], None]
"""progress(done, total, current path) — called as analysis advances."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int


@dataclass
class ScanReport:
    found: int = 0
    unchanged: int = 0
    analysed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    gone: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    trained: TrainResult | None = None
    rescored: int = 0


@dataclass(frozen=True)
class TrainResult:
    model_id: int
    n_likes: int
    n_skips: int
    epochs: int
    train_s: float
    scored: int
    score_s: float


@dataclass(frozen=True)
class RateResult:
    track: Track
    kind: str
    position_s: float | None
    feedback_id: int


@dataclass(frozen=True)
class Recommendations:
    items: list[Ranked]
    feedback: int
    model_id: int | None
    message: str | None = None  # why the list is empty or provisional
    to_rate: list[Track] = field(default_factory=list)  # a diverse sample when there is no feedback


@dataclass(frozen=True)
class Similar:
    """A track close to another in the model's learnt feature space (cosine similarity, -1..1)."""

    track: Track
    similarity: float
    rating: Rating | None


@dataclass(frozen=True)
class Explanation:
    track: Track
    windows: list[tuple[float, float, float]]  # (start_s, end_s, probability)
    score: float | None
    rank: int | None
    ranked_total: int
    rating: Rating | None
    best: list[Any]
    worst: list[Any]
    model_id: int | None


def parse_position(text: str) -> float:
    """'1:23' -> 83.0, '83' -> 83.0, '1:02:03' -> 3723.0; raises UsageError otherwise."""
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts) or any(p >= 60 for p in parts[1:]):
        raise UsageError(f"--at {text!r}: give a position as seconds (83) or m:ss (1:23)")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def discover(roots: list[str]) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """Audio files under `roots` (absolute, resolved), and (path, reason) of files passed over.

    Symbolic links are followed only when they lead to a regular file inside one of the roots,
    so a scan never reads outside the folders it was given; linked folders are not descended
    into (so a link loop cannot trap the walk). FIFOs, sockets and devices are passed over without
    being opened. A name that is not valid UTF-8 is passed over with its bytes shown escaped.
    """
    real_roots = [os.path.realpath(r) for r in roots]
    found: dict[str, FileEntry] = {}
    skipped: list[tuple[str, str]] = []

    def inside(real: str) -> bool:
        return any(real == r or real.startswith(r.rstrip("/") + "/") for r in real_roots)

    for root in real_roots:
        for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
            for name in filenames:
                if os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    path.encode("utf-8")
                except UnicodeEncodeError:
                    skipped.append((os.fsencode(path).decode("utf-8", "backslashreplace"),
                                    "its name is not valid UTF-8, which the library cannot store; rename it"))
                    continue
                try:
                    if os.path.islink(path) and not inside(os.path.realpath(path)):
                        skipped.append((path, "a symbolic link to outside the library; not followed"))
                        continue
                    st = os.stat(path)
                except OSError as exc:
                    skipped.append((path, f"cannot be read ({exc.strerror})"))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket"
                            if stat.S_ISSOCK(st.st_mode) else "a device or special file")
                    skipped.append((path, f"{kind}, not a regular file; not read"))
                    continue
                found[path] = FileEntry(path, st.st_size, st.st_mtime_ns)
    return sorted(found.values(), key=lambda e: e.path), skipped


class Service:
    """The use-cases over one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.db_path, busy_timeout_s=self.settings.busy_timeout_s)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cache(self):  # -> FeatureCache
        from prefrec.cache import FeatureCache

        return FeatureCache(self.settings.features_dir)

    # -- scan ------------------------------------------------------------------------------------

    def scan(self, roots: list[str], *, progress: Progress | None = None, train: bool = True,
             on_discovered: Callable[[int, int], None] | None = None,
             on_result: Callable[[Any], None] | None = None) -> ScanReport:
        """Analyse new and changed audio files under `roots`; then train/rescore if feedback exists.

        on_discovered(to_analyse, unchanged) is called once the folders have been walked;
        on_result(result) with each analysis.Analysed / analysis.Failed as it arrives. Results are
        committed every few files, so a scan killed at any point resumes where it was.
        """
        from prefrec.analysis import Analysed, analyse_many
        from prefrec.features import FEATURE_VERSION

        started = time.perf_counter()
        for root in roots:
            if not os.path.isdir(root):
                raise UsageError(f"{root}: not a folder; give the folder(s) that hold your music")
        roots = [os.path.realpath(r) for r in roots]
        entries, skipped = discover(roots)
        report = ScanReport(found=len(entries))
        known = self.store.known_files()
        stale = self.store.stale_feature_paths(FEATURE_VERSION)
        todo = [e for e in entries if known.get(e.path) != (e.size, e.mtime_ns) or e.path in stale]
        report.unchanged = len(entries) - len(todo)
        if on_discovered:
            on_discovered(len(todo), report.unchanged)
        by_path = {e.path: e for e in todo}
        self.store.set_meta("scan_pending", str(len(todo)))
        batch: list[dict[str, Any]] = []
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal last_flush
            if batch:
                self.store.record_analysed(batch)
                batch.clear()
            self.store.set_meta("scan_pending", str(len(todo) - report.analysed - len(report.failed)))
            last_flush = time.monotonic()

        done = 0
        vanished: set[str] = set()
        for result in analyse_many([e.path for e in todo], cache_root=self.settings.features_dir,
                                   workers=self.settings.workers, timeout_s=self.settings.decode_timeout_s,
                                   memory_mb=self.settings.worker_memory_mb):
            entry = by_path[result.path]
            done += 1
            if on_result:
                on_result(result)
            if isinstance(result, Analysed):
                report.analysed += 1
                report.audio_seconds += result.duration_s
                batch.append({
                    "path": result.path, "identity": result.identity, "title": result.title,
                    "artist": result.artist, "album": result.album, "duration_s": result.duration_s,
                    "n_frames": result.n_frames, "truncated": int(result.truncated), "size": entry.size,
                    "mtime_ns": entry.mtime_ns, "feature_version": FEATURE_VERSION, "note": result.note,
                })
            elif result.vanished:
                vanished.add(result.path)
                report.failed.append((result.path, result.reason))
            else:
                report.failed.append((result.path, result.reason))
                self.store.record_failed(result.path, result.reason, entry.size, entry.mtime_ns)
            if len(batch) >= 8 or time.monotonic() - last_flush > 1.0:
                flush()
            if progress:
                progress(done, len(todo), result.path)
        flush()
        for path, reason in skipped:
            report.failed.append((path, reason))
        present = {e.path for e in entries if e.path not in vanished}
        report.gone = self.store.mark_missing(present | {p for p, _ in skipped}, roots)
        for path, reason in skipped:
            self.store.record_failed(path, f"{path}: {reason}", 0, 0)
        if train and self.store.ratings():
            report.trained, report.rescored = self._refresh_model()
        report.seconds = time.perf_counter() - started
        return report

    def _refresh_model(self) -> tuple[TrainResult | None, int]:
        """Retrain if feedback changed since the last model, else score tracks it has not scored."""
        model_row = self.store.latest_model()
        if model_row is None or model_row.last_feedback_id != self.store.last_feedback_id():
            try:
                return self.train(), 0
            except NotReady:
                return None, 0
        from prefrec.train import load_checkpoint

        missing = self._present_identities() - self.store.scored_identities(model_row.id)
        if missing or self.store.ranked_model_id() != model_row.id:
            model = load_checkpoint(Path(model_row.path))
            self._score_and_publish(model, model_row.id, missing)
        return None, len(missing)

    def _present_identities(self) -> set[str]:
        return {t.identity for t in self.store.tracks()}

    # -- feedback --------------------------------------------------------------------------------

    def resolve(self, query: str) -> Track:
        """The track the listener means: a path, or words matching title/artist/album/file name.

        Raises UnknownTrack (nothing matches) or AmbiguousTrack (several pieces of music match).
        """
        query = query.strip()
        if not query:
            raise UsageError("name a track: a path, or words from its title, artist or file name")
        if os.sep in query or os.path.exists(query):
            tracks = self.store.tracks_by_path(os.path.realpath(query)) or self.store.tracks_by_path(
                os.path.abspath(query))
            if tracks:
                return tracks[0]
            if os.path.exists(query):
                raise UnknownTrack(f"{query}: not in the library yet; run `prefrec scan` on its folder first")
        candidates = self.store.search_tracks(query.split())
        if not candidates:
            raise UnknownTrack(f"no track matches {query!r}; try other words or a path "
                               "(`prefrec recommend` lists tracks)")
        by_identity: dict[str, Track] = {}
        for track in candidates:
            by_identity.setdefault(track.identity, track)
        if len(by_identity) == 1:
            return candidates[0]
        wanted = normalize_text(query)
        exact = {t.identity: t for t in candidates
                 if wanted in (normalize_text(t.title), normalize_text(Path(t.path).stem))}
        if len(exact) == 1:
            return next(iter(exact.values()))
        raise AmbiguousTrack(f"{query!r} matches {len(by_identity)} tracks; be more precise or give a path",
                             list(by_identity.values()))

    def rate(self, query: str, kind: str, *, at: str | None = None) -> RateResult:
        """Record a like or skip (skip optionally at a position) for the track `query` names."""
        if kind not in ("like", "skip"):
            raise ValueError(kind)
        position = parse_position(at) if at is not None else None
        if position is not None and kind != "skip":
            raise UsageError("--at only goes with skip")
        track = self.resolve(query)  # before any write: nothing is written for an unresolved track
        if position is not None and position > track.duration_s + 1:
            raise UsageError(f"--at {at}: the track is only {track.duration_s:.0f} s long")
        feedback_id = self.store.add_feedback(track.identity, track.path, kind, position)
        return RateResult(track, kind, position, feedback_id)

    # -- training --------------------------------------------------------------------------------

    def train(self, *, progress: Progress | None = None) -> TrainResult:
        """Fit the model on all current ratings, save it, rescore every track, publish rankings."""
        from prefrec.train import TrainConfig, fit, make_example, save_checkpoint

        ratings = self.store.ratings()
        if not ratings:
            raise NotReady("no feedback yet: rate a few tracks with `prefrec like` / `prefrec skip` first")
        last_feedback_id = self.store.last_feedback_id()
        cache = self.cache
        examples = []
        for identity, rating in sorted(ratings.items()):
            try:
                features = cache.load(identity)
            except FileNotFoundError:
                continue  # the music is gone and its features with it; the rating stays in the log
            examples.append(make_example(identity, features, rating.kind, rating.position_s))
        library = sorted(self._present_identities())
        step = max(1, len(library) // 200)
        library_features = [cache.load(i) for i in library[::step] if cache.has(i)]
        config = TrainConfig(seed=self.settings.train_seed)
        model, report = fit(examples, library_features, config=config)
        path = self.settings.models_dir / f"model-{int(time.time() * 1000)}-{last_feedback_id}.pt"
        save_checkpoint(model, path, train_config=config)
        model_id = self.store.add_model(
            str(path), {"model": model.config.to_json(), "train": asdict(config)},
            last_feedback_id=last_feedback_id, n_rated=len(examples), train_s=report.seconds,
        )
        started = time.perf_counter()
        scored = self._score_and_publish(model, model_id, set(library), progress=progress)
        self._prune_checkpoints(keep=str(path))
        return TrainResult(model_id, report.n_likes, report.n_skips, report.epochs, report.seconds,
                           scored, time.perf_counter() - started)

    def _score_and_publish(self, model: Any, model_id: int, identities: set[str], *,
                           progress: Progress | None = None) -> int:
        from prefrec.scoring import score_identities

        pending: dict[str, Any] = {}
        done = 0
        for identity, scored in score_identities(model, self.cache, sorted(identities)):
            done += 1
            if scored is not None:
                pending[identity] = scored
            if len(pending) >= 200:
                self.store.save_window_scores(model_id, pending)
                pending.clear()
            if progress:
                progress(done, len(identities), identity)
        if pending:
            self.store.save_window_scores(model_id, pending)
        return self.store.publish_rankings(model_id)

    def _prune_checkpoints(self, *, keep: str, retain: int = 3) -> None:
        files = sorted(self.settings.models_dir.glob("model-*.pt"), key=lambda p: p.stat().st_mtime)
        for old in files[:-retain]:
            if str(old) != keep:
                old.unlink(missing_ok=True)

    # -- queries ---------------------------------------------------------------------------------

    def recommend(self, n: int = 20) -> Recommendations:
        """The best `n` unrated tracks; with no feedback, a diverse sample to rate instead."""
        counts = self.store.counts()
        model_id = self.store.ranked_model_id()
        if counts["feedback"] == 0:
            return Recommendations([], 0, None, "no feedback yet: like or skip a few tracks "
                                   "(`prefrec like TRACK`, `prefrec skip TRACK`), then `prefrec train`",
                                   self._sample_to_rate(min(n, 8)))
        if model_id is None:
            ratings = self.store.ratings()
            kinds = {r.kind for r in ratings.values()}
            need = "a skip" if kinds == {"like"} else "a like" if kinds == {"skip"} else None
            message = (f"the model needs {need} as well before it can rank" if need
                       else "no ranking yet: run `prefrec train`")
            return Recommendations([], counts["feedback"], None, message)
        return Recommendations(self.store.recommend(n), counts["feedback"], model_id)

    def _sample_to_rate(self, n: int) -> list[Track]:
        """Up to n tracks spread over artists and albums, evenly across the library."""
        tracks = self.store.tracks()
        seen, sample = set(), []
        for track in tracks[:: max(1, len(tracks) // (n * 4))]:
            key = (track.artist, track.album)
            if key not in seen:
                seen.add(key)
                sample.append(track)
        for track in tracks[:: max(1, len(tracks) // n)]:
            if len(sample) >= n:
                break
            if track not in sample:
                sample.append(track)
        return sample[:n]

    def explain(self, query: str) -> Explanation:
        """Window scores over time for the track `query` names, its best and worst segments."""
        from prefrec.explain import pick_segments
        from prefrec.features import window_bounds_s

        track = self.resolve(query)
        model_id = self.store.ranked_model_id()
        rating = self.store.rating_of(track.identity)
        if model_id is None:
            raise NotReady("no model yet: rate a few tracks (like and skip) and run `prefrec train`")
        scores = self.store.window_scores(track.identity, model_id)
        if scores is None:
            raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
        bounds = window_bounds_s(track.n_frames)
        values = [float(s) for s in scores]
        ranked = self.store.rank_of(track.identity)
        return Explanation(
            track=track,
            windows=[(b[0], b[1], v) for b, v in zip(bounds, values)],
            score=ranked[1] if ranked else None,
            rank=ranked[0] if ranked else None,
            ranked_total=self.store.counts()["identities"],
            rating=rating,
            best=pick_segments(values, bounds, best=True),
            worst=pick_segments(values, bounds, best=False),
            model_id=model_id,
        )

    def similar(self, query: str, n: int = 10, *, rated_only: bool = False) -> tuple[Track, list[Similar]]:
        """The `n` tracks nearest to `query`'s by cosine similarity of the model's track embeddings
        (the mean LSTM state over a track's windows, as in seed 001's penultimate-layer features)."""
        import numpy as np

        track = self.resolve(query)
        model_id = self.store.ranked_model_id()
        if model_id is None:
            raise NotReady("no model yet: rate a few tracks (like and skip) and run `prefrec train`")
        identities, vectors = self.store.embeddings(model_id)
        if track.identity not in identities:
            raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        sims = unit @ unit[identities.index(track.identity)]
        ratings = self.store.ratings()
        results: list[Similar] = []
        for i in np.argsort(-sims, kind="stable"):
            identity = identities[int(i)]
            if identity == track.identity or (rated_only and identity not in ratings):
                continue
            present = [t for t in self.store.tracks_by_identity(identity) if not t.gone]
            if present:
                results.append(Similar(present[0], float(sims[int(i)]), ratings.get(identity)))
            if len(results) == n:
                break
        return track, results

    def status(self) -> dict[str, Any]:
        """Library, analysis, errors, feedback, model and daemon state (JSON-ready)."""
        counts = self.store.counts()
        ratings = self.store.ratings()
        model = self.store.latest_model()
        ranked_at = self.store.get_meta("ranked_at")
        pending = int(self.store.get_meta("scan_pending") or 0)
        return {
            "home": str(self.settings.home),
            "tracks": counts["tracks"] + counts["errors"] + pending,
            "analysed": counts["tracks"],
            "pending": pending,
            "gone": counts["gone"],
            "errors": counts["errors"],
            "error_files": [{"path": p, "reason": r} for p, r in self.store.errors()],
            "flagged_files": [{"path": p, "note": n} for p, n in self.store.flagged(short_frames=WINDOW_FRAMES)],
            "feedback": counts["feedback"],
            "likes": sum(1 for r in ratings.values() if r.kind == "like"),
            "skips": sum(1 for r in ratings.values() if r.kind == "skip"),
            "model": None if model is None else {
                "id": model.id, "created_at": model.created_at, "rated_tracks": model.n_rated,
                "train_s": round(model.train_s, 2),
                "stale": model.last_feedback_id != self.store.last_feedback_id(),
            },
            "ranked_at": float(ranked_at) if ranked_at else None,
            "daemon": None,
        }
