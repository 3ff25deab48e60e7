"""Training the taste model from the listener's feedback.

Labels are per window (prefrec.labels): a like labels all of a track's windows 1; a skip labels
the windows heard before it 0. Every labelled track weighs its label's weight in the loss whatever
its length, and likes and skips weigh the same in total (class balance).

A fit has three parts (model.TasteModel):
1. the deep part: the pretrained CNN+LSTM and a new head, fine-tuned for a fixed number of epochs
   (no early stopping: a handful of held-out ratings chooses noise), `soup_seeds` times from the
   same start with different draws, weights averaged (one model, scored at no extra cost);
2. the wide part: an L2 logistic regression of each window's MFCC statistics and its track's, as
   strongly regularised as the baseline's (C per rated track);
3. the blend: both logits standardised over a sample of the library's windows, then mixed.
`fit_calibrated` adds the calibration: out-of-fold fits (folds never share a track) predict every
rated track, a scale and bias of the logits are fitted on those predictions (prefrec.calibration),
and their ROC-AUC with its interval says whether the ratings separate yet.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from prefrec.errors import NotReady
from prefrec.features import STEP_FRAMES, WINDOW_FRAMES, n_windows, skip_window_weights
from prefrec.model import ModelConfig, TasteModel

if TYPE_CHECKING:
    from prefrec.evaluation import Estimate
    from prefrec.labels import Label


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved in every checkpoint next to the ModelConfig."""

    seed: int = 0
    # When fine-tuning a pretrained encoder, the deep part is the average of the weights of this many
    # fits with seeds seed, seed+1, ... (a "model soup": steadier than any one fit, scored as one model).
    soup_seeds: int = 1
    epochs: int = 8  # a fixed schedule (chosen on exploration repeats 5-6: bench/RESULTS.md)
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    batch_windows: int = 64
    windows_per_track: int = 24  # windows sampled from each rated track per epoch...
    max_windows_per_epoch: int = 2400  # ...fewer when there are many ratings (bounds the cost)
    threads: int = 1  # torch threads while training (see torch_threads)
    # Fine-tuning a pretrained encoder (fit with init=...): the CNN and LSTM learn at this fraction
    # of the learning rate (0 keeps them frozen and only the head learns).
    encoder_lr_scale: float = 0.3
    wide_c: float = 0.1  # inverse L2 strength of the wide part, as C in the baseline (per rated track)
    folds: int = 5  # out-of-fold fits for the calibration and the separation check
    blend_tracks: int = 64  # library tracks sampled for the blend's standardisation...
    blend_windows: int = 16  # ...and windows of each
    # fit_calibrated's fits run in worker processes (when given workers > 1) from this many rated
    # tracks on; with fewer, starting the processes costs more than it saves.
    parallel_min_tracks: int = 20
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
    seconds: float
    calibration: tuple[float, float] = (1.0, 0.0)  # scale, bias
    # ROC-AUC of the out-of-fold predictions of the explicit ratings, with its 95% interval (None
    # when there are too few ratings to tell); `separates` is False when the interval includes 0.5.
    oof_auc: Estimate | None = None
    oof_n: int = 0
    losses: list[float] = field(default_factory=list)  # the deep part's training loss per epoch (first seed)
    # The out-of-fold predictions the calibration and the interval come from (not saved): per
    # explicitly rated track, its uncalibrated window logits [n_windows] and its label.
    oof_logits: list[np.ndarray] = field(default_factory=list)
    oof_labels: list[float] = field(default_factory=list)

    @property
    def separates(self) -> bool:
        return self.oof_auc is not None and self.oof_auc.low > 0.5


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
    class_total = _class_totals(examples)
    for ex in examples:
        usable = np.flatnonzero(ex.weights > 0)
        if not len(usable) or ex.weight <= 0:
            continue
        chosen = rng.choice(usable, size=min(per_track, len(usable)), replace=False)
        # A track weighs its label's weight in total (1 for a rating); each class weighs half of the loss.
        track_weight = 0.5 * ex.weight / class_total[ex.label] / len(chosen)
        for i in chosen:
            windows.append(_padded_window(ex.features, int(i), mean))
            labels.append(ex.label)
            weights.append(track_weight * float(ex.weights[i]))
    return (torch.from_numpy(np.stack(windows)), torch.tensor(labels, dtype=torch.float32),
            torch.tensor(weights, dtype=torch.float32))


@dataclass
class LibrarySample:
    """What a fit needs to know of the whole library, from a sample of its tracks: the input
    standardisation (MFCCs [n_mfcc]; wide statistics [n_wide]) and windows to standardise the
    blended logits on (windows [N, n_mfcc, 400], their statistics [N, n_wide]) and which sampled
    track each window comes from (window_track int [N], 0..tracks-1: the sampled tracks can be
    scored as tracks, e.g. for the share of likes the model expects in the library)."""

    mfcc_mean: np.ndarray
    mfcc_std: np.ndarray
    wide_mean: np.ndarray
    wide_std: np.ndarray
    windows: np.ndarray
    wide: np.ndarray
    window_track: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def library_sample(features: Sequence[np.ndarray], *, model_config: ModelConfig | None = None,
                   config: TrainConfig | None = None, init: TasteModel | None = None) -> LibrarySample:
    """A LibrarySample from feature arrays [n_mfcc, T] of (a sample of) the library's tracks.
    With `init` (a pretrained model) its MFCC standardisation is kept."""
    from prefrec.stats import wide_inputs

    model_config = init.config if init is not None else (model_config or ModelConfig())
    config = config or TrainConfig()
    features = list(features)
    if not features:
        raise ValueError("a library sample needs at least one track")
    if init is not None:
        mean, std = init.mfcc_mean.numpy().copy(), init.mfcc_std.numpy().copy()
    else:
        mean, std = normalisation(features)
    step = max(1, len(features) // max(1, config.blend_tracks))
    windows, wide_rows, all_wide, owner = [], [], [], []
    for track, f in enumerate(features[::step][: config.blend_tracks]):
        rows = wide_inputs(f) if model_config.wide else np.zeros((n_windows(f.shape[1]), 0), dtype=np.float32)
        all_wide.append(rows)
        for i in np.unique(np.linspace(0, len(rows) - 1, num=min(config.blend_windows, len(rows))).astype(int)):
            windows.append(_padded_window(f, int(i), mean))
            wide_rows.append(rows[i])
            owner.append(track)
    stacked = np.concatenate(all_wide)
    return LibrarySample(mean, std, stacked.mean(axis=0), stacked.std(axis=0), np.stack(windows), np.stack(wide_rows),
                         np.array(owner, dtype=np.int64))


def _padded_window(features: np.ndarray, index: int, mean: np.ndarray) -> np.ndarray:
    """Window `index` [n_mfcc, 400]; a short track's is padded with the mean (0 once standardised,
    as TasteModel.track_parts pads)."""
    w = _window(features, index)
    if w.shape[1] < WINDOW_FRAMES:
        w = np.concatenate([w, np.repeat(mean[:, None], WINDOW_FRAMES - w.shape[1], axis=1)], axis=1)
    return w


def _fit_deep(examples: list[Example], model_config: ModelConfig, config: TrainConfig, sample: LibrarySample,
              init: TasteModel | None, seed: int,
              on_epoch: Callable[[], None] | None = None) -> tuple[TasteModel, list[float]]:
    """The deep part: CNN+LSTM+head trained on the windows' labels for config.epochs epochs.
    Returns the model and its mean weighted training loss per epoch; on_epoch() after each epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TasteModel(model_config)
    model.set_normalisation(torch.from_numpy(sample.mfcc_mean), torch.from_numpy(sample.mfcc_std))
    encoder = list(model.cnn.parameters()) + list(model.lstm.parameters())
    if init is None:
        groups = [{"params": encoder + list(model.head.parameters())}]
    else:
        # Start from the pretrained CNN and LSTM (and their input standardisation); the head is new.
        load_encoder(model, init)
        groups = [{"params": list(model.head.parameters())}]
        if config.encoder_lr_scale > 0:
            groups.append({"params": encoder, "lr": config.learning_rate * config.encoder_lr_scale})
        else:
            for p in encoder:
                p.requires_grad_(False)
    optimiser = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    per_track = max(1, min(config.windows_per_track, config.max_windows_per_epoch // max(1, len(examples))))
    losses = []
    for _ in range(config.epochs):
        model.train()
        x, y, w = _sample_batch(examples, rng, per_track, sample.mfcc_mean)
        order = torch.from_numpy(rng.permutation(len(y)))
        total = 0.0
        for start in range(0, len(order), config.batch_windows):
            idx = order[start : start + config.batch_windows]
            optimiser.zero_grad()
            logits = model.deep_logits(model.encode(x[idx]))  # [b]
            loss = (loss_fn(logits, y[idx]) * w[idx]).sum() / w[idx].sum().clamp(min=1e-9)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * float(w[idx].sum())
        losses.append(total / max(float(w.sum()), 1e-9))
        if on_epoch:
            on_epoch()
    return model.eval(), losses


def _fit_wide(model: TasteModel, examples: list[Example] | list[RepExample],
              standardised: Callable[[Example | RepExample], np.ndarray], c: float) -> None:
    """The wide part: weighted L2 logistic regression of every counted window's statistics
    (standardised(example) [n_windows, n_wide], standardised as the model does), each track
    weighing its label's weight and the classes balanced, so that C means what it means for the
    baseline's one row per track."""
    from prefrec.evaluation import fit_logistic

    totals = _class_totals(examples)
    total = totals[0.0] + totals[1.0]
    rows, targets, weights = [], [], []
    for ex in examples:
        counted = np.flatnonzero(ex.weights > 0)
        if not len(counted) or ex.weight <= 0:
            continue
        share = ex.weights[counted].astype(np.float64)
        rows.append(standardised(ex)[counted])
        targets.append(np.full(len(counted), ex.label))
        weights.append(share / share.sum() * ex.weight * (total / 2.0) / totals[ex.label])
    x = np.concatenate(rows)
    coef, intercept = fit_logistic(x, np.concatenate(targets), c=c, weights=np.concatenate(weights))
    with torch.no_grad():
        model.wide_weight.copy_(torch.from_numpy(coef.astype(np.float32)))
        model.wide_bias.fill_(intercept)


def _sample_parts(model: TasteModel, sample: LibrarySample) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The raw deep logits [N] and wide logits [N] (None without the wide part) of the library
    sample's N windows."""
    with torch.inference_mode():
        emb = torch.cat([model.encode(torch.from_numpy(sample.windows[i : i + 512]))
                         for i in range(0, len(sample.windows), 512)])
        deep = model.deep_logits(emb)
        wide = model.wide_logits(torch.from_numpy(sample.wide)) if model.config.wide else None
    return deep, wide


def sample_window_logits(model: TasteModel, sample: LibrarySample) -> np.ndarray:
    """The model's uncalibrated logits float64 [N] of the library sample's N windows."""
    deep, wide = _sample_parts(model, sample)
    with torch.inference_mode():
        return model.blended(deep, wide).double().numpy()


def _set_blend(model: TasteModel, sample: LibrarySample) -> None:
    """Standardise the deep and wide logits over the library sample's windows."""
    deep, wide = _sample_parts(model, sample)
    deep = deep.double()
    wide = wide.double() if wide is not None else torch.zeros(1)
    model.set_blend(float(deep.mean()), float(deep.std()) if len(deep) > 1 else 1.0,
                    float(wide.mean()), float(wide.std()) if len(wide) > 1 else 1.0)


def _class_totals(examples: list[Example]) -> dict[float, float]:
    totals = {0.0: 0.0, 1.0: 0.0}
    for ex in examples:
        totals[ex.label] += ex.weight
    return totals


def fit(examples: list[Example], library: Sequence[np.ndarray] | LibrarySample, *,
        model_config: ModelConfig | None = None, config: TrainConfig | None = None,
        init: TasteModel | None = None, progress: Callable[[int, int], None] | None = None,
        _wide_of: dict[str, np.ndarray] | None = None) -> tuple[TasteModel, TrainReport]:
    """Train a TasteModel on labelled tracks (uncalibrated: see fit_calibrated).

    library: feature arrays [n_mfcc, T] of (a sample of) the whole library, or a LibrarySample
    made from them; with none, the rated tracks stand in. init: a pretrained model
    (pretrain.pretrain) to fine-tune; its config replaces model_config. Raises NotReady without at
    least one like and one skip. progress(epochs done, epochs in all) after each epoch of each seed.
    """
    config = config or TrainConfig()
    model_config = init.config if init is not None else (model_config or ModelConfig())
    _class_counts(examples)
    if not isinstance(library, LibrarySample):
        library = library_sample(list(library) or [e.features for e in examples], model_config=model_config,
                                 config=config, init=init)
    wide_of = _wide_of if _wide_of is not None else _wide_inputs(examples, model_config)
    seeds = _seeds(config, init)
    count = {"done": 0}

    def on_epoch() -> None:
        count["done"] += 1
        if progress:
            progress(count["done"], seeds * config.epochs)

    with torch_threads(config.threads):
        return _fit(examples, library, model_config, config, init, wide_of, on_epoch)


def _seeds(config: TrainConfig, init: TasteModel | None) -> int:
    """Deep fits averaged into one model: the soup's seeds when fine-tuning, else one."""
    return max(1, config.soup_seeds) if init is not None else 1


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


def _wide_inputs(examples: list[Example], model_config: ModelConfig) -> dict[str, np.ndarray]:
    from prefrec.stats import wide_inputs

    return {e.identity: wide_inputs(e.features) for e in examples} if model_config.wide else {}


def _fit(examples: list[Example], sample: LibrarySample, model_config: ModelConfig, config: TrainConfig,
         init: TasteModel | None, wide_of: dict[str, np.ndarray],
         on_epoch: Callable[[], None] | None = None) -> tuple[TasteModel, TrainReport]:
    started = time.perf_counter()
    n_likes, n_skips = _class_counts(examples)
    fits = [_fit_deep(examples, model_config, config, sample, init, config.seed + i, on_epoch)
            for i in range(_seeds(config, init))]
    model = average_weights([m for m, _ in fits])
    if model_config.wide:
        model.set_wide_normalisation(torch.from_numpy(sample.wide_mean), torch.from_numpy(sample.wide_std))
        mean, std = model.wide_mean.numpy(), model.wide_std.numpy()
        _fit_wide(model, examples, lambda ex: (wide_of[ex.identity] - mean) / std, config.wide_c)
    _set_blend(model, sample)
    return model, TrainReport(len(examples), n_likes, n_skips, config.epochs, time.perf_counter() - started,
                              losses=fits[0][1])


def fit_calibrated(examples: list[Example], library: Sequence[np.ndarray] | LibrarySample, *,
                   model_config: ModelConfig | None = None, config: TrainConfig | None = None,
                   init: TasteModel | None = None, progress: Callable[[int, int], None] | None = None,
                   workers: int = 1) -> tuple[TasteModel, TrainReport]:
    """fit(), calibrated: `config.folds` out-of-fold fits (a track's labels all on one side)
    predict each explicitly rated track; calibration (scale, bias) is fitted on those predictions
    and set on the model fitted on everything. The report carries the out-of-fold ROC-AUC with a
    95% interval (evaluation.auc_interval, which holds up with 2-5 likes where a bootstrap over
    tracks does not), or None with fewer than 2 explicit likes and 2 skips.
    progress(epochs done, epochs in all) as fits progress. With workers > 1 the fits (independent,
    each seeded) run in that many processes: the same models, in less time on several cores."""
    from prefrec.calibration import fit_calibration
    from prefrec.evaluation import assign_folds, auc_interval, usable_folds

    config = config or TrainConfig()
    model_config = init.config if init is not None else (model_config or ModelConfig())
    _class_counts(examples)
    started = time.perf_counter()
    if not isinstance(library, LibrarySample):
        library = library_sample(list(library) or [e.features for e in examples], model_config=model_config,
                                 config=config, init=init)
    wide_of = _wide_inputs(examples, model_config)
    explicit = {e.identity: e for e in examples if e.explicit}
    identities = sorted(explicit)
    labels = np.array([explicit[i].label for i in identities])
    oof: list[np.ndarray] = []
    oof_labels: list[float] = []
    held_out: list[set[str]] = []
    if labels.sum() >= 2 and len(labels) - labels.sum() >= 2:
        folds = assign_folds(identities, labels, config.folds, config.seed)
        for f in usable_folds(folds, labels):
            held = {identities[i] for i in np.flatnonzero(folds == f)}
            if len({e.label for e in examples if e.identity not in held}) == 2:
                held_out.append(held)
    per_fit = _seeds(config, init) * config.epochs
    count = {"done": 0}

    def step(done: int, of: int) -> None:
        if progress:
            progress(count["done"] + done, (len(held_out) + 1) * per_fit)

    parts = [*held_out, set()]  # what each fit leaves out: the folds, then nothing (the final fit)
    job = _FitJob(examples, library, model_config, config, init, wide_of)
    fitted = []
    parallel = workers > 1 and len(parts) > 1 and len({e.identity for e in examples}) >= config.parallel_min_tracks
    if parallel:
        def finished() -> None:
            step(per_fit, per_fit)
            count["done"] += per_fit

        fitted = _fit_in_processes(job, parts, workers, finished)
    else:
        for part in parts:
            fitted.append(job.run(part, step))
            count["done"] += per_fit
    for held, (fold_model, _) in zip(held_out, fitted):
        for identity in sorted(held):
            oof.append(raw_window_logits(fold_model, explicit[identity].features))
            oof_labels.append(explicit[identity].label)
    model, report = fitted[-1]
    report.oof_logits, report.oof_labels = oof, oof_labels
    if oof:
        calibration = fit_calibration(oof, oof_labels)
        scores = np.array([float(np.mean(1.0 / (1.0 + np.exp(-z)))) for z in oof])
        y = np.array(oof_labels)
        report.oof_auc = auc_interval(scores, y)
        report.oof_n = len(y)
    else:
        calibration = fit_calibration([np.zeros(1)] * len(examples), [e.label for e in examples])
    model.set_calibration(calibration.scale, calibration.bias)
    report.calibration = (calibration.scale, calibration.bias)
    report.seconds = time.perf_counter() - started
    return model, report


@dataclass(frozen=True)
class _FitJob:
    """What every fit of fit_calibrated shares (picklable, for worker processes)."""

    examples: list[Example]
    library: LibrarySample
    model_config: ModelConfig
    config: TrainConfig
    init: TasteModel | None
    wide_of: dict[str, np.ndarray]

    def run(self, left_out: set[str], progress: Callable[[int, int], None] | None = None
            ) -> tuple[TasteModel, TrainReport]:
        """fit() on the examples of every track but `left_out`."""
        return fit([e for e in self.examples if e.identity not in left_out], self.library, config=self.config,
                   init=self.init, model_config=self.model_config, progress=progress, _wide_of=self.wide_of)


_WORKER_JOB: _FitJob | None = None


def _init_fit_worker(job: _FitJob) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _run_fit(left_out: set[str]) -> tuple[TasteModel, TrainReport]:
    assert _WORKER_JOB is not None
    return _WORKER_JOB.run(left_out)


def _fit_in_processes(job: _FitJob, parts: list[set[str]], workers: int,
                      on_fit: Callable[[], None]) -> list[tuple[TasteModel, TrainReport]]:
    """job.run(part) for every part in up to `workers` spawned processes (the job is sent to each
    once), results in the order of `parts`; on_fit() as each fit ends."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(parts)), mp_context=context,
                             initializer=_init_fit_worker, initargs=(job,)) as pool:
        futures = [pool.submit(_run_fit, part) for part in parts]
        results = []
        for future in futures:
            results.append(future.result())
            on_fit()
        return results


def raw_window_logits(model: TasteModel, features: np.ndarray) -> np.ndarray:
    """features [n_mfcc, T] -> the model's uncalibrated window logits float64 [n_windows(T)]."""
    with torch.inference_mode():
        deep, wide, _ = model.track_parts(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
        return model.blended(deep, wide).double().numpy()


ENCODER_PREFIXES = ("mfcc_mean", "mfcc_std", "cnn.", "lstm.")


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

    As fit does, in two parts: the deep head (on the LSTM states in the representations) takes
    `config.head_steps` full-batch AdamW steps from the current head, the loss weighing tracks and
    classes as fit does (each track its label's weight in total, each class half); the wide part
    (on the standardised statistics in the representations) is refitted as fit fits it. The blend
    and the calibration stay the model's. Seconds on a few hundred ratings. Raises NotReady
    without a like and a skip."""
    import copy

    config = config or TrainConfig()
    started = time.perf_counter()
    n_likes, n_skips = _class_counts(examples)
    hidden = model.config.lstm_hidden
    class_total = _class_totals(examples)
    xs, ys, ws = [], [], []
    for ex in examples:
        used = ex.weights > 0
        if not used.any() or ex.weight <= 0:
            continue
        xs.append(ex.reps[used, :hidden])
        ys.append(np.full(int(used.sum()), ex.label, dtype=np.float32))
        ws.append(0.5 * ex.weight / class_total[ex.label] / int(used.sum()) * ex.weights[used])
    x, y, w = (torch.from_numpy(np.concatenate(a).astype(np.float32)) for a in (xs, ys, ws))
    new = copy.deepcopy(model).eval()  # eval: no dropout; the encoder is never run here
    head = list(new.head.parameters())
    for p in new.parameters():
        p.requires_grad_(False)
    for p in head:
        p.requires_grad_(True)
    torch.manual_seed(config.seed)
    optimiser = torch.optim.AdamW(head, lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    history = []
    with torch_threads(config.threads):
        for _ in range(config.head_steps):
            optimiser.zero_grad()
            loss = (loss_fn(new.deep_logits(x), y) * w).sum() / w.sum().clamp(min=1e-9)
            loss.backward()
            optimiser.step()
            history.append(float(loss.detach()))
    for p in new.parameters():
        p.requires_grad_(True)
    if new.config.wide:
        _fit_wide(new, examples, lambda ex: ex.reps[:, hidden:].astype(np.float64), config.wide_c)
    return new.eval(), TrainReport(len(examples), n_likes, n_skips, 0, time.perf_counter() - started,
                                   losses=history)


def load_encoder(model: TasteModel, source: TasteModel) -> None:
    """Copy `source`'s input standardisation, CNN and LSTM into `model` (same architecture); the
    head and the wide part stay `model`'s own. Strict: every encoder weight must be there and fit."""
    state = model.state_dict()
    wanted = {k for k in state if k.startswith(ENCODER_PREFIXES)}
    encoder = {k: v for k, v in source.state_dict().items() if k in wanted}
    if set(encoder) != wanted or any(encoder[k].shape != state[k].shape for k in wanted):
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
