"""The on-disk feature cache: one float16 .npy per audio identity, under a feature-version dir.

Features of another FEATURE_VERSION live in another directory and are never read; files are
written to a temporary name and renamed, so a crash never leaves a half-written array behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from prefrec.features import FEATURE_VERSION, N_MFCC

if TYPE_CHECKING:
    import numpy as np


class FeatureCache:
    """Feature arrays float16 [N_MFCC, n_frames] keyed by audio identity."""

    def __init__(self, root: Path, *, version: int = FEATURE_VERSION) -> None:
        self.root = Path(root) / f"v{version}"

    def path_for(self, identity: str) -> Path:
        return self.root / identity[-2:] / f"{identity}.npy"

    def has(self, identity: str) -> bool:
        return self.path_for(identity).is_file()

    def save(self, identity: str, features: "np.ndarray") -> Path:
        """Store features [N_MFCC, n_frames] (any float dtype; kept as float16), atomically."""
        import numpy as np

        if features.ndim != 2 or features.shape[0] != N_MFCC:
            raise ValueError(f"features must be [{N_MFCC}, frames], got {features.shape}")
        target = self.path_for(identity)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(features, dtype=np.float16), allow_pickle=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def load(self, identity: str) -> "np.ndarray":
        """Features float32 [N_MFCC, n_frames]; raises FileNotFoundError when not cached."""
        import numpy as np

        return np.load(self.path_for(identity), allow_pickle=False).astype(np.float32)
