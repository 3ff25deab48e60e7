"""Bad input, as a clumsy or hostile user types it: every probe gets a one-line message naming what
to fix (exit 1 or 2), never "unexpected error", and writes nothing. Probes run in-process on a copy
of a trained library; those about streams, pipes and the disk run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, by_style, cli, db_rows, needs_mount, on_full_disk, prefrec_argv, prefrec_env, run_cli

LONG = "a" * 100_000
WORDS = " ".join(["study"] * 2000)

# (probe id, arguments, exit code, a fragment of the message). TRACK: an unrated track's path;
# WORDS: words naming it; DIR: an existing folder; MUSIC: the library's folder.
PROBES = [
    ("non-UTF-8 track", ["like", "caf\udce9"], 2, "not valid UTF-8"),
    ("non-UTF-8 folder", ["scan", "/tmp/caf\udce9"], 2, "not valid UTF-8"),
    ("non-UTF-8 home", ["--home", "/tmp/caf\udce9", "status"], 2, "not valid UTF-8"),
    ("--at nan", ["skip", "TRACK", "--at", "nan"], 2, "--at 'nan': give a position"),
    ("--at inf", ["skip", "TRACK", "--at", "inf"], 2, "--at 'inf': give a position"),
    ("--at -inf", ["skip", "TRACK", "--at", "-inf"], 2, "--at '-inf': give a position"),
    ("--at 1e999", ["skip", "TRACK", "--at", "1e999"], 2, "give a position"),
    ("--at past the end", ["skip", "TRACK", "--at", "99999"], 2, "the track is only"),
    ("--at with like", ["skip", "TRACK", "--at", "1:75"], 2, "give a position"),
    ("--max-duration nan", ["recommend", "--max-duration", "nan"], 2, "give a duration"),
    ("--plot to a folder", ["explain", "TRACK", "--plot", "DIR"], 2, "is a folder; give a file name"),
    ("--clip to a folder", ["explain", "TRACK", "--clip", "DIR"], 2, "is a folder; give a file name"),
    ("--plot in a missing folder", ["explain", "TRACK", "--plot", "DIR/no/such/x.png"], 2, "does not exist"),
    ("--plot where writing is refused", ["explain", "TRACK", "--plot", "/sys/x.png"], 2, "cannot write it"),
    ("--clip empty", ["explain", "TRACK", "--clip", ""], 2, "--clip '': give a file name"),
    ("--clip to /dev/full", ["explain", "TRACK", "--clip", "/dev/full"], 1, "/dev/full: ffmpeg could not cut"),
    ("history -n 1e20", ["history", "-n", "1e20"], 2, "Invalid value for '-n' / '--count': '1e20' is not a valid"),
    ("recommend -n 0", ["recommend", "-n", "0"], 2, "0 is not in the range x>=1"),
    ("history -n 10^20", ["history", "-n", "99999999999999999999"], 0, ""),
    ("recommend -n 10^20", ["recommend", "-n", "99999999999999999999"], 0, ""),
    ("similar -n 10^20", ["similar", "WORDS", "-n", "99999999999999999999"], 0, ""),
    ("a 100,000-character query", ["like", LONG], 1, "no track matches"),
    ("a 100,000-character query (explain)", ["explain", LONG], 1, "no track matches"),
    ("a 2,000-word query", ["like", WORDS], 2, "2000 words is more than a track name"),
    ("a 2,000-word query (similar)", ["similar", WORDS], 2, "2000 words is more than a track name"),
    ("a 100,000-character artist", ["recommend", "--artist", LONG], 2, "too long to search for"),
    ("a 100,000-character ban", ["ban", "--artist", LONG], 1, "no artist in the library matches"),
    ("an empty track", ["like", ""], 2, "name a track"),
    ("an empty folder", ["scan", ""], 2, "an empty folder name"),
    ("an empty folder for the daemon", ["daemon", ""], 2, "an empty folder name"),
    ("an empty home", ["--home", "", "status"], 2, "--home '': give the data directory's path"),
    ("a file as home", ["--home", "/dev/null", "status"], 2, "is a file, not a folder"),
    ("a file as the library", ["scan", "/etc/hostname"], 2, "not a folder"),
    ("a missing library", ["scan", "DIR/nowhere"], 2, "not a folder"),
]


@pytest.fixture
def probe_home(trained):
    music, home, tracks = trained
    track = by_style(tracks, "chiptune")[0]
    return music, home, track


def fill(args, home, track, tmp_path, music):
    out = []
    for a in args:
        a = {"TRACK": str(track.path), "WORDS": track.title, "DIR": str(tmp_path), "MUSIC": str(music)}.get(a, a)
        out.append(a.replace("DIR/", f"{tmp_path}/"))
    if "--home" in out:
        return None, out
    return home, out


def assert_one_line(ran, code, fragment):
    assert ran.returncode == code, ran
    assert "unexpected error" not in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    if code:
        assert ran.stderr.startswith("prefrec: ") and ran.stderr.count("\n") == 1, ran.stderr
        assert fragment in ran.stderr, ran.stderr


@pytest.mark.parametrize("args, code, fragment", [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_a_bad_input_gets_one_line_naming_what_to_fix_and_writes_nothing(probe_home, tmp_path, args, code,
                                                                         fragment):
    music, home, track = probe_home
    before = db_rows(home, "SELECT count(*), max(id) FROM feedback") + db_rows(home, "SELECT count(*) FROM models")
    where, argv = fill(args, home, track, tmp_path, music)
    ran = cli(where, *argv, check=False)
    assert_one_line(ran, code, fragment)
    after = db_rows(home, "SELECT count(*), max(id) FROM feedback") + db_rows(home, "SELECT count(*) FROM models")
    assert after == before


def test_non_utf8_arguments_from_the_shell_get_one_line(tmp_path):
    ran = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(tmp_path / "h"), "scan", b"/tmp/caf\xe9"],
                         capture_output=True, text=True, env=prefrec_env())
    assert ran.returncode == 2 and ran.stderr == ("prefrec: the argument '/tmp/caf\\xe9' is not valid UTF-8; prefrec "
                                                  "keeps names as UTF-8: rename the file or folder, or type it in "
                                                  "UTF-8\n")
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize("args", [["recommend"], ["history"], ["status"], ["explain", "TRACK"],
                                  ["recommend", "--json"], ["recommend", "--m3u"], ["similar", "TRACK"]])
def test_stdout_on_a_full_device_is_one_line(probe_home, args):
    _, home, track = probe_home
    with open("/dev/full", "w") as full:
        ran = run_cli(home, *[str(track.path) if a == "TRACK" else a for a in args], check=False, stdout=full,
                      stderr=subprocess.PIPE)
    assert ran.returncode == 1
    assert ran.stderr.endswith("\nprefrec: cannot write to standard output (No space left on device); send it to a "
                               "file or device with space left\n") or ran.stderr.startswith("prefrec: cannot write")
    assert ran.stderr.count("prefrec:") == 1 and "Exception ignored" not in ran.stderr


@pytest.mark.parametrize("args", [["recommend"], ["history"], ["status"], ["explain", "TRACK"], ["recommend", "--json"]])
def test_a_closed_pipe_ends_quietly_with_exit_0(probe_home, args):
    """`prefrec recommend | head -1`, with the reader gone before anything is written."""
    _, home, track = probe_home
    reader, writer = os.pipe()
    os.close(reader)
    try:
        ran = run_cli(home, *[str(track.path) if a == "TRACK" else a for a in args], check=False, stdout=writer,
                      stderr=subprocess.PIPE)
    finally:
        os.close(writer)
    assert ran.returncode == 0 and ran.stderr == ""


def test_head_reads_one_line_of_recommendations(probe_home):
    _, home, _ = probe_home
    shell = subprocess.run(["bash", "-c", 'set -o pipefail; "$0" -m prefrec --home "$1" recommend | head -1',
                            sys.executable, str(home)], capture_output=True, text=True, env=prefrec_env(), cwd=ROOT)
    assert shell.returncode == 0 and shell.stderr == "" and shell.stdout.count("\n") == 1


@needs_mount
def test_a_full_disk_during_train_is_one_line_and_keeps_the_published_model(probe_home):
    _, home, _ = probe_home
    ranked = db_rows(home, "SELECT value FROM meta WHERE key = 'ranked_model_id'")
    ran = on_full_disk(home / "models", prefrec_argv(home, "train"), env=prefrec_env(PREFREC_TRAIN_MAX_EPOCHS="1"),
                       capture_output=True, text=True, timeout=300)
    assert_one_line(ran, 1, "cannot save the model (No space left on device); free some disk space")
    assert db_rows(home, "SELECT value FROM meta WHERE key = 'ranked_model_id'") == ranked
    assert "trained on" in cli(home, "train", env={"PREFREC_TRAIN_MAX_EPOCHS": "1"}).stderr  # space again: fine
