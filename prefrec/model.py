"""The taste model: a CNN along the time axis only, feeding an LSTM that scores each 8 s window.

MFCC coefficients are the CNN's input channels and are never convolved across, so where a
timbre sits in the spectrum is kept. Convolutions are unpadded ("valid") and pooling strides
multiply to a divisor of the 50-frame window step, so the CNN can run once over a whole track
and each window's CNN output is a slice of it: `track_window_logits` equals running `forward` on
every window alone (tested), and scoring a large library costs one CNN pass per track.
No I/O here. This module imports torch: the CLI's fast paths never import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
        if not (len(self.channels) == len(self.kernels) == len(self.pools)):
            raise ValueError("channels, kernels and pools need one entry per CNN layer")
        if STEP_FRAMES % self.time_stride:
            raise ValueError(f"the pooling factor {self.time_stride} must divide {STEP_FRAMES} frames")

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
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class TasteModel(nn.Module):
    """Time-axis CNN -> LSTM -> one logit per 8 s window."""

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

    def cnn_features(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: [B, n_mfcc, T] raw MFCCs -> [B, C, T'] with T' = config.output_length(T)."""
        x = (mfcc - self.mfcc_mean[None, :, None]) / self.mfcc_std[None, :, None]
        return self.cnn(x)

    def sequence_outputs(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """seq: [N, L, C] CNN outputs of N windows -> (logits [N], embeddings [N, H]).

        The embedding is the LSTM's final state for the window: the model's learnt features.
        """
        out, _ = self.lstm(self.dropout(seq))  # [N, L, H]
        last = out[:, -1, :]  # [N, H]
        return self.head(self.dropout(last)).squeeze(-1), last

    def sequence_logits(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: [N, L, C] CNN outputs of N windows -> [N] logits."""
        return self.sequence_outputs(seq)[0]

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows: [B, n_mfcc, 400] raw MFCCs of B windows -> [B] logits (each window alone)."""
        feats = self.cnn_features(windows)  # [B, C, L]
        return self.sequence_logits(feats.transpose(1, 2))  # [B]

    def track_sequences(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: [n_mfcc, T] a whole track -> [n_windows(T), L, C], one CNN pass for all windows.

        A track shorter than a window is zero-padded (in standardised units) to 400 frames.
        """
        config = self.config
        count = n_windows(mfcc.shape[1])
        x = (mfcc - self.mfcc_mean[:, None]) / self.mfcc_std[:, None]  # [n_mfcc, T]
        if x.shape[1] < WINDOW_FRAMES:
            x = torch.nn.functional.pad(x, (0, WINDOW_FRAMES - x.shape[1]))
        feats = self.cnn(x[None])[0]  # [C, T']
        step, length = STEP_FRAMES // config.time_stride, config.window_steps
        needed = (count - 1) * step + length
        if feats.shape[1] < needed:  # cannot happen with valid convs; guards the invariant
            raise AssertionError(f"CNN output {feats.shape[1]} shorter than {needed}")
        return feats.unfold(1, length, step)[:, :count, :].permute(1, 2, 0)  # [n_windows, L, C]

    def track_window_outputs(self, mfcc: torch.Tensor, *, batch: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """mfcc: [n_mfcc, T] a whole track -> (logits [n_windows(T)], embeddings [n_windows(T), H])."""
        seqs = self.track_sequences(mfcc)
        parts = [self.sequence_outputs(seqs[i : i + batch]) for i in range(0, len(seqs), batch)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def track_window_logits(self, mfcc: torch.Tensor, *, batch: int = 2048) -> torch.Tensor:
        """mfcc: [n_mfcc, T] a whole track -> [n_windows(T)] logits, equal to forward() per window."""
        return self.track_window_outputs(mfcc, batch=batch)[0]
