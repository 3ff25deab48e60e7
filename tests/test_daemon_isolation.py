"""The daemon analyses in the same isolated worker processes as a scan: a decoder that crashes or
hangs costs one file (recorded with the reason), the next file is still analysed, a hung ffmpeg is
killed with its worker, and a stopping daemon leaves no worker behind. Real daemon, real signals."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import soundfile as sf

from tests.daemon_helpers import Daemon, query, tracks_by_path, wait_until
from tests.helpers import cli, music, segfault_a_busy_worker, worker_pids


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (nobody may reap orphans in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def errors(home: Path) -> dict[str, str]:
    return dict(query(home, "SELECT path, reason FROM errors"))


def test_a_crashing_or_hanging_decoder_costs_the_daemon_one_file(tmp_path):
    library, home, bin_dir, hung = tmp_path / "music", tmp_path / "home", tmp_path / "bin", tmp_path / "hung"
    library.mkdir()
    bin_dir.mkdir()
    hung.mkdir()
    for i in range(3):
        sf.write(library / f"{i} long.wav", music(240.0, seed=i), 22050)  # ~1 s of work each
    # An ffmpeg that never answers (m4a files go to ffmpeg): it notes its pid, then sleeps.
    fake = bin_dir / "ffmpeg"
    fake.write_text(f'#!/bin/sh\necho $$ > "{hung}/$$"\nexec sleep 600\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PREFREC_DECODE_TIMEOUT_S": "2", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with Daemon(home, library, **env) as d:
        d.wait_started()
        victim = segfault_a_busy_worker(d.proc.pid, library)  # the startup scan's worker, mid-file
        assert victim is not None, d.log()
        wait_until(lambda: len(tracks_by_path(home)) == 2 and victim in errors(home), what="the crash recorded",
                   daemon=d)
        assert "crashed" in errors(home)[victim] and "SIGSEGV" in errors(home)[victim]
        assert victim not in tracks_by_path(home)

        stuck = library / "stuck.m4a"
        stuck.write_bytes(b"\0" * 4096)
        wait_until(lambda: list(hung.iterdir()), what="the hung ffmpeg", daemon=d)
        (ffmpeg_pid,) = [int(p.name) for p in hung.iterdir()]
        after = library / "after.wav"
        sf.write(after, music(12.0, seed=7), 22050)  # waits for the only worker, busy with stuck.m4a
        wait_until(lambda: str(after) in tracks_by_path(home), what="the next good file", daemon=d)
        assert "took longer than 2 s" in errors(home)[str(stuck)]
        wait_until(lambda: not alive(ffmpeg_pid), timeout=5, what="the hung ffmpeg killed", daemon=d)
        status = d.state()
        assert status is not None and status["last_error"] is None  # a bad file is not a daemon error

        # Stopping while a worker is stuck in another hung ffmpeg: both are killed, within 5 s.
        (library / "stuck again.m4a").write_bytes(b"\1" * 4096)
        wait_until(lambda: len(list(hung.iterdir())) == 2, what="a second hung ffmpeg", daemon=d)
        (second_ffmpeg,) = [int(p.name) for p in hung.iterdir() if int(p.name) != ffmpeg_pid]
        workers = worker_pids(d.proc.pid)
        assert workers
        took = d.stop(signal.SIGTERM)
        assert took < 5.0
        wait_until(lambda: not alive(second_ffmpeg), timeout=5, what="the second ffmpeg killed")
        assert not [pid for pid in workers if alive(pid)]


def test_the_daemon_removes_temporary_files_that_killed_writers_left_when_it_starts(tmp_path):
    from tests.helpers import plant_temporaries

    library, home = tmp_path / "music", tmp_path / "home"
    library.mkdir()
    stale, kept = plant_temporaries(home)
    with Daemon(home, library) as d:
        d.wait_started()
        assert [p for p in stale if p.exists()] == []
        assert [p for p in kept if p.exists()] == kept
        assert "removed 2 temporary files" in d.log()
        d.stop()


def test_the_daemon_never_opens_a_fifo_or_follows_a_link_out_of_the_library(tmp_path):
    library, home, outside = tmp_path / "music", tmp_path / "home", tmp_path / "outside"
    library.mkdir()
    outside.mkdir()
    secret = outside / "private.wav"
    sf.write(secret, music(10.0, seed=3), 22050)
    with Daemon(home, library) as d:
        d.wait_started()
        os.mkfifo(library / "pipe.wav")  # opening it would block a worker until its deadline
        (library / "link.wav").symlink_to(secret)
        after = library / "after.wav"
        sf.write(after, music(10.0, seed=4), 22050)
        wait_until(lambda: str(after) in tracks_by_path(home), what="the good file", daemon=d)
        log = d.log()
    assert set(tracks_by_path(home)) == {str(after)}
    assert "pipe.wav: a FIFO (named pipe), not a regular file" in log
    assert "link.wav: a symbolic link to outside the library" in log
    # passed over, not attempted, and recorded as scan records them
    assert errors(home) == {str(library / "pipe.wav"): f"{library / 'pipe.wav'}: a FIFO (named pipe), not a "
                            "regular file; not read", str(library / "link.wav"): f"{library / 'link.wav'}: a "
                            "symbolic link to outside the library; not followed"}


def test_scan_and_the_daemon_record_and_keep_the_same_error_rows(tmp_path):
    library, home, outside = tmp_path / "music", tmp_path / "home", tmp_path / "outside"
    library.mkdir()
    outside.mkdir()
    sf.write(library / "good.wav", music(5.0), 22050)
    (library / "page.mp3").write_text("<html>not audio</html>\n" * 40)
    os.mkfifo(library / "pipe.wav")
    sf.write(outside / "private.wav", music(5.0, seed=1), 22050)
    (library / "link.wav").symlink_to(outside / "private.wav")
    cli(home, "scan", "--no-train", str(library))
    by_scan = errors(home)
    assert set(by_scan) == {str(library / n) for n in ("page.mp3", "pipe.wav", "link.wav")}
    with Daemon(home, library) as d:
        d.wait_idle()  # its startup rescan went over the same folder
        assert errors(home) == by_scan
        os.mkfifo(library / "later.wav")  # seen by the watcher: recorded the same way
        wait_until(lambda: str(library / "later.wav") in errors(home), what="the new FIFO recorded", daemon=d)
        d.stop()
    with_daemon = errors(home)
    assert with_daemon == {**by_scan, str(library / "later.wav"): f"{library / 'later.wav'}: a FIFO (named pipe), "
                           "not a regular file; not read"}
    cli(home, "scan", "--no-train", str(library))
    assert errors(home) == with_daemon


def test_the_daemon_recomputes_features_missing_from_the_cache(tmp_path):
    """Same rule as scan (Service.needs_analysis): an unchanged file whose features were deleted,
    or removed as damaged, is analysed again; the others are left alone."""

    library, home = tmp_path / "music", tmp_path / "home"
    library.mkdir()
    for i in range(2):
        sf.write(library / f"{i}.wav", music(10.0, seed=i), 22050)
    cli(home, "scan", "--no-train", str(library))
    features = sorted((home / "features").rglob("*.prf"))
    assert len(features) == 2
    lost, kept = features
    lost.unlink()
    kept_mtime = kept.stat().st_mtime_ns
    with Daemon(home, library) as d:
        d.wait_started()
        wait_until(lambda: lost.is_file(), what="the lost features recomputed", daemon=d)
    assert kept.stat().st_mtime_ns == kept_mtime
