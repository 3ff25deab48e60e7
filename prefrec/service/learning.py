"""Use-cases about learning: pretrain on the library, fine-tune on feedback, score, publish."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefrec.errors import NotReady, PrefrecError
from prefrec.service.base import Controller, Progress
from prefrec.store import ModelRow

if TYPE_CHECKING:
    from prefrec.checkpoint import Checkpoint


@dataclass(frozen=True)
class PretrainResult:
    """A contrastive pretraining run on the unlabelled library (see prefrec.pretrain)."""

    n_tracks: int
    steps: int
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    model_id: int
    n_likes: int
    n_skips: int
    epochs: int
    train_s: float
    scored: int
    score_s: float
    rebuilt_because: str | None = None  # the previous model could not be used (and why)
    quality: dict[str, Any] | None = None  # out-of-fold check of the ratings (see model_quality)
    kind: str = "full"  # "full": encoder and head fine-tuned; "head": the head alone (update_head)

    @property
    def warning(self) -> str | None:
        return separation_warning(self.quality)


def model_quality(report: Any) -> dict[str, Any]:
    """What a train.TrainReport says about the ratings, JSON-ready (kept in the models table):
    the out-of-fold ROC-AUC of the explicit ratings with its 95% interval, and whether it is
    clearly above chance (`separates`: None when there were too few ratings to check)."""
    auc = report.oof_auc
    return {
        "oof_auc": None if auc is None else {"value": round(auc.value, 4), "low": round(auc.low, 4),
                                             "high": round(auc.high, 4)},
        "oof_tracks": report.oof_n,
        "separates": None if auc is None else bool(report.separates),
        "likes": report.n_likes, "skips": report.n_skips,
        "calibration": {"scale": round(report.calibration[0], 5), "bias": round(report.calibration[1], 5)},
    }


def separation_warning(quality: dict[str, Any] | None) -> str | None:
    """The plain warning `train` and `recommend` give when the ratings do not separate yet (the
    out-of-fold ROC-AUC interval includes 0.5, or too few ratings to tell); None otherwise."""
    if not quality or quality.get("separates"):
        return None
    likes, skips = quality.get("likes", 0), quality.get("skips", 0)
    more = "of what you like" if likes <= skips else "of what you do not like"
    auc = quality.get("oof_auc")
    if auc is None:
        return (f"too few ratings to tell whether your taste is learnt yet: rate a few more {more} "
                "(at least 2 likes and 2 skips)")
    return (f"your ratings don't separate yet (held-out ROC-AUC {auc['value']:.2f}, 95% interval "
            f"{auc['low']:.2f}-{auc['high']:.2f}; 0.5 is chance): rate a few more {more}")


MIN_EVALUATION_RATINGS = 5  # explicit likes, and explicit skips, `evaluate` needs at least
EVALUATION_META = "evaluation"  # meta key of the latest evaluation (JSON)


@dataclass(frozen=True)
class Evaluation:
    """The result of `prefrec evaluate`: cross-validated quality on the explicit ratings.

    splits: {"track": ..., "album": ...}, each {"prefrec": {"auc", "p10"}, "baseline": {"auc",
    "p10"}, "difference": {"auc"}} of {"value", "low", "high"} (95% intervals), "ece" (expected
    calibration error of the calibrated out-of-fold scores), "reliability" (per score bin),
    "folds" (folds used) and "groups" (tracks or albums); or {"unavailable": reason}."""

    created_at: float
    likes: int
    skips: int
    repeats: int
    seconds: float
    splits: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class TrainerBusy(PrefrecError):
    """Another process holds the data dir's trainer lock."""



class LearningController(Controller):
    """Pretraining, training, scoring and publishing rankings. One trainer at a time per data dir
    (lock.TRAINER_LOCK): `train` while another process trains waits for it, up to
    `trainer_wait_s`, then says who holds it."""

    def refresh_model(self, *, retrain: bool = False, fast: bool = False,
                      progress: Progress | None = None) -> tuple[TrainResult | None, int]:
        """Retrain if feedback changed since the last model (or `retrain`, or its checkpoint cannot
        be used: missing, altered, damaged), else score tracks it has not scored and publish.
        fast: when only feedback changed, refit the head alone on stored representations
        (update_head: seconds) instead of the full fine-tune and rescore. Returns (the training, if
        one ran; how many tracks were scored without one). Raises NotReady (with the reason) when
        the feedback cannot train a model yet."""
        from prefrec.checkpoint import BadCheckpoint
        from prefrec.scoring import NonFiniteScores

        with self._trainer_lock():
            model_row = self.store.latest_model()
            if retrain or model_row is None or model_row.last_feedback_id != self.store.last_feedback_id():
                if fast and not retrain and model_row is not None:
                    try:
                        return self._update_head(model_row, progress=progress), 0
                    except (BadCheckpoint, NonFiniteScores) as exc:
                        return self._train(progress=progress, rebuilt_because=str(exc)), 0
                return self._train(progress=progress), 0
            missing = self._unscored(model_row.id)
            if not missing and self.store.ranked_model_id() == model_row.id:
                return None, 0
            try:
                self._score_and_publish(self.load_model(model_row), model_row.id, missing, progress=progress)
            except (BadCheckpoint, NonFiniteScores) as exc:
                return self._train(progress=progress, rebuilt_because=getattr(exc, "problem", str(exc))), 0
            return None, len(missing)

    def full_retrain_due(self) -> bool:
        """Whether the newest model is a head-only update: feedback its encoder has not learnt from
        waits for a full fine-tune (the daemon runs it in a quiet spell, see Settings)."""
        model_row = self.store.latest_model()
        return model_row is not None and "head_update" in model_row.config

    def load_model(self, row: ModelRow) -> Any:
        """The TasteModel of a models-table row, its file checked against the recorded hash."""
        from prefrec.checkpoint import load_checkpoint

        return load_checkpoint(row.file(self.settings.home), sha256=row.sha256).model

    def needs_scoring(self) -> bool:
        """Whether the newest model is not the ranked one or has not scored every present track."""
        model_row = self.store.latest_model()
        if model_row is None:
            return False
        return self.store.ranked_model_id() != model_row.id or bool(self._unscored(model_row.id))

    def _unscored(self, model_id: int) -> set[str]:
        """Present identities that model `model_id` has not scored yet."""
        return self.store.present_identities() - self.store.scored_identities(model_id)

    def train(self, *, progress: Progress | None = None) -> TrainResult:
        """Fit the model on all feedback, save it, rescore every track, publish rankings. When the
        current model's file cannot be used (missing, altered), the result says so."""
        from prefrec.service.names import ensure_scanned

        ensure_scanned(self.store)
        with self._trainer_lock():
            current = self.store.latest_model()
            return self._train(progress=progress, rebuilt_because=self.checkpoint_problem(current) if current else None)

    def checkpoint_problem(self, row: ModelRow) -> str | None:
        """Why the checkpoint of models-table row `row` cannot be used (missing, unreadable, not the
        file prefrec saved), or None when its file is there with the recorded hash."""
        from prefrec.checkpoint import BadCheckpoint, read_verified

        try:
            read_verified(row.file(self.settings.home), sha256=row.sha256)
        except BadCheckpoint as exc:
            return exc.problem
        return None

    @contextmanager
    def _trainer_lock(self) -> Iterator[None]:
        """Hold the data dir's trainer lock (reentrant within this controller)."""
        from prefrec.lock import TRAINER_LOCK, LockHeld, PidLock

        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        lock = PidLock(self.settings.home / TRAINER_LOCK, what="a training")
        try:
            lock.acquire(wait_s=self.settings.trainer_wait_s)
        except LockHeld as exc:
            raise TrainerBusy(f"{self.settings.home}: another prefrec process (pid {exc.pid or 'unknown'}) is "
                              "training; wait for it to finish (`prefrec status` shows the daemon's state)") from None
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            lock.release()

    _lock_depth = 0

    def _train(self, *, progress: Progress | None = None, rebuilt_because: str | None = None) -> TrainResult:
        from prefrec.checkpoint import save_checkpoint
        from prefrec.labels import derive
        from prefrec.train import fit_calibrated

        last_feedback_id = self.store.last_feedback_id()
        rules = self.settings.label_rules()
        labels = derive(self._music_log(), rules)
        if not labels:
            if not self.store.has_live_feedback():  # every rating withdrawn (perhaps while a training ran)
                self.store.clear_rankings()
            raise NotReady("no feedback yet: rate a few tracks with `prefrec like` / `prefrec skip` first")
        examples = [example for example, _ in self._examples(labels)]
        library = sorted(self.store.present_identities())
        pretrained = self.ensure_pretrained(progress=progress)
        config = self.train_config()
        model, report = fit_calibrated(examples, self._library_sample(library), config=config,
                                       init=pretrained.model if pretrained else None,
                                       progress=(lambda done, total: progress("fine-tuning", done, total))
                                       if progress else None, workers=self.settings.workers)
        quality = model_quality(report)
        relative = Path("models") / f"model-{int(time.time() * 1000)}-{last_feedback_id}.pt"
        sha256 = save_checkpoint(model, self.settings.home / relative, train_config=config)
        model_id = self.store.add_model(
            str(relative), {"model": model.config.to_json(), "train": asdict(config), "labels": rules.to_json(),
                            "pretrained": pretrained.extra.get("fingerprint") if pretrained else None,
                            "quality": quality},
            last_feedback_id=last_feedback_id, n_rated=len({e.identity for e in examples}), train_s=report.seconds,
            sha256=sha256,
        )
        started = time.perf_counter()
        scored = self._score_and_publish(model, model_id, set(library), progress=progress)
        self._prune_checkpoints()
        return TrainResult(model_id, report.n_likes, report.n_skips, report.epochs, report.seconds,
                           scored, time.perf_counter() - started, rebuilt_because, quality)

    def _examples(self, labels: dict[str, list[Any]]) -> list[tuple[Any, Any]]:
        """(train.Example, labels.Label) of every label (labels.derive's, by identity) whose music's
        features are cached, in identity order: what `train` and `evaluate` learn from."""
        from prefrec.train import example_from_label

        pairs = []
        for identity, found in sorted(labels.items()):
            features = self.cache.get(identity)
            if features is None:
                continue  # the music is gone and its features with it; its feedback stays in the log
            pairs += [(example_from_label(label, features), label) for label in found]
        return pairs

    def train_config(self) -> Any:
        """The TrainConfig of this data dir's settings (seed, epochs)."""
        from prefrec.train import TrainConfig

        epochs = {"epochs": self.settings.train_max_epochs} if self.settings.train_max_epochs > 0 else {}
        return TrainConfig(seed=self.settings.train_seed, **epochs)

    def _library_sample(self, library: list[str]) -> list[Any]:
        """Features [n_mfcc, T] of up to 200 tracks spread evenly over the library (sorted
        identities): what a fit standardises its inputs and its blend on."""
        step = max(1, len(library) // 200)
        return [f for i in library[::step] if (f := self.cache.get(i)) is not None]

    # -- evaluation ----------------------------------------------------------------------------------

    def evaluate(self, *, repeats: int = 2, progress: Progress | None = None) -> Evaluation:
        """Repeated cross-validation on the explicit ratings, split by track and grouped by album
        (by folder when untagged): each fold trains as `train` does (implicit labels included,
        except those of held-out music) and scores the held-out tracks, next to the baseline on
        the same folds. Calibration is judged as `train` fits it: scale and bias fitted on the
        out-of-fold predictions of the other folds. Saved for `status`. Raises NotReady with
        fewer than MIN_EVALUATION_RATINGS explicit likes or skips."""
        from prefrec.labels import derive
        from prefrec.train import library_sample

        started = time.perf_counter()
        labels = derive(self._music_log(), self.settings.label_rules())
        examples, explicit = [], {}
        for example, label in self._examples(labels):
            examples.append(example)
            if label.explicit:
                explicit[example.identity] = example
        likes = sum(1 for e in explicit.values() if e.label == 1.0)
        skips = len(explicit) - likes
        missing = [f"{MIN_EVALUATION_RATINGS - n} more {what}" for n, what in
                   ((likes, "you like"), (skips, "you do not like")) if n < MIN_EVALUATION_RATINGS]
        if missing:
            raise NotReady(f"evaluate needs at least {MIN_EVALUATION_RATINGS} liked and {MIN_EVALUATION_RATINGS} "
                           f"skipped tracks you rated yourself (have {likes} and {skips}): rate "
                           + " and ".join(missing))
        pretrained = self.ensure_pretrained()
        init = pretrained.model if pretrained else None
        config = self.train_config()
        sample = library_sample(self._library_sample(sorted(self.store.present_identities()))
                                or [e.features for e in examples], config=config, init=init)
        tracks = {t.identity: t for t in self.store.tracks()}
        identities = sorted(explicit)
        groupings = {"track": {i: i for i in identities},
                     "album": {i: _album_key(tracks.get(i), explicit[i]) for i in identities}}
        for example in examples:  # implicit labels of music with no rating follow their album
            groupings["album"].setdefault(example.identity, _album_key(tracks.get(example.identity), example))
        total = repeats * len(groupings)
        splits = {}
        for n, (name, group_of) in enumerate(groupings.items()):
            def step(done: int, of: int, n: int = n, name: str = name) -> None:
                if progress:
                    progress(n * repeats * 100 + done * repeats * 100 // max(of, 1), total * 100, name)

            splits[name] = _cross_validated(examples, explicit, identities, group_of, sample, config, init,
                                            repeats=repeats, progress=step)
        result = Evaluation(time.time(), likes, skips, repeats, time.perf_counter() - started, splits)
        self.store.set_meta(EVALUATION_META, json.dumps(result.to_json()))
        return result

    def plot_evaluation(self, evaluation: dict[str, Any], out: Path) -> Path:
        """Draw an evaluation (Evaluation.to_json()) as a PNG at `out` (needs the `plot` extra)."""
        from prefrec.evaluation import plot_evaluation
        from prefrec.service.queries import check_writable

        check_writable(out)
        plot_evaluation(out, evaluation)
        return out

    def latest_evaluation(self) -> dict[str, Any] | None:
        """The latest `evaluate` result (Evaluation.to_json()), or None."""
        text = self.store.get_meta(EVALUATION_META)
        return json.loads(text) if text else None

    # -- self-supervised pretraining ---------------------------------------------------------------

    @property
    def pretrained_path(self) -> Path:
        return self.settings.models_dir / "pretrained.pt"

    def _music_log(self) -> list[Any]:
        """The feedback log with every row about a file of a recording other files share (a
        re-encoded or truncated copy) told about the one file of it training learns from
        (Store.preferred_files, when its features are cached). So a rating follows the music to its other
        files (an ogg liked, then converted to mp3 and deleted, still teaches), and the latest
        rating of any of its files is the music's rating."""
        from dataclasses import replace

        log = self.store.feedback_log()
        cache = self.cache
        use = {i: p for i, p in self.store.preferred_files().items() if p != i and cache.has(p)}
        return [replace(row, identity=use[row.identity]) if row.identity in use else row for row in log]

    def ensure_pretrained(self, *, progress: Progress | None = None) -> Checkpoint | None:
        """The pretrained encoder's checkpoint, pretraining first when there is none usable (a
        library scanned before pretraining existed); None when the library is too small."""
        current = self.load_pretrained()
        if current is None and self.pretrain_if_needed(progress=progress) is not None:
            current = self.load_pretrained()
        return current

    def pretrain_if_needed(self, *, progress: Progress | None = None) -> PretrainResult | None:
        """Pretrain the model's CNN+LSTM on the whole analysed library, without labels, when there is
        no usable pretrained checkpoint or the library has changed enough since (pretrain.library_changed).

        Minutes for a large library, so the daemon calls this when idle; `scan` calls it after
        analysing. Returns None when nothing was done (up to date, or too few tracks to learn from).
        """
        import numpy as np

        from prefrec.checkpoint import save_checkpoint
        from prefrec.model import ModelConfig
        from prefrec.pretrain import PRETRAIN_VERSION, library_changed, library_fingerprint, pretrain

        with self._trainer_lock():
            cache = self.cache
            present = sorted(i for i in self.store.present_identities() if cache.has(i))
            config = self.pretrain_config()
            if len(present) < config.min_tracks:
                return None
            current = self.load_pretrained()
            if current is not None and not library_changed(set(current.extra.get("identities", [])), set(present)):
                return None
            sample = present
            if len(present) > config.max_tracks:  # a fixed-seed sample keeps memory and time bounded
                rng = np.random.default_rng(config.seed)
                sample = sorted(present[int(i)] for i in rng.choice(len(present), config.max_tracks, replace=False))
            used: list[str] = []  # the identities whose features were read, in order

            def features() -> Iterator[Any]:
                for identity in sample:
                    found = cache.get(identity)
                    if found is not None:
                        used.append(identity)
                        yield found

            model, report = pretrain(features(), model_config=ModelConfig(), config=config,
                                     progress=(lambda done, total: progress("pretraining", done, total))
                                     if progress else None)
            sha256 = save_checkpoint(model, self.pretrained_path, extra={
                "kind": "pretrained", "pretrain_version": PRETRAIN_VERSION, "pretrain_config": asdict(config),
                "fingerprint": library_fingerprint(present), "identities": present,
            })
            self.store.set_meta("pretrained_sha256", sha256)
            if report.embeddings is not None:
                self._choose_starter(used, report.embeddings)
            return PretrainResult(len(sample), report.steps, report.seconds)

    def pretrain_config(self) -> Any:
        """The PretrainConfig of this data dir's settings (seed, most steps)."""
        from prefrec.pretrain import PretrainConfig

        steps = {"max_steps": self.settings.pretrain_max_steps} if self.settings.pretrain_max_steps > 0 else {}
        return PretrainConfig(seed=self.settings.train_seed, **steps)

    def _choose_starter(self, identities: list[str], embeddings: Any) -> None:
        """Store the starter set's order (prefrec.starter) over these tracks and their sound
        embeddings float32 [n, H], grouped by top folder, folder and artist; at most
        starter.MAX_POINTS of them, a fixed-seed sample of a larger library."""
        import numpy as np

        from prefrec.starter import MAX_POINTS, library_groups, starter_order

        tracks = {t.identity: t for t in self.store.tracks()}
        keep = [k for k, identity in enumerate(identities) if identity in tracks]
        if len(keep) > MAX_POINTS:
            rng = np.random.default_rng(self.settings.train_seed)
            keep = sorted(int(k) for k in rng.choice(keep, MAX_POINTS, replace=False))
        chosen = [tracks[identities[k]] for k in keep]
        groups = library_groups([t.path for t in chosen], [t.artist for t in chosen])
        order = starter_order(embeddings[keep], groups)
        self.store.set_starter([identities[keep[i]] for i in order])

    def load_pretrained(self) -> Checkpoint | None:
        """The pretrained encoder's checkpoint, or None if absent, altered, unreadable or of another
        version (then it is recomputed, never misread)."""
        from prefrec.checkpoint import BadCheckpoint, load_checkpoint
        from prefrec.model import ModelConfig
        from prefrec.pretrain import PRETRAIN_VERSION

        if not self.pretrained_path.is_file():
            return None
        try:
            checkpoint = load_checkpoint(self.pretrained_path, sha256=self.store.get_meta("pretrained_sha256"))
        except BadCheckpoint:
            return None
        if checkpoint.extra.get("pretrain_version") != PRETRAIN_VERSION or checkpoint.model.config != ModelConfig():
            return None
        return checkpoint

    def _update_head(self, base: ModelRow, *, progress: Progress | None = None) -> TrainResult:
        """Refit the head of model `base` on all feedback, over stored window representations
        (prefrec.reps; computed first for rated tracks that have none), save it as a new model and
        rescore every track through the head alone. The encoder stays `base`'s."""
        from prefrec.checkpoint import load_checkpoint, save_checkpoint
        from prefrec.labels import derive
        from prefrec.reps import RepCache, encoder_fingerprint
        from prefrec.rescoring import job_for, score_tracks
        from prefrec.train import RepExample, TrainConfig, fit_head, label_window_weights

        last_feedback_id = self.store.last_feedback_id()
        rules = self.settings.label_rules()
        labels = derive(self.store.feedback_log(), rules)
        if not labels:
            raise NotReady("no feedback yet: rate a few tracks with `prefrec like` / `prefrec skip` first")
        model = load_checkpoint(base.file(self.settings.home), sha256=base.sha256).model
        fingerprint = encoder_fingerprint(model)
        reps = RepCache(self.settings.reps_dir, fingerprint)
        lacking = [i for i in sorted(labels) if reps.load(i) is None]
        if lacking:  # rated tracks scored before representations were stored: compute theirs now
            for _ in score_tracks(model, job_for(base, self.settings, fingerprint=fingerprint), lacking, workers=1):
                pass
        examples = []
        for identity, found in sorted(labels.items()):
            stored = reps.load(identity)
            if stored is None:
                continue  # the music is gone and its features with it; its feedback stays in the log
            values, n_frames = stored
            examples += [RepExample(identity, values, label.target, label_window_weights(label, n_frames), label.weight)
                         for label in found]
        config = TrainConfig(seed=self.settings.train_seed)
        new_model, report = fit_head(model, examples, config=config)
        encoder = base.config.get("head_update") or {"encoder_model_id": base.id,
                                                     "encoder_feedback_id": base.last_feedback_id}
        relative = Path("models") / f"model-{int(time.time() * 1000)}-{last_feedback_id}.pt"
        sha256 = save_checkpoint(new_model, self.settings.home / relative, train_config=config,
                                 extra={"head_update_of": base.id})
        model_id = self.store.add_model(
            str(relative), {**{k: v for k, v in base.config.items() if k != "head_update"},
                            "train": asdict(config), "labels": rules.to_json(), "head_update": encoder},
            last_feedback_id=last_feedback_id, n_rated=len({e.identity for e in examples}), train_s=report.seconds,
            sha256=sha256,
        )
        started = time.perf_counter()
        scored = self._score_and_publish(new_model, model_id, self.store.present_identities(), progress=progress,
                                         reps=reps)
        self._prune_checkpoints()
        return TrainResult(model_id, report.n_likes, report.n_skips, 0, report.seconds, scored,
                           time.perf_counter() - started, kind="head")

    def _score_and_publish(self, model: Any, model_id: int, identities: set[str], *,
                           progress: Progress | None = None, reps: Any = None) -> int:
        """Score `identities` with `model` (saved as model `model_id`), store them, publish the ranking.

        reps: a reps.RepCache of the model's encoder: tracks it holds are scored by the head alone
        (score_reps), the others in full. Without it every track is scored in full, in parallel
        (rescoring.score_tracks), storing representations; a full rescore then drops the
        representations of other encoders."""
        from prefrec.reps import RepCache, encoder_fingerprint
        from prefrec.rescoring import job_for, score_tracks
        from prefrec.scoring import encode_f32, ranking, score_reps

        row = self.store.model(model_id)
        assert row is not None
        fingerprint = reps.fingerprint if reps is not None else encoder_fingerprint(model)
        total, done = len(identities), 0
        pending: list[tuple[str, bytes, bytes]] = []

        def add(identity: str, probs: bytes | None, embedding: bytes | None) -> None:
            nonlocal done
            done += 1
            if probs is not None and embedding is not None:
                pending.append((identity, probs, embedding))
            if len(pending) >= 500:
                self.store.save_window_scores(model_id, pending)
                pending.clear()
            if progress:
                progress("scoring", done, total)

        full = sorted(identities)
        if reps is not None:
            full = []
            for identity in sorted(identities):
                stored = reps.load(identity)
                if stored is None:
                    full.append(identity)
                    continue
                probs, embedding = score_reps(model, stored[0])
                add(identity, encode_f32(probs), encode_f32(embedding))
        job = job_for(row, self.settings, fingerprint=fingerprint)
        for identity, probs, embedding in score_tracks(model, job, full, workers=self.settings.workers):
            add(identity, probs, embedding)
        if pending:
            self.store.save_window_scores(model_id, pending)
        published = self.store.publish_rankings(model_id, ranking(self.store.window_score_blobs(model_id)))
        if reps is None:  # the newest encoder's set is the only one worth keeping
            RepCache(self.settings.reps_dir, fingerprint).prune({fingerprint})
        return published

    def _prune_checkpoints(self, *, retain: int = 3) -> None:
        """Delete the checkpoints of all but the newest `retain` models (and never the ranked
        one's): only files the models table records, never anything else in models/."""
        paths = self.store.model_paths()
        ranked = self.store.ranked_model_id()
        keep = set(paths[-retain:]) | ({self.store.model(ranked).path} if ranked and self.store.model(ranked) else set())
        home = self.settings.home
        for path in paths[:-retain]:
            if path in keep:
                continue
            file = Path(path) if Path(path).is_absolute() else home / path
            if file.parent == self.settings.models_dir and file.name.startswith("model-"):
                file.unlink(missing_ok=True)


def _album_key(track: Any, example: Any) -> str:
    """What groups music into albums for `evaluate`: artist and album tags, or the folder when
    the album is untagged (or the identity when the track is not in the library any more)."""
    if track is None:
        return f"identity:{example.identity}"
    if track.album:
        return f"album:{(track.artist or '').casefold()}\x1f{track.album.casefold()}"
    return f"folder:{os.path.dirname(track.path)}"


def _cross_validated(examples: list[Any], explicit: dict[str, Any], identities: list[str], group_of: dict[str, str],
                     sample: Any, config: Any, init: Any, *, repeats: int,
                     progress: Callable[[int, int], None]) -> dict[str, Any]:
    """One grouping's repeated cross-validation (see LearningController.evaluate)."""
    import numpy as np

    from prefrec.calibration import expected_calibration_error, fit_calibration, reliability
    from prefrec.evaluation import (
        N_FOLDS,
        assign_folds,
        auc,
        auc_interval,
        baseline_scores,
        bootstrap,
        cross_validate,
        paired_bootstrap,
        precision_at,
        usable_folds,
    )
    from prefrec.stats import track_stats
    from prefrec.train import fit, raw_window_logits

    y = np.array([explicit[i].label for i in identities])
    groups = [group_of[i] for i in identities]
    n_groups = len(set(groups))
    assigned = [assign_folds(groups, y, N_FOLDS, config.seed + r) for r in range(repeats)]
    folds_per_repeat = [usable_folds(folds, y) for folds in assigned]
    if n_groups < 3 or min(len(f) for f in folds_per_repeat) < 2:
        return {"unavailable": f"{n_groups} groups: too few that hold both liked and other music to hold "
                               "some out and still learn from the rest"}
    # A track is scored when its fold's training part holds both classes: if the scored tracks are
    # all liked or all not (the liked music all in one album, say), there is no ROC-AUC to estimate.
    scorable = np.zeros(len(y), dtype=bool)
    for folds, usable in zip(assigned, folds_per_repeat):
        scorable |= np.isin(folds, usable)
    if len(set(y[scorable].tolist())) < 2:
        return {"unavailable": f"the music you {'like' if y[~scorable].any() else 'do not like'} is in too "
                               "few groups to hold some out and still learn from the rest"}
    summaries = {i: track_stats(explicit[i].features) for i in identities}
    logits: dict[tuple[int, str], np.ndarray] = {}
    repeat_of_call = []

    def fit_predict(train_idx: np.ndarray, test_idx: np.ndarray) -> dict[str, np.ndarray]:
        held_groups = {groups[i] for i in test_idx}
        rest = [e for e in examples if group_of.get(e.identity, e.identity) not in held_groups]
        model, _ = fit(rest, sample, config=config, init=init)
        repeat = repeat_of_call[-1]
        out = []
        for i in test_idx:
            z = raw_window_logits(model, explicit[identities[i]].features)
            logits[(repeat, identities[i])] = z
            out.append(float(np.mean(1.0 / (1.0 + np.exp(-z)))))
        train_ids = [identities[i] for i in train_idx]
        base = baseline_scores(np.stack([summaries[i] for i in train_ids]), y[train_idx],
                               np.stack([summaries[identities[i]] for i in test_idx]))
        return {"prefrec": np.array(out), "baseline": base}

    per_repeat = []
    for r in range(repeats):
        repeat_of_call.append(r)

        def tick(d: int, total: int, r: int = r) -> None:
            progress(r * total + d, repeats * total)

        per_repeat += cross_validate(y, groups, fit_predict, repeats=1, seed=config.seed + r, progress=tick)
    mean_scores = {m: np.nanmean(np.stack([rep[m] for rep in per_repeat]), axis=0) for m in ("prefrec", "baseline")}
    scored = ~np.isnan(mean_scores["prefrec"])
    ys, gs = y[scored], [g for g, ok in zip(groups, scored) if ok]
    result: dict[str, Any] = {"groups": n_groups, "folds": sum(len(f) for f in folds_per_repeat),
                              "tracks": int(scored.sum())}
    # Tracks one by one: the score interval for ROC-AUC, which holds its 95% with a handful of likes
    # (evaluation.auc_interval); albums: the bootstrap over albums, which keeps an album's tracks together.
    by_track = n_groups == len(identities)
    for method in ("prefrec", "baseline"):
        s = mean_scores[method][scored]
        result[method] = {"auc": (auc_interval(s, ys) if by_track else bootstrap(auc, s, ys, gs)).to_json(),
                          "p10": bootstrap(precision_at, s, ys, gs).to_json()}
    result["difference"] = {"auc": paired_bootstrap(auc, mean_scores["prefrec"][scored], mean_scores["baseline"][scored],
                                                    ys, gs).to_json()}
    # Calibration as train fits it: on the other folds' out-of-fold predictions (cross-fitted).
    calibrated, truth = [], []
    for r in range(repeats):
        folds = assigned[r]
        for f in folds_per_repeat[r]:
            others = [identities[i] for i in np.flatnonzero(folds != f) if (r, identities[i]) in logits]
            if len({explicit[i].label for i in others}) < 2:
                continue
            cal = fit_calibration([logits[(r, i)] for i in others], [explicit[i].label for i in others])
            for i in np.flatnonzero(folds == f):
                calibrated.append(cal.track_score(logits[(r, identities[i])]))
                truth.append(y[i])
    result["ece"] = round(expected_calibration_error(calibrated, truth), 4) if calibrated else None
    result["reliability"] = reliability(calibrated, truth) if calibrated else []
    return result
