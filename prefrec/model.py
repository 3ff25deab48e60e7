"""The taste model: a CNN along the time axis only, feeding an LSTM that scores each 8 s window.

MFCC coefficients are the CNN's input channels and are never convolved across, so where a
timbre sits in the spectrum is kept. Convolutions are unpadded ("valid") and pooling strides
multiply to a divisor of the 50-frame window step, so the CNN can run once over a whole track
and each window's CNN output is a slice of it: `track_outputs` equals running `forward` on
every window alone (tested), and scoring a large library costs one CNN pass per track.
No I/O here. This module imports torch: the CLI's fast paths never import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn

from prefrec.features import N_MFCC, STEP_FRAMES, WINDOW_FRAMES, n_windows

MODEL_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a TasteModel; saved in every checkpoint."""

    n_mfcc: int = N_MFCC
    channels: tuple[int, ...] = (48, 64)
    kernels: tuple[int, ...] = (5, 3)
    pools: tuple[int, ...] = (5, 5)
    lstm_hidden: int = 64
    dropout: float = 0.3
    version: int = field(default=MODEL_VERSION)

    def __post_init__(self) -> None:
        # Checked before anything is allocated: a checkpoint's config may come from a damaged file.
        def ints(name: str, values: tuple, low: int, high: int) -> None:
            if not (isinstance(values, tuple) and 1 <= len(values) <= 6
                    and all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values)):
                raise ValueError(f"{name}: expected 1-6 integers in {low}..{high}, got {values!r}")

        ints("channels", self.channels, 1, 1024)
        ints("kernels", self.kernels, 1, 64)
        ints("pools", self.pools, 1, 50)
        ints("n_mfcc", (self.n_mfcc,), 1, 128)
        ints("lstm_hidden", (self.lstm_hidden,), 1, 2048)
        ints("version", (self.version,), 1, 10**6)
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a number in 0..1, got {self.dropout!r}")
        if not (len(self.channels) == len(self.kernels) == len(self.pools)):
            raise ValueError("channels, kernels and pools need one entry per CNN layer")
        if STEP_FRAMES % self.time_stride:
            raise ValueError(f"the pooling factor {self.time_stride} must divide {STEP_FRAMES} frames")
        if self.window_steps < 1:
            raise ValueError("the CNN leaves nothing of an 8 s window; use smaller kernels or pools")

    @property
    def time_stride(self) -> int:
        """Input frames per CNN output step (the product of the pooling sizes)."""
        stride = 1
        for p in self.pools:
            stride *= p
        return stride

    @property
    def window_steps(self) -> int:
        """Length of the CNN output sequence for one 400-frame window (the LSTM's steps)."""
        return self.output_length(WINDOW_FRAMES)

    def output_length(self, n_frames: int) -> int:
        length = n_frames
        for k, p in zip(self.kernels, self.pools):
            length = (length - k + 1) // p
        return length

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        """The config saved by to_json; ValueError for unknown keys or values out of bounds."""
        if not isinstance(data, dict):
            raise ValueError("a model configuration is a JSON object")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class TasteModel(nn.Module):
    """Time-axis CNN -> LSTM -> one logit per 8 s window.

    Two entry points: forward(windows) for a batch of windows (training), track_outputs(mfcc)
    for a whole track (scoring). Both return (logits, embeddings).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # Per-coefficient input standardisation, fitted on the library and saved with the model.
        self.register_buffer("mfcc_mean", torch.zeros(config.n_mfcc))
        self.register_buffer("mfcc_std", torch.ones(config.n_mfcc))
        layers: list[nn.Module] = []
        in_ch = config.n_mfcc
        for out_ch, k, p in zip(config.channels, config.kernels, config.pools):
            layers += [nn.Conv1d(in_ch, out_ch, kernel_size=k), nn.ReLU(),
                       nn.MaxPool1d(kernel_size=p, stride=p)]
            in_ch = out_ch
        self.cnn = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(in_ch, config.lstm_hidden, batch_first=True)
        self.head = nn.Linear(config.lstm_hidden, 1)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mfcc_mean.copy_(mean)
        self.mfcc_std.copy_(torch.clamp(std, min=1e-3))

    def standardise(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: [B, n_mfcc, T] raw MFCCs -> the same standardised per coefficient (the CNN's input)."""
        return (mfcc - self.mfcc_mean[None, :, None]) / self.mfcc_std[None, :, None]

    # The window scorer in two halves, so the head can be refitted and applied on stored window
    # representations (prefrec.reps) without running the CNN and LSTM again:
    #   represent(seq) -> reps [N, D]: everything the head reads about each window;
    #   head_logits(reps) -> [N], embed(reps) -> [N, H]. Only `head` (HEAD_PREFIX) is trained on reps.
    HEAD_PREFIX = "head."

    def represent(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: [N, L, C] CNN outputs of N windows -> the head's inputs [N, D] (D = H here)."""
        out, _ = self.lstm(self.dropout(seq))  # [N, L, H]
        return out[:, -1, :]  # [N, H]: the LSTM's final state, the model's learnt features

    def head_logits(self, reps: torch.Tensor) -> torch.Tensor:
        """reps: [N, D] (represent's output) -> logits [N]."""
        return self.head(self.dropout(reps)).squeeze(-1)  # [N]

    def embed(self, reps: torch.Tensor) -> torch.Tensor:
        """reps: [N, D] -> the windows' embeddings [N, H] (for `similar`)."""
        return reps

    def _head(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """seq: [N, L, C] CNN outputs of N windows -> (logits [N], embeddings [N, H])."""
        reps = self.represent(seq)  # [N, D]
        return self.head_logits(reps), self.embed(reps)  # [N], [N, H]

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """windows: [B, n_mfcc, 400] raw MFCCs of B windows, each alone -> (logits [B], embeddings [B, H])."""
        feats = self.cnn(self.standardise(windows))  # [B, C, L]
        return self._head(feats.transpose(1, 2))  # [B], [B, H]

    def track_representations(self, mfcc: torch.Tensor, *, batch: int = 2048) -> torch.Tensor:
        """mfcc: [n_mfcc, T] a whole track -> the head's inputs [n_windows(T), D], with one CNN pass
        for the whole track. A track shorter than a window is zero-padded (in standardised units)
        to 400 frames."""
        config = self.config
        count = n_windows(mfcc.shape[1])
        x = (mfcc - self.mfcc_mean[:, None]) / self.mfcc_std[:, None]  # [n_mfcc, T]
        if x.shape[1] < WINDOW_FRAMES:
            x = torch.nn.functional.pad(x, (0, WINDOW_FRAMES - x.shape[1]))  # [n_mfcc, 400]
        feats = self.cnn(x[None])[0]  # [C, T']
        step, length = STEP_FRAMES // config.time_stride, config.window_steps
        needed = (count - 1) * step + length
        if feats.shape[1] < needed:  # cannot happen with valid convs; guards the invariant
            raise AssertionError(f"CNN output {feats.shape[1]} shorter than {needed}")
        seqs = feats.unfold(1, length, step)[:, :count, :].permute(1, 2, 0)  # [n_windows, L, C]
        return torch.cat([self.represent(seqs[i : i + batch]) for i in range(0, len(seqs), batch)])  # [n_windows, D]

    def track_outputs(self, mfcc: torch.Tensor, *, batch: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """mfcc: [n_mfcc, T] a whole track -> (logits [n_windows(T)], embeddings [n_windows(T), H]),
        equal to forward() on every window alone, with one CNN pass for the whole track."""
        reps = self.track_representations(mfcc, batch=batch)  # [n_windows, D]
        return self.head_logits(reps), self.embed(reps)  # [n_windows], [n_windows, H]
