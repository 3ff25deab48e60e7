"""Stored window representations: what a model's head reads about each window of each track.

A fine-tuned TasteModel is an encoder (input standardisation, CNN, LSTM) and a small head. After a
new rating the daemon refits only the head (train.fit_head) and rescores every track by applying it
to these stored representations: a matrix product per track instead of the CNN and LSTM, so a
rating reaches the ranking of a large library in seconds (the full fine-tune, which changes the
encoder and so every representation, waits for a quiet spell).

Representations depend on the encoder's weights only, so they are filed under the encoder's
fingerprint (a hash of every weight outside the head and of the model's configuration): a head
update reuses them, a full fine-tune writes a new set and the old sets are deleted. One file per
track: a small header (format, n_frames, shape) and float16 values. The last columns that are the
same in every window (the track's own statistics, in a model with the wide input) are stored
once: a 3-minute track's [173, 184] (64 LSTM states, 60 window and 60 track statistics) takes
43 kB instead of 64 kB. float16 keeps about 3 significant digits: the scores computed from it agree
with the model's own to about 1e-3 per window and give the same ranking (tested). Everything here
can be recomputed from the features and the model.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from prefrec.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    import numpy as np

    from prefrec.model import TasteModel

MAGIC = b"PRFR"
FORMAT = 2  # 2: trailing columns shared by every window stored once (format 1 files still read)
CONTENT = 1  # what a representation holds; part of the encoder fingerprint
_HEADER = struct.Struct("<4sIIII")  # magic, format, n_frames, rows, columns
_SHARED = struct.Struct("<I")  # format 2: how many trailing columns are stored once


def encoder_fingerprint(model: TasteModel) -> str:
    """A hex digest of the model's configuration and every weight outside its head: two models with
    the same fingerprint compute the same representations."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(model.config.to_json(), sort_keys=True).encode())
    digest.update(f"reps-format-{CONTENT}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(model.HEAD_PREFIX):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def encode(reps: np.ndarray, n_frames: int) -> bytes:
    """reps float [n_windows, D] of a track of n_frames frames -> the bytes of a file."""
    import numpy as np

    values = np.asarray(reps, dtype="<f2")
    rows, columns = values.shape
    same = (values == values[:1]).all(axis=0) if rows else np.zeros(columns, dtype=bool)  # [D]
    shared = int(np.argmin(same[::-1])) if not same.all() else columns  # trailing columns equal in every row
    return (_HEADER.pack(MAGIC, FORMAT, n_frames, rows, columns) + _SHARED.pack(shared)
            + values[:, : columns - shared].tobytes() + values[:1, columns - shared :].tobytes())


def decode(blob: bytes) -> tuple[np.ndarray, int]:
    """The inverse of encode (format 1 or 2): (float32 [n_windows, D], n_frames). ValueError for a
    damaged blob."""
    import numpy as np

    if len(blob) < _HEADER.size:
        raise ValueError("truncated representation file")
    magic, fmt, n_frames, rows, columns = _HEADER.unpack_from(blob)
    if magic != MAGIC or fmt not in (1, FORMAT):
        raise ValueError("not a prefrec representation file of this version")
    start, shared = _HEADER.size, 0
    if fmt == 2:
        if len(blob) < start + _SHARED.size:
            raise ValueError("truncated representation file")
        (shared,) = _SHARED.unpack_from(blob, start)
        start += _SHARED.size
    own = columns - shared
    if shared > columns or len(blob) - start != 2 * (rows * own + min(rows, 1) * shared):
        raise ValueError("representation file of the wrong length")
    body = np.frombuffer(blob, dtype="<f2", offset=start)
    out = np.empty((rows, columns), dtype=np.float32)
    out[:, :own] = body[: rows * own].reshape(rows, own)
    out[:, own:] = body[rows * own :]
    return out, n_frames


class RepCache:
    """Representations [n_windows, D] of tracks under one encoder, keyed by audio identity."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.base = Path(root)
        self.fingerprint = fingerprint
        self.root = self.base / fingerprint[:32]

    def path_for(self, identity: str) -> Path:
        return self.root / identity[-2:] / f"{identity}.rep"

    def save(self, identity: str, reps: np.ndarray, n_frames: int) -> None:
        # Not fsynced: recomputed from the features if a crash loses it.
        atomic_write_bytes(self.path_for(identity), encode(reps, n_frames), fsync=False)

    def load(self, identity: str) -> tuple[np.ndarray, int] | None:
        """(float32 [n_windows, D], n_frames), or None when missing or damaged (then removed)."""
        path = self.path_for(identity)
        try:
            return decode(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            return None

    def prune(self, keep: set[str]) -> int:
        """Delete the representation sets of every encoder whose fingerprint is not in `keep`;
        returns how many sets were deleted."""
        if not self.base.is_dir():
            return 0
        kept = {f[:32] for f in keep}
        removed = 0
        for entry in self.base.iterdir():
            if entry.is_dir() and entry.name not in kept and len(entry.name) == 32:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed
