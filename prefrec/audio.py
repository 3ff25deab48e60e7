"""Decoding audio files to mono 22050 Hz, and analysing a file into features (run in workers).

soundfile (libsndfile) reads wav/flac/ogg/opus/mp3; anything else goes through an `ffmpeg`
subprocess when ffmpeg is on PATH. Every failure becomes an AudioError naming the file and what
to do about it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefrec.errors import AudioError
from prefrec.features import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np

IDENTITY_VERSION = "a1"


@dataclass(frozen=True)
class Tags:
    """Tags of a file; title falls back to the file name."""

    title: str
    artist: str | None
    album: str | None


@dataclass(frozen=True)
class Decoded:
    """Mono audio at SAMPLE_RATE. samples: float32 [n_samples] in [-1, 1]."""

    samples: "np.ndarray"
    source_rate: int
    truncated: bool

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / SAMPLE_RATE


def read_tags(path: Path) -> Tags:
    """Title/artist/album from the file's tags (mutagen), title defaulting to the file name."""
    title = artist = album = None
    try:
        import mutagen

        meta = mutagen.File(str(path), easy=True)
        if meta is not None and meta.tags is not None:

            def first(key: str) -> str | None:
                value = meta.tags.get(key)
                if isinstance(value, list):
                    value = value[0] if value else None
                value = str(value).strip() if value is not None else None
                return value or None

            title, artist, album = first("title"), first("artist"), first("album")
    except Exception:  # noqa: BLE001 - unreadable tags are not an analysis failure
        pass
    return Tags(title=title or path.stem, artist=artist, album=album)


def _to_mono_22050(data: "np.ndarray", rate: int) -> "np.ndarray":
    """data: float32 [n, channels] at `rate` Hz -> float32 [m] at 22050 Hz."""
    import numpy as np

    mono = data.mean(axis=1, dtype=np.float32) if data.ndim == 2 else data.astype(np.float32)
    if not np.all(np.isfinite(mono)):
        mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    if rate != SAMPLE_RATE and mono.size:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)


def _decode_soundfile(path: Path) -> Decoded:
    import numpy as np
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        rate, expected = f.samplerate, f.frames
        blocks = []
        for block in f.blocks(blocksize=rate * 30, dtype="float32", always_2d=True):
            blocks.append(block.mean(axis=1, dtype=np.float32))
        mono = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    truncated = expected > 0 and mono.shape[0] < expected
    return Decoded(_to_mono_22050(mono, rate), rate, truncated)


def _decode_ffmpeg(path: Path, timeout_s: float) -> Decoded:
    import numpy as np

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(
            f"{path}: libsndfile cannot read this format and ffmpeg is not installed; "
            "install ffmpeg (e.g. `apt install ffmpeg`) and rescan"
        )
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", "file:" + os.fspath(path), "-vn", "-ac", "1",
           "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"{path}: ffmpeg took longer than {timeout_s:.0f} s to decode it") from exc
    samples = np.frombuffer(proc.stdout, dtype="<f4").copy()
    if proc.returncode != 0 and samples.size == 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"{path}: ffmpeg could not decode it ({reason[-1] if reason else 'no reason given'})")
    return Decoded(_to_mono_22050(samples, SAMPLE_RATE), SAMPLE_RATE, proc.returncode != 0)


def decode(path: Path, *, timeout_s: float = 300.0) -> Decoded:
    """Decode `path` to mono float32 at 22050 Hz, via soundfile, else ffmpeg.

    Raises AudioError when neither can read it or it holds no audio.
    """
    import soundfile as sf

    try:
        decoded = _decode_soundfile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        try:
            decoded = _decode_ffmpeg(path, timeout_s)
        except AudioError as ffmpeg_exc:
            if shutil.which("ffmpeg") is None:
                raise AudioError(f"{path}: not a readable audio file ({exc}); if it plays elsewhere, "
                                 "install ffmpeg and rescan") from exc
            raise ffmpeg_exc from exc
    if decoded.samples.size == 0:
        raise AudioError(f"{path}: holds no audio samples (empty or header-only file)")
    return decoded


def audio_identity(samples: "np.ndarray") -> str:
    """An identity of the music itself, unchanged by renames, moves and tag edits.

    samples: float32 [n] at 22050 Hz. Hashes the samples quantised to 16 bits.
    """
    import numpy as np

    pcm = np.round(samples * 32767.0).astype("<i2")
    return f"{IDENTITY_VERSION}-{hashlib.blake2b(pcm.tobytes(), digest_size=16).hexdigest()}"
