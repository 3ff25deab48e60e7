"""Analysis of audio files (decode -> MFCC -> feature cache) in isolated worker processes.

Each worker is a separate `python -m prefrec.analysis --worker` process in its own process group,
with an address-space limit, analysing one file at a time. The parent gives every file a
deadline: a worker that overruns it is killed (with any ffmpeg it started) and replaced; a worker
that dies (segfault, out-of-memory kill) is replaced too. Either way that file gets a one-line
reason and the other files go on. Workers write features to the cache themselves and send back
only small metadata (one JSON line per file), so feature arrays never cross process boundaries.

Decoding and featurising go block by block (`BlockFeaturiser`), so a worker's memory does not
grow with track length beyond the feature array itself (20 x 50 float32 per second: 14 MB/hour).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefrec.errors import PrefrecError
from prefrec.features import HOP_SAMPLES, N_FFT, N_MFCC, SAMPLE_RATE, n_frames_for

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MEMORY_MB = 2048


@dataclass(frozen=True)
class Analysed:
    """What the database needs to know about an analysed file.

    truncated: fewer frames decoded than the file promised (analysed on what decoded);
    note: why it was flagged (truncation, NaN samples), '' when nothing was wrong.
    """

    path: str
    identity: str
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    n_frames: int
    truncated: bool
    note: str = ""


@dataclass(frozen=True)
class Failed:
    """A file that could not be analysed, and why (a one-line message for the listener).

    vanished: the file no longer exists (deleted or moved during the scan): not an error to keep.
    """

    path: str
    reason: str
    vanished: bool = False


class BlockFeaturiser:
    """MFCCs of a stream of audio blocks, equal to `features.mfcc` of the whole track.

    push() takes mono 22050 Hz float32 blocks of any size; finish() returns float32
    [N_MFCC, ceil(n_samples / 441)]. Frames are computed as soon as their N_FFT samples are in,
    so only about `chunk_frames` hops of audio are held at any time.
    """

    def __init__(self, *, chunk_frames: int = 1000) -> None:
        import numpy as np

        self.chunk_frames = chunk_frames
        self.n_samples = 0
        self._buffer = np.zeros(N_FFT // 2, dtype=np.float32)  # padded audio from frame `_done` on
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._done = 0
        self._parts: list[np.ndarray] = []

    def push(self, samples: "np.ndarray") -> None:
        if samples.size == 0:
            return
        self.n_samples += int(samples.shape[0])
        self._pending.append(samples)
        self._pending_len += int(samples.shape[0])
        if self._buffer.shape[0] + self._pending_len >= (self.chunk_frames - 1) * HOP_SAMPLES + N_FFT:
            self._compute(final=False)

    def _compute(self, *, final: bool) -> None:
        import numpy as np

        from prefrec.features import mfcc_of_padded

        buffer = np.concatenate([self._buffer, *self._pending]) if self._pending else self._buffer
        self._pending, self._pending_len = [], 0
        if final:
            frames = n_frames_for(self.n_samples) - self._done
            need = (frames - 1) * HOP_SAMPLES + N_FFT if frames > 0 else 0
            if buffer.shape[0] < need:
                buffer = np.concatenate([buffer, np.zeros(need - buffer.shape[0], dtype=np.float32)])
        else:
            frames = (buffer.shape[0] - N_FFT) // HOP_SAMPLES + 1 if buffer.shape[0] >= N_FFT else 0
        if frames > 0:
            self._parts.append(mfcc_of_padded(buffer, frames))
            self._done += frames
            buffer = buffer[frames * HOP_SAMPLES:]
        self._buffer = np.ascontiguousarray(buffer)

    def finish(self) -> "np.ndarray":
        import numpy as np

        self._compute(final=True)
        if not self._parts:
            return np.zeros((N_MFCC, 0), dtype=np.float32)
        return np.concatenate(self._parts, axis=1)


def analyse_file(path: str, cache_root: str, timeout_s: float | None = None) -> Analysed | Failed:
    """Decode `path` block by block, compute its MFCCs and cache them. Never raises for a bad file.

    Runs in the calling process: the deadline and memory limit are enforced around it by
    `analyse_many` (timeout_s is accepted for callers that still pass it, and ignored here).
    """
    from prefrec.audio import StreamInfo, read_tags, stream
    from prefrec.cache import FeatureCache

    p = Path(path)
    try:
        st = os.stat(p)
        if st.st_size == 0 and stat.S_ISREG(st.st_mode):
            raise PrefrecError(f"{path}: is empty (0 bytes); delete it or copy it again")
        info = StreamInfo(p)
        featuriser = BlockFeaturiser()
        for block in stream(p, info):
            featuriser.push(block)
        if featuriser.n_samples == 0:
            raise PrefrecError(f"{path}: holds no audio samples (empty, header-only or cut before the audio)")
        if info.nonfinite >= info.source_frames:
            raise PrefrecError(f"{path}: every sample is NaN or infinite; re-export the file")
        features = featuriser.finish()
        # Always written (atomically): the features were just computed, and a damaged or older
        # cached copy of the same music must not survive a re-analysis.
        FeatureCache(Path(cache_root)).save(info.identity, features)
        notes = [info.problem] if info.truncated else []
        if info.nonfinite:
            notes.append(f"{info.nonfinite} NaN/infinite samples replaced by silence")
        tags = read_tags(p)
        return Analysed(path, info.identity, tags.title, tags.artist, tags.album,
                        featuriser.n_samples / SAMPLE_RATE, int(features.shape[1]), info.truncated,
                        "; ".join(notes))
    except MemoryError:
        return Failed(path, f"{path}: ran out of memory while analysing it (worker memory limit)")
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop a scan
        if not os.path.lexists(path):
            return Failed(path, f"{path}: disappeared during the scan", vanished=True)
        if isinstance(exc, PrefrecError):
            return Failed(path, str(exc))
        return Failed(path, f"{path}: analysis failed ({type(exc).__name__}: {exc})")


# -- worker processes --------------------------------------------------------------------------


def _worker_main(task_fd: int, result_fd: int, cache_root: str, memory_mb: int, parent_pid: int) -> None:
    """Loop of a worker process: read a path per line, analyse it, write one JSON line back.

    Ends when the task pipe closes (the parent finished or died).
    """
    die_with_parent(parent_pid)
    import mutagen  # noqa: F401 - load the libraries before taking the address-space measure
    import numpy  # noqa: F401
    import scipy.fft  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401

    from prefrec.features import _mfcc_matrices

    _mfcc_matrices()
    _limit_memory(memory_mb)
    with os.fdopen(task_fd, "r", encoding="utf-8") as tasks, os.fdopen(result_fd, "wb", buffering=0) as out:
        for line in tasks:
            result = analyse_file(json.loads(line), cache_root)
            kind = "analysed" if isinstance(result, Analysed) else "failed"
            out.write((json.dumps({"kind": kind, **asdict(result)}) + "\n").encode("utf-8"))


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this child process when its parent dies (even by SIGKILL, e.g. a
    `kill -9` of a scan or of the daemon), and exit now if `parent_pid` already died before we
    could ask. Elsewhere a worker still ends when its task pipe closes."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # not `== 1`: under a subreaper an orphan's new parent is not init
        os._exit(0)


def _limit_memory(memory_mb: int) -> None:
    """Cap the address space at what the loaded libraries use plus `memory_mb` MiB."""
    import resource

    if memory_mb <= 0:
        return
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            vm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return
    limit = vm_kb * 1024 + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, cache_root: Path, memory_mb: int) -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "NUMBA_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "prefrec.analysis", "--worker", str(task_r), str(result_w),
                 str(cache_root), str(memory_mb), str(os.getpid())],
                # Its own process group (so a timeout kills it with any ffmpeg it started), but the
                # caller's session: the scheduler's per-session fairness still treats the scan as one.
                pass_fds=(task_r, result_w), env=env, process_group=0,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(task_r)
            os.close(result_w)
        self.tasks = os.fdopen(task_w, "w", encoding="utf-8")
        self.results = os.fdopen(result_r, "rb")
        self.path: str | None = None
        self.deadline = 0.0

    def send(self, path: str, timeout_s: float) -> None:
        self.path, self.deadline = path, time.monotonic() + timeout_s
        self.tasks.write(json.dumps(path) + "\n")
        self.tasks.flush()

    def receive(self) -> Analysed | Failed | None:
        """The finished result, or None when the worker died instead of answering."""
        line = self.results.readline()
        if not line.endswith(b"\n"):
            return None
        data = json.loads(line)
        kind = data.pop("kind")
        self.path = None
        return Analysed(**data) if kind == "analysed" else Failed(**data)

    def death_reason(self) -> str:
        code = self.proc.wait()
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the decoder crashed on it ({name}{hint}); the file may be damaged"
        return f"the analysis worker exited with status {code} on it"

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and any ffmpeg it started
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.close()

    def close(self) -> None:
        for stream in (self.tasks, self.results):
            try:
                stream.close()
            except OSError:
                pass


def analyse_many(
    paths: Iterable[str], *, cache_root: Path, workers: int, timeout_s: float,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> Iterator[Analysed | Failed]:
    """Analyse `paths` in `workers` isolated processes; yields one result per path as each completes.

    A file whose worker overruns `timeout_s` seconds, crashes or is killed yields a Failed with the
    reason; its worker is replaced and the other files go on.
    """
    from multiprocessing.connection import wait

    queue = deque(paths)
    if not queue:
        return
    pool: list[_Worker] = []
    try:
        for _ in range(max(1, min(workers, len(queue)))):
            pool.append(_Worker(cache_root, memory_mb))
        while True:
            for i, worker in enumerate(pool):
                if worker.path is None and queue:
                    try:
                        worker.send(queue[0], timeout_s)
                    except OSError:  # it died while idle (e.g. killed from outside): replace it
                        worker.path = None
                        worker.kill()
                        pool[i] = worker = _Worker(cache_root, memory_mb)
                        worker.send(queue[0], timeout_s)
                    queue.popleft()
            busy = [w for w in pool if w.path is not None]
            if not busy:
                return
            wait_s = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.results for w in busy], timeout=wait_s)
            for i, worker in enumerate(pool):
                if worker.path is None:
                    continue
                path = worker.path
                if worker.results in ready:
                    result = worker.receive()
                    if result is not None:
                        yield result
                        continue
                    reason = worker.death_reason()
                elif time.monotonic() >= worker.deadline:
                    reason = f"analysis took longer than {timeout_s:g} s (the decoder hung); it was stopped"
                else:
                    continue
                worker.kill()
                pool[i] = _Worker(cache_root, memory_mb)
                yield Failed(path, f"{path}: {reason}")
    finally:
        for worker in pool:
            if worker.path is not None:
                worker.kill()  # abandoned mid-file (the caller stopped early)
            else:
                worker.close()  # an idle worker sees its task pipe close and exits
        for worker in pool:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
