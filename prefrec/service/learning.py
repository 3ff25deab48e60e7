"""Use-cases about learning: pretrain on the library, fine-tune on feedback, score, publish."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prefrec.errors import NotReady
from prefrec.service.base import Controller, Progress


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



class LearningController(Controller):
    """Pretraining, training, scoring and publishing rankings."""

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
        library = sorted(self.store.present_identities())
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
        present = sorted(i for i in self.store.present_identities() if cache.has(i))
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

