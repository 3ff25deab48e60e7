"""Use-cases about learning: pretrain on the library, fine-tune on feedback, score, publish."""

from __future__ import annotations

import time
from collections.abc import Iterator
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
    kind: str = "full"  # "full": encoder and head fine-tuned; "head": the head alone (update_head)


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
        from prefrec.train import TrainConfig, example_from_label, fit

        last_feedback_id = self.store.last_feedback_id()
        rules = self.settings.label_rules()
        labels = derive(self._music_log(), rules)
        if not labels:
            if not self.store.has_live_feedback():  # every rating withdrawn (perhaps while a training ran)
                self.store.clear_rankings()
            raise NotReady("no feedback yet: rate a few tracks with `prefrec like` / `prefrec skip` first")
        cache = self.cache
        examples = []
        for identity, found in sorted(labels.items()):
            features = cache.get(identity)
            if features is None:
                continue  # the music is gone and its features with it; its feedback stays in the log
            examples += [example_from_label(label, features) for label in found]
        library = sorted(self.store.present_identities())
        pretrained = self.ensure_pretrained(progress=progress)
        step = max(1, len(library) // 200)
        library_features = [] if pretrained else [f for i in library[::step] if (f := cache.get(i)) is not None]
        epochs = {"max_epochs": self.settings.train_max_epochs} if self.settings.train_max_epochs > 0 else {}
        config = TrainConfig(seed=self.settings.train_seed, **epochs)
        model, report = fit(examples, library_features, config=config, init=pretrained.model if pretrained else None,
                            progress=(lambda done, total: progress("fine-tuning", done, total)) if progress else None)
        relative = Path("models") / f"model-{int(time.time() * 1000)}-{last_feedback_id}.pt"
        sha256 = save_checkpoint(model, self.settings.home / relative, train_config=config)
        model_id = self.store.add_model(
            str(relative), {"model": model.config.to_json(), "train": asdict(config), "labels": rules.to_json(),
                            "pretrained": pretrained.extra.get("fingerprint") if pretrained else None},
            last_feedback_id=last_feedback_id, n_rated=len({e.identity for e in examples}), train_s=report.seconds,
            sha256=sha256,
        )
        started = time.perf_counter()
        scored = self._score_and_publish(model, model_id, set(library), progress=progress)
        self._prune_checkpoints()
        return TrainResult(model_id, report.n_likes, report.n_skips, report.epochs, report.seconds,
                           scored, time.perf_counter() - started, rebuilt_because)

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
        from prefrec.pretrain import PRETRAIN_VERSION, PretrainConfig, library_changed, library_fingerprint, pretrain

        with self._trainer_lock():
            cache = self.cache
            present = sorted(i for i in self.store.present_identities() if cache.has(i))
            config = PretrainConfig(seed=self.settings.train_seed)
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
