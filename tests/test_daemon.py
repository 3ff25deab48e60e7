"""The daemon as it runs on a listener's machine: real processes, real signals, real watchdog
observers on tmp dirs, real SQLite files and generated audio."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from prefrec.synth import write_library
from tests.daemon_helpers import Daemon, query, tracks_by_path, wait_until
from tests.helpers import cli, cli_json, run_cli


@pytest.fixture
def music(tmp_path):
    """6 short generated tracks in tmp/music, 2 spare ones in tmp/spare: (music, spare, home)."""
    music, spare = tmp_path / "music", tmp_path / "spare"
    write_library(music, ["plucks", "drums"], 3, seed=5, min_s=9, max_s=12)
    write_library(spare, ["wind"], 2, seed=6, min_s=9, max_s=12)
    return music, spare, tmp_path / "home"


def audio_files(folder):
    return sorted(p for p in folder.rglob("*.flac"))


def present(home):
    return {p: v for p, v in tracks_by_path(home).items() if not v[1]}


def test_startup_scan_moves_deletions_and_returning_music(music):
    music_dir, spare, home = music
    files = audio_files(music_dir)
    with Daemon(home, music_dir) as d:
        started = d.wait_started()
        assert started["watcher"] == "inotify"
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        # The daemon publishes its queue length with its next state update: wait for it to drain.
        status = wait_until(lambda: (s := cli_json(home, "status", "--json")["daemon"]) and s["queue"] == 0 and s,
                            what="an empty queue", daemon=d)
        assert status["pid"] == d.proc.pid and status["last_error"] is None
        assert status["state"] in ("idle", "scanning") and status["rankings_updated_at"] is None

        liked = files[0]
        cli(home, "like", str(liked))
        before = tracks_by_path(home)[str(liked)]

        # A rename keeps the row (same analysis, not redone) and so the feedback.
        renamed = liked.with_name("renamed favourite.flac")
        liked.rename(renamed)
        wait_until(lambda: str(renamed) in present(home), what="rename", daemon=d)
        assert str(liked) not in tracks_by_path(home)
        assert tracks_by_path(home)[str(renamed)] == before
        assert cli_json(home, "status", "--json")["likes"] == 1

        # A moved folder moves all its tracks.
        album = next(f.parent for f in files if f.parent != liked.parent)
        moved_album = music_dir / "moved album"
        album.rename(moved_album)
        wait_until(lambda: all(str(moved_album / f.name) in present(home) for f in audio_files(moved_album)),
                   what="folder move", daemon=d)
        assert not any(p.startswith(str(album) + "/") for p in tracks_by_path(home))

        # A file copied in slowly is analysed once, complete.
        source = audio_files(spare)[0]
        data = source.read_bytes()
        target = music_dir / "incoming.flac"
        with open(target, "wb") as f:
            for i in range(4):
                f.write(data[i * len(data) // 4:(i + 1) * len(data) // 4])
                f.flush()
                time.sleep(0.3)
        wait_until(lambda: str(target) in present(home), what="new file", daemon=d)
        identity, _, _, duration = present(home)[str(target)]
        assert duration > 8.9
        assert d.log().count(f"analysed {target} ") == 1
        assert query(home, "SELECT count(*) FROM errors")[0][0] == 0

        # Deleted: marked gone, feedback kept; back under another name: reattached.
        backup = renamed.read_bytes()
        renamed.unlink()
        wait_until(lambda: tracks_by_path(home)[str(renamed)][1] == 1, what="deletion", daemon=d)
        assert query(home, "SELECT count(*) FROM feedback")[0][0] == 1
        returned = music_dir / "back again.flac"
        returned.write_bytes(backup)
        wait_until(lambda: str(returned) in present(home), what="returning file", daemon=d)
        assert present(home)[str(returned)][0] == before[0]  # same identity: the like applies again
        proc = cli(home, "like", "back again")
        assert "liked" in proc.stderr

        took = d.stop(signal.SIGTERM)
        assert d.proc.returncode == 0 and took < 5
    assert cli_json(home, "status", "--json")["daemon"] is None
    assert "stopped" in (home / "logs" / "daemon.log").read_text()


def test_bad_files_never_stop_the_watching(music):
    music_dir, spare, home = music
    with Daemon(home, music_dir) as d:
        d.wait_started()
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        (music_dir / "broken.mp3").write_bytes(b"this is not audio" * 100)
        fd = os.open(os.fsencode(music_dir) + b"/bad name \xff.flac", os.O_WRONLY | os.O_CREAT)
        os.write(fd, audio_files(spare)[0].read_bytes())
        os.close(fd)
        flash = music_dir / "here and gone.flac"
        flash.write_bytes(b"x")
        flash.unlink()
        wait_until(lambda: query(home, "SELECT reason FROM errors"), what="the broken file's error", daemon=d)
        wait_until(lambda: (s := d.state()) and s["last_error"] and "not valid UTF-8" in s["last_error"],
                   what="the bad name reported", daemon=d)
        good = music_dir / "still watching.flac"
        shutil.copy(audio_files(spare)[1], good)
        wait_until(lambda: str(good) in present(home), what="a good file after bad ones", daemon=d)
        assert d.proc.poll() is None
        status = cli(home, "status").stdout
        assert "last error" in status and "not valid UTF-8" in status
        assert "broken.mp3" in status
        d.stop()


def test_one_daemon_per_data_dir_and_clean_stops(music):
    music_dir, spare, home = music
    with Daemon(home, music_dir) as d:
        d.wait_started()
        second = run_cli(home, "daemon", str(music_dir), check=False, timeout=60)
        assert second.returncode == 1
        assert f"pid {d.proc.pid}" in second.stderr and "already runs" in second.stderr
        took = d.stop(signal.SIGINT)
        assert d.proc.returncode == 0 and took < 5

    # A burst of new files; SIGTERM while they are analysed; a restart finishes the job.
    burst = music_dir / "burst"
    write_library(burst, ["chiptune", "drums"], 5, seed=9, min_s=9, max_s=12)
    with Daemon(home, music_dir) as d:
        wait_until(lambda: (s := d.state()) and s["state"] == "scanning", what="analysis", daemon=d)
        wait_until(lambda: len(present(home)) >= 7, what="analysis under way", daemon=d)
        took = d.stop(signal.SIGTERM)
        assert d.proc.returncode == 0 and took < 5
    done_before = tracks_by_path(home)
    with Daemon(home, music_dir) as d:
        wait_until(lambda: len(present(home)) == 16, what="the rest of the burst", daemon=d)
        d.wait_idle()
        d.stop()
    after = tracks_by_path(home)
    assert len(after) == 16 and query(home, "SELECT count(*) FROM errors")[0][0] == 0
    assert {p: after[p] for p in done_before} == done_before  # nothing analysed twice


def test_polling_fallback(music):
    music_dir, spare, home = music
    with Daemon(home, music_dir, PREFREC_WATCH="polling", PREFREC_POLL_INTERVAL_S="0.5") as d:
        assert d.wait_started()["watcher"] == "polling"
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        new = music_dir / "polled.flac"
        shutil.copy(audio_files(spare)[0], new)
        wait_until(lambda: str(new) in present(home), what="a new file seen by polling", daemon=d)
        old = audio_files(music_dir)[0]
        moved = old.with_name("polled rename.flac")
        before = tracks_by_path(home)[str(old)]
        old.rename(moved)
        wait_until(lambda: str(moved) in present(home), what="a rename seen by polling", daemon=d)
        assert tracks_by_path(home)[str(moved)] == before
        d.stop()


def test_periodic_rescan_finds_what_the_watcher_missed_and_sighup_reloads(music, tmp_path):
    music_dir, spare, home = music
    outside = tmp_path / "outside"
    outside.mkdir()
    # A file rewritten through a hard link outside the library changes without any inotify event
    # in the watched folder: only a rescan can notice.
    inside = music_dir / "linked.flac"
    shutil.copy(audio_files(spare)[0], outside / "linked.flac")
    os.link(outside / "linked.flac", inside)
    with Daemon(home, music_dir) as d:
        wait_until(lambda: str(inside) in present(home), what="startup scan", daemon=d)
        d.wait_idle()
        identity = present(home)[str(inside)][0]
        with open(outside / "linked.flac", "r+b") as f:
            f.write(audio_files(spare)[1].read_bytes())
            f.truncate()
        time.sleep(2.0)
        assert present(home)[str(inside)][0] == identity  # missed, as expected, with hourly rescans

        (home / "config.toml").write_text("rescan_interval_s = 1.0\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: present(home)[str(inside)][0] != identity, what="the rescan", daemon=d)
        assert "SIGHUP: settings reloaded (rescan_interval_s=1.0)" in d.log()
        assert ", 1 to analyse" in d.log()
        d.stop()


def test_learning_after_n_events_then_quiet_period_with_atomic_swaps(music):
    music_dir, spare, home = music
    home.mkdir()
    (home / "config.toml").write_text("quiet_period_s = 600.0\n")
    with Daemon(home, music_dir, PREFREC_TRAIN_AFTER_EVENTS="3", PREFREC_QUIET_PERIOD_S=None) as d:
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        plucks = [f for f in audio_files(music_dir) if "Plucks" in f.name]
        drums = [f for f in audio_files(music_dir) if "Drums" in f.name]
        cli(home, "like", str(plucks[0]))
        cli(home, "skip", str(drums[0]))
        cli(home, "like", str(plucks[1]))  # the third event: trains although the quiet period is 600 s
        first = wait_until(lambda: query(home, "SELECT value FROM meta WHERE key = 'ranked_model_id'"),
                           what="training after 3 events", daemon=d)[0][0]
        assert query(home, "SELECT n_rated FROM models WHERE id = ?", int(first))[0][0] == 3

        # Now a short quiet period (reloaded on SIGHUP): one more rating retrains after it.
        (home / "config.toml").write_text("quiet_period_s = 0.5\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "quiet_period_s=0.5" in d.log(), what="reload", daemon=d)
        cli(home, "skip", str(drums[1]))
        # Until the new model is swapped in, the old ranking is served whole.
        seen = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = query(home, "SELECT model_id, count(*) FROM rankings GROUP BY model_id")
            assert len(rows) == 1 and rows[0][1] == 6, rows
            seen.add(rows[0][0])
            if rows[0][0] != int(first):
                break
            time.sleep(0.05)
        assert int(first) in seen and len(seen) == 2
        recs = cli_json(home, "recommend", "--json")
        assert len(recs) == 2  # six tracks, four rated
        status = cli_json(home, "status", "--json")
        assert status["daemon"]["rankings_updated_at"] == status["ranked_at"]
        assert status["model"]["stale"] is False
        d.stop()


@pytest.mark.slow  # pretrains twice in a daemon: about a minute
def test_a_library_that_grew_enough_is_pretrained_again_and_the_model_rebuilt(tmp_path):
    music, spare, home = tmp_path / "music", tmp_path / "spare", tmp_path / "home"
    write_library(music, ["plucks", "drums"], 4, seed=8, min_s=9, max_s=11)
    extra = write_library(spare, ["wind"], 3, seed=9, min_s=9, max_s=11)
    with Daemon(home, music, PREFREC_TRAIN_AFTER_EVENTS="2", PREFREC_FULL_RETRAIN_QUIET_S="0") as d:
        wait_until(lambda: len(present(home)) == 8, what="startup scan", daemon=d)
        files = audio_files(music)
        cli(home, "like", str(next(f for f in files if "Plucks" in f.name)))
        cli(home, "skip", str(next(f for f in files if "Drums" in f.name)))
        first = wait_until(lambda: query(home, "SELECT max(id) FROM models")[0][0], timeout=180,
                           what="the first training (pretrains: none yet)", daemon=d)
        pretrained = home / "models" / "pretrained.pt"
        assert pretrained.is_file()
        before = pretrained.stat().st_mtime_ns
        # 3 new tracks on 8 is more than a fifth of the library: pretrain again, then fine-tune anew.
        for track in extra:
            shutil.copy(track.path, music / track.path.name)
        wait_until(lambda: (query(home, "SELECT max(id) FROM models")[0][0] or 0) > first, timeout=240,
                   what="the model rebuilt on the new pretraining", daemon=d)
        assert pretrained.stat().st_mtime_ns != before
        wait_until(lambda: query(home, "SELECT count(*) FROM rankings")[0][0] == 11, what="all 11 ranked", daemon=d)
        assert query(home, "SELECT count(*) FROM feedback")[0][0] == 2  # no new feedback was needed
        d.stop()


def test_a_deleted_model_is_rebuilt_once_not_respawned_forever(music):
    music_dir, spare, home = music
    with Daemon(home, music_dir, PREFREC_TRAIN_AFTER_EVENTS="2") as d:
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        files = audio_files(music_dir)
        cli(home, "like", str(next(f for f in files if "Plucks" in f.name)))
        cli(home, "skip", str(next(f for f in files if "Drums" in f.name)))
        first = wait_until(lambda: query(home, "SELECT value FROM meta WHERE key = 'ranked_model_id'"),
                           what="the first training", daemon=d)[0][0]
        d.wait_idle()
        (path,), = query(home, "SELECT path FROM models WHERE id = ?", int(first))
        (home / path).unlink()
        starts = d.log().count("scoring new tracks with the current model")
        shutil.copy(audio_files(spare)[0], music_dir / "late.flac")  # a new track: the model is needed
        wait_until(lambda: query(home, "SELECT count(*) FROM models")[0][0] == 2, what="the rebuild", daemon=d)
        d.wait_idle()
        time.sleep(3.0)  # a daemon that loops would start a training child every few ticks meanwhile
        assert query(home, "SELECT count(*) FROM models")[0][0] == 2
        log = d.log()
        assert log.count("scoring new tracks with the current model") == starts + 1, log
        assert log.count("(rebuilt: ") == 1 and "the model file is missing" in log
        assert query(home, "SELECT count(*) FROM rankings")[0][0] == 7
        d.stop()


def test_sighup_with_an_invalid_config_keeps_the_old_settings_and_names_the_key(music):
    music_dir, spare, home = music
    home.mkdir()
    (home / "config.toml").write_text("rescan_interval_s = 3600.0\n")
    with Daemon(home, music_dir) as d:
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        (home / "config.toml").write_text('rescan_interval_s = 1.0\nworkers = "four"\n')
        d.proc.send_signal(signal.SIGHUP)
        state = wait_until(lambda: (s := d.state()) and s["last_error"] and s, what="the refusal", daemon=d)
        assert state["last_error"].startswith("SIGHUP: kept the previous settings: ")
        assert "config.toml: workers: expected an integer ≥ 1 and ≤ 256, got 'four'" in state["last_error"]
        assert "settings reloaded" not in d.log()
        # still running on the old settings: new music is analysed, and no 1 s rescans began
        shutil.copy(audio_files(spare)[0], music_dir / "new.flac")
        wait_until(lambda: len(present(home)) == 7, what="a new file", daemon=d)
        time.sleep(2.5)
        assert d.log().count("rescan:") == 1
        (home / "config.toml").write_text("rescan_interval_s = 3600.0\nworkers = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: settings reloaded" in d.log(), what="the fixed config", daemon=d)


def _trainer_nice(daemon_pid: int) -> dict[int, int]:
    """pid -> nice value of each training child of the daemon running now."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{entry}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat[1]) == daemon_pid and b"prefrec.trainer" in cmd:
            found[int(entry)] = int(stat[16])
    return found


def test_a_rating_updates_the_head_then_a_quiet_spell_brings_the_full_fine_tune(music):
    music_dir, _spare, home = music
    nice = min(19, os.nice(0) + 3)  # lower than this test's own priority (a child is never raised)
    with Daemon(home, music_dir, PREFREC_QUIET_PERIOD_S="0.3", PREFREC_FULL_RETRAIN_QUIET_S="6",
                PREFREC_NICE=str(nice)) as d:
        wait_until(lambda: len(present(home)) == 6, what="startup scan", daemon=d)
        plucks = [f for f in audio_files(music_dir) if "Plucks" in f.name]
        drums = [f for f in audio_files(music_dir) if "Drums" in f.name]
        cli(home, "like", str(plucks[0]))
        cli(home, "skip", str(drums[0]))
        nices: dict[int, int] = {}  # the latest value seen for each training child

        def model_with(feedback_id):
            nices.update(_trainer_nice(d.proc.pid))
            rows = query(home, "SELECT m.id, m.config, m.last_feedback_id FROM models m JOIN meta k "
                               "ON k.key = 'ranked_model_id' AND m.id = CAST(k.value AS INTEGER)")
            return rows and rows[0][2] >= feedback_id and rows[0]

        first = wait_until(lambda: model_with(2), timeout=180, what="the first (full) training", daemon=d)
        assert "head_update" not in first[1]
        cli(home, "like", str(plucks[1]))
        update = wait_until(lambda: model_with(3), timeout=120, what="a head update", daemon=d)
        assert '"head_update"' in update[1] and update[0] > first[0]
        assert query(home, "SELECT count(*) FROM rankings WHERE model_id = ?", update[0])[0][0] == 6
        full = wait_until(lambda: (r := model_with(3)) and r[0] > update[0] and r, timeout=180,
                          what="the full fine-tune after 6 s without feedback", daemon=d)
        assert "head_update" not in full[1]
        assert "full fine-tune in a quiet spell" in d.log()
        # Every training child ran at the configured priority (seen after its first instants).
        assert nices and set(nices.values()) == {nice}, nices
        d.stop()
