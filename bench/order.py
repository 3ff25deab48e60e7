"""Order sensitivity (seed 003, experiment 2): does the model hear "instrument A, then B"?

Training clips (8 s, one window each): A (flute-like) then, after a 1.2 s gap (60 frames), B (plucked
string) is labelled 1; B then A, A alone, B alone, A then A and B then B are labelled 0. Pitches vary
per clip. Test: fresh A->B clips whose gap is shortened by 0, 2, 6, 10 and 50 frames (50 frames = 1 s),
fresh B->A clips and fresh clips of the other negative kinds. Two models with the same CNN:
  CNN only   - the time-axis CNN's output sequence flattened into a linear layer (position-specific),
  CNN+LSTM   - prefrec's TasteModel (CNN -> LSTM -> head), trained with prefrec.train.fit.
Each cell is the mean predicted probability, over clips and over seeds. Usage:

    python bench/order.py [--seeds 3] [--clips 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TRAIN_GAP_FRAMES = 60
SHORTENED = (0, 2, 6, 10, 50)
NEGATIVES = ("BA", "A", "B", "AA", "BB")
SEED_FIGURES = {  # seed 003, experiment 2 (see DESIGN.md): (CNN, CNN+LSTM)
    "A->B, gap shortened by 0 frames": (0.999, 0.999), "A->B, gap shortened by 2 frames": (0.910, 0.999),
    "A->B, gap shortened by 6 frames": (0.323, 0.998), "A->B, gap shortened by 10 frames": (0.119, 0.993),
    "A->B, gap shortened by 50 frames": (0.000, 0.014), "B->A": (0.000, 0.002),
    "label-0 clips seen in training (fresh)": (0.000, 0.000),
}


def clip_features(sequence: str, seed: int, gap_frames: int = TRAIN_GAP_FRAMES) -> np.ndarray:
    """MFCCs float32 [20, 400] of one 8 s two-instrument clip."""
    from prefrec.features import FRAMES_PER_S, WINDOW_FRAMES, mfcc
    from prefrec.synth import instrument_clip

    audio = instrument_clip(sequence, seed, gap_s=gap_frames / FRAMES_PER_S)
    return mfcc(audio)[:, :WINDOW_FRAMES]


def training_set(n_clips: int, seed: int) -> tuple[list[np.ndarray], list[float]]:
    """Half A->B clips (label 1); a quarter B->A (the only negative with the same sounds) and a
    quarter spread over the other negative kinds (label 0)."""
    feats, labels = [], []
    others = NEGATIVES[1:]
    for i in range(n_clips):
        if i % 2 == 0:
            kind, label = "AB", 1.0
        elif i % 4 == 1:
            kind, label = "BA", 0.0
        else:
            kind, label = others[(i // 4) % len(others)], 0.0
        feats.append(clip_features(kind, seed * 100_000 + i))
        labels.append(label)
    return feats, labels


def test_sets(n_clips: int, seed: int) -> dict[str, list[np.ndarray]]:
    base = 10_000_000 + seed * 100_000
    sets = {f"A->B, gap shortened by {d} frames": [clip_features("AB", base + i, TRAIN_GAP_FRAMES - d)
                                                    for i in range(n_clips)] for d in SHORTENED}
    sets["B->A"] = [clip_features("BA", base + 50_000 + i) for i in range(n_clips)]
    sets["label-0 clips seen in training (fresh)"] = [
        clip_features(NEGATIVES[1 + i % (len(NEGATIVES) - 1)], base + 70_000 + i) for i in range(n_clips)]
    return sets


def train_cnn_only(feats: list[np.ndarray], labels: list[float], model_config, seed: int, epochs: int = 60):
    """The CNN-only comparison: TasteModel's CNN, flattened, one linear layer; full-batch AdamW."""
    import torch

    from prefrec.model import TasteModel
    from prefrec.train import normalisation

    torch.manual_seed(seed)
    base = TasteModel(model_config)
    mean, std = normalisation(feats)
    base.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    n_out = model_config.channels[-1] * model_config.window_steps
    head = torch.nn.Linear(n_out, 1)
    params = list(base.cnn.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-3)
    x = torch.from_numpy(np.stack(feats))
    y = torch.tensor(labels)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(base.cnn(base.standardise(x)).flatten(1)).squeeze(1), y)
        loss.backward()
        opt.step()

    def predict(f: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(head(base.cnn(base.standardise(torch.from_numpy(np.stack(f)))).flatten(1))).squeeze(1).numpy()

    return predict


def train_cnn_lstm(feats: list[np.ndarray], labels: list[float], model_config, seed: int):
    """prefrec's CNN+LSTM trained by prefrec.train.fit (each clip is one rated 'track' of one window)."""
    from prefrec.scoring import window_probabilities
    from prefrec.train import TrainConfig, fit, make_example

    examples = [make_example(f"clip{i}", f, "like" if y else "skip", None) for i, (f, y) in enumerate(zip(feats, labels))]
    config = TrainConfig(seed=seed, max_epochs=150, learning_rate=3e-3, windows_per_track=1, batch_windows=16,
                         min_tracks_for_validation=10**9)
    model, _ = fit(examples, feats, model_config=model_config, config=config)
    return lambda f: np.array([window_probabilities(model, x)[0] for x in f])


def main() -> None:
    import torch

    from prefrec.model import ModelConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--clips", type=int, default=60, help="training clips per seed")
    ap.add_argument("--test-clips", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = ModelConfig()
    started = time.perf_counter()
    results: dict[str, dict[str, list[float]]] = {}
    for seed in range(args.seeds):
        feats, labels = training_set(args.clips, seed)
        models = {"CNN only": train_cnn_only(feats, labels, config, seed),
                  "CNN+LSTM": train_cnn_lstm(feats, labels, config, seed)}
        for name, clips in test_sets(args.test_clips, seed).items():
            for method, predict in models.items():
                results.setdefault(name, {}).setdefault(method, []).append(float(np.mean(predict(clips))))
    print(f"order benchmark: {args.seeds} seeds x {args.clips} training clips, {args.test_clips} test clips "
          f"per row; mean probability (± std over seeds); {time.perf_counter() - started:.0f} s")
    print("| test clips | CNN only | CNN+LSTM | seed 003 CNN | seed 003 CNN+LSTM |")
    print("|---|---|---|---|---|")
    for name, by_method in results.items():
        cnn, lstm = (np.array(by_method[m]) for m in ("CNN only", "CNN+LSTM"))
        ref = SEED_FIGURES[name]
        print(f"| {name} | {cnn.mean():.3f} ± {cnn.std():.3f} | {lstm.mean():.3f} ± {lstm.std():.3f} "
              f"| {ref[0]:.3f} | {ref[1]:.3f} |")


if __name__ == "__main__":
    main()
