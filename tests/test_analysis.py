"""The analysis pipeline: formats, isolation (hangs, crashes, memory), odd inputs, identity,
resumable scans and the feature cache. Real worker processes, real files, real signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import (
    ROOT,
    cli,
    cli_json,
    db_rows,
    music,
    needs_ffmpeg,
    plant_temporaries,
    segfault_a_busy_worker,
    worker_pids,
)


def analyse(paths, tmp_path, **kwargs):
    from prefrec.analysis import analyse_many

    kwargs.setdefault("workers", 1)
    kwargs.setdefault("timeout_s", 60)
    return {r.path: r for r in analyse_many([str(p) for p in paths], cache_root=tmp_path / "cache", **kwargs)}


# -- features and cache --------------------------------------------------------------------------


@pytest.mark.parametrize("expected_s", [0.0, 23.3, 1.0])  # unknown length, the right one, too short a one
def test_block_featuriser_equals_mfcc_of_the_whole_track(expected_s):
    from prefrec.analysis import BlockFeaturiser
    from prefrec.features import mfcc

    y = music(23.3)
    whole = mfcc(y)
    rng = np.random.default_rng(1)
    featuriser = BlockFeaturiser(chunk_frames=37, expected_s=expected_s)
    start = 0
    while start < y.size:  # blocks of random sizes, not aligned to hops
        stop = start + int(rng.integers(1, 30000))
        featuriser.push(y[start:stop])
        start = stop
    blocks = featuriser.finish()
    assert blocks.shape == whole.shape == (20, -(-y.size // 441))
    assert np.abs(blocks - whole).max() < 1e-3 * np.abs(whole).max()


REFERENCE = Path(__file__).resolve().parent / "data" / "mfcc-librosa-reference.npy"


def _librosa_mfcc(y: np.ndarray) -> np.ndarray:
    """librosa's MFCCs of `y` framed as prefrec frames it: float32 [20, frames]."""
    import librosa

    from prefrec.features import N_FFT

    frames = -(-y.size // 441)
    padded = np.zeros((frames - 1) * 441 + N_FFT, dtype=np.float32)
    padded[N_FFT // 2 : N_FFT // 2 + y.size] = y
    mel = librosa.feature.melspectrogram(y=padded, sr=22050, n_fft=N_FFT, hop_length=441, center=False,
                                         n_mels=64, power=2.0)
    return librosa.feature.mfcc(S=10 * np.log10(np.maximum(mel, 1e-10)), n_mfcc=20).astype(np.float32)


def test_mfcc_matches_librosas_stored_reference():
    """Against MFCCs librosa computed for the same audio (tests/data, written by _librosa_mfcc;
    the slow test below checks the file against librosa itself)."""
    from prefrec.features import mfcc

    assert np.abs(mfcc(music(6.0, seed=2)) - np.load(REFERENCE)).max() < 1e-3


@pytest.mark.slow  # imports librosa (and numba's compilation): seconds
def test_mfcc_matches_librosa_reference():
    from prefrec.features import mfcc

    y = music(6.0, seed=2)
    reference = _librosa_mfcc(y)
    assert np.abs(mfcc(y) - reference).max() < 1e-3
    assert np.abs(reference - np.load(REFERENCE)).max() < 1e-4  # the stored reference is still librosa's


@pytest.mark.slow  # imports librosa.filters: seconds
def test_mel_filters_match_librosa():
    import librosa

    from prefrec.features import mel_filters

    ref = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=64)
    assert mel_filters().shape == ref.shape and np.abs(mel_filters() - ref).max() < 1e-6 * ref.max()


def test_feature_cache_is_compact_accurate_and_versioned(tmp_path):
    from prefrec.cache import FeatureCache
    from prefrec.features import mfcc

    y = music(60.0, seed=3)
    features = mfcc(y)
    cache = FeatureCache(tmp_path)
    path = cache.save("a2-x", features)
    back = cache.load("a2-x")
    assert back.dtype == np.float32 and back.shape == features.shape
    spread = features.std(axis=1)
    assert np.all(np.abs(back - features).max(axis=1) <= spread / 32 + 1e-3)  # half a quantisation step
    # a 128 kbit/s file is 16000 bytes per second: the cache must stay under 5% of that
    assert path.stat().st_size / 60.0 < 0.05 * 16000
    assert not FeatureCache(tmp_path, version=999).has("a2-x")
    path.write_bytes(b"garbage")
    with pytest.raises(FileNotFoundError, match="damaged"):
        cache.load("a2-x")
    assert not cache.has("a2-x")  # removed, so that a rescan recomputes it


def test_a_rescan_recomputes_missing_or_damaged_features(tmp_path):
    from prefrec.cache import FeatureCache
    from prefrec.config import load_settings
    from prefrec.service import Service
    from prefrec.synth import write_library

    write_library(tmp_path / "music", ["plucks"], 2, seed=4, min_s=9, max_s=10)
    with Service(load_settings(tmp_path / "home", workers=1)) as service:
        assert service.library.scan([str(tmp_path / "music")], train=False).analysed == 2
        damaged, deleted = service.store.tracks()
        cache = FeatureCache(service.settings.features_dir)
        good = cache.load(damaged.identity)
        cache.path_for(damaged.identity).write_bytes(b"garbage")
        cache.path_for(deleted.identity).unlink()
        with pytest.raises(FileNotFoundError):
            cache.load(damaged.identity)
        report = service.library.scan([str(tmp_path / "music")], train=False)
        assert report.analysed == 2 and report.unchanged == 0
        np.testing.assert_array_equal(cache.load(damaged.identity), good)
        assert cache.load(deleted.identity).shape[1] == deleted.n_frames
        assert service.library.scan([str(tmp_path / "music")], train=False).analysed == 0


# -- formats ---------------------------------------------------------------------------------------


def write_soundfile(path: Path, seconds: float = 10.0) -> None:
    rate = 48000 if path.suffix == ".opus" else 22050
    kwargs = {"format": "OGG", "subtype": "OPUS"} if path.suffix == ".opus" else {}
    sf.write(path, music(seconds, rate=rate, channels=2), rate, **kwargs)


def write_ffmpeg(path: Path, seconds: float = 10.0) -> None:
    source = path.with_suffix(".src.wav")
    sf.write(source, music(seconds, channels=2), 22050)
    codec = ["-c:a", "alac"] if path.stem.endswith("alac") else []
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *codec, str(path)], check=True)
    source.unlink()


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.ogg", "a.opus", "a.mp3"])
def test_soundfile_formats_decode(tmp_path, name):
    path = tmp_path / name
    write_soundfile(path)
    result = analyse([path], tmp_path)[str(path)]
    assert result.duration_s == pytest.approx(10.0, abs=0.1), result
    assert result.n_frames == pytest.approx(500, abs=5) and not result.truncated


@needs_ffmpeg
@pytest.mark.parametrize("name", ["a.m4a", "a-alac.m4a", "a.aac", "a.wma"])
def test_ffmpeg_formats_decode(tmp_path, name):
    path = tmp_path / name
    write_ffmpeg(path)
    result = analyse([path], tmp_path)[str(path)]
    assert result.duration_s == pytest.approx(10.0, abs=0.1), result
    assert not result.truncated


@pytest.mark.skipif(not Path("/proc/sys/fs/pipe-max-size").exists(), reason="needs Linux's resizable pipes")
def test_the_pipe_from_ffmpeg_holds_seconds_of_audio():
    import fcntl

    from prefrec.audio import PIPE_BYTES, _widen_pipe

    read, write = os.pipe()
    try:
        before = fcntl.fcntl(read, fcntl.F_GETPIPE_SZ)
        _widen_pipe(read)
        after = fcntl.fcntl(read, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(read)
        os.close(write)
    if int(Path("/proc/sys/fs/pipe-max-size").read_text()) >= PIPE_BYTES:
        assert (before, after) == (64 * 1024, PIPE_BYTES)
    else:  # a system that caps pipes lower keeps its default, and decoding goes on
        assert after in (before, PIPE_BYTES)


@needs_ffmpeg
def test_without_ffmpeg_the_message_names_the_missing_tool(tmp_path, monkeypatch):
    from prefrec.analysis import analyse_file

    path = tmp_path / "a.m4a"
    write_ffmpeg(path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = analyse_file(str(path), str(tmp_path / "cache"))
    assert "ffmpeg is not installed" in result.reason and "apt install ffmpeg" in result.reason


# -- isolation ---------------------------------------------------------------------------------------


def test_a_hanging_decoder_is_stopped_at_its_deadline_and_the_next_file_is_analysed(tmp_path):
    # A FIFO blocks its reader forever: a real hang inside a real worker. (A scan never hands a
    # FIFO to a worker; here it stands for a file swapped for one after the folder walk.)
    fifo, good = tmp_path / "stuck.wav", tmp_path / "good.wav"
    os.mkfifo(fifo)
    sf.write(good, music(5.0), 22050)
    results = analyse([fifo, good], tmp_path, timeout_s=3)
    assert "longer than 3 s" in results[str(fifo)].reason
    assert results[str(good)].duration_s == pytest.approx(5.0, abs=0.05)


def test_the_next_file_is_analysed_while_the_caller_handles_a_result(tmp_path):
    """analyse_many gives a freed worker its next file before yielding the result, so a scan's
    database writes never leave a worker idle: with one worker, the second file's features are
    written while the caller still holds the first result."""
    from prefrec.analysis import analyse_many

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], music(4.0, seed=i), 22050)
    cache = tmp_path / "cache"
    results = analyse_many([str(p) for p in paths], cache_root=cache, workers=1, timeout_s=60)
    first = next(results)
    deadline = time.monotonic() + 30
    while len(list(cache.rglob("*.prf"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(cache.rglob("*.prf"))) == 2  # the second file, analysed meanwhile
    assert sorted([first.path] + [r.path for r in results]) == sorted(str(p) for p in paths)


def test_a_long_track_gets_a_deadline_that_grows_with_its_length(tmp_path):
    from prefrec.analysis import WorkerPool

    track = tmp_path / "ten minutes.wav"
    sf.write(track, music(600.0), 22050)
    outcomes = {}
    # The same 1 s base limit; 0.05 s more per second of audio (30 s more here) against 0.0001 s (0.06 s).
    for per_audio_s in (0.05, 0.0001):
        with WorkerPool(cache_root=tmp_path / "cache", workers=1, timeout_s=1.0,
                        timeout_per_audio_s=per_audio_s) as pool:
            pool.submit(str(track))
            results = []
            while not results and pool.allowed_s(str(track)) == 1.0:  # until the worker reports the length
                results = pool.results(0.01)
            assert not results and pool.allowed_s(str(track)) == pytest.approx(1.0 + per_audio_s * 600.0)
            (worker,) = worker_pids(os.getpid())
            os.kill(worker, signal.SIGSTOP)  # a decoder that stalls for 2.5 s in the middle of the file
            try:
                time.sleep(2.5)
                results = pool.results(0)  # looked at while it is still stopped
            finally:
                try:
                    os.kill(worker, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            while not results:
                results = pool.results()
            (outcomes[per_audio_s],) = results
    assert outcomes[0.05].duration_s == pytest.approx(600.0, abs=0.05)
    assert "took longer than 1.06 s" in outcomes[0.0001].reason


def test_a_worker_killed_by_sigsegv_marks_its_file_and_the_scan_goes_on(tmp_path):
    library, home = tmp_path / "music", tmp_path / "home"
    library.mkdir()
    for i in range(4):
        sf.write(library / f"{i} long.wav", music(240.0, seed=i), 22050)  # ~1 s of work each
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    scan = subprocess.Popen([sys.executable, "-m", "prefrec", "--home", str(home), "scan", "--json", "-j", "1",
                             "--no-train", str(library)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    victim = segfault_a_busy_worker(scan.pid, library)
    out, err = scan.communicate(timeout=120)
    assert victim is not None and scan.returncode == 0, err
    report = json.loads(out)
    assert report["analysed"] == 3
    assert [f["path"] for f in report["failed"]] == [victim]
    status = cli_json(home, "status", "--json")
    assert [e["path"] for e in status["error_files"]] == [victim]
    assert "crashed" in status["error_files"][0]["reason"] and "SIGSEGV" in status["error_files"][0]["reason"]


def test_a_worker_killed_while_idle_is_replaced_and_no_file_is_blamed(tmp_path):
    from prefrec.analysis import WorkerPool

    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.wav"))
        sf.write(paths[-1], music(3.0, seed=i), 22050)
    # Through the pool: analyse_many hands a freed worker its next file before yielding, so
    # while its caller holds a result the worker is busy, not idle.
    with WorkerPool(cache_root=tmp_path / "cache", workers=1, timeout_s=60) as pool:
        pool.submit(paths[0])
        done = []
        while not done:
            done = pool.results()
        (idle,) = worker_pids(os.getpid())  # it finished its file and waits for the next
        os.kill(idle, signal.SIGKILL)
        time.sleep(0.2)
        for path in paths[1:]:
            pool.submit(path)
            while len(done) < paths.index(path) + 1:
                done += pool.results()
    assert [type(r).__name__ for r in done] == ["Analysed"] * 3, done
    assert idle not in worker_pids(os.getpid())


def test_a_worker_over_its_memory_limit_fails_that_file_only(tmp_path):
    big, small = tmp_path / "big.wav", tmp_path / "small.wav"
    sf.write(big, music(60.0, rate=96000, channels=6), 96000)  # 23 MB per decoded block
    sf.write(small, music(3.0), 22050)
    results = analyse([big, small], tmp_path, memory_mb=8)
    assert "memory" in results[str(big)].reason
    assert analyse([big], tmp_path)[str(big)].duration_s == pytest.approx(60.0, abs=0.05)


# -- odd inputs through the command line ---------------------------------------------------------------


def build_odd_library(root: Path, outside: Path) -> dict[str, str]:
    """Odd files in `root`; returns {file name: expected outcome ('ok', 'flag' or a reason fragment)}."""
    root.mkdir()
    outside.mkdir()
    expected = {}
    (root / "empty.mp3").write_bytes(b"")
    expected["empty.mp3"] = "empty (0 bytes)"
    (root / "page.mp3").write_text("<!DOCTYPE html><html><body>Not found</body></html>\n" * 40)
    expected["page.mp3"] = "not an audio file"
    sf.write(root / "whole.flac", music(20.0), 22050)
    sf.write(root / "whole.mp3", music(20.0, seed=1), 22050)
    for name in ("whole.flac", "whole.mp3"):
        data = (root / name).read_bytes()
        (root / f"truncated-{name}").write_bytes(data[: len(data) * 6 // 10])
        expected[name] = "ok"
        expected[f"truncated-{name}"] = "flag"
    sf.write(root / "header-only.wav", music(1.0), 22050, subtype="PCM_16")
    (root / "header-only.wav").write_bytes((root / "header-only.wav").read_bytes()[:44])
    expected["header-only.wav"] = "no audio samples"
    nan = music(12.0, seed=2)
    nan[1000:9000] = np.nan
    sf.write(root / "nan.wav", nan, 22050, subtype="FLOAT")
    expected["nan.wav"] = "flag"
    sf.write(root / "8k.wav", music(10.0, rate=8000, seed=3), 8000)
    sf.write(root / "96k.flac", music(10.0, rate=96000, seed=4), 96000)
    sf.write(root / "6ch.wav", music(10.0, channels=6, seed=5), 22050)
    sf.write(root / "-leading dash.wav", music(10.0, seed=6), 22050)
    expected.update({"8k.wav": "ok", "96k.flac": "ok", "6ch.wav": "ok", "-leading dash.wav": "ok"})
    sf.write(root / "short.wav", music(3.0, seed=7), 22050)
    expected["short.wav"] = "flag"
    os.mkfifo(root / "fifo.wav")
    expected["fifo.wav"] = "FIFO"
    os.symlink(root / "loop-b.mp3", root / "loop-a.mp3")
    os.symlink(root / "loop-a.mp3", root / "loop-b.mp3")
    expected["loop-a.mp3"] = expected["loop-b.mp3"] = "cannot be read"
    sf.write(outside / "secret.wav", music(10.0, seed=8), 22050)
    os.symlink(outside / "secret.wav", root / "link-out.wav")
    expected["link-out.wav"] = "outside the library"
    os.symlink(outside, root / "linked-folder")  # a folder link is never walked into
    os.symlink(root, root / "self-loop")  # a folder link loop neither
    sf.write(root / "inside.wav", music(10.0, seed=9), 22050)
    os.symlink(root / "inside.wav", root / "link-in.wav")  # a link inside the library is fine
    expected.update({"inside.wav": "ok", "link-in.wav": "ok"})
    sf.write(os.fsencode(root) + b"/caf\xe9.wav", music(10.0, seed=10), 22050)
    expected["caf\\xe9.wav"] = "not valid UTF-8"
    return expected


def test_odd_inputs_scan_completes_and_status_gives_every_reason(tmp_path):
    root, home = tmp_path / "music", tmp_path / "home"
    expected = build_odd_library(root, tmp_path / "outside")
    report = cli_json(home, "scan", "--json", "--no-train", str(root))
    status = cli_json(home, "status", "--json")
    errors = {Path(e["path"]).name: e["reason"] for e in status["error_files"]}
    flagged = {Path(f["path"]).name: f["note"] for f in status["flagged_files"]}
    analysed = {Path(p).name: d for p, d in db_rows(home, "SELECT path, duration_s FROM tracks")}
    for name, outcome in expected.items():
        if outcome in ("ok", "flag"):
            assert name in analysed and name not in errors, (name, errors.get(name))
            assert (name in flagged) == (outcome == "flag"), (name, flagged)
        else:
            assert outcome in errors.get(name, ""), (name, errors.get(name))
    assert set(errors) | set(analysed) == set(expected)  # nothing else: no file through the links
    assert not any("secret" in p or "outside" in p for p, in db_rows(home, "SELECT path FROM tracks"))
    assert report["analysed"] == len(analysed) and len(report["failed"]) == len(errors)
    for name in ("8k.wav", "96k.flac", "6ch.wav"):
        assert analysed[name] == pytest.approx(10.0, abs=0.05)
    assert "truncated" not in flagged["nan.wav"] and "NaN" in flagged["nan.wav"]
    assert 9.0 < analysed["truncated-whole.flac"] < 14.0 and 9.0 < analysed["truncated-whole.mp3"] < 14.0
    text = cli(home, "status").stdout
    assert "cannot use" in text and "flagged" in text


def test_a_file_deleted_while_the_scan_runs_is_not_kept(tmp_path):
    from prefrec.config import load_settings
    from prefrec.service import Service

    root = tmp_path / "music"
    root.mkdir()
    for i in range(3):
        sf.write(root / f"{i}.wav", music(9.0, seed=i), 22050)
    with Service(load_settings(tmp_path / "home", workers=1)) as service:
        report = service.library.scan([str(root)], train=False, on_discovered=lambda *_: (root / "1.wav").unlink())
        status = service.queries.status()
    assert report.analysed == 2
    assert [r for p, r in report.failed] == [f"{root / '1.wav'}: disappeared during the scan"]
    assert status["analysed"] == 2 and status["errors"] == 0


# -- identity, rescans, resuming -----------------------------------------------------------------------


def test_feedback_follows_the_music_through_a_move_rename_and_retag(tmp_path):
    from mutagen.flac import FLAC

    from prefrec.synth import write_library

    library, home = tmp_path / "music", tmp_path / "home"
    tracks = write_library(library, ["plucks", "drums"], 3, seed=5, min_s=10, max_s=12)
    cli(home, "scan", "--no-train", str(library))
    liked, skipped = tracks[0], tracks[3]
    cli(home, "like", str(liked.path))
    cli(home, "skip", str(skipped.path))
    cli(home, "train")
    (identity,) = db_rows(home, f"SELECT identity FROM tracks WHERE path = '{liked.path}'")[0]

    moved = library / "elsewhere" / "a new name.flac"
    moved.parent.mkdir()
    shutil.move(liked.path, moved)
    tags = FLAC(moved)
    tags["title"], tags["artist"] = "Retitled", "Someone Else"
    tags.save()
    report = cli_json(home, "scan", "--json", str(library))
    assert report["analysed"] == 1 and report["gone"] == 1 and report["unchanged"] == 5

    rows = db_rows(home, f"SELECT identity, title, gone FROM tracks WHERE path = '{moved}'")
    assert rows == [(identity, "Retitled", 0)]
    status = cli_json(home, "status", "--json")
    assert status["likes"] == 1 and status["skips"] == 1 and status["analysed"] == 6
    recommended = {r["path"] for r in cli_json(home, "recommend", "--json", "-n", "50")}
    assert str(moved) not in recommended and len(recommended) == 4
    assert "you liked it" in cli(home, "explain", "Retitled").stdout


def test_identity_comes_from_the_audio_not_the_file_bytes(tmp_path):
    from mutagen.flac import FLAC

    a, b, c = tmp_path / "a.flac", tmp_path / "b.flac", tmp_path / "c.flac"
    sf.write(a, music(9.0), 22050)
    shutil.copyfile(a, b)
    tags = FLAC(b)
    tags["title"] = "x" * 300
    tags.save()
    sf.write(c, music(9.0, seed=1), 22050)
    results = analyse([a, b, c], tmp_path)
    assert a.read_bytes() != b.read_bytes()
    assert results[str(a)].identity == results[str(b)].identity != results[str(c)].identity


def test_a_scan_killed_with_sigkill_resumes_without_duplicates(tmp_path):
    library, home = tmp_path / "music", tmp_path / "home"
    library.mkdir()
    n = 24
    for i in range(n):
        sf.write(library / f"{i:02d}.wav", music(40.0, seed=i), 22050)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    scan = subprocess.Popen([sys.executable, "-m", "prefrec", "--home", str(home), "scan", "-j", "1", "--no-train",
                             str(library)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    committed = 0
    deadline = time.monotonic() + 120
    while committed == 0 and time.monotonic() < deadline and scan.poll() is None:
        time.sleep(0.02)
        try:
            committed = db_rows(home, "SELECT count(*) FROM tracks")[0][0]
        except sqlite3.OperationalError:
            pass  # the database is being created
    workers = worker_pids(scan.pid)
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    committed = db_rows(home, "SELECT count(*) FROM tracks")[0][0]
    assert 0 < committed < n, "kill the scan mid-way (make the library bigger if this fails)"
    time.sleep(1.0)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()
                and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]], "orphan workers"

    report = cli_json(home, "scan", "--json", "--no-train", str(library))
    assert report["unchanged"] == committed and report["analysed"] == n - committed
    assert db_rows(home, "SELECT count(*), count(DISTINCT path), count(DISTINCT identity) FROM tracks") == [(n, n, n)]


def test_features_of_an_older_version_are_recomputed_on_rescan(tmp_path):
    root, home = tmp_path / "music", tmp_path / "home"
    root.mkdir()
    sf.write(root / "a.wav", music(9.0), 22050)
    cli(home, "scan", "--no-train", str(root))
    conn = sqlite3.connect(home / "prefrec.sqlite")
    conn.execute("UPDATE tracks SET feature_version = 1")
    conn.commit()
    conn.close()
    report = cli_json(home, "scan", "--json", "--no-train", str(root))
    assert report["analysed"] == 1 and report["unchanged"] == 0


# -- temporary files of killed writers -----------------------------------------------------------------


def test_a_scan_removes_temporary_files_that_killed_writers_left(tmp_path):
    home, library = tmp_path / "home", tmp_path / "music"
    library.mkdir()
    sf.write(library / "a.wav", music(3.0), 22050)
    stale, kept = plant_temporaries(home)
    cli(home, "scan", "--no-train", str(library))
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if p.exists()] == kept


@needs_ffmpeg
def test_a_flac_cut_in_half_decodes_as_far_as_it_goes_through_ffmpeg(tmp_path):
    whole, half = tmp_path / "whole.flac", tmp_path / "half.flac"
    sf.write(whole, music(13.0), 22050)
    data = whole.read_bytes()
    half.write_bytes(data[: len(data) // 2])  # libsndfile loses sync on its first read of this one
    result = analyse([half], tmp_path)[str(half)]
    assert 5.0 < result.duration_s < 7.5, result
    assert result.truncated and result.note
    from prefrec.audio import decode

    assert 5.0 < len(decode(half)) / 22050 < 7.5  # explain --clip decodes it the same way
