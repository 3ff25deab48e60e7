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
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    mbid: str = ""  # MusicBrainz recording id from the tags, '' when none
    fingerprint: str = ""  # Chromaprint items of its first sound, base64 (fingerprint.py); '' if none


@dataclass(frozen=True)
class Failed:
    """A file that could not be analysed, and why (a one-line message for the listener).

    vanished: the file no longer exists (deleted or moved during the scan): not an error to keep.
    transient: the machine was at fault, not the file (a full disk, the deadline, the memory
    limit, a missing decoder): the next scan tries again.
    """

    path: str
    reason: str
    vanished: bool = False
    transient: bool = False


class BlockFeaturiser:
    """MFCCs of a stream of audio blocks, equal to `features.mfcc` of the whole track.

    push() takes mono 22050 Hz float32 blocks of any size; finish() returns float32
    [N_MFCC, ceil(n_samples / 441)]. Frames are computed as soon as their N_FFT samples are in,
    so only about `chunk_frames` hops of audio are held at any time, and written straight into
    one time-major array sized from the track's expected length (`expected_s` or `reserve`): the
    features are held once, never as a list of blocks plus their concatenation.
    """

    def __init__(self, *, chunk_frames: int = 1000, expected_s: float = 0.0) -> None:
        import numpy as np

        self.chunk_frames = chunk_frames
        self.n_samples = 0
        self._buffer = np.zeros(N_FFT // 2, dtype=np.float32)  # padded audio from frame `_done` on
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._done = 0
        # [capacity, N_MFCC]; pages beyond what is written are never touched, so a generous
        # capacity costs address space, not memory.
        self._frames = np.empty((self._frames_for(expected_s) or 64 * chunk_frames, N_MFCC), dtype=np.float32)

    @staticmethod
    def _frames_for(seconds: float) -> int:
        return n_frames_for(int(seconds * SAMPLE_RATE) + 1) + 1 if seconds > 0 else 0

    def reserve(self, seconds: float) -> None:
        """Make room for `seconds` of audio in all (e.g. once the decoder has read the header)."""
        self._grow(self._frames_for(seconds))

    def _grow(self, capacity: int) -> None:
        import numpy as np

        if capacity > self._frames.shape[0]:
            grown = np.empty((capacity, N_MFCC), dtype=np.float32)
            grown[: self._done] = self._frames[: self._done]
            self._frames = grown

    def push(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        self.n_samples += int(samples.shape[0])
        self._pending.append(samples)
        self._pending_len += int(samples.shape[0])
        if self._buffer.shape[0] + self._pending_len >= (self.chunk_frames - 1) * HOP_SAMPLES + N_FFT:
            self._compute(final=False)

    def _compute(self, *, final: bool) -> None:
        import numpy as np

        from prefrec.features import mfcc_frames_into

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
            if self._done + frames > self._frames.shape[0]:  # longer than announced: double
                self._grow(max(self._done + frames, 2 * self._frames.shape[0]))
            mfcc_frames_into(buffer, frames, self._frames[self._done : self._done + frames])
            self._done += frames
            buffer = buffer[frames * HOP_SAMPLES:]
        self._buffer = np.ascontiguousarray(buffer)

    def finish(self) -> np.ndarray:
        """float32 [N_MFCC, frames]: a transposed view of the time-major array (not a copy)."""
        self._compute(final=True)
        return self._frames[: self._done].T


MAX_LENGTH_S = 24 * 3600.0  # a header claiming more than this is not believed when setting deadlines


def analyse_file(path: str, cache_root: str, *, on_length: Callable[[float], None] | None = None) -> Analysed | Failed:
    """Decode `path` block by block, compute its MFCCs and cache them. Never raises for a bad file.

    Runs in the calling process: the deadline and memory limit are enforced around it by
    `WorkerPool`.
    on_length(seconds) is called as soon as the file's stated playing time is known (from its tags'
    stream info before decoding, else from the decoder's header), so a deadline can grow with it.
    A file libsndfile stops decoding early (a cut or damaged file) is decoded again by ffmpeg when
    it is installed, and whichever decoded more is kept.
    """
    import base64

    from prefrec.audio import read_tags
    from prefrec.cache import FeatureCache

    p = Path(path)
    decodes: list[tuple[Any, BlockFeaturiser, Any]] = []  # their fingerprinters are closed at the end
    try:
        st = os.stat(p)
        if st.st_size == 0 and stat.S_ISREG(st.st_mode):
            raise PrefrecError(f"{path}: is empty (0 bytes); delete it or copy it again")
        tags = read_tags(p)
        if tags.length_s and on_length:
            on_length(tags.length_s)
        decodes.append(_decode_features(p, tags.length_s, on_length))
        info, featuriser, fingerprinter = decodes[0]
        if info.truncated and info.decoder == "soundfile" and shutil.which("ffmpeg"):
            try:
                decodes.append(_decode_features(p, tags.length_s, None, decoder="ffmpeg"))
            except PrefrecError:
                pass
            else:
                if decodes[-1][1].n_samples > featuriser.n_samples:
                    stated_s = info.expected_frames / info.source_rate if info.source_rate else 0.0
                    info, featuriser, fingerprinter = decodes[-1]
                    got_s = featuriser.n_samples / SAMPLE_RATE
                    if got_s < stated_s - 0.5:  # ffmpeg may stop quietly at the cut: still a truncated file
                        info.truncated = True
                        info.problem = info.problem or f"only {got_s:.1f} s of {stated_s:.1f} s decode"
        if featuriser.n_samples == 0:
            raise PrefrecError(f"{path}: holds no audio samples (empty, header-only or cut before the audio)")
        if info.nonfinite >= info.source_frames:
            raise PrefrecError(f"{path}: every sample is NaN or infinite; re-export the file")
        features = featuriser.finish()
        # Always written (atomically): the features were just computed, and a damaged or older
        # cached copy of the same music must not survive a re-analysis.
        try:
            FeatureCache(Path(cache_root)).save(info.identity, features)
        except OSError as exc:
            return Failed(path, f"{path}: could not write its features to {cache_root} ({exc.strerror or exc}); "
                          "free some space there, it is analysed again on the next scan", transient=True)
        notes = [info.problem] if info.truncated else []
        if info.nonfinite:
            notes.append(f"{info.nonfinite} NaN/infinite samples replaced by silence")
        fingerprint = fingerprinter.finish()
        return Analysed(path, info.identity, tags.title, tags.artist, tags.album,
                        featuriser.n_samples / SAMPLE_RATE, int(features.shape[1]), info.truncated,
                        "; ".join(notes), tags.mbid,
                        base64.b64encode(fingerprint).decode("ascii") if fingerprint else "")
    except MemoryError:
        return Failed(path, f"{path}: ran out of memory while analysing it (worker memory limit); raise "
                      "worker_memory_mb, it is analysed again on the next scan", transient=True)
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop a scan
        if not os.path.lexists(path):
            return Failed(path, f"{path}: disappeared during the scan", vanished=True)
        if isinstance(exc, PrefrecError):
            return Failed(path, str(exc), transient=bool(getattr(exc, "transient", False)))
        if isinstance(exc, OSError):  # e.g. no permission to read it, an I/O error of the disk
            return Failed(path, f"{path}: cannot be read ({exc.strerror or exc}); it is tried again on the "
                          "next scan", transient=True)
        return Failed(path, f"{path}: analysis failed ({type(exc).__name__}: {exc})")
    finally:
        for _, _, fingerprinter in decodes:
            fingerprinter.close()


def _decode_features(path: Path, length_s: float | None, on_length: Callable[[float], None] | None, *,
                     decoder: str | None = None) -> tuple[Any, BlockFeaturiser, Any]:
    """Decode `path` (with `decoder`, else the usual choice) into a BlockFeaturiser and a
    fingerprint.Fingerprinter: (StreamInfo, featuriser, fingerprinter; the caller closes it).
    Raises AudioError when nothing can read it."""
    from prefrec.audio import StreamInfo, stream
    from prefrec.fingerprint import Fingerprinter

    info = StreamInfo(path)
    featuriser = BlockFeaturiser(expected_s=length_s or 0.0)
    fingerprinter = Fingerprinter(SAMPLE_RATE)
    try:
        for block in stream(path, info, decoder=decoder):
            if featuriser.n_samples == 0 and info.expected_frames and info.source_rate:
                header_s = info.expected_frames / info.source_rate  # the decoder's own count
                featuriser.reserve(header_s)
                if not length_s and on_length:
                    on_length(header_s)
            featuriser.push(block)
            fingerprinter.feed(block)
    except BaseException:
        fingerprinter.close()
        raise
    return info, featuriser, fingerprinter


# -- worker processes --------------------------------------------------------------------------


def _worker_main(task_fd: int, result_fd: int, cache_root: str, memory_mb: int, parent_pid: int) -> None:
    """Loop of a worker process: read a path per line, analyse it, write one JSON line back.

    Ends when the task pipe closes (the parent finished or died).
    """
    die_with_parent(parent_pid)
    retain_freed_memory()  # each file's blocks and arrays reuse the last file's memory, not fresh pages
    import base64  # noqa: F401 - load what analyse_file uses before taking the address-space measure

    import mutagen  # noqa: F401
    import numpy  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401

    from prefrec import audio, cache  # noqa: F401
    from prefrec.features import _mfcc_matrices, real_fft
    from prefrec.fingerprint import available

    _mfcc_matrices()
    real_fft()  # scipy's FFT module alone (importing scipy.fft would cost 0.4 s of CPU)
    available()  # loads libchromaprint before the address space is measured
    # mutagen imports its format modules on first use: now, not under the limit. Imports after
    # the measure eat into the headroom, and Chromaprint's C++ aborts the worker when an
    # allocation fails (a limit near its floor then killed the worker instead of failing the file).
    audio.read_tags(Path(os.devnull))
    _limit_memory(memory_mb)
    with os.fdopen(task_fd, "r", encoding="utf-8") as tasks, os.fdopen(result_fd, "wb", buffering=0) as out:

        def send(message: dict[str, object]) -> None:
            out.write((json.dumps(message) + "\n").encode("utf-8"))

        send({"kind": "ready"})  # start-up (imports) done: from now on a file's clock runs
        for line in tasks:
            result = analyse_file(json.loads(line), cache_root,
                                  on_length=lambda seconds: send({"kind": "length", "seconds": seconds}))
            send({"kind": "analysed" if isinstance(result, Analysed) else "failed", **asdict(result)})


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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def retain_freed_memory(*, mmap_mb: int = 16, trim_mb: int = 64) -> bool:
    """Have glibc's malloc keep freed memory for reuse rather than hand it back to the kernel at once:
    blocks under `mmap_mb` MiB come from the heap, and up to `trim_mb` MiB of free heap stays mapped.

    For a process that allocates and frees the same large arrays item after item (a scoring worker:
    a track's features, CNN outputs, LSTM gates). With glibc's adaptive defaults those came back as
    fresh pages, page-faulted in again each time: about 1,300 faults and a third of a 3-minute
    track's scoring time in the kernel. An analysis worker likewise (each 10 s block's arrays): 10x
    fewer page faults, about 3% less CPU for a scan. The process keeps up to `trim_mb` more resident. Returns
    whether the C library took the settings (False where malloc is not glibc's)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_mb << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, trim_mb << 20))
    except (OSError, AttributeError):
        return False


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


DEFAULT_TIMEOUT_PER_AUDIO_S = 0.05  # extra deadline per second of audio: 6 min more for a 2-hour mix
STARTUP_TIMEOUT_S = 120.0  # for a new worker to import its libraries, before its first file's clock starts


class _Worker:
    """The parent's handle on one worker process and the file it is working on.

    Its messages are JSON lines on a pipe, read with os.read (not a buffered reader, so no line can
    hide in a buffer while the pipe looks idle): "ready" once, then per file an optional "length"
    and one "analysed" or "failed".
    """

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
        self.results_fd: int | None = result_r
        self._unread = b""
        self.ready = False
        self.path: str | None = None
        self.allowed_s = 0.0  # the current file's time limit, from when its clock started
        self.started = 0.0  # monotonic time its clock started
        self.deadline = 0.0

    def send(self, path: str, timeout_s: float) -> None:
        self.path, self.allowed_s, self.started = path, timeout_s, time.monotonic()
        # A worker still importing its libraries gets STARTUP_TIMEOUT_S more; its "ready" restarts the clock.
        self.deadline = self.started + timeout_s + (0.0 if self.ready else STARTUP_TIMEOUT_S)
        self.tasks.write(json.dumps(path) + "\n")
        self.tasks.flush()

    def read(self) -> list[dict[str, Any]] | None:
        """The complete messages that arrived (after the pipe was seen readable); None at end of pipe
        (the worker died)."""
        assert self.results_fd is not None
        chunk = os.read(self.results_fd, 1 << 16)
        if not chunk:
            return None
        lines = (self._unread + chunk).split(b"\n")
        self._unread = lines.pop()
        return [json.loads(line) for line in lines]

    def death_reason(self) -> tuple[str, bool]:
        """Why the worker died, and whether the machine rather than the file is to blame (a
        SIGKILL is the kernel's out-of-memory killer or someone else; a crash is the file's)."""
        code = self.proc.wait()
        if code < 0:
            name = signal.Signals(-code).name
            if -code == signal.SIGKILL:
                return (f"the analysis worker was killed ({name}: out of memory?); it is analysed again on "
                        "the next scan"), True
            return f"the decoder crashed on it ({name}); the file may be damaged", False
        return f"the analysis worker exited with status {code} on it; it is analysed again on the next scan", True

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and any ffmpeg it started
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.close()

    def close(self) -> None:
        try:
            self.tasks.close()
        except OSError:
            pass
        if self.results_fd is not None:
            os.close(self.results_fd)
            self.results_fd = None


class WorkerPool:
    """Up to `workers` isolated analysis processes, each analysing one file at a time.

    submit() hands a file to an idle worker (started on demand); results() returns what finished.
    Every file has a deadline of `timeout_s` (after its worker's start-up), extended by
    `timeout_per_audio_s` per second of audio once the worker reports the file's length, so a
    two-hour mix is not held to a three-minute song's limit. A worker that overruns its deadline is
    killed with any ffmpeg it started, one that crashes (segfault, out-of-memory kill) is reaped;
    either way its file gets a Failed with the reason, and a fresh worker takes the next file.
    Used by `analyse_many` (scan) and by the daemon. close() kills busy workers and reaps all.
    """

    def __init__(self, *, cache_root: Path, workers: int, timeout_s: float,
                 timeout_per_audio_s: float = DEFAULT_TIMEOUT_PER_AUDIO_S,
                 memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self.cache_root = Path(cache_root)
        self.size = max(1, workers)
        self.timeout_s = timeout_s
        self.timeout_per_audio_s = timeout_per_audio_s
        self.memory_mb = memory_mb
        self._workers: list[_Worker] = []

    @property
    def running(self) -> list[str]:
        """Paths being analysed now."""
        return [w.path for w in self._workers if w.path is not None]

    def allowed_s(self, path: str) -> float | None:
        """The time limit of `path` (being analysed) in seconds: timeout_s until its worker reports
        the length, then timeout_s + timeout_per_audio_s * length. None when it is not running."""
        return next((w.allowed_s for w in self._workers if w.path == path), None)

    @property
    def free(self) -> int:
        """How many more files submit() takes now."""
        return self.size - len(self.running)

    def submit(self, path: str) -> None:
        """Start analysing `path` on an idle worker. Raises RuntimeError when none is free."""
        idle = next((w for w in self._workers if w.path is None), None)
        if idle is None:
            if len(self._workers) >= self.size:
                raise RuntimeError("no idle analysis worker; wait for results() first")
            idle = self._spawn()
        try:
            idle.send(path, self.timeout_s)
        except OSError:  # it died while idle (e.g. killed from outside): replace it, blame no file
            idle.path = None
            self._replace(idle)
            self._spawn().send(path, self.timeout_s)

    def results(self, timeout_s: float | None = None) -> list[Analysed | Failed]:
        """Wait up to `timeout_s` (None: until something finishes or a deadline passes; 0: just look)
        and return the files that finished, failed or overran their deadline meanwhile."""
        from multiprocessing.connection import wait

        done: list[Analysed | Failed] = []
        listening = [w for w in self._workers if w.results_fd is not None]
        busy = [w for w in listening if w.path is not None]
        if not listening or (timeout_s is None and not busy):
            return done
        wait_s = timeout_s
        if busy:
            until_deadline = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            wait_s = until_deadline if wait_s is None else min(wait_s, until_deadline)
        ready = set(wait([w.results_fd for w in listening], timeout=wait_s))
        for worker in list(self._workers):
            messages = worker.read() if worker.results_fd in ready else []
            path = worker.path
            if messages is None:  # the pipe closed: the worker died
                self._replace(worker)
                if path is not None:
                    reason, transient = worker.death_reason()
                    done.append(Failed(path, f"{path}: {reason}", transient=transient))
                continue
            for message in messages:
                result = self._handle(worker, message)
                if result is not None:
                    done.append(result)
            if worker.path is not None and time.monotonic() >= worker.deadline:
                path = worker.path
                done.append(Failed(path, f"{path}: analysis took longer than {round(worker.allowed_s, 2):g} s "
                                         "(the decoder hung, or the machine was busy); it was stopped and is "
                                         "tried again on the next scan", transient=True))
                worker.path = None
                self._replace(worker)
        return done

    def _handle(self, worker: _Worker, message: dict[str, Any]) -> Analysed | Failed | None:
        kind = message.pop("kind")
        if kind == "ready":
            worker.ready = True
            if worker.path is not None:  # its clock starts now, without the start-up
                worker.started = time.monotonic()
                worker.deadline = worker.started + worker.allowed_s
            return None
        if kind == "length":
            if worker.path is not None:
                seconds = min(max(float(message["seconds"]), 0.0), MAX_LENGTH_S)
                worker.allowed_s = self.timeout_s + self.timeout_per_audio_s * seconds
                worker.deadline = worker.started + worker.allowed_s
            return None
        worker.path = None
        return Analysed(**message) if kind == "analysed" else Failed(**message)

    def _spawn(self) -> _Worker:
        worker = _Worker(self.cache_root, self.memory_mb)
        self._workers.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill and reap `worker` (with its process group) and forget it; a new one starts on demand."""
        worker.kill()
        self._workers.remove(worker)

    def close(self) -> None:
        """Kill workers that are busy (abandoned mid-file), let idle ones exit, reap them all."""
        for worker in self._workers:
            if worker.path is not None:
                worker.kill()
            else:
                worker.close()  # an idle worker sees its task pipe close and exits
        for worker in self._workers:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()
        self._workers.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyse_many(
    paths: Iterable[str], *, cache_root: Path, workers: int, timeout_s: float,
    timeout_per_audio_s: float = DEFAULT_TIMEOUT_PER_AUDIO_S, memory_mb: int = DEFAULT_MEMORY_MB,
) -> Iterator[Analysed | Failed]:
    """Analyse `paths` in `workers` isolated processes (a WorkerPool); yields one result per path as
    each completes. A file that overruns its deadline, crashes its worker or is killed yields a Failed
    with the reason, and the other files go on."""
    queue = deque(paths)
    if not queue:
        return
    with WorkerPool(cache_root=cache_root, workers=min(workers, len(queue)), timeout_s=timeout_s,
                    timeout_per_audio_s=timeout_per_audio_s, memory_mb=memory_mb) as pool:
        while queue or pool.running:
            while queue and pool.free:
                pool.submit(queue.popleft())
            done = pool.results()
            # Hand the freed workers their next files before the caller handles these results
            # (database writes), so that no worker waits for the caller.
            while queue and pool.free:
                pool.submit(queue.popleft())
            yield from done


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
