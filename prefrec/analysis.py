"""Analysis of one file (decode -> MFCC -> feature cache), run in worker processes.

The worker writes the features to the cache itself and sends back only small metadata, so the
parent never copies feature arrays between processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prefrec.errors import PrefrecError


@dataclass(frozen=True)
class Analysed:
    """What the database needs to know about an analysed file."""

    path: str
    identity: str
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    n_frames: int
    truncated: bool


@dataclass(frozen=True)
class Failed:
    """A file that could not be analysed, and why (a one-line message for the listener)."""

    path: str
    reason: str


def analyse_file(path: str, cache_root: str, timeout_s: float) -> Analysed | Failed:
    """Decode `path`, compute its MFCCs and cache them. Never raises for a bad file."""
    from prefrec.audio import audio_identity, decode, read_tags
    from prefrec.cache import FeatureCache
    from prefrec.features import mfcc

    p = Path(path)
    try:
        decoded = decode(p, timeout_s=timeout_s)
        identity = audio_identity(decoded.samples)
        cache = FeatureCache(Path(cache_root))
        if cache.has(identity):
            n_frames = int(cache.load(identity).shape[1])
        else:
            features = mfcc(decoded.samples)
            cache.save(identity, features)
            n_frames = int(features.shape[1])
        tags = read_tags(p)
        return Analysed(path, identity, tags.title, tags.artist, tags.album,
                        decoded.duration_s, n_frames, decoded.truncated)
    except PrefrecError as exc:
        return Failed(path, str(exc))
    except MemoryError:
        return Failed(path, f"{path}: ran out of memory while analysing it")
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop a scan
        return Failed(path, f"{path}: analysis failed ({type(exc).__name__}: {exc})")


def _init_worker() -> None:
    # Each worker is one of N processes: keep the math libraries to one thread each.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")


def analyse_many(
    paths: Iterable[str], *, cache_root: Path, workers: int, timeout_s: float
) -> Iterator[Analysed | Failed]:
    """Analyse `paths` in `workers` processes; yields results as they complete (any order)."""
    paths = list(paths)
    if not paths:
        return
    if workers <= 1 or len(paths) == 1:
        for path in paths:
            yield analyse_file(path, str(cache_root), timeout_s)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=min(workers, len(paths)), mp_context=ctx,
                             initializer=_init_worker) as pool:
        futures = {pool.submit(analyse_file, p, str(cache_root), timeout_s): p for p in paths}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                yield Failed(futures[future], f"{futures[future]}: the analysis worker crashed on it")
