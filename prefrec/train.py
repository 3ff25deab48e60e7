"""Training the taste model from the listener's feedback, and versioned checkpoints.

Labels are per window: a like labels all of a track's windows 1; a skip labels windows 0,
weighted by how much of each the listener heard before skipping (features.skip_window_weights).
Every rated track weighs the same in the loss whatever its length, and likes and skips weigh
the same in total (class balance). With enough ratings, a stratified set of held-out tracks
chooses the number of epochs (early stopping), then the model is refitted on all of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from prefrec.errors import NotReady
from prefrec.features import STEP_FRAMES, WINDOW_FRAMES, n_windows, skip_window_weights
from prefrec.model import ModelConfig, TasteModel

if TYPE_CHECKING:
    from prefrec.labels import Label

@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved in every checkpoint next to the ModelConfig."""

    seed: int = 0
    # When fine-tuning a pretrained encoder, the final model is the average of the weights of this many
    # fits with seeds seed, seed+1, ... (a "model soup": steadier than any one fit, scored as one model).
    soup_seeds: int = 3
    max_epochs: int = 25
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    batch_windows: int = 64
    windows_per_track: int = 24  # windows sampled from each rated track per epoch
    min_tracks_for_validation: int = 10  # need this many rated tracks (>= 3 per class) to early-stop
    validation_fraction: float = 0.25
    patience: int = 4
    threads: int = 1  # torch threads while training (see torch_threads)
    # Fine-tuning a pretrained encoder (fit with init=...): the CNN and LSTM learn at this fraction
    # of the learning rate (0 keeps them frozen and only the head learns).
    encoder_lr_scale: float = 0.3
    # A head-only update (fit_head) on stored representations: full-batch steps from the current head.
    head_steps: int = 200


@dataclass(frozen=True)
class Example:
    """One labelled track: features float32 [n_mfcc, T], label 1.0 (liked) / 0.0 (not), window
    weights [n_windows] (which windows count, 0..1), and the track's weight in the loss (labels.Label)."""

    identity: str
    features: np.ndarray
    label: float
    weights: np.ndarray
    weight: float = 1.0
    explicit: bool = True


@dataclass
class TrainReport:
    n_tracks: int
    n_likes: int
    n_skips: int
    epochs: int
    validation_loss: float | None
    seconds: float
    history: list[float] = field(default_factory=list)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch limited to `n` intra-op threads (restored after).

    Training works on small batches, where a second thread gains little and, on a busy machine,
    threads waiting on each other cost a lot (measured: a fit 5.3 s on 1 thread, 35 s on 2 under load).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_example(identity: str, features: np.ndarray, kind: str, position_s: float | None) -> Example:
    """An Example from a rating ('like' or 'skip', with the skip position in seconds if known)."""
    if kind not in ("like", "skip"):
        raise ValueError(f"unknown rating kind {kind!r}")
    from prefrec.labels import Label

    return example_from_label(Label(identity, 1.0 if kind == "like" else 0.0, 1.0, True, "cli",
                                    skip_at_s=position_s if kind == "skip" else None), features)


def example_from_label(label: Label, features: np.ndarray) -> Example:
    """An Example from a derived label (prefrec.labels) and the track's features [n_mfcc, T]:
    a skip counts the windows heard before its position, a listen leaves out seeked-over spans."""
    return Example(label.identity, features, label.target, label_window_weights(label, features.shape[1]),
                   label.weight, label.explicit)


def label_window_weights(label: Label, n_frames: int) -> np.ndarray:
    """Which windows of a track of n_frames frames a label counts, float32 [n_windows] in 0..1."""
    from prefrec.features import window_bounds_s

    if label.target == 0.0:
        return skip_window_weights(n_frames, label.skip_at_s)
    weights = np.ones(n_windows(n_frames), dtype=np.float32)
    if label.excluded_s:
        for i, (start, end) in enumerate(window_bounds_s(n_frames)):
            if any(start < b and end > a for a, b in label.excluded_s):
                weights[i] = 0.0
    return weights


def normalisation(features: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient mean and std [n_mfcc] over a list of feature arrays [n_mfcc, T]."""
    total = np.zeros(features[0].shape[0], dtype=np.float64)
    total_sq = np.zeros_like(total)
    count = 0
    for f in features:
        total += f.sum(axis=1, dtype=np.float64)
        total_sq += np.square(f, dtype=np.float64).sum(axis=1)
        count += f.shape[1]
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean**2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def _window(features: np.ndarray, index: int) -> np.ndarray:
    """Window `index` of a track: float32 [n_mfcc, 400] (fewer frames only for a short track)."""
    start = index * STEP_FRAMES
    return features[:, start : start + WINDOW_FRAMES]


def _sample_batch(examples: list[Example], rng: np.random.Generator, per_track: int,
                  mean: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows [N, n_mfcc, 400], labels [N], loss weights [N] for one epoch."""
    windows, labels, weights = [], [], []
    class_total = {0.0: 0.0, 1.0: 0.0}
    for ex in examples:
        class_total[ex.label] += ex.weight
    for ex in examples:
        usable = np.flatnonzero(ex.weights > 0)
        if not len(usable) or ex.weight <= 0:
            continue
        chosen = rng.choice(usable, size=min(per_track, len(usable)), replace=False)
        # A track weighs its label's weight in total (1 for a rating); each class weighs half of the loss.
        track_weight = 0.5 * ex.weight / class_total[ex.label] / len(chosen)
        for i in chosen:
            w = _window(ex.features, int(i))
            if w.shape[1] < WINDOW_FRAMES:
                # Pad with the mean: 0 once standardised, as TasteModel.track_outputs pads.
                pad = np.repeat(mean[:, None], WINDOW_FRAMES - w.shape[1], axis=1)
                w = np.concatenate([w, pad], axis=1)
            windows.append(w)
            labels.append(ex.label)
            weights.append(track_weight * float(ex.weights[i]))
    return (torch.from_numpy(np.stack(windows)), torch.tensor(labels, dtype=torch.float32),
            torch.tensor(weights, dtype=torch.float32))


def _track_loss(model: torch.nn.Module, examples: list[Example]) -> float:
    """Mean binary cross-entropy of track scores (mean window probability) on held-out tracks."""
    model.eval()
    losses = []
    with torch.no_grad():
        for ex in examples:
            p = torch.sigmoid(model.track_outputs(torch.from_numpy(ex.features))[0])
            score = float((p * torch.from_numpy(ex.weights)).sum() / max(float(ex.weights.sum()), 1e-6))
            score = min(max(score, 1e-6), 1 - 1e-6)
            losses.append(-np.log(score) if ex.label == 1.0 else -np.log(1 - score))
    return float(np.mean(losses))


def _fit_epochs(examples: list[Example], model_config: ModelConfig, config: TrainConfig,
                mean: np.ndarray, std: np.ndarray, epochs: int,
                validation: list[Example] | None = None,
                init: TasteModel | None = None,
                on_epoch: Callable[[], None] | None = None) -> tuple[TasteModel, list[float]]:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = TasteModel(model_config)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    if init is None:
        groups = [{"params": list(model.parameters())}]
    else:
        # Start from the pretrained CNN and LSTM (and their input standardisation); the head is new.
        load_encoder(model, init)
        encoder = list(model.cnn.parameters()) + list(model.lstm.parameters())
        groups = [{"params": list(model.head.parameters())}]
        if config.encoder_lr_scale > 0:
            groups.append({"params": encoder, "lr": config.learning_rate * config.encoder_lr_scale})
        else:
            for p in encoder:
                p.requires_grad_(False)
    optimiser = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    history: list[float] = []
    best_state, best_loss, since_best = None, float("inf"), 0
    for _ in range(epochs):
        model.train()
        x, y, w = _sample_batch(examples, rng, config.windows_per_track, mean)
        order = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(order), config.batch_windows):
            idx = order[start : start + config.batch_windows]
            optimiser.zero_grad()
            loss = (loss_fn(model(x[idx])[0], y[idx]) * w[idx]).sum() / w[idx].sum().clamp(min=1e-9)
            loss.backward()
            optimiser.step()
        if on_epoch:
            on_epoch()
        if validation:
            history.append(_track_loss(model, validation))
            if history[-1] < best_loss - 1e-4:
                best_loss, since_best = history[-1], 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
                if since_best >= config.patience:
                    break
    if validation and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, history


def _stratified_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    rng = np.random.default_rng(seed + 1)
    train, held = [], []
    for label in (0.0, 1.0):
        group = [e for e in examples if e.label == label]
        order = rng.permutation(len(group))
        n_held = max(1, int(round(len(group) * fraction)))
        held += [group[i] for i in order[:n_held]]
        train += [group[i] for i in order[n_held:]]
    return train, held


def fit(examples: list[Example], library_features: list[np.ndarray], *,
        model_config: ModelConfig | None = None, config: TrainConfig | None = None,
        init: TasteModel | None = None,
        progress: Callable[[int, int], None] | None = None) -> tuple[TasteModel, TrainReport]:
    """Train a TasteModel on rated tracks.

    library_features: feature arrays [n_mfcc, T] of (a sample of) the whole library, for the input
    standardisation (unused with `init`, which brings its own). init: a pretrained model
    (pretrain.pretrain) to fine-tune; its config replaces model_config. Raises NotReady without at
    least one like and one skip. progress(epochs done, epochs in all) after each epoch of every
    fit (choosing the epoch count on held-out tracks, then each seed); the total shrinks once
    early stopping has chosen the count.
    """
    config = config or TrainConfig()
    with torch_threads(config.threads):
        return _fit(examples, library_features, init.config if init is not None else (model_config or ModelConfig()),
                    config, init, progress)


def _class_counts(examples: list) -> tuple[int, int]:
    """(likes, skips) among Examples or RepExamples; NotReady without at least one of each."""
    n_likes = sum(1 for e in examples if e.label == 1.0)
    n_skips = len(examples) - n_likes
    if n_likes == 0 or n_skips == 0:
        from prefrec.render import plural

        raise NotReady(
            f"training needs at least one liked and one skipped track (have {plural(n_likes, 'like')}, "
            f"{plural(n_skips, 'skip')}): rate more with `prefrec like` / `prefrec skip`"
        )
    return n_likes, n_skips


def _fit(examples: list[Example], library_features: list[np.ndarray], model_config: ModelConfig,
         config: TrainConfig, init: TasteModel | None,
         progress: Callable[[int, int], None] | None = None) -> tuple[TasteModel, TrainReport]:
    started = time.perf_counter()
    n_likes, n_skips = _class_counts(examples)
    if init is not None:
        mean, std = init.mfcc_mean.numpy().copy(), init.mfcc_std.numpy().copy()
    else:
        mean, std = normalisation(library_features or [e.features for e in examples])
    epochs, val_loss, history = config.max_epochs, None, []
    seeds = max(1, config.soup_seeds) if init is not None else 1
    validate = len(examples) >= config.min_tracks_for_validation and min(n_likes, n_skips) >= 3
    count = {"done": 0, "total": (config.max_epochs if validate else 0) + seeds * config.max_epochs}

    def on_epoch() -> None:
        count["done"] += 1
        if progress:
            progress(count["done"], count["total"])

    if validate:
        train_part, held = _stratified_split(examples, config.validation_fraction, config.seed)
        _, history = _fit_epochs(train_part, model_config, config, mean, std, config.max_epochs, held, init,
                                 on_epoch)
        best = int(np.argmin(history)) + 1
        epochs, val_loss = best, float(history[best - 1])
        count["total"] = count["done"] + seeds * epochs
    models = [_fit_epochs(examples, model_config, replace(config, seed=config.seed + i), mean, std, epochs,
                          init=init, on_epoch=on_epoch)[0] for i in range(seeds)]
    model = average_weights(models)
    report = TrainReport(len(examples), n_likes, n_skips, epochs, val_loss,
                         time.perf_counter() - started, history)
    return model, report


@dataclass(frozen=True)
class RepExample:
    """A labelled track as its stored window representations (prefrec.reps): reps float32
    [n_windows, D], label 1.0 / 0.0, window weights [n_windows] and the track's weight (as Example)."""

    identity: str
    reps: np.ndarray
    label: float
    weights: np.ndarray
    weight: float = 1.0


def fit_head(model: TasteModel, examples: list[RepExample], *, config: TrainConfig | None = None
             ) -> tuple[TasteModel, TrainReport]:
    """A copy of `model` whose head alone is refitted on stored representations of rated tracks;
    its encoder (standardisation, CNN, LSTM) is untouched, so the representations stay valid.

    The loss weighs tracks and classes as fit does (each track its label's weight in total, each class
    half), over every counted window at once; `config.head_steps` AdamW steps start from the current
    head. Seconds on a few hundred ratings. Raises NotReady without a like and a skip."""
    import copy

    config = config or TrainConfig()
    started = time.perf_counter()
    n_likes, n_skips = _class_counts(examples)
    class_total = {0.0: 0.0, 1.0: 0.0}
    for ex in examples:
        class_total[ex.label] += ex.weight
    xs, ys, ws = [], [], []
    for ex in examples:
        used = ex.weights > 0
        if not used.any() or ex.weight <= 0:
            continue
        xs.append(ex.reps[used])
        ys.append(np.full(int(used.sum()), ex.label, dtype=np.float32))
        ws.append(0.5 * ex.weight / class_total[ex.label] / int(used.sum()) * ex.weights[used])
    x, y, w = (torch.from_numpy(np.concatenate(a).astype(np.float32)) for a in (xs, ys, ws))
    new = copy.deepcopy(model).eval()  # eval: no dropout; the encoder is never run here
    head = [p for name, p in new.named_parameters() if name.startswith(new.HEAD_PREFIX)]
    for name, p in new.named_parameters():
        p.requires_grad_(name.startswith(new.HEAD_PREFIX))
    torch.manual_seed(config.seed)
    optimiser = torch.optim.AdamW(head, lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    history = []
    with torch_threads(config.threads):
        for _ in range(config.head_steps):
            optimiser.zero_grad()
            loss = (loss_fn(new.head_logits(x), y) * w).sum() / w.sum().clamp(min=1e-9)
            loss.backward()
            optimiser.step()
            history.append(float(loss.detach()))
    for p in new.parameters():
        p.requires_grad_(True)
    return new.eval(), TrainReport(len(examples), n_likes, n_skips, 0, None, time.perf_counter() - started, history)


def load_encoder(model: TasteModel, source: TasteModel) -> None:
    """Copy `source`'s input standardisation, CNN and LSTM into `model` (same architecture); the
    head stays `model`'s own. Strict: every encoder weight must be there and fit."""
    state = model.state_dict()
    encoder = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    if set(encoder) != {k for k in state if not k.startswith("head.")}:
        raise ValueError("the pretrained encoder does not match the model's architecture")
    state.update(encoder)
    model.load_state_dict(state, strict=True)


def average_weights(models: list[TasteModel]) -> TasteModel:
    """One model whose parameters are the mean of `models`' (same architecture): the first model,
    changed in place. Averaging is meaningful for fits that start from the same pretrained encoder."""
    if len(models) > 1:
        states = [m.state_dict() for m in models]
        models[0].load_state_dict({k: torch.stack([s[k].float() for s in states]).mean(dim=0).to(states[0][k].dtype)
                                   for k in states[0]})
    return models[0].eval()
