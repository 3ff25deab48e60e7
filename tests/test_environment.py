"""Failures caused by the machine are not remembered as the file's fault: a full disk, the decode
deadline and the memory limit are retried on the next scan (and after a settings change), and
`status` tells "the file is bad" from "could not analyse this time"."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess

import soundfile as sf

from tests.daemon_helpers import Daemon, wait_until
from tests.helpers import (
    ROOT,
    cli,
    db_rows,
    music,
    needs_ffmpeg,
    needs_mount,
    on_full_disk,
    prefrec_argv,
    prefrec_env,
    write_music,
)


def slow_ffmpeg(tmp_path):
    """A folder with an ffmpeg that takes 3 s to start on slow.m4a: over a 1 s deadline, well under
    the default one (the real ffmpeg does the decoding)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "ffmpeg").write_text('#!/bin/sh\ncase "$*" in *slow.m4a*) sleep 3;; esac\n'
                                   'exec /usr/bin/ffmpeg "$@"\n')
    (folder / "ffmpeg").chmod(0o755)
    return folder


def slow_m4a(library):
    """library/slow.m4a: 4 s of music that slow_ffmpeg decodes slowly."""
    library.mkdir(parents=True, exist_ok=True)
    wav = library.parent / "src.wav"
    sf.write(wav, music(4.0), 22050)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(library / "slow.m4a")], check=True)
    wav.unlink()


def errors(home):
    return {os.path.basename(p): (r, bool(t)) for p, r, t in db_rows(home, "SELECT path, reason, transient FROM errors")}


@needs_mount
def test_a_full_disk_while_writing_features_is_retried_on_the_next_scan(tmp_path):
    home, library = tmp_path / "home", tmp_path / "music"
    for i in range(3):
        write_music(library / f"{i}.flac", 4.0, seed=i)
    proc = on_full_disk(home / "features", prefrec_argv(home, "scan", "--json", "--no-train", library),
                        env=prefrec_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["analysed"] == 0 and len(report["failed"]) == 3
    assert all(f["transient"] and "No space left on device" in f["reason"] for f in report["failed"]), report
    status = cli(home, "status", "--json").json()
    assert status["errors"] == status["errors_transient"] == 3
    assert all(e["transient"] for e in status["error_files"])
    text = cli(home, "status").stdout
    assert "3 could not be used (3 to retry)" in text
    assert text.count("this time (retried on the next scan)") == 3 and "cannot use" not in text

    again = cli(home, "scan", "--json", "--no-train", library).json()  # space again: all analysed
    assert again["analysed"] == 3 and again["failed"] == [] and again["unchanged"] == 0
    assert cli(home, "status", "--json").json()["errors"] == 0


@needs_ffmpeg
def test_a_decode_deadline_is_retried_on_the_next_scan_but_a_bad_file_is_not(tmp_path):
    home, library = tmp_path / "home", tmp_path / "music"
    slow_m4a(library)
    (library / "page.mp3").write_text("<html>not audio</html>\n" * 50)
    env = {"PATH": f"{slow_ffmpeg(tmp_path)}:{os.environ['PATH']}"}
    first = cli(home, "scan", "--json", "--no-train", library, env={**env, "PREFREC_DECODE_TIMEOUT_S": "1"}).json()
    assert {os.path.basename(f["path"]): f["transient"] for f in first["failed"]} == {"slow.m4a": True,
                                                                                      "page.mp3": False}
    assert "longer than 1.2 s" in errors(home)["slow.m4a"][0]
    status = cli(home, "status").stdout
    assert "could not analyse" in status and "slow.m4a this time" in status
    assert "cannot use" in status and "page.mp3:" in status

    second = cli(home, "scan", "--json", "--no-train", library, env=env).json()
    assert second["analysed"] == 1 and second["unchanged"] == 1  # the bad file is not tried again
    assert set(errors(home)) == {"page.mp3"}


@needs_ffmpeg
def test_a_track_that_fails_again_because_of_the_machine_stays_in_the_library(tmp_path):
    import sqlite3

    home, library = tmp_path / "home", tmp_path / "music"
    slow_m4a(library)
    env = {"PATH": f"{slow_ffmpeg(tmp_path)}:{os.environ['PATH']}"}
    assert cli(home, "scan", "--json", "--no-train", library, env=env).json()["analysed"] == 1
    with sqlite3.connect(home / "prefrec.sqlite") as conn:  # as after an upgrade of the features
        conn.execute("UPDATE tracks SET feature_version = -1")
    again = cli(home, "scan", "--json", "--no-train", library, env={**env, "PREFREC_DECODE_TIMEOUT_S": "1"}).json()
    assert [f["transient"] for f in again["failed"]] == [True]
    assert [os.path.basename(p) for p, in db_rows(home, "SELECT path FROM tracks")] == ["slow.m4a"]
    third = cli(home, "scan", "--json", "--no-train", library, env=env).json()
    assert third["analysed"] == 1 and errors(home) == {}
    assert db_rows(home, "SELECT feature_version FROM tracks")[0][0] != -1


def test_the_memory_limit_is_retried_after_the_setting_is_raised(tmp_path):
    from prefrec.config import load_settings
    from prefrec.service import Service

    home, library = tmp_path / "home", tmp_path / "music"
    library.mkdir()
    sf.write(library / "big.wav", music(20.0, rate=96000, channels=6), 96000)  # 23 MB per decoded block
    settings = load_settings(home, workers=1)
    with Service(dataclasses.replace(settings, worker_memory_mb=8)) as service:  # below the schema's floor
        report = service.library.scan([str(library)], train=False)
    assert report.analysed == 0 and report.transient == {str(library / "big.wav")}
    assert "worker_memory_mb" in errors(home)["big.wav"][0] and errors(home)["big.wav"][1]
    with Service(settings) as service:
        report = service.library.scan([str(library)], train=False)
    assert report.analysed == 1 and errors(home) == {}


def test_retry_failed_analyses_every_failed_file_again(tmp_path):
    home, library = tmp_path / "home", tmp_path / "music"
    good = write_music(library / "fixed.wav", 4.0)
    data, mtime = good.read_bytes(), good.stat().st_mtime_ns
    good.write_bytes(b"\0" * len(data))  # damaged, same size
    os.utime(good, ns=(mtime, mtime))
    assert cli(home, "scan", "--json", "--no-train", library).json()["failed"][0]["transient"] is False
    good.write_bytes(data)  # restored from a backup with its old time: nothing tells a scan
    os.utime(good, ns=(mtime, mtime))
    assert cli(home, "scan", "--json", "--no-train", library).json()["unchanged"] == 1
    retried = cli(home, "scan", "--json", "--no-train", "--retry-failed", library).json()
    assert retried["analysed"] == 1 and retried["failed"] == []
    assert errors(home) == {}


@needs_ffmpeg
def test_the_daemon_retries_a_file_that_overran_its_deadline_after_sighup_changes_it(tmp_path):
    home, library = tmp_path / "home", tmp_path / "music"
    slow_m4a(library)
    slow = slow_ffmpeg(tmp_path)
    home.mkdir()
    (home / "config.toml").write_text("decode_timeout_s = 1\n")
    with Daemon(home, library, PATH=f"{slow}:{os.environ['PATH']}", PYTHONPATH=str(ROOT)) as d:
        wait_until(lambda: errors(home).get("slow.m4a", ("", False))[1], what="the deadline", daemon=d)
        (home / "config.toml").write_text("decode_timeout_s = 60\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: db_rows(home, "SELECT count(*) FROM tracks WHERE gone = 0")[0][0] == 1,
                   what="the file analysed again", daemon=d)
        assert errors(home) == {}
        d.stop()
