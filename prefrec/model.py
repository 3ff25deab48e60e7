"""The taste model: a CNN along the time axis only, feeding an LSTM that scores each 8 s window.

MFCC coefficients are the CNN's input channels and are never convolved across, so where a
timbre sits in the spectrum is kept. Convolutions are unpadded ("valid") and pooling strides
multiply to a divisor of the 50-frame window step, so the CNN can run once over a whole track
and each window's CNN output is a slice of it: `track_outputs` equals running `forward` on
every window alone (tested), and scoring a large library costs one CNN pass per track.

Next to the LSTM's state the window's score has a "wide" input: the window's own MFCC
statistics and its track's (prefrec.stats, 120 numbers), through a linear term. With tens of
ratings the deep part alone can lose to a logistic regression on such statistics; with both, the
score is a blend of the two logits, each standardised over the library's windows so that neither
drowns the other (`deep_share` of the deep one), then calibrated (scale and bias fitted on
out-of-fold predictions, see prefrec.calibration), so a window's probability means "liked".
No I/O here. This module imports torch: the CLI's fast paths never import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn

from prefrec.features import N_MFCC, STEP_FRAMES, WINDOW_FRAMES, n_windows

MODEL_VERSION = 2  # 2: the wide input, the blend and the calibration
CNN_LENGTH_STEP = 500  # frames (10 s): a whole track's CNN input is padded to a multiple of it


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a TasteModel; saved in every checkpoint."""

    n_mfcc: int = N_MFCC
    channels: tuple[int, ...] = (48, 64)
    kernels: tuple[int, ...] = (5, 3)
    pools: tuple[int, ...] = (5, 5)
    lstm_hidden: int = 64
    dropout: float = 0.3
    wide: bool = True  # the wide input (window and track MFCC statistics) next to the LSTM state
    deep_share: float = 0.5  # the deep logit's share of the blend (with the wide input)
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
        if not isinstance(self.wide, bool):
            raise ValueError(f"wide: expected true or false, got {self.wide!r}")
        if not isinstance(self.deep_share, (int, float)) or not 0.0 <= self.deep_share <= 1.0:
            raise ValueError(f"deep_share: expected a number in 0..1, got {self.deep_share!r}")
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
    def n_wide(self) -> int:
        """Length of the wide input: window and track statistics (stats.wide_inputs), or 0."""
        return 6 * self.n_mfcc if self.wide else 0

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
    """Time-axis CNN -> LSTM -> one logit per 8 s window, blended with a linear term of the
    window's MFCC statistics (config.wide) and calibrated.

    Two entry points: forward(windows, wide) for a batch of windows, track_outputs(mfcc) for a
    whole track (scoring). Both return (logits, embeddings); sigmoid(logits) is the calibrated
    window probability. Training reaches the two parts through encode/deep_logits/wide_logits;
    head updates and stored representations through represent/head_logits/embed.
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
        n_wide = config.n_wide
        # The wide part starts at zero and draws no random numbers, so adding it leaves the
        # encoder's initialisation (and a pretraining run) as it was for a given seed.
        self.wide_weight = nn.Parameter(torch.zeros(n_wide))
        self.wide_bias = nn.Parameter(torch.zeros(1))
        self.register_buffer("wide_mean", torch.zeros(n_wide))  # standardisation of the wide input
        self.register_buffer("wide_std", torch.ones(n_wide))
        # Blend: mean and std of the deep and of the wide logit over the library's windows.
        self.register_buffer("blend", torch.tensor([0.0, 1.0, 0.0, 1.0]))
        self.register_buffer("calibration", torch.tensor([1.0, 0.0]))  # scale, bias

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mfcc_mean.copy_(mean)
        self.mfcc_std.copy_(torch.clamp(std, min=1e-3))

    def set_wide_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """mean, std [n_wide]: the library's statistics of the wide input."""
        self.wide_mean.copy_(mean)
        self.wide_std.copy_(torch.clamp(std, min=1e-6))

    def set_blend(self, deep_mean: float, deep_std: float, wide_mean: float, wide_std: float) -> None:
        self.blend.copy_(torch.tensor([deep_mean, max(deep_std, 1e-6), wide_mean, max(wide_std, 1e-6)]))

    def set_calibration(self, scale: float, bias: float) -> None:
        self.calibration.copy_(torch.tensor([scale, bias]))

    def standardise(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: [B, n_mfcc, T] raw MFCCs -> the same standardised per coefficient (the CNN's input)."""
        return (mfcc - self.mfcc_mean[None, :, None]) / self.mfcc_std[None, :, None]

    # The window scorer in two halves, so the head can be refitted and applied on stored window
    # representations (prefrec.reps) without running the CNN and LSTM again:
    #   represent(seq, wide) -> reps [N, D]: everything the head reads about each window, the LSTM's
    #     final state [N, H] and (config.wide) the window's statistics, standardised [N, n_wide];
    #   head_logits(reps) -> calibrated logits [N], embed(reps) -> [N, H].
    # HEAD_PREFIX names what a head update refits on reps (train.fit_head: the deep head, then the
    # wide part's logistic regression); the blend and calibration buffers stay with the encoder.
    HEAD_PREFIX = ("head.", "wide_weight", "wide_bias")

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """windows: [B, n_mfcc, 400] raw MFCCs of B windows, each alone -> the LSTM's final states [B, H]."""
        feats = self.cnn(self.standardise(windows))  # [B, C, L]
        return self._lstm(feats.transpose(1, 2))  # [B, H]

    def _lstm(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: [N, L, C] CNN outputs of N windows -> the LSTM's final states [N, H] (learnt features)."""
        out, _ = self.lstm(self.dropout(seq))  # [N, L, H]
        return out[:, -1, :]  # [N, H]

    def standardise_wide(self, wide: torch.Tensor) -> torch.Tensor:
        """wide [N, n_wide] raw statistics (stats.wide_inputs) -> standardised over the library."""
        return (wide - self.wide_mean) / self.wide_std

    def represent(self, seq: torch.Tensor, wide: torch.Tensor | None = None) -> torch.Tensor:
        """seq: [N, L, C] CNN outputs of N windows; wide: [N, n_wide] their raw statistics (needed
        when config.wide) -> the head's inputs [N, D], D = H + n_wide."""
        return self._with_wide(self._lstm(seq), wide)

    def _with_wide(self, states: torch.Tensor, wide: torch.Tensor | None) -> torch.Tensor:
        """The LSTM's states [N, H] and (config.wide) the windows' raw statistics [N, n_wide] -> the
        head's inputs [N, D], D = H + n_wide."""
        if not self.config.wide:
            return states
        if wide is None:
            raise ValueError("this model needs the windows' statistics (stats.wide_inputs)")
        return torch.cat([states, self.standardise_wide(wide.to(states.dtype))], dim=1)  # [N, H + n_wide]

    def head_logits(self, reps: torch.Tensor) -> torch.Tensor:
        """reps: [N, D] (represent's output) -> calibrated logits [N]."""
        deep, wide = self.head_parts(reps)
        return self.calibrate(self.blended(deep, wide))

    def head_parts(self, reps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """reps: [N, D] -> (raw deep logits [N], raw wide logits [N] or None without config.wide)."""
        hidden = self.config.lstm_hidden
        deep = self.deep_logits(reps[:, :hidden])
        return deep, (self._wide_linear(reps[:, hidden:]) if self.config.wide else None)

    def embed(self, reps: torch.Tensor) -> torch.Tensor:
        """reps: [N, D] -> the windows' embeddings [N, H] (the LSTM's states, for `similar`)."""
        return reps[:, : self.config.lstm_hidden]

    def deep_logits(self, states: torch.Tensor) -> torch.Tensor:
        """states [N, H] (the LSTM's) -> the deep part's raw logits [N]."""
        return self.head(self.dropout(states)).squeeze(-1)

    def _wide_linear(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised @ self.wide_weight + self.wide_bias

    def wide_logits(self, wide: torch.Tensor) -> torch.Tensor:
        """wide [N, n_wide] raw statistics (stats.wide_inputs) -> the wide part's raw logits [N]."""
        return self._wide_linear(self.standardise_wide(wide))

    def blended(self, deep: torch.Tensor, wide: torch.Tensor | None) -> torch.Tensor:
        """Raw deep [N] and wide [N] logits -> the uncalibrated window logit [N]."""
        if not self.config.wide or wide is None:
            return deep
        dm, ds, wm, ws = self.blend
        share = self.config.deep_share
        return share * (deep - dm) / ds + (1.0 - share) * (wide - wm) / ws

    def calibrate(self, logits: torch.Tensor) -> torch.Tensor:
        scale, bias = self.calibration
        return scale * logits + bias

    def forward(self, windows: torch.Tensor, wide: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """windows: [B, n_mfcc, 400] raw MFCCs of B windows, each alone; wide: [B, n_mfcc * 6] their
        statistics (stats.wide_inputs rows; needed when config.wide) -> (calibrated logits [B],
        embeddings [B, H])."""
        feats = self.cnn(self.standardise(windows))  # [B, C, L]
        reps = self.represent(feats.transpose(1, 2), wide)  # [B, D]
        return self.head_logits(reps), self.embed(reps)

    def track_representations(self, mfcc: torch.Tensor, *, batch: int = 2048) -> torch.Tensor:
        """mfcc: [n_mfcc, T] a whole track -> the head's inputs [n_windows(T), D], with one CNN pass
        for the whole track (track_cnn), the LSTM over each window (track_states) and the windows'
        statistics (stats.wide_inputs)."""
        states = self.track_states(self.track_cnn(mfcc), n_windows(mfcc.shape[1]), batch=batch)  # [n_windows, H]
        wide = None
        if self.config.wide:
            from prefrec.stats import wide_inputs

            wide = torch.from_numpy(wide_inputs(mfcc.detach().cpu().numpy()))  # [n_windows, n_wide]
        return self._with_wide(states, wide)  # [n_windows, D]

    def track_cnn(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: [n_mfcc, T] a whole track -> the CNN's outputs [C, T'] over all of it.

        The track is standardised, then zero-padded (in standardised units) at its end to a whole
        number of CNN_LENGTH_STEP frames: the frames past the end reach no window (valid
        convolutions; only a track shorter than a window has a window that reads the padding), and
        oneDNN, which builds a convolution for every input length it meets (more work than
        convolving a 3-minute track), builds one per 10 s of length."""
        frames = mfcc.shape[1]
        x = mfcc.new_zeros(mfcc.shape[0], max(WINDOW_FRAMES, -(-frames // CNN_LENGTH_STEP) * CNN_LENGTH_STEP))
        torch.sub(mfcc, self.mfcc_mean[:, None], out=x[:, :frames])
        x[:, :frames].div_(self.mfcc_std[:, None])  # [n_mfcc, padded]
        return self._cnn_pooled_first(x[None])[0]  # [C, T']

    def track_states(self, feats: torch.Tensor, count: int, *, batch: int = 2048) -> torch.Tensor:
        """feats: [C, T'] track_cnn's outputs -> the LSTM's final states [count, H] of the track's
        `count` windows, `batch` windows at a time. In eval mode as window_states computes them (each
        CNN step's input projection once); in training mode through nn.LSTM on each window's slice."""
        step, length = STEP_FRAMES // self.config.time_stride, self.config.window_steps
        needed = (count - 1) * step + length
        if feats.shape[1] < needed:  # cannot happen with valid convs; guards the invariant
            raise AssertionError(f"CNN output {feats.shape[1]} shorter than {needed}")
        if self.training:
            seqs = feats.unfold(1, length, step)[:, :count, :].permute(1, 2, 0)  # [count, L, C]
            return torch.cat([self._lstm(seqs[i : i + batch]) for i in range(0, count, batch)])
        return torch.cat([self.window_states(feats[:, i * step : (min(i + batch, count) - 1) * step + length], step)
                          for i in range(0, count, batch)])

    def _cnn_pooled_first(self, x: torch.Tensor) -> torch.Tensor:
        """self.cnn(x) for x [B, n_mfcc, T], with each layer's max-pooling before its ReLU: the same
        numbers (a ReLU is monotone, so it commutes with a max), and the ReLU runs on a fifth as many."""
        layers = list(self.cnn)
        for conv, relu, pool in zip(layers[0::3], layers[1::3], layers[2::3]):
            x = relu(pool(conv(x)))
        return x

    def window_states(self, feats: torch.Tensor, step: int) -> torch.Tensor:
        """feats: [C, T'] CNN outputs of a stretch of a track -> the LSTM's final states [N, H] of the
        N = (T' - L) // step + 1 windows that start every `step` CNN steps and read L =
        config.window_steps steps each: nn.LSTM's numbers on each window's slice (eval mode), within
        float rounding (tested).

        Two shortcuts make it about 1.5x faster than nn.LSTM on a track's windows (one core):
        - A CNN step is read by about L / step overlapping windows: its input projection is
          computed once for all of them.
        - tanh(x) = 2 sigmoid(2x) - 1, and torch's tanh costs about twice its sigmoid: the rows of
          the cell candidate are scaled by 2 so that one sigmoid serves all four gates, and the cell
          state is kept doubled (u = 2c), so that tanh(c) = 2 sigmoid(u) - 1 is one sigmoid too."""
        lstm, hidden, length = self.lstm, self.config.lstm_hidden, self.config.window_steps
        # nn.LSTM's gate rows are i, f, g, o; here i, f, o, then g scaled by 2.
        order = torch.cat([torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden),
                           torch.arange(2 * hidden, 3 * hidden)])
        scale = torch.ones(4 * hidden, dtype=feats.dtype)
        scale[3 * hidden :] = 2.0
        w_ih = lstm.weight_ih_l0[order] * scale[:, None]  # [4H, C]
        w_hh = (lstm.weight_hh_l0[order] * scale[:, None]).t().contiguous()  # [H, 4H]
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0)[order] * scale  # [4H]
        projected = torch.addmm(bias, feats.t(), w_ih.t())  # [T', 4H]
        count = (feats.shape[1] - length) // step + 1
        h = feats.new_zeros(count, hidden)  # [N, H]
        u = torch.zeros_like(h)  # twice the cell state
        for s in range(length):
            rows = projected[s : s + step * (count - 1) + 1 : step]  # [N, 4H]: step s of every window
            gates = torch.addmm(rows, h, w_hh).sigmoid_()
            i, f, o, g = gates.chunk(4, dim=1)  # g = sigmoid(2 x): the candidate is 2 g - 1
            u = torch.addcmul(f * u, i, g, value=4.0).sub_(i, alpha=2.0)  # 2 (f c + i (2 g - 1))
            h = torch.addcmul(torch.neg(o), o, torch.sigmoid(u), value=2.0)  # o (2 sigmoid(u) - 1)
        return h

    def track_parts(self, mfcc: torch.Tensor, *, batch: int = 2048) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """mfcc: [n_mfcc, T] a whole track -> (raw deep logits [n], raw wide logits [n] or None,
        embeddings [n, H]) for its n = n_windows(T) windows."""
        reps = self.track_representations(mfcc, batch=batch)
        deep, wide = self.head_parts(reps)
        return deep, wide, self.embed(reps)

    def track_outputs(self, mfcc: torch.Tensor, *, batch: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """mfcc: [n_mfcc, T] a whole track -> (calibrated logits [n_windows(T)], embeddings
        [n_windows(T), H]), equal to forward() on every window alone with its statistics."""
        reps = self.track_representations(mfcc, batch=batch)  # [n_windows, D]
        return self.head_logits(reps), self.embed(reps)  # [n_windows], [n_windows, H]
