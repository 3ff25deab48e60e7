"""Use-cases shared by the CLI and the daemon: scan, rate, train, recommend, explain, status.

Nothing here prints or exits: results are returned as dataclasses, problems raised as
PrefrecError subclasses. Torch and librosa are imported only inside the use-cases that need
them (scan, train), so rating and querying start fast.
"""

from __future__ import annotations

import itertools
import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefrec.config import AUDIO_EXTENSIONS, Settings
from prefrec.errors import AmbiguousName, AmbiguousTrack, NotReady, UnknownName, UnknownTrack, UsageError
from prefrec.features import WINDOW_FRAMES
from prefrec.feedback import Act
from prefrec.store import (Ban, FeedbackEvent, Ranked, Rating, RecommendFilter, Store, Track, normalize_text,
                           under_any)

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
    pretrained: PretrainResult | None = None


@dataclass(frozen=True)
class PretrainResult:
    """A contrastive pretraining run on the unlabelled library (see prefrec.pretrain)."""

    n_tracks: int
    steps: int
    seconds: float
    path: str


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
    similar: list[Similar] = field(default_factory=list)  # nearest rated tracks, nearest first
    banned: Ban | None = None  # the ban that keeps it out of recommendations, if any


@dataclass(frozen=True)
class Recommendation(Ranked):
    """A recommended track; explore=True when it is there because the model is unsure of it."""

    explore: bool = False


@dataclass(frozen=True)
class ForgetResult:
    track: Track
    withdrawn: Rating | None  # the rating taken back, if there was one
    feedback_id: int | None  # None when there was nothing to withdraw (nothing written)
    rows: int = 0  # how many rows of the log (rating, sessions, counts) it withdrew


DIVERSITY_CAP = 2  # at most this many tracks per artist and per album…
DIVERSITY_TOP = 20  # …among the first this many recommendations


def _diversity_keys(track: Track) -> list[tuple[str, str]]:
    keys = []
    if track.artist:
        keys.append(("artist", normalize_text(track.artist)))
    if track.album:
        keys.append(("album", normalize_text(track.album)))
    return keys


def pick_diverse(stream: Iterable[Ranked], n: int, *, already: Sequence[Ranked] = (),
                 cap: int = DIVERSITY_CAP, top: int = DIVERSITY_TOP) -> list[Ranked]:
    """The first `n` of `stream` (best first) such that no artist and no album has more than
    `cap` tracks among the first `top` places of `already` + the result.

    A track passed over comes back right after place `top`, in its original order; if the
    stream runs out first (a library with few artists), passed-over tracks fill the gap, so
    the rule never makes the list shorter.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for r in already[:top]:
        counts.update(_diversity_keys(r.track))
    picked: list[Ranked] = []
    deferred: list[Ranked] = []
    for r in stream:
        if len(picked) >= n:
            break
        if len(already) + len(picked) < top:
            keys = _diversity_keys(r.track)
            if any(counts[k] >= cap for k in keys):
                deferred.append(r)
                continue
            counts.update(keys)
            picked.append(r)
        else:
            while deferred and len(picked) < n:
                picked.append(deferred.pop(0))
            if len(picked) < n:
                picked.append(r)
    picked.extend(deferred[: n - len(picked)])
    return picked


def interleave(base: list[Ranked], extra: list[Ranked]) -> list[Recommendation]:
    """`base` in order with `extra` spread evenly through it (marked explore), ranks from 1."""
    total = len(base) + len(extra)
    slots = {min(total - 1, round((j + 1) * total / (len(extra) + 1))) for j in range(len(extra))}
    out: list[Recommendation] = []
    b, e = iter(base), iter(extra)
    for i in range(total):
        explore = i in slots
        r = next(e, None) if explore else next(b, None)
        if r is None:  # slots collided: take from whichever list still has tracks
            explore = not explore
            r = next(e) if explore else next(b)
        out.append(Recommendation(i + 1, r.score, r.track, r.spread, explore=explore))
    return out


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


def stat_audio_file(path: str, real_roots: list[str]) -> tuple[os.stat_result | None, str]:
    """(its stat, "") when `path` may be analysed, else (None, why not): a symbolic link leading
    outside the resolved `real_roots` is not followed, and FIFOs, sockets and devices are not
    opened (reading a FIFO would block)."""
    try:
        if os.path.islink(path) and not under_any(os.path.realpath(path), real_roots):
            return None, "a symbolic link to outside the library; not followed"
        st = os.stat(path)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket"
                if stat.S_ISSOCK(st.st_mode) else "a device or special file")
        return None, f"{kind}, not a regular file; not read"
    return st, ""


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
                st, reason = stat_audio_file(path, real_roots)
                if st is None:
                    skipped.append((path, reason))
                    continue
                found[path] = FileEntry(path, st.st_size, st.st_mtime_ns)
    return sorted(found.values(), key=lambda e: e.path), skipped


def _track_row(result: Any, entry: FileEntry) -> dict[str, Any]:
    """The `tracks` row of an analysis.Analysed result for the file `entry` describes."""
    from prefrec.features import FEATURE_VERSION

    return {
        "path": result.path, "identity": result.identity, "title": result.title,
        "artist": result.artist, "album": result.album, "duration_s": result.duration_s,
        "n_frames": result.n_frames, "truncated": int(result.truncated), "size": entry.size,
        "mtime_ns": entry.mtime_ns, "feature_version": FEATURE_VERSION, "note": result.note,
    }


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

    def sweep_stale_files(self) -> list[Path]:
        """Delete temporary files that killed writers left in the feature cache and models dir (see
        cache.sweep_stale_temporaries); returns them. Called when a scan or the daemon starts."""
        from prefrec.cache import sweep_stale_temporaries

        return [p for root in (self.settings.features_dir, self.settings.models_dir)
                for p in sweep_stale_temporaries(root)]

    # -- scan ------------------------------------------------------------------------------------

    def needs_analysis(self, entries: list[FileEntry]) -> list[FileEntry]:
        """The entries to (re)analyse: files new or changed since last seen (size, mtime), and
        files whose features are of another FEATURE_VERSION or missing from the cache (deleted, or
        removed as damaged when last read). Scan and daemon both decide through this."""
        from prefrec.features import FEATURE_VERSION

        if len(entries) == 1:
            known = {entries[0].path: self.store.file_state(entries[0].path)}
        else:
            known = self.store.known_files()
        unchanged = [e for e in entries if known.get(e.path) == (e.size, e.mtime_ns)]
        cache = self.cache
        stale = self.store.stale_feature_paths(FEATURE_VERSION) | {
            t.path for e in unchanged for t in self.store.tracks_by_path(e.path) if not cache.has(t.identity)}
        return [e for e in entries if known.get(e.path) != (e.size, e.mtime_ns) or e.path in stale]

    def scan(self, roots: list[str], *, progress: Progress | None = None, train: bool = True,
             on_discovered: Callable[[int, int], None] | None = None,
             on_result: Callable[[Any], None] | None = None) -> ScanReport:
        """Analyse new and changed audio files under `roots`; then train/rescore if feedback exists.

        on_discovered(to_analyse, unchanged) is called once the folders have been walked;
        on_result(result) with each analysis.Analysed / analysis.Failed as it arrives. Results are
        committed every few files, so a scan killed at any point resumes where it was.
        """
        from prefrec.analysis import Analysed, analyse_many

        started = time.perf_counter()
        for root in roots:
            if not os.path.isdir(root):
                raise UsageError(f"{root}: not a folder; give the folder(s) that hold your music")
        roots = [os.path.realpath(r) for r in roots]
        self.sweep_stale_files()
        entries, skipped = discover(roots)
        report = ScanReport(found=len(entries))
        todo = self.needs_analysis(entries)
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
                                   timeout_per_audio_s=self.settings.decode_timeout_per_audio_s,
                                   memory_mb=self.settings.worker_memory_mb):
            entry = by_path[result.path]
            done += 1
            if on_result:
                on_result(result)
            if isinstance(result, Analysed):
                report.analysed += 1
                report.audio_seconds += result.duration_s
                batch.append(_track_row(result, entry))
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
        if train:
            report.pretrained = self.pretrain_if_needed()
        if train and self.store.last_feedback_id():
            try:
                report.trained, report.rescored = self.refresh_model(retrain=report.pretrained is not None)
            except NotReady:
                pass  # e.g. only likes so far: the scan itself succeeded, and status says why there is no model
        report.seconds = time.perf_counter() - started
        return report

    def refresh_model(self, *, retrain: bool = False) -> tuple[TrainResult | None, int]:
        """Retrain if feedback changed since the last model (or `retrain`), else score tracks it has
        not scored. Returns (the training, if one ran; how many tracks were scored without one).
        Raises NotReady (with the reason) when the feedback cannot train a model yet."""
        model_row = self.store.latest_model()
        if retrain or model_row is None or model_row.last_feedback_id != self.store.last_feedback_id():
            return self.train(), 0
        from prefrec.train import load_checkpoint

        missing = self._unscored(model_row.id)
        if missing or self.store.ranked_model_id() != model_row.id:
            model = load_checkpoint(Path(model_row.path))
            self._score_and_publish(model, model_row.id, missing)
        return None, len(missing)

    # -- changes the daemon sees in the folders ---------------------------------------------------

    def record_analysis(self, result: Any, entry: FileEntry) -> None:
        """Store one analysis.Analysed / analysis.Failed result for the file `entry` describes."""
        from prefrec.analysis import Analysed

        if isinstance(result, Analysed):
            self.store.record_analysed([_track_row(result, entry)])
        else:
            self.store.record_failed(result.path, result.reason, entry.size, entry.mtime_ns)

    def moved(self, old: str, new: str) -> int:
        """A file or folder was renamed/moved: its tracks keep their analysis and feedback."""
        prefix = old.rstrip("/") + "/"
        moves = [(p, new if p == old else new.rstrip("/") + "/" + p[len(prefix):])
                 for p in self.store.paths_under(old)]
        return self.store.move_paths(moves) if moves else 0

    def removed(self, path: str) -> int:
        """A file or folder was deleted: mark its tracks gone (their feedback stays)."""
        return self.store.mark_missing(set(), [path])

    def needs_scoring(self) -> bool:
        """Whether the newest model is not the ranked one or has not scored every present track."""
        model_row = self.store.latest_model()
        if model_row is None:
            return False
        return self.store.ranked_model_id() != model_row.id or bool(self._unscored(model_row.id))

    def _present_identities(self) -> set[str]:
        return self.store.present_identities()

    def _unscored(self, model_id: int) -> set[str]:
        """Present identities that model `model_id` has not scored yet."""
        return self._present_identities() - self.store.scored_identities(model_id)

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

    def rate(self, query: str, kind: str, *, at: str | None = None, source: str = "cli") -> RateResult:
        """Record a like or skip (skip optionally at a position) for the track `query` names."""
        if kind not in ("like", "skip"):
            raise ValueError(kind)
        position = parse_position(at) if at is not None else None
        if position is not None and kind != "skip":
            raise UsageError("--at only goes with skip")
        track = self.resolve(query)  # before any write: nothing is written for an unresolved track
        if position is not None and position > track.duration_s + 1:
            raise UsageError(f"--at {at}: the track is only {track.duration_s:.0f} s long")
        feedback_id = self.store.add_act(Act(track.identity, track.path, kind, source, position_s=position))
        return RateResult(track, kind, position, feedback_id)

    # -- training --------------------------------------------------------------------------------

    def train(self, *, progress: Progress | None = None) -> TrainResult:
        """Fit the model on all current ratings, save it, rescore every track, publish rankings."""
        from prefrec.labels import derive
        from prefrec.train import TrainConfig, example_from_label, fit, save_checkpoint

        last_feedback_id = self.store.last_feedback_id()
        rules = self.settings.label_rules()
        labels = derive(self.store.feedback_log(), rules)
        if not labels:
            raise NotReady("no feedback yet: rate a few tracks with `prefrec like` / `prefrec skip` first")
        cache = self.cache
        examples = []
        for identity, found in sorted(labels.items()):
            features = cache.get(identity)
            if features is None:
                continue  # the music is gone and its features with it; its feedback stays in the log
            examples += [example_from_label(label, features) for label in found]
        library = sorted(self._present_identities())
        pretrained = self._load_pretrained()
        if pretrained is None and self.pretrain_if_needed() is not None:  # a library scanned before pretraining existed
            pretrained = self._load_pretrained()
        step = max(1, len(library) // 200)
        library_features = [] if pretrained else [f for i in library[::step] if (f := cache.get(i)) is not None]
        epochs = {"max_epochs": self.settings.train_max_epochs} if self.settings.train_max_epochs > 0 else {}
        config = TrainConfig(seed=self.settings.train_seed, **epochs)
        model, report = fit(examples, library_features, config=config,
                            init=pretrained[0] if pretrained else None)
        path = self.settings.models_dir / f"model-{int(time.time() * 1000)}-{last_feedback_id}.pt"
        save_checkpoint(model, path, train_config=config)
        model_id = self.store.add_model(
            str(path), {"model": model.config.to_json(), "train": asdict(config), "labels": rules.to_json(),
                        "pretrained": pretrained[1].get("fingerprint") if pretrained else None},
            last_feedback_id=last_feedback_id, n_rated=len({e.identity for e in examples}), train_s=report.seconds,
        )
        started = time.perf_counter()
        scored = self._score_and_publish(model, model_id, set(library), progress=progress)
        self._prune_checkpoints(keep=str(path))
        return TrainResult(model_id, report.n_likes, report.n_skips, report.epochs, report.seconds,
                           scored, time.perf_counter() - started)

    # -- self-supervised pretraining ---------------------------------------------------------------

    @property
    def pretrained_path(self) -> Path:
        return self.settings.models_dir / "pretrained.pt"

    def pretrain_if_needed(self, *, force: bool = False) -> PretrainResult | None:
        """Pretrain the model's CNN+LSTM on the whole analysed library, without labels, when there is
        no usable pretrained checkpoint or the library has changed enough since (pretrain.library_changed).

        Minutes for a large library, so the daemon calls this when idle; `scan` calls it after
        analysing. Returns None when nothing was done (up to date, or too few tracks to learn from).
        """
        import numpy as np

        from prefrec.model import ModelConfig
        from prefrec.pretrain import PRETRAIN_VERSION, PretrainConfig, library_changed, library_fingerprint, pretrain
        from prefrec.train import save_checkpoint

        cache = self.cache
        present = sorted(i for i in self._present_identities() if cache.has(i))
        config = PretrainConfig(seed=self.settings.train_seed)
        if len(present) < config.min_tracks:
            return None
        current = None if force else self._load_pretrained()
        if current is not None and not library_changed(set(current[1].get("identities", [])), set(present)):
            return None
        sample = present
        if len(present) > config.max_tracks:  # a fixed-seed sample keeps memory and time bounded
            rng = np.random.default_rng(config.seed)
            sample = sorted(present[int(i)] for i in rng.choice(len(present), config.max_tracks, replace=False))
        model, report = pretrain((f for i in sample if (f := cache.get(i)) is not None), model_config=ModelConfig(),
                                 config=config)
        save_checkpoint(model, self.pretrained_path, extra={
            "kind": "pretrained", "pretrain_version": PRETRAIN_VERSION, "pretrain_config": asdict(config),
            "fingerprint": library_fingerprint(present), "identities": present, "n_sample": len(sample),
        })
        return PretrainResult(len(sample), report.steps, report.seconds, str(self.pretrained_path))

    def _load_pretrained(self) -> tuple[Any, dict] | None:
        """(pretrained TasteModel, its extra dict), or None if absent, unreadable or of another version."""
        from prefrec.errors import PrefrecError
        from prefrec.model import ModelConfig
        from prefrec.pretrain import PRETRAIN_VERSION
        from prefrec.train import load_checkpoint_with_extra

        if not self.pretrained_path.is_file():
            return None
        try:
            model, extra = load_checkpoint_with_extra(self.pretrained_path)
        except PrefrecError:
            return None  # stale or damaged: recomputed, never misread
        if extra.get("pretrain_version") != PRETRAIN_VERSION or model.config != ModelConfig():
            return None
        return model, extra

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

    def recommend(self, n: int = 20, *, diversify: bool = True, explore: float = 0.0,
                  filters: RecommendFilter | None = None) -> Recommendations:
        """The best `n` unrated, not banned tracks passing `filters`; with no feedback, a diverse
        sample to rate instead.

        diversify: at most DIVERSITY_CAP tracks per artist and per album in the first
        DIVERSITY_TOP places. explore: the fraction of the list (0..1) given to the tracks the
        model is least sure about (the largest spread of window scores), marked explore=True and
        spread through the list. Each item's score stays the model's mean window score.
        """
        if not 0.0 <= explore <= 1.0:
            raise UsageError(f"--explore {explore}: give a fraction between 0 and 1, e.g. 0.2")
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
        filters = filters or RecommendFilter()
        n_explore = 0 if explore == 0 else min(n, max(1, round(n * explore)))
        stream = self.store.candidates(filters)
        best = pick_diverse(stream, n) if diversify else list(itertools.islice(stream, n))
        base = best[: n - n_explore]
        unsure: list[Ranked] = []
        if n_explore:
            taken = {r.track.identity for r in base}
            rest = (r for r in self.store.candidates(filters, by="spread") if r.track.identity not in taken)
            unsure = (pick_diverse(rest, n_explore, already=base) if diversify
                      else list(itertools.islice(rest, n_explore)))
            chosen = {r.track.identity for r in unsure}
            base = [r for r in best if r.track.identity not in chosen][: n - len(unsure)]
        items = interleave(base, unsure)
        message = None if items else (
            "no unrated track passes the filters" if filters != RecommendFilter() else
            "every ranked track is rated or banned; scan more music or lift a ban (`prefrec unban`)")
        return Recommendations(items, counts["feedback"], model_id, message)

    def _sample_to_rate(self, n: int) -> list[Track]:
        """Up to n tracks spread over artists and albums, evenly across the library."""
        bans = self.store.bans()
        tracks = [t for t in self.store.tracks() if banned_by(t, bans) is None]
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
        values = self.store.window_score_list(track.identity, model_id)
        if values is None:
            raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
        bounds = window_bounds_s(track.n_frames)
        ranked = self.store.rank_of(track.identity)
        try:
            similar = self._similar_to(track, model_id, 3, rated_only=True)
        except NotReady:
            similar = []
        return Explanation(
            track=track,
            windows=[(b[0], b[1], v) for b, v in zip(bounds, values)],
            score=ranked[1] if ranked else None,
            rank=ranked[0] if ranked else None,
            ranked_total=ranked[2] if ranked else 0,
            rating=rating,
            best=pick_segments(values, bounds, best=True),
            worst=pick_segments(values, bounds, best=False),
            model_id=model_id,
            similar=similar,
            banned=self.ban_of(track),
        )

    def plot(self, exp: Explanation, out: Path) -> Path:
        """Draw `exp`'s window scores over time above the track's MFCCs, best segment marked, as a
        PNG at `out`. Needs matplotlib (the `plot` extra)."""
        from prefrec.explain import plot_explanation

        try:
            features = self.cache.load(exp.track.identity)
        except FileNotFoundError as exc:
            raise NotReady(f"{exp.track.path}: its features are not in the cache; run `prefrec scan` "
                           "on its folder") from exc
        _check_writable(out)
        plot_explanation(out, windows=exp.windows, features=features,
                         best=exp.best[0] if exp.best else None, title=_label(exp.track))
        return out

    def clip(self, exp: Explanation, out: Path) -> Any:
        """Write the best-scoring window of `exp`'s track (decoded from its file: mono 22050 Hz)
        to the WAV file `out`. Returns that segment."""
        from prefrec.audio import decode
        from prefrec.explain import write_clip

        if not exp.best:
            raise NotReady(f"{exp.track.path}: has no scored windows; run `prefrec train`")
        _check_writable(out)
        segment = exp.best[0]
        samples = decode(Path(exp.track.path), until_s=segment.end_s)
        write_clip(out, samples, segment.start_s, segment.end_s)
        return segment

    # -- control: bans, forgetting, history --------------------------------------------------------

    def _ban_target(self, query: str | None, artist: str | None, album: str | None, *,
                    among_bans: bool) -> tuple[str, str, str]:
        """(kind, value, label) of what a ban/unban names: exactly one of track, artist, album."""
        given = [(k, v) for k, v in (("track", query), ("artist", artist), ("album", album)) if v is not None]
        if len(given) != 1:
            raise UsageError("name one thing: a TRACK, or --artist NAME, or --album NAME")
        kind, text = given[0]
        if kind == "track":
            track = self.resolve(text)
            return "track", track.identity, _label(track)
        names = ([b.label for b in self.store.bans() if b.kind == kind] if among_bans
                 else self.store.distinct_names(kind))
        name = resolve_name(kind, text, names, banned=among_bans)
        return kind, normalize_text(name), name

    def ban(self, query: str | None = None, *, artist: str | None = None,
            album: str | None = None) -> tuple[Ban, bool]:
        """Never recommend a track (by its music, whatever the file), an artist or an album.
        Returns the ban and whether it is new."""
        kind, value, label = self._ban_target(query, artist, album, among_bans=False)
        added = self.store.add_ban(kind, value, label)
        return next(b for b in self.store.bans() if (b.kind, b.value) == (kind, value)), added

    def unban(self, query: str | None = None, *, artist: str | None = None,
              album: str | None = None) -> Ban:
        """Lift a ban; raises UnknownName when the thing named is not banned."""
        kind, value, label = self._ban_target(query, artist, album, among_bans=True)
        ban = next((b for b in self.store.bans() if (b.kind, b.value) == (kind, value)), None)
        if ban is None or not self.store.remove_ban(kind, value):
            raise UnknownName(f"{label} is not banned; `prefrec ban` lists the bans")
        return ban

    def bans(self) -> list[Ban]:
        return self.store.bans()

    def ban_of(self, track: Track) -> Ban | None:
        """The ban that keeps `track` out of recommendations, if any."""
        return banned_by(track, self.store.bans())

    def forget(self, query: str) -> ForgetResult:
        """Withdraw everything said and seen about a track's music (its rating, player sessions,
        imported counts): appends a 'forget' row, nothing is deleted. Writes nothing when there is
        nothing left to withdraw."""
        track = self.resolve(query)
        live = [r for r in self.store.feedback_log(identity=track.identity)
                if r.identity == track.identity and not r.withdrawn and r.kind != "forget"]
        if not live:
            return ForgetResult(track, None, None, 0)
        rating = self.store.rating_of(track.identity)
        feedback_id = self.store.add_act(Act(track.identity, track.path, "forget"))
        return ForgetResult(track, rating, feedback_id, len(live))

    def history(self, n: int = 20) -> list[FeedbackEvent]:
        """The latest `n` rows of the feedback log (acts and observations, any source), newest first."""
        return self.store.history(n)

    def similar(self, query: str, n: int = 10, *, rated_only: bool = False) -> tuple[Track, list[Similar]]:
        """The `n` tracks nearest to `query`'s by cosine similarity of the model's track embeddings
        (the mean LSTM state over a track's windows, as in seed 001's penultimate-layer features)."""
        track = self.resolve(query)
        model_id = self.store.ranked_model_id()
        if model_id is None:
            raise NotReady("no model yet: rate a few tracks (like and skip) and run `prefrec train`")
        return track, self._similar_to(track, model_id, n, rated_only=rated_only)

    def _similar_to(self, track: Track, model_id: int, n: int, *, rated_only: bool) -> list[Similar]:
        """The `n` tracks nearest to `track` under `model_id` (see `similar`)."""
        ratings = self.store.ratings()
        sims: Any
        if rated_only:  # explain's fast path: a few dozen rated embeddings, plain Python, no numpy
            few = self.store.embeddings_of(model_id, sorted({track.identity, *ratings}))
            identities = list(few)
            if track.identity not in few:
                raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
            sims = [_cosine(few[i], few[track.identity]) for i in identities]
        else:
            import numpy as np

            identities, vectors = self.store.embeddings(model_id)
            if track.identity not in identities:
                raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
            sims = unit @ unit[identities.index(track.identity)]
        results: list[Similar] = []
        for i in sorted(range(len(identities)), key=lambda k: -sims[k]):  # stable: ties keep identity order
            identity = identities[int(i)]
            if identity == track.identity or (rated_only and identity not in ratings):
                continue
            present = [t for t in self.store.tracks_by_identity(identity) if not t.gone]
            if present:
                results.append(Similar(present[0], float(sims[int(i)]), ratings.get(identity)))
            if len(results) == n:
                break
        return results

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
            "daemon": self._daemon_status(ranked_at),
        }

    def _daemon_status(self, ranked_at: str | None) -> dict[str, Any] | None:
        """What the daemon on this data dir is doing; None when none runs."""
        from prefrec.daemon import running_daemon_pid

        pid = running_daemon_pid(self.settings.home)
        if pid is None:
            return None
        row = self.store.daemon_state() or {}
        return {
            "pid": pid, "state": row.get("state", "starting"), "queue": row.get("queue", 0),
            "watcher": row.get("watcher"), "last_error": row.get("last_error"),
            "last_error_at": row.get("last_error_at"), "started_at": row.get("started_at"),
            "rankings_updated_at": float(ranked_at) if ranked_at else None,
        }


def banned_by(track: Track, bans: list[Ban]) -> Ban | None:
    """The first of `bans` that covers `track` (its music, its artist or its album), if any."""
    keys = {("track", track.identity)} | set(_diversity_keys(track))
    return next((b for b in bans if (b.kind, b.value) in keys), None)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors [H] (0 when either is all zeros, as numpy's path gives)."""
    dot = sum(x * y for x, y in zip(a, b))
    norm_a, norm_b = sum(x * x for x in a) ** 0.5, sum(y * y for y in b) ** 0.5
    return dot / (max(norm_a, 1e-9) * max(norm_b, 1e-9))


def _label(track: Track) -> str:
    return f"{track.artist} – {track.title}" if track.artist else track.title


def resolve_name(kind: str, text: str, names: list[str], *, banned: bool = False) -> str:
    """The one artist/album name in `names` that `text` means: equal ignoring case and accents,
    else the only one containing it. Raises UnknownName / AmbiguousName."""
    wanted = normalize_text(text.strip())
    if not wanted:
        raise UsageError(f"--{kind}: give a name")
    exact = [n for n in names if normalize_text(n) == wanted]
    if exact:
        return exact[0]
    partial = sorted({normalize_text(n): n for n in names if wanted in normalize_text(n)}.values())
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousName(f"{text!r} matches {len(partial)} {kind}s; be more precise", partial)
    if banned:
        raise UnknownName(f"{text!r}: not banned (no banned {kind} matches it); `prefrec ban` lists the bans")
    raise UnknownName(f"no {kind} in the library matches {text!r}; check the spelling")


def _check_writable(out: Path) -> None:
    if not out.parent.is_dir():
        raise UsageError(f"{out}: its folder does not exist; create it or choose another path")
