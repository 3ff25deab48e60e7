"""Model checkpoints: versioned, atomic, hashed, and loaded strictly.

A checkpoint holds the model's state dict and its configuration as JSON (never pickled code:
loading uses torch's weights_only unpickler). `save_checkpoint` returns the file's SHA-256, which
the models table records; `load_checkpoint` checks it, the format, feature and model versions,
validates the configuration before allocating anything, loads the weights strictly and refuses
weights that are not finite, so a foreign, damaged or tampered file is never used to score.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from prefrec.errors import NotReady, PrefrecError
from prefrec.features import FEATURE_VERSION
from prefrec.fsutil import atomic_file
from prefrec.model import MODEL_VERSION, ModelConfig, TasteModel

CHECKPOINT_FORMAT = "prefrec-checkpoint"
CHECKPOINT_VERSION = 1
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024  # far above any prefrec model; a bigger file is not ours


class BadCheckpoint(PrefrecError):
    """A checkpoint that must not be used: missing, damaged, foreign, of another version, or altered.
    `problem` says what is wrong without the advice (for "rebuilt it because ...")."""

    def __init__(self, problem: str, fix: str = "run `prefrec train` to rebuild it") -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix = problem, fix

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # as it was, when raised in a scoring worker
        return type(self), (self.problem, self.fix)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (in eval mode), its training settings and extra metadata."""

    model: TasteModel
    train_config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


def save_checkpoint(model: TasteModel, path: Path, *, train_config: Any = None, extra: dict | None = None) -> str:
    """Write the model's state dict and config to `path` atomically (temporary file, fsync,
    rename); returns the file's SHA-256 (hex). `train_config` is a dataclass or a dict."""
    if not all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point()):
        raise PrefrecError(f"{path}: the model's weights are not finite (training diverged); not saved")
    config = asdict(train_config) if hasattr(train_config, "__dataclass_fields__") else dict(train_config or {})
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "feature_version": FEATURE_VERSION,
        "model_config": json.dumps(model.config.to_json()),
        "train_config": json.dumps(config),
        "extra": json.dumps(extra or {}),
        "state_dict": model.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:
        with atomic_file(path) as f:
            f.write(data)
    except OSError as exc:
        raise PrefrecError(f"{path}: cannot save the model ({exc.strerror or exc}); free some disk space "
                           "and run `prefrec train` again") from exc
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_verified(path: Path, *, sha256: str | None = None) -> bytes:
    """The bytes of the checkpoint file `path`, checked against `sha256` when given; raises
    BadCheckpoint when it is missing, unreadable, too big to be prefrec's, or altered."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise BadCheckpoint(f"{path}: {size} bytes is not a prefrec model")
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise BadCheckpoint(f"{path}: the model file is missing") from exc
    except OSError as exc:
        raise BadCheckpoint(f"{path}: cannot read the model ({exc.strerror})") from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise BadCheckpoint(f"{path}: the model file is not the one prefrec saved (its hash differs)")
    return data


def load_checkpoint(path: Path, *, sha256: str | None = None) -> Checkpoint:
    """The checkpoint at `path`; when `sha256` is given the file must have that hash.

    Raises BadCheckpoint (a PrefrecError naming the file and saying to run `prefrec train`) for a
    missing, unreadable, foreign, altered or other-version file, or weights that are not finite.
    """
    data = read_verified(path, sha256=sha256)
    digest = hashlib.sha256(data).hexdigest()
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise BadCheckpoint(f"{path}: cannot read the model ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise BadCheckpoint(f"{path}: not a prefrec model")
    if payload.get("format_version") != CHECKPOINT_VERSION or payload.get("feature_version") != FEATURE_VERSION:
        raise BadCheckpoint(f"{path}: the model is from another version of prefrec")
    try:
        config = ModelConfig.from_json(json.loads(payload["model_config"]))  # validated before allocating
        train_config = json.loads(payload.get("train_config") or "{}")
        extra = json.loads(payload.get("extra") or "{}")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadCheckpoint(f"{path}: its model configuration is invalid ({exc})") from exc
    if config.version != MODEL_VERSION:
        raise BadCheckpoint(f"{path}: the model is from another version of prefrec")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadCheckpoint(f"{path}: not a prefrec model")
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise BadCheckpoint(f"{path}: the model's weights are not finite")
    model = TasteModel(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadCheckpoint(f"{path}: its weights do not fit its configuration") from exc
    model.eval()
    return Checkpoint(model, train_config if isinstance(train_config, dict) else {},
                      extra if isinstance(extra, dict) else {}, digest)


__all__ = ["BadCheckpoint", "Checkpoint", "NotReady", "file_sha256", "load_checkpoint", "read_verified",
           "save_checkpoint"]
